"""Replays through `--endpoint` against `python -m agent serve` of the tiny model saved to a folder.

* The same samples scored in-process and through the endpoint give the same replies and scores: every benchmark with
  the stateless layout on both sides (a `--context stateless` server re-prefills each request, as vLLM does), and the
  single-call benchmarks against in-process `--context incremental` too (one call is the same prompt in both). Where
  they differ: AgentNetBench through the endpoint against an incremental server is not the in-process incremental
  layout (the server continues the first request as it came, [screenshot + instruction], where in-process incremental
  puts the instruction in its own first turn; agent/server/sessions.py), so its replies are not compared.
* `--concurrency 4` writes the same rows as one sample at a time, and reports samples per second.
* The server is killed mid-replay (SIGKILL, after its third answer): the replay stops with exit code 1 and a clear
  message; the server is restarted on the same port and `--resume` completes with the rows and scores of an
  uninterrupted run, no sample lost or written twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _replay import MIND2WEB, bench, comparable, comparable_rows, read_rows, replay  # noqa: F401
from serving import FaultProxy, served

from agent.cli import main

NAME = "tiny-ui-tars"
SMALL = {"min_pixels": 3136, "max_pixels": 50_000, "max_new_tokens": 6}


@pytest.fixture(scope="module")
def stateless_server(tiny_uitars_dir):
    with served(str(tiny_uitars_dir), "--served-model-name", NAME, "--method", "full", "--context", "stateless") as s:
        yield s


def _benchmarks(bench: Path, tmp: Path) -> dict[str, dict[str, Any]]:
    return {
        "screenspot-pro": dict(data=bench / "screenspot-pro", images=bench / "screenspot-pro/images", limit=3),
        "screenspot-v2": dict(data=bench / "screenspot-v2/screenspot_web_v2_records_for_image.json",
                              images=bench / "screenspot-v2/images"),
        "androidcontrol": dict(data=bench / "androidcontrol/android_control_std_first3.jsonl", images=tmp, limit=3,
                               skip_missing=True),
        "mind2web": dict(data=MIND2WEB, images=MIND2WEB / "images", limit=3),
        "agentnetbench": dict(data=bench / "agentnetbench", images=bench / "agentnetbench/images", frames=3),
    }


def _without_costs(rows: list[dict]) -> list[dict]:
    """Rows as compared across engines: everything but the decode FLOPs (no local model config through an endpoint;
    `agent serve` reports the KV cache, so its sizes are compared too)."""
    for row in rows:
        for step in row["steps"]:
            for call in step["calls"]:
                call.pop("decode_flops")
    return rows


@pytest.mark.parametrize("name", ["screenspot-pro", "screenspot-v2", "androidcontrol", "mind2web",
                                       "agentnetbench"])
def test_endpoint_scores_equal_in_process_scores(bench: Path, tmp_path: Path, tiny_uitars_dir: Path,
                                                 stateless_server, name: str) -> None:
    import shutil

    shutil.copy(bench / "androidcontrol/AndroidControl.png", tmp_path / "8193_1.png")
    values = {**_benchmarks(bench, tmp_path)[name], **SMALL, "benchmark": name}
    here, here_rows = replay(tmp_path / "here", model=str(tiny_uitars_dir), methods=("full",), context="stateless",
                             **values)
    there, there_rows = replay(tmp_path / "there", model=NAME, endpoint=stateless_server.url, **values)
    assert there["config"]["endpoint"] == stateless_server.url and there["config"]["methods"] == ["full"]
    assert _without_costs(comparable_rows(there_rows)) == _without_costs(comparable_rows(here_rows))
    assert [r["metrics"] for r in there["runs"]] == [r["metrics"] for r in here["runs"]]
    if name != "agentnetbench":  # one call per sample: the incremental in-process context is the same prompt
        _, incremental = replay(tmp_path / "incremental", model=str(tiny_uitars_dir), methods=("full",), **values)
        assert _without_costs(comparable_rows(incremental)) == _without_costs(comparable_rows(here_rows))


def _eval_args(bench: Path, out: Path, endpoint: str, *extra: str) -> list[str]:
    return ["eval", "screenspot-pro", "--data", str(bench / "screenspot-pro"), "--images",
            str(bench / "screenspot-pro/images"), "--limit", "6", "--model", NAME, "--endpoint", endpoint,
            "--min-pixels", "3136", "--max-pixels", "50000", "--max-new-tokens", "6", "--out", str(out), "-q",
            *extra]


def test_concurrency_writes_the_rows_of_one_at_a_time(bench: Path, tmp_path: Path, stateless_server,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_eval_args(bench, tmp_path / "one", stateless_server.url)) == 0
    assert main(_eval_args(bench, tmp_path / "four", stateless_server.url, "--concurrency", "4")) == 0
    printed = capsys.readouterr().out
    one, four = read_rows(tmp_path / "one"), read_rows(tmp_path / "four")
    assert len(four) == 6 and len({r.key for r in four}) == 6
    assert comparable_rows(four) == comparable_rows(one)
    throughput = json.loads((tmp_path / "four/summary.json").read_text())["throughput"]
    assert throughput["samples"] == 6 and throughput["concurrency"] == 4 and throughput["samples_per_s"] > 0
    assert "samples/s (concurrency 4)" in printed


def test_a_server_killed_mid_replay_then_resume_gives_the_uninterrupted_scores(
        bench: Path, tmp_path: Path, tiny_uitars_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = ("--served-model-name", NAME, "--method", "gui_kv", "--budget", "20")
    with served(str(tiny_uitars_dir), *flags) as server:
        assert main(_eval_args(bench, tmp_path / "whole", server.url, "--concurrency", "2")) == 0
        port = server.port

        # the proxy's 1st answer is the model list, then one per sample: the server dies after its third sample
        with FaultProxy(server.url, after_response=lambda n: n == 4 and server.kill()) as proxy:
            code = main(_eval_args(bench, tmp_path / "cut", proxy.url, "--concurrency", "2", "--max-retries", "1"))
            assert code == 1 and server.proc.poll() is not None
            assert "rerun with --resume to continue" in capsys.readouterr().err
            cut = read_rows(tmp_path / "cut")
            assert 3 <= len(cut) < 6 and len({r.key for r in cut}) == len(cut)

            with served(str(tiny_uitars_dir), *flags, port=port):  # restarted where the proxy expects it
                assert main(_eval_args(bench, tmp_path / "cut", proxy.url, "--concurrency", "2", "--resume")) == 0
    resumed, whole = read_rows(tmp_path / "cut"), read_rows(tmp_path / "whole")
    assert sorted(r.key for r in resumed) == sorted(r.key for r in whole)  # each sample once
    assert comparable_rows(resumed) == comparable_rows(whole)
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("cut", "whole")]
    assert [r["metrics"] for r in comparable(summaries[0])["runs"]] == [
        r["metrics"] for r in comparable(summaries[1])["runs"]]
