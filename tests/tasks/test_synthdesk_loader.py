"""synthdesk as a benchmark dataset: ids and kinds in turn, screenshots written as PNGs equal to the renders,
nothing written without image checks, and samples that round-trip through JSON."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

import tasks
from tasks.schema import ITEM_ADAPTER, SynthdeskTask
from tasks.synthdesk import generate


def test_load_generates_kinds_in_turn_and_writes_the_renders(tmp_path: Path) -> None:
    ds = tasks.load("synthdesk", None, tmp_path, seed=4, size=6)
    assert len(ds) == 6 and ds.sample_ids[:4] == ("00000-grounding", "00001-episode", "00002-memory",
                                                   "00003-grounding")
    items = list(ds)
    assert all(isinstance(t, SynthdeskTask) and t.split == "heldout" and t.seed == 4 for t in items)
    for task in items:
        episode = generate("heldout", 4, task.index, task.task_kind)
        assert task.instruction == episode.instruction and len(task.steps) == len(episode.steps)
        for step, gold in zip(task.steps, episode.steps):
            assert step.image == tmp_path / "heldout-s4" / task.sample_id / f"{step.step_idx}.png"
            assert step.reply == gold.reply and step.image_size == task.screen_size
            with Image.open(step.image) as png:
                assert png.tobytes() == gold.state.render().image.tobytes()
        assert ITEM_ADAPTER.validate_json(task.model_dump_json()) == task
    assert [t.sample_id for t in ds.subset(["00004-episode"])] == ["00004-episode"]


def test_without_image_checks_nothing_is_written(tmp_path: Path) -> None:
    ds = tasks.load("synthdesk", None, tmp_path / "img", seed=0, size=3, check_images=False)
    assert [len(t.steps) >= 1 for t in ds] == [True] * 3
    assert not (tmp_path / "img").exists()
