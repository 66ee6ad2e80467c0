"""`agent.server.sessions.SessionPool`: which session a request continues and what it adds, with a recording engine.

The real engine behind it is checked against a served model in test_serve.py; here a `RecordingEngine` keeps the
conversation each reply was asked for, so the tests see exactly what a `ChatEngine` would be given.
"""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image

from agent.policy import PolicyReply
from agent.server.sessions import SessionPool, read_turns
from agent.wire import image_data_url, to_wire

PROMPT = "Open the settings"


class RecordingEngine:
    """Replies "reply N" (raw "<raw N>") and records the conversation of each reply (images: pixels or a slot)."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, Any]]] = []
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def reply(self, messages: list[dict[str, Any]], *, max_new_tokens: int) -> PolicyReply:
        self.calls.append([(m["role"], _shape(m["content"])) for m in messages])
        n = len(self.calls)
        return PolicyReply(text=f"reply {n}", prefill_tokens=n, extra={"raw": f"<raw {n}>"})


def _shape(content: Any) -> Any:
    if isinstance(content, str):
        return content
    return [("image", item["image"].getpixel((0, 0)) if "image" in item else None) if item["type"] == "image"
            else ("text", item["text"]) for item in content]


def _img(shade: int) -> Image.Image:
    return Image.new("RGB", (28, 28), (shade, 0, 0))


def _user(*items: Any) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "image", "image": i} if isinstance(i, Image.Image)
                                        else {"type": "text", "text": i} for i in items]}


def _window(step: int) -> list[dict[str, Any]]:
    """The stateless layout of `step` (1-based): earlier screenshots and replies, then [screenshot, prompt]."""
    messages: list[dict[str, Any]] = []
    for h in range(1, step):
        messages += [_user(_img(h)), {"role": "assistant", "content": f"reply {h}"}]
    return messages + [_user(_img(step), PROMPT)]


def _pool(**kwargs: Any) -> tuple[SessionPool, list[RecordingEngine]]:
    engines: list[RecordingEngine] = []

    def new() -> RecordingEngine:
        engines.append(RecordingEngine())
        return engines[-1]

    return SessionPool(new, **kwargs), engines


def _ask(pool: SessionPool, messages: list[dict[str, Any]], key: str | None = "k") -> tuple[PolicyReply, str, str]:
    return pool.reply(read_turns(to_wire(messages)), key=key, max_new_tokens=8)


def test_keyed_window_requests_add_only_the_new_screenshot() -> None:
    pool, engines = _pool()
    matches = [_ask(pool, _window(step))[2] for step in (1, 2, 3)]
    assert matches == ["fresh", "key", "key"] and len(engines) == 1 and len(pool) == 1
    calls = engines[0].calls
    first = [("user", [("image", (1, 0, 0)), ("text", PROMPT)])]
    assert calls[0] == first
    # the first request as it came, then per request the reply given and the new screenshot; older pixels dropped
    assert calls[1] == [("user", [("image", None), ("text", PROMPT)]), ("assistant", "<raw 1>"),
                        ("user", [("image", (2, 0, 0))])]
    assert calls[2] == [*calls[1][:2], ("user", [("image", None)]), ("assistant", "<raw 2>"),
                        ("user", [("image", (3, 0, 0))])]


def test_a_retry_on_the_same_screenshot_adds_only_its_feedback() -> None:
    pool, engines = _pool()
    _ask(pool, _window(1))
    # the stateless layout of a retry: the unparsable reply, then [the same screenshot, prompt, feedback]
    retry = [{"role": "assistant", "content": "reply 1"}, _user(_img(1), PROMPT, "could not parse")]
    _, _, match = _ask(pool, retry)
    assert match == "key"
    assert engines[0].calls[1][-2:] == [("assistant", "<raw 1>"), ("user", [("text", "could not parse")])]


def test_keyless_append_only_requests_continue_by_prefix() -> None:
    pool, engines = _pool()
    first = [_user(_img(1), PROMPT)]
    _ask(pool, first, key=None)
    second = [*first, {"role": "assistant", "content": "reply 1"}, _user(_img(2))]
    _, _, match = _ask(pool, second, key=None)
    assert match == "prefix" and len(engines) == 1
    assert engines[0].calls[1][-2:] == [("assistant", "<raw 1>"), ("user", [("image", (2, 0, 0))])]
    # a keyless window request is not a prefix: it gets a fresh session
    _, _, match = _ask(pool, _window(3), key=None)
    assert match == "fresh" and len(engines) == 2


@pytest.mark.parametrize("change", ["instruction", "reply"])
def test_a_keyed_request_that_does_not_continue_its_session_gets_a_fresh_one(change: str) -> None:
    pool, engines = _pool()
    _ask(pool, _window(1))
    request = _window(2)
    if change == "instruction":
        request[-1] = _user(_img(2), "Another task")
    else:
        request[1] = {"role": "assistant", "content": "a reply the server never gave"}
    _, _, match = _ask(pool, request)
    assert match == "fresh" and len(engines) == 2 and len(pool) == 1
    assert engines[1].calls[0] == [(m["role"], _shape(m["content"])) for m in request]


def test_sessions_are_bounded_by_count_and_by_idle_time() -> None:
    now = [0.0]
    pool, engines = _pool(max_sessions=2, idle_timeout_s=60.0, clock=lambda: now[0])
    for key in ("a", "b", "c"):
        _ask(pool, _window(1), key=key)
    assert len(pool) == 2  # "a", the least recently used, went
    assert _ask(pool, _window(2), key="a")[2] == "fresh"
    assert _ask(pool, _window(2), key="c")[2] == "key"
    now[0] = 61.0
    assert _ask(pool, _window(3), key="c")[2] == "fresh" and len(pool) == 1  # idle: dropped, then fresh


def test_requests_that_are_not_chats_are_refused() -> None:
    with pytest.raises(ValueError, match="last message must be a user turn"):
        read_turns([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    with pytest.raises(ValueError, match="input_audio"):
        read_turns([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}])
    with pytest.raises(ValueError, match="role"):
        read_turns([{"role": "tool", "content": "x"}])


def test_data_urls_round_trip_losslessly() -> None:
    from agent.wire import WireFormatError, read_data_url

    image = Image.effect_noise((57, 31), 40).convert("RGB")
    assert read_data_url(image_data_url(image)).tobytes() == image.tobytes()
    with pytest.raises(WireFormatError, match="data URL"):
        read_data_url("http://example.invalid/screenshot.png")
    with pytest.raises(WireFormatError, match="without pixels"):
        to_wire([{"role": "user", "content": [{"type": "image"}]}])
