"""`python -m agent demo`: the live agent does a held-out synthdesk task in a real window on this display.

`run_demo(config)`:

1. draws the task: held-out split, `config.seed`, kind `config.kind` (`tasks.synthdesk.generate`);
2. builds the policy (default `gui-tiny`, whose prompts are synthdesk's) and the pyautogui executor, before any window
   opens, so a missing model fails fast;
3. opens the app's undecorated Tk window at (0, 0) of the current `DISPLAY` (`tasks.synthdesk.tkapp.open_window`):
   it shows the training renderer's image 1:1 and feeds clicks and keys to the app's state machine;
4. runs the ordinary live loop (`agent.loop.AgentLoop`) on an `MssScreen` that captures only the window's rectangle,
   so a screenshot is the app's own render whatever the display size. Before each capture the window is synced
   (an F12 fence that X delivers after all earlier input) and the capture is checked against the digest of the frame
   the window reports showing: the model sees exactly what it was trained on, or the run ends with an error;
5. asks the window whether the task's goal is met.

The demo succeeds when the model says `finished()` and the app confirms the goal. Every run writes the usual run
directory (config.json with the demo's fields, steps.jsonl, screenshots, result.json, report.html).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.live import ConfigError, RunConfig, build_executor, build_policy, claim_run_dir
from agent.loop import AgentLoop, LoopConfig
from agent.models.script import SCHEME
from agent.policy import Policy
from agent.screen import Frame, MssScreen
from agent.trajectory import RunResult, RunStatus, StepRecord, StepStatus, Trajectory

if TYPE_CHECKING:
    from tasks.synthdesk.tkapp import WindowHandle

logger = logging.getLogger(__name__)

__all__ = ["DEMO_MAX_NEW_TOKENS", "DemoConfig", "DemoResult", "demo_episode", "describe_step", "run_demo"]

#: Reply cap of model policies: a gold synthdesk reply is at most ~70 characters (one byte token each).
DEMO_MAX_NEW_TOKENS = 96
_CAPTURE_TIMEOUT_S = 3.0  # how long a capture may keep differing from the window's frame (the X server draws late)


class DemoConfig(BaseModel):
    """The resolved configuration of a demo (saved in config.json of its run directory).

    seed: the held-out seed of the task (>= 0); the task is task 0 of that seed.
    kind: "episode" (3-6 steps, then finished) or "memory" (a notice on the first screen decides a later step).
        Grounding tasks have no `finished` step, so they are no demo.
    model, method, budget, frames, context: as for `python -m agent run` (default model gui-tiny; method "full",
        the setting the held-out accuracies are measured in).
    max_steps (>= 1), retries (>= 0): loop limits.
    out: the run directory (default runs/demo/<timestamp>).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(0, ge=0)
    kind: Literal["episode", "memory"] = "episode"
    model: str = "gui-tiny"
    method: str = "full"
    budget: float = Field(10.0, gt=0, le=100)
    frames: int | None = Field(None, ge=1)
    context: Literal["incremental", "stateless"] = "incremental"
    max_steps: int = Field(12, ge=1)
    retries: int = Field(2, ge=0)
    out: Path

    @classmethod
    def build(cls, **values: Any) -> "DemoConfig":
        """Validate `values` (None = the default; `out=None` picks runs/demo/<timestamp>); ConfigError if bad."""
        values = {k: v for k, v in values.items() if v is not None}
        claim = "out" not in values
        values.setdefault("out", Path("runs") / "demo")  # a stand-in while validating: nothing is created for a bad one
        try:
            config = cls(**values)
            return config.model_copy(update={"out": claim_run_dir(Path("runs") / "demo")}) if claim else config
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'config'}={err.get('input')!r}: {err['msg']}"
                                 for err in e.errors())
            raise ConfigError(problems) from e

    def run_config(self, task: str) -> RunConfig:
        """The live-run configuration of this demo (the task is the instruction; pyautogui on monitor 1)."""
        return RunConfig(task=task, model=self.model, method=self.method, budget=self.budget, frames=self.frames,
                         context=self.context, max_steps=self.max_steps, retries=self.retries, out=self.out)


@dataclass(frozen=True)
class DemoResult:
    """How a demo ended.

    run: the live loop's result (status, message, steps). goal_met: the app confirmed the task's goal (None when
    the window could not be asked). instruction: the task. report: report.html of the run directory.
    """

    run: RunResult
    goal_met: bool | None
    instruction: str
    report: Path

    @property
    def succeeded(self) -> bool:
        """The model finished and the app confirms the goal."""
        return self.run.status is RunStatus.FINISHED and self.goal_met is True

    @property
    def reason(self) -> str:
        """One sentence: why the demo succeeded or not."""
        if self.succeeded:
            return f"the app confirms the goal ({self.run.n_steps} steps)"
        if self.run.status is RunStatus.FINISHED:
            return "the model said finished(), but the app's goal is not met"
        if self.goal_met:
            return f"{self.run.message} (the app's goal was met, but the model did not finish)"
        return self.run.message


class _WindowScreen:
    """The window's rectangle of the display, captured once the window has handled all input sent so far, and
    checked against the frame the window says it shows (module docstring, step 4)."""

    def __init__(self, screen: MssScreen, window: "WindowHandle") -> None:
        self.screen, self.window = screen, window

    def capture(self) -> Frame:
        from tasks.synthdesk.tkapp import digest

        self.window.sync()
        expected = [e["digest"] for e in self.window.events if e.get("event") in ("ready", "frame")][-1]
        deadline = time.monotonic() + _CAPTURE_TIMEOUT_S
        while True:
            frame = self.screen.capture()
            if digest(frame.image) == expected:
                return frame
            if time.monotonic() > deadline:
                raise RuntimeError("the captured window differs from the app's render (is another window covering "
                                   f"it at {self.window.position}?)")
            time.sleep(0.02)


class _ReportingTrajectory(Trajectory):
    """A trajectory that also hands each step record to a callback (the CLI prints it)."""

    def __init__(self, run_dir: Path, on_step: Callable[[StepRecord], None] | None) -> None:
        super().__init__(run_dir)
        self._on_step = on_step

    def record(self, record: StepRecord) -> None:
        super().record(record)
        if self._on_step is not None:
            self._on_step(record)


def run_demo(config: DemoConfig, *, on_step: Callable[[StepRecord], None] | None = None,
             policy_factory: Callable[..., Policy] = build_policy) -> DemoResult:
    """Run the demo of `config` (module docstring). Raises ConfigError before the window opens when the model, the
    executor, the run directory, the display or the window cannot be set up.

    on_step: called with each step record as it is written (every reply, retries included).
    policy_factory: `build_policy` (default); a model policy gets `max_new_tokens=DEMO_MAX_NEW_TOKENS`.
    """
    from tasks.synthdesk.tkapp import open_window

    episode = demo_episode(config)
    run_config = config.run_config(episode.instruction)
    executor = build_executor(run_config)
    options = {} if config.model.startswith(SCHEME) else {"max_new_tokens": DEMO_MAX_NEW_TOKENS}
    policy = policy_factory(run_config, **options)
    width, height = episode.spec.size
    with ExitStack() as stack:
        screen = stack.enter_context(MssScreen(monitor=1, region=(0, 0, width, height)))
        _probe(screen, width, height)
        trajectory = _open_trajectory(config, on_step, episode.instruction, (width, height))
        stack.callback(trajectory.close)  # the loop finishes it; this closes it when the window never opened
        try:
            window = stack.enter_context(open_window("heldout", config.seed, 0, config.kind))
        except (RuntimeError, TimeoutError, OSError) as e:
            display = os.environ.get("DISPLAY")
            raise ConfigError(f"the synthdesk window did not open on DISPLAY={display!r}: {e}") from e
        logger.info("demo: %s task of held-out seed %d (%dx%d window at (0, 0)): %s", config.kind, config.seed,
                    width, height, episode.instruction)
        loop = AgentLoop(policy, _WindowScreen(screen, window), executor, trajectory,
                         LoopConfig(max_steps=config.max_steps, retries=config.retries))
        result = loop.run(episode.instruction)
        goal_met = _goal_met(window)
    return DemoResult(run=result, goal_met=goal_met, instruction=episode.instruction,
                      report=config.out / "report.html")


def demo_episode(config: DemoConfig) -> Any:
    """The demo's task: task 0 of held-out seed `config.seed`, of kind `config.kind` (a `tasks.synthdesk.Episode`)."""
    from tasks.synthdesk.generate import generate

    return generate("heldout", config.seed, 0, config.kind)


def _open_trajectory(config: DemoConfig, on_step: Callable[[StepRecord], None] | None, task: str,
                     size: tuple[int, int]) -> Trajectory:
    try:
        trajectory = _ReportingTrajectory(config.out, on_step)
    except (FileExistsError, OSError) as e:
        raise ConfigError(f"--out {config.out}: {e}") from e
    trajectory.save_config(config.model_dump(mode="json") | {"task": task, "executor": "pyautogui",
                                                             "window": list(size)})
    return trajectory


def _probe(screen: MssScreen, width: int, height: int) -> None:
    try:
        screen.capture()
    except Exception as e:  # mss's ScreenShotError (no display), ValueError (the window does not fit the display)
        raise ConfigError(f"cannot capture the demo window's {width}x{height} rectangle at (0, 0): "
                          f"{type(e).__name__}: {e}. Run it on a display of at least {width}x{height}, e.g. "
                          "xvfb-run -a -s '-screen 0 640x480x24' python -m agent demo") from e


def _goal_met(window: "WindowHandle") -> bool | None:
    """Whether the window reports the goal as met, once it has handled everything sent to it (None if it is gone)."""
    try:
        window.sync()
    except (RuntimeError, TimeoutError, OSError) as e:
        logger.warning("could not ask the synthdesk window whether the goal is met: %s", e)
        return None
    return window.done


def describe_step(record: StepRecord, max_steps: int) -> str:
    """One line for a step record, e.g. `step 2/12  click at (236, 41)  [executed]`."""
    head = f"step {record.step}/{max_steps}" + (f" (retry {record.attempt})" if record.attempt else "")
    if record.status is StepStatus.PARSE_ERROR:
        return f"{head}  unparsable reply: {record.error}"
    from actions.executors import describe

    said = "; ".join(a.description or describe(a.action, record.geometry) for a in record.actions) or "no action"
    tail = f": {record.error}" if record.error else ""
    return f"{head}  {said}  [{record.status.value}{tail}]"
