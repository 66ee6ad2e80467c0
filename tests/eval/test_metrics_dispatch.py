"""The runner-facing entry points: score any sample, record skipped samples, summarise by name; the FIXES table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tasks
from paths import BENCH_DIR
from actions import parse_opencua, parse_uitars
from eval.metrics import (
    FIXES, RECORD_TYPES, SUMMARIZERS, AgentNetScore, AndroidControlScore, GroundingScore, Mind2WebScore,
    score_sample, score_skipped, summarize,
)
from tasks.schema import SkippedSample

DATA = BENCH_DIR


def _skipped(benchmark, sample_id):
    return SkippedSample(sample_id=sample_id, benchmark=benchmark, reason="missing_image", file=Path("/x.png"),
                         detail="no such file", source_file=Path("/a.json"), source_index=3)


def test_every_benchmark_has_a_record_type_and_a_summariser():
    names = {"screenspot-v2", "screenspot-pro", "agentnetbench", "androidcontrol", "mind2web", "synthdesk"}
    assert set(RECORD_TYPES) == set(SUMMARIZERS) == names
    for name in names:
        summary = summarize(name, [])
        assert {"benchmark", "counts", "compat", "fixed", "fixes"} <= set(summary)


def test_unknown_benchmark_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="'nope'"):
        summarize("nope", [])


def test_score_sample_dispatches_on_the_sample_type_and_records_round_trip():
    pro = tasks.load("screenspot-pro", data=DATA / "screenspot-pro", images=DATA / "screenspot-pro/images",
                     skip_missing=True)
    sample = next(iter(pro))
    record = score_sample(sample, parse_uitars("Action: click(start_box='(130,300)')", (3836, 1092)),
                          family="uitars")
    assert isinstance(record, GroundingScore) and record.correct

    episode = next(iter(tasks.load("agentnetbench", data=DATA / "agentnetbench",
                                   images=DATA / "agentnetbench/images")))
    reply = "```python\npyautogui.click(x=421, y=196)\n```"  # OpenCUA pixels on 1288 x 728
    record = score_sample(episode.steps[0], parse_opencua(reply, (1288, 728)), family="opencua")
    assert isinstance(record, AgentNetScore) and record.compat.score == record.fixed.score == 1.0

    line = json.dumps(record.model_dump(mode="json"))
    assert RECORD_TYPES["agentnetbench"].model_validate(json.loads(line)) == record


def test_opencua_android_record_round_trips_int_direction_and_key_content():
    from eval.metrics.androidcontrol_convert import RefPrediction, compat_prediction

    press = compat_prediction(parse_opencua("```python\npyautogui.press('enter')\n```", (100, 100)), "opencua")
    scroll = compat_prediction(parse_opencua("```python\npyautogui.scroll(-5)\n```", (100, 100)), "opencua")
    assert (press.operation, press.content) == ("press", ("enter",))
    assert (scroll.operation, scroll.direction) == ("scroll", -5)
    for pred in (press, scroll):
        assert RefPrediction.model_validate(json.loads(pred.model_dump_json())) == pred


def test_score_sample_rejects_an_episode():
    episode = next(iter(tasks.load("agentnetbench", data=DATA / "agentnetbench",
                                   images=DATA / "agentnetbench/images")))
    with pytest.raises(TypeError, match="AgentNetEpisode"):
        score_sample(episode, None, family="uitars", error="x")  # type: ignore[arg-type]


def test_skipped_samples_become_skipped_records():
    pro = score_skipped(_skipped("screenspot-pro", "autocad_windows_9"))
    assert isinstance(pro, GroundingScore) and pro.status == "skipped" and "missing_image" in pro.error
    android = score_skipped(_skipped("androidcontrol", "7/2"))
    assert isinstance(android, AndroidControlScore) and android.status == "skipped"
    web = score_skipped(_skipped("mind2web", "website/ann-1/uid-9"))
    assert isinstance(web, Mind2WebScore) and (web.split, web.annotation_id) == ("website", "ann-1")
    with pytest.raises(ValueError, match="AgentNetStep.skipped"):
        score_skipped(_skipped("agentnetbench", "t/0"))


def test_agentnet_step_marked_skipped_gives_a_skipped_record():
    episode = next(iter(tasks.load("agentnetbench", data=DATA / "agentnetbench",
                                   images=DATA / "agentnetbench/images")))
    step = episode.steps[0].model_copy(update={"skipped": _skipped("agentnetbench", episode.steps[0].sample_id)})
    record = score_sample(step, None, family="uitars", error="unused")
    assert record.status == "skipped"


def test_fixes_table_is_consistent():
    ids = [f.id for f in FIXES]
    assert len(ids) == len(set(ids))
    for fix in FIXES:
        assert fix.benchmark == "all" or fix.benchmark in RECORD_TYPES
        assert fix.id.startswith(f"{fix.benchmark}.")
        assert fix.spec.startswith("§") and fix.compat and fix.fixed
        assert fix.where in ("scorer", "runner")
    # each §8.1 item that changes scores in the scorers is covered
    specs = " ".join(f.spec for f in FIXES)
    for item in ("§8.1.1", "§8.1.2", "§8.1.3", "§8.1.4", "§8.1.5", "§8.1.6", "§8.1.7", "§8.1.8", "§8.1.9",
                 "§8.1.11"):
        assert item in specs
