"""The OpenAI chat wire format of the project's chat messages, shared by the endpoint client and `agent serve`.

Project messages (`agent.context`, `eval.prompting`) hold string contents or lists of `{"type": "text", "text": ...}`
and `{"type": "image", "image": PIL}` items. On the wire an image is an `image_url` item whose URL is a PNG data URL
(`data:image/png;base64,...`): PNG is lossless, so the server decodes exactly the pixels the client resized, and the
model-image size the reply's coordinates refer to is the same on both sides.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from PIL import Image

__all__ = ["DATA_URL_PREFIX", "WireFormatError", "image_data_url", "read_data_url", "to_wire"]

Message = dict[str, Any]
DATA_URL_PREFIX = "data:image/png;base64,"
_PNG_COMPRESS_LEVEL = 1  # a 1080p screenshot in tens of milliseconds; the size matters little on a local network


class WireFormatError(ValueError):
    """A message or image item that cannot be put on (or read from) the wire."""


def image_data_url(image: Image.Image) -> str:
    """`image` (converted to RGB) as a PNG data URL."""
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
    return DATA_URL_PREFIX + base64.b64encode(buffer.getvalue()).decode("ascii")


def read_data_url(url: str) -> Image.Image:
    """The RGB image of a base64 image data URL (PNG, JPEG, ... whatever PIL reads). Remote URLs are refused: the
    server fetches nothing."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:image/") or not head.endswith(";base64"):
        raise WireFormatError(f"image_url must be a base64 image data URL (data:image/png;base64,...), got "
                              f"{url[:40]!r}...")
    try:
        data = base64.b64decode(payload, validate=True)
        with Image.open(io.BytesIO(data)) as img:
            return img.convert("RGB")
    except (binascii.Error, OSError, ValueError) as e:
        raise WireFormatError(f"image data URL does not decode to an image ({type(e).__name__}: {e})") from None


def to_wire(messages: list[Message]) -> list[dict[str, Any]]:
    """Project messages -> OpenAI chat messages (every image item must carry its pixels)."""
    wire: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        content = message["content"]
        if isinstance(content, str):
            wire.append({"role": message["role"], "content": content})
            continue
        items: list[dict[str, Any]] = []
        for item in content:
            if item.get("type") == "text":
                items.append({"type": "text", "text": item["text"]})
            elif item.get("type") == "image":
                if "image" not in item:
                    raise WireFormatError(f"messages[{i}]: an image item without pixels cannot be sent; the stateless "
                                          "layout keeps the pixels of every screenshot it shows")
                items.append({"type": "image_url", "image_url": {"url": image_data_url(item["image"])}})
            else:
                raise WireFormatError(f"messages[{i}]: unknown content item type {item.get('type')!r}")
        wire.append({"role": message["role"], "content": items})
    return wire
