"""Pure scoring kernels for KV-cache compression: tensors in, tensors out.

Shape letters: B batch, H query heads, Hkv KV heads, G = H // Hkv, W window, T cached tokens,
T' = T - W scored (non-window) positions, D head dim, F frames, r basis rank.

Every kernel is batched over batch, heads and frames (no Python loop over any of them). Softmax, norms,
reductions and the QR/eigh run in at least float32 (``compute_dtype``); scores are returned in that dtype
(they only feed ``topk``, so they are never cast back to a half-precision model dtype). One exception, kept for
reference parity: the saliency norm is torch's norm of the model-dtype hidden states (float32 accumulation,
rounded to the model dtype, as the reference's ``torch.norm``).
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import torch
import torch.nn.functional as F

Pooling = Literal["avg", "max"]
TemporalBasis = Literal["first", "principal"]

__all__ = [
    "compute_dtype",
    "window_attention",
    "pool_scores",
    "snapkv_scores",
    "group_mean",
    "span_mask",
    "span_index",
    "frame_saliency",
    "temporal_basis",
    "temporal_residuals",
    "smallest_mask",
    "zero_smallest",
    "topk_with_window",
    "gather_heads",
    "attention_sparsity",
]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Return the dtype used for softmax/norm/QR: float32, or float64 when the input is float64."""
    return torch.promote_types(dtype, torch.float32)


def window_attention(keys: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """Softmax attention of the last ``Wq`` queries over all ``T`` keys, without ``repeat_kv``.

    Parameters
    ----------
    keys : torch.Tensor
        (B, Hkv, T, D) post-RoPE keys.
    queries : torch.Tensor
        (B, H, Wq, D) post-RoPE queries of the last ``Wq`` positions; query head ``h`` reads KV head
        ``h // G`` (transformers' ``repeat_kv`` order).

    Returns
    -------
    torch.Tensor
        (B, Hkv, G, Wq, T) attention probabilities in ``compute_dtype``: logits scaled by 1/sqrt(D),
        causal inside the window (query ``i`` sits at position ``T - Wq + i``), softmax over ``T``.
    """
    B, Hkv, T, D = keys.shape
    _, H, Wq, _ = queries.shape
    G = H // Hkv
    q = queries.reshape(B, Hkv, G * Wq, D)  # (B, Hkv, G*Wq, D): groups share their KV head
    logits = torch.matmul(q, keys.mT) / math.sqrt(D)  # (B, Hkv, G*Wq, T), model dtype like the reference
    logits = logits.to(compute_dtype(keys.dtype)).view(B, Hkv, G, Wq, T)  # (B, Hkv, G, Wq, T), owned
    q_pos = torch.arange(Wq, device=keys.device)  # (Wq,) offsets inside the window
    future = q_pos[None, :] > q_pos[:, None]  # (Wq, Wq): key j after query i
    logits[..., T - Wq :].masked_fill_(future, float("-inf"))
    return torch.softmax(logits, dim=-1)  # (B, Hkv, G, Wq, T)


def pool_scores(scores: torch.Tensor, kernel_size: int, pooling: Pooling) -> torch.Tensor:
    """1-D pooling along the last axis (stride 1, padding ``kernel_size // 2``), as the reference.

    Average pooling counts the zero padding (``count_include_pad=True``), exactly as ``F.avg_pool1d``.
    ``scores`` (..., T') -> (..., T').
    """
    shape = scores.shape
    flat = scores.reshape(-1, 1, shape[-1])  # (N, 1, T')
    pad = kernel_size // 2
    if pooling == "avg":
        pooled = F.avg_pool1d(flat, kernel_size=kernel_size, padding=pad, stride=1)
    else:
        pooled = F.max_pool1d(flat, kernel_size=kernel_size, padding=pad, stride=1)
    return pooled.view(shape)


def snapkv_scores(
    keys: torch.Tensor,
    queries: torch.Tensor,
    window: int,
    kernel_size: int,
    pooling: Pooling,
    per_query_head: bool,
    query_mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """SnapKV scores of positions ``[0, T - window)``: window attention summed over queries, then pooled.

    Parameters
    ----------
    keys : torch.Tensor
        (B, Hkv, T, D) post-RoPE keys.
    queries : torch.Tensor
        (B, H, Wq, D) post-RoPE queries of the last ``Wq`` positions.
    window : int
        Protected recent positions (excluded from the scores).
    per_query_head : bool
        True: (B, H, T') per query head (reference layout). False: the mean over each GQA group of the
        per-query-head pooled scores, (B, Hkv, T').
    query_mask : torch.Tensor, optional
        (Wq,) bool: which window queries contribute (VL-Cache's post-vision queries).

    Returns
    -------
    torch.Tensor
        Scores in ``compute_dtype``.
    """
    B, Hkv, T, _ = keys.shape
    H = queries.shape[1]
    probs = window_attention(keys, queries)[..., : T - window]  # (B, Hkv, G, Wq, T')
    if query_mask is not None:
        probs = probs * query_mask[:, None].to(probs.dtype)
    summed = probs.sum(dim=-2).reshape(B, H, T - window)  # (B, H, T'): head h = kv * G + g
    pooled = pool_scores(summed, kernel_size, pooling)  # (B, H, T')
    return pooled if per_query_head else group_mean(pooled, Hkv)


def group_mean(scores: torch.Tensor, n_kv_heads: int) -> torch.Tensor:
    """Average per-query-head scores over each GQA group: (B, H, T') -> (B, Hkv, T')."""
    B, H, S = scores.shape
    return scores.view(B, n_kv_heads, H // n_kv_heads, S).mean(dim=2)  # (B, Hkv, T')


def span_mask(spans: torch.Tensor, length: int) -> torch.Tensor:
    """Membership of positions ``[0, length)`` in any of the half-open ``spans``.

    ``spans`` (F, 2) int64 -> (length,) bool, built with one arange comparison (no loop over frames).
    """
    pos = torch.arange(length, device=spans.device)  # (length,)
    inside = (pos[None, :] >= spans[:, :1]) & (pos[None, :] < spans[:, 1:])  # (F, length)
    return inside.any(dim=0)  # (length,)


def span_index(values: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """Index of the half-open span holding each value, -1 outside every span (one ``bucketize``, no loop).

    ``values`` int64 of any shape (positions or logical ids); ``spans`` (F, 2) int64, sorted and non-overlapping.
    Returns int64 of ``values``' shape.
    """
    if spans.numel() == 0:
        return torch.full_like(values, -1)
    bounds = spans.to(values.dtype).flatten().contiguous()  # (2F,) s0, e0, s1, e1, ...
    bucket = torch.bucketize(values, bounds, right=True)  # odd bucket 2f + 1 = inside [s_f, e_f)
    return torch.where(bucket % 2 == 1, (bucket - 1) // 2, torch.full_like(bucket, -1))


def frame_saliency(hidden_states: torch.Tensor, temperature: float, alpha: float) -> torch.Tensor:
    """GUI-KV spatial saliency of one frame: ``alpha * softmax(z / temperature)`` of the hidden-state norms.

    Parameters
    ----------
    hidden_states : torch.Tensor
        (B, N, hidden): hidden states of the frame's N tokens.

    Returns
    -------
    torch.Tensor
        (B, N) in ``compute_dtype``; ``z`` standardises the L2 norms with the unbiased std (+1e-8).
        The norms themselves are returned by torch in the input dtype (float32 accumulation).
    """
    # torch accumulates the norm in float32 and rounds it to the input dtype, exactly as the reference's
    # torch.norm on bf16 hidden states (and without a float32 copy of (B, N, hidden)); the rest runs in float32.
    norms = torch.linalg.vector_norm(hidden_states, dim=-1).to(compute_dtype(hidden_states.dtype))  # (B, N)
    std = norms.std(dim=-1, keepdim=True).nan_to_num(0.0)  # (B, 1); a 1-token frame has no spread
    z = (norms - norms.mean(dim=-1, keepdim=True)) / (std + 1e-8)  # (B, N)
    return torch.softmax(z / temperature, dim=-1) * alpha  # (B, N)


def temporal_basis(cur_keys: torch.Tensor, rank: int, basis: TemporalBasis) -> torch.Tensor:
    """Orthonormal basis of the current frame's key subspace, batched over (B, Hkv).

    ``"first"`` is the reference's basis: ``Q[:, :r]`` of ``qr(K_cur^T)`` spans the first ``r`` current-frame
    keys (Householder QR is column-sequential), so one reduced QR of ``K_cur[:r]^T`` gives the same subspace.
    ``"principal"`` takes the top-``r`` right singular vectors of ``K_cur`` (eigenvectors of ``K^T K``).

    ``cur_keys`` (B, Hkv, N, D) -> (B, Hkv, D, r) in ``compute_dtype`` with ``r = min(rank, N, D)``.
    """
    B, Hkv, N, D = cur_keys.shape
    r = min(rank, N, D)
    k = cur_keys.to(compute_dtype(cur_keys.dtype))
    if basis == "first":
        q, _ = torch.linalg.qr(k[..., :r, :].mT, mode="reduced")  # (B, Hkv, D, r)
        return q
    gram = k.mT @ k  # (B, Hkv, D, D)
    _, vecs = torch.linalg.eigh(gram)  # eigenvalues ascending
    return vecs[..., -r:]  # (B, Hkv, D, r)


def temporal_residuals(keys: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Distance of every key to the span of ``basis``: ``||k - Q Q^T k|| = sqrt(||k||^2 - ||Q^T k||^2)``.

    One batched product; only the (M, r) projections are materialised, not the (M, D) reconstructions.
    The difference of squares loses absolute precision ~eps * ||k||^2 (float32: ~1e-5 for ||k||^2 ~ 100), which
    only reorders residuals that are already that close.
    ``keys`` (B, Hkv, M, D), ``basis`` (B, Hkv, D, r) orthonormal -> (B, Hkv, M) in ``basis.dtype``.
    """
    k = keys.to(basis.dtype)  # (B, Hkv, M, D)
    proj = k @ basis  # (B, Hkv, M, r)
    sq = torch.linalg.vector_norm(k, dim=-1).square() - torch.linalg.vector_norm(proj, dim=-1).square()  # (B, Hkv, M)
    return sq.clamp(min=0).sqrt()


def smallest_mask(residuals: torch.Tensor, candidates: torch.Tensor, keep_fraction: float) -> torch.Tensor:
    """Mark, per head, the ``int((1 - keep_fraction) * n_h)`` candidates with the smallest residuals.

    ``n_h`` is the per-head number of candidates, so heads may have different counts (no loop over heads, no
    host sync). Equivalent to comparing double-``argsort`` ranks with the per-head count, but computed on the
    complement: the ``n_h - int((1 - keep_fraction) * n_h)`` largest candidates stay, and one ``topk`` of
    ``ceil(keep_fraction * M) + 2`` (an upper bound of that number) ranks them, instead of sorting all ``M``.

    Parameters
    ----------
    residuals : torch.Tensor
        (B, Hs, M) residual norms (only read where ``candidates``).
    candidates : torch.Tensor
        bool, broadcastable to (B, Hs, M): previous-frame entries.
    keep_fraction : float
        ``capacity / T`` (the reference's ``budget``), in (0, 1].

    Returns
    -------
    torch.Tensor
        (B, Hs, M) bool.
    """
    cand = candidates.expand_as(residuals)  # (B, Hs, M)
    M = residuals.shape[-1]
    n_cand = cand.sum(dim=-1, keepdim=True)  # (B, Hs, 1)
    n_zero = torch.floor((1.0 - keep_fraction) * n_cand.to(torch.float64)).to(torch.long)  # (B, Hs, 1)
    n_stay = n_cand - n_zero  # (B, Hs, 1)
    k = min(M, math.ceil(keep_fraction * M) + 2)  # >= n_stay for every head
    top = residuals.masked_fill(~cand, float("-inf")).topk(k, dim=-1).indices  # (B, Hs, k), largest first
    stays = torch.arange(k, device=residuals.device) < n_stay  # (B, Hs, k): rank among candidates < n_stay
    kept = torch.zeros_like(cand).scatter_(-1, top, stays)  # (B, Hs, M)
    return cand & ~kept


def zero_smallest(
    scores: torch.Tensor, residuals: torch.Tensor, candidates: torch.Tensor, keep_fraction: float
) -> torch.Tensor:
    """Scores with 0 at the entries picked by ``smallest_mask`` (same shapes as there)."""
    return scores.masked_fill(smallest_mask(residuals, candidates, keep_fraction), 0.0)


def topk_with_window(scores: torch.Tensor, n_top: int, window: int) -> torch.Tensor:
    """Kept positions per head: the ``n_top`` best scored positions plus the last ``window`` positions, sorted.

    ``scores`` (B, Hs, T') covers positions ``[0, T')`` with ``T' = T - window``; returns (B, Hs, n_top + window)
    int64, ascending.
    """
    B, Hs, S = scores.shape
    top = scores.topk(n_top, dim=-1).indices  # (B, Hs, n_top)
    recent = torch.arange(S, S + window, device=scores.device).expand(B, Hs, window)  # (B, Hs, W)
    kept = torch.cat([top, recent], dim=-1)  # (B, Hs, n_top + W)
    return kept.sort(dim=-1).values


def gather_heads(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Gather per-head positions: ``x`` (B, Hs, T, D), ``idx`` (B, Hs, k) -> (B, Hs, k, D), contiguous."""
    D = x.shape[-1]
    return x.gather(2, idx[..., None].expand(-1, -1, -1, D)).contiguous()  # (B, Hs, k, D)


def attention_sparsity(probs: torch.Tensor, valid: torch.Tensor, threshold: float) -> torch.Tensor:
    """VL-Cache layer sparsity: fraction of valid attention weights ``<= threshold``, averaged over heads.

    Parameters
    ----------
    probs : torch.Tensor
        (B, Hkv, G, Wq, T) window attention (``window_attention``).
    valid : torch.Tensor
        bool broadcastable to (Wq, T): the causal, post-vision entries that count.

    Returns
    -------
    torch.Tensor
        (B,) sparsity ``gamma`` in ``compute_dtype``.
    """
    B = probs.shape[0]
    valid = valid.expand(probs.shape[-2:])  # (Wq, T)
    dense = ((probs > threshold) & valid).sum(dim=(-2, -1)).to(probs.dtype)  # (B, Hkv, G)
    n_valid = valid.sum().clamp(min=1).to(probs.dtype)
    return (1.0 - dense / n_valid).view(B, -1).mean(dim=-1)  # (B,)
