"""Screens: the live mss capture (RGB, geometry with origin and HiDPI ratio, monitor choice) and the replay screen."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from PIL import Image

from agent.screen import MssScreen, ReplayExhaustedError, ReplayScreen, default_logical_size

_RED_SQUARE = """import tkinter as tk
root = tk.Tk(); root.overrideredirect(True); root.geometry("100x100+50+60"); root.configure(background="#ff0000")
root.mainloop()
"""


def test_replay_screen_plays_images_in_order_then_stops(tmp_path) -> None:
    path = tmp_path / "b.png"
    Image.new("RGBA", (1920, 1080), (0, 0, 255, 255)).save(path)
    screen = ReplayScreen([Image.new("RGB", (1920, 1080), (255, 0, 0)), path], origin=(1920, 0))
    first, second = screen.capture(), screen.capture()
    assert first.image.getpixel((0, 0)) == (255, 0, 0) and second.image.getpixel((0, 0)) == (0, 0, 255)
    assert second.image.mode == "RGB"
    assert first.geometry.model_size == (1932, 1092) and first.geometry.origin == (1920, 0)
    with pytest.raises(ReplayExhaustedError, match="2 images"):
        screen.capture()
    cycling = ReplayScreen([path], cycle=True, input_size=(960, 540))
    assert cycling.capture().geometry.hidpi_ratio == (2.0, 2.0) and len(cycling) == 1
    assert cycling.capture().image.getpixel((0, 0)) == (0, 0, 255)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        ReplayScreen([tmp_path / "missing.png"])
    with pytest.raises(ValueError, match="images is empty"):
        ReplayScreen([])


@pytest.mark.desktop
def test_monitor_index_is_validated(desktop) -> None:
    with pytest.raises(ValueError, match="monitor=-1"):
        MssScreen(-1)
    with MssScreen(5) as screen, pytest.raises(ValueError, match=r"monitor=5 does not exist.*0\.\.1"):
        screen.capture()


@pytest.mark.desktop
def test_capture_is_rgb_at_screen_size_with_its_geometry(desktop) -> None:
    window = subprocess.Popen([sys.executable, "-c", _RED_SQUARE])
    try:
        with MssScreen() as screen:
            deadline = time.monotonic() + 10
            frame = screen.capture()
            while frame.image.getpixel((100, 110)) != (255, 0, 0):  # channels in RGB order, not BGR
                assert time.monotonic() < deadline, f"red square not seen: {frame.image.getpixel((100, 110))}"
                time.sleep(0.05)
                frame = screen.capture()
    finally:
        window.terminate()
        window.wait()
    assert frame.image.mode == "RGB" and frame.image.size == (1920, 1080)
    geo = frame.geometry
    assert (geo.screenshot_size, geo.model_size, geo.origin, geo.input_size) == (
        (1920, 1080), (1932, 1092), (0, 0), (1920, 1080))
    assert frame.captured_at > 0


@pytest.mark.desktop
def test_hidpi_ratio_comes_from_the_logical_size(desktop) -> None:
    with MssScreen(1, logical_size=lambda monitors, index: (960, 540)) as screen:  # a 2x display
        geo = screen.capture().geometry
    assert geo.hidpi_ratio == (2.0, 2.0)
    assert geo.to_input((0.5, 0.5)) == (480, 270)


@pytest.mark.desktop
def test_logical_size_of_primary_and_other_monitors(desktop) -> None:
    union = {"left": 0, "top": 0, "width": 1920, "height": 1080}
    left = {"left": 0, "top": 0, "width": 1280, "height": 1080}
    right = {"left": 1280, "top": 0, "width": 640, "height": 1080}
    assert default_logical_size([union, dict(union)], 1) == (1920, 1080)  # one monitor: pyautogui.size()
    # X11 with two monitors: pyautogui.size() is the whole root window, so each monitor's own rectangle is used
    assert default_logical_size([union, left, right], 1) == (1280, 1080)
    assert default_logical_size([union, left, right], 2) == (640, 1080)
    assert default_logical_size([union, left, right], 0) == (1920, 1080)
    # mss >= 10.2 marks the primary; pyautogui.size() would be used for it if it were not the X11 union
    assert default_logical_size([union, left, {**right, "is_primary": True}], 2) == (640, 1080)


@pytest.mark.desktop
def test_a_region_captures_only_that_rectangle_and_maps_points_into_it(desktop) -> None:
    window = subprocess.Popen([sys.executable, "-c", _RED_SQUARE])  # red 100x100 at (50, 60)
    try:
        with MssScreen(region=(50, 60, 100, 100)) as screen:
            deadline = time.monotonic() + 10
            frame = screen.capture()
            while frame.image.getcolors() != [(100 * 100, (255, 0, 0))]:
                assert time.monotonic() < deadline, f"region is not all red: {frame.image.getcolors()}"
                time.sleep(0.05)
                frame = screen.capture()
    finally:
        window.terminate()
        window.wait()
    geo = frame.geometry
    assert (geo.screenshot_size, geo.origin, geo.input_size) == ((100, 100), (50, 60), (100, 100))
    assert geo.to_input((0.5, 0.5)) == (100, 110)
    with pytest.raises(ValueError, match="region="):
        MssScreen(region=(0, 0, 0, 10))
    with MssScreen(region=(1900, 0, 100, 100)) as screen, pytest.raises(ValueError, match="does not fit monitor 1"):
        screen.capture()
