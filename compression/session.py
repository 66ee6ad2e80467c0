"""KVSession: one agent's KV cache across steps, with frame eviction and compression (spec-compression §6).

The caller (the agent) renders its append-only transcript, tokenises the *new suffix* with the processor and calls
``step``. The session knows no prompts; it owns the cache and the four rules that keep an appended chunk exact:

1. physical ``cache_position`` (transformers 5.2; newer releases derive it from the cache length themselves);
2. explicit position ids for the chunk: mRoPE ``get_rope_index`` on the chunk plus ``next_pos``, or 1-D ``arange``;
3. a 2-D attention mask of ones over cache + chunk;
4. the last generated token, never fed by ``generate``, opens the next chunk (followed by ``turn_closer_ids`` when
   generation stopped without emitting one of them, e.g. on ``max_new_tokens``).

Modes: "incremental" prefills only the chunk; "stateless" re-prefills the whole prompt each step exactly like the
reference (the caller passes the full prompt, already limited to its last K screenshots).

Shape letters: B batch (always 1), Hkv KV heads, T cached entries, n chunk tokens, V vocabulary, D head dim.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn
from transformers import DynamicCache

from compression import compat
from compression.base import CompressionMethod
from compression.errors import CompressionError
from compression.hooks import CacheTracker, apply
from compression.methods import FullKV
from compression.models import chunk_positions, image_spans, resolve

__all__ = ["KVSession", "StepOutput", "StepStats", "SessionMode"]

logger = logging.getLogger(__name__)

SessionMode = Literal["incremental", "stateless"]
_MODES = ("incremental", "stateless")
_OWNED_KWARGS = ("position_ids", "past_key_values", "cache", "cache_position", "input_ids")
_PROCESSOR_KWARGS = ("attention_mask", "mm_token_type_ids")  # processor outputs the session recomputes


class StepStats(BaseModel):
    """What one step cost and left behind (one JSONL-able record).

    step: 0-based step index. mode: session mode.
    n_prefilled: tokens fed in the prefill forward (the chunk, including the opening pending/closer tokens).
    n_generated: new tokens returned. n_seen: tokens in context (transcript minus evicted frames) after the step.
    n_evicted_frames / n_evicted_entries: frames dropped this step by the rolling window, and the cache entries per
    KV head that left each layer with them (max over layers). n_frames: frames still in context.
    entries_per_layer: cached entries per KV head in every layer at the end of the step.
    cache_bytes: bytes of all keys and values at the end of the step. wall_s: seconds spent in ``generate``.
    layer_statistics: per layer, what a calibrating method measured in the step's prefill before compressing it
    (VL-Cache: the sparsity of each layer's post-vision attention); None for the other methods.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: int
    mode: SessionMode
    n_prefilled: int
    n_generated: int
    n_seen: int
    n_evicted_frames: int
    n_evicted_entries: int
    n_frames: int
    entries_per_layer: tuple[int, ...]
    cache_bytes: int
    wall_s: float
    layer_statistics: tuple[float, ...] | None = None


@dataclass(frozen=True)
class StepOutput:
    """Result of ``KVSession.step``.

    tokens: generated ids (the last one is fed at the next step). text: ``tokenizer.decode(tokens,
    skip_special_tokens=True)`` when the session has a tokenizer, else None. logits: (n_generated, V) raw logits
    when ``output_logits=True``, else None.
    """

    tokens: tuple[int, ...]
    text: str | None
    stats: StepStats
    logits: torch.Tensor | None = None


@dataclass(frozen=True)
class _Frame:
    step: int
    start: int  # logical [start, end) of the image pads in the transcript
    end: int


def _cache_bytes(cache: DynamicCache | None) -> int:
    if cache is None:
        return 0
    return sum(
        t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values) if t is not None
    )


def _entries(cache: DynamicCache | None) -> tuple[int, ...]:
    return tuple(layer.get_seq_length() for layer in cache.layers) if cache is not None else ()


def evict_entries(ids: torch.Tensor, spans: list[tuple[int, int]]) -> torch.Tensor:
    """Kept positions after evicting the logical ``spans`` from one layer, rectangular across heads.

    Every head drops all its entries inside ``spans``, plus its surplus (``max_h count_h - count_h``) entries
    nearest to the spans (the surrounding turn's text), so all heads keep the same count.

    Parameters
    ----------
    ids : torch.Tensor
        (B, Hkv, T) logical ids, sorted per head.

    Returns
    -------
    torch.Tensor
        (B, Hkv, T - n_drop) int64 kept positions, sorted.
    """
    bounds = torch.tensor(spans, dtype=ids.dtype, device=ids.device)  # (F, 2)
    start = bounds[:, 0].view(-1, 1, 1, 1)  # (F, 1, 1, 1)
    last = bounds[:, 1].view(-1, 1, 1, 1) - 1
    dist = torch.maximum(start - ids, ids - last).clamp(min=0).amin(dim=0)  # (B, Hkv, T), 0 inside a span
    n_drop = int((dist == 0).sum(dim=-1).max())
    T = ids.shape[-1]
    key = dist * (int(ids.max()) + 1) + ids  # (B, Hkv, T) int64: far from the spans first, then newer first
    keep = key.topk(T - n_drop, dim=-1).indices  # (B, Hkv, T - n_drop)
    return keep.sort(dim=-1).values


class KVSession:
    """Owns one agent's KV cache across steps (B = 1).

    Parameters
    ----------
    model : nn.Module
        A supported model (``compression.models.ADAPTERS``); it is not modified outside ``step``.
    method : CompressionMethod, optional
        Default ``FullKV()`` (no compression).
    frames_window : int, optional
        Incremental mode: most frames (image-pad runs) kept in context during a step, the new chunk's frames
        included; older frames are evicted before the chunk is prefilled. None keeps every frame. Ignored in
        stateless mode (the caller renders its last K screenshots). A ``FullKV`` with ``max_tokens`` also evicts
        the oldest frames until the cache plus the chunk fit in ``max_tokens`` entries (incremental mode only).
    mode : {"incremental", "stateless"}
    turn_closer_ids : sequence of int
        Tokens that close an assistant turn (e.g. ``[<|im_end|> id]``). When generation stops on a token outside
        this set (``max_new_tokens``), they are fed after the pending token at the next step, so the cache holds
        what the caller's rendered transcript holds.
    tokenizer : optional
        Used only to decode ``StepOutput.text``.
    """

    def __init__(
        self,
        model: nn.Module,
        method: CompressionMethod | None = None,
        *,
        frames_window: int | None = None,
        mode: SessionMode = "incremental",
        turn_closer_ids: Sequence[int] = (),
        tokenizer: Any = None,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got mode={mode!r}")
        if frames_window is not None and (isinstance(frames_window, bool) or int(frames_window) < 1):
            raise ValueError(f"frames_window must be None or an int >= 1, got frames_window={frames_window!r}")
        self.model = model
        self.resolved = resolve(model)  # UnsupportedModelError before any work
        self.method = method if method is not None else FullKV()
        if mode == "stateless" and self._frame_cap() is not None:
            raise ValueError("a full cache with max_tokens drops frames to fit, which needs mode='incremental' "
                             "(a stateless prompt is rendered by the caller)")
        self.frames_window = frames_window
        self.mode: SessionMode = mode
        self.turn_closer_ids = tuple(int(t) for t in turn_closer_ids)
        self.tokenizer = tokenizer
        self.reset()

    def reset(self) -> None:
        """Forget the cache and the transcript (start a new episode)."""
        self.cache: DynamicCache | None = None
        self.tracker = CacheTracker(n_layers=len(self.resolved.layers))
        self.next_pos = 0  # next RoPE position (all mRoPE axes agree after text)
        self._pending: list[int] = []  # tokens that open the next chunk
        self._frames: list[_Frame] = []
        self._step = 0
        self._failed = False

    def fork(self, method: CompressionMethod | None = None) -> "KVSession":
        """A new session continuing from this one's state (cache, ids, frames, pending tokens), deep-copied.

        ``method`` replaces the compression method from the next step on (default: the same). Neither session
        sees the other's later steps. Raises CompressionError when this session's last step failed.
        """
        if self._failed:
            raise CompressionError("a failed session cannot be forked; call reset() first")
        twin = KVSession(self.model, self.method if method is None else method, frames_window=self.frames_window,
                         mode=self.mode, turn_closer_ids=self.turn_closer_ids, tokenizer=self.tokenizer)
        twin.cache, twin.tracker = copy.deepcopy(self.cache), copy.deepcopy(self.tracker)
        twin.next_pos, twin._pending, twin._frames, twin._step = self.next_pos, list(self._pending), list(self._frames), self._step
        return twin

    @property
    def opening_ids(self) -> tuple[int, ...]:
        """Tokens the session will feed before the next suffix: the pending generated token, plus the closer."""
        return tuple(self._pending)

    @property
    def n_seen(self) -> int:
        """Tokens in context: transcript tokens fed so far minus the tokens of evicted frames."""
        return self.tracker.next_id - self.tracker.n_evicted

    def step(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        image_grid_thw: torch.Tensor | None = None,
        *,
        max_new_tokens: int = 64,
        output_logits: bool = False,
        **generate_kwargs: Any,
    ) -> StepOutput:
        """Prefill one chunk, compress, generate.

        Parameters
        ----------
        input_ids : torch.Tensor
            (1, n) incremental: the new transcript suffix (image pads expanded), without the opening tokens;
            stateless: the whole prompt.
        pixel_values, image_grid_thw : torch.Tensor, optional
            The processor's outputs for the images in ``input_ids`` only.
        max_new_tokens : int
            >= 1.
        generate_kwargs
            Passed to ``model.generate`` (e.g. ``do_sample``). The session owns ``position_ids``,
            ``past_key_values`` and ``cache_position`` (ValueError if given); a processor's ``attention_mask``
            and ``mm_token_type_ids`` are ignored (the session builds the mask and explicit positions), so
            ``session.step(**processor_outputs)`` works.
        """
        if input_ids.dim() != 2 or input_ids.shape[0] != 1:
            raise ValueError(
                f"KVSession supports batch size 1: input_ids must be (1, n), got {tuple(input_ids.shape)}"
            )
        if isinstance(max_new_tokens, bool) or int(max_new_tokens) < 1:
            raise ValueError(f"max_new_tokens must be an int >= 1, got max_new_tokens={max_new_tokens!r}")
        owned = sorted(k for k in generate_kwargs if k in _OWNED_KWARGS)
        if owned:
            raise ValueError(f"KVSession owns {owned}; do not pass them to step()")
        for key in _PROCESSOR_KWARGS:
            generate_kwargs.pop(key, None)
        if self._failed:
            raise CompressionError("a previous step failed and left the cache inconsistent; call reset() first")
        try:
            with torch.inference_mode():
                return self._run(
                    input_ids, pixel_values, image_grid_thw, int(max_new_tokens), bool(output_logits), generate_kwargs
                )
        except BaseException:
            self._failed = True  # cache, ids and counters may be half-updated
            raise

    def _run(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None,
        image_grid_thw: torch.Tensor | None,
        max_new_tokens: int,
        output_logits: bool,
        generate_kwargs: dict[str, Any],
    ) -> StepOutput:
        if self.mode == "stateless":
            self.reset_cache_only()
        device = input_ids.device
        opening = torch.tensor([self._pending], dtype=input_ids.dtype, device=device).view(1, -1)
        chunk = torch.cat([opening, input_ids], dim=-1)  # (1, n)
        n = chunk.shape[1]
        first_id = self.tracker.next_id
        spans = image_spans(chunk, self.resolved.image_token_id)
        new_frames = [_Frame(self._step, first_id + s, first_id + e) for s, e in spans]
        n_ev_frames, n_ev_entries = self._evict_for(len(new_frames), n)
        positions = chunk_positions(self.model, self.resolved, chunk, image_grid_thw, self.next_pos)
        if self.cache is None:
            self.cache = DynamicCache(config=self.model.config)
        phys = self.cache.get_seq_length()
        kwargs: dict[str, Any] = dict(generate_kwargs)
        kwargs.update(
            input_ids=chunk,
            attention_mask=torch.ones(1, phys + n, dtype=torch.long, device=device),
            position_ids=positions,
            max_new_tokens=max_new_tokens,
            return_dict_in_generate=True,
            output_logits=output_logits,
        )
        if pixel_values is not None:
            kwargs["pixel_values"] = pixel_values
        if image_grid_thw is not None:
            kwargs[self.resolved.adapter.grid_kwarg] = image_grid_thw
        kwargs.update(compat.cache_kwargs(self.cache))
        if compat.GENERATE_TAKES_CACHE_POSITION:  # transformers 5.2: physical cache positions
            kwargs["cache_position"] = torch.arange(phys, phys + n, device=device)
        started = time.perf_counter()
        with apply(self.model, self.method, tracker=self.tracker) as hooks:
            out = self.model.generate(**kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall_s = time.perf_counter() - started
        return self._finish(out, chunk, positions, new_frames, n_ev_frames, n_ev_entries, wall_s, hooks.statistics)

    def reset_cache_only(self) -> None:
        """Stateless mode: a fresh cache and counters for a re-prefilled prompt (the step counter is kept)."""
        step = self._step
        self.reset()
        self._step = step

    def _frame_cap(self) -> int | None:
        """``max_tokens`` of a method that keeps whole frames (FullKV): the cache fits it by dropping frames."""
        cap = getattr(self.method, "max_tokens", None)
        return None if self.method.compresses or cap is None else int(cap)

    def _n_to_evict(self, n_new_frames: int, n_chunk: int) -> int:
        """Old frames to drop: beyond ``frames_window`` with the new ones, then (``_frame_cap``) the oldest ones
        until the cache and the ``n_chunk`` new tokens fit."""
        n_drop = 0
        if self.frames_window is not None:
            n_drop = max(len(self._frames) - max(self.frames_window - n_new_frames, 0), 0)
        cap = self._frame_cap()
        if cap is not None and self.cache is not None:
            held = self.cache.get_seq_length() - sum(f.end - f.start for f in self._frames[:n_drop])
            while n_drop < len(self._frames) and held + n_chunk > cap:  # a full cache holds every frame entry
                held -= self._frames[n_drop].end - self._frames[n_drop].start
                n_drop += 1
        return n_drop

    def _evict_for(self, n_new_frames: int, n_chunk: int) -> tuple[int, int]:
        """Evict the oldest frames so that at most ``frames_window`` are in context with the new ones (and a
        capped full cache fits, see ``_n_to_evict``)."""
        if self.mode != "incremental" or self.cache is None:
            return 0, 0
        n_drop = self._n_to_evict(n_new_frames, n_chunk)
        if n_drop <= 0:
            return 0, 0
        dropped, self._frames = self._frames[:n_drop], self._frames[n_drop:]
        spans = [(f.start, f.end) for f in dropped]
        n_entries = 0
        for layer_idx, layer in enumerate(self.cache.layers):
            ids = self.tracker.ids[layer_idx]  # (1, Hkv, T)
            keep = evict_entries(ids, spans)  # (1, Hkv, T')
            n_entries = max(n_entries, ids.shape[-1] - keep.shape[-1])
            D = layer.keys.shape[-1]
            gather = keep[..., None].expand(-1, -1, -1, D)
            layer.keys = layer.keys.gather(2, gather).contiguous()  # (1, Hkv, T', D)
            layer.values = layer.values.gather(2, gather).contiguous()
            self.tracker.ids[layer_idx] = ids.gather(2, keep)
        self.tracker.frames = [(f.start, f.end) for f in self._frames]
        self.tracker.n_evicted += sum(e - s for s, e in spans)
        logger.debug("evicted %d frame(s) %s: %d entries per head", n_drop, spans, n_entries)
        return n_drop, n_entries

    def _check_tracker(self, next_id: int) -> None:
        """Every layer's cache holds exactly the entries the tracker has ids for (CompressionError otherwise)."""
        held = _entries(self.cache)
        tracked = tuple(-1 if ids is None else ids.shape[-1] for ids in self.tracker.ids)
        if held != tracked:
            raise CompressionError(
                f"cache and tracker out of step after step {self._step} ({compat.describe()}): the layers hold "
                f"{held} entries per head but the tracker expects {tracked} (-1: never tracked; next_id={next_id})"
            )

    def _finish(
        self,
        out: Any,
        chunk: torch.Tensor,
        positions: torch.Tensor,
        new_frames: list[_Frame],
        n_ev_frames: int,
        n_ev_entries: int,
        wall_s: float,
        layer_statistics: tuple[float, ...] | None = None,
    ) -> StepOutput:
        n = chunk.shape[1]
        tokens = tuple(int(t) for t in out.sequences[0, n:].tolist())
        n_gen = len(tokens)
        expected_next = self.tracker.next_id
        self.next_pos = int(positions.max()) + 1 + (n_gen - 1)
        last = tokens[-1]
        if self.mode == "stateless":  # the caller re-renders the whole prompt, generated turn included
            self._pending = []
        elif last in self.turn_closer_ids or not self.turn_closer_ids:
            self._pending = [last]
        else:
            self._pending = [last, *self.turn_closer_ids]
        self._frames.extend(new_frames)
        self.tracker.frames = [(f.start, f.end) for f in self._frames]
        self._check_tracker(expected_next)
        stats = StepStats(
            step=self._step,
            mode=self.mode,
            n_prefilled=n,
            n_generated=n_gen,
            n_seen=self.n_seen,
            n_evicted_frames=n_ev_frames,
            n_evicted_entries=n_ev_entries,
            n_frames=len(self._frames),
            entries_per_layer=_entries(self.cache),
            cache_bytes=_cache_bytes(self.cache),
            wall_s=wall_s,
            layer_statistics=layer_statistics,
        )
        self._step += 1
        logger.debug("step %d: %s", stats.step, stats)
        logits = torch.cat(list(out.logits), dim=0) if getattr(out, "logits", None) else None  # (n_gen, V)
        text = self.tokenizer.decode(list(tokens), skip_special_tokens=True) if self.tokenizer is not None else None
        return StepOutput(tokens=tokens, text=text, stats=stats, logits=logits)

