"""Average trained gui-tiny models into one (a "model soup"): the uniform mean of their weights.

`average_checkpoint(directories, out)` writes ``out/checkpoint.pt`` holding the mean of the weights of the gui-tiny
model directories ``directories`` (exports, or ``gui-tiny`` for the shipped one); `python -m agent train --out OUT
--export DIR` then exports it like any run. Every model is first widened to the most KV heads among them
(`agent.training.grow.widen_kv`, which leaves its outputs unchanged); their depths must be equal.

Why: continuations of one trained model stay in its basin, so their mean is a model too, and it errs less than each.
On the 600 held-out grounding screens (seeds 1 and 2), ft5 clicked 532, its continuations kv4 and kv4b 538 and 535,
the mean of ft5 and kv4 542, and the mean of all three 548: the runs miss partly different screens (ft5, ft9a and
kv4 missed 35, 33 and 26 of the seed-1 300, 14 of them all three), and the mean keeps what they share. A mean can be
trained further and averaged again: ms1, that mean after 500 more steps, clicked 542, and the mean of the two
(soup2) 555; the mean of soup2 and two more of its continuations (ms2, and inv1 with ``--inverted-every 8``),
soup3, 561; the mean of soup3 and its continuation bes1 (``--beside-every 4``), soup4, 563; the mean of soup4 and
its continuation bes2 (the same option), soup5, 565; the shipped soup10 is a mean of means too (README). The
auxiliary heads are not averaged: the checkpoint holds none, so a run that continues the mean starts fresh ones
(``--heads-first``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from agent.training.grow import widen_kv
from agent.training.gui_tiny import kv_heads_of, sizes_of

__all__ = ["average_checkpoint", "average_models"]


def average_models(models: Sequence[nn.Module]) -> dict[str, torch.Tensor]:
    """The uniform mean of the gui-tiny ``models``' weights (float32), each widened to the most KV heads among them.
    ValueError for fewer than two models or models of different depths."""
    if len(models) < 2:
        raise ValueError(f"averaging needs at least two models, got {len(models)}")
    depths = {sizes_of(m) for m in models}
    if len(depths) > 1:
        raise ValueError(f"the models have different depths (LM layers, vision blocks): {sorted(depths)}; only "
                         "models of one depth can be averaged")
    kv_heads = max(kv_heads_of(m) for m in models)
    states = [(m if kv_heads_of(m) == kv_heads else widen_kv(m, kv_heads)).state_dict() for m in models]
    return {name: torch.stack([s[name].float() for s in states]).mean(0) for name in states[0]}


def average_checkpoint(directories: Sequence[str | Path], out: str | Path) -> Path:
    """Write ``out/checkpoint.pt``: {"model": the mean of the models in ``directories`` (`average_models`; a
    packaged name such as ``gui-tiny`` stands for its directory), "averaged": the directories as given}.
    FileExistsError if ``out`` already holds a checkpoint; ValueError if a directory is not a model's."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from agent.models.loading import local_path

    out = Path(out)
    path = out / "checkpoint.pt"
    if path.exists():
        raise FileExistsError(f"{out} already holds a checkpoint; choose another --out")
    models = []
    for directory in map(local_path, map(str, directories)):
        if not (directory / "config.json").is_file():
            raise ValueError(f"{directory}: not a model directory (no config.json); give exported gui-tiny "
                             "directories")
        models.append(Qwen2_5_VLForConditionalGeneration.from_pretrained(directory, dtype=torch.float32))
    state = {"model": average_models(models), "averaged": [str(d) for d in directories]}
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    return path
