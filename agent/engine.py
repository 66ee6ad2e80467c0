"""The model engine: `ChatEngine` (chat messages in, a reply out, through `compression.KVSession`) and
`ModelPolicy`, the live agent's `Policy` on top of it.

One `ChatEngine.reply(messages)` call (spec-compression §6.2, step 1, on the caller's side):

1. the conversation (chat messages whose image items carry PIL images already at their model-image size) is
   rendered with the processor's chat template;
   * incremental: the previous rendering, plus the reply and its turn closer, must be a string prefix of it
     (`TranscriptError` otherwise); only the suffix and the images whose placeholders lie in it go through the
     processor (older image items may be placeholders without pixels);
   * stateless: the conversation is rendered and processed whole (every image item needs its pixels);
2. `KVSession.step` prefills the chunk (evicting frames beyond the window, compressing with the method) and
   decodes greedily. The exact generated ids stay in the cache; `extra["raw"]` holds their decoding with special
   tokens kept, which the caller puts back in its conversation as the assistant turn, so a fresh tokenisation of
   the conversation reproduces the ids fed (no re-tokenisation drift).

`ModelPolicy` is the `agent.chat.ChatPolicy` over a `ChatEngine`: `act(frame)` resizes the frame to its model-image
size, adds it to its `Transcript` and calls the engine. `make_policy(name_or_handle, ...)` is what the CLI calls: `script:FILE` gives the scripted policy, anything
else is loaded with `agent.models.load` and wrapped in a `ModelPolicy`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from agent.chat import DEFAULT_FRAMES, ChatPolicy, GenerationSettings, check_max_new_tokens
from agent.context import ContextMode
from agent.policy import Family, PolicyReply
from compression import METHODS, CompressionMethod, FullKV, KVSession

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_FRAMES", "ChatEngine", "GenerationSettings", "ModelPolicy", "TranscriptError", "make_policy"]

TURN_CLOSER = "<|im_end|>"  # closes every message in both families' chat templates
_NEVER_GENERATED = {  # image-frame tokens a reply must not contain (they would open a fake image span)
    "uitars": ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>"),
    "opencua": ("<|media_placeholder|>", "<|media_begin|>", "<|media_content|>", "<|media_end|>"),
}
Message = dict[str, Any]


class TranscriptError(RuntimeError):
    """The new rendering of the conversation does not extend the text already in the KV cache."""


class _FirstLogitsClock(LogitsProcessor):
    """Records when the first logits arrive, i.e. when the prefill forward is done (synchronised on CUDA)."""

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.at is None:
            if scores.is_cuda:
                torch.cuda.synchronize(scores.device)
            self.at = time.perf_counter()
        return scores


class _ForcedTokens(LogitsProcessor):
    """Teacher forcing through `generate`: at decode step i only `tokens[i]` may be chosen. The model's raw logits
    (`output_logits`) are untouched, and the forwards are exactly those of a free run that chose these tokens."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens, self.step = tokens, 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        token = self.tokens[min(self.step, len(self.tokens) - 1)]
        self.step += 1
        forced = torch.full_like(scores, float("-inf"))
        forced[:, token] = 0.0
        return forced


def build_method(method: str | CompressionMethod, budget: float | None) -> CompressionMethod:
    """A compression method from its registry name (`compression.METHODS`) and budget (percent); or `method`."""
    if isinstance(method, CompressionMethod):
        return method
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {sorted(METHODS)}")
    if METHODS[method] is FullKV or budget is None:
        return METHODS[method]()
    return METHODS[method](budget=float(budget))


class ChatEngine:
    """Runs one conversation at a time through a model bundle and a `KVSession`.

    bundle: a `ModelBundle` (or any object with its fields, e.g. `TinyBundle`).
    method: compression method name or instance (default "gui_kv"); budget: percent of tokens kept (default 10).
    frames: screenshots in context, N (default 5 for UI-TARS, 3 for OpenCUA); incremental mode evicts older ones.
    context: "incremental" (each reply prefills only what the conversation gained) or "stateless" (re-prefill the
        whole conversation every reply).
    max_new_tokens: default reply length cap (>= 1).
    generate_kwargs: extra keyword arguments for `model.generate` (e.g. `repetition_penalty`); a
        `logits_processor` list is run after the engine's own.
    track_ids: incremental only: keep every token id fed to the model in `fed_ids` (grows with the conversation).
    """

    def __init__(
        self,
        bundle: Any,
        *,
        method: str | CompressionMethod = "gui_kv",
        budget: float | None = 10.0,
        frames: int | None = None,
        context: ContextMode = "incremental",
        max_new_tokens: int = 256,
        generate_kwargs: dict[str, Any] | None = None,
        track_ids: bool = False,
    ) -> None:
        if context not in ("incremental", "stateless"):
            raise ValueError(f"context={context!r} is not one of 'incremental', 'stateless'")
        family = bundle.family
        if family not in DEFAULT_FRAMES:
            raise ValueError(f"bundle.family={family!r} is not one of {sorted(DEFAULT_FRAMES)}")
        check_max_new_tokens(max_new_tokens)
        self.bundle, self.family = bundle, family
        self.frames = DEFAULT_FRAMES[family] if frames is None else frames
        if isinstance(self.frames, bool) or not isinstance(self.frames, int) or self.frames < 1:
            raise ValueError(f"frames={frames!r} must be an int >= 1")
        self.context: ContextMode = context
        self.max_new_tokens = max_new_tokens
        self.method = build_method(method, budget)
        self.generate_kwargs = dict(generate_kwargs or {})
        tokenizer = bundle.tokenizer
        closer = tokenizer.convert_tokens_to_ids(TURN_CLOSER)
        if not isinstance(closer, int) or closer == tokenizer.unk_token_id:
            raise ValueError(f"tokenizer of {family!r} has no {TURN_CLOSER} token")
        self._closer_ids = (closer,)
        eos = tuple(int(e) for e in getattr(bundle, "eos_token_ids", ()) or ())
        self._stop_ids = sorted(set(eos) | {closer})  # a turn closer ends the reply even if it is not an eos
        self._suppress = [i for i in (tokenizer.convert_tokens_to_ids(t) for t in _NEVER_GENERATED[family])
                          if isinstance(i, int) and i != tokenizer.unk_token_id]
        self.session = KVSession(
            bundle.model, self.method, frames_window=self.frames if context == "incremental" else None,
            mode=context, turn_closer_ids=self._closer_ids,
        )
        self.track_ids = track_ids
        self.reset()

    @property
    def model_config(self) -> Any:
        """The model's transformers config (for cost estimates)."""
        return self.bundle.model.config

    def reset(self) -> None:
        """Start a new conversation: an empty cache."""
        self.session.reset()
        self._consumed = ""  # incremental: the rendered text the cache (plus the pending tokens) covers
        self._n_images = 0  # incremental: image items already fed
        self.fed_ids: list[int] = []  # with track_ids: every id fed so far, the pending ones included

    def reply(self, messages: list[Message], *, max_new_tokens: int | None = None,
              forced: list[int] | None = None, keep_logits: bool = False) -> PolicyReply:
        """Prefill what is new in `messages` (ending with a user turn), decode the reply greedily.

        forced: teacher forcing: the reply is exactly these token ids (e.g. another run's `extra["tokens"]`), through
            the same forwards a free run producing them would make. keep_logits: put the raw next-token logits of
            every reply token, (n_generated, V) float, in `extra["logits"]`.
        Returns a `PolicyReply`; `extra["raw"]` is the reply with special tokens kept (the assistant turn to put back
        into the conversation in incremental mode), `extra["tokens"]` its ids, plus the session's counters.
        """
        n_new = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        if forced is not None:
            if not forced:
                raise ValueError("forced must hold at least one token id")
            n_new = len(forced)
        check_max_new_tokens(n_new)
        started = time.perf_counter()
        input_ids, pixel_values, grid = self._encode(messages)
        clock = _FirstLogitsClock()
        kwargs = dict(self.generate_kwargs)
        tail = [_ForcedTokens(list(forced))] if forced is not None else []
        kwargs["logits_processor"] = LogitsProcessorList([clock, *kwargs.pop("logits_processor", []), *tail])
        kwargs.setdefault("do_sample", False)
        kwargs.setdefault("eos_token_id", self._stop_ids)
        kwargs.setdefault("suppress_tokens", self._suppress or None)
        prep_s = time.perf_counter() - started
        t0 = time.perf_counter()
        out = self.session.step(input_ids, pixel_values, grid, max_new_tokens=n_new, output_logits=keep_logits,
                                **kwargs)
        prefill_s = (clock.at or t0) - t0
        decode_s = max(out.stats.wall_s - prefill_s, 0.0)
        if forced is not None and list(out.tokens) != list(forced):
            raise RuntimeError(f"teacher forcing produced {len(out.tokens)} tokens that differ from the "
                               f"{len(forced)} forced ones (a stop token inside the forced reply?)")
        reply = self._record(out, input_ids, prep_s, prefill_s, decode_s)
        if keep_logits:
            reply.extra["logits"] = out.logits
        return reply

    def _encode(self, messages: list[Message]) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Render the conversation and tokenise what the model has not seen: (1, n) ids, pixels, grids."""
        processor = self.bundle.processor
        rendered = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        items = [item for m in messages if isinstance(m["content"], list)
                 for item in m["content"] if item.get("type") == "image"]
        if self.context == "incremental":
            if not rendered.startswith(self._consumed):
                at = _mismatch(rendered, self._consumed)
                raise TranscriptError(
                    "the chat template does not render an append-only transcript: the new rendering does not start "
                    f"with the text already in the cache (first difference at char {at})")
            text, new_items = rendered[len(self._consumed):], items[self._n_images:]
            self._consumed, self._n_images = rendered, len(items)
        else:
            text, new_items = rendered, items
        missing = sum("image" not in item for item in new_items)
        if missing:
            raise ValueError(f"{missing} image item(s) to prefill carry no 'image' (pixels were released?)")
        images = [item["image"] for item in new_items]
        batch = processor(text=[text], images=images or None, return_tensors="pt", add_special_tokens=False)
        device = self.bundle.model.device
        pixel_values = batch.get("pixel_values") if images else None
        grid = batch.get("image_grid_thw") if images else None
        return (batch["input_ids"].to(device),
                pixel_values.to(device) if pixel_values is not None else None,
                grid.to(device) if grid is not None else None)

    def _record(self, out: Any, input_ids: torch.Tensor, prep_s: float, prefill_s: float,
                decode_s: float) -> PolicyReply:
        tokens = list(out.tokens)
        stopped_on_closer = bool(tokens) and tokens[-1] in self._closer_ids
        body = tokens[:-1] if stopped_on_closer else tokens
        raw = self.bundle.tokenizer.decode(body, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        text = self.bundle.tokenizer.decode(tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        if self.context == "incremental":
            self._consumed += raw + TURN_CLOSER
            if self.track_ids:
                closer = [] if stopped_on_closer else list(self._closer_ids)
                self.fed_ids += input_ids[0].tolist() + tokens + closer
        stats = out.stats
        stop = "eos" if tokens and tokens[-1] in self._stop_ids else "max_new_tokens"
        logger.debug("reply (%d tokens, %s, prefill %d): %r", len(tokens), stop, stats.n_prefilled, text)
        return PolicyReply(
            text=text,
            prefill_tokens=stats.n_prefilled,
            kv_cache_bytes=stats.cache_bytes,
            kv_entries_per_layer=tuple(stats.entries_per_layer),
            prefill_s=prefill_s,
            decode_s=decode_s,
            extra={
                "raw": raw, "n_generated": stats.n_generated, "n_seen": stats.n_seen, "n_frames": stats.n_frames,
                "n_evicted_frames": stats.n_evicted_frames, "stop": stop, "prep_s": prep_s, "tokens": tokens,
                "context": self.context, "method": type(self.method).__name__,
            },
        )


class ModelPolicy(ChatPolicy):
    """A `Policy` backed by a model bundle: a `ChatPolicy` over a `ChatEngine`.

    bundle, method, budget, frames, context, generate_kwargs, track_ids: see `ChatEngine` (track_ids also keeps
        every screenshot in the transcript, for checks that re-tokenise it).
    settings: `GenerationSettings`.

    The prompts follow `bundle.prompt_set` (a property of the model, `agent.models.loading`): "synthdesk" (gui-tiny)
    gives the short synthdesk system prompt and a `Task: ...` first turn, as in training and in the synthdesk eval;
    "default" the family's own prompt, shaped by `settings`. Frames larger than the model's own pixel cap are shown
    at smart_resize under that cap (the reply's `model_size` then says so).
    """

    def __init__(
        self,
        bundle: Any,
        *,
        method: str | CompressionMethod = "gui_kv",
        budget: float | None = 10.0,
        frames: int | None = None,
        context: ContextMode = "incremental",
        settings: GenerationSettings | None = None,
        generate_kwargs: dict[str, Any] | None = None,
        track_ids: bool = False,
    ) -> None:
        settings = settings or GenerationSettings()
        self.engine = ChatEngine(bundle, method=method, budget=budget, frames=frames, context=context,
                                 max_new_tokens=settings.max_new_tokens, generate_kwargs=generate_kwargs,
                                 track_ids=track_ids)
        super().__init__(self.engine, settings, keep_all_images=track_ids,
                         prompt_set=getattr(bundle, "prompt_set", "default"), max_pixels=_max_pixels(bundle.processor))
        self.bundle, self.method, self.session, self.track_ids = bundle, self.engine.method, self.engine.session, track_ids

    @property
    def fed_ids(self) -> list[int]:
        """With track_ids: every id fed so far in this task, the pending ones included."""
        return self.engine.fed_ids



def _max_pixels(processor: Any) -> int | None:
    """The image processor's pixel cap (`size["longest_edge"]`, or `max_pixels` on older releases), if it has one."""
    image_processor = getattr(processor, "image_processor", None)
    size = getattr(image_processor, "size", None)  # a dict on 5.2, a SizeDict on 5.2x
    cap = size.get("longest_edge") if isinstance(size, dict) else getattr(size, "longest_edge", None)
    cap = cap if cap is not None else getattr(image_processor, "max_pixels", None)
    return int(cap) if cap else None


def _mismatch(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def make_policy(
    name_or_handle: Any,
    method: str | CompressionMethod = "gui_kv",
    budget: float | None = 10.0,
    frames: int | None = None,
    context: ContextMode = "incremental",
    **gen: Any,
) -> Any:
    """The policy the CLI runs.

    name_or_handle: `script:FILE` (scripted replies, `agent.models.script.ScriptPolicy`), a model name for
        `agent.models.load` (alias, hub id, local path, `tiny`, `tiny-opencua`), a loaded bundle, or a policy
        (returned unchanged).
    method, budget, frames, context: see `ModelPolicy`.
    gen: `GenerationSettings` fields (max_new_tokens, uitars_style, language, call_user, opencua_level,
        max_history), `load` options (device, dtype, attn_implementation, seed, cache_dir, local_files_only,
        trust_remote_code, trust_remote_tokenizer) and `generate_kwargs`.
    """
    if isinstance(name_or_handle, str):
        if name_or_handle.startswith("script:"):
            from agent.models.script import ScriptPolicy

            return ScriptPolicy.from_spec(name_or_handle)
        from agent.models.loading import load

        load_keys = ("device", "dtype", "attn_implementation", "seed", "cache_dir", "local_files_only",
                     "trust_remote_code", "trust_remote_tokenizer")
        bundle = load(name_or_handle, **{k: gen.pop(k) for k in load_keys if k in gen})
    elif hasattr(name_or_handle, "act") and hasattr(name_or_handle, "start"):
        return name_or_handle
    else:
        bundle = name_or_handle
    generate_kwargs = gen.pop("generate_kwargs", None)
    unknown = sorted(set(gen) - set(GenerationSettings.__dataclass_fields__))
    if unknown:
        allowed = sorted(GenerationSettings.__dataclass_fields__)
        raise ValueError(f"unknown generation settings {unknown}; allowed: {allowed}")
    return ModelPolicy(bundle, method=method, budget=budget, frames=frames, context=context,
                       settings=GenerationSettings(**gen), generate_kwargs=generate_kwargs)

