"""gui-tiny: the project's own small UI-TARS-class model (`Qwen2_5_VLForConditionalGeneration`), trained on synthdesk.

Sizes (why): synthdesk screens are 420x308 to 504x364 px, multiples of the 28 px token cell, so with
``max_pixels = 504 * 364`` the image processor leaves them unchanged (model-image pixels = screen pixels) and a
15 px label spans whole cells: 165 to 234 image tokens per screenshot, six screenshots and their replies in ~1,700
tokens. A 4-layer, 256-wide LM (4 query / 2 KV heads, head_dim 64, mRoPE sections [8, 12, 12], rope_theta 1e4
because the contexts are short) and a 2-block, 128-wide vision tower (a windowed block, then a full-attention one)
keep a 6-screenshot training example to about a second on one CPU core; 4.16M parameters, ~17 MB in float32.
Deeper variants (``lm_layers``, ``vision_depth``) keep the widths; the vision tower's last block is its
full-attention one; ``kv_heads`` (2, a divisor of the 4 query heads) gives the LM attention more KV heads.
`agent.training.grow` deepens or widens a trained one without changing its outputs.

The tokenizer is the project's byte-level one with the real Qwen2.5-VL special tokens (`agent.models.tokenizer`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from agent.models.processing import MIN_PIXELS, Qwen2_5_VLPilProcessor, build_image_processor
from agent.models.tiny import TinyBundle, build_tiny_uitars

__all__ = ["GUI_TINY_TEXT", "GUI_TINY_VISION", "GUI_TINY_MAX_PIXELS", "BLOCK_WEIGHT", "LM_LAYERS", "VISION_BLOCKS",
           "build_gui_tiny", "kv_heads_of", "sizes_of", "sizes_in"]

GUI_TINY_MAX_PIXELS = 504 * 364  # the largest synthdesk screen: every synthdesk screen is its own model image
GUI_TINY_TEXT: dict[str, Any] = dict(
    hidden_size=256,
    intermediate_size=768,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=8192,
    rms_norm_eps=1e-6,
    rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [8, 12, 12]},
)
GUI_TINY_VISION: dict[str, Any] = dict(
    depth=2,
    hidden_size=128,
    intermediate_size=256,
    num_heads=2,
    out_hidden_size=256,
    patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
    window_size=112,
    fullatt_block_indexes=[1],
)
INIT_STD = 0.02
LM_LAYERS, VISION_BLOCKS = "model.language_model.layers.", "model.visual.blocks."
BLOCK_WEIGHT = re.compile(rf"({re.escape(LM_LAYERS)}|{re.escape(VISION_BLOCKS)})(\d+)\.(.*)")  # stack, index, rest


def build_gui_tiny(seed: int = 0, attn_implementation: str = "sdpa", *, lm_layers: int | None = None,
                   vision_depth: int | None = None, kv_heads: int | None = None) -> TinyBundle:
    """An untrained gui-tiny (random weights drawn from ``seed``) with its tokenizer and processor; ``lm_layers`` /
    ``vision_depth`` / ``kv_heads`` replace the 4 LM layers / 2 vision blocks / 2 KV heads."""
    text = dict(GUI_TINY_TEXT, num_hidden_layers=lm_layers or GUI_TINY_TEXT["num_hidden_layers"],
                num_key_value_heads=kv_heads or GUI_TINY_TEXT["num_key_value_heads"])
    depth = vision_depth or GUI_TINY_VISION["depth"]
    vision = dict(GUI_TINY_VISION, depth=depth, fullatt_block_indexes=[depth - 1])
    bundle = build_tiny_uitars(seed, attn_implementation, text=text, vision=vision, init_std=INIT_STD)
    processor = Qwen2_5_VLPilProcessor(
        image_processor=build_image_processor(MIN_PIXELS, GUI_TINY_MAX_PIXELS), tokenizer=bundle.tokenizer
    )
    return dataclasses.replace(bundle, processor=processor, name="gui-tiny", prompt_set="synthdesk")


def sizes_of(model: Any) -> tuple[int, int]:
    """(LM layers, vision blocks) of a gui-tiny model."""
    return model.config.get_text_config().num_hidden_layers, model.config.vision_config.depth


def kv_heads_of(model: Any) -> int:
    """The key/value heads of a gui-tiny model's LM attention."""
    return model.config.get_text_config().num_key_value_heads


def sizes_in(state: Mapping[str, Any]) -> dict[str, int]:
    """The `build_gui_tiny` sizes (``lm_layers``, ``vision_depth``, ``kv_heads``) that a gui-tiny state_dict holds;
    a size it shows nothing of (no block of a stack, no LM key projection) is left out (the default)."""
    found: dict[str, int] = {}
    for name in state:
        if block := BLOCK_WEIGHT.fullmatch(name):
            found[block.group(1)] = max(found.get(block.group(1), 0), int(block.group(2)) + 1)
    sizes = {size: found[stack] for size, stack in (("lm_layers", LM_LAYERS), ("vision_depth", VISION_BLOCKS))
             if stack in found}
    key = state.get(f"{LM_LAYERS}0.self_attn.k_proj.weight")
    if key is not None:  # (kv heads * head_dim, hidden); head_dim = hidden / query heads
        head_dim = GUI_TINY_TEXT["hidden_size"] // GUI_TINY_TEXT["num_attention_heads"]
        sizes["kv_heads"] = key.shape[0] // head_dim
    return sizes
