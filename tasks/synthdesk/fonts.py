"""Text in synthdesk: Pillow's embedded FreeType font (`ImageFont.load_default(size=N)`), no system fonts, so the
same Pillow renders the same pixels everywhere. Widths and glyph masks are cached per (text, size)."""

from __future__ import annotations

import math
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

__all__ = ["font", "line_height", "text_mask", "text_width"]


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's embedded font at `size` pixels (FreeType is built into Pillow >= 10.1)."""
    loaded = ImageFont.load_default(size=size)
    if not isinstance(loaded, ImageFont.FreeTypeFont):
        raise RuntimeError("this Pillow has no FreeType support; synthdesk needs Pillow >= 10.1 built with it")
    return loaded


@lru_cache(maxsize=None)
def line_height(size: int) -> int:
    """Ascent plus descent of the font at `size`: the height of every text mask."""
    ascent, descent = font(size).getmetrics()
    return int(ascent + descent)


@lru_cache(maxsize=8192)
def text_width(text: str, size: int) -> int:
    """Advance width of `text` in pixels at `size`."""
    return math.ceil(font(size).getlength(text))


@lru_cache(maxsize=8192)
def text_mask(text: str, size: int) -> Image.Image:
    """An "L" image of `text` (255 = ink), `text_width` wide and `line_height` tall, baseline at the ascent."""
    mask = Image.new("L", (max(text_width(text, size), 1), line_height(size)), 0)
    ImageDraw.Draw(mask).text((0, 0), text, font=font(size), fill=255)
    return mask
