"""The real 7B configurations (UI-TARS-1.5-7B and OpenCUA-7B), buildable with fewer layers and random weights.

Tests and benches use them to run the project's code paths at the real attention shapes on a CPU: every size below is
the checkpoint's own; only the depth is cut (``n_layers`` LM layers, ``vision_depth`` vision blocks) and the
vocabulary is the local byte-level tokenizer's (the LM head's width does not touch the KV cache).

UI-TARS-1.5-7B is a Qwen2.5-VL-7B (`config.json` of ByteDance-Seed/UI-TARS-1.5-7B, equal to Qwen2.5-VL-7B-Instruct's):

* LM: hidden 3584, intermediate 18944, 28 layers, 28 query / 4 KV heads, head_dim 128, rope_theta 1e6,
  mRoPE sections [16, 24, 24], RMSNorm eps 1e-6, vocabulary 152064;
* vision: 32 blocks, hidden 1280, intermediate 3420, 16 heads, patch 14, spatial merge 2, temporal patch 2,
  window 112 px, full attention at blocks 7/15/23/31, out_hidden 3584.

OpenCUA-7B (xlangai/OpenCUA-7B) pairs the same Qwen2.5-VL vision tower with a Qwen2.5-7B language model that uses
plain 1-D RoPE (rope_theta 1e6) and the same LM sizes.

With a cut vision tower the full-attention block indexes are remapped so that the last kept block is a
full-attention one (as block 7 of 0..7 is in the real tower): both block kinds run.

Weights: Normal(0, 0.02), the checkpoints' ``initializer_range``, so activations stay at realistic scales.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from agent.models.tiny import TinyBundle, build_tiny_opencua, build_tiny_uitars

__all__ = ["UITARS_7B_TEXT", "OPENCUA_7B_TEXT", "QWEN25_VL_7B_VISION", "build_real_shape", "N_LAYERS_7B"]

N_LAYERS_7B = 28
INITIALIZER_RANGE = 0.02

UITARS_7B_TEXT: dict[str, Any] = dict(
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=N_LAYERS_7B,
    num_attention_heads=28,
    num_key_value_heads=4,  # head_dim = 3584 / 28 = 128
    max_position_embeddings=128000,
    rms_norm_eps=1e-6,
    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
)
OPENCUA_7B_TEXT: dict[str, Any] = dict(
    UITARS_7B_TEXT,
    max_position_embeddings=32768,
    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
)
QWEN25_VL_7B_VISION: dict[str, Any] = dict(
    depth=32,
    hidden_size=1280,
    intermediate_size=3420,
    num_heads=16,
    out_hidden_size=3584,
    patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
    window_size=112,
    fullatt_block_indexes=[7, 15, 23, 31],
)


def build_real_shape(
    family: Literal["uitars", "opencua"],
    *,
    n_layers: int = 2,
    vision_depth: int = 2,
    seed: int = 0,
    attn_implementation: str = "sdpa",
) -> TinyBundle:
    """A random model with the real 7B sizes of ``family`` cut to ``n_layers`` LM layers and ``vision_depth`` blocks."""
    if not 1 <= n_layers <= N_LAYERS_7B or not 1 <= vision_depth <= QWEN25_VL_7B_VISION["depth"]:
        raise ValueError(f"n_layers={n_layers} must be in [1, 28] and vision_depth={vision_depth} in [1, 32]")
    text = dict(UITARS_7B_TEXT if family == "uitars" else OPENCUA_7B_TEXT, num_hidden_layers=n_layers)
    full_attention = [i for i in QWEN25_VL_7B_VISION["fullatt_block_indexes"] if i < vision_depth] or [vision_depth - 1]
    vision = dict(QWEN25_VL_7B_VISION, depth=vision_depth, fullatt_block_indexes=full_attention)
    build = build_tiny_uitars if family == "uitars" else build_tiny_opencua
    bundle = build(seed, attn_implementation, text=text, vision=vision, init_std=INITIALIZER_RANGE)
    return dataclasses.replace(bundle, name=f"{family}-7b-shape-{n_layers}l")
