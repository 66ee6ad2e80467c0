"""Trajectory: step records in every coordinate space, flushed JSONL, screenshots, result.json and report.html."""

from __future__ import annotations

import base64
import json
import re

import pytest
from PIL import Image

from actions.coords import ScreenGeometry
from actions.schema import Click, Drag, Scroll, Type
from agent.report import write_report
from agent.trajectory import (
    ActionRecord, RunResult, RunStatus, StepRecord, StepStatus, Timings, Trajectory, points_of, read_result,
    read_steps,
)

GEO_1080 = ScreenGeometry.for_screenshot(1920, 1080)  # model image 1932x1092


def _record(step: int = 1, **overrides: object) -> StepRecord:
    click = Click(xy=GEO_1080.from_model(966, 546), source="click(start_box='(966,546)')")
    values: dict[str, object] = dict(
        step=step, screenshot=f"step_{step:03d}.png", geometry=GEO_1080,
        raw_output="Thought: <b>go</b>\nAction: click(start_box='(966,546)')",
        actions=(ActionRecord(action=click, points=points_of(click, GEO_1080), exec_status="ok",
                              xy_input=(960, 540)),),
        timings=Timings(capture_s=0.01, parse_s=0.001), status=StepStatus.EXECUTED,
    )
    values.update(overrides)
    return StepRecord(**values)  # type: ignore[arg-type]


def test_points_in_every_coordinate_space() -> None:
    click = Click(xy=GEO_1080.from_model(966, 546))
    p = points_of(click, GEO_1080)["xy"]
    assert p.xy == (0.5, 0.5)
    assert p.xy_model == (966.0, 546.0) and p.xy_screen == (960.0, 540.0) and p.xy_input == (960, 540)


def test_points_on_a_hidpi_second_monitor() -> None:
    geo = ScreenGeometry.for_screenshot(3840, 2160, origin=(1920, 0), input_size=(1920, 1080))
    drag = Drag(xy_start=(0.5, 0.5), xy_end=(0.25, 1.0))
    pts = points_of(drag, geo)
    assert set(pts) == {"xy_start", "xy_end"}
    assert pts["xy_start"].xy_screen == (1920.0, 1080.0) and pts["xy_start"].xy_input == (2880, 540)
    assert pts["xy_end"].xy_input == (1920 + 480, 1079)  # the last row stays on the monitor
    assert points_of(Type(text="hi"), geo) == {} and points_of(Scroll(direction="up"), geo) == {}


def test_records_are_flushed_as_written_and_round_trip(tmp_path) -> None:
    traj = Trajectory(tmp_path / "run")
    first, second = _record(1), _record(2, status=StepStatus.PARSE_ERROR, actions=(), error="no Action:")
    traj.record(first)
    assert read_steps(tmp_path / "run") == [first]  # readable while the run is still going
    traj.record(second)
    assert read_steps(tmp_path / "run" / "steps.jsonl") == [first, second]
    line = json.loads((tmp_path / "run" / "steps.jsonl").read_text().splitlines()[0])
    assert {"step", "raw_output", "actions", "timings", "prefill_tokens", "kv_cache_bytes", "kv_entries_per_layer",
            "error", "status"} <= set(line)
    assert line["actions"][0]["points"]["xy"]["xy_input"] == [960, 540]
    traj.close()


def test_an_existing_run_is_never_overwritten(tmp_path) -> None:
    Trajectory(tmp_path).close()
    with pytest.raises(FileExistsError, match="steps.jsonl"):
        Trajectory(tmp_path)


@pytest.mark.parametrize("name", ["result.json", "report.html", "config.json", "step_003.png"])
def test_any_file_of_another_run_keeps_the_directory_from_being_reused(tmp_path, name) -> None:
    (tmp_path / name).write_text("another run's file\n")
    with pytest.raises(FileExistsError, match=f"{name if name.endswith(('json', 'html')) else 'step_NNN.png'} of "
                                              "another run; choose another --out"):
        Trajectory(tmp_path)
    assert (tmp_path / name).read_text() == "another run's file\n" and not (tmp_path / "steps.jsonl").exists()


def test_read_steps_names_the_bad_line(tmp_path) -> None:
    (tmp_path / "steps.jsonl").write_text(_record().model_dump_json() + "\n{\"step\": 2}\n")
    with pytest.raises(ValueError, match=r"steps.jsonl:2"):
        read_steps(tmp_path)


def test_finish_writes_screenshots_result_and_a_self_contained_report(tmp_path) -> None:
    traj = Trajectory(tmp_path)
    traj.save_config({"task": "open <the> menu", "model": "script:x"})
    image = Image.new("RGB", (1920, 1080), (10, 20, 30))
    assert traj.save_screenshot(1, image) == "step_001.png"
    traj.record(_record(1))
    result = RunResult(status=RunStatus.FINISHED, message="done", n_steps=1, n_replies=1, started_at=1.0,
                       ended_at=2.5)
    report = traj.finish(result)

    with Image.open(tmp_path / "step_001.png") as saved:
        assert saved.size == (1920, 1080) and saved.getpixel((5, 5)) == (10, 20, 30)
    assert read_result(tmp_path) == result
    assert json.loads((tmp_path / "config.json").read_text())["task"] == "open <the> menu"
    page = report.read_text()
    assert report.name == "report.html"
    assert "open &lt;the&gt; menu" in page and "Thought: &lt;b&gt;go&lt;/b&gt;" in page  # escaped
    png = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert png and base64.b64decode(png.group(1)) == (tmp_path / "step_001.png").read_bytes()
    assert "viewBox='0 0 1920 1080'" in page and "cx='960.0' cy='540.0'" in page  # the click, drawn
    with pytest.raises(RuntimeError, match="closed"):
        traj.record(_record(2))


def test_report_draws_drags_and_scrolls_and_survives_missing_files(tmp_path) -> None:
    drag = Drag(xy_start=(0.25, 0.5), xy_end=(0.75, 0.5))
    scroll = Scroll(direction="down", xy=(0.5, 0.25))
    actions = tuple(ActionRecord(action=a, points=points_of(a, GEO_1080)) for a in (drag, scroll))
    traj = Trajectory(tmp_path)
    traj.record(_record(1, actions=actions))  # its screenshot was never written
    traj.close()
    page = write_report(tmp_path).read_text()
    assert "unfinished (no result.json)" in page and "(screenshot step_001.png missing)" in page

    Image.new("RGB", (1920, 1080)).save(tmp_path / "step_001.png")
    page = write_report(tmp_path).read_text()
    assert "<line x1='480.0' y1='540.0' x2='1440.0' y2='540.0'" in page  # the drag, start to end
    assert "<line x1='960.0' y1='270.0' x2='960.0'" in page and "marker-end='url(#arrow-1-0)'" in page  # scroll
