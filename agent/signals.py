"""SIGTERM handled like Ctrl-C: `timeout`, `docker stop`, systemd and `kill` stop a run or a replay cleanly.

Python turns SIGINT into `KeyboardInterrupt`; `sigterm_as_interrupt()` (installed by the CLI around a command) turns
SIGTERM into `Terminated`, a `KeyboardInterrupt` subclass. So every place that stops cleanly on Ctrl-C (the live
loop writes the step in progress, result.json and report.html; a replay keeps its rows and says how to resume) stops
cleanly on SIGTERM too, and tells the two apart by type (`stop_reason`), never by message text.

Python runs signal handlers in the main thread, but the kernel may deliver a signal to any thread that does not block
it; the main thread's blocking call (the sleep of a `wait` action) then goes on to its end. Worker threads we start
call `block_stop_signals()` first, so SIGINT and SIGTERM always reach the main thread at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

logger = logging.getLogger(__name__)

__all__ = ["Terminated", "block_stop_signals", "sigterm_as_interrupt", "stop_reason"]


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop as on Ctrl-C, and say that the process was terminated."""


def stop_reason(interrupt: KeyboardInterrupt) -> str:
    """What stopped the process, in words: "stopped by SIGTERM" or "stopped by the user (Ctrl-C)"."""
    return "stopped by SIGTERM" if isinstance(interrupt, Terminated) else "stopped by the user (Ctrl-C)"


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, the first SIGTERM raises `Terminated` in the main thread; later ones are logged and ignored,
    since the process is already stopping and writing its files. The previous handler comes back on exit. Outside
    the main thread, where Python cannot set signal handlers, the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = False

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        if received:
            logger.warning("SIGTERM again: already stopping, finishing the output files first")
            return
        received = True
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def block_stop_signals() -> None:
    """Block SIGINT and SIGTERM in the calling (worker) thread, so the kernel delivers them to the main thread (a
    ThreadPoolExecutor `initializer`). A no-op where threads have no signal masks (Windows)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
