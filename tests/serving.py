"""Real model servers for tests, and a loopback proxy that injects faults in front of them.

- `served(model, *flags)`: a context manager that starts `python -m agent serve MODEL --host 127.0.0.1 --port 0 ...`
  as its own process (or, with `forced=REPLIES_FILE`, `tests/serve_forced.py`: the same server whose replies are
  forced token by token, as `forcing.ForcedReplies` does in-process), waits for its "serving ... at URL" log line and
  yields a `Server` (its URL, its process, its log so far). The server stops (SIGTERM, then SIGKILL) on exit.
- `FaultProxy(upstream_url)`: a threaded HTTP proxy on 127.0.0.1 (a free port) that forwards every request to the
  server, except that a queue of faults is applied to the next requests in turn: `("status", 503)` answers that status
  without forwarding, `("delay", s)` waits `s` seconds before forwarding (so a client with a shorter timeout gives up),
  `("drop", 0)` closes the connection without an answer. `after_response` runs after each forwarded answer (with the
  count so far), e.g. to kill the server mid-replay. It records each request's path and Authorization header.

Every wait has a timeout; nothing polls with sleeps.
"""

from __future__ import annotations

import http.client
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tasks.synthdesk.child import stop

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 180.0  # importing torch and loading the model on a busy CI machine
_READY = re.compile(r"serving .* at (http://127\.0\.0\.1:(\d+)/v1)")


@dataclass
class Server:
    """A running `agent serve` process: `url` (ends in /v1), `port`, `proc`, and `log` (its stderr lines so far)."""

    url: str
    port: int
    proc: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def kill(self) -> None:
        """SIGKILL: the server dies at once, mid-request if it is in one."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def log_text(self) -> str:
        return "".join(self.log)


@contextmanager
def served(model: str, *flags: str, port: int = 0, forced: Path | None = None) -> Iterator[Server]:
    """Start a server for `model` (module docstring); yield it once it answers; stop it afterwards."""
    head = [str(REPO / "tests" / "serve_forced.py"), str(forced)] if forced is not None else ["-m", "agent"]
    cmd = [sys.executable, *head, "serve", model, "--host", "127.0.0.1", "--port", str(port), *flags]
    proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    log: list[str] = []
    ready: queue.Queue[tuple[str, int] | None] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            match = _READY.search(line)
            if match:
                ready.put((match.group(1), int(match.group(2))))
        ready.put(None)  # the process closed stderr: it exited

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        try:
            started = ready.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            raise TimeoutError(f"agent serve not ready in {START_TIMEOUT_S} s:\n{''.join(log)[-3000:]}") from None
        if started is None:
            raise RuntimeError(f"agent serve exited ({proc.wait()}):\n{''.join(log)[-3000:]}")
        yield Server(url=started[0], port=started[1], proc=proc, log=log)
    finally:
        stop(proc, grace_s=15)
        reader.join(timeout=5)


Fault = tuple[str, float]


class FaultProxy:
    """A loopback proxy in front of `upstream` (a URL; module docstring). Use as a context manager."""

    def __init__(self, upstream: str, after_response: Callable[[int], None] | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.faults: queue.Queue[Fault] = queue.Queue()
        self.after_response = after_response
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization header)
        self.n_forwarded = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._handle(self)

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def inject(self, *faults: Fault) -> None:
        """Apply `faults` to the next requests, one each, in order."""
        for fault in faults:
            self.faults.put(fault)

    def retarget(self, upstream: str) -> None:
        """Forward to another server from now on (e.g. a restarted one)."""
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 80

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self._lock:
            self.requests.append((h.path, h.headers.get("Authorization")))
        try:
            kind, value = self.faults.get_nowait()
        except queue.Empty:
            kind, value = "forward", 0.0
        if kind == "status":
            payload = b'{"error": {"message": "injected by the test proxy", "type": "ServiceUnavailable"}}'
            h.send_response(int(value))
            if int(value) == 429:
                h.send_header("Retry-After", "0")
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        if kind == "drop":
            h.close_connection = True
            h.connection.shutdown(2)
            return
        if kind == "delay":
            time.sleep(value)  # the fault itself: a server that answers late
        self._forward(h, body)

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "connection")}
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=300)
        try:
            conn.request(h.command, h.path, body=body or None, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except OSError:  # the server is gone: so is the answer
            h.close_connection = True
            h.connection.shutdown(2)
            return
        finally:
            conn.close()
        with self._lock:  # counted before the answer is written: a client that has read it sees the count
            self.n_forwarded += 1
            n = self.n_forwarded
        h.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)
        if self.after_response is not None:
            self.after_response(n)

