"""Helpers of the hook/session equivalence tests: tiny bundles, prompt segments, the masked full-cache reference.

The reference for a compressed run is the *uncompressed* model whose attention hides exactly what the compressed
cache no longer held when each query ran. ``masked_attention`` implements it with forward pre-hooks (test-only) on
every LM attention module that replace the ``attention_mask`` kwarg by a per-layer, per-KV-head additive 4-D mask
(1, H, q_len, kv_len) read from a logical visibility tensor ``allowed[l]`` (Hkv, N, N): key ``k`` is visible to
query ``q`` in layer ``l`` through KV head ``h`` iff ``allowed[l][h, q, k]``. The reference always runs with a full
cache (physical index == logical id), either through ``generate`` or as one forward over the whole transcript.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterator

import numpy as np
import torch
from PIL import Image

from agent.models.tiny import TinyBundle, build_tiny_opencua, build_tiny_uitars
from compression import KVSession, compat
from compression.models import chunk_positions, resolve

FAMILIES = ("uitars", "opencua")
ATTNS = ("eager", "sdpa")
TOL = 1e-4

# (registry key, kwargs): every key of compression.METHODS appears (checked by a test).
METHOD_CASES = (
    ("full", {}),
    ("snapkv", {"budget": 40.0}),
    ("pyramidkv", {"budget": 40.0}),
    ("vlcache", {"budget": 40.0, "layer_sparsity": (0.3, 0.6, 0.9)}),
    ("vlcache", {"budget": 40.0}),  # calibrates: sparsities measured in every forward, layers compressed at its end
    ("gui_kv", {"budget": 40.0}),
    ("gui_kv", {"budget": 40.0, "saliency_source": "residual"}),
    ("gui_kv", {"budget": 40.0, "alpha": 0.0, "temporal": False}),
    ("random", {"budget": 40.0}),
    ("recency", {"budget": 40.0}),
    ("gui_kv", {"budget": 20.0, "keep_text": True}),
    ("snapkv", {"budget": 20.0, "keep_text": True}),
)


def case_id(case: tuple[str, dict]) -> str:
    name, kwargs = case
    return name + ("-residual" if kwargs.get("saliency_source") == "residual" else "") + (
        "-ablated" if kwargs.get("temporal") is False else "") + ("-keep_text" if kwargs.get("keep_text") else "") + (
        "-calibrated" if name == "vlcache" and "layer_sparsity" not in kwargs else "")


@lru_cache(maxsize=None)
def bundle(family: str, attn: str) -> TinyBundle:
    """One tiny bundle per (family, attention implementation), seed 0, shared by the module's tests."""
    build = build_tiny_uitars if family == "uitars" else build_tiny_opencua
    return build(seed=0, attn_implementation=attn)


def image(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.RandomState(seed)
    return Image.fromarray(rng.randint(0, 255, (height, width, 3), dtype=np.uint8))


def segment(b: TinyBundle, text: str, size: tuple[int, int] | None = None, seed: int = 0):
    """Processor output for ``text`` preceded by one image of ``size`` (w, h) pixels, if given.

    Returns (input_ids (1, n), pixel_values or None, image_grid_thw (1, 3) or None).
    """
    if size is None:
        ids = b.tokenizer(text, return_tensors="pt")["input_ids"]
        return ids, None, None
    marker = b.tokenizer.decode([b.vision_start_token_id, b.image_token_id, b.vision_end_token_id])
    out = b.processor(text=[marker + text], images=[image(*size, seed=seed)], return_tensors="pt")
    return out["input_ids"], out["pixel_values"], out["image_grid_thw"]


def two_image_prompt(b: TinyBundle):
    """A single-step prompt with two screenshots (24 and 12 image tokens) and text around them."""
    s1 = segment(b, " first screen: the settings window is open.", (168, 112), seed=1)
    s2 = segment(b, " now: click the blue button\n", (112, 84), seed=2)
    head = b.tokenizer("system: you are a GUI agent.\n", return_tensors="pt")["input_ids"]
    ids = torch.cat([head, s1[0], s2[0]], dim=1)
    return ids, torch.cat([s1[1], s2[1]]), torch.cat([s1[2], s2[2]])


def generate_kwargs(model, ids: torch.Tensor, grids: torch.Tensor | None) -> dict:
    """Inputs a plain ``generate`` needs besides ids/pixels: the grid under the model's name, and for mRoPE the
    token types (transformers >= 5.2x computes 3-D positions from them)."""
    resolved = resolve(model)
    kw = {} if grids is None else {resolved.adapter.grid_kwarg: grids}
    if resolved.adapter.rope == "mrope" and "mm_token_type_ids" in inspect.signature(type(model).forward).parameters:
        kw["mm_token_type_ids"] = (ids == resolved.image_token_id).long()
    return kw


def full_positions(model, ids: torch.Tensor, grids: torch.Tensor | None) -> torch.Tensor:
    """Positions of a whole transcript from position 0 (what a fresh prefill uses)."""
    return chunk_positions(model, resolve(model), ids, grids, 0)


def n_kv_heads(model) -> int:
    return model.config.get_text_config().num_key_value_heads


def causal(n_heads: int, n: int) -> torch.Tensor:
    """(Hkv, N, N) plain causal visibility."""
    return torch.ones(n, n, dtype=torch.bool).tril().expand(n_heads, n, n).clone()


def membership(ids: torch.Tensor, n: int) -> torch.Tensor:
    """(Hkv, N) bool: which logical ids each head holds; ``ids`` (1, Hkv, k)."""
    out = torch.zeros(ids.shape[1], n, dtype=torch.bool)
    out.scatter_(1, ids[0].long(), True)
    return out


@contextmanager
def masked_attention(model, allowed: list[torch.Tensor]) -> Iterator[None]:
    """Replace every LM attention's mask by the per-layer, per-KV-head visibility ``allowed[l]`` (Hkv, N, N)."""
    handles = []

    def pre_hook(attn, args, kwargs):
        hidden = kwargs["hidden_states"]
        q_len = hidden.shape[1]
        cache = compat.cache_of(kwargs)
        kv_len = (cache.layers[attn.layer_idx].get_seq_length() if cache is not None else 0) + q_len
        vis = allowed[attn.layer_idx][:, kv_len - q_len : kv_len, :kv_len]  # (Hkv, q, kv)
        G = attn.q_proj.out_features // attn.head_dim // vis.shape[0]
        vis = vis.repeat_interleave(G, dim=0)[None]  # (1, H, q, kv), query head h reads KV head h // G
        mask = torch.zeros(vis.shape, dtype=hidden.dtype).masked_fill(~vis, torch.finfo(hidden.dtype).min)
        return args, dict(kwargs, attention_mask=mask)

    try:
        for attn in resolve(model).attentions:
            handles.append(attn.register_forward_pre_hook(pre_hook, with_kwargs=True))
        yield
    finally:
        for h in handles:
            h.remove()


def hook_count(model) -> int:
    """Forward hooks and pre-hooks registered anywhere in ``model``."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@dataclass
class SessionRun:
    """What a ``run_session`` recorded at every step (logical ids are transcript indices)."""

    outs: list = field(default_factory=list)
    chunks: list = field(default_factory=list)  # (1, n) ids fed at each step's prefill
    starts: list = field(default_factory=list)  # logical id of each chunk's first token
    before: list = field(default_factory=list)  # per step, per layer: ids in the cache right before the chunk
    after: list = field(default_factory=list)  # per step, per layer: ids in the cache at the end of the step
    pixels: list = field(default_factory=list)
    grids: list = field(default_factory=list)


def run_session(b, method, steps, *, frames_window=2, closer=True, n_new=5) -> tuple[KVSession, SessionRun]:
    """Run ``steps`` ((ids, pixel_values, grid) per step) through a fresh KVSession, recording the cache's ids."""
    closer_ids = [b.tokenizer.convert_tokens_to_ids("<|im_end|>")] if closer else []
    session = KVSession(b.model, method, frames_window=frames_window, turn_closer_ids=closer_ids, tokenizer=b.tokenizer)
    run = SessionRun()

    def snapshot(module, args, kwargs):  # test-only: the cache's ids when the chunk's prefill starts
        if kwargs["input_ids"].shape[1] > 1:
            run.before.append([None if t is None else t.clone() for t in session.tracker.ids])

    handle = resolve(b.model).multimodal.register_forward_pre_hook(snapshot, with_kwargs=True)
    try:
        for ids, pv, grid in steps:
            run.starts.append(session.tracker.next_id)
            run.chunks.append(torch.cat([torch.tensor([session.opening_ids], dtype=torch.long).view(1, -1), ids], 1))
            out = session.step(ids, pv, grid, max_new_tokens=n_new, output_logits=True, do_sample=False)
            run.outs.append(out)
            run.after.append([t.clone() for t in session.tracker.ids])
            run.pixels.append(pv)
            run.grids.append(grid)
    finally:
        handle.remove()
    return session, run


def transcript(run: SessionRun, upto: int, with_last_decode: bool) -> torch.Tensor:
    """Logical transcript: chunks and fed generated tokens (all but the last of each step)."""
    parts = []
    for s in range(upto + 1):
        parts.append(run.chunks[s])
        if s < upto or with_last_decode:
            parts.append(torch.tensor([run.outs[s].tokens[:-1]], dtype=torch.long))
    return torch.cat(parts, dim=1)


def assert_matches_masked_forward(b, session: KVSession, run: SessionRun, tol: float = TOL) -> torch.Tensor:
    """One forward over the whole transcript where query ``q`` of step ``s`` sees key ``k <= q`` iff ``k`` was in
    that layer/head's cache when ``q`` ran must give every step's generated tokens and logits (within ``tol``).

    Prefill queries see the cache as it was right before the chunk (after eviction) plus the chunk; decode queries
    see the cache at the end of the step. Returns the reference logits (1, N, V).
    """
    model = b.model
    ids = transcript(run, len(run.outs) - 1, with_last_decode=True)
    N = ids.shape[1]
    assert N == session.tracker.next_id
    n_layers, Hkv = len(resolve(model).layers), n_kv_heads(model)
    allowed = []
    for layer_idx in range(n_layers):
        vis = causal(Hkv, N)
        for s, out in enumerate(run.outs):
            chunk_end = run.starts[s] + out.stats.n_prefilled
            decode_end = chunk_end + out.stats.n_generated - 1
            old = run.before[s][layer_idx]
            seen = membership(old, N) if old is not None else torch.zeros(Hkv, N, dtype=torch.bool)
            seen[:, run.starts[s] :] = True
            vis[:, run.starts[s] : chunk_end] &= seen[:, None, :]
            vis[:, chunk_end:decode_end] &= membership(run.after[s][layer_idx], N)[:, None, :]
        allowed.append(vis)
    grids = torch.cat(run.grids)
    with torch.no_grad(), masked_attention(model, allowed):
        ref = model(input_ids=ids, pixel_values=torch.cat(run.pixels), position_ids=full_positions(model, ids, grids),
                    **generate_kwargs(model, ids, grids)).logits
    for s, out in enumerate(run.outs):
        rows = step_rows(run, s)
        assert ref[0, rows].argmax(-1).tolist() == list(out.tokens), f"step {s}: tokens differ"
        diff = (ref[0, rows] - out.logits).abs().max().item()
        assert diff < tol, f"step {s}: max |logit difference| {diff:.3g} >= {tol}"
    return ref


def step_rows(run: SessionRun, s: int) -> slice:
    """Transcript rows whose logits predict step ``s``'s generated tokens."""
    chunk_end = run.starts[s] + run.outs[s].stats.n_prefilled
    return slice(chunk_end - 1, chunk_end - 1 + run.outs[s].stats.n_generated)
