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
from functools import lru_cache
from typing import Iterator

import numpy as np
import torch
from PIL import Image

from agent.models.tiny import TinyBundle, build_tiny_opencua, build_tiny_uitars
from compression import compat
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
    ("gui_kv", {"budget": 40.0}),
    ("gui_kv", {"budget": 40.0, "saliency_source": "residual"}),
)


def case_id(case: tuple[str, dict]) -> str:
    name, kwargs = case
    return name + ("-residual" if kwargs.get("saliency_source") == "residual" else "")


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
