"""One writer per output directory: an advisory file lock (`fcntl.flock` on `<out>/.lock`) held while a replay or a
merge writes there. The kernel releases it when the process ends, however it ends (SIGKILL included), so a lock is
never left stale; the pid written in the file only names the holder in the error message.

Without it, two `eval --resume` on one `--out` at once both see the same samples as missing and write each twice.
A second writer is refused at once (ConfigError, exit 2) rather than made to wait: it has nothing to add.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eval.config import ConfigError

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

__all__ = ["LOCK_FILE", "check_not_written", "write_lock"]

LOCK_FILE = ".lock"


def _busy(directory: Path, fd: int, hint: str) -> ConfigError:
    holder = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip() or "unknown"
    return ConfigError(f"{directory} is already being written by pid {holder}; {hint}")


@contextmanager
def write_lock(directory: Path) -> Iterator[None]:
    """Hold the exclusive lock of `directory` (created if missing) for the block; ConfigError naming the holder's
    pid when another process holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        logger.warning("no file locks on this platform: nothing stops two processes writing %s at once", directory)
        yield
        return
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(directory, fd, "wait for that process to finish (or stop it), or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_not_written(directory: Path) -> None:
    """ConfigError when a process holds `directory`'s lock (a replay still writing it); touches nothing."""
    path = directory / LOCK_FILE
    if fcntl is None or not path.is_file():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(directory, fd, "merge it once that process has finished") from None
    finally:
        os.close(fd)
