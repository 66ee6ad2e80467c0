"""PyAutoGUIExecutor: real mouse and keyboard input on the local desktop through pyautogui.

pyautogui is imported on the first action, not with this module, so the package imports without a display. On X11
pyautogui connects to `DISPLAY` when it is imported and keeps that connection; python-xlib then needs an
`XAUTHORITY` file that exists (an empty one is enough for Xvfb) or it raises `XauthError`.

What each action does (points through `geometry.to_input`: monitor origin plus the point in logical units):
- click: `pyautogui.click(x, y, clicks=n, button=b)`; move: `moveTo`; drag: `moveTo(start)` then
  `dragTo(end, duration=drag_duration_s, button=b)`.
- scroll: up/down with `scroll(±n)`, left/right with `hscroll(±n)`, at the point when there is one. `n` is
  `Scroll.amount` wheel clicks times the platform's units per click (`WHEEL_DELTA`): X11 counts button 4-7 clicks
  and macOS lines (1 each); Windows counts wheel delta, where one notch is 120 (spec-actions §3.1.11; OSWorld's x50
  for OpenCUA is a tuning of the same thing). pyautogui's `hscroll` scrolls vertically on Windows, so horizontal
  scrolls are "unsupported" there.
- type: see `text_input` (exact text: xdotool for ASCII, the clipboard otherwise); then Enter pressed once if
  `submit`.
- hotkey / key_down / key_up: canonical names (`actions.keys`), the OS key as `command` on macOS and `win`
  elsewhere. A key pyautogui has no code for on this keyboard (it would drop it silently) makes the action
  "unsupported", as do the phone keys (back, menu, power, lock).
- wait: status "ok" at once; the loop does the waiting, so that a stop request interrupts it.
- finished -> "finished", call_user -> "call_user"; phone actions (long_press, open_app, press_home, press_back)
  -> "unsupported".
pyautogui's fail-safe stays on: slamming the pointer into a screen corner raises `pyautogui.FailSafeException`,
which propagates to the loop (the user's emergency stop). The executor's own moves into a corner (a click on a
hot corner) do not trip it (`failsafe.FailSafeGuard`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import ClassVar

from actions.coords import ScreenGeometry
from actions.executors.base import DESKTOP_ACTIONS, ExecResult, ExecStatus, input_points
from actions.executors.describe import describe
from actions.executors.failsafe import FailSafeGuard
from actions.executors.text_input import Platform, TextInput, TextInputError, TextInputMode
from actions.keys import MOBILE_KEYS, normalize_key
from actions.schema import (
    Action,
    CallUser,
    Click,
    Drag,
    Finished,
    Hotkey,
    KeyDown,
    KeyUp,
    Move,
    Scroll,
    Type,
    Wait,
)

logger = logging.getLogger(__name__)

#: Input units per wheel click (`Scroll.amount`), per platform.
WHEEL_DELTA: dict[str, int] = {"x11": 1, "darwin": 1, "win32": 120}

_MAC_KEYS = {"win": "command", "winleft": "command", "winright": "command"}
_PC_KEYS = {"command": "win", "option": "alt", "optionleft": "altleft", "optionright": "altright"}

_Point = tuple[int, int]


def current_platform() -> Platform:
    """The windowing system pyautogui drives here: "darwin", "win32", or "x11" (Linux and the BSDs)."""
    if sys.platform == "darwin":
        return "darwin"
    if sys.platform == "win32":
        return "win32"
    return "x11"


def platform_key(key: str, platform: Platform) -> str:
    """pyautogui's name for the canonical `key` on `platform`: the OS key is `command` on macOS and `win` elsewhere;
    `option` is `alt` off macOS."""
    table = _MAC_KEYS if platform == "darwin" else _PC_KEYS
    return table.get(key, key)


@dataclass(frozen=True)
class PyAutoGUIExecutor:
    """Performs desktop actions with pyautogui (see the module docstring for the mapping).

    text_input: "auto" (keystrokes for printable ASCII, the clipboard otherwise; default), "keys" or "clipboard".
    drag_duration_s: how long the pointer takes from start to end of a drag, in seconds (default 0.3; some
        applications ignore a drag that arrives as a single motion event).
    wheel_delta: input units per wheel click; None (default) takes `WHEEL_DELTA` for the platform.
    paste_timeout_s: how long to wait for the focused window to fetch pasted text on X11, in seconds (default 2).
    failsafe: where this executor left the pointer, so its own corner moves never trip the fail-safe (state, not a
        setting: not compared).
    """

    name: ClassVar[str] = "pyautogui"
    supports: ClassVar[frozenset[str]] = DESKTOP_ACTIONS

    text_input: TextInputMode = "auto"
    drag_duration_s: float = 0.3
    wheel_delta: int | None = None
    paste_timeout_s: float = 2.0
    failsafe: FailSafeGuard = field(default_factory=FailSafeGuard, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.text_input not in ("auto", "keys", "clipboard"):
            raise ValueError(f"text_input={self.text_input!r}: expected 'auto', 'keys' or 'clipboard'")
        if self.drag_duration_s < 0:
            raise ValueError(f"drag_duration_s={self.drag_duration_s} must be >= 0")
        if self.wheel_delta is not None and self.wheel_delta < 1:
            raise ValueError(f"wheel_delta={self.wheel_delta} must be >= 1 (or None for the platform default)")
        if self.paste_timeout_s <= 0:
            raise ValueError(f"paste_timeout_s={self.paste_timeout_s} must be > 0")

    def execute(self, action: Action, geometry: ScreenGeometry) -> ExecResult:
        """Perform `action` and say how; see the module docstring."""
        description = describe(action, geometry)
        if action.type not in self.supports:
            return ExecResult(status="unsupported", description=description,
                              detail=f"{action.type} is a phone action; pyautogui drives a desktop")
        if isinstance(action, Finished):
            return ExecResult(status="finished", detail=action.message, description=description)
        if isinstance(action, CallUser):
            return ExecResult(status="call_user", detail=action.reason, description=description)
        if isinstance(action, Wait):
            return ExecResult(status="ok", detail="nothing to do: the loop waits", description=description)
        pyautogui = import_pyautogui()
        xy, xy_end = input_points(action, geometry)
        with self.failsafe.around(pyautogui, [p for p in (xy, xy_end) if p is not None]):
            if isinstance(action, (Type, Hotkey, KeyDown, KeyUp)):
                status, detail = self._keyboard(action, pyautogui)
                return ExecResult(status=status, detail=detail, description=description)
            status, detail = self._pointer(action, xy, xy_end, pyautogui)
        done = status == "ok"
        return ExecResult(status=status, xy_input=xy if done else None, xy_input_end=xy_end if done else None,
                          detail=detail, description=description)

    def _pointer(self, action: Action, xy: _Point | None, xy_end: _Point | None,
                 pyautogui: ModuleType) -> tuple[ExecStatus, str]:
        if isinstance(action, Click):
            assert xy is not None
            pyautogui.click(x=xy[0], y=xy[1], clicks=action.clicks, button=action.button)
            return "ok", ""
        if isinstance(action, Move):
            assert xy is not None
            pyautogui.moveTo(xy[0], xy[1])
            return "ok", ""
        if isinstance(action, Drag):
            assert xy is not None and xy_end is not None
            pyautogui.moveTo(xy[0], xy[1])
            pyautogui.dragTo(xy_end[0], xy_end[1], duration=self.drag_duration_s, button=action.button)
            return "ok", ""
        if isinstance(action, Scroll):
            return self._scroll(action, xy, pyautogui)
        raise TypeError(f"not a pointer action: {action!r}")

    def _scroll(self, action: Scroll, xy: _Point | None, pyautogui: ModuleType) -> tuple[ExecStatus, str]:
        platform = current_platform()
        units = action.amount * (self.wheel_delta or WHEEL_DELTA[platform])
        signed = units if action.direction in ("up", "right") else -units
        where = {"x": xy[0], "y": xy[1]} if xy is not None else {}
        if action.direction in ("up", "down"):
            pyautogui.scroll(signed, **where)
            return "ok", f"scroll({signed})"
        if platform == "win32":
            return "unsupported", "pyautogui.hscroll scrolls vertically on Windows"
        pyautogui.hscroll(signed, **where)
        return "ok", f"hscroll({signed})"

    def _keyboard(self, action: Type | Hotkey | KeyDown | KeyUp, pyautogui: ModuleType) -> tuple[ExecStatus, str]:
        platform = current_platform()
        if isinstance(action, Type):
            typist = TextInput(mode=self.text_input, platform=platform, paste_timeout_s=self.paste_timeout_s)
            try:
                detail = typist.enter(action.text, pyautogui)
            except TextInputError as e:
                return "error", str(e)
            if action.submit:
                pyautogui.press("enter")
                detail += ", then Enter"
            return "ok", detail
        names = action.keys if isinstance(action, Hotkey) else (action.key,)
        keys, problem = _resolve_keys(names, platform, pyautogui)
        if problem:
            return "unsupported", problem
        if isinstance(action, Hotkey):
            pyautogui.hotkey(*keys)
        elif isinstance(action, KeyDown):
            pyautogui.keyDown(keys[0])
        else:
            pyautogui.keyUp(keys[0])
        return "ok", "+".join(keys)


def _resolve_keys(names: tuple[str, ...], platform: Platform, pyautogui: ModuleType) -> tuple[list[str], str]:
    """pyautogui names for `names`, or an empty list and the reason one of them cannot be pressed here."""
    mapping = getattr(getattr(pyautogui, "platformModule", None), "keyboardMapping", None)
    keys = []
    for name in names:
        try:
            canonical = normalize_key(name)
        except ValueError as e:
            return [], str(e)
        if canonical in MOBILE_KEYS:
            return [], f"{name!r} is a phone key"
        key = platform_key(canonical, platform)
        if mapping is not None and mapping.get(key) is None:
            return [], f"no key code for {name!r} on this keyboard (pyautogui would drop it silently)"
        keys.append(key)
    return keys, ""


def import_pyautogui() -> ModuleType:
    """Import pyautogui, turning a failure to reach the display into a `RuntimeError` that says what to set.

    python-xlib prints its xauth notes ("Xlib.xauth: warning, no xauthority details available", for the empty
    XAUTHORITY file Xvfb needs) on stdout while pyautogui connects; stdout is for results, so they are logged instead.
    """
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said):
            import pyautogui
    except Exception as e:  # KeyError('DISPLAY') from mouseinfo, Xlib's DisplayError or XauthError, ...
        raise RuntimeError(
            f"pyautogui cannot start ({type(e).__name__}: {e}); on Linux it needs an X display in DISPLAY and an "
            "existing XAUTHORITY file (an empty file is enough for Xvfb)"
        ) from e
    finally:
        for line in said.getvalue().splitlines():
            logger.debug("while importing pyautogui: %s", line)
    return pyautogui
