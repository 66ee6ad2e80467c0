"""A live run on Xvfb through `--endpoint`, against `agent serve --method gui_kv` of the tiny model saved to a folder
(in its own process; `tests/serve_forced.py` forces its replies token by token so the random model acts: `hotkey`
steps, then `finished`).

The run finishes; from step 2 on the server prefilled only the new screenshot (2691 image tokens at 1920x1080 and its
markers) plus the same few tokens of turn text, as the step records show (their prefill counts come from the server's
answers). The API key goes out in the Authorization header but into no log and no file of the run. A server killed
mid-run ends the run with status error, exit code 1 and every step so far on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serving import FaultProxy, served

from agent.cli import main
from agent.trajectory import RunStatus, read_result, read_steps

pytestmark = pytest.mark.desktop

NAME, STEPS = "tiny-ui-tars", 4
ACT = "Thought: look\nAction: hotkey(key='ctrl a')"
FINISH = "Thought: ok\nAction: finished(content='ok')"
IMAGE_PADS, VISION_MARKERS = 2691, 2  # a 1920x1080 screenshot: model image 1932x1092, 69 x 39 merged patches
SECRET = "sk-live-9a8b7c6d5e4f"
SERVE_FLAGS = ("--served-model-name", NAME, "--method", "gui_kv", "--budget", "10", "--frames", "3")


def _replies(tmp_path: Path, texts: list[str]) -> Path:
    path = tmp_path / "replies.json"
    path.write_text(json.dumps(texts))
    return path


def _run(out: Path, endpoint: str, *extra: str) -> int:
    return main(["run", "Select everything in the window", "--endpoint", endpoint, "--model", NAME, "--dry-run",
                 "--max-steps", str(STEPS), "--out", str(out), "--api-key-env", "GUIKV_TEST_KEY", *extra])


def test_a_live_run_through_serve_finishes_prefilling_only_each_new_screenshot(
        desktop, tiny_uitars_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("GUIKV_TEST_KEY", SECRET)
    replies = _replies(tmp_path, [ACT] * (STEPS - 1) + [FINISH])
    with served(str(tiny_uitars_dir), *SERVE_FLAGS, forced=replies) as server, FaultProxy(server.url) as proxy:
        assert _run(tmp_path / "run", proxy.url, "-v") == 0
        server_log = server.log_text()
    out = tmp_path / "run"
    result = read_result(out)
    assert result.status is RunStatus.FINISHED and result.n_steps == STEPS, result.message
    records = read_steps(out)
    assert [r.status.value for r in records] == ["executed"] * (STEPS - 1) + ["finished"]
    assert records[0].geometry.model_size == (1932, 1092)
    prefill = [r.prefill_tokens for r in records]
    text = prefill[1] - IMAGE_PADS - VISION_MARKERS
    assert 0 < text < 32 and prefill[1:] == [IMAGE_PADS + VISION_MARKERS + text] * (STEPS - 1)
    assert prefill[0] > prefill[1] + 500  # the instruction, once
    assert server_log.count("(key): prefilled") == STEPS - 1  # the server continued one session
    config = json.loads((out / "config.json").read_text())
    assert (config["endpoint"], config["model"], config["method"], config["context"]) == (
        proxy.url, NAME, "full", "stateless")
    assert {auth for _, auth in proxy.requests} == {f"Bearer {SECRET}"}
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err + caplog.text
    assert not [p for p in out.iterdir() if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert f"<td>{proxy.url}</td>" in (out / "report.html").read_text()  # the report names the endpoint


def test_a_server_that_dies_mid_run_ends_it_with_error_and_every_step_on_disk(
        desktop, tiny_uitars_dir: Path, tmp_path: Path) -> None:
    replies = _replies(tmp_path, [ACT] * 8)
    with served(str(tiny_uitars_dir), *SERVE_FLAGS, forced=replies) as server:
        # answer 1 is the model list, then one per step: the server dies after answering step 2
        with FaultProxy(server.url, after_response=lambda n: n == 3 and server.kill()) as proxy:
            assert _run(tmp_path / "run", proxy.url, "--max-retries", "1") == 1
    result = read_result(tmp_path / "run")
    assert result.status is RunStatus.ERROR and "failed after 1 retries" in result.message
    records = read_steps(tmp_path / "run")
    assert [(r.step, r.status.value) for r in records] == [(1, "executed"), (2, "executed"), (3, "error")]
    assert (tmp_path / "run/step_003.png").is_file() and (tmp_path / "run/report.html").is_file()
