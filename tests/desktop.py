"""A real X display for tests: Xvfb on a free display number, plus a Tk probe window that reports what it receives.

- `xvfb(size=(1920, 1080), depth=24)`: a context manager that starts Xvfb (display number picked by the server
  through `-displayfd`, so parallel runs never collide), points `DISPLAY` at it, creates an empty `XAUTHORITY`
  file (python-xlib, which pyautogui uses, raises `XauthError` when `~/.Xauthority` is missing), yields an
  `XDisplay`, then stops the server and restores the environment.
- `probe_app(display, position)`: a context manager that runs the Tk window of this file in a subprocess (Tk owns
  its main thread there) and yields a `ProbeApp`, which knows each widget's rectangle on the screen, collects the
  events the window's own callbacks report (one JSON object per stdout line), waits for them (`wait_for`) and
  waits until all input sent so far was handled (`sync`, a key press that X delivers after everything before it).
  No sleeps anywhere: every wait is for an event, with a timeout.

pyautogui opens its X connection when it is first imported and keeps it: import it only while one display is up,
and use one display per test session (the `desktop` fixture in conftest.py). `assert_pyautogui_on(display)`
refuses to go on if pyautogui is bound to another display, so a test never clicks on a developer's real desktop.

Run `python tests/desktop.py` to get the probe window on the current `DISPLAY`.
"""

from __future__ import annotations

import json
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 10.0
EVENT_TIMEOUT_S = 10.0
_XDOTOOL = shutil.which("xdotool")  # resolved once, so tests may narrow PATH


def have_xvfb() -> bool:
    """Whether an `Xvfb` binary is on PATH."""
    return shutil.which("Xvfb") is not None


@dataclass(frozen=True)
class XDisplay:
    """A running X server.

    name: the `DISPLAY` value (":3").
    size: (width, height) of screen 0 in pixels.
    xauthority: the empty authority file set as `XAUTHORITY`: the server runs without access control (local
        connections only, `-nolisten tcp`), but python-xlib insists on reading an authority file.
    """

    name: str
    size: tuple[int, int]
    xauthority: Path


@contextmanager
def xvfb(size: tuple[int, int] = (1920, 1080), depth: int = 24) -> Iterator[XDisplay]:
    """Start Xvfb at `size` x `depth`, set `DISPLAY` and `XAUTHORITY`, yield the display, then tear it all down."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"size={size!r} must be positive")
    binary = shutil.which("Xvfb")
    if binary is None:
        raise FileNotFoundError("Xvfb is not on PATH (Debian: apt-get install xvfb)")
    tmp = Path(tempfile.mkdtemp(prefix="guikv-xvfb-"))
    xauthority = tmp / "Xauthority"
    xauthority.touch()
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [binary, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x{depth}", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(write_fd)
    saved = {key: os.environ.get(key) for key in ("DISPLAY", "XAUTHORITY")}
    try:
        number = _read_display_number(read_fd, proc)
        display = XDisplay(name=f":{number}", size=(width, height), xauthority=xauthority)
        os.environ["DISPLAY"] = display.name
        os.environ["XAUTHORITY"] = str(xauthority)
        yield display
    finally:
        os.close(read_fd)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        from tasks.synthdesk.child import stop  # not at the top: see probe_app

        stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def _read_display_number(read_fd: int, proc: subprocess.Popen[bytes]) -> int:
    """Block until Xvfb writes its display number to the `-displayfd` pipe (it does so once it accepts clients)."""
    data = b""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError(f"Xvfb did not report a display within {START_TIMEOUT_S} s")
        chunk = os.read(read_fd, 32)
        if not chunk:
            raise RuntimeError(f"Xvfb exited before it was ready (returncode {proc.poll()})")
        data += chunk
    return int(data.strip())


def assert_pyautogui_on(display: XDisplay) -> None:
    """Raise `RuntimeError` unless pyautogui (importing it if needed) talks to `display`."""
    import pyautogui  # noqa: F401  (binds pyautogui to the current DISPLAY on first import)
    from pyautogui import _pyautogui_x11

    bound = _pyautogui_x11._display.get_display_name()
    if bound != display.name:
        raise RuntimeError(f"pyautogui is bound to display {bound!r}, not the test display {display.name!r}")


@dataclass(frozen=True)
class Rect:
    """A widget's rectangle in screen pixels: left, top, width, height."""

    left: int
    top: int
    width: int
    height: int

    @property
    def center(self) -> tuple[float, float]:
        """The centre in screen pixels (continuous coordinates)."""
        return self.left + self.width / 2, self.top + self.height / 2


@dataclass
class ProbeApp:
    """The running probe window: widget rectangles and the events its callbacks reported, in order."""

    proc: subprocess.Popen[str]
    widgets: dict[str, Rect]
    _queue: queue.Queue[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)
    screen: tuple[int, int] = (0, 0)
    _claimed: set[int] = field(default_factory=set)
    _fences: int = 0

    def wait_for(self, event: str, timeout_s: float = EVENT_TIMEOUT_S, **match: Any) -> dict[str, Any]:
        """Return the earliest event named `event` with fields equal to `match` that no earlier `wait_for` returned,
        waiting up to `timeout_s` for it. Raises `TimeoutError` listing what did arrive."""
        deadline = time.monotonic() + timeout_s
        checked = 0
        while True:
            for i in range(checked, len(self.events)):
                if i not in self._claimed and _matches(self.events[i], event, match):
                    self._claimed.add(i)
                    return self.events[i]
            checked = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {event!r} event matching {match!r} in {timeout_s} s; "
                                   f"the last events: {self.events[-20:]!r}")
            try:
                self.events.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                pass

    def count(self, event: str, **match: Any) -> int:
        """How many events named `event` with fields equal to `match` have arrived so far."""
        while not self._queue.empty():
            self.events.append(self._queue.get_nowait())
        return sum(1 for e in self.events if _matches(e, event, match))

    def send(self, command: str, **args: Any) -> None:
        """Send a command to the window ("state", "set_text" with `text`, "quit")."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": command, **args}) + "\n")
        self.proc.stdin.flush()

    def sync(self, timeout_s: float = EVENT_TIMEOUT_S) -> dict[str, Any]:
        """Wait until the window has handled all X input sent so far, then return its "state" event (text, focus,
        counters).

        Presses F12 (with xdotool; a key nothing else uses) and waits for the window to report it: X delivers input
        in order, so every key and click sent before has been handled by then; commands sent before (`set_text`)
        have run too, as the window reads them in order. The window must have the keyboard focus (or the pointer,
        with no window manager).
        """
        if _XDOTOOL is None:
            raise FileNotFoundError("ProbeApp.sync needs xdotool (Debian: apt-get install xdotool)")
        self._fences += 1
        subprocess.run([_XDOTOOL, "key", "F12"], check=True, timeout=timeout_s)
        self.wait_for("fence", timeout_s=timeout_s, n=self._fences)
        self.send("state")
        return self.wait_for("state", timeout_s=timeout_s)

    def center(self, widget: str, geometry_origin: tuple[int, int] = (0, 0),
               screenshot_size: tuple[int, int] | None = None) -> tuple[float, float]:
        """The normalised point of `widget`'s centre on a screenshot of the monitor at `geometry_origin` (input
        pixels) whose size is `screenshot_size` (the whole screen when None)."""
        x, y = self.widgets[widget].center
        width, height = screenshot_size or self.screen
        return (x - geometry_origin[0]) / width, (y - geometry_origin[1]) / height


def _matches(item: dict[str, Any], event: str, match: dict[str, Any]) -> bool:
    return item.get("event") == event and all(item.get(k) == v for k, v in match.items())


@contextmanager
def probe_app(display: XDisplay, position: tuple[int, int] = (200, 150), button: tuple[int, int] = (40, 40),
              timeout_s: float = START_TIMEOUT_S) -> Iterator[ProbeApp]:
    """Run the probe window on `display` with its top-left corner at `position` (screen pixels) and its button's
    top-left corner at `button` (window pixels; position (0, 0) and button (0, 0) put the button in the screen's
    corner, as no window manager adds a frame), in a subprocess; yield it once it is mapped and has reported its
    widgets."""
    env = {**os.environ, "DISPLAY": display.name, "XAUTHORITY": str(display.xauthority)}
    # imported here, as this file also runs as the probe window's script, where tests/tasks shadows the package
    from tasks.synthdesk.child import json_events

    argv = [sys.executable, str(Path(__file__).resolve()), *(str(v) for v in (*position, *button))]
    with json_events(argv, env) as (proc, events):
        try:
            ready = events.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"probe window not ready in {timeout_s} s") from None
        if ready.get("event") != "ready":
            raise RuntimeError(f"probe window failed: {ready!r}")
        widgets = {name: Rect(*rect) for name, rect in ready["widgets"].items()}
        yield ProbeApp(proc=proc, widgets=widgets, _queue=events, screen=tuple(ready["screen"]))


# ---------------------------------------------------------------------------------------------------------------
# The probe window (runs in its own process: `python tests/desktop.py [LEFT TOP [BUTTON_LEFT BUTTON_TOP]]`).
#
# Widgets: "button" (a Button), "entry" (an Entry; ctrl+a selects all of it, as in most toolkits), "pad" (a Canvas
# that reports presses, releases and double clicks) and "window". Events, one JSON object per stdout line:
#   ready {widgets: {name: [left, top, width, height]}, screen: [w, h]}   once, when mapped
#   click {widget, n}          the button's command ran (n-th time)
#   text {text}                the entry's text changed
#   return {text, n}           <Return> in the entry (n-th time)
#   press / release {widget: "pad", num, x, y, shift}   a mouse button on the pad (Tk 8.6 reports the horizontal
#                              wheel, X buttons 6 and 7, as shift + 4 and 5), x and y in screen pixels
#   double {widget: "pad", x, y}   a left double click on the pad
#   select_all {widget}        ctrl+a in the entry (which then selects all; the binding stops there, no chord event)
#   chord {keysym, mods}       another key pressed while ctrl, alt or super is held
#   fence {n}                  F12 pressed (n-th time); `ProbeApp.sync` uses it to know earlier input was handled
#   state {text, focus, click, return, fence}   the answer to the "state" command
# Commands, one JSON object per stdin line: {"cmd": "state"}, {"cmd": "set_text", "text": ...}, {"cmd": "quit"}.

_MODIFIERS = {0x4: "ctrl", 0x8: "alt", 0x40: "super"}


def _run_probe_window(left: int, top: int, button_left: int = 40, button_top: int = 40) -> None:
    import tkinter as tk

    def emit(event: str, **fields: Any) -> None:
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()

    root = tk.Tk()
    root.title("guikv probe")
    root.geometry(f"640x360+{left}+{top}")
    counters = {"click": 0, "return": 0, "fence": 0}
    text = tk.StringVar(root)
    button = tk.Button(root, text="Press me")
    entry = tk.Entry(root, textvariable=text)
    pad = tk.Canvas(root, background="white")
    button.place(x=button_left, y=button_top, width=160, height=50)
    entry.place(x=40, y=130, width=400, height=40)
    pad.place(x=40, y=190, width=300, height=150)

    def on_click() -> None:
        counters["click"] += 1
        emit("click", widget="button", n=counters["click"])

    def on_return(_: tk.Event) -> None:
        counters["return"] += 1
        emit("return", widget="entry", text=text.get(), n=counters["return"])

    def on_select_all(_: tk.Event) -> str:
        emit("select_all", widget="entry")
        entry.selection_range(0, "end")
        entry.icursor("end")
        return "break"

    def on_key(e: tk.Event) -> None:
        mods = [name for bit, name in _MODIFIERS.items() if e.state & bit]
        if mods:
            emit("chord", keysym=e.keysym, mods=mods + (["shift"] if e.state & 0x1 else []))

    def on_fence(_: tk.Event) -> str:
        counters["fence"] += 1
        emit("fence", n=counters["fence"])
        return "break"

    def on_pad(kind: str) -> Callable[[tk.Event], None]:
        return lambda e: emit(kind, widget="pad", num=e.num, x=e.x_root, y=e.y_root, shift=bool(e.state & 0x1))

    button.configure(command=on_click)
    entry.bind("<Return>", on_return)
    entry.bind("<Control-a>", on_select_all)
    root.bind("<KeyPress>", on_key)  # the toplevel tag: "all" has a more specific <Alt-Key> binding
    root.bind("<KeyPress-F12>", on_fence)
    pad.bind("<ButtonPress>", on_pad("press"))
    pad.bind("<ButtonRelease>", on_pad("release"))
    pad.bind("<Double-Button-1>", lambda e: emit("double", widget="pad", x=e.x_root, y=e.y_root), add="+")
    text.trace_add("write", lambda *_: emit("text", text=text.get()))

    commands: queue.Queue[dict[str, Any]] = queue.Queue()

    def read_stdin() -> None:  # a plain thread may not touch Tk: it only queues, the Tk loop polls
        for line in sys.stdin:
            commands.put(json.loads(line))
        commands.put({"cmd": "quit"})

    def poll_commands() -> None:
        while not commands.empty():
            command = commands.get()
            if command["cmd"] == "state":
                emit("state", text=text.get(), focus=str(root.focus_get()), **counters)
            elif command["cmd"] == "set_text":
                text.set(command["text"])
            elif command["cmd"] == "quit":
                root.destroy()
                return
        root.after(10, poll_commands)

    def rect(widget: tk.Misc) -> list[int]:
        return [widget.winfo_rootx(), widget.winfo_rooty(), widget.winfo_width(), widget.winfo_height()]

    threading.Thread(target=read_stdin, daemon=True).start()
    root.wait_visibility(pad)
    root.update_idletasks()
    emit("ready", widgets={name: rect(w) for name, w in
                           (("button", button), ("entry", entry), ("pad", pad), ("window", root))},
         screen=[root.winfo_screenwidth(), root.winfo_screenheight()])
    root.after(10, poll_commands)
    root.mainloop()


if __name__ == "__main__":
    _run_probe_window(*(int(v) for v in sys.argv[1:5] or (200, 150)))
