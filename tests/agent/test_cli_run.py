"""`python -m agent run` in-process through `main([...])`: config validation, exit codes, the run directory, and the
terminal questions answered from stdin. The screen is a real Xvfb display (the session `desktop` fixture)."""

from __future__ import annotations

import io
import json
import logging
import sys
import time

import pytest

from agent.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNFINISHED, EXIT_USAGE, exit_code, main
from agent.live import claim_run_dir
from agent.trajectory import RunStatus, read_result, read_steps

pytestmark = pytest.mark.desktop

CLICK = "Action: click(start_box='(966,546)')"
FINISH = "Action: finished(content='done')"


def _script(tmp_path, *replies: str):
    path = tmp_path / "script.txt"
    path.write_text("\n---\n".join(replies) + "\n", encoding="utf-8")
    return path


def _main(tmp_path, replies, *flags: str, stdin: str = "") -> tuple[int, object]:
    script = _script(tmp_path, *replies)
    out = tmp_path / "run"
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)  # what the person at the terminal types
    try:
        code = main(["run", "press the button", "--model", f"script:{script}", "--out", str(out), *flags])
    finally:
        sys.stdin = saved
    return code, out


@pytest.mark.parametrize(("status", "code"), [
    (RunStatus.FINISHED, EXIT_OK), (RunStatus.ERROR, EXIT_ERROR), (RunStatus.USER_STOPPED, EXIT_INTERRUPTED),
    (RunStatus.FAILED, EXIT_UNFINISHED), (RunStatus.MAX_STEPS, EXIT_UNFINISHED),
    (RunStatus.PARSE_FAILED, EXIT_UNFINISHED), (RunStatus.CALL_USER_ABORT, EXIT_UNFINISHED),
    (RunStatus.USER_ABORT, EXIT_UNFINISHED),
])
def test_every_status_has_an_exit_code(status: RunStatus, code: int) -> None:
    assert exit_code(status) == code


@pytest.mark.parametrize(("flags", "message"), [
    (("--budget", "0"), "budget"),
    (("--max-steps", "0"), "max_steps"),
    (("--retries", "-1"), "retries"),
    (("--monitor", "7"), "monitor 7"),
    (("--executor", "no-such-executor"), "no-such-executor"),
    (("--executor", "os:system"), "calling system() failed"),  # a function, not an executor
    (("--executor", "json:JSONDecoder"), "has no `execute` method; an executor is a class"),
])
def test_bad_configuration_is_a_usage_error(desktop, tmp_path, capsys, flags, message) -> None:
    code, out = _main(tmp_path, [FINISH], *flags)
    assert code == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (out / "steps.jsonl").exists()


def test_missing_script_and_unavailable_model_are_usage_errors(desktop, tmp_path, capsys) -> None:
    assert main(["run", "t", "--model", f"script:{tmp_path / 'none.txt'}", "--dry-run"]) == EXIT_USAGE
    assert "none.txt" in capsys.readouterr().err
    assert main(["run", "t", "--model", str(tmp_path / "no" / "model"), "--dry-run"]) == EXIT_USAGE
    assert "no/model" in capsys.readouterr().err


def test_dry_run_finishes_and_saves_the_resolved_config(desktop, tmp_path, capsys) -> None:
    code, out = _main(tmp_path, [CLICK, FINISH], "--dry-run", "--max-steps", "5")
    assert code == EXIT_OK
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "press the button" and config["executor"] == "dry-run" and config["max_steps"] == 5
    records = read_steps(out)
    assert [r.status.value for r in records] == ["executed", "finished"]
    click = records[0].actions[0]
    assert click.exec_status == "ok" and click.exec_detail.startswith("pyautogui.click(960, 540")
    assert records[0].geometry.screenshot_size == (1920, 1080) and records[0].geometry.model_size == (1932, 1092)
    assert (out / "report.html").is_file() and (out / "step_001.png").is_file()
    assert "finished: done" in capsys.readouterr().out  # the one result line on stdout
    assert main(["run", "again", "--model", "script:x", "--out", str(out)]) == EXIT_USAGE  # never overwrite a run


def test_runs_started_in_the_same_second_get_their_own_directories(tmp_path) -> None:
    noon = time.mktime((2025, 6, 1, 12, 0, 0, 0, 0, -1))
    first, second = (claim_run_dir(tmp_path / "runs", clock=lambda: noon) for _ in range(2))
    assert (first.name, second.name) == ("20250601-120000", "20250601-120000-1")
    assert first.is_dir() and second.is_dir()  # created, so a third process cannot pick either


def test_without_out_a_run_claims_runs_timestamp_and_a_failed_start_leaves_nothing(
        desktop, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    script = _script(tmp_path, CLICK, FINISH)
    assert main(["run", "t", "--model", f"script:{script}", "--executor", "no-such-executor"]) == EXIT_USAGE
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert main(["run", "t", "--model", f"script:{script}", "--dry-run"]) == EXIT_OK
    assert main(["run", "t", "--model", f"script:{script}", "--dry-run"]) == EXIT_OK  # maybe the same second
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all(read_result(run).status is RunStatus.FINISHED for run in runs)
    assert [line.rsplit("; ", 1)[1] for line in capsys.readouterr().out.splitlines()] == [
        f"{run.relative_to(tmp_path)})" for run in runs]


def test_max_steps_exits_3(desktop, tmp_path) -> None:
    code, out = _main(tmp_path, [CLICK, CLICK, FINISH], "--executor", "record", "--max-steps", "2")
    assert code == EXIT_UNFINISHED and read_result(out).status is RunStatus.MAX_STEPS


def test_confirm_answers_come_from_stdin(desktop, tmp_path, capsys, caplog) -> None:
    caplog.set_level(logging.INFO, logger="agent.loop")
    code, out = _main(tmp_path, [CLICK, CLICK, FINISH], "--executor", "record", "--confirm", stdin="y\nn\n")
    assert code == EXIT_OK
    assert [(a.exec_status, a.decision) for r in read_steps(out) for a in r.actions] == [
        ("ok", "yes"), ("skipped", "skip"), ("finished", None)]
    assert capsys.readouterr().err.count("Execute? [y]es / [n]o, skip / [a]bort") == 2
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert progress[0].startswith("step 1/50 click @(960,540) [executed]")
    assert progress[1].startswith("step 2/50 click @(960,540) (skipped) [skipped]")  # declined: not "executed"


def test_confirm_without_answers_aborts(desktop, tmp_path) -> None:
    code, out = _main(tmp_path, [CLICK, FINISH], "--executor", "record", "--confirm", stdin="")
    assert code == EXIT_UNFINISHED and read_result(out).status is RunStatus.USER_ABORT


@pytest.mark.parametrize(("answer", "code", "status"), [
    ("c\n", EXIT_OK, RunStatus.FINISHED), ("a\n", EXIT_UNFINISHED, RunStatus.CALL_USER_ABORT)])
def test_call_user_answer_comes_from_stdin(desktop, tmp_path, answer, code, status) -> None:
    result_code, out = _main(tmp_path, ["Action: call_user()", FINISH], "--executor", "record", stdin=answer)
    assert result_code == code and read_result(out).status is status


def test_retries_then_parse_failed_exits_3(desktop, tmp_path) -> None:
    code, out = _main(tmp_path, ["no action", "still none", FINISH], "--dry-run", "--retries", "1")
    assert code == EXIT_UNFINISHED
    result = read_result(out)
    assert result.status is RunStatus.PARSE_FAILED and "unparsable 2 time(s)" in result.message
    assert [r.attempt for r in read_steps(out)] == [0, 1]
