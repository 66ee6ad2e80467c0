"""The configuration of a `python -m agent train` run (`TrainConfig`), checked when it is made.

The fields' meaning is `TrainConfig`'s docstring; how a run uses them is `agent.training.run`'s.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.training.examples import POINTER_LAYERS
from agent.training.gui_tiny import GUI_TINY_TEXT, GUI_TINY_VISION

__all__ = ["TrainConfig", "config_sizes"]


@dataclass(frozen=True)
class TrainConfig:
    """out: run directory. steps: optimiser steps. batch: tasks per step. lr: peak AdamW learning rate (warm-up
    ``warmup`` steps, cosine to 10%). reading_steps: the reading phase (`agent.training.run`), counted in ``steps``.
    seed: weights and data. procs: data-parallel processes (`agent.training.run`); ``batch`` must be a multiple.
    threads: torch CPU threads per process. init: a gui-tiny model directory (an export, e.g. the shipped
    ``agent/models/gui_tiny``) to continue training from (`agent.training.run`); None starts from seeded random
    weights. init_heads: the run directory whose final checkpoint ``init`` was exported from; its auxiliary heads
    start this run's (`agent.training.run`). None: fresh heads. mix: relative weights of grounding, episode and memory
    steps in the curriculum's final mix (every step of an ``init`` run); (1, 1, 1): thirds. lm_layers /
    vision_depth: LM layers (at least 3: the pointer losses supervise the last three) and vision blocks; None:
    ``init``'s own, or gui-tiny's 4 and 2. With ``init``, at least its own (more deepens it, `agent.training.run`).
    kv_heads: key/value heads of the LM attention (a divisor of its 4 query heads); None: ``init``'s own, or 2. With
    ``init``, a multiple of its own (more widens it: `agent.training.grow.widen_kv`).
    heads_first: with ``init`` and fresh heads, the first steps train the auxiliary heads alone (no gradient reaches
    the model) at ``HEADS_FIRST_LR``, so that the losses read through them do not pull the model toward random
    probes; the model's own schedule (warm-up, cosine) starts after them. Counted in ``steps``. 0: none.
    inverted_every: one example in this many of a grounding step is a grounding task whose target is drawn inverted
    (`agent.training.run`); 0: none.
    beside_every: one example in this many of a grounding step is a grounding task on a screen with an inverted
    widget whose target is that widget or, half the time, one within a cell of it (`agent.training.run`); 0: none.
    lit_every: one example in this many of a grounding step is a grounding task on a screen repainted with half its
    menu titles, list items and buttons inverted (`tasks.synthdesk.training.lit`); 0: none.
    inverted_read_weight: the ``read`` loss weighs each cell of an inverted widget (white on the accent colour) this
    many times as much as any other cell (`agent.training.objective.compute_losses`); 1: evenly.
    vision_lr_scale: the vision tower's learning rate is ``lr`` times this (after ``heads_first``); 1: the same.
    match_weight: the loss adds the ``match`` part this many times: the image path of a ``lit`` screen's repainted
    cells is asked for the hidden states the same cells get drawn plainly (`agent.training.objective._match_loss`);
    0: not computed."""

    out: Path
    steps: int = 1750
    batch: int = 8
    lr: float = 2e-3
    warmup: int = 50
    reading_steps: int = 600
    seed: int = 0
    checkpoint_every: int = 25
    threads: int = 1
    procs: int = 2
    init: Path | None = None
    init_heads: Path | None = None
    mix: tuple[int, int, int] = (1, 1, 1)
    lm_layers: int | None = None
    vision_depth: int | None = None
    kv_heads: int | None = None
    heads_first: int = 0
    inverted_every: int = 0
    beside_every: int = 0
    lit_every: int = 0
    inverted_read_weight: float = 1.0
    vision_lr_scale: float = 1.0
    match_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.init is not None and not (Path(self.init) / "config.json").is_file():
            raise ValueError(f"init={self.init}: not a model directory (no config.json); give an exported gui-tiny "
                             "directory such as agent/models/gui_tiny")
        own = config_sizes(Path(self.init)) if self.init is not None else (
            GUI_TINY_TEXT["num_hidden_layers"], GUI_TINY_VISION["depth"], GUI_TINY_TEXT["num_key_value_heads"])
        for name, size in zip(("lm_layers", "vision_depth", "kv_heads"), own):
            if getattr(self, name) is None:  # frozen: the resolved size is what the checkpoint records
                object.__setattr__(self, name, size)
        for name in ("steps", "batch", "warmup", "reading_steps", "checkpoint_every", "threads", "procs", "lm_layers",
                     "vision_depth", "kv_heads", "heads_first", "inverted_every", "beside_every", "lit_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (
                    0 if name in ("warmup", "reading_steps", "heads_first", "inverted_every", "beside_every",
                                  "lit_every") else 1):
                raise ValueError(f"{name}={value!r} must be a positive int")
        if self.reading_steps >= self.steps:
            raise ValueError(f"reading_steps={self.reading_steps} leaves none of the {self.steps} steps to the tasks")
        if self.heads_first and (self.init is None or self.init_heads is not None):
            raise ValueError(f"heads_first={self.heads_first} fits fresh heads to a trained model: it needs init and "
                             "no init_heads")
        if self.heads_first + self.reading_steps >= self.steps:
            raise ValueError(f"heads_first={self.heads_first} and reading_steps={self.reading_steps} leave none of the "
                             f"{self.steps} steps to the model")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr!r} must be > 0")
        for name, least, zero in (("inverted_read_weight", 1.0, False), ("vision_lr_scale", 0.0, False),
                                  ("match_weight", 0.0, True)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not least <= value < float("inf") \
                    or (value == 0 and not zero):
                raise ValueError(f"{name}={value!r} must be a finite number "
                                 + (f">= {least:g}" if least or zero else "> 0"))
            object.__setattr__(self, name, float(value))  # as a resume compares it
        if self.match_weight and not self.lit_every:
            raise ValueError(f"match_weight={self.match_weight:g} needs lit_every > 0: only lit screens have plain "
                             "twins")
        if self.init_heads is not None and (self.init is None
                                            or not (Path(self.init_heads) / "checkpoint.pt").is_file()):
            raise ValueError(f"init_heads={self.init_heads}: needs init and a run directory with a checkpoint.pt (the "
                             "run that init was exported from)")
        if (not isinstance(self.mix, tuple) or len(self.mix) != 3 or sum(self.mix) < 1
                or any(isinstance(w, bool) or not isinstance(w, int) or w < 0 for w in self.mix)):
            raise ValueError(f"mix={self.mix!r} must be three ints >= 0 (grounding, episode, memory), not all 0")
        if self.lm_layers < len(POINTER_LAYERS):
            raise ValueError(f"lm_layers={self.lm_layers}: the pointer losses supervise the last {len(POINTER_LAYERS)} "
                             "LM layers; give at least that many")
        if self.init is not None and (self.lm_layers < own[0] or self.vision_depth < own[1]):
            raise ValueError(f"lm_layers={self.lm_layers}, vision_depth={self.vision_depth}: init={self.init} has "
                             f"{own[0]} LM layers and {own[1]} vision blocks; a continuation can add layers, not "
                             "remove them")
        query_heads = GUI_TINY_TEXT["num_attention_heads"]
        if query_heads % self.kv_heads or (self.init is not None and self.kv_heads % own[2]):
            raise ValueError(f"kv_heads={self.kv_heads} must divide the {query_heads} query heads"
                             + (f" and be a multiple of init={self.init}'s {own[2]}" if self.init is not None else ""))
        if self.batch % self.procs:
            raise ValueError(f"batch={self.batch} must be a multiple of procs={self.procs}: each process draws an "
                             "equal share of every step's examples")

    def saved(self) -> dict[str, str]:
        """The configuration as a checkpoint stores it (a resumed run must match it)."""
        return {k: str(v) for k, v in asdict(self).items()}


def config_sizes(directory: Path) -> tuple[int, int, int]:
    """(LM layers, vision blocks, KV heads) that the model directory's config.json declares; ValueError if it does
    not."""
    path = Path(directory) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        text = config["text_config"]
        return (int(text["num_hidden_layers"]), int(config["vision_config"]["depth"]),
                int(text["num_key_value_heads"]))
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a Qwen2.5-VL config (text_config.num_hidden_layers and num_key_value_heads, "
                         f"vision_config.depth): {e!r}") from e
