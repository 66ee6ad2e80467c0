"""Seeded, split-disjoint synthdesk tasks: `generate(split, seed, index, kind)`.

Two splits, disjoint by construction:

* the split name is part of every RNG key (`synthdesk|<split>|<seed>|<index>|<kind>|<template>|<density>`), so the two
  splits draw from unrelated random streams; and
* every task has a `fingerprint` (a hash of its kind, template, instruction and first state: the whole app, the
  notice, the ticked boxes), and a task belongs to the split its fingerprint assigns ("heldout" for one
  fingerprint in four, "train" for the rest). A draw that lands in the other split is thrown away and drawn
  again, so no task can ever be in both splits, whatever the seeds.

The same (split, seed, index, kind, density, template) gives the same task on every machine with the same Pillow
(Python's `random.Random` seeded with a string is stable across runs and platforms; nothing depends on hash
randomisation).
"""

from __future__ import annotations

import hashlib
import random
from typing import Literal

from tasks.synthdesk.episodes import EPISODE_TEMPLATES, KINDS, MEMORY_TEMPLATES, Episode, Kind, draw_episode

__all__ = ["SPLITS", "Split", "draw", "fingerprint", "generate", "split_of"]

Split = Literal["train", "heldout"]
SPLITS: tuple[Split, ...] = ("train", "heldout")
HELDOUT_EVERY = 4
"""One fingerprint bucket in this many is held out."""
MAX_ATTEMPTS = 10_000


def fingerprint(episode: Episode) -> str:
    """A hex digest that identifies the task: kind, template, instruction, the app and the first screen's state."""
    s = episode.steps[0].state
    canonical = repr((episode.kind, episode.template, episode.instruction, s.spec, s.open_menu, s.dialog, s.focus,
                      s.fields, sorted(s.checked), s.selected, s.deleted, s.toast, s.status))
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).hexdigest()


def split_of(episode: Episode) -> Split:
    """The split the task's fingerprint assigns it to."""
    return "heldout" if int(fingerprint(episode)[:8], 16) % HELDOUT_EVERY == 0 else "train"


def draw(rng: random.Random, kind: Kind, split: Split = "train", *, density: float | None = None,
         template: str | None = None) -> Episode:
    """A task of `kind` in `split` from the caller's RNG (draws until one fits and belongs to the split).

    The template (episode and memory kinds) is drawn once, uniformly, before the layouts, so every template is
    equally frequent whatever its layouts' failure rate.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {SPLITS}")
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not one of {KINDS}")
    if template is None and kind != "grounding":
        template = rng.choice(sorted(EPISODE_TEMPLATES if kind == "episode" else MEMORY_TEMPLATES))
    for _ in range(MAX_ATTEMPTS):
        episode = draw_episode(rng, kind, density=density, template=template)
        if episode is not None and split_of(episode) == split:
            return episode
    raise RuntimeError(f"no {kind} task of split {split!r} in {MAX_ATTEMPTS} draws (density={density}, "
                       f"template={template})")


def generate(split: Split, seed: int, index: int, kind: Kind, *, density: float | None = None,
             template: str | None = None) -> Episode:
    """Task number `index` of `kind` in `split` under `seed`: deterministic, and in `split` by construction."""
    rng = random.Random(f"synthdesk|{split}|{seed}|{index}|{kind}|{template}|{density}")
    return draw(rng, kind, split, density=density, template=template)
