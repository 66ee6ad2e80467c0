"""The engines of a replay's runs: one per (run, thread), built on first use over one loaded model (or endpoint
client, or script), plus the full-cache references of `--fidelity`."""

from __future__ import annotations

import os
import threading
from typing import Any

from eval.config import ConfigError, EvalConfig, RunKey
from eval.method_spec import build_method
from eval.replay import ModelReplayEngine, ReplayEngine, ReplaySettings, ScriptReplayEngine

__all__ = ["Engines"]

_SCRIPT = "script:"


class Engines:
    """Builds the engine of each run, one per thread (replays in flight never share a conversation); the model is
    loaded (or the endpoint checked) once, on first use."""

    def __init__(self, config: EvalConfig, client: Any = None) -> None:
        self.config, self.client_options = config, client
        self._bundle: Any = None
        self._client: Any = None
        self._lock = threading.Lock()
        self._local = threading.local()

    def get(self, run: RunKey) -> tuple[ReplayEngine, ReplaySettings]:
        """This thread's engine for `run` (built on first use)."""
        cache: dict[str, tuple[ReplayEngine, ReplaySettings]] = self._local.__dict__.setdefault("engines", {})
        if run.name not in cache:
            cache[run.name] = self._build(run)
        return cache[run.name]

    def chat(self, run: RunKey) -> Any:
        """The `agent.engine.ChatEngine` behind `run`'s engine (a model loaded here)."""
        engine = self.get(run)[0]
        if not isinstance(engine, ModelReplayEngine):
            raise ConfigError("--fidelity needs a model loaded in this process")
        return engine.engine

    def reference(self, frames: int) -> Any:
        """This thread's full-cache `ChatEngine` with `frames` screenshots: the fidelity reference."""
        cache: dict[int, Any] = self._local.__dict__.setdefault("references", {})
        if frames not in cache:
            from agent.engine import ChatEngine
            from compression import FullKV

            c = self.config
            cache[frames] = ChatEngine(self._loaded(), method=FullKV(), frames=frames, context=c.context,
                                       max_new_tokens=c.max_new_tokens)
        return cache[frames]

    def _build(self, run: RunKey) -> tuple[ReplayEngine, ReplaySettings]:
        c = self.config
        frames = c.frames_of(run)
        if c.model.startswith(_SCRIPT):
            from agent.models.script import ScriptPolicy

            try:
                script = ScriptPolicy.from_spec(c.model)
            except (FileNotFoundError, ValueError) as e:
                raise ConfigError(f"--model {c.model!r}: {e}") from None
            engine: ReplayEngine = ScriptReplayEngine(script.replies, script.family, c.context)
        elif c.endpoint is not None:
            from agent.endpoint import EndpointEngine

            engine = ModelReplayEngine(EndpointEngine(self._endpoint(), c.family or "uitars", frames=frames,
                                                      max_new_tokens=c.max_new_tokens))
        else:
            from agent.engine import ChatEngine

            method = build_method(run.method, run.budget, run.max_tokens)
            chat = ChatEngine(self._loaded(), method=method, frames=frames, context=c.context,
                              max_new_tokens=c.max_new_tokens)
            engine = ModelReplayEngine(chat)
        return engine, ReplaySettings(frames=frames, instruction_level=c.instruction_level,
                                      min_pixels=c.min_pixels, max_pixels=c.max_pixels)

    def _loaded(self) -> Any:
        c = self.config
        with self._lock:
            if self._bundle is None:
                from agent.models.loading import ModelUnavailableError, RemoteCodeRequiredError, load
                from agent.models.opencua import CheckpointKeyError

                try:
                    self._bundle = load(c.model, device=_device(), trust_remote_code=c.trust_remote_code,
                                        trust_remote_tokenizer=c.trust_remote_tokenizer)
                except (ModelUnavailableError, FileNotFoundError, RemoteCodeRequiredError, CheckpointKeyError) as e:
                    raise ConfigError(f"--model {c.model!r}: {e}") from e
            return self._bundle

    def _endpoint(self) -> Any:
        """The endpoint client, after checking (once) that the endpoint serves the model."""
        c = self.config
        with self._lock:
            if self._client is None:
                from agent.endpoint import EndpointClient, EndpointError

                try:
                    client = EndpointClient(c.endpoint or "", c.model, self.client_options)
                    client.check_model(c.family or "uitars")
                except (ValueError, EndpointError) as e:
                    raise ConfigError(f"--endpoint {c.endpoint}: {e}") from e
                self._client = client
            return self._client


def _device() -> str | None:
    """`cuda:<LOCAL_RANK>` under a multi-process launcher with CUDA, else None (automatic)."""
    local = os.environ.get("LOCAL_RANK")
    if local is None:
        return None
    import torch

    return f"cuda:{int(local)}" if torch.cuda.is_available() else None
