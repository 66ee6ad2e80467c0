"""The `tasks.load` registry and the `Dataset` contract, across all five benchmarks: len equals what iteration
yields, iteration is repeatable, ids are unique and stable, samples survive a JSON round trip, subsets keep order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tasks
from tasks import Dataset, DatasetFormatError, MissingImageError, SkippedSample, TaskError
from tasks.dataset import Entry

ALL = ("screenspot-v2", "screenspot-pro", "agentnetbench", "androidcontrol", "mind2web")


def _sources(bench: Path, mind2web_dir: Path) -> dict[str, tuple[Path, Path, dict[str, Any]]]:
    return {
        "screenspot-v2": (bench / "screenspot-v2/screenspot_web_v2_records_for_image.json",
                          bench / "screenspot-v2/images", {}),
        "screenspot-pro": (bench / "screenspot-pro", bench / "screenspot-pro/images", {"skip_missing": True}),
        "agentnetbench": (bench / "agentnetbench", bench / "agentnetbench/images", {}),
        "androidcontrol": (bench / "androidcontrol/android_control_std_first3.jsonl", bench / "androidcontrol",
                           {"skip_missing": True}),
        "mind2web": (mind2web_dir, mind2web_dir / "images", {}),
    }


@pytest.fixture()
def datasets(bench: Path, mind2web_dir: Path) -> dict[str, Dataset[Any]]:
    return {name: tasks.load(name, data, images, **opts)
            for name, (data, images, opts) in _sources(bench, mind2web_dir).items()}


def test_registry_names() -> None:
    assert tuple(tasks.LOADERS) == (*ALL, "synthdesk")  # synthdesk generates its tasks (test_synthdesk_loader.py)
    with pytest.raises(ValueError, match="'screenspot' is not one of"):
        tasks.load("screenspot", "x", "y")


def test_unknown_option_is_a_type_error(mind2web_dir: Path) -> None:
    with pytest.raises(TypeError):
        tasks.load("mind2web", mind2web_dir, mind2web_dir / "images", limit=3)


@pytest.mark.parametrize("name", ALL)
def test_len_matches_iteration_and_iteration_repeats(datasets: dict[str, Dataset[Any]], name: str) -> None:
    ds = datasets[name]
    first, second = list(ds), list(ds)
    assert len(ds) == len(first) > 0 and first == second
    assert [s.sample_id for s in first] == list(ds.sample_ids)
    assert len(set(ds.sample_ids)) == len(ds)
    assert all(s.benchmark == name for s in first)


@pytest.mark.parametrize("name", ALL)
def test_ids_are_stable_across_loads(bench: Path, mind2web_dir: Path, name: str) -> None:
    data, images, opts = _sources(bench, mind2web_dir)[name]
    assert tasks.load(name, data, images, **opts).sample_ids == tasks.load(name, data, images, **opts).sample_ids


@pytest.mark.parametrize("name", ALL)
def test_samples_round_trip_through_json(datasets: dict[str, Dataset[Any]], name: str) -> None:
    for sample in datasets[name]:
        again = tasks.ITEM_ADAPTER.validate_json(sample.model_dump_json())
        assert again == sample and type(again) is type(sample)


def test_subset_keeps_dataset_order(datasets: dict[str, Dataset[Any]]) -> None:
    ds = datasets["screenspot-pro"]
    sub = ds.subset(["autocad_windows_7", "autocad_windows_2"])
    assert sub.sample_ids == ("autocad_windows_2", "autocad_windows_7") and len(sub) == 2
    assert [s.sample_id for s in sub] == list(sub.sample_ids)
    with pytest.raises(KeyError, match="nope"):
        ds.subset(["nope"])


def test_dataset_rejects_duplicate_ids() -> None:
    entry = Entry("a", lambda: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="duplicate sample_id 'a'"):
        Dataset("mind2web", [entry, entry])


def test_error_hierarchy() -> None:
    assert issubclass(MissingImageError, DatasetFormatError)
    assert issubclass(DatasetFormatError, TaskError) and issubclass(DatasetFormatError, ValueError)
    err = DatasetFormatError("a.json", "bad", index=3, field="bbox")
    assert str(err) == "a.json record 3 field 'bbox': bad" and err.file == Path("a.json")


def test_paths_must_be_paths() -> None:
    with pytest.raises(TypeError, match="data must be a path"):
        tasks.load("mind2web", 3, "x")  # type: ignore[arg-type]


def test_tasks_imports_no_torch() -> None:
    code = "import sys, tasks; bad = {'torch', 'transformers'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)
