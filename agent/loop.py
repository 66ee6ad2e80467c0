"""The live loop: screenshot -> policy -> parsed actions -> executor, step after step, until a final status.

The loop owns control flow; the screen, the policy and the executor only do their one job.
- Stops on `finished` (status finished, or failed when the model gave up), after `max_steps`, when a reply stays
  unparsable after `retries` retries (each retry re-asks the policy with the same frame and the parse error as
  feedback), when the user aborts (a `call_user` or --confirm answer), on Ctrl-C (user_stopped), on SIGTERM
  (terminated: `agent.signals.Terminated`, a KeyboardInterrupt) and on any exception (error; the traceback is logged). Every run ends with one `RunStatus`, set in a `finally` that also writes
  result.json and report.html.
- `wait` goes to the executor (which does nothing for it), then sleeps here; the next step observes again.
- `call_user` asks the user (through `Interaction`) whether to continue or abort; without an interaction it aborts.
- With `confirm`, each action with an effect on the screen is confirmed first (yes / skip / abort).
Model mistakes (unparsable replies, out-of-image points, actions the executor does not support) are recorded on the
step; exceptions from our code, the screen or the executor end the run with status error, except pyautogui's
fail-safe (the pointer slammed into a screen corner), which is the user's emergency stop: user_stopped.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actions.coords import ScreenGeometry
from actions.errors import ActionParseError
from actions.executors import ExecResult, Executor, describe
from actions.opencua import parse_opencua
from actions.schema import Action, CallUser, Finished, ParsedOutput, Wait
from actions.uitars import parse_uitars
from agent.interaction import CallUserAnswer, ConfirmAnswer, Interaction
from agent.policy import Family, Policy, PolicyReply
from agent.screen import Frame, Screen
from agent.signals import Terminated, stop_reason
from agent.trajectory import (
    ActionRecord, RunResult, RunStatus, StepRecord, StepStatus, Timings, Trajectory, points_of,
)

logger = logging.getLogger(__name__)

#: Parser per grammar family; both answer in model-image pixels.
PARSERS: dict[str, Callable[..., ParsedOutput]] = {"uitars": parse_uitars, "opencua": parse_opencua}

#: Action types each family's desktop prompt can produce; checked against the executor's `supports` before step 1.
FAMILY_ACTIONS: dict[str, frozenset[str]] = {
    "uitars": frozenset({"click", "drag", "hotkey", "type", "scroll", "wait", "finished", "call_user", "key_down",
                         "key_up", "move"}),
    "opencua": frozenset({"click", "move", "drag", "scroll", "type", "hotkey", "key_down", "key_up", "wait",
                          "finished"}),
}

_NO_EFFECT = (Finished, CallUser, Wait)  # handled by the loop; never confirmed


@dataclass(frozen=True)
class LoopConfig:
    """Limits and switches of the loop.

    max_steps: steps before the run stops with max_steps (>= 1). Default 50.
    retries: re-asks after an unparsable reply before the run stops with parse_failed (>= 0). Default 2.
    confirm: ask before each action with an effect on the screen. Default False.
    clamp: move points outside the model image onto its edge instead of treating them as parse errors. Default False.
    """

    max_steps: int = 50
    retries: int = 2
    confirm: bool = False
    clamp: bool = False

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps={self.max_steps} must be >= 1")
        if self.retries < 0:
            raise ValueError(f"retries={self.retries} must be >= 0")


@dataclass
class _Draft:
    """The record of the reply in progress, written once it is complete (or when the run stops mid-step)."""

    step: int
    attempt: int
    screenshot: str | None
    geometry: ScreenGeometry
    feedback: str | None
    timings: dict[str, float] = field(default_factory=dict)
    reply: PolicyReply | None = None
    parsed: ParsedOutput | None = None
    actions: list[ActionRecord] = field(default_factory=list)
    error: str | None = None

    def to_record(self, status: StepStatus) -> StepRecord:
        reply = self.reply or PolicyReply(text="")
        parsed = self.parsed
        return StepRecord(
            step=self.step, attempt=self.attempt, screenshot=self.screenshot, geometry=self.geometry,
            raw_output=reply.text, feedback=self.feedback, thought=parsed.thought if parsed else None,
            summary=parsed.summary if parsed else None, actions=tuple(self.actions), timings=Timings(**self.timings),
            prefill_tokens=reply.prefill_tokens, kv_cache_bytes=reply.kv_cache_bytes,
            kv_entries_per_layer=reply.kv_entries_per_layer, error=self.error, status=status,
        )


_Outcome = tuple[RunStatus, str]  # a final status and its message


class AgentLoop:
    """Runs one task: `AgentLoop(policy, screen, executor, trajectory, config).run(task) -> RunResult`.

    interaction: asks the user on call_user and --confirm; required when `config.confirm` is set.
    sleep: the sleep used for wait actions (time.sleep by default).
    """

    def __init__(self, policy: Policy, screen: Screen, executor: Executor, trajectory: Trajectory,
                 config: LoopConfig = LoopConfig(), interaction: Interaction | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if policy.family not in PARSERS:
            raise ValueError(f"policy.family={policy.family!r} is not one of {sorted(PARSERS)}")
        if config.confirm and interaction is None:
            raise ValueError("confirm=True needs an interaction to ask the user")
        self.policy, self.screen, self.executor, self.trajectory = policy, screen, executor, trajectory
        self.config, self.interaction, self._sleep = config, interaction, sleep
        self._draft: _Draft | None = None
        self._n_steps = 0

    def run(self, task: str) -> RunResult:
        """Run `task` to a final status. Never raises for model mistakes, Ctrl-C or errors inside the run (they end
        it with a status); raises only when the run directory cannot be finished (disk errors)."""
        started_at = time.time()
        status, message = RunStatus.ERROR, "the run did not start"
        try:
            self._check_supports(self.policy.family)
            self.policy.start(task)
            status, message = self._steps()
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM under agent.signals.sigterm_as_interrupt
            status = RunStatus.TERMINATED if isinstance(e, Terminated) else RunStatus.USER_STOPPED
            message = stop_reason(e)
            self._flush_draft(StepStatus.STOPPED, message)
        except Exception as e:  # the loop boundary: whatever broke, the run ends with a status and its files
            status, message = self._on_exception(e)
        finally:
            result = RunResult(status=status, message=message, n_steps=self._n_steps,
                               n_replies=self.trajectory.n_records, started_at=started_at, ended_at=time.time())
            report = self.trajectory.finish(result)
            logger.info("run ended: %s (%s) after %d step(s); report: %s", status.value, message, self._n_steps,
                        report)
        return result

    def _on_exception(self, e: Exception) -> _Outcome:
        """The outcome of an exception that ended the run (called inside the `except` block)."""
        if _is_failsafe(e):
            message = "stopped by pyautogui's fail-safe (the pointer was moved into a screen corner)"
            self._flush_draft(StepStatus.STOPPED, message)
            return RunStatus.USER_STOPPED, message
        logger.exception("run failed at step %d", self._n_steps)
        message = f"{type(e).__name__}: {e}"
        self._flush_draft(StepStatus.ERROR, message)
        return RunStatus.ERROR, message

    def _check_supports(self, family: Family) -> None:
        supports = getattr(self.executor, "supports", None)
        if supports is None:
            return
        missing = FAMILY_ACTIONS[family] - set(supports) - {"wait"}
        if missing:
            logger.warning("executor %s does not support %s, which %s models may ask for; such actions will be "
                           "recorded as unsupported", getattr(self.executor, "name", type(self.executor).__name__),
                           ", ".join(sorted(missing)), family)

    def _steps(self) -> _Outcome:
        for step in range(1, self.config.max_steps + 1):
            self._n_steps = step
            outcome = self._step(step)
            if outcome is not None:
                return outcome
        return RunStatus.MAX_STEPS, f"reached --max-steps {self.config.max_steps} without finishing"

    def _step(self, step: int) -> _Outcome | None:
        """Observe, ask (retrying unparsable replies), act. Returns a final outcome, or None to go on."""
        t0 = time.perf_counter()
        frame = self.screen.capture()
        capture_s = time.perf_counter() - t0
        draft = self._draft = _Draft(step, 0, None, frame.geometry, None, timings={"capture_s": capture_s})
        draft.screenshot = self.trajectory.save_screenshot(step, frame.image)  # a stop from here on records it
        screenshot, error = draft.screenshot, ""
        feedback: str | None = None
        for attempt in range(self.config.retries + 1):
            if attempt > 0:
                draft = self._draft = _Draft(step, attempt, screenshot, frame.geometry, feedback,
                                             timings={"capture_s": 0.0})
            if self._ask(draft, frame):
                return self._act(draft)
            error = draft.error or ""
            feedback = (f"Your previous reply could not be parsed: {error}. "
                        "Answer again, following the required output format exactly.")
        return RunStatus.PARSE_FAILED, (f"step {step}: the model's reply was unparsable {self.config.retries + 1} "
                                        f"time(s); last error: {error}")

    def _ask(self, draft: _Draft, frame: Frame) -> bool:
        """Get and parse one reply into `draft`. A parse error is recorded (and the draft written); returns False."""
        t0 = time.perf_counter()
        reply = self.policy.act(frame, draft.feedback)
        t1 = time.perf_counter()
        draft.reply = reply
        draft.timings.update(policy_s=t1 - t0, prefill_s=reply.prefill_s, decode_s=reply.decode_s)
        if reply.model_size is not None and reply.model_size != draft.geometry.model_size:
            draft.geometry = draft.geometry.model_copy(update={"model_size": tuple(reply.model_size)})
        parse = PARSERS[self.policy.family]
        try:
            draft.parsed = parse(reply.text, draft.geometry.model_size, clamp=self.config.clamp)
        except ActionParseError as e:
            draft.error = str(e)
        draft.timings["parse_s"] = time.perf_counter() - t1
        if draft.parsed is None:
            self._write(draft, StepStatus.PARSE_ERROR)
            logger.warning("step %d/%d: unparsable reply (attempt %d of %d): %s", draft.step, self.config.max_steps,
                           draft.attempt + 1, self.config.retries + 1, draft.error)
            return False
        return True

    def _act(self, draft: _Draft) -> _Outcome | None:
        """Run the parsed actions in order; write the record; return a final outcome or None to go on."""
        assert draft.parsed is not None
        geometry = draft.geometry
        actions = draft.parsed.actions
        draft.actions = [ActionRecord(action=a, points=points_of(a, geometry)) for a in actions]
        status, outcome = StepStatus.EXECUTED, None
        for i, action in enumerate(actions):
            status, outcome, stop = self._act_one(draft, i, action)
            if stop:
                break
        self._write(draft, status)
        self._log_progress(draft, status)
        return outcome

    def _act_one(self, draft: _Draft, i: int, action: Action) -> tuple[StepStatus, _Outcome | None, bool]:
        """One action: (step status, final outcome or None, whether the step ends here)."""
        decision = None
        if self.config.confirm and not isinstance(action, _NO_EFFECT):
            assert self.interaction is not None
            answer = self.interaction.confirm(draft.step, self._describe(action, draft.geometry))
            decision = answer.value
            if answer is ConfirmAnswer.SKIP:
                self._update(draft, i, exec_status="skipped", decision=decision)
                return StepStatus.EXECUTED, None, False
            if answer is ConfirmAnswer.ABORT:
                self._update(draft, i, exec_status="not_run", decision=decision)
                return StepStatus.STOPPED, (RunStatus.USER_ABORT, "the user aborted at a --confirm question"), True
        result = self._execute(draft, i, action, decision)
        if isinstance(action, Wait):
            t0 = time.perf_counter()
            self._sleep(action.seconds)  # Ctrl-C interrupts the sleep at once
            draft.timings["wait_s"] = draft.timings.get("wait_s", 0.0) + time.perf_counter() - t0
            return StepStatus.EXECUTED, None, False
        if isinstance(action, Finished):
            final = RunStatus.FINISHED if action.status == "success" else RunStatus.FAILED
            return StepStatus.FINISHED, (final, action.message or f"the model finished ({action.status})"), True
        if isinstance(action, CallUser):
            return self._call_user(draft, i, action)
        if result.status == "error":
            draft.error = f"executor error on {action.type}: {result.detail}"
            return StepStatus.ERROR, (RunStatus.ERROR, draft.error), True
        if result.status == "unsupported":
            logger.warning("step %d: the executor does not support %s (%s); recorded and skipped", draft.step,
                           action.type, result.detail)
        return StepStatus.EXECUTED, None, False

    def _execute(self, draft: _Draft, i: int, action: Action, decision: str | None) -> ExecResult:
        t0 = time.perf_counter()
        result = self.executor.execute(action, draft.geometry)
        draft.timings["execute_s"] = draft.timings.get("execute_s", 0.0) + time.perf_counter() - t0
        self._update(draft, i, exec_status=result.status, exec_detail=result.detail, description=result.description,
                     xy_input=result.xy_input, xy_input_end=result.xy_input_end, decision=decision)
        return result

    def _call_user(self, draft: _Draft, i: int, action: CallUser) -> tuple[StepStatus, _Outcome | None, bool]:
        if self.interaction is None:
            answer = CallUserAnswer.ABORT
            logger.warning("step %d: the model asks for the user (%s) but no one can be asked; aborting", draft.step,
                           action.reason)
        else:
            answer = self.interaction.call_user(draft.step, action.reason)
        self._update(draft, i, decision=answer.value)
        if answer is CallUserAnswer.ABORT:
            reason = f": {action.reason}" if action.reason else ""
            return StepStatus.CALL_USER, (RunStatus.CALL_USER_ABORT, f"the model asked for the user{reason}; "
                                                                     "the user aborted"), True
        return StepStatus.CALL_USER, None, True

    @staticmethod
    def _update(draft: _Draft, i: int, **fields: Any) -> None:
        draft.actions[i] = draft.actions[i].model_copy(update=fields)

    @staticmethod
    def _describe(action: Action, geometry: ScreenGeometry) -> str:
        said = describe(action, geometry)
        return f"{said}  (model: {action.source})" if action.source else said

    def _write(self, draft: _Draft, status: StepStatus) -> None:
        self.trajectory.record(draft.to_record(status))
        if self._draft is draft:
            self._draft = None

    def _flush_draft(self, status: StepStatus, error: str) -> None:
        """Write the reply in progress when the run stops in the middle of it (no-op when none is pending)."""
        draft, self._draft = self._draft, None
        if draft is not None:
            draft.error = draft.error or error
            self.trajectory.record(draft.to_record(status))

    def _log_progress(self, draft: _Draft, status: StepStatus) -> None:
        t = draft.timings
        described = []
        for rec in draft.actions:
            where = rec.points.get("xy") or rec.points.get("xy_start")
            at = f" @({where.xy_screen[0]:.0f},{where.xy_screen[1]:.0f})" if where else ""
            skipped = " (skipped)" if rec.exec_status == "skipped" else ""
            described.append(f"{rec.action.type}{at}{skipped}")
        skipped_all = bool(draft.actions) and all(rec.exec_status == "skipped" for rec in draft.actions)
        label = "skipped" if status is StepStatus.EXECUTED and skipped_all else status.value
        reply = draft.reply or PolicyReply(text="")
        entries = reply.kv_entries_per_layer
        kept = sum(entries) / len(entries) if entries else 0.0
        logger.info("step %d/%d %s [%s] | capture %.3fs policy %.2fs (prefill %.2fs, %d tok; decode %.2fs) "
                    "parse %.3fs execute %.3fs | kv %.0f entries/layer, %.1f MiB", draft.step, self.config.max_steps,
                    ", ".join(described), label, t.get("capture_s", 0.0), t.get("policy_s", 0.0),
                    reply.prefill_s, reply.prefill_tokens, reply.decode_s, t.get("parse_s", 0.0),
                    t.get("execute_s", 0.0), kept, reply.kv_cache_bytes / 2**20)


def _is_failsafe(e: BaseException) -> bool:
    """Whether `e` is pyautogui's fail-safe exception (checked by type; pyautogui is not imported for it)."""
    pyautogui = sys.modules.get("pyautogui")
    failsafe = getattr(pyautogui, "FailSafeException", None)
    return isinstance(failsafe, type) and isinstance(e, failsafe)
