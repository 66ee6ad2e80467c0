"""Screen capture: a `Frame` is one screenshot plus the geometry that maps its points to input coordinates.

Two screens:
- `MssScreen`: the live desktop, one mss monitor (1 = the first/primary monitor, 0 = all monitors together).
- `ReplayScreen`: recorded screenshots played back in order (tests, offline replay, benchmarks).

How `MssScreen` finds the logical (input) size of a monitor, i.e. the coordinate system pyautogui takes:
- the primary monitor: `pyautogui.size()`. On X11 with several monitors `pyautogui.size()` is the whole root window
  (the union of the monitors), so there the mss rectangle of the monitor is used instead (X11 does not scale);
- any other monitor (and monitor 0, the union): the mss rectangle `monitors[i]["width"/"height"]`. mss reports it in
  the OS's virtual-desktop coordinates, the same ones pyautogui uses: pixels on X11 and on Windows (both libraries make
  the process DPI-aware), points on macOS.
The monitor's origin is its mss `left`/`top` in those same coordinates. The HiDPI ratio is screenshot pixels per
logical unit (`ScreenGeometry.hidpi_ratio`), e.g. 2.0 on a Retina display captured at full resolution.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from actions.coords import MAX_PIXELS, MIN_PIXELS, ScreenGeometry, Size

#: An mss monitor: {"left", "top", "width", "height"} (and "is_primary" from mss 10.2 on).
Monitor = dict[str, Any]
#: Returns the logical (input) size of `monitors[index]`.
LogicalSizeFn = Callable[[Sequence[Monitor], int], Size]


@dataclass(frozen=True)
class Frame:
    """One observation.

    image: the screenshot as an RGB PIL image (screenshot pixels).
    geometry: screenshot size, model-image size, monitor origin and logical size (see actions.coords).
    captured_at: time.time() of the capture.
    """

    image: Image.Image
    geometry: ScreenGeometry
    captured_at: float = field(default_factory=time.time)


class Screen(Protocol):
    """Something that produces frames: the live monitor, or a replay of recorded screenshots."""

    def capture(self) -> Frame: ...


class ReplayExhaustedError(LookupError):
    """A `ReplayScreen` was asked for more frames than it holds."""


def _is_primary(monitors: Sequence[Monitor], index: int) -> bool:
    if index == 0:
        return False
    marked = [i for i, mon in enumerate(monitors) if i > 0 and mon.get("is_primary")]
    return index == (marked[0] if marked else 1)


def default_logical_size(monitors: Sequence[Monitor], index: int) -> Size:
    """Logical size of `monitors[index]`: `pyautogui.size()` for the primary monitor, else the mss rectangle.

    See the module docstring for why; on X11 with several monitors the mss rectangle is used for the primary too.
    """
    mon = monitors[index]
    rect = (int(mon["width"]), int(mon["height"]))
    if not _is_primary(monitors, index):
        return rect
    from actions.executors.pyautogui import import_pyautogui  # needs a display: only a live screen imports it

    width, height = import_pyautogui().size()
    union = (int(monitors[0]["width"]), int(monitors[0]["height"]))
    if len(monitors) > 2 and (width, height) == union:
        return rect  # X11 multi-monitor: pyautogui.size() is the root window, not the primary monitor
    return int(width), int(height)


class MssScreen:
    """Captures one monitor with mss as an RGB PIL image.

    monitor: mss monitor index; 1 is the first (primary) monitor, 0 the union of all monitors. Default 1.
    region: (left, top, width, height) of the part of the monitor to capture, relative to the monitor's origin, in
        its mss coordinates (pixels on X11 and Windows); None (default) captures the whole monitor. The live demo
        captures only its window, so the screenshot equals the app's own render whatever the display size. It must
        lie inside the monitor (ValueError at the first capture otherwise).
    min_pixels, max_pixels: smart_resize limits for the model-image size stored in the geometry.
    logical_size: returns the logical size of a monitor (default `default_logical_size`; tests inject their own).

    Raises ValueError at the first capture when `monitor` does not exist. Not thread-safe: capture from the thread
    that made the first capture (mss keeps a per-thread display connection). Use as a context manager or call
    `close()`.
    """

    def __init__(
        self,
        monitor: int = 1,
        *,
        min_pixels: int = MIN_PIXELS,
        max_pixels: int = MAX_PIXELS,
        logical_size: LogicalSizeFn = default_logical_size,
        region: tuple[int, int, int, int] | None = None,
    ) -> None:
        if monitor < 0:
            raise ValueError(f"monitor={monitor} must be >= 0 (0 = all monitors, 1 = primary)")
        if region is not None and (len(region) != 4 or min(region[:2]) < 0 or min(region[2:]) <= 0):
            raise ValueError(f"region={region!r} must be (left >= 0, top >= 0, width > 0, height > 0)")
        self.monitor, self.region = monitor, region
        self._min_pixels, self._max_pixels = min_pixels, max_pixels
        self._logical_size = logical_size
        self._sct: Any = None
        self._geometry: ScreenGeometry | None = None

    def _open(self) -> Any:
        if self._sct is None:
            import mss  # optional heavy import: only a live screen needs it

            factory = getattr(mss, "MSS", None) or mss.mss  # mss >= 10.2 spells it MSS; mss.mss is deprecated
            self._sct = factory()
            n_real = len(self._sct.monitors) - 1
            if self.monitor > n_real:
                self.close()
                raise ValueError(f"monitor={self.monitor} does not exist; this display has monitors 0..{n_real} "
                                 "(0 = all, 1 = primary)")
            mon = self._sct.monitors[self.monitor]
            if self.region is not None and (self.region[0] + self.region[2] > mon["width"]
                                            or self.region[1] + self.region[3] > mon["height"]):
                self.close()
                raise ValueError(f"region={self.region} does not fit monitor {self.monitor} "
                                 f"({mon['width']}x{mon['height']})")
        return self._sct

    def _rect(self, monitors: Sequence[Monitor]) -> Monitor:
        """The mss rectangle to grab: the monitor, or the region inside it."""
        mon = monitors[self.monitor]
        if self.region is None:
            return mon
        left, top, width, height = self.region
        return {"left": int(mon["left"]) + left, "top": int(mon["top"]) + top, "width": width, "height": height}

    def geometry_for(self, screenshot_size: Size) -> ScreenGeometry:
        """The geometry of a screenshot of the chosen monitor (cached while the screenshot size stays the same)."""
        cached = self._geometry
        if cached is not None and cached.screenshot_size == screenshot_size:
            return cached
        monitors = self._open().monitors
        mon, rect = monitors[self.monitor], self._rect(monitors)
        input_size = self._logical_size(monitors, self.monitor)
        if self.region is not None:  # the region's share of the monitor's logical size (1:1 on X11 and Windows)
            input_size = (round(rect["width"] * input_size[0] / mon["width"]),
                          round(rect["height"] * input_size[1] / mon["height"]))
        self._geometry = ScreenGeometry.for_screenshot(
            screenshot_size[0], screenshot_size[1],
            origin=(int(rect["left"]), int(rect["top"])),
            input_size=input_size,
            min_pixels=self._min_pixels, max_pixels=self._max_pixels,
        )
        return self._geometry

    def capture(self) -> Frame:
        """Grab the monitor now; PIL's raw BGRX decoder turns mss's BGRA buffer into RGB (no numpy round trip)."""
        sct = self._open()
        captured_at = time.time()
        shot = sct.grab(self._rect(sct.monitors))
        image = Image.frombuffer("RGB", shot.size, shot.raw, "raw", "BGRX", 0, 1)
        return Frame(image=image, geometry=self.geometry_for((image.width, image.height)), captured_at=captured_at)

    def close(self) -> None:
        """Release the mss display connection (idempotent)."""
        if self._sct is not None:
            self._sct.close()
            self._sct = None

    def __enter__(self) -> "MssScreen":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReplayScreen:
    """Plays back recorded screenshots, one per `capture()`, in order.

    images: PIL images or paths to image files (opened and converted to RGB at construction; a missing file raises
        FileNotFoundError naming its path).
    origin, input_size: the geometry's monitor origin and logical size (default: origin (0, 0), input size = the
        screenshot size).
    cycle: start again from the first image when the list runs out; otherwise `capture()` raises
        `ReplayExhaustedError`. Default False.
    """

    def __init__(
        self,
        images: Iterable[Image.Image | str | Path],
        *,
        origin: tuple[int, int] = (0, 0),
        input_size: Size | None = None,
        cycle: bool = False,
        min_pixels: int = MIN_PIXELS,
        max_pixels: int = MAX_PIXELS,
    ) -> None:
        self._images = [_load_rgb(item) for item in images]
        if not self._images:
            raise ValueError("images is empty; a ReplayScreen needs at least one image")
        self._origin, self._input_size, self._cycle = origin, input_size, cycle
        self._limits = (min_pixels, max_pixels)
        self._next = 0

    def __len__(self) -> int:
        return len(self._images)

    def capture(self) -> Frame:
        """The next recorded image as a frame."""
        if self._next >= len(self._images):
            if not self._cycle:
                raise ReplayExhaustedError(f"replay screen has {len(self._images)} images; all were captured")
            self._next = 0
        image = self._images[self._next]
        self._next += 1
        geometry = ScreenGeometry.for_screenshot(
            image.width, image.height, origin=self._origin, input_size=self._input_size,
            min_pixels=self._limits[0], max_pixels=self._limits[1],
        )
        return Frame(image=image, geometry=geometry)


def _load_rgb(item: Image.Image | str | Path) -> Image.Image:
    if isinstance(item, Image.Image):
        return item if item.mode == "RGB" else item.convert("RGB")
    path = Path(item)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: screenshot not found")
    with Image.open(path) as img:
        return img.convert("RGB")
