"""AndroidControl loader: the real UI-R1 step list and UI-S1 std episodes, plus the reference's `500_steps.json`
(UGround step records with accessibility trees) and UGround's raw episode JSON, written here in their exact shapes
(spec §3.1, UGround `extract_raw.py`), since no public copy of those two exists."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _taskfiles import write_json, write_jsonl

import tasks
from tasks import A11yNode, AndroidControlStep, DatasetFormatError, SkippedSample


def _box(x1: int, y1: int, x2: int, y2: int) -> dict[str, int]:
    return {"x_min": x1, "x_max": x2, "y_min": y1, "y_max": y2, "width": x2 - x1, "height": y2 - y1}


UGROUND = [
    {"episode_id": 9806, "step": 4, "goal": "Share the news with Evan", "step_instruction": "Type evankramer@gmail.com",
     "screenshot": "9806/screenshot_4.png", "previous_actions": ["Open Gmail", "Tap compose"],
     "action": {"action_type": "type_text", "text": "evankramer@gmail.com", "x": 540, "y": 610},
     "accessibility_tree": [
         {"text": "To", "content_description": None, "is_visible": True, "bbox_pixels": _box(40, 580, 1040, 650)},
         [{"text": None, "content_description": "Send", "bbox_pixels": _box(900, 100, 1000, 200)},
          [{"text": "Back", "bbox_pixels": _box(0, 100, 100, 200)}]],
         {"text": "Subject", "bbox_pixels": _box(40, 700, 1040, 760)},
     ]},
    {"episode_id": 9806, "step": 5, "goal": "Share the news with Evan", "step_instruction": "Scroll down",
     "screenshot": "9806/screenshot_5.png", "action": {"action_type": "scroll", "direction": "down"},
     "accessibility_tree": []},
    {"episode_id": 9806, "step": 6, "goal": "Share the news with Evan", "step_instruction": "Done",
     "screenshot": "9806/screenshot_6.png", "previous_actions": [],
     "action": {"action_type": "status", "goal_status": "successful"}},
]

EPISODES = [{
    "episode_id": 12499, "goal": "Turn on BBC News alerts",
    "screenshots": ["12499/screenshot_0.png", "12499/screenshot_1.png", "12499/screenshot_2.png"],
    "screenshot_widths": [1080, 1080, 1080], "screenshot_heights": [2400, 2400, 2400],
    "accessibility_trees": [[{"text": "BBC News", "bbox_pixels": _box(0, 0, 540, 300)}], [], []],
    "actions": ['{"action_type":"open_app","app_name":"BBC News"}', {"action_type": "click", "x": 911, "y": 1078}],
    "step_instructions": ["Open the BBC News app", "Tap settings"],
}]


@pytest.fixture()
def ac(bench: Path) -> Path:
    return bench / "androidcontrol"


def _steps(data: Path, images: Path, **options: Any) -> list[AndroidControlStep]:
    items = list(tasks.load("androidcontrol", data, images, **options))
    assert all(isinstance(s, AndroidControlStep) for s in items)
    return items  # type: ignore[return-value]


def test_ui_r1_steps(ac: Path) -> None:
    steps = _steps(ac / "ui_r1_ac_test_first20.json", ac, check_images=False)
    assert len(steps) == 20
    assert Counter(s.episode_id for s in steps) == {140: 8, 662: 5, 803: 4, 943: 3}
    assert Counter(s.action.action_type for s in steps) == {"click": 15, "open_app": 3, "input_text": 2}
    assert [s.sample_id for s in steps[:3]] == ["140/0", "140/2", "140/3"]  # screenshot 1 (long_press) is absent
    first, second = steps[0], steps[1]
    assert first.source_format == "ui_r1" and first.goal is None and first.step_instruction == "open the PocketBook app."
    assert first.action.app_name == "PocketBook" and first.image == ac / "episode_140-screenshot_0.png"
    assert second.action.xy == (1027, 209) and second.action.source == {"action_type": "click", "x": 1027, "y": 209}
    typed = next(s for s in steps if s.action.action_type == "input_text")
    assert typed.sample_id == "140/7" and typed.action.text == "natalie.larson1998@gmail.com"


def test_std_episodes(ac: Path) -> None:
    steps = _steps(ac / "android_control_std_first3.jsonl", ac, check_images=False)
    assert len(steps) == 17
    assert Counter(s.episode_id for s in steps) == {8193: 11, 8197: 3, 8202: 3}
    assert Counter(s.action.action_type for s in steps) == {
        "click": 9, "wait": 4, "input_text": 2, "navigate_back": 1, "open_app": 1}
    back, click = steps[0], steps[1]
    assert back.sample_id == "8193/0" and back.action.action_type == "navigate_back"
    assert back.goal == "I'd like to publish my sculpture art from the gallery." and back.source_format == "std"
    assert click.image == ac / "8193_1.png"  # only the basename of the authors' path is kept
    assert click.action.xy == (540, 2273) and click.step_instruction == "click on create tab"
    assert click.candidate_boxes == ((456, 2211, 624, 2337), (0, 473, 1080, 2337))
    assert click.previous_instructions == ("go back",) and click.previous_actions == ()
    opened = next(s for s in steps if s.episode_id == 8202 and s.step_idx == 0)
    assert opened.action.action_type == "open_app" and opened.action.app_name == "pCloud"
    assert [s.sample_id for s in steps if s.episode_id == 8197] == ["8197/0", "8197/1", "8197/2"]


def test_std_images_are_read_from_the_basename(ac: Path, tmp_path: Path) -> None:
    for name in ("8193_0.png", "8193_1.png"):
        shutil.copy(ac / "AndroidControl.png", tmp_path / name)
    items = list(tasks.load("androidcontrol", ac / "android_control_std_first3.jsonl", tmp_path, skip_missing=True))
    assert [getattr(s, "image_size", None) for s in items[:2]] == [(1080, 2400), (1080, 2400)]
    assert all(isinstance(s, SkippedSample) for s in items[2:])
    assert items[2].sample_id == "8193/2" and items[2].source_index == 0  # type: ignore[union-attr]


def test_std_swipe_uses_the_content_direction(tmp_path: Path) -> None:
    swipe = {"action": "swipe", "coordinate": [540, 1800], "coordinate2": [540, 600]}
    episode = {"episode_id": 1, "goal": "g", "steps": [
        {"action_content": swipe, "screenshot": "/x/1_0.png", "step_instruction": "Swipe up",
         "check_options": {"action": "swipe", "direction": "down"}},
        {"action_content": swipe, "screenshot": "/x/1_1.png", "step_instruction": "Swipe up"},
        {"action_content": {"action": "swipe", "coordinate": [900, 1200], "coordinate2": [100, 1200]},
         "screenshot": "/x/1_2.png"},
    ]}
    steps = _steps(write_jsonl(tmp_path / "std.jsonl", [episode]), tmp_path, check_images=False)
    assert [s.action.direction for s in steps] == ["down", "down", "right"]
    assert steps[0].action.swipe_from == (540, 1800) and steps[0].action.swipe_to == (540, 600)


def test_uground_step_list_from_a_folder(tmp_path: Path) -> None:
    write_json(tmp_path / "500_steps.json", UGROUND)
    steps = _steps(tmp_path, tmp_path / "images", check_images=False)
    assert [s.sample_id for s in steps] == ["9806/4", "9806/5", "9806/6"]
    typed, scroll, status = steps
    assert typed.source_format == "uground" and typed.image == tmp_path / "images" / "9806/screenshot_4.png"
    assert typed.previous_actions == ("Open Gmail", "Tap compose") and scroll.previous_actions == ()
    assert typed.action.action_type == "input_text" and typed.action.xy == (540, 610)
    assert typed.action.source["action_type"] == "type_text"
    assert [n.text or n.content_description for n in typed.accessibility_tree] == ["To", "Send", "Back", "Subject"]
    assert typed.accessibility_tree[0] == A11yNode(bbox=(40, 580, 1040, 650), text="To")
    assert scroll.action.direction == "down" and scroll.accessibility_tree == ()
    assert status.action.action_type == "status" and status.action.goal_status == "successful"


def test_raw_episode_json(tmp_path: Path) -> None:
    steps = _steps(write_json(tmp_path / "episodes.json", EPISODES), tmp_path, check_images=False)
    assert [s.sample_id for s in steps] == ["12499/0", "12499/1"]  # 3 screenshots, 2 actions
    assert steps[0].action.action_type == "open_app" and steps[0].action.app_name == "BBC News"
    assert steps[0].accessibility_tree == (A11yNode(bbox=(0, 0, 540, 300), text="BBC News"),)
    assert steps[1].action.xy == (911, 1078) and steps[1].previous_instructions == ("Open the BBC News app",)
    assert steps[1].image == tmp_path / "12499/screenshot_1.png" and steps[1].source_format == "episodes"


@pytest.mark.parametrize(
    ("records", "index", "field"),
    [
        ([UGROUND[1], dict(UGROUND[0], action={"action_type": "click", "y": 3})], 1, "action.x"),
        ([dict(UGROUND[0], action={"action_type": "fly"})], 0, "action.action_type"),
        ([dict(UGROUND[1], action={"action_type": "scroll", "direction": "diagonal"})], 0, "action.direction"),
        ([dict(UGROUND[0], accessibility_tree=[{"text": "no box"}])], 0, "accessibility_tree.0.bbox_pixels"),
        ([UGROUND[0], {k: v for k, v in UGROUND[1].items() if k != "goal"}], 1, "goal"),
        ([dict(EPISODES[0], step_instructions=["only one"])], 0, "step_instructions"),
        ([dict(EPISODES[0], actions=["{not json", {"action_type": "wait"}])], 0, "actions.0"),
    ],
)
def test_malformed_record_names_file_record_and_field(tmp_path: Path, records, index, field) -> None:
    path = write_json(tmp_path / "steps.json", records)
    with pytest.raises(DatasetFormatError) as info:
        tasks.load("androidcontrol", path, tmp_path)
    assert (info.value.file, info.value.index, info.value.field) == (path, index, field)


def test_malformed_std_and_ui_r1_records(ac: Path, tmp_path: Path) -> None:
    lines = (ac / "android_control_std_first3.jsonl").read_text(encoding="utf-8").splitlines()
    episode = json.loads(lines[1])
    episode["steps"][0]["action_content"] = {"action": "system_button", "button": "Enter"}
    path = write_jsonl(tmp_path / "std.jsonl", [json.loads(lines[0]), episode])
    with pytest.raises(DatasetFormatError) as info:
        tasks.load("androidcontrol", path, tmp_path)
    assert (info.value.index, info.value.field) == (1, "steps.0.action_content.button")
    rows = json.loads((ac / "ui_r1_ac_test_first20.json").read_text(encoding="utf-8"))
    rows[3]["image"] = "screenshot_4.png"
    with pytest.raises(DatasetFormatError) as info:
        tasks.load("androidcontrol", write_json(tmp_path / "r1.json", rows), tmp_path)
    assert (info.value.index, info.value.field) == (3, "image")


def test_format_detection_and_missing_reference_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="expected an AndroidControl record .* found an object with keys foo"):
        tasks.load("androidcontrol", write_json(tmp_path / "x.json", [{"foo": 1}]), tmp_path)
    with pytest.raises(DatasetFormatError, match="500_steps.json: not found"):
        tasks.load("androidcontrol", tmp_path, tmp_path)
    forced = tasks.load("androidcontrol", write_json(tmp_path / "u.json", UGROUND), tmp_path, source_format="uground",
                        check_images=False)
    assert len(forced) == 3
    with pytest.raises(DatasetFormatError):  # episode records read as UGround steps lack their fields
        tasks.load("androidcontrol", write_json(tmp_path / "e.json", EPISODES), tmp_path, source_format="uground")


def test_duplicate_step_ids(tmp_path: Path) -> None:
    path = write_json(tmp_path / "steps.json", [UGROUND[0], UGROUND[1], UGROUND[0]])
    with pytest.raises(DatasetFormatError, match="duplicate sample id '9806/4'") as info:
        tasks.load("androidcontrol", path, tmp_path)
    assert info.value.index == 2
