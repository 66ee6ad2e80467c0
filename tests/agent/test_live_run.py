"""Live runs on a real X display (Xvfb 1920x1080): `python -m agent run` as a subprocess drives a real Tk window through
the pyautogui executor, stops cleanly on SIGINT and SIGTERM, and pyautogui's fail-safe stops a run as the user's
emergency stop, but not when the agent itself clicks a screen corner."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest
from desktop import XDisplay, assert_pyautogui_on, probe_app

from actions.executors import PyAutoGUIExecutor
from agent.interaction import CallUserAnswer, ConfirmAnswer
from agent.loop import AgentLoop, LoopConfig
from agent.models.script import ScriptPolicy
from agent.screen import MssScreen
from agent.trajectory import RunStatus, Trajectory, read_result, read_steps

pytestmark = pytest.mark.desktop

ROOT = Path(__file__).resolve().parents[2]
MODEL_SIZE = (1932, 1092)  # smart_resize of 1920x1080: the model-image pixels the script's coordinates are in


def _default_sigint() -> None:
    """In the child: Ctrl-C acts as on a terminal even when this test runs in a background job, where the shell
    leaves SIGINT ignored and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _agent(*args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "agent", "run", *args], cwd=ROOT, env=dict(os.environ),
                            text=True, stdin=subprocess.DEVNULL, preexec_fn=_default_sigint,
                            **popen)  # type: ignore[call-overload]


def test_script_run_clicks_a_real_button_and_types_into_a_real_entry(desktop: XDisplay, tmp_path: Path) -> None:
    with probe_app(desktop, position=(300, 200)) as app:
        def model_px(widget: str) -> tuple[int, int]:
            nx, ny = app.center(widget)
            return round(nx * MODEL_SIZE[0]), round(ny * MODEL_SIZE[1])

        (bx, by), (ex, ey) = model_px("button"), model_px("entry")
        script = tmp_path / "script.txt"
        script.write_text(
            f"Thought: The probe window shows a button. I'll press it.\nAction: click(start_box='({bx},{by})')\n"
            f"---\nThought: Now the text field.\nAction: click(start_box='({ex},{ey})')\n"
            "---\nAction: type(content='hello agent\\n')\n"
            "---\nAction: finished(content='pressed and typed')\n", encoding="utf-8")
        out = tmp_path / "run"
        proc = _agent("press the button, then type into the field", "--model", f"script:{script}", "--out", str(out),
                      "--max-steps", "6", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert app.wait_for("click", widget="button")["n"] == 1  # the window's own callbacks saw both effects
        assert app.wait_for("return", widget="entry")["text"] == "hello agent"

    assert stdout == f"finished: pressed and typed (4 steps; {out})\n"  # stdout holds the result only (no Xlib notes)
    assert "step 1/6 click" in stderr and "step 4/6 finished" in stderr  # one progress line per step
    records = read_steps(out)
    assert [(r.step, r.status.value) for r in records] == [(1, "executed"), (2, "executed"), (3, "executed"),
                                                           (4, "finished")]
    button = app.widgets["button"]
    click = records[0].actions[0]
    assert click.points["xy"].xy_model == (bx, by) and click.xy_input == click.points["xy"].xy_input
    x, y = click.xy_input
    assert button.left <= x < button.left + button.width and button.top <= y < button.top + button.height
    assert records[0].geometry.screenshot_size == (1920, 1080) and records[0].geometry.model_size == MODEL_SIZE
    assert read_result(out).status is RunStatus.FINISHED


def read_until(stream: IO[str], needle: str, timeout_s: float = 60.0) -> str:
    """Read the pipe behind `stream` until `needle` has arrived; return what was read. Reads the file descriptor
    itself (a text wrapper's buffer could hold the needle while select waits for more); no polling sleeps."""
    fd, data = stream.fileno(), b""
    deadline = time.monotonic() + timeout_s
    while needle.encode() not in data:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            raise TimeoutError(f"{needle!r} not seen; got {data[-2000:]!r}")
        data += chunk
    return data.decode("utf-8", errors="replace")


@pytest.mark.parametrize(("signum", "status", "words"), [
    (signal.SIGINT, RunStatus.USER_STOPPED, "stopped by the user (Ctrl-C)"),
    (signal.SIGTERM, RunStatus.TERMINATED, "stopped by SIGTERM"),  # timeout, docker stop, systemd, kill
], ids=["sigint", "sigterm"])
def test_a_signal_stops_a_run_with_its_files_whole_and_consistent(desktop: XDisplay, tmp_path: Path, signum: int,
                                                                  status: RunStatus, words: str) -> None:
    click = "## Action:\nClick.\n## Code:\n```python\npyautogui.click(x=966, y=546)\n```"
    wait = "## Action:\nWait for the page.\n## Code:\n```code\ncomputer.wait()\n```"  # OpenCUA: 20 s
    script = tmp_path / "script.txt"
    script.write_text("\n---\n".join([click] + [wait] * 10) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    proc = _agent("wait a lot", "--model", f"script:{script}", "--out", str(out), "--dry-run", "-v",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(proc.stderr, "dry run: wait")  # step 2's wait was executed: the loop sleeps 20 s now
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)  # a hang guard only; "2 steps" below shows the 20 s wait was cut
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert stdout.startswith(f"{status.value}: {words} (2 steps; ")  # the one result line
    lines = (out / "steps.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # every line is whole
    records = read_steps(out)
    assert [(r.step, r.status.value) for r in records] == [(1, "executed"), (2, "stopped")]
    assert words in (records[1].error or "")
    assert {r.screenshot for r in records} == {p.name for p in out.glob("step_*.png")}  # no screenshot left alone
    result = read_result(out)
    assert result.status is status and result.message == words
    assert status.value in (out / "report.html").read_text()


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_pyautogui_failsafe_is_on_and_stops_the_run(desktop: XDisplay, tmp_path: Path) -> None:
    assert_pyautogui_on(desktop)
    import pyautogui

    assert pyautogui.FAILSAFE
    subprocess.run(["xdotool", "mousemove", "0", "0"], check=True)  # the user slams the pointer into a corner
    try:
        with MssScreen(1) as screen:
            policy = ScriptPolicy(["Action: click(start_box='(966,546)')", "Action: finished()"])
            result = AgentLoop(policy, screen, PyAutoGUIExecutor(), Trajectory(tmp_path)).run("click")
    finally:
        subprocess.run(["xdotool", "mousemove", "960", "540"], check=True)
    assert result.status is RunStatus.USER_STOPPED and "fail-safe" in result.message
    assert [(r.step, r.status.value) for r in read_steps(tmp_path)] == [(1, "stopped")]


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_the_agents_own_click_on_a_screen_corner_clicks_it(desktop: XDisplay, tmp_path: Path) -> None:
    script = tmp_path / "script.txt"
    corner = "Action: click(start_box='(0,0)')"  # a hot corner, a Start button
    script.write_text(f"{corner}\n---\n{corner}\n---\nAction: finished(content='clicked twice')\n", encoding="utf-8")
    out = tmp_path / "run"
    with probe_app(desktop, position=(0, 0), button=(0, 0)) as app:
        assert (app.widgets["button"].left, app.widgets["button"].top) == (0, 0)
        proc = _agent("press the button in the corner twice", "--model", f"script:{script}", "--out", str(out),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            subprocess.run(["xdotool", "mousemove", "960", "540"], check=True)
        assert proc.returncode == 0, stderr
        app.wait_for("click", widget="button", n=1)
        app.wait_for("click", widget="button", n=2)  # the second click began with the pointer in the corner
    records = read_steps(out)
    assert [(r.status.value, [(a.exec_status, a.xy_input) for a in r.actions]) for r in records] == [
        ("executed", [("ok", (0, 0))]), ("executed", [("ok", (0, 0))]), ("finished", [("finished", None)])]
    assert read_result(out).status is RunStatus.FINISHED


class _PersonStopsAtStep2:
    """Says yes to every --confirm question; before answering step 2's, another process (xdotool) moves the pointer
    into the bottom-right corner, as a person at the machine stopping the run would."""

    def __init__(self, screen: tuple[int, int]) -> None:
        self.corner = (screen[0] - 1, screen[1] - 1)

    def confirm(self, step: int, description: str) -> ConfirmAnswer:
        if step == 2:
            subprocess.run(["xdotool", "mousemove", "--sync", *map(str, self.corner)], check=True)
        return ConfirmAnswer.YES

    def call_user(self, step: int, reason: str) -> CallUserAnswer:
        return CallUserAnswer.ABORT


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_a_person_moving_the_pointer_into_a_corner_mid_run_still_stops_it(desktop: XDisplay, tmp_path: Path) -> None:
    assert_pyautogui_on(desktop)
    policy = ScriptPolicy(["Action: click(start_box='(0,0)')", "Action: click(start_box='(966,546)')",
                           "Action: finished()"])
    try:
        with MssScreen(1) as screen:
            loop = AgentLoop(policy, screen, PyAutoGUIExecutor(), Trajectory(tmp_path), LoopConfig(confirm=True),
                             interaction=_PersonStopsAtStep2(desktop.size))
            result = loop.run("click the corner, then the middle")
    finally:
        subprocess.run(["xdotool", "mousemove", "960", "540"], check=True)
    assert result.status is RunStatus.USER_STOPPED and "fail-safe" in result.message
    records = read_steps(tmp_path)
    assert [(r.step, r.status.value, r.actions[0].exec_status) for r in records] == [
        (1, "executed", "ok"), (2, "stopped", "not_run")]
