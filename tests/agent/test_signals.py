"""`agent.signals`: SIGTERM becomes `Terminated` (a KeyboardInterrupt) inside the block, once; the previous handler
comes back after it. Real signals sent to this process. The CLI behaviour on a real run is in test_live_run.py."""

from __future__ import annotations

import os
import signal
import time

import pytest

from agent.signals import Terminated, sigterm_as_interrupt, stop_reason


def test_sigterm_raises_terminated_once_and_the_old_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with sigterm_as_interrupt():
        with pytest.raises(KeyboardInterrupt) as info:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(500):  # the handler runs within a few bytecodes; bounded, unlike signal.pause()
                time.sleep(0.01)
        assert isinstance(info.value, Terminated) and stop_reason(info.value) == "stopped by SIGTERM"
        os.kill(os.getpid(), signal.SIGTERM)  # a second one while the files are written: ignored
    assert signal.getsignal(signal.SIGTERM) is before
    assert stop_reason(KeyboardInterrupt()) == "stopped by the user (Ctrl-C)"
