"""A child process that reports JSON events on stdout: the synthdesk window (`tkapp`) and the tests' probe window.

`json_events(argv, env)` starts it with every stream piped and yields ``(proc, events)``: ``events`` receives each
stdout line parsed, then ``{"event": "exit", "returncode", "stderr"}`` once the child has ended. On leaving, the child
is stopped (`stop`), its reader joined and its pipes closed.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = ["json_events", "stop"]


def stop(proc: subprocess.Popen[Any], grace_s: float = 5.0) -> None:
    """Terminate ``proc`` if it still runs; kill it if it has not exited ``grace_s`` seconds later."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def json_events(argv: list[str], env: Mapping[str, str]) -> Iterator[tuple[subprocess.Popen[str], queue.Queue]]:
    """Run ``argv`` with ``env``; yield the process and the queue of its events (module docstring)."""
    proc = subprocess.Popen(argv, text=True, encoding="utf-8", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(env))
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(proc, events), daemon=True)
    reader.start()
    try:
        yield proc, events
    finally:
        stop(proc)
        reader.join(timeout=5)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _pump(proc: subprocess.Popen[str], events: queue.Queue) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        events.put(json.loads(line))
    stderr = proc.stderr.read() if proc.stderr is not None else ""
    events.put({"event": "exit", "returncode": proc.wait(), "stderr": stderr})
