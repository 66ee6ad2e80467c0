"""AgentNetBench loader (format: spec-benchmarks.md §2.1, §10.3).

`data` is a folder of trajectory JSON files (every `*.json` not starting with `mapping`, **sorted by file name**; the
reference uses `os.listdir` order) or one trajectory file. Step images are at `<images>/<step.image>`
(`<task_id>_<step_num>.png`). The dataset yields one `AgentNetEpisode` per trajectory, its steps in file order.
Unknown keys are ignored. A step whose image is missing raises `MissingImageError` while iterating, or, with
`skip_missing=True`, is kept with `step.skipped` set (the reference skips the step but counts it).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from tasks.dataset import (
    Dataset, Entry, ImageOptions, SampleRef, as_path, check_image, claim_id, format_errors, read_json, require_dir,
    validate,
)
from tasks.errors import DatasetFormatError
from tasks.formats import describe_json
from tasks.schema import AgentNetAction, AgentNetEpisode, AgentNetStep, Box, SkippedSample

BENCHMARK: Final = "agentnetbench"


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Bbox(_Raw):
    rel_bbox: Box
    abs_bbox: Box | None = None


class _Metadata(_Raw):
    bboxes: list[_Bbox] = Field(default_factory=list)


class _Action(_Raw):
    type: str
    params: dict[str, Any] = Field(default_factory=dict)
    metadata: _Metadata | None = None


class _Position(_Raw):
    x: float
    y: float


class _Params(_Raw):
    position: _Position | None = None
    text: str | None = None
    content: str | None = None
    keys: list[str] | None = None
    status: str | None = None
    amount: float | None = None


class _Monologue(_Raw):
    observation: str | None = None
    thought: str | None = None
    low_level_instruction: str | None = None


class _Step(_Raw):
    step_num: int | None = None
    image: str
    action: str | None = None
    milestone: bool | None = False
    inner_monologue: _Monologue | None = None
    ground_truth_actions: list[_Action]
    alternative_options: list[list[_Action]] | None = None


class _Resolution(_Raw):
    width: int
    height: int


class _Meta(_Raw):
    system: str | None = None
    screen_resolution: _Resolution | None = None


class _Trajectory(_Raw):
    task_id: str
    user_task_description: str | None = None
    high_level_task_description: str | None = None
    steps: list[_Step]
    meta_info: dict[str, Any] | None = None


def _action(raw: _Action, file: Path, field: str) -> AgentNetAction:
    params = validate(_Params, raw.params, file=file, index=0, prefix=f"{field}.params")
    boxes = raw.metadata.bboxes if raw.metadata else []
    return AgentNetAction(
        type=raw.type,
        position=(params.position.x, params.position.y) if params.position else None,
        text=params.text if "text" in raw.params else params.content,
        keys=tuple(params.keys) if params.keys is not None else None,
        status=params.status, amount=params.amount,
        boxes=tuple(b.rel_bbox for b in boxes), abs_boxes=tuple(b.abs_bbox for b in boxes), params=raw.params,
    )


def _step_template(traj: _Trajectory, i: int, file: Path, image_root: Path) -> AgentNetStep:
    """The step with everything but its image check (image_size None, not skipped)."""
    step = traj.steps[i]
    field = f"steps.{i}"
    mono = step.inner_monologue or _Monologue()
    return AgentNetStep(
        sample_id=f"{traj.task_id}/{i}", episode_id=traj.task_id, step_idx=i, step_num=step.step_num,
        image=image_root / step.image, image_size=None, milestone=bool(step.milestone),
        ground_truth=tuple(
            _action(a, file, f"{field}.ground_truth_actions.{j}") for j, a in enumerate(step.ground_truth_actions)
        ),
        alternatives=tuple(
            tuple(_action(a, file, f"{field}.alternative_options.{k}.{j}") for j, a in enumerate(alt))
            for k, alt in enumerate(step.alternative_options or [])
        ),
        action_code=step.action or "", observation=mono.observation or "", thought=mono.thought or "",
        low_level_instruction=mono.low_level_instruction or "", source_file=file, source_index=0,
    )


def _with_image(step: AgentNetStep, opts: ImageOptions) -> AgentNetStep:
    ref = SampleRef(step.sample_id, BENCHMARK, step.source_file, 0, f"steps.{step.step_idx}.image")
    size = check_image(step.image, ref, opts)
    if isinstance(size, SkippedSample):
        return step.model_copy(update={"skipped": size})
    return step.model_copy(update={"image_size": size})


def _make(episode: AgentNetEpisode, opts: ImageOptions) -> AgentNetEpisode:
    return episode.model_copy(update={"steps": tuple(_with_image(s, opts) for s in episode.steps)})


def _episode(raw: Any, file: Path, image_root: Path) -> AgentNetEpisode:
    traj = validate(_Trajectory, raw, file=file, index=0)
    meta = validate(_Meta, traj.meta_info or {}, file=file, index=0, prefix="meta_info")
    if "high_level_task_description" in raw:  # the reference's dict.get(...) fallback, keyed on presence
        instruction = traj.high_level_task_description
    else:
        instruction = traj.user_task_description
    res = meta.screen_resolution
    return AgentNetEpisode(
        sample_id=traj.task_id, episode_id=traj.task_id, instruction=instruction or "",
        user_task_description=traj.user_task_description,
        high_level_task_description=traj.high_level_task_description,
        steps=tuple(_step_template(traj, i, file, image_root) for i in range(len(traj.steps))),
        system=meta.system, screen_resolution=(res.width, res.height) if res else None, meta_info=traj.meta_info,
        source_file=file,
    )


def trajectory_files(data: Path) -> list[Path]:
    """The file itself, or the folder's `*.json` files not starting with `mapping`, sorted by name."""
    if data.is_file():
        return [data]
    require_dir(data, "a folder of AgentNetBench trajectory *.json files, or one trajectory file")
    files = sorted(
        p for p in data.iterdir() if p.suffix == ".json" and not p.name.startswith("mapping") and p.is_file()
    )
    if not files:
        raise DatasetFormatError(data, "no trajectory *.json files in this folder")
    return files


def load(data: str | Path, images: str | Path, *, check_images: bool = True, skip_missing: bool = False
         ) -> Dataset[AgentNetEpisode]:
    """Load AgentNetBench trajectories into `AgentNetEpisode`s (ids: `task_id`; step ids `<task_id>/<step_idx>`).

    Args:
        data: a folder of trajectory JSON files, or one file.
        images: the step image folder (`<images>/<step.image>`).
        check_images, skip_missing: see `tasks.dataset.ImageOptions`; with `skip_missing` a step with a missing
            image is kept and marked (`step.skipped`), the episode is still yielded.

    Raises:
        DatasetFormatError: missing or malformed trajectory file, or a `task_id` used twice.
    """
    opts = ImageOptions(check_images=check_images, skip_missing=skip_missing)
    image_root = as_path(images, "images")
    entries: list[Entry[AgentNetEpisode]] = []
    seen: dict[str, tuple[Path, int]] = {}
    for file in trajectory_files(as_path(data, "data")):
        raw = read_json(file)
        if not isinstance(raw, dict):
            raise DatasetFormatError(file, f"expected one trajectory JSON object, found {describe_json(raw)}")
        with format_errors(file, 0):
            episode = _episode(raw, file, image_root)
        claim_id(seen, episode.sample_id, file=file, index=0, field="task_id")
        entries.append(Entry(episode.sample_id, functools.partial(_make, episode, opts)))
    return Dataset(BENCHMARK, entries)
