"""End-to-end replays of each benchmark's real sample (Mind2Web: the synthetic fixture) with a scripted model whose
replies are known, so every score is computed by hand below.

Coordinates in the scripts are pixels on the smart-resized image the model sees (factor 28, min 78,400 pixels):
1280x720 -> 1288x728, 2560x1440 -> 2548x1428, 3840x1080 -> 3836x1092, 1080x2400 -> 1092x2408, 1280x1000 -> 1288x1008.
A scripted reply is picked by position: sample p (AgentNetBench: step p of the dataset) gets reply p.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from _replay import MIND2WEB, bench, replay, run_metrics, write_script  # noqa: F401 (bench is a fixture)

from eval.results import ResultRow


def _script(tmp_path: Path, replies: list[str]) -> str:
    return write_script(tmp_path, replies)


def _run(tmp_path: Path, **values) -> tuple[dict, list[ResultRow]]:
    return replay(tmp_path / "out", **values)


def _metrics(summary: dict, run: str = "gui_kv@10") -> dict:
    return run_metrics(summary, run)


AGENTNET_SCRIPT = [
    "Thought: click the search box\nAction: click(point='<point>421 196</point>')",  # inside the bbox: 1
    "Action: type(content='george orwell')",  # exact text: 1
    "Action: click(point='<point>744 196</point>')",  # outside the bbox, 0.05 right of the target (milestone)
    "Action: drag(start_point='<point>1000 338</point>', end_point='<point>1000 500</point>')",  # GT starts moveTo
    "I am not sure what to do here.",  # no action: a parse failure, recorded as data
    "Action: click(point='<point>937 139</point>')",  # inside the bbox: 1
    "Action: finished(content='success')",  # terminate success: 1
]


def _partial_score() -> float:
    """Step 3: the point (744/1288, 196/728) against the GT position (0.5276, 0.2694), outside every box."""
    d = math.hypot(744 / 1288 - 0.5276, 196 / 728 - 0.2694)
    return math.exp(-120 * (d - 0.01 * math.sqrt(2)))


@pytest.mark.parametrize("context", ["incremental", "stateless"])
def test_agentnetbench_script_scores_every_step(bench: Path, tmp_path: Path, context: str) -> None:
    summary, rows = _run(tmp_path, benchmark="agentnetbench", data=bench / "agentnetbench",
                         images=bench / "agentnetbench/images", model=_script(tmp_path, AGENTNET_SCRIPT),
                         context=context)
    (row,) = rows
    assert row.sample_id == "s_df0fd37049f470c2" and row.status == "failed" and len(row.steps) == 7
    assert [s.score["compat"]["score"] for s in row.steps] == pytest.approx([1, 1, _partial_score(), 0, 0, 1, 1])
    assert [s.score["fixed"]["score"] for s in row.steps] == pytest.approx([1, 1, _partial_score(), 1, 0, 1, 1])
    failed = row.steps[4]
    assert failed.parsed is None and failed.error.startswith("ActionParseError") and failed.score["status"] == "failed"
    assert row.steps[0].calls[0].model_size == (1288, 728) and row.steps[0].calls[0].image_size == (1280, 720)
    compat, fixed = _metrics(summary)["compat"], _metrics(summary)["fixed"]
    assert compat["overall_score"] == pytest.approx((4 + _partial_score()) / 7)
    assert compat["average_trajectory_score"] == pytest.approx((4 + _partial_score()) / 7)
    assert compat["milestone_score"] == pytest.approx(_partial_score()) and compat["milestone_steps"] == 1
    assert compat["action_type_scores"]["moveto"] == 0 and fixed["action_type_scores"]["moveto"] == 1
    # per-type means: compat leaves out the step without a prediction (step 5), fixed counts it as 0
    assert compat["action_type_scores"]["click"] == pytest.approx((1 + _partial_score() + 1) / 3)
    assert fixed["action_type_scores"]["click"] == pytest.approx((1 + _partial_score() + 0 + 1) / 4)
    assert fixed["overall_score"] == pytest.approx((5 + _partial_score()) / 7)
    assert _metrics(summary)["counts"] == {"records": 7, "ok": 6, "failed": 1, "skipped": 0}


def test_screenspot_v2_script(bench: Path, tmp_path: Path) -> None:
    summary, rows = _run(
        tmp_path, benchmark="screenspot-v2", data=bench / "screenspot-v2/screenspot_web_v2_records_for_image.json",
        images=bench / "screenspot-v2/images", methods=("full",),
        model=_script(tmp_path, ["Action: click(point='<point>2090 149</point>')", "Action: nothing"]))
    assert [r.status for r in rows] == ["ok", "failed"] and {r.run for r in rows} == {"full"}
    assert rows[0].steps[0].calls[0].model_size == (2548, 1428)
    assert rows[0].steps[0].score["xy"] == pytest.approx([2090 / 2548, 149 / 1428])
    # (0.820, 0.104) lies in [0.758, 0.927] x [0.081, 0.128]
    assert [r.steps[0].score["correct"] for r in rows] == [True, False]
    compat, fixed = _metrics(summary, "full")["compat"], _metrics(summary, "full")["fixed"]
    assert compat["overall_accuracy"] == 0.5 and compat["text_accuracy"] is None  # both records are icons
    assert compat["total_samples"] == 1 and compat["wrong_format"] == 1
    assert fixed["overall_accuracy"] == 0.5 and fixed["by_split"]["web"] == {"n": 2, "correct": 1, "accuracy": 0.5}


def test_screenspot_pro_script_with_skipped_samples(bench: Path, tmp_path: Path) -> None:
    replies = [
        "Action: click(point='<point>131 297</point>')",  # record 0 (text): centre of its box
        "Action: click(point='<point>2000 500</point>')",  # record 1 (text): far away
        "no action here",  # record 2 (text): parse failure
        "Action: click(point='<point>295 84</point>')",  # record 3 (icon): centre
        "Action: click(point='<point>201 81</point>')",  # record 4 (icon): centre
        "Action: click(point='<point>294 116</point>')",  # record 5 (text): centre
    ]
    summary, rows = _run(tmp_path, benchmark="screenspot-pro", data=bench / "screenspot-pro",
                         images=bench / "screenspot-pro/images", model=_script(tmp_path, replies), limit=8,
                         skip_missing=True, budgets=(5.0,))
    assert [r.status for r in rows] == ["ok", "ok", "failed", "ok", "ok", "ok", "skipped", "skipped"]
    assert [r.steps[0].score["correct"] for r in rows[:6]] == [True, False, False, True, True, True]
    assert rows[6].steps[0].calls == () and "missing_image" in rows[6].steps[0].error
    metrics = _metrics(summary, "gui_kv@5")
    assert metrics["counts"] == {"records": 8, "ok": 5, "failed": 1, "skipped": 2}
    compat = metrics["compat"]
    assert compat["overall_accuracy"] == pytest.approx(4 / 6)
    assert compat["text_accuracy"] == pytest.approx(2 / 4) and compat["icon_accuracy"] == 1.0
    assert compat["leaderboard_simple_style"]["group:CAD"]["action_acc"] == pytest.approx(4 / 6)


def test_androidcontrol_script_on_std_episodes(bench: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for name in ("8193_0", "8193_1", "8193_2", "8193_6", "8193_7"):  # the other 12 steps have no screenshot
        shutil.copy(bench / "androidcontrol/AndroidControl.png", images / f"{name}.png")
    replies = ["Action: wait()"] * 17
    replies[0] = "Action: press_back()"  # navigate_back: correct
    replies[1] = "Action: click(point='<point>546 2281</point>')"  # (540, 2273.4) px: in the smallest GT box
    replies[2] = "Action: click(point='<point>100 100</point>')"  # outside the GT box
    replies[6] = "Action: wait()"  # wait: correct
    replies[7] = "Action: type(content='Sculpture art')"  # input_text: never correct in compat, correct in fixed
    summary, rows = _run(tmp_path, benchmark="androidcontrol",
                         data=bench / "androidcontrol/android_control_std_first3.jsonl", images=images,
                         model=_script(tmp_path, replies), skip_missing=True)
    assert len(rows) == 17 and sum(r.status == "skipped" for r in rows) == 12
    scored = {r.sample_id: r.steps[0].score for r in rows if r.status != "skipped"}
    assert [s["compat"]["correct"] for s in scored.values()] == [True, True, False, True, False]
    assert [s["fixed"]["correct"] for s in scored.values()] == [True, True, False, True, True]
    compat, fixed = _metrics(summary)["compat"], _metrics(summary)["fixed"]
    assert compat["step_accuracy"] == pytest.approx(3 / 5) and fixed["step_accuracy"] == pytest.approx(4 / 5)
    # compat pairs the 5 verdicts with the first 5 ground-truth types (skipped steps included): 8193/1-4 are clicks
    assert (compat["correct_grounding_steps"], compat["grounding_steps"]) == (2, 4)
    assert (fixed["correct_grounding_steps"], fixed["grounding_steps"]) == (2, 3)  # 8193/1, 8193/2, 8193/7


def test_mind2web_script_with_the_scroll_loop(tmp_path: Path) -> None:
    replies = [
        "Action: click(point='<point>141 343</point>')",  # row 0: inside its box
        "Action: click(point='<point>100 100</point>')",  # row 1: wrong element
        "Action: type(content='Paris')",  # row 2 (TYPE): right text, no point
        "Action: click(point='<point>644 42</point>')\n\ntype(content='blue umbrella')",  # row 3 (TYPE)
        "Action: click(point='<point>1127 157</point>')",  # row 4: inside its box
        "Action: scroll(point='<point>644 504</point>', direction='down')",  # row 5, call 1: block 0 -> 1
        "Action: scroll(point='<point>644 504</point>', direction='down')",  # row 5, call 2: block 1 -> 2
        "Action: click(point='<point>463 119</point>')",  # row 5, call 3: on its target in block 2
    ]
    summary, rows = _run(tmp_path, benchmark="mind2web", data=MIND2WEB, images=MIND2WEB / "images",
                         model=_script(tmp_path, replies), limit=6)
    assert [r.index for r in rows] == list(range(6))
    last = rows[5].steps[0]
    assert [c.block_index for c in last.calls] == [0, 1, 2] and last.score["block_index"] == 2
    compat = [(s.score["compat"]["element"], s.score["compat"]["f1"], s.score["compat"]["step"])
              for r in rows for s in r.steps]
    fixed = [(s.score["fixed"]["element"], s.score["fixed"]["f1"], s.score["fixed"]["step"])
             for r in rows for s in r.steps]
    assert compat == [(True, 1, True), (False, 1, False), (False, 1, False), (True, 0, False), (True, 1, True),
                      (False, 1, False)]
    assert fixed == [(True, 1, True), (False, 1, False), (False, 1, False), (True, 1, True), (True, 1, True),
                     (True, 1, True)]
    m = _metrics(summary)
    # compat: cumulative splits domain {C}, + task {C, D}, + website {C, D, A}; tasks C = rows 0-1, D = 2, A = 3-5
    assert [b["step_accuracy"] for b in m["compat"]["task_breakdown"]] == pytest.approx([0.5, 0.25, (0.5 + 1 / 3) / 3])
    assert m["compat"]["overall_metrics"]["step_accuracy"] == pytest.approx((0.5 + 0.25 + (0.5 + 1 / 3) / 3) / 3)
    assert m["compat"]["overall_metrics"]["element_accuracy"] == pytest.approx((0.5 + 0.25 + (0.5 + 2 / 3) / 3) / 3)
    assert m["fixed"]["overall_metrics"] == pytest.approx(
        {"element_accuracy": 0.5, "operation_f1": 1.0, "step_accuracy": 0.5})


def test_summary_files_cover_every_run(bench: Path, tmp_path: Path) -> None:
    summary, rows = _run(tmp_path, benchmark="agentnetbench", data=bench / "agentnetbench",
                         images=bench / "agentnetbench/images", model=_script(tmp_path, AGENTNET_SCRIPT),
                         methods=("gui_kv", "snapkv", "full"), budgets=(1.0, 3.0))
    assert [r["run"] for r in summary["runs"]] == ["gui_kv@1", "gui_kv@3", "snapkv@1", "snapkv@3", "full"]
    assert len(rows) == 5 and json.loads((tmp_path / "out/summary.json").read_text()) == summary
    report = (tmp_path / "out/summary.md").read_text()
    assert "| method | 1% | 3% |" in report and "| snapkv@3 | 3 | 7 | 0 |" in report  # 7 steps scored
    saved = json.loads((tmp_path / "out/config.json").read_text())
    assert saved["methods"] == ["gui_kv", "snapkv", "full"] and saved["max_new_tokens"] == 1000


def test_agentnetbench_missing_screenshot_is_a_skipped_step(bench: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    shutil.copytree(bench / "agentnetbench/images", images)
    (images / "s_df0fd37049f470c2_6.png").unlink()  # step index 3 (the drag) has no screenshot any more
    summary, rows = _run(tmp_path, benchmark="agentnetbench", data=bench / "agentnetbench", images=images,
                         model=_script(tmp_path, AGENTNET_SCRIPT), skip_missing=True)
    steps = rows[0].steps
    assert steps[3].score["status"] == "skipped" and steps[3].calls == () and "image not found" in steps[3].error
    # the other steps keep their own replies
    assert [s.score["compat"]["score"] for s in steps] == pytest.approx([1, 1, _partial_score(), 0, 0, 1, 1])
    compat, fixed = _metrics(summary)["compat"], _metrics(summary)["fixed"]
    assert compat["overall_score"] == pytest.approx((4 + _partial_score()) / 6)
    assert compat["average_trajectory_score"] == pytest.approx((4 + _partial_score()) / 7)  # counts the skipped step
    assert compat["total_steps"] == 7 and fixed["total_steps"] == 6 and fixed["skipped_steps"] == 1
    assert fixed["average_trajectory_score"] == pytest.approx((4 + _partial_score()) / 6)
