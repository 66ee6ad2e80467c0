"""A loader pointed at the wrong file says which format it expected and which one it found: another benchmark's
real annotation file, a JSON document read as JSON Lines, JSON Lines read as one JSON document."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tasks
from tasks import DatasetFormatError
from tasks.formats import describe_json


@pytest.mark.parametrize(("loader", "file", "expected", "found"), [
    ("androidcontrol", "screenspot-pro/autocad_windows.json", "expected an AndroidControl record in one of its "
     "formats, marked by their keys: std (steps), episodes (actions, step_instructions)", "found a ScreenSpot-Pro "
     "record (keys application, bbox"),
    ("mind2web", "screenspot-pro/autocad_windows.json", "expected JSON Lines (one record per line), found one JSON "
     "document over several lines", "an array of 34 records; the first is a ScreenSpot-Pro record"),
    ("agentnetbench", "screenspot-pro/autocad_windows.json", "expected one trajectory JSON object",
     "found an array of 34 records"),
    ("screenspot-pro", "agentnetbench/s_df0fd37049f470c2.json", "expected a JSON array of records",
     "found an AgentNetBench trajectory (keys high_level_task_description, meta_info, steps"),
    ("screenspot-pro", "androidcontrol/ui_r1_ac_test_first20.json", "field 'img_filename': Field required",
     "found an AndroidControl step (UI-R1 format) (keys gt, image, task)"),
    ("screenspot-v2", "androidcontrol/ui_r1_ac_test_first20.json", "expected a ScreenSpot-v2 record",
     "found an AndroidControl step (UI-R1 format)"),
    ("mind2web", "androidcontrol/android_control_std_first3.jsonl", "field 'annotation_id': Field required",
     "found an AndroidControl episode (std format)"),
], ids=["pro-as-androidcontrol", "pro-as-mind2web", "pro-as-agentnet", "agentnet-as-pro", "ui_r1-as-pro",
        "ui_r1-as-v2", "std-as-mind2web"])
def test_another_benchmarks_file_names_both_formats(bench: Path, tmp_path: Path, loader: str, file: str,
                                                    expected: str, found: str) -> None:
    with pytest.raises(DatasetFormatError) as info:
        tasks.load(loader, bench / file, tmp_path, check_images=False)
    message = str(info.value)
    assert expected in message and found in message and "source_format" not in message


def test_json_lines_read_as_one_json_document_is_named(bench: Path, tmp_path: Path) -> None:
    copy = tmp_path / "records.json"  # a .json name, so the ScreenSpot-v2 loader reads it as one document
    shutil.copy(bench / "screenspot-v2/screenspot_v1_uground_sample.jsonl", copy)
    with pytest.raises(DatasetFormatError, match=r"expected one JSON document, found JSON Lines \(one record per "
                                                 r"line; the first is a ScreenSpot record \(UGround format\)"):
        tasks.load("screenspot-pro", copy, tmp_path, check_images=False)


@pytest.mark.parametrize(("value", "words"), [
    ({}, "an object with keys (none)"), ([], "an empty array"), ("x", "a string"), (3, "a number"),
    (None, "null"), ({"b": 1, "a": 2}, "an object with keys a, b"),
    ({k: 0 for k in "abcdefgh"}, "an object with keys a, b, c, d, e, f, ... (8 keys)"),
])
def test_describe_json(value: object, words: str) -> None:
    assert describe_json(value) == words
