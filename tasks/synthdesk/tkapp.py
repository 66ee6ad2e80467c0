"""The live synthdesk app: a Tk window without decorations that shows `state.render()` at 1:1 and feeds the mouse
and keyboard to `state.apply`, so what a live agent captures is the training renderer's image, pixel for pixel.

Two ways to run it:

* `run_window(state, goal, position=(0, 0), report=print_json)`: in this process (Tk must own the main thread).
* `open_window(split, seed, index, kind)`: a context manager that starts `python -m tasks.synthdesk.tkapp ...` on
  the current `DISPLAY` and yields a `WindowHandle` (the task's instruction, size and episode; the events the
  window reports; `sync()` to wait until all input sent so far was handled and drawn; `done`).

Input: a left button press at window pixel (x, y) is `Click(x, y)`; a key press with a printable character is
`TypeText(char)`; Return / KP_Enter, Escape and BackSpace are `Key("enter" | "escape" | "backspace")`; F12 is a
fence (no state change; it answers with a "fence" event, see `WindowHandle.sync`); other keys do nothing.

Events (one JSON object per stdout line from the subprocess): `ready {instruction, size, position, digest}` once
the window is mapped; `frame {n, digest, done}` after every input that changed the state (n counts frames, the
first is 0; digest is the SHA-1 of the image's RGB bytes); `done {n}` the first time the goal is met;
`fence {n, frame, done}`; `state {frame, done, log}` answering the "state" command; `exit {returncode, stderr}`
when the process ends. Commands (stdin lines): `{"cmd": "state"}`, `{"cmd": "quit"}`.

Keyboard focus: Tk never moves the X input focus to an override-redirect window (tkUnixFocus.c), so with no window
manager (Xvfb, where the focus is PointerRoot) keys would reach it only while the pointer is over it. Once mapped, the
window sets the X focus to itself (python-xlib; reverting to PointerRoot when it goes away) and then takes Tk's
focus, so keys reach it wherever the pointer is. Place it at (0, 0) and capture the region `(0, 0, width, height)`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from tasks.synthdesk.app import AppState, Click, Event, Goal, Key, TypeText
from tasks.synthdesk.child import json_events
from tasks.synthdesk.episodes import Episode, Kind
from tasks.synthdesk.generate import Split, generate

__all__ = ["WindowHandle", "digest", "open_window", "run_window"]

START_TIMEOUT_S = 15.0
EVENT_TIMEOUT_S = 10.0
_KEYS = {"Return": "enter", "KP_Enter": "enter", "Escape": "escape", "BackSpace": "backspace"}
_FENCE = "F12"


def digest(image: Image.Image) -> str:
    """SHA-1 of the image's RGB bytes (what the window reports for each frame)."""
    return hashlib.sha1(image.convert("RGB").tobytes()).hexdigest()


def _ppm(image: Image.Image) -> bytes:
    w, h = image.size
    return b"P6\n%d %d\n255\n" % (w, h) + image.convert("RGB").tobytes()


def event_of(keysym: str, char: str) -> Event | None:
    """The app event of a Tk key press (`keysym`, `char`), or None for a key the app ignores."""
    if keysym in _KEYS:
        return Key(_KEYS[keysym])
    if char and char.isprintable():
        return TypeText(char)
    return None


@dataclass
class _Live:
    """What the window shows: the state, its Tk image, the frame number and digest; fences and done so far."""

    state: AppState
    photo: Any
    digest: str
    frame: int = 0
    fences: int = 0
    done: bool = False


def run_window(state: AppState, goal: Goal | None = None, *, position: tuple[int, int] = (0, 0),
               report: Callable[[dict[str, Any]], None] = lambda e: None,
               commands: "queue.Queue[dict[str, Any]] | None" = None) -> AppState:
    """Show `state` in an undecorated Tk window at `position` until it is closed (or "quit"); return the last state.

    `report` receives the events of the module docstring (without "exit"); `commands` is polled for "state" and
    "quit" commands every 10 ms.
    """
    import tkinter as tk

    root = tk.Tk()
    root.overrideredirect(True)
    width, height = state.spec.size
    root.geometry(f"{width}x{height}+{position[0]}+{position[1]}")
    image = state.render().image
    live = _Live(state, tk.PhotoImage(master=root, data=_ppm(image), format="PPM"), digest(image))
    label = tk.Label(root, image=live.photo, borderwidth=0, highlightthickness=0, padx=0, pady=0)
    label.place(x=0, y=0, width=width, height=height)

    def met() -> bool:
        return goal is not None and goal.met(live.state)

    def show(new: AppState) -> None:
        if new == live.state:
            return
        picture = new.render().image
        live.state, live.frame, live.digest = new, live.frame + 1, digest(picture)
        live.photo = tk.PhotoImage(master=root, data=_ppm(picture), format="PPM")
        label.configure(image=live.photo)
        root.update_idletasks()
        root.winfo_pointerxy()  # a round trip: the X server has drawn the frame before anyone hears of it
        report({"event": "frame", "n": live.frame, "digest": live.digest, "done": met()})
        if met() and not live.done:
            live.done = True
            report({"event": "done", "n": live.frame})

    def on_press(e: tk.Event) -> None:
        show(live.state.apply(Click(int(e.x), int(e.y))))

    def on_key(e: tk.Event) -> str:
        if e.keysym == _FENCE:
            live.fences += 1
            report({"event": "fence", "n": live.fences, "frame": live.frame, "done": met()})
            return "break"
        event = event_of(e.keysym, e.char)
        if event is not None:
            show(live.state.apply(event))
        return "break"

    def poll() -> None:
        while commands is not None and not commands.empty():
            command = commands.get()
            if command.get("cmd") == "state":
                report({"event": "state", "frame": live.frame, "done": met(),
                        "log": [list(entry) for entry in live.state.log]})
            elif command.get("cmd") == "quit":
                root.destroy()
                return
        root.after(10, poll)

    label.bind("<ButtonPress-1>", on_press)
    root.bind("<KeyPress>", on_key)
    root.wait_visibility(label)
    _take_keyboard_focus(root)
    root.update_idletasks()
    root.winfo_pointerxy()
    report({"event": "ready", "size": [width, height], "position": list(position), "digest": live.digest})
    root.after(10, poll)
    root.mainloop()
    return live.state


def _take_keyboard_focus(root: Any) -> None:
    """Give the window the X input focus (Tk will not for an override-redirect window), then Tk's focus.

    python-xlib (a pyautogui dependency) sets it with revert-to PointerRoot, so when the window goes away the display
    is back to PointerRoot, where it was; without python-xlib, keys reach the window only under the pointer.
    """
    try:
        from Xlib import X
        from Xlib.display import Display
    except ImportError:
        root.focus_force()
        return
    with contextlib.redirect_stdout(sys.stderr):  # python-xlib prints a warning on an empty XAUTHORITY file
        display = Display()
    try:
        display.set_input_focus(int(root.wm_frame(), 16), X.RevertToPointerRoot, X.CurrentTime)
        display.sync()
    finally:
        display.close()
    root.update()
    root.focus_force()


# -- the subprocess and its handle ----------------------------------------------------------------------------------


@dataclass
class WindowHandle:
    """The running window of one task (from `open_window`).

    episode: the task (instruction, goal, gold steps); size / position: the window's, in screen pixels.
    events: everything the window reported so far, in order.
    """

    proc: subprocess.Popen[str]
    episode: Episode
    position: tuple[int, int]
    _queue: "queue.Queue[dict[str, Any]]"
    events: list[dict[str, Any]] = field(default_factory=list)
    _fences: int = 0

    @property
    def instruction(self) -> str:
        return self.episode.instruction

    @property
    def size(self) -> tuple[int, int]:
        return self.episode.spec.size

    @property
    def done(self) -> bool:
        """Whether the window has reported that the task's goal is met."""
        self._drain()
        return any(e.get("event") == "done" for e in self.events)

    def _drain(self) -> None:
        while not self._queue.empty():
            self.events.append(self._queue.get_nowait())

    def wait_for(self, event: str, timeout_s: float = EVENT_TIMEOUT_S, **match: Any) -> dict[str, Any]:
        """The first reported event named `event` whose fields equal `match` (waiting up to `timeout_s`)."""
        deadline = time.monotonic() + timeout_s
        checked = 0
        while True:
            self._drain()
            for e in self.events[checked:]:
                if e.get("event") == event and all(e.get(k) == v for k, v in match.items()):
                    return e
                if e.get("event") == "exit":
                    raise RuntimeError(f"the synthdesk window exited: {e}")
            checked = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {event!r} event matching {match!r} in {timeout_s} s; last: {self.events[-5:]}")
            try:
                self.events.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                pass

    def send(self, command: str) -> None:
        """Send a command ("state" or "quit")."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": command}) + "\n")
        self.proc.stdin.flush()

    def sync(self, timeout_s: float = EVENT_TIMEOUT_S) -> dict[str, Any]:
        """Wait until the window has handled (and drawn) all input sent so far; return its "fence" event.

        Presses F12 with xdotool: X delivers input in order, so every click and key sent before it was handled
        when the fence is reported.
        """
        xdotool = shutil.which("xdotool")
        if xdotool is None:
            raise FileNotFoundError("WindowHandle.sync needs xdotool (Debian: apt-get install xdotool)")
        self._fences += 1
        subprocess.run([xdotool, "key", _FENCE], check=True, timeout=timeout_s)
        return self.wait_for("fence", timeout_s=timeout_s, n=self._fences)


@contextmanager
def open_window(split: Split, seed: int, index: int, kind: Kind, *, template: str | None = None,
                position: tuple[int, int] = (0, 0), timeout_s: float = START_TIMEOUT_S) -> Iterator[WindowHandle]:
    """Run the window of task (split, seed, index, kind) on the current DISPLAY in a subprocess; yield its handle
    once it is mapped and has focus; stop it on exit."""
    episode = generate(split, seed, index, kind, template=template)
    argv = [sys.executable, "-m", "tasks.synthdesk.tkapp", "--split", split, "--seed", str(seed), "--index",
            str(index), "--kind", kind, "--x", str(position[0]), "--y", str(position[1])]
    if template is not None:
        argv += ["--template", template]
    with json_events(argv, os.environ) as (proc, events):
        handle = WindowHandle(proc, episode, position, events)
        handle.wait_for("ready", timeout_s=timeout_s)
        yield handle


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.synthdesk.tkapp --seed S --index I --kind K`: the window of one task (events on stdout)."""
    parser = argparse.ArgumentParser(prog="python -m tasks.synthdesk.tkapp", description=main.__doc__)
    parser.add_argument("--split", choices=("heldout", "train"), default="heldout", help="Default: heldout")
    parser.add_argument("--seed", type=int, default=0, help="Default: 0")
    parser.add_argument("--index", type=int, default=0, help="task number. Default: 0")
    parser.add_argument("--kind", choices=("grounding", "episode", "memory"), default="episode",
                        help="Default: episode")
    parser.add_argument("--template", default=None, help="force a task template. Default: drawn")
    parser.add_argument("--x", type=int, default=0, help="window left, screen pixels. Default: 0")
    parser.add_argument("--y", type=int, default=0, help="window top, screen pixels. Default: 0")
    args = parser.parse_args(argv)
    episode = generate(args.split, args.seed, args.index, args.kind, template=args.template)
    commands: queue.Queue[dict[str, Any]] = queue.Queue()

    def read_stdin() -> None:  # a plain thread may not touch Tk: it only queues, the Tk loop polls
        for line in sys.stdin:
            commands.put(json.loads(line))
        commands.put({"cmd": "quit"})

    def report(event: dict[str, Any]) -> None:
        if event["event"] == "ready":
            event = {**event, "instruction": episode.instruction}
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    threading.Thread(target=read_stdin, daemon=True).start()
    run_window(episode.steps[0].state, episode.goal, position=(args.x, args.y), report=report, commands=commands)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
