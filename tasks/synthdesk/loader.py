"""synthdesk as a benchmark: `load(data, images, seed=S, size=N)` -> a `Dataset` of `SynthdeskTask`.

Sample `i` is task `i` of kind `KINDS[i % 3]` (grounding, episode, memory, grounding, ...) of split "heldout"
under `seed`, so `--limit 3k` scores k tasks of each kind; `kind` keeps the samples of one kind alone (`--kind`).
Nothing is read from disk: the tasks are generated (`tasks.synthdesk.generate`), and iterating the dataset writes each task's screenshots as PNG files under
`<images>/<split>-s<seed>/<sample_id>/<step>.png` (rewritten every time, so a changed generator never leaves stale
images), which the replay then reads like any benchmark's images. With `check_images=False` no file is written
(the samples still name their paths and sizes).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from tasks.dataset import Dataset, Entry, as_path
from tasks.schema import ShownWidget, SkippedSample, SynthdeskStep, SynthdeskTask
from tasks.synthdesk.app import look
from tasks.synthdesk.episodes import KINDS, Episode, GoldStep, Kind
from tasks.synthdesk.generate import Split, fingerprint, generate

__all__ = ["DEFAULT_SIZE", "kind_of", "load", "sample_id", "to_sample"]

DEFAULT_SIZE = 300
"""Tasks in the dataset when no size is given (100 of each kind)."""


def kind_of(index: int) -> Kind:
    """The kind of dataset sample `index`: grounding, episode, memory, in turn."""
    return KINDS[index % len(KINDS)]


def sample_id(index: int) -> str:
    """`<index, 5 digits>-<kind>`, e.g. `00004-episode`."""
    return f"{index:05d}-{kind_of(index)}"


def load(data: str | Path | None = None, images: str | Path = "runs/synthdesk", *, seed: int = 0,
         size: int = DEFAULT_SIZE, split: Split = "heldout", kind: Kind | None = None, check_images: bool = True,
         skip_missing: bool = False) -> Dataset[SynthdeskTask]:
    """The first `size` tasks of `split` under `seed`; with `kind`, the first `size` of that kind alone: the samples
    of that kind in the same order, with the same ids and tasks (`kind="grounding", size=2`: 00000 and 00003).

    data: unused (synthdesk reads no annotation file; the argument keeps the loaders' common signature).
    images: where the screenshots are written (default `runs/synthdesk`).
    check_images: write the screenshots while iterating (False writes nothing). skip_missing: unused (nothing can
        be missing).
    """
    if size < 0:
        raise ValueError(f"size={size!r} must be >= 0")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not one of {KINDS}")
    folder = as_path(images, "images") / f"{split}-s{seed}"
    indices = range(size) if kind is None else range(KINDS.index(kind), len(KINDS) * size, len(KINDS))
    entries = [Entry(sample_id(i), functools.partial(_build, folder, split, seed, i, check_images)) for i in indices]
    return Dataset("synthdesk", entries)


def _build(folder: Path, split: Split, seed: int, index: int, write: bool) -> SynthdeskTask | SkippedSample:
    episode = generate(split, seed, index, kind_of(index))
    return to_sample(episode, folder / sample_id(index), split=split, seed=seed, index=index, write=write)


def to_sample(episode: Episode, folder: Path, *, split: Split, seed: int, index: int, write: bool = True
              ) -> SynthdeskTask:
    """The benchmark sample of `episode`, its screenshots at `folder/<step>.png` (written when `write`)."""
    sid = sample_id(index)
    steps = []
    for i, step in enumerate(episode.steps):
        path = folder / f"{i}.png"
        if write:
            _write_png(step, path)
        steps.append(_step(step, f"{sid}/{i}", i, path))
    return SynthdeskTask(sample_id=sid, split=split, seed=seed, index=index, task_kind=episode.kind,
                         template=episode.template, instruction=episode.instruction,
                         screen_size=episode.spec.size, steps=tuple(steps), fingerprint=fingerprint(episode))


def _step(step: GoldStep, sid: str, i: int, path: Path) -> SynthdeskStep:
    target = step.target
    layout = step.state.layout()
    return SynthdeskStep(
        sample_id=sid, step_idx=i, image=path, image_size=step.state.spec.size, action_type=step.action,
        bbox=target.box if target is not None else None, point=target.click_point if target is not None else None,
        label=target.label if target is not None else None,
        look=look(layout, target) if target is not None else None, text=step.text if step.action == "type" else None,
        key=step.key or None, memory=step.memory, chance=step.chance, reply=step.reply,
        widgets=tuple(ShownWidget(role=w.role, label=w.label, box=w.box, interactive=w.interactive) for w in layout),
    )


def _write_png(step: GoldStep, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    step.state.render().image.save(tmp, format="PNG", compress_level=1)
    os.replace(tmp, path)
