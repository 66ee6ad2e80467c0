"""`python -m agent eval` / `merge`: help, environment-variable defaults, exit codes and messages for bad flags."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _replay import MIND2WEB, bench, write_script  # noqa: F401 (bench is a fixture)

from agent.cli import main

REPO = Path(__file__).resolve().parents[2]


def _mind2web(out: Path, script: str, *extra: str) -> list[str]:
    return ["eval", "mind2web", "--data", str(MIND2WEB), "--images", str(MIND2WEB / "images"), "--model", script,
            "--out", str(out), "-q", *extra]


def test_help_lists_the_replay_flags() -> None:
    done = subprocess.run([sys.executable, "-m", "agent", "eval", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0
    for flag in ("--budget", "--shard", "--resume", "--limit", "--frames", "--context", "--skip-missing",
                 "--max-new-tokens", "AGENTNETBENCH_DATA", "SCREENSPOTPRO_IMGS"):
        assert flag in done.stdout
    merge = subprocess.run([sys.executable, "-m", "agent", "merge", "--help"], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
    assert merge.returncode == 0 and "shard" in merge.stdout


def test_environment_variables_are_the_data_defaults(bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AGENTNETBENCH_DATA", str(bench / "agentnetbench"))
    monkeypatch.setenv("AGENTNETBENCH_IMGS", str(bench / "agentnetbench/images"))
    script = write_script(tmp_path, ["Action: wait()"])
    assert main(["eval", "agentnetbench", "--model", script, "--out", str(tmp_path / "out"), "-q"]) == 0
    saved = json.loads((tmp_path / "out/config.json").read_text())
    assert saved["data"] == str(bench / "agentnetbench") and saved["images"] == str(bench / "agentnetbench/images")
    printed = capsys.readouterr().out
    assert printed.startswith("### agentnetbench") and "| gui_kv@10 | 10 | 7 | 0 |" in printed


def test_missing_data_path_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SCREENSPOT_TEST", raising=False)
    assert main(["eval", "screenspot-v2", "--model", "tiny", "--out", str(tmp_path / "o")]) == 2
    assert "--data is required for screenspot-v2 (or set the environment variable SCREENSPOT_TEST)" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("flags,message", [
    (["--shard", "2/2"], "--shard '2/2': expected I/N with 0 <= I < N"),
    (["--shard", "one/two"], "--shard 'one/two': expected I/N"),
    (["--budget", "0"], "--budget '0': 0 is outside (0, 100]"),
    (["--budget", "10,abc"], "--budget '10,abc': 'abc' is not a number"),
    (["--budget", "150"], "150 is outside (0, 100]"),
    (["--method", "gui_kv,h2o"], "--method 'h2o': unknown method 'h2o'; allowed: full, random, recency,"),
    (["--limit", "0"], "limit: Input should be greater than or equal to 1"),
    (["--max-new-tokens", "0"], "max_new_tokens"),
    (["--min-pixels", "20000", "--max-pixels", "10000"],
     "error: --min-pixels 20000 is larger than --max-pixels 10000; the floor must not exceed the cap\n"),
])
def test_bad_flags_exit_2_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               flags: list[str], message: str) -> None:
    assert main(_mind2web(tmp_path / "out", "tiny", *flags)) == 2
    err = capsys.readouterr().err
    assert message in err and "'benchmark'" not in err  # the values at fault, never the whole config
    assert not (tmp_path / "out").exists()


def test_existing_results_need_resume_and_the_same_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    script = write_script(tmp_path, ["Action: click(point='<point>10 10</point>')"])
    out = tmp_path / "out"
    assert main(_mind2web(out, script, "--limit", "2")) == 0
    assert main(_mind2web(out, script, "--limit", "2")) == 2
    assert "already holds results; pass --resume" in capsys.readouterr().err
    assert main(_mind2web(out, script, "--limit", "1", "--resume")) == 2
    assert ("different configuration (limit: saved 2, now 1; a resume may raise --limit or drop it, not lower it)"
            in capsys.readouterr().err)
    assert main(_mind2web(out, script, "--limit", "2", "--resume", "--budget", "20")) == 2
    assert "budgets: saved [10.0], now [20.0]; a resume may add budgets, not drop them" in capsys.readouterr().err
    assert main(_mind2web(out, script, "--limit", "2", "--resume", "--context", "stateless")) == 2
    assert "context: saved 'incremental', now 'stateless')" in capsys.readouterr().err  # alters what a row means
    assert main(_mind2web(out, script, "--limit", "2", "--resume")) == 0  # nothing left to do: summary again
    assert len((out / "results.jsonl").read_text().splitlines()) == 2


def test_resume_may_widen_the_limit_and_add_skip_missing_budgets_and_methods(
        bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = write_script(tmp_path, ["Action: click(start_box='(10,10)')"])
    args = ["eval", "screenspot-pro", "--data", str(bench / "screenspot-pro"), "--images",
            str(bench / "screenspot-pro/images"), "--model", script, "--out", str(tmp_path / "out"), "-q"]
    assert main([*args, "--limit", "2"]) == 0
    assert main([*args, "--limit", "7", "--resume"]) == 1  # sample 7's image is missing
    assert main([*args, "--limit", "7", "--resume", "--skip-missing", "--method", "gui_kv,full",
                 "--budget", "10,20"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out/results.jsonl").read_text().splitlines()]
    assert sorted(r["run"] for r in rows) == sorted(["gui_kv@10"] * 7 + ["gui_kv@20"] * 7 + ["full"] * 7)
    assert len({(r["run"], r["sample_id"]) for r in rows}) == 21  # nothing written twice
    saved = json.loads((tmp_path / "out/config.json").read_text())
    assert (saved["limit"], saved["skip_missing"], saved["budgets"]) == (7, True, [10.0, 20.0])
    assert "| full | – | 6 | 1 |" in capsys.readouterr().out


def test_a_missing_image_stops_with_a_hint_unless_skipped(bench: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    script = write_script(tmp_path, ["Action: click(point='<point>10 10</point>')"])
    args = ["eval", "screenspot-pro", "--data", str(bench / "screenspot-pro"), "--images",
            str(bench / "screenspot-pro/images"), "--model", script, "--limit", "7", "-q"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "autocad_windows_6" in err and "pass --skip-missing" in err
    assert len((tmp_path / "a/results.jsonl").read_text().splitlines()) == 6  # the work done stays written
    assert main([*args, "--out", str(tmp_path / "b"), "--skip-missing"]) == 0


def test_summary_md_of_full_alone_has_its_column_and_counts_skipped_samples(
        bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = write_script(tmp_path, ["Action: click(start_box='(10,10)')"])
    assert main(["eval", "screenspot-pro", "--data", str(bench / "screenspot-pro"), "--images",
                 str(bench / "screenspot-pro/images"), "--model", script, "--limit", "7", "--method", "full",
                 "--skip-missing", "--out", str(tmp_path / "out"), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "| method | full cache |\n|---|---:|\n| full | 0.00 |\n" in printed  # was "| method |  |" / "|---|"
    assert "| run | budget % | scored | skipped | compat %" in printed
    assert "\n| full | – | 6 | 1 | 0.00 | 0.00 |" in printed  # accuracy over the 6 scored; 1 image missing
    assert printed == (tmp_path / "out/summary.md").read_text()


def test_missing_script_and_unavailable_model_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(_mind2web(tmp_path / "a", f"script:{tmp_path / 'nope.txt'}")) == 2
    assert "script file not found" in capsys.readouterr().err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(_mind2web(tmp_path / "b", str(tmp_path / "no-such-model-dir"))) == 2
    assert "--model" in capsys.readouterr().err


def test_merge_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = write_script(tmp_path, ["Action: click(point='<point>10 10</point>')"])
    assert main(_mind2web(tmp_path / "s0", script, "--shard", "0/2")) == 0
    assert main(["merge", str(tmp_path / "m"), str(tmp_path / "s0")]) == 2
    assert "shards 1/2 are missing" in capsys.readouterr().err
    assert main(_mind2web(tmp_path / "s1", script, "--shard", "1/2", "--budget", "20")) == 0
    assert main(["merge", str(tmp_path / "m"), str(tmp_path / "s0"), str(tmp_path / "s1")]) == 2
    err = capsys.readouterr().err
    assert "its config differs" in err and "budgets" in err


def test_merge_refuses_a_short_shard_unless_allowed_and_then_marks_the_summary_partial(
        bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = write_script(tmp_path, ["Action: click(start_box='(10,10)')"])
    args = ["eval", "screenspot-pro", "--data", str(bench / "screenspot-pro"), "--images",
            str(bench / "screenspot-pro/images"), "--model", script, "--limit", "6", "-q"]
    s0, s1, part, merged = (tmp_path / name for name in ("s0", "s1", "part1", "m"))
    for i, out in enumerate((s0, s1)):
        assert main([*args, "--shard", f"{i}/2", "--out", str(out)]) == 0
    shutil.copytree(s1, part)  # shard 1 as an interrupted eval leaves it: 1 of its 3 rows
    rows = (part / "results.jsonl").read_text().splitlines(keepends=True)
    (part / "results.jsonl").write_text(rows[0])
    capsys.readouterr()
    assert main(["merge", str(merged), str(s0), str(part)]) == 2
    err = capsys.readouterr().err
    assert f"incomplete shards ({part}: 2 of 3 results missing)" in err and "--allow-partial" in err
    assert not merged.exists()
    assert main(["merge", str(merged), str(s0), str(part), "--allow-partial"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((merged / "summary.json").read_text())
    assert summary["partial"] == {"n_results": 6, "n_present": 4, "short": {str(part): 2}}
    assert summary["runs"][0]["samples"] == 4
    headline = f"**Partial**: 4 of 6 results (2 missing: {part} 2); merged with --allow-partial."
    assert headline in printed and headline in (merged / "summary.md").read_text()
    assert main(["merge", str(tmp_path / "whole"), str(s0), str(s1)]) == 0  # complete shards: not partial
    assert json.loads((tmp_path / "whole/summary.json").read_text())["partial"] is None
    assert "Partial" not in capsys.readouterr().out
