"""RecencyKV: the budget split across screenshots in favour of the newest (a baseline for the temporal score)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from compression.base import LayerInputs, ScoredMethod

__all__ = ["RecencyKV"]

_MASK32 = 0xFFFFFFFF


def spread_order(pos: torch.Tensor, salt: int = 0) -> torch.Tensor:
    """A fixed pseudo-random order of positions, in [0, 1) (float64): a 32-bit integer hash of ``pos + salt``, so a
    threshold keeps a uniformly scattered share of any set of positions, like ``random``'s draws but reproducible
    without a generator. (An arithmetic order such as ``frac(pos * 0.618)`` keeps stripes of a token grid.)"""
    x = (pos.to(torch.int64) + salt) & _MASK32  # lowbias32 (C. Wellons); int64 products wrap, the low 32 bits hold
    x = ((x ^ (x >> 16)) * 0x7FEB352D) & _MASK32
    x = ((x ^ (x >> 15)) * 0x846CA68B) & _MASK32
    x = x ^ (x >> 16)
    return x.to(torch.float64) / float(1 << 32)


@dataclass(frozen=True)
class RecencyKV(ScoredMethod):
    """Split the budget across screenshots in favour of the newest; the window is kept (by the base).

    Each entry belongs to a screenshot of age ``a`` (0 = the current one, 1 = the one before, ...); text entries
    count as age 0. Within a screenshot (and within the text) entries are ranked in a fixed pseudo-random order
    (``spread_order`` of their position, per layer), so the kept ones are scattered as ``random``'s are: the two
    baselines differ only in how the budget is split across screenshots. Top-k on ``-(order + 2**-20) / decay**a``
    (ranked through its logarithm) keeps, for some threshold ``t``, the entries with ``order < t * decay**a``: the
    current screenshot and the text keep a fraction ``t`` of their entries, the screenshot before ``t * decay``, the
    one before that ``t * decay**2`` (each at most all of it). A study of history-screenshot pruning (arXiv
    2603.26041) found that recent frames deserve most of the budget; this is that allocation, with no attention score
    at all.

    Parameters
    ----------
    decay : float, default 0.5
        Share of a screenshot relative to the next newer one, in (0, 1]; 1 spreads the budget evenly.
    """

    decay: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.decay, bool) or not (0.0 < float(self.decay) <= 1.0):
            raise ValueError(f"decay must be in (0, 1], got decay={self.decay!r}")

    def score(self, layer: LayerInputs) -> torch.Tensor:
        B, Hkv, _, _ = layer.keys.shape
        S = layer.n_scored
        device = layer.keys.device
        Hs = Hkv if layer.head_layout == "kv" else layer.queries.shape[1]
        salt = 0x9E3779B9 * (layer.layer_idx + 1)  # each layer its own scatter, as random draws per layer
        order = (spread_order(torch.arange(S, device=device), salt) + 2.0**-20).to(torch.float32)  # (T',) in (0, 1]
        no_frames = torch.full((1, 1, S), -1, device=device)
        frame_ids = layer.frame_ids[..., :S] if layer.frame_ids is not None else no_frames  # (b, h, T')
        age = torch.where(frame_ids >= 0, layer.n_frames - 1 - frame_ids, torch.zeros_like(frame_ids))  # text: 0
        # -order / decay**age ranks like its log, which neither overflows nor underflows for old frames
        scores = age.clamp(min=0).to(torch.float32) * math.log(self.decay) - torch.log(order)  # (b, h, T')
        if scores.shape[1] not in (1, Hs):  # per-KV-head frame ids in the "query" layout: one row per query head
            scores = scores.repeat_interleave(Hs // scores.shape[1], dim=1)
        return scores.expand(B, Hs, S)  # (B, Hs, T'), higher = kept
