"""VL-Cache (arXiv 2410.23317): post-vision attention scores and sparsity-aware per-layer budgets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence, Tuple

import torch

from compression.base import Frames, LayerInputs, ScoredMethod, _validate_frames
from compression.scoring import attention_sparsity, snapkv_scores, window_attention

__all__ = ["VLCache"]


def _post_vision(T: int, n_queries: int, frames: Tuple[Tuple[int, int], ...], device: torch.device) -> torch.Tensor:
    """(Wq,) bool: window queries at or after the end of the last frame.

    All queries count when there are no frames or when no query follows the last frame.
    """
    last_end = frames[-1][1] if frames else 0
    if last_end >= T:
        last_end = 0
    q_pos = torch.arange(T - n_queries, T, device=device)  # (Wq,)
    return q_pos >= last_end


@dataclass(frozen=True)
class VLCache(ScoredMethod):
    """VL-Cache as in the GUI-KV reference's ``VLCacheCluster``, fitted to per-layer hooks.

    Scores: SnapKV scores from the *post-vision* queries (window queries after the last frame).
    Budgets: with sparsities ``gamma_l`` of every layer (fraction of post-vision attention weights
    ``<= sparsity_threshold``, averaged over heads), layer ``l`` keeps
    ``int(int(n_seen * budget / 100) * L * beta_l)`` with ``beta_l = clamp((1 - gamma_l) / sum(1 - gamma), 0.001, 1)``.

    Deviations from the reference (documented; the reference needs a second full prefill pass per prompt):

    * The reference measures ``gamma_l`` in an extra forward pass over all post-vision tokens. Here, without
      ``layer_sparsity``, the method ``calibrates``: the hooks measure ``gamma_l`` (``measure_sparsity``) in every
      layer of each compressing forward over its full cache and compress the layers once the forward has run, with
      ``with_layer_sparsity`` (no second pass; the uncompressed cache of that forward is held until its end).
      Fixed sparsities given as ``layer_sparsity`` are used as they are. ``select`` called directly without them
      has uniform capacity (plain post-vision SnapKV). If every layer measures ``gamma_l = 1`` (no post-vision
      weight above the threshold anywhere) the budgets are uniform, the limit of equal densities.
    * The reference uses every post-vision token as a query and protects them all as its window; here the
      queries and the protected positions are the last ``window`` tokens (raise ``window`` to get closer).
    * Layers whose budget is at most ``window`` keep ``window + 1`` entries (the reference shrinks its window).
    * Layer budgets above ``n_seen`` are capped at ``n_seen`` (the reference's ``topk`` fails there), and
      ``budget=100`` keeps everything in every layer. With ``max_tokens`` every layer is clamped at it.

    Parameters
    ----------
    sparsity_threshold : float, default 0.01
        Attention weights at or below it count as sparse.
    layer_sparsity : tuple of float or None, default None
        ``gamma_l`` per layer, in [0, 1]; its length must equal ``num_layers`` when used.
    """

    sparsity_threshold: float = 0.01
    layer_sparsity: Optional[Tuple[float, ...]] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (0.0 <= self.sparsity_threshold < 1.0):
            raise ValueError(
                f"sparsity_threshold must be in [0, 1), got sparsity_threshold={self.sparsity_threshold!r}"
            )
        if self.layer_sparsity is not None:
            gammas = tuple(float(g) for g in self.layer_sparsity)
            if not gammas or any(not (0.0 <= g <= 1.0) for g in gammas) or all(g == 1.0 for g in gammas):
                raise ValueError(
                    "layer_sparsity must be non-empty values in [0, 1], not all 1, "
                    f"got layer_sparsity={self.layer_sparsity!r}"
                )
            object.__setattr__(self, "layer_sparsity", gammas)

    def with_layer_sparsity(self, gammas: Sequence[float]) -> "VLCache":
        """A copy of this method with the per-layer sparsities set."""
        return replace(self, layer_sparsity=tuple(float(g) for g in gammas))

    @property
    def calibrates(self) -> bool:
        return self.layer_sparsity is None

    def layer_statistic(self, keys: torch.Tensor, queries: torch.Tensor, frames: Frames = ()) -> float:
        """``gamma_l`` of one layer, averaged over the batch (B = 1 under the hooks)."""
        return float(self.measure_sparsity(keys, queries, frames).mean())

    def calibrated(self, statistics: Sequence[float]) -> "VLCache":
        """A copy with ``layer_sparsity = statistics``; with uniform budgets when every layer measured 1."""
        gammas = [float(g) for g in statistics]
        if gammas and all(g >= 1.0 for g in gammas):
            gammas = [0.0] * len(gammas)  # equal densities: the same budgets as any equal gammas
        return self.with_layer_sparsity(gammas)

    def capacity(self, n_seen: int, layer_idx: int = 0, num_layers: int = 1) -> int:
        c = self.base_capacity(n_seen)
        if self.layer_sparsity is None or c >= n_seen:
            return c
        if len(self.layer_sparsity) != num_layers:
            raise ValueError(
                f"layer_sparsity has {len(self.layer_sparsity)} values but num_layers={num_layers}"
            )
        # float32 on the host, as the reference: betas = clamp((1 - g) / sum(1 - g), 0.001, 1)
        density = 1.0 - torch.tensor(self.layer_sparsity, dtype=torch.float32)  # (L,)
        betas = torch.clamp(density / density.sum(), min=0.001, max=1.0)  # (L,)
        layer_budget = int((c * num_layers * betas[layer_idx]).int())
        return self._capped(min(max(layer_budget, self.window + 1), n_seen))

    def measure_sparsity(self, keys: torch.Tensor, queries: torch.Tensor, frames: Frames = ()) -> torch.Tensor:
        """``gamma`` of one layer: (B,) fraction of causal post-vision window attention ``<= sparsity_threshold``.

        ``keys`` (B, Hkv, T, D), ``queries`` (B, H, Wq, D) post-RoPE for the last ``Wq`` positions.
        """
        T = keys.shape[2]
        spans = _validate_frames(frames, T)
        Wq = queries.shape[2]
        probs = window_attention(keys, queries)  # (B, Hkv, G, Wq, T)
        q_pos = torch.arange(T - Wq, T, device=keys.device)  # (Wq,)
        causal = torch.arange(T, device=keys.device)[None, :] <= q_pos[:, None]  # (Wq, T)
        valid = causal & _post_vision(T, Wq, spans, keys.device)[:, None]  # (Wq, T)
        return attention_sparsity(probs, valid, self.sparsity_threshold)

    def score(self, layer: LayerInputs) -> torch.Tensor:
        T = layer.keys.shape[2]
        post = _post_vision(T, layer.queries.shape[2], layer.frames, layer.keys.device)  # (Wq,)
        return snapkv_scores(
            layer.keys,
            layer.queries,
            layer.window,
            self.kernel_size,
            self.pooling,
            per_query_head=layer.head_layout == "query",
            query_mask=post,
        )  # (B, Hs, T')
