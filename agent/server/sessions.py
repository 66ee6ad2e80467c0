"""Conversations of `agent serve`: which KV session a chat request continues, and what it adds to it.

A request is a list of wire messages (`WireTurn`: a role and its items, an image identified by the SHA-256 of its data
URL). The pool finds the session the request continues:

* by its session key (the OpenAI `user` field), when the request has one; else
* by prefix: a keyless session whose last request, followed by the reply the server gave, starts this request.

and what the request adds to that conversation:

* **append-only** (the request starts with the last request and the reply): the messages after them, as they are;
* **window** (keyed requests only; the stateless layout that vLLM clients and `--endpoint` send): the request repeats
  a window of earlier screenshots and replies, which the session already holds in its KV cache. It continues the
  session when its last assistant message ends with the reply the server gave, and its last user turn's texts start
  with the conversation's instruction (the texts of the first request's last user turn). What it adds is its last
  user turn less the instruction: the new screenshot(s) and any further text (e.g. a parse error to correct); a turn
  whose only image is the screenshot fed last and that carries further text is a retry on the same screen, and adds
  that text only.

The session's conversation is therefore: the first request as it came, then per request the reply given and the new
user turn. `agent.engine.ChatEngine` (incremental) renders it and prefills only what it gained: the new screenshot
and its turn's text. A fresh in-process `ChatEngine` with the same method, given that conversation, gives the same
replies. A request that continues no session starts a fresh one (a keyed request replaces its key's session).

Sessions are bounded: at most `max_sessions` (the least recently used one is dropped) and none idle for more than
`idle_timeout_s`. The pool is not thread-safe: the server calls it from its one model thread.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from agent.policy import PolicyReply
from agent.wire import read_data_url

logger = logging.getLogger(__name__)

__all__ = ["Match", "SessionPool", "WireTurn", "project_messages", "read_turns"]

Message = dict[str, Any]
Item = tuple[Literal["text", "image"], str]  # ("text", text) or ("image", data URL)
Match = Literal["fresh", "key", "prefix"]


@dataclass(frozen=True)
class WireTurn:
    """One request message: role and items, images as the SHA-256 of their data URL (`key`) plus the URL."""

    role: str
    items: tuple[Item, ...]

    @cached_property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """What identifies the turn: role, texts, image digests (hashed once per turn)."""
        return self.role, tuple((k, _digest(v) if k == "image" else v) for k, v in self.items)

    @property
    def texts(self) -> list[str]:
        return [v for k, v in self.items if k == "text"]

    @property
    def images(self) -> list[str]:
        return [v for k, v in self.items if k == "image"]


def read_turns(messages: list[dict[str, Any]]) -> list[WireTurn]:
    """Wire messages (role, content: a string or text / image_url items) -> turns. ValueError for anything else."""
    turns = []
    for i, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "user", "assistant"):
            raise ValueError(f"messages[{i}].role={role!r} is not one of 'system', 'user', 'assistant'")
        if content is None or isinstance(content, str):
            turns.append(WireTurn(role, (("text", content or ""),)))
            continue
        items: list[Item] = []
        for item in content:
            if item.get("type") == "text":
                items.append(("text", str(item.get("text", ""))))
            elif item.get("type") == "image_url":
                url = item.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if not isinstance(url, str):
                    raise ValueError(f"messages[{i}]: an image_url item without a url")
                items.append(("image", url))
            else:
                raise ValueError(f"messages[{i}]: content item type {item.get('type')!r} is not text or image_url")
        turns.append(WireTurn(role, tuple(items)))
    if not turns or turns[-1].role != "user":
        raise ValueError("the last message must be a user turn")
    return turns


def _digest(url: str) -> str:
    return hashlib.sha256(url.encode("ascii", "surrogateescape")).hexdigest()


def project_messages(turns: list[WireTurn]) -> list[Message]:
    """Turns -> project chat messages (images decoded). Text-only turns of one item keep a string content."""
    messages: list[Message] = []
    for turn in turns:
        if turn.role != "user" and len(turn.items) == 1 and turn.items[0][0] == "text":
            messages.append({"role": turn.role, "content": turn.items[0][1]})
            continue
        content = [{"type": "image", "image": read_data_url(v)} if k == "image" else {"type": "text", "text": v}
                   for k, v in turn.items]
        messages.append({"role": turn.role, "content": content})
    return messages


def _without_pixels(messages: list[Message]) -> list[Message]:
    """The conversation with every image item reduced to its placeholder (the KV session holds what it needs)."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            content = [{"type": "image"} if item.get("type") == "image" else item for item in content]
        out.append({"role": m["role"], "content": content})
    return out


@dataclass
class _Session:
    sid: str
    key: str | None
    engine: Any  # a ChatEngine (incremental)
    conversation: list[Message]  # project messages, pixels dropped after each reply
    request: tuple[WireTurn, ...] = ()  # the last request
    reply_text: str = ""  # the last reply, special tokens stripped (what a client echoes)
    reply_raw: str = ""  # the last reply as the conversation holds it
    instruction: tuple[str, ...] = ()
    last_image: str | None = None  # digest of the screenshot fed last
    used_at: float = 0.0
    n_replies: int = 0

    def echoed(self) -> WireTurn:
        return WireTurn("assistant", (("text", self.reply_text),))


class SessionPool:
    """The server's conversations (module docstring).

    new_engine: builds a fresh `ChatEngine` (incremental) for a new session.
    max_sessions: LRU cap (>= 1). idle_timeout_s: a session unused this long is dropped (> 0).
    clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, new_engine: Callable[[], Any], *, max_sessions: int = 16, idle_timeout_s: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or max_sessions < 1:
            raise ValueError(f"max_sessions={max_sessions!r} must be an int >= 1")
        if not idle_timeout_s > 0:
            raise ValueError(f"idle_timeout_s={idle_timeout_s!r} must be > 0 (seconds)")
        self._new_engine, self.max_sessions, self.idle_timeout_s, self._clock = (
            new_engine, max_sessions, idle_timeout_s, clock)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # sid -> session, least recently used first
        self._by_key: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def reply(self, turns: list[WireTurn], *, key: str | None, max_new_tokens: int) -> tuple[PolicyReply, str, Match]:
        """The reply to a request: (reply, session id, how the session was found)."""
        self._drop_idle()
        session, added, match = self._find(turns, key)
        if session is None:
            added, match = project_messages(turns), "fresh"  # decoded first: a bad image opens no session
            session = self._open(key)
            session.instruction = tuple(turns[-1].texts)
        session.conversation.extend(added)
        try:
            reply = session.engine.reply(session.conversation, max_new_tokens=max_new_tokens)
        except BaseException:
            self._drop(session.sid)  # its KV session may be half-updated
            raise
        self._record(session, turns, reply, added)
        return reply, session.sid, match

    def _find(self, turns: list[WireTurn], key: str | None) -> tuple[_Session | None, list[Message], Match]:
        if key is not None:
            sid = self._by_key.get(key)
            if sid is None:
                return None, [], "fresh"
            session = self._sessions[sid]
            added = self._extension(session, turns, window=True)
            if added is None:
                logger.info("session %s: the request does not continue it; starting a fresh one", sid)
                self._drop(sid)
                return None, [], "fresh"
            return session, added, "key"
        for session in reversed(self._sessions.values()):  # most recent first
            if session.key is None:
                added = self._extension(session, turns, window=False)
                if added is not None:
                    return session, added, "prefix"
        return None, [], "fresh"

    def _extension(self, s: _Session, turns: list[WireTurn], *, window: bool) -> list[Message] | None:
        """The messages `turns` add to `s` (its reply first), or None when they do not continue it."""
        assistant: Message = {"role": "assistant", "content": s.reply_raw}
        prev = [t.key for t in (*s.request, s.echoed())]
        if len(turns) > len(prev) and [t.key for t in turns[: len(prev)]] == prev:
            return [assistant, *project_messages(turns[len(prev):])]
        if not window:
            return None
        replies = [t for t in turns[:-1] if t.role == "assistant"]
        if not replies or not "".join(replies[-1].texts).rstrip().endswith(s.reply_text.rstrip()):
            return None
        last = turns[-1]
        texts, images = last.texts, last.images
        if tuple(texts[: len(s.instruction)]) != s.instruction:
            return None
        extra = texts[len(s.instruction):]
        if extra and [_digest(u) for u in images] == [s.last_image]:
            images = []  # a retry on the screenshot fed last: only the new text
        if not images and not extra:
            return None
        turn = WireTurn("user", tuple([("image", u) for u in images] + [("text", t) for t in extra]))
        return [assistant, *project_messages([turn])]

    def _open(self, key: str | None) -> _Session:
        sid = uuid.uuid4().hex[:12]
        if key is not None:
            self._by_key[key] = sid
        engine = self._new_engine()
        engine.reset()
        session = _Session(sid, key, engine, [])
        self._sessions[sid] = session
        while len(self._sessions) > self.max_sessions:
            oldest = next(iter(self._sessions))
            logger.info("session %s dropped: more than %d sessions (least recently used)", oldest, self.max_sessions)
            self._drop(oldest)
        return session

    def _record(self, s: _Session, turns: list[WireTurn], reply: PolicyReply, added: list[Message]) -> None:
        s.request, s.reply_text, s.reply_raw = tuple(turns), reply.text, str(reply.extra.get("raw", reply.text))
        fed = [item for m in added if isinstance(m["content"], list) for item in m["content"]
               if item.get("type") == "image"]
        if fed:
            s.last_image = _digest(_last_image_url(turns, s))
        s.conversation = _without_pixels(s.conversation)
        s.used_at, s.n_replies = self._clock(), s.n_replies + 1
        self._sessions.move_to_end(s.sid)

    def _drop(self, sid: str) -> None:
        session = self._sessions.pop(sid, None)
        if session is not None and session.key is not None and self._by_key.get(session.key) == sid:
            del self._by_key[session.key]

    def _drop_idle(self) -> None:
        now = self._clock()
        for sid in [sid for sid, s in self._sessions.items() if now - s.used_at > self.idle_timeout_s]:
            logger.info("session %s dropped: idle for more than %g s", sid, self.idle_timeout_s)
            self._drop(sid)


def _last_image_url(turns: list[WireTurn], s: _Session) -> str:
    """The data URL of the screenshot fed last: the last image of the request's last turn that holds one."""
    for turn in reversed(turns):
        if turn.images:
            return turn.images[-1]
    raise AssertionError(f"session {s.sid}: an image was fed but the request holds none")
