"""The loop with a scripted policy, a replayed screen and a recording executor: every path to a final status, with the
exact step records each one leaves."""

from __future__ import annotations

import io
import json
import logging

import pytest
from PIL import Image

from actions.coords import ScreenGeometry
from actions.executors import ExecResult, RecordExecutor
from actions.schema import Action, Type
from agent.interaction import TerminalInteraction
from agent.loop import AgentLoop, LoopConfig
from agent.models.script import ScriptPolicy
from agent.screen import ReplayScreen
from agent.trajectory import RunStatus, Trajectory, read_result, read_steps

SCREEN = Image.new("RGB", (1920, 1080), (200, 200, 200))  # model image 1932x1092: model px = screen px * 1.00625
CLICK = "Thought: press it\nAction: click(start_box='(966,546)')"  # the centre: input (960, 540)
TYPE = "Action: type(content='hello\\n')"
CLICK_TYPE = CLICK + "\n\ntype(content='hello\\n')"  # two calls in one reply
FINISH = "Action: finished(content='all done')"


def _run(tmp_path, replies, *, executor=None, answers=None, sleeps=None, family=None, **config):
    """Run the loop; return (result, summary of the records, executor, policy, terminal output)."""
    policy = ScriptPolicy(replies, family=family)
    executor = executor if executor is not None else RecordExecutor()
    out = io.StringIO()
    interaction = TerminalInteraction(io.StringIO(answers), out) if answers is not None else None
    sleep = sleeps.append if sleeps is not None else (lambda s: None)
    loop = AgentLoop(policy, ReplayScreen([SCREEN], cycle=True), executor, Trajectory(tmp_path / "run"),
                     LoopConfig(**config), interaction=interaction, sleep=sleep)
    result = loop.run("press the button")
    records = read_steps(tmp_path / "run")
    summary = [(r.step, r.attempt, r.status.value, [(a.action.type, a.exec_status, a.xy_input, a.decision)
                                                    for a in r.actions], r.error) for r in records]
    return result, summary, executor, policy, out.getvalue()


def test_finishes_with_exact_records_and_files(tmp_path) -> None:
    result, summary, executor, _, _ = _run(tmp_path, [CLICK, TYPE, FINISH])
    assert result.status is RunStatus.FINISHED and result.message == "all done"
    assert (result.n_steps, result.n_replies) == (3, 3)
    assert summary == [
        (1, 0, "executed", [("click", "ok", (960, 540), None)], None),
        (2, 0, "executed", [("type", "ok", None, None)], None),
        (3, 0, "finished", [("finished", "finished", None, None)], None),
    ]
    assert [a.type for a in executor.actions] == ["click", "type", "finished"]
    assert executor.actions[1] == Type(text="hello", submit=True, source="type(content='hello\\n')")
    first = read_steps(tmp_path / "run")[0]
    assert first.raw_output == CLICK and first.thought == "press it" and first.screenshot == "step_001.png"
    assert first.actions[0].points["xy"].xy_model == (966.0, 546.0)
    assert first.actions[0].points["xy"].xy_screen == (960.0, 540.0)
    assert first.timings.capture_s >= 0 and first.timings.parse_s > 0
    run_dir = tmp_path / "run"
    assert read_result(run_dir) == result
    assert sorted(p.name for p in run_dir.glob("step_*.png")) == ["step_001.png", "step_002.png", "step_003.png"]
    assert "all done" in (run_dir / "report.html").read_text()


def test_stops_at_max_steps(tmp_path) -> None:
    result, summary, executor, policy, _ = _run(tmp_path, [CLICK] * 5 + [FINISH], max_steps=3)
    assert result.status is RunStatus.MAX_STEPS and "3" in result.message
    assert [s[:3] for s in summary] == [(1, 0, "executed"), (2, 0, "executed"), (3, 0, "executed")]
    assert len(executor.calls) == 3 and policy.feedback == [None, None, None]


def test_model_giving_up_is_a_failed_run(tmp_path) -> None:
    reply = "## Action:\nGive up.\n## Code:\n```python\ncomputer.terminate(status='failure')\n```"
    result, summary, _, _, _ = _run(tmp_path, [reply])
    assert result.status is RunStatus.FAILED
    assert summary == [(1, 0, "finished", [("finished", "finished", None, None)], None)]


def test_parse_error_is_retried_with_the_error_as_feedback(tmp_path) -> None:
    result, summary, executor, policy, _ = _run(tmp_path, ["I will click the button.", CLICK, FINISH], retries=1)
    assert result.status is RunStatus.FINISHED and result.n_steps == 2 and result.n_replies == 3
    assert [s[:3] for s in summary] == [(1, 0, "parse_error"), (1, 1, "executed"), (2, 0, "finished")]
    error = summary[0][4]
    assert error and "I will click the button." in error
    assert policy.feedback[0] is None and policy.feedback[2] is None
    assert policy.feedback[1] is not None and error in policy.feedback[1]
    records = read_steps(tmp_path / "run")
    assert records[1].feedback == policy.feedback[1]
    assert records[1].screenshot == records[0].screenshot == "step_001.png"  # the retry sees the same frame
    assert [a.type for a in executor.actions] == ["click", "finished"]


def test_reply_unparsable_after_all_retries_stops_the_run(tmp_path) -> None:
    out_of_image = "Action: click(start_box='(5000,10)')"
    result, summary, executor, _, _ = _run(tmp_path, ["nonsense", "Action: fly()", out_of_image], retries=2)
    assert result.status is RunStatus.PARSE_FAILED
    assert "unparsable 3 time(s)" in result.message and "outside" in result.message
    assert [s[:3] for s in summary] == [(1, 0, "parse_error"), (1, 1, "parse_error"), (1, 2, "parse_error")]
    assert executor.calls == []


def test_a_bug_or_exhausted_script_ends_the_run_with_error(tmp_path, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="agent.loop"):
        result, summary, _, _, _ = _run(tmp_path, [CLICK, CLICK], max_steps=5)
    assert result.status is RunStatus.ERROR and "ScriptExhaustedError" in result.message
    assert [s[:3] for s in summary] == [(1, 0, "executed"), (2, 0, "executed"), (3, 0, "error")]
    assert "ScriptExhaustedError" in (summary[2][4] or "")
    assert "Traceback" in caplog.text


class _NoTyping(RecordExecutor):
    """A device that answers typing with an error (e.g. its text tool is missing)."""

    def execute(self, action: Action, geometry: ScreenGeometry) -> ExecResult:
        if isinstance(action, Type):
            return ExecResult(status="error", detail="xdotool not found")
        return super().execute(action, geometry)


def test_executor_error_ends_the_run(tmp_path) -> None:
    result, summary, _, _, _ = _run(tmp_path, [CLICK_TYPE + "\n\nclick(start_box='(1,1)')", FINISH],
                                        executor=_NoTyping())
    assert result.status is RunStatus.ERROR and "xdotool not found" in result.message
    assert summary == [(1, 0, "error", [("click", "ok", (960, 540), None), ("type", "error", None, None),
                                        ("click", "not_run", None, None)],
                        "executor error on type: xdotool not found")]


class _PointerOnly(RecordExecutor):
    supports = frozenset({"click", "finished"})


def test_unsupported_actions_are_recorded_and_the_run_goes_on(tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="agent.loop"):
        result, summary, _, _, _ = _run(tmp_path, [TYPE, CLICK, FINISH], executor=_PointerOnly())
    assert result.status is RunStatus.FINISHED
    assert summary[0] == (1, 0, "executed", [("type", "unsupported", None, None)], None)
    assert "does not support" in caplog.text and "hotkey" in caplog.text  # checked before step 1 as well


def test_wait_sleeps_then_observes_again(tmp_path) -> None:
    sleeps: list[float] = []
    result, summary, executor, _, _ = _run(tmp_path, ["Action: wait()", FINISH], sleeps=sleeps)
    assert result.status is RunStatus.FINISHED and sleeps == [5.0]
    assert summary[0] == (1, 0, "executed", [("wait", "ok", None, None)], None)
    assert [a.type for a in executor.actions] == ["wait", "finished"]


def test_ctrl_c_during_a_wait_stops_with_the_step_saved(tmp_path) -> None:
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    policy = ScriptPolicy([CLICK, "Action: wait()", FINISH])
    loop = AgentLoop(policy, ReplayScreen([SCREEN], cycle=True), RecordExecutor(), Trajectory(tmp_path),
                     LoopConfig(), sleep=interrupted)
    result = loop.run("task")
    assert result.status is RunStatus.USER_STOPPED
    records = read_steps(tmp_path)
    assert [(r.step, r.status.value, r.error) for r in records] == [
        (1, "executed", None), (2, "stopped", "stopped by the user (Ctrl-C)")]
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "user_stopped"


@pytest.mark.parametrize(("answers", "status", "decision"), [
    ("maybe\nc\n", RunStatus.FINISHED, "continue"),
    ("a\n", RunStatus.CALL_USER_ABORT, "abort"),
    ("", RunStatus.CALL_USER_ABORT, "abort"),  # end of input: nobody is there
])
def test_call_user_asks_to_continue_or_abort(tmp_path, answers, status, decision) -> None:
    reply = "Thought: I need the password.\nAction: call_user()"
    result, summary, _, _, out = _run(tmp_path, [reply, CLICK, FINISH], answers=answers)
    assert result.status is status
    assert summary[0] == (1, 0, "call_user", [("call_user", "call_user", None, decision)], None)
    assert "asks for your help" in out
    assert len(summary) == (3 if status is RunStatus.FINISHED else 1)


def test_call_user_without_anyone_to_ask_aborts(tmp_path) -> None:
    result, summary, _, _, _ = _run(tmp_path, ["Action: call_user()", FINISH])
    assert result.status is RunStatus.CALL_USER_ABORT and summary[0][3][0][3] == "abort"


def test_confirm_executes_skips_or_aborts_each_action(tmp_path) -> None:
    two = CLICK_TYPE
    result, summary, executor, _, out = _run(tmp_path / "a", [two, FINISH], answers="n\ny\n", confirm=True)
    assert result.status is RunStatus.FINISHED
    assert summary[0] == (1, 0, "executed", [("click", "skipped", None, "skip"), ("type", "ok", None, "yes")], None)
    assert [a.type for a in executor.actions] == ["type", "finished"]  # finished is never asked about
    assert out.count("Execute?") == 2 and "left click at (960, 540)" in out

    result, summary, executor, _, _ = _run(tmp_path / "b", [two, FINISH], answers="abort\n", confirm=True)
    assert result.status is RunStatus.USER_ABORT and executor.calls == []
    assert summary == [(1, 0, "stopped", [("click", "not_run", None, "abort"), ("type", "not_run", None, None)],
                        None)]


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="max_steps=0"):
        LoopConfig(max_steps=0)
    with pytest.raises(ValueError, match="retries=-1"):
        LoopConfig(retries=-1)
    with pytest.raises(ValueError, match="confirm=True needs an interaction"):
        AgentLoop(ScriptPolicy([FINISH]), ReplayScreen([SCREEN]), RecordExecutor(), None,  # type: ignore[arg-type]
                  LoopConfig(confirm=True))
