"""GUI-KV (arXiv 2510.00536): SnapKV + spatial saliency of the current screenshot + temporal redundancy."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import torch

from compression.base import HiddenStatesSource, LayerInputs
from compression.methods.snapkv import SnapKV
from compression.scoring import (
    frame_saliency,
    smallest_mask,
    span_mask,
    temporal_basis,
    temporal_residuals,
)

logger = logging.getLogger(__name__)

__all__ = ["GUIKV"]

_BASES = ("first", "principal")
_SOURCES = ("attention_input", "residual")


@dataclass(frozen=True)
class GUIKV(SnapKV):
    """GUI-KV as in the reference's ``GUIKVCluster.update_kv`` (batched; no loop over heads or frames).

    1. SnapKV pooled scores over ``[0, T - window)``.
    2. Spatial saliency (needs ``hidden_states``): for the current (last) frame, the L2 norms of the hidden
       states, standardised with the unbiased std, ``alpha * softmax(z / temperature)``, added to its scores.
    3. Temporal redundancy (>= 2 frames): a rank-``rank`` basis of the current frame's keys per KV head;
       over all previous-frame entries of a head, the ``int((1 - capacity / T) * N_prev)`` with the smallest
       residual ``||k - Q Q^T k||`` get score 0.
    4. Top ``capacity - window`` per head plus the window (done by ``ScoredMethod``).

    In "query" layout the basis and residuals are computed once per KV head and broadcast to its group
    (identical keys, so equal to the reference's per-query-head QR). The current frame is not protected
    (as in the reference). Unlike the reference, the temporal step also runs without hidden states.

    Parameters
    ----------
    alpha : float, default 2.0
        Weight of the saliency term (reference eval default).
    temperature : float, default 3.5
        Saliency softmax temperature, applied as ``z / temperature`` (the code's convention).
    rank : int, default 32
        Rank of the current-frame basis (capped at the frame length and head dim).
    temporal_basis : {"first", "principal"}, default "first"
        "first": span of the first ``rank`` current-frame keys (the reference's QR, bit-faithful).
        "principal": top-``rank`` principal subspace of the current-frame keys.
    saliency_source : {"attention_input", "residual"}, default "attention_input"
        Which hidden states the hooks pass: the attention input (post-RMSNorm, the reference) or the
        residual stream (the paper's wording).
    temporal : bool, default True
        Step 3 on or off (the temporal ablation). The saliency ablation is ``alpha=0``, which adds exactly 0.
    """

    alpha: float = 2.0
    temperature: float = 3.5
    rank: int = 32
    temporal_basis: Literal["first", "principal"] = "first"
    saliency_source: Literal["attention_input", "residual"] = "attention_input"
    temporal: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got temperature={self.temperature!r}")
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"rank must be an int >= 1, got rank={self.rank!r}")
        if self.temporal_basis not in _BASES:
            raise ValueError(f"temporal_basis must be one of {_BASES}, got temporal_basis={self.temporal_basis!r}")
        if self.saliency_source not in _SOURCES:
            raise ValueError(f"saliency_source must be one of {_SOURCES}, got saliency_source={self.saliency_source!r}")
        if not isinstance(self.temporal, bool):
            raise ValueError(f"temporal must be a bool, got temporal={self.temporal!r}")

    @property
    def hidden_states_source(self) -> HiddenStatesSource:
        return self.saliency_source

    def score(self, layer: LayerInputs) -> torch.Tensor:
        scores = super().score(layer)  # (B, Hs, T')
        if not layer.frames:
            return scores
        scores = self._add_saliency(scores, layer)
        return self._zero_redundant(scores, layer) if self.temporal else scores

    def _add_saliency(self, scores: torch.Tensor, layer: LayerInputs) -> torch.Tensor:
        hidden = layer.hidden_states
        if hidden is None:
            logger.debug("GUIKV: no hidden states given; skipping spatial saliency")
            return scores
        T, S = layer.keys.shape[2], layer.n_scored
        offset = T - hidden.shape[1]  # hidden states cover the last L positions
        start, end = layer.frames[-1]
        if start < offset:
            raise ValueError(
                f"hidden_states cover positions [{offset}, {T}) but the current frame is {(start, end)}; "
                "pass hidden states that include the current frame"
            )
        end_scored = min(end, S)
        if end_scored <= start:
            return scores
        sal = frame_saliency(hidden[:, start - offset : end - offset], self.temperature, self.alpha)  # (B, N)
        bonus = torch.zeros(scores.shape[0], S, dtype=scores.dtype, device=scores.device)  # (B, T')
        bonus[:, start:end_scored] = sal[:, : end_scored - start].to(scores.dtype)
        return scores + bonus[:, None, :]  # (B, Hs, T')

    def _zero_redundant(self, scores: torch.Tensor, layer: LayerInputs) -> torch.Tensor:
        keys = layer.keys
        B, Hkv = keys.shape[:2]
        start, end = layer.frames[-1]
        if layer.prev_frame_mask is not None:
            prev = layer.prev_frame_mask[..., : layer.n_scored].expand(B, Hkv, -1)  # (B, Hkv, T')
            prev_len = layer.n_scored
        else:
            if len(layer.frames) < 2:
                return scores
            prev_len = min(layer.frames[-2][1], layer.n_scored)  # previous frames end before this
            prev = span_mask(layer.spans[:-1], prev_len).expand(B, Hkv, -1)  # (B, Hkv, prev_len)
        basis = temporal_basis(keys[:, :, start:end], self.rank, self.temporal_basis)  # (B, Hkv, D, r)
        residuals = temporal_residuals(keys[:, :, :prev_len], basis)  # (B, Hkv, prev_len)
        redundant = smallest_mask(residuals, prev, layer.keep_ratio)  # (B, Hkv, prev_len)
        if layer.head_layout == "query":  # identical keys within a group: broadcast the KV-head decision
            G = scores.shape[1] // Hkv
            redundant = redundant[:, :, None].expand(B, Hkv, G, prev_len).reshape(B, Hkv * G, prev_len)
        scores[..., :prev_len].masked_fill_(redundant, 0.0)
        return scores  # (B, Hs, T')
