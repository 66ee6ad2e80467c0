"""Base classes of the compression methods: validation, capacity, and the shared top-k selection.

A method is a frozen dataclass of hyperparameters. ``ScoredMethod.select`` validates the inputs, computes the
capacity, asks the subclass for one score per (head, position) through ``score()``, and keeps per head the
``capacity - window`` best positions plus the last ``window`` positions (the reference's SnapKV layout).

Shape letters: B batch, H query heads, Hkv KV heads, G = H // Hkv, W window, T cached tokens,
T' = T - W scored positions, D head dim, F frames, Hs scored heads (Hkv for "kv", H for "query").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar, Literal, Optional, Sequence, Tuple, Union

import torch

from compression.errors import CapacityError
from compression.scoring import span_index, topk_with_window

logger = logging.getLogger(__name__)

HeadLayout = Literal["kv", "query"]
Pooling = Literal["avg", "max"]
HiddenStatesSource = Literal["none", "attention_input", "residual"]
Frames = Union[Sequence[Tuple[int, int]], torch.Tensor]

_HEAD_LAYOUTS = ("kv", "query")
_POOLINGS = ("avg", "max")

__all__ = ["CompressionMethod", "ScoredMethod", "LayerInputs", "HeadLayout", "Pooling", "HiddenStatesSource"]


@dataclass(frozen=True)
class LayerInputs:
    """Everything ``score()`` may read for one layer (built once by ``select``).

    Attributes
    ----------
    keys : torch.Tensor
        (B, Hkv, T, D) post-RoPE keys.
    queries : torch.Tensor
        (B, H, Wq, D) post-RoPE queries of the last ``Wq <= window`` positions.
    hidden_states : torch.Tensor or None
        (B, L, hidden) hidden states of the last ``L <= T`` positions (``L == T`` for a single prefill).
    frames : tuple of (int, int)
        Validated half-open frame spans in ``[0, T)``, oldest first; the last is the current frame.
    spans : torch.Tensor
        (F, 2) int64 on the keys' device: ``frames`` as a tensor (for mask building).
    prev_frame_mask : torch.Tensor or None
        bool broadcastable to (B, Hkv, T): per-head previous-frame entries, when frames are not contiguous
        spans (incremental caches); ``None`` means "the spans ``frames[:-1]``".
    window : int
        Protected recent positions; scores cover ``[0, T - window)``.
    capacity : int
        Entries kept per head at this layer (window included).
    head_layout : str
        "kv" (score per KV head) or "query" (per query head, the reference layout).
    layer_idx, num_layers, n_seen : int
        Layer position and tokens seen (for the capacity).
    frame_ids : torch.Tensor
        int64 broadcastable to (B, Hkv, T): the frame each entry belongs to, numbered from 0 (the oldest frame in
        context) to ``n_frames - 1`` (the current one); -1 for entries outside every frame (text).
    n_frames : int
        Frames in context, the current one included (old frames of an incremental cache too).
    n_text : int
        Entries kept outside the budget (``keep_text``: the text entries); 0 otherwise.
    """

    keys: torch.Tensor
    queries: torch.Tensor
    hidden_states: Optional[torch.Tensor]
    frames: Tuple[Tuple[int, int], ...]
    spans: torch.Tensor
    prev_frame_mask: Optional[torch.Tensor]
    window: int
    capacity: int
    head_layout: HeadLayout
    layer_idx: int
    num_layers: int
    n_seen: int
    frame_ids: Optional[torch.Tensor] = None
    n_frames: int = 0
    n_text: int = 0

    @property
    def keep_ratio(self) -> float:
        """Share of the budgeted entries kept: ``(capacity - n_text) / (T - n_text)``."""
        T = self.keys.shape[2]
        return (self.capacity - self.n_text) / (T - self.n_text)

    @property
    def n_kv_heads(self) -> int:
        return self.keys.shape[1]

    @property
    def n_scored(self) -> int:
        """T' = T - window: the number of positions that compete for the top-k."""
        return self.keys.shape[2] - self.window


@dataclass(frozen=True)
class CompressionMethod:
    """Common hyperparameters of every method (reference semantics, arXiv 2510.00536).

    Parameters
    ----------
    budget : float or None, default 10.0
        Percent of the tokens seen kept per head, in (0, 100]; ``capacity = int(n_seen * (budget / 100))``.
    max_tokens : int or None, default None
        Absolute cap on entries per head (window included). Exactly one of ``budget``/``max_tokens`` is set.
    window : int, default 8
        Most recent positions always kept; their queries score the rest.
    kernel_size : int, default 5
        Odd pooling kernel over positions.
    pooling : {"avg", "max"}, default "avg"
        Pooling of the summed window attention.
    head_layout : {"kv", "query"}, default "kv"
        "kv": score per query head, mean over the GQA group, top-k per KV head (returns (B, Hkv, k)).
        "query": the reference's per-query-head layout (returns (B, H, k)); not storable in a GQA cache.
    keep_text : bool, default False
        Keep every entry outside the screenshots (prompt, instruction, earlier replies) and spend the budget on
        image tokens alone: ``capacity = n_text + capacity(n_seen - n_text)``. The reference lets text and image
        tokens compete; where text is a large share of the context (synthdesk: 57% at the first step) every
        budget below that share must evict instruction text.
    """

    budget: Optional[float] = 10.0
    max_tokens: Optional[int] = None
    window: int = 8
    kernel_size: int = 5
    pooling: Pooling = "avg"
    head_layout: HeadLayout = "kv"
    keep_text: bool = False

    compresses: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if (self.budget is None) == (self.max_tokens is None):
            raise ValueError(
                f"exactly one of budget and max_tokens must be set, got budget={self.budget!r}, "
                f"max_tokens={self.max_tokens!r}"
            )
        if self.budget is not None and not (0.0 < float(self.budget) <= 100.0):
            raise ValueError(f"budget must be in (0, 100] (percent of tokens seen), got budget={self.budget!r}")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise ValueError(f"window must be an int >= 1, got window={self.window!r}")
        if self.max_tokens is not None and (not isinstance(self.max_tokens, int) or self.max_tokens <= self.window):
            raise ValueError(
                f"max_tokens must be an int > window={self.window}, got max_tokens={self.max_tokens!r}"
            )
        if not isinstance(self.kernel_size, int) or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd int >= 1, got kernel_size={self.kernel_size!r}")
        if self.pooling not in _POOLINGS:
            raise ValueError(f"pooling must be one of {_POOLINGS}, got pooling={self.pooling!r}")
        if self.head_layout not in _HEAD_LAYOUTS:
            raise ValueError(f"head_layout must be one of {_HEAD_LAYOUTS}, got head_layout={self.head_layout!r}")
        if not isinstance(self.keep_text, bool):
            raise ValueError(f"keep_text must be a bool, got keep_text={self.keep_text!r}")

    @property
    def hidden_states_source(self) -> HiddenStatesSource:
        """Which hidden states ``select`` wants: "none" unless the method reads them (GUIKV)."""
        return "none"

    @property
    def calibrates(self) -> bool:
        """True when ``select`` needs one statistic of every layer of a forward before any layer is compressed
        (VL-Cache's per-layer sparsities). The hooks then compress each forward's layers when the whole forward
        has run, with ``calibrated(statistics)``; the forward computes exactly what it would with eager compression,
        only the uncompressed cache of every layer is held until its end."""
        return False

    def layer_statistic(self, keys: torch.Tensor, queries: torch.Tensor, frames: Frames = ()) -> float:
        """One layer's calibration statistic from its full cache (``calibrates`` methods only).

        ``keys`` (B, Hkv, T, D) and ``queries`` (B, H, Wq, D) post-RoPE, ``frames`` as in ``select``."""
        raise NotImplementedError(f"{type(self).__name__} does not calibrate")

    def calibrated(self, statistics: Sequence[float]) -> "CompressionMethod":
        """This method fitted to one forward: ``statistics[l]`` is ``layer_statistic`` of layer ``l``."""
        raise NotImplementedError(f"{type(self).__name__} does not calibrate")

    def base_capacity(self, n_seen: int) -> int:
        """Uniform per-head capacity: ``int(n_seen * (budget / 100))``, or ``min(max_tokens, n_seen)``."""
        if self.budget is None:  # validated: max_tokens is set
            return min(int(self.max_tokens or 0), n_seen)
        return int(n_seen * (self.budget / 100))  # the reference's float expression (e.g. 100 * 0.29 -> 28)

    def capacity(self, n_seen: int, layer_idx: int = 0, num_layers: int = 1) -> int:
        """Entries kept per head at ``layer_idx`` (window included). Uniform unless a method overrides it."""
        return self.base_capacity(n_seen)

    def entries_kept(self, n_seen: int, n_text: int = 0, layer_idx: int = 0, num_layers: int = 1) -> int:
        """Entries ``select`` keeps per head when ``n_text`` of the ``n_seen`` tokens lie outside the screenshots:
        ``capacity(n_seen)``, or with ``keep_text`` ``n_text + capacity(n_seen - n_text)``; never above ``n_seen``.
        (With ``keep_text``, image entries inside the window count against the image capacity.)"""
        n_text = n_text if self.keep_text else 0
        return min(n_text + self.capacity(n_seen - n_text, layer_idx, num_layers), n_seen)

    def _capped(self, capacity: int) -> int:
        """``capacity`` limited to ``max_tokens`` when it is set: the cap holds in every layer, so per-layer
        allocations (PyramidKV, VLCache) are clamped at it and their mean falls below it."""
        return capacity if self.max_tokens is None else min(capacity, self.max_tokens)

    def select(
        self,
        keys: torch.Tensor,
        queries: torch.Tensor,
        hidden_states: Optional[torch.Tensor] = None,
        frames: Frames = (),
        layer_idx: int = 0,
        num_layers: int = 1,
        n_seen: Optional[int] = None,
        prev_frame_mask: Optional[torch.Tensor] = None,
        frame_ids: Optional[torch.Tensor] = None,
        n_frames: Optional[int] = None,
    ) -> torch.Tensor:
        """Kept positions per head, sorted ascending: (B, Hkv, k) for "kv", (B, H, k) for "query"."""
        raise NotImplementedError

    def _all_positions(self, keys: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """Every position for every head: (B, Hs, T) int64."""
        B, Hkv, T, _ = keys.shape
        Hs = Hkv if self.head_layout == "kv" else queries.shape[1]
        return torch.arange(T, device=keys.device).expand(B, Hs, T)


def _validate_frames(frames: Frames, T: int) -> Tuple[Tuple[int, int], ...]:
    """Frames as int pairs, checked: in ``[0, T)``, non-empty, sorted and non-overlapping."""
    if isinstance(frames, torch.Tensor):
        frames = frames.tolist()  # spans are host-side bookkeeping; one small copy
    out = []
    prev_end = 0
    for span in frames:
        try:
            start, end = (int(v) for v in span)
        except (TypeError, ValueError):
            raise ValueError(f"frames must be (start, end) pairs, got frames={list(frames)!r}") from None
        if not (0 <= start < end <= T):
            raise ValueError(f"frames span {(start, end)} is out of range [0, {T}) or empty; frames={list(frames)!r}")
        if start < prev_end:
            raise ValueError(f"frames must be sorted and non-overlapping, got frames={list(frames)!r}")
        prev_end = end
        out.append((start, end))
    return tuple(out)


def _validate_tensors(keys: torch.Tensor, queries: torch.Tensor, hidden_states: Optional[torch.Tensor]) -> None:
    if keys.dim() != 4 or queries.dim() != 4:
        raise ValueError(
            f"keys must be (B, Hkv, T, D) and queries (B, H, W, D), got keys={tuple(keys.shape)}, "
            f"queries={tuple(queries.shape)}"
        )
    B, Hkv, T, D = keys.shape
    if queries.shape[0] != B or queries.shape[3] != D or queries.shape[1] % Hkv != 0:
        raise ValueError(
            f"queries shape {tuple(queries.shape)} does not match keys {tuple(keys.shape)} "
            "(same B and D, H a multiple of Hkv)"
        )
    if hidden_states is not None and (
        hidden_states.dim() != 3 or hidden_states.shape[0] != B or hidden_states.shape[1] > T
    ):
        raise ValueError(f"hidden_states must be (B, L <= T, hidden), got hidden_states={tuple(hidden_states.shape)}")


@dataclass(frozen=True)
class ScoredMethod(CompressionMethod):
    """A top-k method: subclasses override ``score()`` only (kvpress ScorerPress style)."""

    def score(self, layer: LayerInputs) -> torch.Tensor:
        """Scores of positions ``[0, T - window)``: (B, Hs, T') with Hs = Hkv ("kv") or H ("query").

        Higher is kept. Called only when the layer is compressed (capacity < T).
        """
        raise NotImplementedError

    def select(
        self,
        keys: torch.Tensor,
        queries: torch.Tensor,
        hidden_states: Optional[torch.Tensor] = None,
        frames: Frames = (),
        layer_idx: int = 0,
        num_layers: int = 1,
        n_seen: Optional[int] = None,
        prev_frame_mask: Optional[torch.Tensor] = None,
        frame_ids: Optional[torch.Tensor] = None,
        n_frames: Optional[int] = None,
    ) -> torch.Tensor:
        """Kept positions per head, sorted ascending, the last ``window`` positions included.

        Parameters
        ----------
        keys : torch.Tensor
            (B, Hkv, T, D) post-RoPE keys of the whole cache.
        queries : torch.Tensor
            (B, H, Wq, D) post-RoPE queries of the last ``Wq`` positions; only the last ``window`` are used.
        hidden_states : torch.Tensor, optional
            (B, L, hidden) for the last ``L <= T`` positions (GUIKV saliency; must cover the current frame).
        frames : sequence of (int, int) or (F, 2) tensor
            Half-open image spans in ``[0, T)``, oldest first; the last one is the current screenshot.
        layer_idx, num_layers : int
            Layer position (PyramidKV / VLCache budgets).
        n_seen : int, optional
            Tokens seen, for the capacity; defaults to ``T``.
        prev_frame_mask : torch.Tensor, optional
            bool (B, Hkv, T) previous-frame entries per head, for caches whose heads hold different token
            sets (incremental sessions); overrides ``frames[:-1]`` for the temporal step.
        frame_ids : torch.Tensor, optional
            int64 broadcastable to (B, Hkv, T): per entry, its frame among the ``n_frames`` in context (0 = oldest),
            -1 outside frames; for incremental caches, whose old frames are not spans. Default: from ``frames``.
        n_frames : int, optional
            Frames in context (required with ``frame_ids``).

        Returns
        -------
        torch.Tensor
            int64 (B, Hkv, k) for "kv", (B, H, k) for "query"; ``k = min(capacity, T)``. When
            ``capacity >= T`` every position is returned.

        Raises
        ------
        ValueError
            Bad shapes, or frames that overlap, are unsorted or out of range; ``CapacityError`` (a ValueError)
            when ``window >= capacity``.
        """
        _validate_tensors(keys, queries, hidden_states)
        T = keys.shape[2]
        n_seen = T if n_seen is None else int(n_seen)
        valid_frames = _validate_frames(frames, T)
        if prev_frame_mask is not None and (
            prev_frame_mask.dtype != torch.bool
            or prev_frame_mask.dim() != 3
            or any(n not in (1, m) for n, m in zip(prev_frame_mask.shape, keys.shape[:3]))
        ):
            raise ValueError(
                f"prev_frame_mask must be a bool tensor broadcastable to (B, Hkv, T)={tuple(keys.shape[:3])}, got "
                f"prev_frame_mask={prev_frame_mask.dtype} {tuple(prev_frame_mask.shape)}"
            )
        spans = torch.tensor(valid_frames, dtype=torch.long, device=keys.device).view(-1, 2)  # (F, 2)
        if frame_ids is None:
            frame_ids = span_index(torch.arange(T, device=keys.device), spans).view(1, 1, T)  # (1, 1, T)
            n_frames = len(valid_frames)
        elif n_frames is None:
            raise ValueError("frame_ids needs n_frames (the number of frames in context)")
        text = frame_ids < 0 if self.keep_text else None  # broadcastable to (B, Hkv, T)
        n_text = int(text.sum(-1).max()) if text is not None else 0
        capacity = self.entries_kept(n_seen, n_text, layer_idx, num_layers)
        base = n_text + self.base_capacity(n_seen - n_text)
        if text is not None:  # image entries in the window take image slots; never a text entry's
            capacity = max(capacity, n_text + int((~text[..., T - self.window :]).sum(-1).max()))
        if capacity >= T:
            return self._all_positions(keys, queries)
        if self.window >= base:
            raise CapacityError(
                f"window={self.window} must be smaller than the capacity={base} "
                f"(n_seen={n_seen}, budget={self.budget}, max_tokens={self.max_tokens}, layer_idx={layer_idx})"
            )
        layer = LayerInputs(
            keys=keys,
            queries=queries[:, :, -self.window :],
            hidden_states=hidden_states,
            frames=valid_frames,
            spans=spans,
            prev_frame_mask=prev_frame_mask,
            window=self.window,
            capacity=capacity,
            head_layout=self.head_layout,
            layer_idx=layer_idx,
            num_layers=num_layers,
            n_seen=n_seen,
            frame_ids=frame_ids,
            n_frames=int(n_frames or 0),
            n_text=n_text,
        )
        scores = self.score(layer)  # (B, Hs, T')
        if text is not None:
            text = text[..., : T - self.window]
            if text.shape[1] not in (1, scores.shape[1]):  # "query" layout: one row per query head of a KV head
                text = text.repeat_interleave(scores.shape[1] // text.shape[1], dim=1)
            scores = scores.masked_fill(text, float("inf"))
        logger.debug("layer %d: keeping %d of %d entries per head", layer_idx, capacity, T)
        return topk_with_window(scores, capacity - self.window, self.window)  # (B, Hs, capacity)
