"""RandomKV: a uniformly random subset at the same budget (the baseline that keeps the study honest)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from compression.base import LayerInputs, ScoredMethod

__all__ = ["RandomKV"]

_MIX = (1_000_003, 7_919)  # odd multipliers folding (layer_idx, n_seen) into the seed


@dataclass(frozen=True)
class RandomKV(ScoredMethod):
    """Keep, per head, a uniformly random subset of the non-window entries (plus the window), seeded.

    A history-screenshot pruning study (arXiv 2603.26041) found random pruning competitive with designed scores;
    this is that baseline at KV level: text and image entries alike, every head its own subset. The draw is
    deterministic: a generator seeded with ``seed``, the layer index and the tokens seen, so a rerun keeps the same
    entries and each layer (and each step of a session) draws anew.

    Parameters
    ----------
    seed : int, default 0
        Seed of the draws (>= 0).
    """

    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got seed={self.seed!r}")

    def score(self, layer: LayerInputs) -> torch.Tensor:
        B, Hkv, _, _ = layer.keys.shape
        Hs = Hkv if layer.head_layout == "kv" else layer.queries.shape[1]
        device = layer.keys.device
        gen = torch.Generator(device=device)
        gen.manual_seed(self.seed + _MIX[0] * (layer.layer_idx + 1) + _MIX[1] * layer.n_seen)
        return torch.rand(B, Hs, layer.n_scored, generator=gen, device=device)  # (B, Hs, T') iid uniform
