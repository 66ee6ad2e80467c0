"""A live run from one validated configuration: build the policy, screen, executor and run directory, then loop.

`run_live(config)` is what `python -m agent run` calls. Configuration problems (bad values, a missing script, an
unknown executor, an unusable screen, an existing run directory) raise `ConfigError` before anything runs; the
CLI turns them into exit code 2.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from actions.errors import ExecutorNotFoundError, NotAnExecutorError
from agent.interaction import Interaction
from agent.loop import AgentLoop, LoopConfig
from agent.models.script import SCHEME, ScriptPolicy
from agent.policy import Policy
from agent.screen import MssScreen
from agent.trajectory import RunResult, Trajectory

logger = logging.getLogger(__name__)

DRY_RUN = "dry-run"


class ConfigError(ValueError):
    """The run cannot start as configured; the message says what to change."""


class RunConfig(BaseModel):
    """The resolved configuration of a live run (saved as config.json in the run directory).

    task: the task in words (non-empty).
    model: alias, Hugging Face id, local path, or `script:FILE`; with `endpoint`, the served model's name.
    method, budget, frames, context: KV-cache compression settings, passed to model-backed policies (budget: percent
        of the tokens seen kept, in (0, 100]; frames: screenshots kept, None = the family's default). With
        `endpoint` the server owns the cache: method must be "full" and context "stateless" (the layout sent).
    endpoint: base URL of an OpenAI-compatible API serving `model` (agent.endpoint), or None (load it here).
    family: the served model's grammar ("uitars" or "opencua"; endpoint only, default "uitars").
    api_key_env, timeout_s, max_retries: how to reach the endpoint (agent.endpoint.ClientOptions); the key itself is
        read from the environment and never stored.
    max_steps (>= 1), retries (>= 0), confirm: loop settings (agent.loop.LoopConfig).
    monitor: mss monitor index (0 = all, 1 = primary).
    executor: executor spec for actions.executors.get_executor; "dry-run" when dry_run is set.
    dry_run: execute nothing.
    out: the run directory (`build` creates runs/<timestamp> when none is given).
    trust_remote_code / trust_remote_tokenizer: let the checkpoint's own model and tokenizer code run, or its
        tokenizer code only (`agent.models.load`); both off by default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str = Field(min_length=1)
    model: str = "ui-tars-1.5-7b"
    method: str = "gui_kv"
    budget: float = Field(10.0, gt=0, le=100)
    frames: int | None = Field(None, ge=1)
    context: Literal["incremental", "stateless"] = "incremental"
    max_steps: int = Field(50, ge=1)
    retries: int = Field(2, ge=0)
    confirm: bool = False
    monitor: int = Field(1, ge=0)
    executor: str = "pyautogui"
    dry_run: bool = False
    out: Path
    trust_remote_code: bool = False
    trust_remote_tokenizer: bool = False
    _claimed_out: bool = PrivateAttr(False)  # `out` was created by `build` for this run (removed if it never starts)
    endpoint: str | None = None
    family: Literal["uitars", "opencua"] | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = Field(300.0, gt=0)
    max_retries: int = Field(4, ge=0)

    @field_validator("task")
    @classmethod
    def _task_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("task is blank")
        return v

    @model_validator(mode="after")
    def _endpoint_rules(self) -> "RunConfig":
        if self.endpoint is None:
            if self.family is not None:
                raise ValueError("--family applies to --endpoint only (a model loaded here knows its family)")
            return self
        from agent.endpoint import check_url

        check_url(self.endpoint)
        if self.model.startswith(SCHEME):
            raise ValueError(f"--model {self.model}: a scripted policy does not go through --endpoint")
        if self.method != "full":
            raise ValueError(f"--method {self.method} compresses the KV cache in this process, but with --endpoint "
                             "the server owns the cache; use --method full (or serve the model with `python -m agent "
                             f"serve MODEL --method {self.method}` to compress on the server)")
        if self.context != "stateless":
            raise ValueError("--context incremental needs the KV cache in this process; with --endpoint each request "
                             "carries the stateless layout (`python -m agent serve` continues the cache on its side)")
        return self

    @property
    def executor_spec(self) -> str:
        """The executor actually used: "dry-run" under dry_run, else `executor`."""
        return DRY_RUN if self.dry_run else self.executor

    @classmethod
    def build(cls, **values: Any) -> "RunConfig":
        """Validate `values` (None means "use the default"); ConfigError if bad. Without `out`, a valid config gets
        a new directory from `claim_run_dir()`."""
        values = {k: v for k, v in values.items() if v is not None}
        claim = "out" not in values
        values.setdefault("out", Path("runs"))  # a stand-in while validating: nothing is created for a bad config
        remote = values.get("endpoint") is not None
        values.setdefault("method", "full" if remote else "gui_kv")
        values.setdefault("context", "stateless" if remote else "incremental")
        try:
            config = cls(**values)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'config'}={err.get('input')!r}: {err['msg']}"
                                 for err in e.errors())
            raise ConfigError(problems) from e
        if claim:
            config = config.model_copy(update={"out": claim_run_dir()})
            config._claimed_out = True
        return config

    def release_out(self) -> None:
        """Remove `out` if `build` created it and the run never wrote into it (a setup step failed)."""
        if self._claimed_out and self.out.is_dir() and not any(self.out.iterdir()):
            self.out.rmdir()


def claim_run_dir(root: str | Path = "runs", clock: Callable[[], float] = time.time) -> Path:
    """Create and return runs/<YYYYmmdd-HHMMSS> (local time of `clock()`), or the first free -N suffix of it.

    Creating the directory is the claim: two runs started in the same second get different directories.
    """
    base = Path(root) / time.strftime("%Y%m%d-%H%M%S", time.localtime(clock()))
    base.parent.mkdir(parents=True, exist_ok=True)
    path, n = base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            path, n = base.with_name(f"{base.name}-{n}"), n + 1


def build_policy(config: RunConfig, **engine_options: Any) -> Policy:
    """`script:FILE` -> ScriptPolicy; anything else -> a model-backed policy (agent.engine.make_policy).

    engine_options: extra keyword arguments for `make_policy` beyond what the config sets (generation settings such
        as max_new_tokens, load options such as device, or generate_kwargs); none by default, which is what the CLI
        uses. Refused (ConfigError) with a `script:` model.
    """
    if config.endpoint is not None:
        return build_endpoint_policy(config, **engine_options)
    if config.model.startswith(SCHEME):
        if engine_options:
            raise ConfigError(f"--model {config.model}: a scripted policy takes no engine options "
                              f"({', '.join(sorted(engine_options))})")
        try:
            return ScriptPolicy.from_spec(config.model)
        except (OSError, ValueError) as e:
            raise ConfigError(f"--model {config.model}: {e}") from e
    try:
        from agent.engine import make_policy  # the model engine (imports torch and transformers)
    except ImportError as e:
        raise ConfigError(f"--model {config.model}: the model engine cannot be imported ({e}); "
                          "use --model script:FILE or install the model dependencies") from e
    try:
        options = {"trust_remote_code": config.trust_remote_code,
                   "trust_remote_tokenizer": config.trust_remote_tokenizer, **engine_options}
        return make_policy(config.model, method=config.method, budget=config.budget, frames=config.frames,
                           context=config.context, **options)
    except (OSError, ValueError) as e:  # unavailable weights, a missing path, an unsupported model type, remote code
        raise ConfigError(f"--model {config.model}: {e}") from e


def build_endpoint_policy(config: RunConfig, **settings: Any) -> Policy:
    """The policy of a run against `config.endpoint`: `agent.chat.ChatPolicy` over an `EndpointEngine`, after
    checking that the endpoint serves `config.model` (ConfigError when it cannot be reached or refuses).

    settings: `GenerationSettings` fields (e.g. max_new_tokens); none by default.
    """
    from agent.chat import ChatPolicy, GenerationSettings
    from agent.endpoint import ClientOptions, EndpointClient, EndpointEngine, EndpointError

    try:
        gen = GenerationSettings(**settings)
        options = ClientOptions(api_key_env=config.api_key_env, timeout_s=config.timeout_s,
                                max_retries=config.max_retries)
        client = EndpointClient(config.endpoint or "", config.model, options)
        family = config.family or "uitars"
        client.check_model(family)
    except (TypeError, ValueError, EndpointError) as e:
        raise ConfigError(f"--endpoint {config.endpoint}: {e}") from e
    engine = EndpointEngine(client, family, frames=config.frames, max_new_tokens=gen.max_new_tokens)
    return ChatPolicy(engine, gen)


def build_executor(config: RunConfig) -> Any:
    """The executor named by the config (actions.executors.get_executor)."""
    from actions.executors import get_executor

    try:
        return get_executor(config.executor_spec)
    except (ExecutorNotFoundError, NotAnExecutorError) as e:
        raise ConfigError(f"--executor {config.executor_spec}: {e}") from e


def open_screen(config: RunConfig) -> MssScreen:
    """An MssScreen on the configured monitor, probed once so a missing display fails before the run."""
    screen = MssScreen(config.monitor)
    try:
        screen.capture()
    except Exception as e:  # mss raises its own ScreenShotError (no display) or ValueError (no such monitor)
        screen.close()
        raise ConfigError(f"cannot capture monitor {config.monitor}: {type(e).__name__}: {e}") from e
    return screen


def open_trajectory(config: RunConfig) -> Trajectory:
    """The run directory, with config.json written."""
    try:
        trajectory = Trajectory(config.out)
    except (FileExistsError, OSError) as e:
        raise ConfigError(f"--out {config.out}: {e}") from e
    trajectory.save_config(config.model_dump(mode="json") | {"executor": config.executor_spec})
    return trajectory


def run_live(config: RunConfig, interaction: Interaction | None = None,
             policy_factory: Callable[[RunConfig], Policy] = build_policy) -> RunResult:
    """Run `config.task` on this desktop. Raises ConfigError before the run when something cannot be set up.

    interaction: asks the user on call_user and --confirm (the CLI passes a TerminalInteraction).
    policy_factory: builds the policy from the config; `build_policy` (what the CLI uses) by default. Tests pass
        e.g. `functools.partial(build_policy, generate_kwargs=...)` to steer a real model's decoding.
    """
    try:
        executor = build_executor(config)
        policy = policy_factory(config)
        screen = open_screen(config)
    except BaseException:  # ConfigError, or Ctrl-C / SIGTERM while the model loads
        config.release_out()
        raise
    try:
        trajectory = open_trajectory(config)
        where = f" at {config.endpoint}" if config.endpoint else ""
        logger.info("run directory: %s (model %s%s, %s grammar, executor %s)", config.out, config.model, where,
                    policy.family, config.executor_spec)
        loop_config = LoopConfig(max_steps=config.max_steps, retries=config.retries, confirm=config.confirm)
        loop = AgentLoop(policy, screen, executor, trajectory, loop_config, interaction=interaction)
        return loop.run(config.task)
    finally:
        screen.close()
