"""The record of a live run: typed step records, the final status, and the run directory that holds them.

Run directory layout:
    config.json     the resolved run configuration (written first)
    steps.jsonl     one `StepRecord` per model reply, flushed as written (a crash leaves whole lines only)
    step_NNN.png    the screenshot observed at step NNN
    result.json     the `RunResult` (written in the loop's `finally`)
    report.html     a self-contained report (agent.report)

A step's retries (replies after an unparsable one) share its `step` number and screenshot and count up `attempt`.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from enum import Enum
from pathlib import Path
from typing import IO, Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actions.coords import ScreenGeometry
from actions.schema import Action
from agent.signals import block_stop_signals

logger = logging.getLogger(__name__)

STEPS_FILE, CONFIG_FILE, RESULT_FILE, REPORT_FILE = "steps.jsonl", "config.json", "result.json", "report.html"
#: The files of a run; a directory holding any of them (or a step screenshot) belongs to another run.
RUN_FILES = (CONFIG_FILE, STEPS_FILE, RESULT_FILE, REPORT_FILE)
PNG_COMPRESS_LEVEL = 1  # a 1080p screenshot in ~20-40 ms instead of ~150 ms at the default level


class RunStatus(str, Enum):
    """How a run ended. Every run ends with exactly one of these."""

    FINISHED = "finished"  # the model called finished / terminate(success)
    FAILED = "failed"  # the model gave up: finished with status failure or infeasible
    MAX_STEPS = "max_steps"  # --max-steps reached without finishing
    PARSE_FAILED = "parse_failed"  # the model's reply stayed unparsable after --retries retries
    CALL_USER_ABORT = "call_user_abort"  # the model asked for the user, who chose to abort
    USER_ABORT = "user_abort"  # the user answered "abort" to a --confirm question
    USER_STOPPED = "user_stopped"  # Ctrl-C, or pyautogui's fail-safe (the user slammed the pointer into a corner)
    TERMINATED = "terminated"  # SIGTERM (timeout, docker stop, systemd, kill)
    ERROR = "error"  # an exception in our code, the screen or the executor


class StepStatus(str, Enum):
    """What became of one model reply."""

    EXECUTED = "executed"  # every action went to the executor (or was skipped by the user, see ActionRecord)
    PARSE_ERROR = "parse_error"  # unparsable; `error` holds the parser's message
    FINISHED = "finished"  # reached a `finished` action
    CALL_USER = "call_user"  # reached a `call_user` action (ActionRecord.decision says continue or abort)
    STOPPED = "stopped"  # the user aborted at --confirm, or Ctrl-C or SIGTERM arrived during this step
    ERROR = "error"  # the executor raised or reported an error


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timings(_Frozen):
    """Seconds spent in each phase of one reply. `policy_s` is the whole `policy.act()` call (prefill and decode
    included, plus the policy's own preprocessing); `execute_s` excludes `wait_s`, the sleeps of wait actions."""

    capture_s: float = 0.0
    policy_s: float = 0.0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    parse_s: float = 0.0
    execute_s: float = 0.0
    wait_s: float = 0.0


class PointRecord(_Frozen):
    """One point of an action in every coordinate space (actions.coords)."""

    xy: tuple[float, float]  # normalised screenshot coordinates
    xy_model: tuple[float, float]  # model-image pixels
    xy_screen: tuple[float, float]  # screenshot pixels
    xy_input: tuple[int, int]  # input coordinates (monitor origin, logical units)


#: ExecResult.status, or what the loop did instead of calling the executor.
ExecStatus = Literal["ok", "unsupported", "finished", "call_user", "error", "skipped", "not_run"]


class ActionRecord(_Frozen):
    """One parsed action and what became of it.

    points: the action's points by field name (`xy`, `xy_start`, `xy_end`) in all coordinate spaces.
    exec_status: the executor's status, "skipped" (declined at --confirm) or "not_run" (an earlier action ended the
        step, or the run stopped before this action).
    exec_detail, description: the executor's detail and human-readable description.
    xy_input, xy_input_end: the input coordinates the executor reports having used (the end point for a drag).
    decision: the user's answer for this action (--confirm: yes/skip/abort; call_user: continue/abort), if asked.
    """

    action: Action
    points: dict[str, PointRecord] = Field(default_factory=dict)
    exec_status: ExecStatus = "not_run"
    exec_detail: str = ""
    description: str = ""
    xy_input: tuple[int, int] | None = None
    xy_input_end: tuple[int, int] | None = None
    decision: str | None = None


class StepRecord(_Frozen):
    """One model reply and everything that followed from it; one line of steps.jsonl."""

    step: int = Field(ge=1)
    attempt: int = Field(0, ge=0)
    screenshot: str | None = None  # file name in the run directory
    geometry: ScreenGeometry
    raw_output: str
    feedback: str | None = None  # the feedback the policy got with this frame (the previous parse error)
    thought: str | None = None
    summary: str | None = None
    actions: tuple[ActionRecord, ...] = ()
    timings: Timings = Timings()
    prefill_tokens: int = 0
    kv_cache_bytes: int = 0
    kv_entries_per_layer: tuple[int, ...] = ()
    error: str | None = None
    status: StepStatus


class RunResult(_Frozen):
    """The end of a run: its status, why, and how far it got."""

    status: RunStatus
    message: str = ""
    n_steps: int = 0  # steps started (retries not counted)
    n_replies: int = 0  # records written (retries counted)
    started_at: float
    ended_at: float


def points_of(action: Action, geometry: ScreenGeometry) -> dict[str, PointRecord]:
    """The points of `action` (`xy`, `xy_start`, `xy_end`, when present) converted to every coordinate space."""
    out: dict[str, PointRecord] = {}
    for name in ("xy", "xy_start", "xy_end"):
        xy = getattr(action, name, None)
        if xy is not None:
            out[name] = PointRecord(xy=xy, xy_model=geometry.to_model(xy), xy_screen=geometry.to_screen(xy),
                                    xy_input=geometry.to_input(xy))
    return out


class Trajectory:
    """Writes one run directory. Screenshots are encoded on a background thread; `close()` waits for them.

    run_dir: created if missing; refusing (FileExistsError) when it already holds a file of a run (config.json,
    steps.jsonl, result.json, report.html, step_NNN.png), so a run never overwrites another.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        found = [name for name in RUN_FILES if (self.run_dir / name).exists()]
        found += ["step_NNN.png"] if any(self.run_dir.glob("step_*.png")) else []
        if found:
            raise FileExistsError(f"{self.run_dir}: already holds {', '.join(found)} of another run; "
                                  "choose another --out")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._steps: IO[str] | None = open(self.run_dir / STEPS_FILE, "x", encoding="utf-8")
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screenshots",
                                                                   initializer=block_stop_signals)
        self._pending: list[Future[None]] = []
        self.n_records = 0

    def save_config(self, config: dict[str, Any]) -> Path:
        """Write config.json (JSON-serialisable values only)."""
        path = self.run_dir / CONFIG_FILE
        path.write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        return path

    def save_screenshot(self, step: int, image: Image.Image) -> str:
        """Queue `image` to be written as step_NNN.png; returns the file name (relative to the run directory)."""
        if self._pool is None:
            raise RuntimeError("trajectory is closed")
        name = f"step_{step:03d}.png"
        for future in [f for f in self._pending if f.done()]:
            future.result()  # a failed earlier write raises here, not at the end of the run
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._pool.submit(image.save, self.run_dir / name, compress_level=PNG_COMPRESS_LEVEL))
        return name

    def record(self, record: StepRecord) -> None:
        """Append one step record to steps.jsonl and flush it."""
        if self._steps is None:
            raise RuntimeError("trajectory is closed")
        self._steps.write(record.model_dump_json() + "\n")
        self._steps.flush()
        self.n_records += 1

    def finish(self, result: RunResult) -> Path:
        """Wait for the screenshots, write result.json and report.html, and close. Returns the report's path."""
        from agent.report import write_report  # the report reads the run directory back

        self.close()
        (self.run_dir / RESULT_FILE).write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return write_report(self.run_dir)

    def close(self) -> None:
        """Wait for queued screenshots and close steps.jsonl (idempotent). Re-raises a failed screenshot write."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
            pending, self._pending = self._pending, []
            for future in pending:
                future.result()
        if self._steps is not None:
            self._steps.close()
            self._steps = None


def read_steps(path: str | Path) -> list[StepRecord]:
    """Load steps.jsonl (a file, or the run directory holding it). A bad line raises ValueError with its number."""
    path = Path(path)
    if path.is_dir():
        path = path / STEPS_FILE
    records = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                records.append(StepRecord.model_validate_json(line))
            except ValidationError as e:
                raise ValueError(f"{path}:{i}: not a step record: {e}") from e
    return records


def read_result(run_dir: str | Path) -> RunResult | None:
    """Load result.json from a run directory, or None when the run did not get to write it."""
    path = Path(run_dir) / RESULT_FILE
    if not path.is_file():
        return None
    return RunResult.model_validate_json(path.read_text(encoding="utf-8"))
