"""Attach a compression method to a model for the duration of a ``with`` block (forward hooks, no patching).

``apply(model, method)`` registers, and removes in ``finally`` on every exit path:

* a forward pre-hook on the multimodal module (the one that receives ``input_ids``): finds the image-pad runs of
  the forward's chunk and opens the forward's bookkeeping;
* a forward pre-hook (with kwargs) on every LM attention module: when layers hold different cache lengths
  (per-layer budgets), it re-aligns the shared 4-D attention mask to this layer's cache;
* a forward hook (with kwargs) on every LM attention module: after the layer's attention ran over the full
  chunk, it recomputes the last ``window`` post-RoPE queries, calls ``method.select`` over the whole cache
  (old entries plus the chunk) and writes the kept keys/values back into ``past_key_values.layers[i]``; for a
  method that ``calibrates`` (VL-Cache without fixed sparsities) it records the layer's statistic instead, and
  every layer is compressed when the forward returns, with the method fitted to them (``hooks.calibration``);
* when ``method.hidden_states_source == "residual"``: a forward pre-hook on every decoder layer keeping ``args[0]``.

Compression runs on every forward with more than ``method.window`` new tokens while ``hooks.armed`` is True
(spec-compression §8.11); decode steps (one token) never compress. Nothing global is changed.

Shape letters: B batch (always 1), H query heads, Hkv KV heads, L new tokens of the forward, T cached entries
after the forward's update (old + L), W window, D head dim, k kept entries.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn
from transformers.cache_utils import DynamicLayer

from compression import compat
from compression.errors import CompressionError
from compression.models import ResolvedModel, image_spans, resolve
from compression.scoring import gather_heads, span_index

__all__ = ["CacheTracker", "CompressionHooks", "apply", "window_queries", "frame_membership"]

logger = logging.getLogger(__name__)

_ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2", "flash_attention_3")


@dataclass
class CacheTracker:
    """Logical id of every cached entry, per layer, kept in step with the cache by the hooks.

    A logical id is the entry's index in the full (uncompressed) transcript. ``ids[l]`` (B, Hkv, T) int64 is
    extended with the ids of each forward's new tokens and gathered with the kept indices on compression, so it
    always matches ``past_key_values.layers[l].keys`` entry for entry (sorted ascending per head).

    next_id: logical id of the next token fed to the model.
    n_evicted: tokens removed from the context by frame eviction (the budget's ``n_seen`` excludes them).
    frames: logical [start, end) spans of the image-pad runs already in the cache, oldest first.
    """

    n_layers: int
    ids: list[torch.Tensor | None] = field(default_factory=list)
    next_id: int = 0
    n_evicted: int = 0
    frames: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.ids:
            self.ids = [None] * self.n_layers

    def extended(self, layer_idx: int, first_id: int, B: int, Hkv: int, L: int, device: torch.device) -> torch.Tensor:
        """Ids of layer ``layer_idx`` with the forward's ``L`` new tokens appended: (B, Hkv, T_old + L)."""
        new = torch.arange(first_id, first_id + L, device=device).expand(B, Hkv, L)  # (B, Hkv, L)
        old = self.ids[layer_idx]
        return new.clone() if old is None else torch.cat([old.to(device), new], dim=-1)


@dataclass
class CompressionHooks:
    """Handle yielded by ``apply``: switches and what the hooks observed.

    armed: compress multi-token forwards (q_len > window) while True.
    kept: per layer, the kept physical indices (B, Hkv, k) of the last compression (before-compression positions).
    n_compressions: number of layer compressions performed in this block.

    Every forward that should compress (armed, ``method.compresses``, more than ``method.window`` new tokens) must
    compress every layer; the hook on the multimodal module checks this when the forward returns and raises
    ``CompressionError`` otherwise, so a cache is never reported compressed when it was not.
    """

    method: Any
    resolved: ResolvedModel
    tracker: CacheTracker | None = None
    armed: bool = True
    kept: dict[int, torch.Tensor] = field(default_factory=dict)
    n_compressions: int = 0
    _spans: list[tuple[int, int]] = field(default_factory=list)
    _first_id: int = 0
    _expects_compression: bool = False  # the current forward must compress every layer
    _n_compressed: int = 0  # layers compressed by the current forward
    _residual: dict[int, torch.Tensor] = field(default_factory=dict)
    statistics: tuple[float, ...] | None = None  # per layer, what a calibrating method's last compressing forward
    # measured (``layer_statistic``); ``calibration`` is the method fitted to them
    _statistics: dict[int, float] = field(default_factory=dict)  # per layer, of the current forward
    _pending: list["_LayerJob"] = field(default_factory=list)  # layers waiting for the forward's calibration

    @property
    def calibration(self) -> Any:
        """The calibrating method fitted to the last compressing forward (VLCache's sparsities), or None."""
        return None if self.statistics is None else self.method.calibrated(self.statistics)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def window_queries(
    attn: nn.Module,
    hidden_states: torch.Tensor,
    position_embeddings: tuple[torch.Tensor, torch.Tensor],
    window: int,
    mrope_section: tuple[int, ...] | None,
) -> torch.Tensor:
    """Post-RoPE queries of the last ``window`` tokens, exactly as the attention module computed them.

    Parameters
    ----------
    attn : nn.Module
        The LM attention module (``q_proj``, ``head_dim``).
    hidden_states : torch.Tensor
        (B, L, hidden) the attention input of this forward.
    position_embeddings : tuple
        (cos, sin): (B, L, D) with sections already merged (transformers >= 5.2x, and 1-D RoPE), or
        (3, B, L, D) unmerged mRoPE (transformers 5.2), merged here with ``mrope_section``.

    Returns
    -------
    torch.Tensor
        (B, H, W, D) with W = min(window, L).
    """
    B, L, _ = hidden_states.shape
    W = min(window, L)
    D = attn.head_dim
    q = attn.q_proj(hidden_states[:, -W:])  # (B, W, H * D)
    q = q.view(B, W, -1, D).transpose(1, 2)  # (B, H, W, D)
    cos, sin = position_embeddings
    cos, sin = cos[..., -W:, :], sin[..., -W:, :]  # slice the sequence axis: (B, W, D) or (3, B, W, D)
    if cos.dim() == 4:
        if mrope_section is None:
            raise CompressionError("4-D (mRoPE) position embeddings on a model without mrope_section")
        sections = list(mrope_section) * 2
        cos = torch.cat([m[i % 3] for i, m in enumerate(cos.split(sections, dim=-1))], dim=-1)  # (B, W, D)
        sin = torch.cat([m[i % 3] for i, m in enumerate(sin.split(sections, dim=-1))], dim=-1)  # (B, W, D)
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # (B, 1, W, D)
    return q * cos + _rotate_half(q) * sin  # (B, H, W, D)


def frame_membership(ids: torch.Tensor, frames: list[tuple[int, int]]) -> torch.Tensor:
    """bool mask, same shape as ``ids``: True where the logical id lies in one of the ``frames`` spans.

    ``frames`` are sorted, non-overlapping logical [start, end) spans; one ``bucketize`` (no loop over frames).
    """
    if not frames:
        return torch.zeros_like(ids, dtype=torch.bool)
    bounds = torch.tensor(frames, dtype=ids.dtype, device=ids.device).flatten()  # (2F,) s0, e0, s1, e1, ...
    return torch.bucketize(ids, bounds, right=True) % 2 == 1  # odd bucket = inside [s_f, e_f)


def _check_layer(layer: object) -> None:
    if type(layer) is not DynamicLayer:
        raise CompressionError(
            f"cache layer {type(layer).__name__} cannot be compressed; use a DynamicCache of DynamicLayer "
            "(static, sliding-window and quantized caches keep extra length state)"
        )


def _compress_layer(state: CompressionHooks, attn: nn.Module, kwargs: dict[str, Any]) -> None:
    """Forward-hook body for one attention layer (see module docstring)."""
    method, tracker, layer_idx = state.method, state.tracker, attn.layer_idx
    cache = compat.cache_of(kwargs)
    hidden = kwargs["hidden_states"]  # (B, L, hidden) attention input
    L = hidden.shape[1]
    if cache is None:
        if state._expects_compression or tracker is not None:
            raise CompressionError(
                f"layer {layer_idx}: the attention module received no cache under the keyword "
                f"{compat.CACHE_KEYWORD!r} ({compat.describe()}; keywords it got: {sorted(kwargs)}); "
                "nothing can be compressed or tracked"
            )
        return
    layer = cache.layers[layer_idx]
    keys = layer.keys  # (B, Hkv, T, D)
    B, Hkv, T, _ = keys.shape
    ids = tracker.extended(layer_idx, state._first_id, B, Hkv, L, keys.device) if tracker is not None else None
    if ids is not None and ids.shape[-1] != T:
        raise CompressionError(f"layer {layer_idx}: tracker holds {ids.shape[-1]} ids for {T} cached entries")
    if not (state.armed and method.compresses and L > method.window):
        if tracker is not None:
            tracker.ids[layer_idx] = ids
        return
    _check_layer(layer)
    T_old = T - L
    frames = [(T_old + s, T_old + e) for s, e in state._spans]  # physical spans of the chunk's images
    prev_mask = frame_ids = None
    n_frames = len(frames)
    if tracker is not None and ids is not None:
        # heads hold different token sets of older frames: give them per head, with the chunk's earlier frames
        first = state._first_id
        chunk_frames = [(first + s, first + e) for s, e in state._spans]
        if frames and tracker.frames:
            prev_mask = frame_membership(ids, tracker.frames + chunk_frames[:-1])
        in_context = tracker.frames + chunk_frames
        frame_ids = span_index(ids, torch.tensor(in_context, dtype=ids.dtype, device=ids.device).view(-1, 2))
        n_frames = len(in_context)
    queries = window_queries(attn, hidden, kwargs["position_embeddings"], method.window, state.resolved.mrope_section)
    source = method.hidden_states_source
    hs = None  # (B, L, hidden): hidden states of the chunk only (the current frame is in the chunk)
    if source == "attention_input":
        hs = hidden
    elif source == "residual":
        hs = state._residual.pop(layer_idx)
    n_seen = T if tracker is None else tracker.next_id - tracker.n_evicted
    job = _LayerJob(layer_idx, layer, ids, dict(
        keys=keys, queries=queries, hidden_states=hs, frames=tuple(frames), layer_idx=layer_idx,
        num_layers=len(state.resolved.layers), n_seen=n_seen, prev_frame_mask=prev_mask, frame_ids=frame_ids,
        n_frames=n_frames,
    ))
    if method.calibrates:  # every layer's statistic first; compressed in close_forward
        state._statistics[layer_idx] = method.layer_statistic(keys, queries, tuple(frames))
        state._pending.append(job)
        return
    _keep(state, method, job)


@dataclass
class _LayerJob:
    """One layer's compression: its cache layer, the logical ids of its entries and ``select``'s arguments."""

    layer_idx: int
    layer: DynamicLayer
    ids: torch.Tensor | None  # (B, Hkv, T) or None without a tracker
    select_args: dict[str, Any]


def _keep(state: CompressionHooks, method: Any, job: _LayerJob) -> None:
    """Select with ``method`` and keep the selected entries in the job's cache layer (and the tracker's ids)."""
    keys, values = job.layer.keys, job.layer.values  # (B, Hkv, T, D)
    T = keys.shape[2]
    idx = method.select(**job.select_args)  # (B, Hkv, k) sorted
    state.kept[job.layer_idx] = idx
    state.n_compressions += 1
    state._n_compressed += 1
    if state.tracker is not None and job.ids is not None:
        state.tracker.ids[job.layer_idx] = job.ids.gather(2, idx) if idx.shape[-1] < T else job.ids
    if idx.shape[-1] < T:
        job.layer.keys = gather_heads(keys, idx)  # (B, Hkv, k, D)
        job.layer.values = gather_heads(values, idx)  # (B, Hkv, k, D)
    logger.debug("layer %d: kept %d of %d entries (n_seen=%d)", job.layer_idx, idx.shape[-1], T,
                 job.select_args["n_seen"])


def _keep_calibrated(state: CompressionHooks) -> None:
    """Compress the layers a calibrating method deferred, with the method fitted to this forward's statistics."""
    if not state._pending:
        return
    n_layers = len(state.resolved.layers)
    missing = [i for i in range(n_layers) if i not in state._statistics]
    if missing:
        raise CompressionError(
            f"{type(state.method).__name__} calibrates on every layer of a forward, but layers {missing} of "
            f"{n_layers} reported no statistic"
        )
    state.statistics = tuple(state._statistics[i] for i in range(n_layers))
    fitted = state.calibration
    jobs, state._pending, state._statistics = state._pending, [], {}
    for job in jobs:
        _keep(state, fitted, job)


def _align_mask(attn: nn.Module, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]] | None:
    """Re-align a shared 4-D mask (built for layer 0's cache length) to this layer's cache length.

    With per-layer budgets the layers hold different lengths; the model builds one mask sized for layer 0.
    For B = 1 without padding every cached column is visible, so this layer's mask is the first column repeated
    for its cached entries, followed by the chunk's causal block (the last L columns).
    """
    mask, cache = kwargs.get("attention_mask"), compat.cache_of(kwargs)
    if not isinstance(mask, torch.Tensor) or mask.dim() != 4 or cache is None:
        return None
    L = kwargs["hidden_states"].shape[1]
    T_old = cache.layers[attn.layer_idx].get_seq_length()
    if mask.shape[-1] == T_old + L:
        return None
    old = mask[..., :1].expand(*mask.shape[:-1], T_old)  # (B, 1, L, T_old)
    kwargs = dict(kwargs, attention_mask=torch.cat([old, mask[..., -L:]], dim=-1))  # (B, 1, L, T_old + L)
    return args, kwargs


@contextmanager
def apply(model: nn.Module, method: Any, *, tracker: CacheTracker | None = None) -> Iterator[CompressionHooks]:
    """Compress ``model``'s KV cache with ``method`` inside the block.

    Parameters
    ----------
    model : nn.Module
        A supported model (``compression.models.ADAPTERS``), B = 1 inputs.
    method : CompressionMethod
        Hooks skip it entirely when ``method.compresses`` is False (nothing is registered without a tracker).
    tracker : CacheTracker, optional
        Session bookkeeping (logical ids per layer, frames, budget ``n_seen``). Without it ``n_seen`` is the
        layer's cache length after the forward (right for the first prefill of a fresh cache).

    Yields
    ------
    CompressionHooks
        The handle (``armed``, ``kept``, ``n_compressions``).

    Raises
    ------
    UnsupportedModelError
        The model type has no adapter.
    ValueError
        ``method.head_layout == "query"`` (a transformers cache stores Hkv heads), or a forward with batch > 1.
    """
    resolved = resolve(model)
    compresses = bool(method.compresses)
    if compresses and method.head_layout != "kv":
        raise ValueError(
            f"head_layout={method.head_layout!r} cannot be stored in a transformers cache (attention expects Hkv "
            "heads); use head_layout='kv' with the hooks (select() alone supports 'query' for parity)"
        )
    impl = getattr(model.config, "_attn_implementation", None)
    if compresses and impl not in _ATTN_IMPLEMENTATIONS:
        raise CompressionError(f"attention implementation {impl!r} is untested; use one of {_ATTN_IMPLEMENTATIONS}")
    state = CompressionHooks(method=method, resolved=resolved, tracker=tracker)
    handles: list[torch.utils.hooks.RemovableHandle] = []

    def open_forward(module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        embeds = kwargs.get("inputs_embeds")
        n_batch = input_ids.shape[0] if input_ids is not None else (embeds.shape[0] if embeds is not None else 1)
        if n_batch != 1:
            raise ValueError(f"KV compression supports batch size 1 only; got a forward with batch size {n_batch}")
        L = input_ids.shape[1] if input_ids is not None else (embeds.shape[1] if embeds is not None else 0)
        find_spans = compresses and state.armed and L > method.window
        if find_spans and input_ids is None:
            logger.warning("forward without input_ids: image spans unknown, compressing without frames")
            find_spans = False
        state._spans = image_spans(input_ids, resolved.image_token_id) if find_spans else []
        state._expects_compression = compresses and state.armed and L > method.window
        state._n_compressed = 0
        state._pending, state._statistics = [], {}
        if tracker is not None:
            state._first_id = tracker.next_id
            tracker.next_id += L

    def close_forward(module: nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> None:
        n_layers = len(resolved.layers)
        _keep_calibrated(state)
        if state._expects_compression and state._n_compressed != n_layers:
            raise CompressionError(
                f"{type(method).__name__} was attached and a forward longer than its window ({method.window}) ran, but "
                f"{state._n_compressed} of {n_layers} layers were compressed; the attention hooks did not see the "
                f"cache ({compat.describe()})"
            )
        state._expects_compression = False

    def after_attention(module: nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> None:
        _compress_layer(state, module, kwargs)

    def keep_residual(module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        state._residual[module.self_attn.layer_idx] = args[0] if args else kwargs["hidden_states"]

    try:
        if compresses or tracker is not None:
            handles.append(resolved.multimodal.register_forward_pre_hook(open_forward, with_kwargs=True))
            handles.append(resolved.multimodal.register_forward_hook(close_forward, with_kwargs=True))
            for attn in resolved.attentions:
                handles.append(attn.register_forward_pre_hook(_align_mask, with_kwargs=True))
                handles.append(attn.register_forward_hook(after_attention, with_kwargs=True))
            if compresses and method.hidden_states_source == "residual":
                for layer in resolved.layers:
                    handles.append(layer.register_forward_pre_hook(keep_residual, with_kwargs=True))
        yield state
    finally:
        for handle in handles:
            handle.remove()
        state._residual.clear()
        state._pending.clear()
