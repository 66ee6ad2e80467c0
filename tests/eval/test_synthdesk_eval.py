"""`python -m agent eval synthdesk`: scripted replies scored end to end through the runner (known-right and
known-wrong), the per-kind summary with chance levels, the CLI, and a smoke run of the tiny random model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _replay import read_rows, replay, run_metrics, write_script
from PIL import Image

import tasks
from agent.cli import main
from tasks.schema import SynthdeskStep, SynthdeskTask

SEED = 11
LIMIT = 9  # three tasks of each kind


def _tasks(images: Path, limit: int = LIMIT) -> list[SynthdeskTask]:
    return list(tasks.load("synthdesk", None, images, seed=SEED, size=limit, check_images=False))


def _run(tmp_path: Path, replies: list[str], **values: object) -> tuple[dict, list]:
    script = write_script(tmp_path, replies)
    return replay(tmp_path / "out", benchmark="synthdesk", images=tmp_path / "img", model=script, seed=SEED,
                  limit=LIMIT, **values)


def test_gold_replies_score_every_step_and_task_right(tmp_path: Path) -> None:
    gold = _tasks(tmp_path / "img")
    summary, rows = _run(tmp_path, [s.reply for t in gold for s in t.steps])
    assert [r.sample_id for r in rows] == [t.sample_id for t in gold]
    assert all(r.status == "ok" and len(r.steps) == len(t.steps) for r, t in zip(rows, gold))
    m = run_metrics(summary)["compat"]
    assert m["steps"] == sum(len(t.steps) for t in gold) and m["step_accuracy"] == 1.0 and m["task_success"] == 1.0
    assert m["unparsable_rate"] == 0.0 and set(m["by_kind"]) == {"grounding", "episode", "memory"}
    assert m["by_kind"]["grounding"]["tasks"] == 3 and m["memory"]["steps"] == 3
    chance = m["by_kind"]["grounding"]["chance_step"]
    areas = [(s.bbox[2] - s.bbox[0]) * (s.bbox[3] - s.bbox[1]) / (s.image_size[0] * s.image_size[1])
             for t in gold if t.task_kind == "grounding" for s in t.steps]  # type: ignore[index]
    assert chance == pytest.approx(sum(areas) / len(areas))
    assert 0 < m["memory"]["chance_step"] < 1
    report = (tmp_path / "out/summary.md").read_text()
    assert "| memory steps | 3 | 100.00 |" in report and "accuracy by task kind" in report
    looks = [s.look for t in gold if t.task_kind == "grounding" for s in t.steps]
    by_target = m["grounding_by_target"]  # the grounding steps by their target's look, nothing else
    assert sum(b["steps"] for b in by_target.values()) == len(looks) == 3 and set(by_target) == set(looks)
    assert all(look.split()[0] in ("menu", "menuitem", "listitem", "button", "checkbox", "textfield", "icon")
               for look in looks)
    assert "grounding by target" in report and f"| {looks[0]} |" in report
    clicks = [st.score for r in rows for st in r.steps if st.score["gt_type"] == "click"]
    assert clicks and all(s["named"] and s["landed"] is None and s["crowd"] > 0 for s in clicks)
    assert m["grounding_misses"]["wrong"] == 0 and "grounding misses" not in report
    for task in gold:  # the screenshots the runner read are the renders, pixel for pixel
        step = task.steps[-1]
        assert Image.open(step.image).tobytes() == _render(task, step).tobytes()


def _render(task: SynthdeskTask, step: SynthdeskStep) -> Image.Image:
    from tasks.synthdesk import generate

    return generate("heldout", task.seed, task.index, task.task_kind).steps[step.step_idx].state.render().image


def _wrong(step: SynthdeskStep) -> str:
    """A reply of the right action type with a wrong argument (a click one pixel outside the box)."""
    if step.action_type == "click":
        assert step.bbox is not None
        x = step.bbox[2] if step.bbox[2] < step.image_size[0] else step.bbox[0] - 1
        return f"Thought: near miss\nAction: click(start_box='({x},{step.bbox[1]})')"
    if step.action_type == "type":
        return f"Thought: typo\nAction: type(content='{step.text}\\n')"  # the right text, but submitted
    if step.action_type == "hotkey":
        return "Thought: other key\nAction: hotkey(key='tab')"
    return "Thought: keep going\nAction: wait()"


def test_known_wrong_replies_score_zero_and_an_unparsable_one_is_counted(tmp_path: Path) -> None:
    gold = _tasks(tmp_path / "img")
    replies = [_wrong(s) for t in gold for s in t.steps]
    replies[0] = "I would click somewhere"  # no Action: unparsable
    summary, rows = _run(tmp_path, replies)
    m = run_metrics(summary)["compat"]
    assert m["correct_steps"] == 0 and m["successful_tasks"] == 0
    n_steps = sum(len(t.steps) for t in gold)
    assert m["unparsable_rate"] == pytest.approx(1 / n_steps)
    assert rows[0].status == "failed" and rows[0].steps[0].error.startswith("ActionParseError")
    finished = m["by_action_type"]["finished"]
    assert finished["type_accuracy"] == 0.0  # wait() is not finished()
    assert m["by_action_type"]["type"]["type_accuracy"] == 1.0  # type(...) with a submit is still a type


def _hit(step: SynthdeskStep, x: int, y: int):
    return next(w for w in reversed(step.widgets) if w.box[0] <= x < w.box[2] and w.box[1] <= y < w.box[3])


def test_grounding_misses_are_told_by_where_they_landed_and_screens_by_crowding(tmp_path: Path) -> None:
    grounding = [t.steps[0] for t in _tasks(tmp_path / "img") if t.task_kind == "grounding"]
    assert len(grounding) == 3 and all(s.widgets and s.bbox and s.label for s in grounding)
    first, second, third = grounding
    # 1. on another interactive widget, after a Thought that names the target
    other = next(w for w in reversed(first.widgets) if w.interactive and w.label != first.label
                 and _hit(first, int(w.box[0] + w.box[2]) // 2, int(w.box[1] + w.box[3]) // 2) == w)
    ox, oy = int(other.box[0] + other.box[2]) // 2, int(other.box[1] + other.box[3]) // 2
    x1, y1, x2, y2 = first.bbox  # type: ignore[misc]
    off = ("x" if not x1 <= ox < x2 else "") + ("y" if not y1 <= oy < y2 else "")
    # 2. on bare background (a point whose topmost widget does nothing), with a Thought that names another word
    w, h = second.image_size
    bx, by = next((x, y) for y in range(0, h, 7) for x in range(0, w, 7) if not _hit(second, x, y).interactive)
    replies = [f"Thought: Click {first.label.upper()}\nAction: click(start_box='({ox},{oy})')",
               f"Thought: Click nothing\nAction: click(start_box='({bx},{by})')",
               "Thought: Type it\nAction: type(content='123')"]
    summary, rows = _run(tmp_path, replies + [s.reply for t in _tasks(tmp_path / "img") if t.task_kind != "grounding"
                                              for s in t.steps])
    scores = [row.steps[0].score for row in rows if row.sample_id.endswith("grounding")]
    assert [(s["landed"], s["named"]) for s in scores] == [(other.role, True), ("background", False), (None, False)]
    assert scores[0]["off"] == off and scores[2]["off"] is None
    assert [s["crowd"] for s in scores] == [sum(w.interactive for w in g.widgets) for g in grounding]
    m = run_metrics(summary)["compat"]
    assert m["grounding_misses"]["wrong"] == 3 and m["grounding_misses"]["not_a_click"] == 1
    assert m["grounding_misses"]["clicks"] == 2 and m["grounding_misses"]["clicks_named"] == 1
    assert sum(m["grounding_misses"]["landed"].values()) == 2 and m["grounding_misses"]["landed"]["background"] >= 1
    assert sum(b["steps"] for b in m["grounding_by_crowd"].values()) == 3
    assert all(b["correct_steps"] == 0 for b in m["grounding_by_crowd"].values())
    report = (tmp_path / "out/summary.md").read_text()
    assert "grounding by crowding" in report and "grounding misses: 3; 1 without a click (0 unparsable)" in report
    assert all(r.steps[0].score["named"] is None for r in rows if not r.sample_id.endswith("grounding")
               and r.steps[0].score["gt_type"] != "click")


def test_click_on_the_last_pixel_row_of_the_box_is_right(tmp_path: Path) -> None:
    task = _tasks(tmp_path / "img", limit=1)[0]
    (step,) = task.steps
    assert step.bbox is not None
    x1, y1, x2, y2 = step.bbox
    inside = f"Action: click(start_box='({x2 - 1},{y2 - 1})')"
    outside = f"Action: click(start_box='({x1},{y2})')"
    summary, _ = replay(tmp_path / "out", benchmark="synthdesk", images=tmp_path / "img", seed=SEED, limit=1,
                        model=write_script(tmp_path, [inside]))
    assert run_metrics(summary)["compat"]["step_accuracy"] == 1.0
    summary, _ = replay(tmp_path / "out2", benchmark="synthdesk", images=tmp_path / "img", seed=SEED, limit=1,
                        model=write_script(tmp_path, [outside], "wrong.txt"))
    assert run_metrics(summary)["compat"]["step_accuracy"] == 0.0


def test_cli_scores_synthdesk_by_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # default --images is runs/synthdesk, default --out runs/eval/...
    gold = list(tasks.load("synthdesk", None, tmp_path / "x", seed=2, size=3, check_images=False))
    script = write_script(tmp_path, [s.reply for t in gold for s in t.steps])
    assert main(["eval", "synthdesk", "--seed", "2", "--limit", "3", "--model", script, "-q"]) == 0
    (out,) = (tmp_path / "runs/eval").glob("synthdesk-s2_*_incremental")
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 2 and config["images"] == str(tmp_path / "runs/synthdesk")
    assert (tmp_path / "runs/synthdesk/heldout-s2/00001-episode/0.png").is_file()
    assert "| all | " in capsys.readouterr().out
    assert main(["eval", "mind2web", "--seed", "2", "--data", ".", "--images", ".", "--model", script]) == 2
    assert "seed=2 is for synthdesk only" in capsys.readouterr().err


def test_kind_scores_one_kind_alone_with_the_tasks_and_ids_of_the_mixed_set(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    mixed = list(tasks.load("synthdesk", None, tmp_path / "x", seed=2, size=12, check_images=False))
    grounding = list(tasks.load("synthdesk", None, tmp_path / "x", seed=2, size=4, kind="grounding",
                                check_images=False))
    assert [t.sample_id for t in grounding] == ["00000-grounding", "00003-grounding", "00006-grounding",
                                                "00009-grounding"]
    assert grounding == [t for t in mixed if t.task_kind == "grounding"]
    with pytest.raises(ValueError, match="kind='click'"):
        tasks.load("synthdesk", None, tmp_path / "x", size=1, kind="click")
    memory = list(tasks.load("synthdesk", None, tmp_path / "x", seed=2, size=2, kind="memory", check_images=False))
    script = write_script(tmp_path, [s.reply for t in memory for s in t.steps])
    assert main(["eval", "synthdesk", "--seed", "2", "--kind", "memory", "--limit", "2", "--model", script, "-q"]) == 0
    (out,) = (tmp_path / "runs/eval").glob("synthdesk-s2-memory_*_incremental")  # its own default folder
    summary = json.loads((out / "summary.json").read_text())
    assert set(run_metrics(summary)["compat"]["by_kind"]) == {"memory"}
    assert run_metrics(summary)["compat"]["task_success"] == 1.0
    assert [json.loads(line)["sample_id"] for line in (out / "results.jsonl").read_text().splitlines()] == \
        ["00002-memory", "00005-memory"]
    capsys.readouterr()
    assert main(["eval", "mind2web", "--kind", "memory", "--data", ".", "--images", ".", "--model", script]) == 2
    assert "kind=memory is for synthdesk only" in capsys.readouterr().err


def test_tiny_random_model_runs_through_engine_and_kv_session(tmp_path: Path) -> None:
    summary, rows = replay(tmp_path / "out", benchmark="synthdesk", images=tmp_path / "img", seed=SEED, limit=3,
                           model="tiny", methods=("gui_kv", "full"), budgets=(20.0,), max_new_tokens=6)
    assert [r.run for r in rows] == ["gui_kv@20"] * 3 + ["full"] * 3
    for row in rows:
        for step in row.steps:
            (call,) = step.calls
            assert call.model_size == call.image_size and call.model_size[0] % 28 == 0
            assert 1 <= call.n_generated <= 6 and call.prompt_tokens > 0 and len(call.kv_entries_per_layer) == 3
            assert (step.parsed is None) == (step.score["status"] == "failed")
    episode = rows[1].steps
    assert all(s.calls[0].prompt_tokens < episode[0].calls[0].prompt_tokens for s in episode[1:])  # incremental
    for run in ("gui_kv@20", "full"):
        assert run_metrics(summary, run)["counts"]["records"] == sum(len(r.steps) for r in rows) // 2
    full = next(r for r in summary["runs"] if r["run"] == "full")["cost"]
    compressed = next(r for r in summary["runs"] if r["run"] == "gui_kv@20")["cost"]
    assert compressed["kv_entries_mean"] < full["kv_entries_mean"]
    assert read_rows(tmp_path / "out") == rows


def test_a_targets_look_names_its_role_its_mark_and_what_covers_it() -> None:
    from tasks.synthdesk.app import look
    from tasks.synthdesk.widgets import Widget

    field = Widget("textfield", "Search", (56, 112, 168, 140), key="field:Search", interactive=True)
    title = Widget("menu", "Sports", (112, 0, 196, 28), key="menu:Sports", interactive=True, on=True)
    panel = Widget("dropdown", "", (112, 28, 200, 140), key="dropdown")  # painted after the field: over its end
    button = Widget("button", "Save", (300, 200, 380, 228), key="button:Save", interactive=True)
    widgets = (field, title, button, panel)
    assert [look(widgets, w) for w in (field, title, button)] == ["textfield covered", "menu on", "button"]
    assert look((panel, field), field) == "textfield"  # a panel painted before it covers nothing
    with pytest.raises(ValueError, match="button:Save"):
        look((field,), button)
