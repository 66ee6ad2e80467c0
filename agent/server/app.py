"""`python -m agent serve MODEL`: the project's engine behind an OpenAI-compatible API (FastAPI on uvicorn).

Routes:

* `POST /v1/chat/completions`: chat messages with text and image items (images as base64 data URLs; the server
  fetches nothing), `max_tokens` (or `max_completion_tokens`), and an optional session key in `user`. Decoding is
  greedy; sampling fields are accepted and ignored; `stream` and `n` > 1 are refused. The answer is a
  `chat.completion` whose `usage` counts the prompt (`prompt_tokens`: the tokens in context for this reply) and, in
  `prompt_tokens_details.cached_tokens`, the part the session already held, so `prompt_tokens - cached_tokens` were
  prefilled. A `guikv` block adds the session, how it was found, `n_prefilled`, the KV cache size and the prefill and
  decode seconds.
* `GET /v1/models`: the served model, with its `family`, method, budget, frames and context.
* `GET /health`: `{"status": "ok", ...}` with the sessions held and the requests waiting.

With `--context incremental` (the default) conversations continue their KV session across requests
(`agent.server.sessions`): from the second request on only the new screenshot and its turn's text are prefilled, and
the method (GUI-KV by default) compresses the cache as in-process runs do. With `--context stateless` every request
is prefilled whole, as vLLM does.

One thread runs the model: requests wait in a FIFO queue and run one at a time, so concurrent clients are safe on one
model (a request waits its turn; nothing is batched).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.policy import PolicyReply
from agent.server.sessions import SessionPool, WireTurn, project_messages, read_turns
from agent.wire import WireFormatError

logger = logging.getLogger(__name__)

__all__ = ["ModelServer", "ServeConfig", "build_app", "parse_serve_config", "serve"]


class ServeConfig(BaseModel):
    """What `python -m agent serve` serves and how.

    model: alias, hub id or local model directory (as for `agent.models.load`).
    served_model_name: the name clients pass as `model` (default: `model` as given).
    method, budget, frames, context: the engine (`agent.engine.ChatEngine`): compression method, percent of the
        tokens seen kept, screenshots in context (None: the family's default), incremental or stateless.
    host, port: where to listen (default 127.0.0.1:8000; port 0 picks a free one, logged when ready).
    max_sessions: conversations kept (LRU). idle_timeout_s: a conversation unused this long is dropped.
    max_new_tokens: reply cap of a request that sets none.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    served_model_name: str | None = None
    method: Literal["full", "random", "recency", "snapkv", "pyramidkv", "vlcache", "gui_kv"] = "gui_kv"
    budget: float = Field(10.0, gt=0, le=100)
    frames: int | None = Field(None, ge=1)
    context: Literal["incremental", "stateless"] = "incremental"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_sessions: int = Field(16, ge=1)
    idle_timeout_s: float = Field(900.0, gt=0)
    max_new_tokens: int = Field(1024, ge=1)

    @property
    def name(self) -> str:
        """The served model's name."""
        return self.served_model_name or self.model


class ChatRequest(BaseModel):
    """The fields of a chat completion request that the server reads (others are accepted and ignored)."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    user: str | None = None
    stream: bool = False
    n: int = 1


class RequestError(ValueError):
    """A request the server refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ModelServer:
    """The model behind the routes: a loaded bundle, its sessions (incremental) or one stateless engine.

    config: `ServeConfig`. bundle: a loaded `ModelBundle`. generate_kwargs: extra `generate` arguments for every
    engine (tests force replies with a logits processor).
    """

    def __init__(self, config: ServeConfig, bundle: Any, generate_kwargs: dict[str, Any] | None = None) -> None:
        from agent.engine import ChatEngine

        self.config, self.bundle = config, bundle
        self.family = bundle.family

        def new_engine() -> Any:
            return ChatEngine(bundle, method=config.method, budget=config.budget, frames=config.frames,
                              context=config.context, max_new_tokens=config.max_new_tokens,
                              generate_kwargs=generate_kwargs)

        self._stateless = new_engine() if config.context == "stateless" else None
        self.frames = (self._stateless or new_engine()).frames
        self.pool = SessionPool(new_engine, max_sessions=config.max_sessions, idle_timeout_s=config.idle_timeout_s)
        self.n_waiting = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guikv-model")

    def model_card(self) -> dict[str, Any]:
        c = self.config
        return {"id": c.name, "object": "model", "created": 0, "owned_by": "guikv", "family": self.family,
                "method": c.method, "budget": c.budget, "frames": self.frames, "context": c.context}

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        """Answer `request` on the model thread (FIFO)."""
        if request.model != self.config.name:
            raise RequestError(404, f"model {request.model!r} is not served here; this server serves "
                                    f"{self.config.name!r}")
        if request.stream:
            raise RequestError(400, "stream=true is not supported; send stream=false")
        if request.n != 1:
            raise RequestError(400, f"n={request.n} is not supported; send n=1")
        try:
            turns = read_turns(request.messages)
        except ValueError as e:
            raise RequestError(400, str(e)) from None
        n_new = request.max_completion_tokens or request.max_tokens or self.config.max_new_tokens
        self.n_waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._reply, turns, request.user, n_new)
        finally:
            self.n_waiting -= 1

    def _reply(self, turns: list[WireTurn], key: str | None, n_new: int) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            if self._stateless is not None:
                messages = project_messages(turns)
                reply, sid, match = self._stateless.reply(messages, max_new_tokens=n_new), None, "stateless"
            else:
                reply, sid, match = self.pool.reply(turns, key=key, max_new_tokens=n_new)
        except WireFormatError as e:
            raise RequestError(400, str(e)) from None
        except BaseException:
            if self._stateless is not None:
                self._stateless.reset()  # its KV session refuses further steps after a failed one
            raise
        response = self._response(reply, sid, match)
        usage = response["usage"]
        logger.info("reply %s (%s): prefilled %d of %d prompt tokens, %d generated, %.2f s", sid or "-", match,
                    reply.prefill_tokens, usage["prompt_tokens"], usage["completion_tokens"],
                    time.perf_counter() - started)
        return response

    def _response(self, reply: PolicyReply, sid: str | None, match: str) -> dict[str, Any]:
        extra = reply.extra
        n_gen = int(extra.get("n_generated", 0))  # type: ignore[call-overload]
        n_seen = int(extra.get("n_seen", 0))  # type: ignore[call-overload]
        prompt = max(n_seen - max(n_gen - 1, 0), reply.prefill_tokens)  # the last generated token is not fed yet
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": self.config.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": "length" if extra.get("stop") == "max_new_tokens" else "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": n_gen, "total_tokens": prompt + n_gen,
                      "prompt_tokens_details": {"cached_tokens": prompt - reply.prefill_tokens}},
            "guikv": {
                "session": sid, "match": match, "reused": match in ("key", "prefix"),
                "n_prefilled": reply.prefill_tokens, "n_seen": n_seen, "n_frames": extra.get("n_frames"),
                "n_evicted_frames": extra.get("n_evicted_frames"),
                "kv_entries_per_layer": list(reply.kv_entries_per_layer), "kv_cache_bytes": reply.kv_cache_bytes,
                "prefill_s": reply.prefill_s, "decode_s": reply.decode_s, "method": self.config.method,
            },
        }

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _error(status: int, message: str) -> Any:
    from fastapi.responses import JSONResponse

    kinds = {400: "BadRequestError", 404: "NotFoundError", 500: "InternalServerError"}
    return JSONResponse(status_code=status, content={"error": {
        "message": message, "type": kinds.get(status, "Error"), "code": status}})


def build_app(server: ModelServer, on_ready: Any = None) -> Any:
    """The FastAPI app of `server`; `on_ready()` runs once the app has started."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_ready is not None:
            on_ready()
        yield
        server.close()

    app = FastAPI(title="guikv agent serve", lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _error(400, f"invalid request: {problems}")

    @app.exception_handler(RequestError)
    async def _refused(request: Request, exc: RequestError) -> Any:
        return _error(exc.status, str(exc))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: ChatRequest) -> dict[str, Any]:
        return await server.complete(request)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [server.model_card()]}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": server.config.name, "family": server.family,
                "method": server.config.method, "context": server.config.context, "sessions": len(server.pool),
                "waiting": server.n_waiting}

    return app


def serve(config: ServeConfig, generate_kwargs: dict[str, Any] | None = None) -> None:
    """Load `config.model` and serve it until interrupted (SIGINT/SIGTERM). Raises ValueError/OSError when the model
    cannot be loaded or the address cannot be bound."""
    import uvicorn

    from agent.models.loading import load

    bundle = load(config.model)
    server = ModelServer(config, bundle, generate_kwargs)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    port = sock.getsockname()[1]
    host = f"[{config.host}]" if family == socket.AF_INET6 else config.host

    def ready() -> None:
        logger.info("serving %r (%s, %s, method %s, N=%d) at http://%s:%d/v1", config.name, server.family,
                    config.context, config.method, server.frames, host, port)

    app = build_app(server, on_ready=ready)
    uv = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=5))
    try:
        uv.run(sockets=[sock])
    finally:
        sock.close()


def parse_serve_config(**values: Any) -> ServeConfig:
    """A `ServeConfig` from CLI values (None = default); ValueError naming the field when one is wrong."""
    try:
        return ServeConfig(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}={err.get('input')!r}: {err['msg']}"
                             for err in e.errors())
        raise ValueError(problems) from None
