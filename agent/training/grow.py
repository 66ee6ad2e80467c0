"""Deepen a trained gui-tiny without changing what it computes: new residual blocks that write nothing yet.

`deepen(model, lm_layers, vision_depth, seed)` returns a new gui-tiny with ``lm_layers`` LM layers and
``vision_depth`` vision blocks. The trained layers keep their weights and the new ones go right after the first LM
layer (the first vision block), so that the layers the training losses name from the end (`examples.POINTER_LAYERS`,
`objective.AUX_LAYER`) and the full-attention vision block (the last) stay the trained ones. A new block's input
side (norms, q/k/v, MLP gate and up) is drawn from ``seed`` as a fresh gui-tiny's is, and its output projections
(attention ``o_proj`` / ``proj``, MLP ``down_proj``, with their biases) are zero: the block adds nothing to the
residual stream, so the deepened model's logits equal the trained one's, while its output projections get gradients
from the first step (their inputs, the block's activations, are not zero). Zero on both sides would train neither.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from agent.training.gui_tiny import BLOCK_WEIGHT, LM_LAYERS, VISION_BLOCKS, build_gui_tiny, kv_heads_of, sizes_of

__all__ = ["deepen", "widen_kv"]

_OUTPUTS = ("self_attn.o_proj.", "mlp.down_proj.", "attn.proj.")


def _sources(old: int, new: int) -> list[int | None]:
    """For each block of the deepened stack, the trained block it copies (None: a new one), new ones after the
    first."""
    return [0] + [None] * (new - old) + list(range(1, old))


def deepen(model: nn.Module, lm_layers: int, vision_depth: int, seed: int = 0) -> nn.Module:
    """A gui-tiny of ``lm_layers`` LM layers and ``vision_depth`` vision blocks that computes what the gui-tiny
    ``model`` computes (module docstring). ValueError if that would remove layers or blocks."""
    old_lm, old_vision = sizes_of(model)
    if lm_layers < old_lm or vision_depth < old_vision:
        raise ValueError(f"a model of {old_lm} LM layers and {old_vision} vision blocks cannot be deepened to "
                         f"{lm_layers} and {vision_depth}: layers are added, never removed")
    grown = build_gui_tiny(seed, model.config._attn_implementation, lm_layers=lm_layers,
                           vision_depth=vision_depth, kv_heads=kv_heads_of(model)).model
    trained, state = model.state_dict(), grown.state_dict()
    sources = {LM_LAYERS: _sources(old_lm, lm_layers), VISION_BLOCKS: _sources(old_vision, vision_depth)}
    for name in state:
        block = BLOCK_WEIGHT.fullmatch(name)
        if block is None:  # embeddings, final norm, lm_head, patch embedding, merger
            state[name] = trained[name]
            continue
        stack, index, rest = block.group(1), int(block.group(2)), block.group(3)
        source = sources[stack][index]
        if source is not None:
            state[name] = trained[f"{stack}{source}.{rest}"]
        elif rest.startswith(_OUTPUTS):
            state[name] = torch.zeros_like(state[name])
    grown.load_state_dict(state)  # copies: the deepened model shares no storage with ``model``
    return grown.to(next(model.parameters()).dtype)


def widen_kv(model: nn.Module, kv_heads: int) -> nn.Module:
    """A gui-tiny whose LM attention has ``kv_heads`` key/value heads and computes what ``model`` computes.

    Query head ``i`` reads KV head ``i // (heads / kv)``; with ``kv_heads = f * kv`` each old KV head's key and value
    projections are copied to the ``f`` new heads that its queries now read, so every query meets the keys and values
    it met before. The copies then train apart: a query head that shared its values with another (the coordinate
    pointer's head 0 shares with head 1 at 2 KV heads) gets values of its own. ValueError unless ``kv_heads`` is a
    multiple of the model's and divides its query heads.
    """
    text = model.config.get_text_config()
    old, heads = text.num_key_value_heads, text.num_attention_heads
    if kv_heads % old or heads % kv_heads:
        raise ValueError(f"kv_heads={kv_heads}: must be a multiple of the model's {old} KV heads and divide its "
                         f"{heads} query heads")
    repeat = kv_heads // old
    lm_layers, vision_depth = sizes_of(model)
    wide = build_gui_tiny(0, model.config._attn_implementation, lm_layers=lm_layers, vision_depth=vision_depth,
                          kv_heads=kv_heads).model
    state = model.state_dict()
    for name, value in state.items():
        if re.search(r"\.self_attn\.[kv]_proj\.", name):  # (kv * head_dim[, hidden]): each head's rows repeated
            state[name] = value.view(old, -1, *value.shape[1:]).repeat_interleave(repeat, 0).flatten(0, 1).clone()
    wide.load_state_dict(state)
    return wide.to(next(model.parameters()).dtype)
