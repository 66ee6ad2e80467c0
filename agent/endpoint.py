"""A model served elsewhere (vLLM, SGLang, `python -m agent serve`) behind an OpenAI-compatible chat endpoint.

`EndpointClient` sends chat completions with the `openai` client library and owns the fault handling:

* every request has a timeout (`timeout_s`);
* timeouts, refused or dropped connections, 408, 429 and 5xx answers are retried up to `max_retries` times, after
  an exponential backoff with jitter (`backoff_s * 2**k`, at most `backoff_max_s`, times a random factor in
  [0.5, 1]; a 429's `Retry-After` is honoured), and each retry is logged as a warning;
* any other 4xx (unknown model, bad request, bad key) raises `EndpointError` at once, without retries;
* a server that keeps failing raises `EndpointUnavailableError` once the retries are spent.

`EndpointEngine` is the `agent.chat.ChatBackend` on top: each `reply(messages)` is one chat completion of the
messages as given (the stateless layout: the system prompt, the last N screenshots as PNG data URLs, the earlier
replies), greedy (`temperature` 0), with the conversation's session key in the OpenAI `user` field. Servers that do not
know the key ignore it; `agent serve` uses it to continue the conversation's KV session. Screenshots are sent already
resized to their model-image size by the caller (`agent.chat.frame_image`, `eval.prompting.model_image`), so the
server's own resizing leaves them alone and the reply's coordinates refer to the size the parser assumes.

The API key is read from the environment variable `api_key_env` when the client is built and is never logged, stored
on a config or written anywhere. A server without authentication (vLLM without `--api-key`, `agent serve`) accepts any
key, so an unset variable sends a placeholder.

No torch, no transformers: a desktop that drives a remote model does not load them.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from agent.chat import DEFAULT_FRAMES, Message, check_max_new_tokens
from agent.policy import Family, PolicyReply
from agent.wire import to_wire

logger = logging.getLogger(__name__)

__all__ = [
    "ClientOptions", "EndpointClient", "EndpointEngine", "EndpointError", "EndpointUnavailableError", "check_url",
]

_NO_KEY = "EMPTY"  # what OpenAI-compatible servers without authentication expect by convention
_RETRIED_STATUS = frozenset({408, 429})  # plus every 5xx


class EndpointError(RuntimeError):
    """The endpoint refused a request (a 4xx other than 408/429): retrying cannot help; the message says why."""


class EndpointUnavailableError(EndpointError):
    """The endpoint did not answer (timeouts, refused connections, 429 or 5xx) after all retries."""


def check_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host (ValueError otherwise), without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"endpoint={url!r} must be an http(s) URL such as http://127.0.0.1:8000/v1")
    return url.rstrip("/")


@dataclass(frozen=True)
class ClientOptions:
    """How to talk to an endpoint (none of it changes a result).

    api_key_env: environment variable holding the API key (default OPENAI_API_KEY; unset -> a placeholder key).
    timeout_s: seconds one request may take (default 300: a 7B model's long reply on a busy server).
    max_retries: retries of a request that timed out or got 408/429/5xx or no connection (default 4).
    backoff_s, backoff_max_s: first retry delay and its cap, in seconds (defaults 1 and 30); jittered.
    """

    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 300.0
    max_retries: int = 4
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.api_key_env or not self.api_key_env.replace("_", "").isalnum():
            raise ValueError(f"api_key_env={self.api_key_env!r} must be an environment variable name")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s={self.timeout_s!r} must be > 0 (seconds)")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries={self.max_retries!r} must be an int >= 0")
        if not 0 <= self.backoff_s <= self.backoff_max_s:
            raise ValueError(f"backoff_s={self.backoff_s!r} must be in [0, backoff_max_s={self.backoff_max_s!r}]")


class EndpointClient:
    """Chat completions against `url` for the served model `model` (module docstring).

    options: `ClientOptions`. sleep, rng: the retry delay's clock and jitter source (tests pass their own).
    Thread-safe: one client serves every conversation of a replay.
    """

    def __init__(self, url: str, model: str, options: ClientOptions | None = None, *,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> None:
        from openai import OpenAI

        if not model:
            raise ValueError("model must name the served model (e.g. --model ByteDance-Seed/UI-TARS-1.5-7B)")
        self.url, self.model = check_url(url), model
        self.options = options or ClientOptions()
        self._sleep, self._rng = sleep, rng or random.Random()
        self._openai = OpenAI(base_url=self.url, api_key=os.environ.get(self.options.api_key_env) or _NO_KEY,
                              timeout=self.options.timeout_s, max_retries=0)

    def complete(self, messages: list[dict[str, Any]], *, max_tokens: int, user: str | None = None) -> tuple[Any, int]:
        """(the `ChatCompletion`, retries it took) for wire `messages`; raises EndpointError/EndpointUnavailableError."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                                  "temperature": 0.0}
        if user is not None:
            kwargs["user"] = user
        return self._call(lambda: self._openai.chat.completions.create(**kwargs), "chat completion")

    def served_models(self) -> dict[str, dict[str, Any]]:
        """The served models (`GET /models`): id -> the entry's fields (ours add `family`)."""
        page, _ = self._call(self._openai.models.list, "model list")
        return {m.id: m.model_dump() for m in page.data}

    def check_model(self, family: Family) -> None:
        """EndpointError unless the endpoint serves `self.model`, in `family` when the server says which."""
        served = self.served_models()
        if self.model not in served:
            raise EndpointError(f"{self.url} does not serve model {self.model!r}; it serves: "
                                f"{', '.join(sorted(served)) or 'nothing'} (pass one of them as --model)")
        theirs = served[self.model].get("family")
        if theirs is not None and theirs != family:
            raise EndpointError(f"{self.url} serves {self.model!r} as a {theirs!r} model, not {family!r}; "
                                f"pass --family {theirs}")

    def _call(self, request: Callable[[], Any], what: str) -> tuple[Any, int]:
        import openai

        retries = self.options.max_retries
        for attempt in range(retries + 1):
            retry_after: float | None = None
            try:
                return request(), attempt
            except openai.APITimeoutError:
                reason = f"no answer within {self.options.timeout_s:g} s"
            except openai.APIConnectionError as e:
                reason = f"connection failed ({_cause(e)})"
            except openai.APIStatusError as e:
                if e.status_code not in _RETRIED_STATUS and e.status_code < 500:
                    raise EndpointError(self._refused(e, what)) from None
                reason = f"HTTP {e.status_code} {_message(e)}"
                retry_after = _retry_after(e)
            if attempt == retries:
                raise EndpointUnavailableError(
                    f"{self.url}: {what} for model {self.model!r} failed after {retries} retries; last: {reason}")
            delay = self._delay(attempt, retry_after)
            logger.warning("%s: %s: %s; retry %d/%d in %.2f s", self.url, what, reason, attempt + 1, retries, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        o = self.options
        delay = min(o.backoff_max_s, o.backoff_s * 2 ** attempt) * self._rng.uniform(0.5, 1.0)
        return max(delay, min(retry_after, o.backoff_max_s)) if retry_after is not None else delay

    def _refused(self, e: Any, what: str) -> str:
        hint = {401: f"; set a valid key in ${self.options.api_key_env} (--api-key-env)",
                403: f"; the key in ${self.options.api_key_env} may not use this model",
                404: "; check --model and the URL (it usually ends in /v1)"}.get(e.status_code, "")
        return f"{self.url}: {what} for model {self.model!r} refused: HTTP {e.status_code} {_message(e)}{hint}"


def _message(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        detail = body.get("message") or body.get("detail") or body.get("error")
        if isinstance(detail, dict):
            detail = detail.get("message")
        if detail:
            return f"({str(detail)[:300]})"
    return f"({str(getattr(e, 'message', e))[:300]})"


def _cause(e: BaseException) -> str:
    cause = e.__cause__ or e.__context__
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(e)


def _retry_after(e: Any) -> float | None:
    response = getattr(e, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


class EndpointEngine:
    """A chat backend over an `EndpointClient` (module docstring): one completion per reply, stateless layout.

    family: the served model's prompt and reply grammar ("uitars" or "opencua").
    frames: screenshots per request (N; default 5 for UI-TARS, 3 for OpenCUA).
    max_new_tokens: default reply cap (the request's `max_tokens`).
    """

    context = "stateless"
    model_config = None  # the model's config is on the server: no local cost model

    def __init__(self, client: EndpointClient, family: Family, *, frames: int | None = None,
                 max_new_tokens: int = 256) -> None:
        if family not in DEFAULT_FRAMES:
            raise ValueError(f"family={family!r} is not one of {sorted(DEFAULT_FRAMES)}")
        check_max_new_tokens(max_new_tokens)
        self.client, self.family, self.max_new_tokens = client, family, max_new_tokens
        self.frames = DEFAULT_FRAMES[family] if frames is None else frames
        if isinstance(self.frames, bool) or not isinstance(self.frames, int) or self.frames < 1:
            raise ValueError(f"frames={frames!r} must be an int >= 1")
        self.reset()

    def reset(self) -> None:
        """A new conversation: a new session key."""
        self.session_key = f"guikv-{uuid.uuid4().hex}"

    def reply(self, messages: list[Message], *, max_new_tokens: int | None = None) -> PolicyReply:
        """One chat completion of `messages`. Costs come from the response's `usage` (prefilled = prompt tokens minus
        cached ones) and, from `agent serve`, its `guikv` block (KV cache size, prefill and decode seconds); without
        server timings the whole request counts as decode time."""
        n_new = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        check_max_new_tokens(n_new)
        started = time.perf_counter()
        completion, retries = self.client.complete(to_wire(messages), max_tokens=n_new, user=self.session_key)
        request_s = time.perf_counter() - started
        choice = completion.choices[0]
        text = choice.message.content or ""
        usage = completion.usage
        prompt = int(usage.prompt_tokens) if usage is not None else 0
        details = getattr(usage, "prompt_tokens_details", None) if usage is not None else None
        cached = int(getattr(details, "cached_tokens", 0) or 0)
        generated = int(usage.completion_tokens) if usage is not None else 0
        ours: dict[str, Any] = (completion.model_extra or {}).get("guikv") or {}
        logger.debug("endpoint reply (%d tokens, %s, prompt %d, cached %d, %d retries): %r", generated,
                     choice.finish_reason, prompt, cached, retries, text)
        return PolicyReply(
            text=text,
            prefill_tokens=int(ours.get("n_prefilled", prompt - cached)),
            kv_cache_bytes=int(ours.get("kv_cache_bytes", 0)),
            kv_entries_per_layer=tuple(int(e) for e in ours.get("kv_entries_per_layer", ())),
            prefill_s=float(ours.get("prefill_s", 0.0)),
            decode_s=float(ours.get("decode_s", request_s)),
            extra={
                "raw": text, "n_generated": generated, "n_seen": int(ours.get("n_seen", prompt + generated)),
                "stop": "max_new_tokens" if choice.finish_reason == "length" else "eos", "request_s": request_s,
                "retries": retries, "session": self.session_key, "reused": bool(ours.get("reused", False)),
                "context": self.context, "method": str(ours.get("method", "endpoint")),
            },
        )
