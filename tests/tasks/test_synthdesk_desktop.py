"""The live synthdesk window on a real X server (Xvfb): what mss captures is the training render, pixel for pixel,
and the gold actions, executed by the project's pyautogui executor, drive the window's state machine to the goal.

Every wait is for an event from the window (`WindowHandle.sync`: an F12 fence that X delivers after all earlier
input), with a timeout; the capture is retried until it shows the expected frame, for at most a few seconds.
"""

from __future__ import annotations

import time

import pytest
from desktop import XDisplay, assert_pyautogui_on
from PIL import Image

from actions.coords import ScreenGeometry
from actions.executors import PyAutoGUIExecutor
from actions.uitars import parse_uitars
from agent.screen import MssScreen
from tasks.synthdesk.tkapp import WindowHandle, digest, event_of, open_window
from tasks.synthdesk import Key, TypeText

pytestmark = pytest.mark.desktop


def _capture_equal(screen: MssScreen, window: WindowHandle, expected: Image.Image, timeout_s: float = 3.0) -> None:
    """Capture the window's region until it equals `expected` (the window draws asynchronously to our process)."""
    deadline = time.monotonic() + timeout_s
    while True:
        frame = screen.capture()
        x, y = window.position
        shot = frame.image.crop((x, y, x + window.size[0], y + window.size[1]))
        if shot.tobytes() == expected.tobytes():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the captured window differs from the render (digest {digest(shot)} != "
                                 f"{digest(expected)})")


@pytest.mark.parametrize("kind,template", [("episode", "menu_name"), ("memory", "memory_code")])
def test_gold_actions_finish_the_task_in_the_live_window(desktop: XDisplay, kind: str, template: str) -> None:
    assert_pyautogui_on(desktop)
    executor = PyAutoGUIExecutor()
    with open_window("heldout", 3, 1, kind, template=template) as window, MssScreen(monitor=1) as screen:
        assert window.events[0]["instruction"] == window.instruction
        w, h = window.size
        geometry = ScreenGeometry.for_screenshot(w, h)  # the window's region: its own model image
        assert geometry.model_size == (w, h)
        frames_before = 0
        for step in window.episode.steps:
            _capture_equal(screen, window, step.state.render().image)
            assert window.episode.goal is not None and window.done == window.episode.goal.met(step.state)
            (action,) = parse_uitars(step.reply, (w, h)).actions
            result = executor.execute(action, geometry)
            assert result.status == ("finished" if step.action == "finished" else "ok"), result.detail
            fence = window.sync()
            assert fence["frame"] >= frames_before
            frames_before = fence["frame"]
        _capture_equal(screen, window, window.episode.final.render().image)
        assert window.done and fence["done"]
        window.send("state")
        log = [tuple(entry) for entry in window.wait_for("state")["log"]]
        assert window.episode.goal is not None and log[-1][:2] == window.episode.goal.head[:2]
        shown = [e["digest"] for e in window.events if e.get("event") == "frame"]
        assert shown[-1] == digest(window.episode.final.render().image)


def test_tk_keys_map_to_app_events() -> None:
    assert event_of("Return", "\r") == Key("enter") and event_of("Escape", "\x1b") == Key("escape")
    assert event_of("BackSpace", "\x08") == Key("backspace")
    assert event_of("M", "M") == TypeText("M") and event_of("space", " ") == TypeText(" ")
    assert event_of("Shift_L", "") is None and event_of("F5", "") is None
