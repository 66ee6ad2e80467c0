"""AndroidControl loader (format: spec-benchmarks.md §3.1, §10.4). Four files are read into `AndroidControlStep`s:

* `"uground"`: the reference's `500_steps.json`, a JSON array of steps `{episode_id, step, goal, step_instruction,
  screenshot "<ep>/screenshot_<k>.png", previous_actions [str], action {action_type, x, y, text, direction,
  goal_status, app_name}, accessibility_tree [node | [node, ...]]}`. A folder as `data` means `<data>/500_steps.json`.
* `"episodes"`: UGround's raw episode JSON (the official TFRecord fields): an array (or JSONL) of `{episode_id, goal,
  screenshots ["<ep>/screenshot_<k>.png"], accessibility_trees [[node]], actions [official dict or JSON string],
  step_instructions [str]}`; step k pairs `screenshots[k]` with `actions[k]`.
* `"std"`: UI-S1 / AgentCPM-GUI JSONL, one episode per line: `{episode_id, goal, steps [{action_content, screenshot,
  step_instruction, check_options}]}`; the image is `<images>/<basename of screenshot>`.
* `"ui_r1"`: UI-R1's step array `{image "episode_<ep>-screenshot_<k>.png", gt {official dict}, task}` (no goal).

The format is detected from the first record (`load(source_format=...)` forces it). Unknown keys are ignored. Steps keep file
order (episodes in file order, steps in episode order). Action vocabularies are mapped to the official one
(`AndroidControlAction`).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from tasks.dataset import (
    Dataset, Entry, ImageOptions, SampleRef, as_path, check_image, claim_id, format_errors, read_records,
    require_file, validate,
)
from tasks.errors import DatasetFormatError
from tasks.formats import describe_json
from tasks.schema import (
    A11yNode, AndroidActionType, AndroidControlAction, AndroidControlStep, AndroidSourceFormat, Box, SkippedSample,
)

BENCHMARK: Final = "androidcontrol"
REFERENCE_FILE = "500_steps.json"
Format = Literal["auto", "uground", "episodes", "std", "ui_r1"]
_UI_R1_IMAGE = re.compile(r"^episode_(\d+)-screenshot_(\d+)\.\w+$")
Direction = Literal["up", "down", "left", "right"]


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


_OfficialType = Literal[
    "click", "long_press", "scroll", "open_app", "input_text", "type_text", "type", "navigate_back", "navigate_home",
    "wait", "status",
]


class _Official(_Raw):
    action_type: _OfficialType
    x: float | None = None
    y: float | None = None
    text: str | None = None
    direction: Direction | None = None
    app_name: str | None = None
    goal_status: str | None = None


_REQUIRED = {"click": ("x", "y"), "long_press": ("x", "y"), "scroll": ("direction",), "open_app": ("app_name",),
             "input_text": ("text",)}


def _official_type(name: _OfficialType) -> AndroidActionType:
    """The official name of an action type: UGround's `type_text` (and `type`) is `input_text`."""
    if name == "type_text" or name == "type":
        return "input_text"
    return name


def _official_action(raw: Any, file: Path, index: int, field: str) -> AndroidControlAction:
    """An official / UGround action dict (or its JSON string) -> `AndroidControlAction`."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DatasetFormatError(file, f"action is not valid JSON: {e.msg}", index=index, field=field) from e
    act = validate(_Official, raw, file=file, index=index, prefix=field)
    kind = _official_type(act.action_type)
    for name in _REQUIRED.get(kind, ()):
        if getattr(act, name) is None:
            raise DatasetFormatError(file, f"a {act.action_type} action needs {name!r}", index=index,
                                     field=f"{field}.{name}")
    xy = (act.x, act.y) if act.x is not None and act.y is not None else None
    return AndroidControlAction(action_type=kind, xy=xy, text=act.text, direction=act.direction,
                                app_name=act.app_name, goal_status=act.goal_status, source=raw)


class _NodeBox(_Raw):
    x_min: float
    x_max: float
    y_min: float
    y_max: float


class _Node(_Raw):
    bbox_pixels: _NodeBox
    text: str | None = None
    content_description: str | None = None


def _flatten_tree(tree: Any, file: Path, index: int, field: str) -> tuple[A11yNode, ...]:
    """Nodes of a (possibly nested-list) accessibility tree in depth-first order."""
    if tree is None:
        return ()
    if not isinstance(tree, list):
        raise DatasetFormatError(file, f"expected a list of nodes, found {type(tree).__name__}", index=index,
                                 field=field)
    nodes: list[A11yNode] = []
    for i, item in enumerate(tree):
        if isinstance(item, list):
            nodes.extend(_flatten_tree(item, file, index, f"{field}.{i}"))
            continue
        node = validate(_Node, item, file=file, index=index, prefix=f"{field}.{i}")
        b = node.bbox_pixels
        nodes.append(A11yNode(bbox=(b.x_min, b.y_min, b.x_max, b.y_max), text=node.text,
                              content_description=node.content_description))
    return tuple(nodes)


# --------------------------------------------------------------------------------------------------------------------
# One function per source format: raw record -> list of step templates (image_size None)


class _UgStep(_Raw):
    episode_id: int | None = None
    step: int | None = None
    goal: str
    step_instruction: str | None = None
    screenshot: str
    previous_actions: list[str] | None = None
    action: Any
    accessibility_tree: Any = None


def _from_uground(raw: Any, file: Path, index: int, images: Path) -> list[AndroidControlStep]:
    rec = validate(_UgStep, raw, file=file, index=index)
    if rec.episode_id is not None and rec.step is not None:
        sample_id = f"{rec.episode_id}/{rec.step}"
    else:
        sample_id = str(PurePosixPath(rec.screenshot).with_suffix(""))
    return [AndroidControlStep(
        sample_id=sample_id, source_format="uground", episode_id=rec.episode_id, step_idx=rec.step,
        image=images / rec.screenshot, image_size=None, goal=rec.goal, step_instruction=rec.step_instruction,
        previous_actions=tuple(rec.previous_actions or ()), action=_official_action(rec.action, file, index, "action"),
        accessibility_tree=_flatten_tree(rec.accessibility_tree, file, index, "accessibility_tree"),
        source_file=file, source_index=index,
    )]


class _Episode(_Raw):
    episode_id: int
    goal: str
    screenshots: list[str] | None = None
    accessibility_trees: list[Any] | None = None
    actions: list[Any]
    step_instructions: list[str]


def _from_episodes(raw: Any, file: Path, index: int, images: Path) -> list[AndroidControlStep]:
    ep = validate(_Episode, raw, file=file, index=index)
    n = len(ep.actions)
    if len(ep.step_instructions) != n:
        raise DatasetFormatError(file, f"{len(ep.step_instructions)} step instructions for {n} actions",
                                 index=index, field="step_instructions")
    if ep.screenshots is not None and len(ep.screenshots) < n:
        raise DatasetFormatError(file, f"{len(ep.screenshots)} screenshots for {n} actions", index=index,
                                 field="screenshots")
    trees = ep.accessibility_trees or []
    steps = []
    for k in range(n):
        shot = ep.screenshots[k] if ep.screenshots is not None else f"{ep.episode_id}/screenshot_{k}.png"
        steps.append(AndroidControlStep(
            sample_id=f"{ep.episode_id}/{k}", source_format="episodes", episode_id=ep.episode_id, step_idx=k,
            image=images / shot, image_size=None, goal=ep.goal, step_instruction=ep.step_instructions[k],
            previous_instructions=tuple(ep.step_instructions[:k]),
            action=_official_action(ep.actions[k], file, index, f"actions.{k}"),
            accessibility_tree=_flatten_tree(trees[k] if k < len(trees) else None, file, index,
                                             f"accessibility_trees.{k}"),
            source_file=file, source_index=index,
        ))
    return steps


class _StdAction(_Raw):
    action: Literal["click", "long_press", "swipe", "type", "open", "wait", "system_button"]
    coordinate: tuple[float, float] | None = None
    coordinate2: tuple[float, float] | None = None
    text: str | None = None
    button: str | None = None


class _StdCheck(_Raw):
    candidate_bbox: list[Box] = Field(default_factory=list)
    direction: Direction | None = None


class _StdStep(_Raw):
    action_content: dict[str, Any]
    screenshot: str
    step_instruction: str | None = None
    check_options: _StdCheck | None = None


class _StdEpisode(_Raw):
    episode_id: int
    goal: str
    steps: list[_StdStep]


_STD_REQUIRED = {"click": ("coordinate",), "long_press": ("coordinate",), "swipe": ("coordinate", "coordinate2"),
                 "type": ("text",), "open": ("text",), "system_button": ("button",)}


def _content_direction(start: tuple[float, float], end: tuple[float, float]) -> Direction:
    """The official (content) scroll direction of a finger swipe: the opposite of the finger's motion."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    if abs(dy) >= abs(dx):
        return "down" if dy < 0 else "up"
    return "right" if dx < 0 else "left"


def _std_action(raw: dict[str, Any], check: _StdCheck | None, file: Path, index: int, field: str
                ) -> AndroidControlAction:
    act = validate(_StdAction, raw, file=file, index=index, prefix=field)
    for need in _STD_REQUIRED.get(act.action, ()):
        if getattr(act, need) is None:
            raise DatasetFormatError(file, f"a {act.action} action needs {need!r}", index=index,
                                     field=f"{field}.{need}")
    if act.action in ("click", "long_press"):
        return AndroidControlAction(action_type=act.action, xy=act.coordinate, source=raw)
    if act.action == "swipe":
        assert act.coordinate is not None and act.coordinate2 is not None
        direction = check.direction if check and check.direction else _content_direction(act.coordinate,
                                                                                          act.coordinate2)
        return AndroidControlAction(action_type="scroll", direction=direction,
                                    swipe_from=act.coordinate, swipe_to=act.coordinate2, source=raw)
    if act.action == "type":
        return AndroidControlAction(action_type="input_text", text=act.text, source=raw)
    if act.action == "open":
        return AndroidControlAction(action_type="open_app", app_name=act.text, source=raw)
    if act.action == "wait":
        return AndroidControlAction(action_type="wait", source=raw)
    buttons: dict[str, AndroidActionType] = {"back": "navigate_back", "home": "navigate_home"}
    if (act.button or "").lower() not in buttons:
        raise DatasetFormatError(file, f"system_button {act.button!r} is not Back or Home", index=index,
                                 field=f"{field}.button")
    return AndroidControlAction(action_type=buttons[(act.button or "").lower()], source=raw)


def _from_std(raw: Any, file: Path, index: int, images: Path) -> list[AndroidControlStep]:
    ep = validate(_StdEpisode, raw, file=file, index=index)
    instructions = [s.step_instruction or "" for s in ep.steps]
    return [AndroidControlStep(
        sample_id=f"{ep.episode_id}/{k}", source_format="std", episode_id=ep.episode_id, step_idx=k,
        image=images / PurePosixPath(step.screenshot).name, image_size=None, goal=ep.goal,
        step_instruction=step.step_instruction, previous_instructions=tuple(instructions[:k]),
        action=_std_action(step.action_content, step.check_options, file, index, f"steps.{k}.action_content"),
        candidate_boxes=tuple(step.check_options.candidate_bbox) if step.check_options else (),
        source_file=file, source_index=index,
    ) for k, step in enumerate(ep.steps)]


class _UiR1Step(_Raw):
    image: str
    gt: dict[str, Any]
    task: str | None = None


def _from_ui_r1(raw: Any, file: Path, index: int, images: Path) -> list[AndroidControlStep]:
    rec = validate(_UiR1Step, raw, file=file, index=index)
    match = _UI_R1_IMAGE.match(rec.image)
    if not match:
        raise DatasetFormatError(file, f"image name {rec.image!r} is not 'episode_<id>-screenshot_<k>.png'",
                                 index=index, field="image")
    episode_id, k = int(match.group(1)), int(match.group(2))
    return [AndroidControlStep(
        sample_id=f"{episode_id}/{k}", source_format="ui_r1", episode_id=episode_id, step_idx=k,
        image=images / rec.image, image_size=None, goal=None, step_instruction=rec.task,
        action=_official_action(rec.gt, file, index, "gt"), source_file=file, source_index=index,
    )]


_READERS = {"uground": _from_uground, "episodes": _from_episodes, "std": _from_std, "ui_r1": _from_ui_r1}


#: The keys that mark each format, in the order they are tried (the first match wins).
_FORMAT_KEYS: dict[AndroidSourceFormat, tuple[str, ...]] = {
    "std": ("steps",), "episodes": ("actions", "step_instructions"), "ui_r1": ("gt", "image"),
    "uground": ("action", "screenshot"),
}


def detect_format(record: Any, file: Path) -> AndroidSourceFormat:
    """Which of the four formats a record is in, from its keys (`_FORMAT_KEYS`)."""
    if isinstance(record, dict):
        for fmt, keys in _FORMAT_KEYS.items():
            if set(keys) <= set(record):
                return fmt
    expected = ", ".join(f"{name} ({', '.join(keys)})" for name, keys in _FORMAT_KEYS.items())
    raise DatasetFormatError(file, f"expected an AndroidControl record in one of its formats, marked by their keys: "
                                   f"{expected}; found {describe_json(record)}", index=0)


def _make(step: AndroidControlStep, opts: ImageOptions) -> AndroidControlStep | SkippedSample:
    field = {"uground": "screenshot", "episodes": f"screenshots.{step.step_idx}", "std":
             f"steps.{step.step_idx}.screenshot", "ui_r1": "image"}[step.source_format]
    ref = SampleRef(step.sample_id, BENCHMARK, step.source_file, step.source_index, field)
    size = check_image(step.image, ref, opts)
    if isinstance(size, SkippedSample):
        return size
    return step.model_copy(update={"image_size": size})


def load(data: str | Path, images: str | Path, *, source_format: Format = "auto", check_images: bool = True,
         skip_missing: bool = False) -> Dataset[AndroidControlStep]:
    """Load AndroidControl steps (ids: `<episode_id>/<step_idx>`).

    Args:
        data: one annotation file (`.json` array or `.jsonl`), or a folder holding `500_steps.json`.
        images: the screenshot root (see the module docstring for each format's layout).
        source_format: `"auto"` (from the first record), `"uground"`, `"episodes"`, `"std"` or `"ui_r1"`.
        check_images, skip_missing: see `tasks.dataset.ImageOptions`.

    Raises:
        DatasetFormatError: missing or malformed annotation file or record, or duplicate step ids.
    """
    if source_format not in ("auto", *_READERS):
        raise ValueError(f"source_format: {source_format!r} is not one of {('auto', *_READERS)}")
    opts = ImageOptions(check_images=check_images, skip_missing=skip_missing)
    image_root = as_path(images, "images")
    path = as_path(data, "data")
    file = require_file(path / REFERENCE_FILE if path.is_dir() else path,
                        f"an AndroidControl annotation file (a folder means <folder>/{REFERENCE_FILE})")
    records = read_records(file)
    fmt = source_format if source_format != "auto" else (detect_format(records[0][1], file) if records else "uground")
    reader = _READERS[fmt]
    entries: list[Entry[AndroidControlStep]] = []
    seen: dict[str, tuple[Path, int]] = {}
    for index, raw in records:
        with format_errors(file, index):
            steps = reader(raw, file, index, image_root)
        for step in steps:
            claim_id(seen, step.sample_id, file=file, index=index, field="episode_id")
            entries.append(Entry(step.sample_id, functools.partial(_make, step, opts)))
    return Dataset(BENCHMARK, entries)
