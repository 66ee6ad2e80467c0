"""`python -m agent study synthdesk`: the whole study end to end on the tiny random model with a very small sweep (two
shard processes per sweep, merged), the generated README section between its markers, and resuming."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from eval.study import SECTION_BEGIN, SECTION_END, TIMINGS_FILE, StudyConfig, readme_section, update_readme


def test_update_readme_replaces_between_the_markers_or_appends(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{SECTION_BEGIN}\nold\n{SECTION_END}\n\n## after\n")
    update_readme(readme, f"{SECTION_BEGIN}\nnew\n{SECTION_END}")
    assert readme.read_text() == f"# title\n\n{SECTION_BEGIN}\nnew\n{SECTION_END}\n\n## after\n"
    bare = tmp_path / "BARE.md"
    bare.write_text("# title\n")
    update_readme(bare, f"{SECTION_BEGIN}\nnew\n{SECTION_END}")
    assert bare.read_text() == f"# title\n\n{SECTION_BEGIN}\nnew\n{SECTION_END}\n"


def test_default_study_sweeps_every_method_with_fidelity_and_the_history_at_one_cap() -> None:
    sweeps = StudyConfig().sweeps()
    budget, history = sweeps["budget"], sweeps["history"]
    assert budget.fidelity and budget.model == "gui-tiny" and budget.benchmark == "synthdesk"
    assert budget.methods == ("full", "random(keep_text=true)", "recency(keep_text=true)", "snapkv(keep_text=true)",
                              "pyramidkv(keep_text=true)", "vlcache(keep_text=true)", "gui_kv(keep_text=true)",
                              "gui_kv(alpha=0,keep_text=true)", "gui_kv(temporal=false,keep_text=true)")
    assert history.max_tokens == (512,) and history.frames == (1, 2, 4, 6) and not history.fidelity
    assert history.methods == ("full", "random", "recency", "snapkv", "gui_kv")  # the cap counts text too
    assert StudyConfig(keep_text=False).sweeps()["budget"].methods == StudyConfig().methods
    assert StudyConfig(methods=("snapkv(keep_text=false)", "gui_kv")).budget_methods() == (
        "snapkv(keep_text=false)", "gui_kv(keep_text=true)")


def _run(method: str, budget: float | None, accuracy: float, top1: float) -> dict[str, Any]:
    return {"method": method, "budget": budget, "max_tokens": None, "frames": 5, "run": f"{method}@{budget}",
            "metrics": {"compat": {"step_accuracy": accuracy, "steps": 90}}, "fidelity": {"top1_agreement": top1}}


def test_findings_compare_gui_kv_with_keep_text_against_baselines_and_its_ablations() -> None:
    runs = [_run("full", None, 0.6, 1.0), _run("random(keep_text=true)", 10.0, 0.4, 0.8),
            _run("gui_kv(keep_text=true)", 10.0, 0.3, 0.7), _run("gui_kv(alpha=0,keep_text=true)", 10.0, 0.5, 0.6)]
    hist = {"runs": [{**_run("gui_kv", None, 0.5, 1.0), "max_tokens": 512, "frames": 2}]}
    section = readme_section({"model": "m", "runs": runs}, hist, {"budget": 60.0}, StudyConfig(), None)
    assert "percent of the screenshot tokens seen kept; every text entry is kept too" in section
    assert "- 10%: best step accuracy gui_kv(alpha=0,keep_text=true) (50.0%); best top-1 agreement " \
           "random(keep_text=true) (80.0%). GUI-KV does not beat random(keep_text=true) (accuracy and agreement " \
           "no higher)." in section
    plain = readme_section({"model": "m", "runs": runs}, hist, {"budget": 60.0},
                           StudyConfig(keep_text=False), None)
    assert "percent of all the tokens seen kept, text included" in plain


def test_memory_steps_get_a_table_and_gui_kv_is_compared_with_its_temporal_ablation_on_them() -> None:
    def run(method: str, budget: float | None, right: int) -> dict[str, Any]:
        out = _run(method, budget, 0.5, 0.9)
        out["metrics"]["compat"]["memory"] = {"correct_steps": right, "steps": 8}
        return out

    runs = [run("full", None, 8), run("snapkv(keep_text=true)", 10.0, 4), run("gui_kv(keep_text=true)", 10.0, 1),
            run("gui_kv(temporal=false,keep_text=true)", 10.0, 5), run("gui_kv(keep_text=true)", 20.0, 2),
            run("gui_kv(temporal=false,keep_text=true)", 20.0, 2)]
    hist = {"runs": [{**_run("gui_kv", None, 0.5, 1.0), "max_tokens": 512, "frames": 2}]}
    section = readme_section({"model": "m", "runs": runs}, hist, {"budget": 60.0}, StudyConfig(), None)
    assert "Memory steps right (of those scored) by method and budget" in section
    assert "| full | 8/8 | 8/8 |" in section and "| snapkv(keep_text=true) | 4/8 |  |" in section
    assert "| gui_kv(keep_text=true) | 1/8 | 2/8 |" in section
    assert "Memory steps: GUI-KV 1/8, without its temporal step 5/8." in section
    assert section.count("Memory steps: GUI-KV") == 1  # equal at 20%: no line
    no_memory = readme_section({"model": "m", "runs": [_run("full", None, 0.6, 1.0)]}, hist, {"budget": 60.0},
                               StudyConfig(), None)
    assert "Memory steps right" not in no_memory


def test_findings_name_methods_that_scored_exactly_alike() -> None:
    def run(method: str, budget: float, accuracy: float, kl: float) -> dict[str, Any]:
        out = _run(method, budget, accuracy, 0.9)
        out["fidelity"]["kl_mean"] = kl
        return out

    runs = [_run("full", None, 0.6, 1.0)] + [
        run(m, b, 0.3 + b / 100, 0.1 / b) for m in ("snapkv", "vlcache") for b in (10.0, 20.0)] + [
        run("random", 10.0, 0.2, 0.03), run("random", 20.0, 0.25, 0.02),
        run("recency", 10.0, 0.2, 0.03), run("recency", 20.0, 0.25, 0.01)]  # alike at 10% only: not a group
    hist = {"runs": [{**_run("gui_kv", None, 0.5, 1.0), "max_tokens": 512, "frames": 2}]}
    section = readme_section({"model": "m", "runs": runs}, hist, {"budget": 60.0}, StudyConfig(), None)
    assert "- snapkv, vlcache scored exactly alike at every budget (accuracy, agreement and KL): most likely the " \
           "same entries were kept." in section
    assert "random, recency scored" not in section and "full scored" not in section


def test_history_table_shows_the_entries_held_and_flags_a_full_cache_over_the_cap() -> None:
    def hist_run(method: str, frames: int, entries: float) -> dict[str, Any]:
        return {**_run(method, None, 0.5, 1.0), "max_tokens": 512, "frames": frames,
                "cost": {"kv_entries_mean": entries}}

    runs = [_run("full", None, 0.6, 1.0), _run("snapkv(keep_text=true)", 10.0, 0.4, 0.8)]
    hist = [hist_run("full", 1, 615.9), hist_run("full", 2, 615.9), hist_run("snapkv", 1, 533.0),
            hist_run("snapkv", 2, 535.3)]
    section = readme_section({"model": "m", "runs": runs}, {"runs": hist}, {"budget": 60.0}, StudyConfig(), None)
    assert "KV entries per head held after each step" in section
    assert "| full | 616 | 616 |" in section and "| snapkv | 533 | 535 |" in section
    assert "- At the cap, full held up to 616 entries per head against at most 535 for the compressing methods" \
        in section
    within = [hist_run("full", 1, 530.0), hist_run("snapkv", 1, 533.0)]
    section = readme_section({"model": "m", "runs": runs}, {"runs": within}, {"budget": 60.0}, StudyConfig(), None)
    assert "the comparison favours full" not in section


def test_study_runs_end_to_end_and_writes_the_readme_section(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    readme = tmp_path / "README.md"
    readme.write_text(f"# project\n\n{SECTION_BEGIN}\nnot run yet\n{SECTION_END}\n\n## next\n")
    argv = ["study", "synthdesk", "--model", "tiny", "--limit", "2", "--seed", "5", "--method", "full,recency",
            "--budget", "30,60", "--history-method", "full,random", "--max-tokens", "600", "--frames", "1,2",
            "--max-new-tokens", "3", "--jobs", "2", "--out", str(tmp_path / "study"), "--images",
            str(tmp_path / "img"), "--readme", str(readme), "-q"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    text = readme.read_text()
    assert text.startswith("# project\n\n" + SECTION_BEGIN) and text.endswith(SECTION_END + "\n\n## next\n")
    assert "not run yet" not in text and printed.strip() in text
    assert "### Compression on synthdesk" in text and "replays 2 held-out synthdesk tasks (seed 5" in text
    assert "it took **" in text and " min** (budget sweep " in text
    assert "| method | 30% | 60% |" in text and "| recency(keep_text=true) |" in text
    assert "![step accuracy against budget, one line per method](docs/study/synthdesk-accuracy-vs-budget.png)" in text
    assert (tmp_path / "docs/study/synthdesk-accuracy-vs-budget.png").stat().st_size > 1000
    assert "at 600 tok per KV head" in text and "| method | 1 | 2 |" in text and "Findings" in text
    budget = json.loads((tmp_path / "study/budget/summary.json").read_text())
    assert [r["run"] for r in budget["runs"]] == ["full", "recency(keep_text=true)@30",
                                                   "recency(keep_text=true)@60"]
    assert all(r["fidelity"]["samples"] == 2 for r in budget["runs"])
    history = json.loads((tmp_path / "study/history/summary.json").read_text())
    assert len(history["runs"]) == 4 and {r["frames"] for r in history["runs"]} == {1, 2}
    assert (tmp_path / "study/study.md").read_text().startswith(SECTION_BEGIN)
    rows = (tmp_path / "study/budget/results.jsonl").read_text()
    first = json.loads((tmp_path / "study" / TIMINGS_FILE).read_text())
    assert set(first) == {"budget", "history"} and all(v > 0 for v in first.values())
    assert main(argv) == 0  # a rerun resumes: nothing is replayed again, the same rows are merged
    assert (tmp_path / "study/budget/results.jsonl").read_text().count("\n") == rows.count("\n") == 6
    # and the time reported is the sweeps' whole time, the first invocation's included
    total = json.loads((tmp_path / "study" / TIMINGS_FILE).read_text())
    assert all(total[k] > first[k] for k in first)
    assert f"it took **{sum(total.values()) / 60:.1f} min**" in readme.read_text()


def test_no_keep_text_reaches_the_config_and_the_command_line_in_the_readme(monkeypatch: pytest.MonkeyPatch,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import eval.study

    seen: list[StudyConfig] = []
    monkeypatch.setattr(eval.study, "run_study", lambda cfg, show_progress: seen.append(cfg) or "section")
    assert main(["study", "synthdesk", "--model", "tiny", "--no-keep-text", "--no-readme", "-q"]) == 0
    assert not seen[0].keep_text and seen[0].budget_methods() == StudyConfig().methods
    assert seen[0].command == "python -m agent study synthdesk --model tiny --no-keep-text --no-readme"
    assert main(["study", "synthdesk", "--no-readme", "-q"]) == 0 and seen[1].keep_text
