"""The endpoint client's fault handling, through a loopback proxy (`serving.FaultProxy`) in front of a real
`agent serve` process: 503/429, late answers and dropped connections are retried with logged backoff; other 4xx
answers fail at once; a server that keeps failing ends in `EndpointUnavailableError`. Backoff delays are scaled down
to milliseconds; the jitter source is seeded.
"""

from __future__ import annotations

import logging
import random

import pytest
from serving import FaultProxy

from agent.endpoint import ClientOptions, EndpointClient, EndpointError, EndpointUnavailableError

NAME = "tiny-ui-tars"
HELLO = [{"role": "user", "content": "hello"}]
SECRET = "sk-test-1f2e3d4c5b6a"


def _client(proxy: FaultProxy, *, timeout_s: float = 60.0, max_retries: int = 3) -> EndpointClient:
    options = ClientOptions(api_key_env="GUIKV_TEST_KEY", timeout_s=timeout_s, max_retries=max_retries,
                            backoff_s=0.01, backoff_max_s=0.05)
    return EndpointClient(proxy.url, NAME, options, rng=random.Random(0))


@pytest.fixture()
def proxy(tiny_server):
    with FaultProxy(tiny_server.url) as p:
        yield p


def _retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "agent.endpoint" and "retry" in r.getMessage()]


@pytest.mark.parametrize("faults, reason", [
    ([("status", 503), ("status", 503)], "HTTP 503"),
    ([("status", 429)], "HTTP 429"),
    ([("status", 500), ("drop", 0)], "connection failed"),
])
def test_transient_failures_are_retried_with_logged_backoff(proxy: FaultProxy, caplog: pytest.LogCaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch, faults, reason) -> None:
    monkeypatch.setenv("GUIKV_TEST_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    proxy.inject(*faults)
    completion, retries = _client(proxy).complete(HELLO, max_tokens=3)
    assert completion.choices[0].message.content is not None and retries == len(faults)
    assert len(proxy.requests) == len(faults) + 1 and proxy.n_forwarded == 1
    logged = _retries(caplog)
    assert [m.split("; retry ")[1].split(" in ")[0] for m in logged] == [f"{k}/3" for k in range(1, len(faults) + 1)]
    assert reason in logged[-1]
    assert {auth for _, auth in proxy.requests} == {f"Bearer {SECRET}"}  # the key is sent...
    assert SECRET not in caplog.text  # ...and never logged


def test_a_late_answer_times_out_and_is_retried(proxy: FaultProxy, caplog: pytest.LogCaptureFixture) -> None:
    proxy.inject(("delay", 3.0))
    completion, retries = _client(proxy, timeout_s=1.0).complete(HELLO, max_tokens=3)
    assert retries == 1 and completion.choices
    assert "no answer within 1 s" in _retries(caplog)[0]


def test_a_server_that_keeps_failing_ends_the_retries(proxy: FaultProxy) -> None:
    proxy.inject(*[("status", 503)] * 3)
    with pytest.raises(EndpointUnavailableError, match="failed after 2 retries; last: HTTP 503"):
        _client(proxy, max_retries=2).complete(HELLO, max_tokens=3)
    assert len(proxy.requests) == 3 and proxy.n_forwarded == 0


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_a_client_error_fails_at_once(proxy: FaultProxy, caplog: pytest.LogCaptureFixture, status: int) -> None:
    proxy.inject(("status", status))
    with pytest.raises(EndpointError, match=f"refused: HTTP {status}") as info:
        _client(proxy).complete(HELLO, max_tokens=3)
    assert not isinstance(info.value, EndpointUnavailableError)
    assert len(proxy.requests) == 1 and not _retries(caplog)
    if status == 401:
        assert "$GUIKV_TEST_KEY" in str(info.value)


def test_an_unknown_model_is_a_clear_error_without_retries(proxy: FaultProxy) -> None:
    client = EndpointClient(proxy.url, "ui-tars-1.5-7b", ClientOptions(max_retries=3))
    with pytest.raises(EndpointError, match="does not serve model 'ui-tars-1.5-7b'; it serves: tiny-ui-tars"):
        client.check_model("uitars")
    with pytest.raises(EndpointError, match="404"):
        client.complete(HELLO, max_tokens=3)
    assert len(proxy.requests) == 2
