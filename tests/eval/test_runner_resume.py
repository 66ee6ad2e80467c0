"""Crash and resume, and sharded runs merged: both must give exactly what one uninterrupted process gives.

The crash is real: a `python -m agent eval` subprocess kills itself with SIGKILL after N rows, in the middle of
writing row N+1 (half a line on disk). Signals are real too: SIGTERM and SIGINT sent to a replay paused at row N+1. The sharded run is two `--shard I/2` subprocesses at once, then
`python -m agent merge`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _replay import MIND2WEB, bench, comparable, comparable_rows, read_rows, write_script  # noqa: F401

import eval.runner
from eval import EvalConfig, run_eval
from eval.results import RESULTS_FILE

REPO = Path(__file__).resolve().parents[2]
MIND2WEB_REPLIES = [
    "Action: click(point='<point>141 343</point>')",
    "Action: scroll(point='<point>644 504</point>', direction='down')",
    "Action: type(content='Paris')",
    "Action: click(point='<point>644 42</point>')\n\ntype(content='blue umbrella')",
    "Action: click(point='<point>1127 157</point>')",
    "Action: scroll(point='<point>644 504</point>', direction='down')",
    "Action: select(point='<point>200 520</point>', content='2 adults')",
    "nothing to do",
]


def _args(out: Path, script: str, *extra: str) -> list[str]:
    return ["eval", "mind2web", "--data", str(MIND2WEB), "--images", str(MIND2WEB / "images"), "--model", script,
            "--method", "gui_kv,full", "--budget", "10,40", "--out", str(out), "-q", *extra]


def _agent(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "agent", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc: subprocess.Popen) -> str:
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    return stdout


# The interrupted process: the real CLI, with ResultsFile.append stopping at row N+1 in one of two ways.
#   kill:  write half of row N+1, then SIGKILL itself (a crash mid-write);
#   pause: say "paused at row N+1" on stderr and wait for a signal (the test sends it).
HARNESS = textwrap.dedent("""
    import os, signal, sys, time
    import eval.results as results
    from agent.cli import main
    MODE, N = sys.argv[1], int(sys.argv[2])
    original = results.ResultsFile.append
    def append(self, row):
        if len(self.rows) == N and MODE == "kill":
            line = row.model_dump_json()
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line[: len(line) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        if len(self.rows) == N and MODE == "pause":
            print(f"paused at row {N + 1}", file=sys.stderr, flush=True)
            while True:  # not signal.pause(): a signal landing just before it would be waited for forever
                time.sleep(0.05)
        original(self, row)
    results.ResultsFile.append = append
    sys.exit(main(sys.argv[3:]))
""")


def _default_sigint() -> None:
    """In the child: SIGINT raises KeyboardInterrupt even when the tests run in a background job, where the shell
    leaves SIGINT ignored and Python then installs no handler for it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _harness(mode: str, n: int, *args: str, **popen: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HARNESS, mode, str(n), *args], cwd=REPO, text=True,
                            preexec_fn=_default_sigint, **popen)  # type: ignore[call-overload]


def test_sigkill_mid_write_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    script = write_script(tmp_path, MIND2WEB_REPLIES)
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    reference = _agent(*_args(whole, script))
    killed = _harness("kill", 5, *_args(crashed, script), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed.communicate(timeout=300)
    _finish(reference)
    assert killed.returncode == -signal.SIGKILL
    data = (crashed / RESULTS_FILE).read_bytes()
    assert data.count(b"\n") == 5 and not data.endswith(b"\n")  # 5 rows and a torn sixth
    assert not (crashed / "summary.json").exists()
    _finish(_agent(*_args(crashed, script, "--resume")))
    rows, expected = read_rows(crashed), read_rows(whole)
    assert len(rows) == 3 * 8 and len({r.key for r in rows}) == len(rows)  # 3 runs x 8 rows, none twice
    assert comparable_rows(rows) == comparable_rows(expected)
    summary = json.loads((crashed / "summary.json").read_text())
    assert comparable(summary) == comparable(json.loads((whole / "summary.json").read_text()))


@pytest.mark.parametrize(("signum", "words"), [(signal.SIGTERM, "stopped by SIGTERM"),
                                               (signal.SIGINT, "stopped by the user (Ctrl-C)")], ids=["term", "int"])
def test_a_signal_mid_run_stops_like_ctrl_c_and_resume_finishes(tmp_path: Path, signum: int, words: str) -> None:
    script = write_script(tmp_path, MIND2WEB_REPLIES)
    out = tmp_path / "out"
    proc = _harness("pause", 5, *_args(out, script), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline() == "paused at row 6\n"  # -q: nothing else is said before
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130 and stdout == ""
    assert stderr == f"{words}; rerun with --resume to continue\n"
    assert len(read_rows(out)) == 5 and not (out / "summary.json").exists()
    _finish(_agent(*_args(out, script, "--resume")))
    rows = read_rows(out)
    assert len(rows) == 3 * 8 and len({r.key for r in rows}) == len(rows)


def test_one_writer_per_output_directory(tmp_path: Path) -> None:
    """A second `eval --resume` on an --out that a live process is writing is refused (it used to write every
    missing sample a second time); so is merging a shard still being written. The lock dies with its process."""
    script = write_script(tmp_path, MIND2WEB_REPLIES)
    s0, s1 = tmp_path / "s0", tmp_path / "s1"
    _finish(_agent(*_args(s1, script, "--shard", "1/2")))
    first = _harness("pause", 2, *_args(s0, script, "--shard", "0/2"), stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
    try:
        assert first.stderr is not None and first.stderr.readline() == "paused at row 3\n"
        second = _agent(*_args(s0, script, "--shard", "0/2", "--resume"))
        stdout, stderr = second.communicate(timeout=120)
        assert second.returncode == 2 and stdout == ""
        assert stderr == (f"error: {s0} is already being written by pid {first.pid}; wait for that process to "
                          "finish (or stop it), or choose another --out\n")
        merging = _agent("merge", str(tmp_path / "m"), str(s0), str(s1))
        assert merging.communicate(timeout=120)[1].endswith(f"being written by pid {first.pid}; merge it once "
                                                            "that process has finished\n")
        assert merging.returncode == 2 and not (tmp_path / "m").exists()
        first.send_signal(signal.SIGKILL)  # the lock goes with the process, however it ends
        first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert len(read_rows(s0)) == 2
    _finish(_agent(*_args(s0, script, "--shard", "0/2", "--resume")))
    rows = read_rows(s0)
    assert len(rows) == 3 * 4 and len({r.key for r in rows}) == len(rows)  # each of its samples once per run
    _finish(_agent("merge", str(tmp_path / "m"), str(s0), str(s1)))
    assert len(read_rows(tmp_path / "m")) == 3 * 8


def test_an_exception_mid_run_then_resume_redoes_only_the_rest(bench: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = EvalConfig.build(benchmark="screenspot-pro", data=bench / "screenspot-pro",
                              images=bench / "screenspot-pro/images", model="tiny", limit=5, budgets=(20.0,),
                              methods=("gui_kv", "full"), min_pixels=3136, max_pixels=30_000, max_new_tokens=4)
    whole = run_eval(config, tmp_path / "whole")
    calls: list[str] = []
    replay = eval.runner.replay_sample

    def failing(sample, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(sample.sample_id)
        if len(calls) == 7:  # the second run's second sample
            raise RuntimeError("CUDA out of memory (injected)")
        return replay(sample, *args, **kwargs)

    monkeypatch.setattr(eval.runner, "replay_sample", failing)
    with pytest.raises(RuntimeError, match="injected"):
        run_eval(config, tmp_path / "crashed")
    assert len(read_rows(tmp_path / "crashed")) == 6
    calls.clear()
    monkeypatch.setattr(eval.runner, "replay_sample", replay)
    resumed = run_eval(config, tmp_path / "crashed", resume=True)
    rows = read_rows(tmp_path / "crashed")
    assert [(r.run, r.index) for r in rows] == [("gui_kv@20", i) for i in range(5)] + [("full", i) for i in range(5)]
    assert comparable_rows(rows) == comparable_rows(read_rows(tmp_path / "whole"))
    assert comparable(resumed) == comparable(whole)


def test_two_sharded_processes_merged_equal_one_process(tmp_path: Path) -> None:
    script = write_script(tmp_path, MIND2WEB_REPLIES)
    single = _agent(*_args(tmp_path / "single", script))
    shards = [_agent(*_args(tmp_path / f"s{i}", script, "--shard", f"{i}/2")) for i in (0, 1)]
    for proc in (single, *shards):
        _finish(proc)
    parts = [read_rows(tmp_path / f"s{i}") for i in (0, 1)]
    assert {r.index % 2 for r in parts[0]} == {0} and {r.index % 2 for r in parts[1]} == {1}
    printed = _finish(_agent("merge", str(tmp_path / "merged"), str(tmp_path / "s1"), str(tmp_path / "s0")))
    assert printed == (tmp_path / "merged/summary.md").read_text()
    merged, expected = read_rows(tmp_path / "merged"), read_rows(tmp_path / "single")
    assert [r.key for r in merged] == [r.key for r in expected]  # same order too: run by run, dataset order
    assert comparable_rows(merged) == comparable_rows(expected)
    assert json.loads((tmp_path / "merged/config.json").read_text()) == json.loads(
        (tmp_path / "single/config.json").read_text())
    assert comparable(json.loads((tmp_path / "merged/summary.json").read_text())) == comparable(
        json.loads((tmp_path / "single/summary.json").read_text()))


def test_launcher_rank_picks_the_shard_and_its_own_directory(tmp_path: Path) -> None:
    script = write_script(tmp_path, MIND2WEB_REPLIES)
    env = {**os.environ, "RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}
    _finish(_agent(*_args(tmp_path / "out", script), env=env))
    saved = json.loads((tmp_path / "out/shard-1-of-2/config.json").read_text())
    assert saved["shard"] == {"index": 1, "count": 2}
    assert {r.index for r in read_rows(tmp_path / "out/shard-1-of-2")} == {1, 3, 5, 7}
