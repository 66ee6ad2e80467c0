"""GUI-KV at the real 7B attention shapes: an incremental session equals one masked full forward (float32).

`agent.models.shapes.build_real_shape` builds UI-TARS-1.5-7B (Qwen2.5-VL-7B: 28 query / 4 KV heads, head_dim 128,
mRoPE [16, 24, 24]) and OpenCUA-7B (the same sizes with 1-D RoPE) with the real widths, 2 LM layers and 2 vision
blocks, random weights. Three agent steps with a new 640x360 screenshot each (299 image tokens; a 1920x1080 one
would cost ~10x the CPU time, which `bench/real_shapes.py` spends instead), GUI-KV at 10%, two frames in context, so
the first screenshot is evicted before the third step. The masked reference is described in
`_equivalence.assert_matches_masked_forward`.
"""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from _equivalence import assert_matches_masked_forward, image, run_session
from agent.models.shapes import build_real_shape
from compression import GUIKV
from compression.models import resolve

N_NEW = 3
SCREEN = (640, 360)
TOL = 2e-4  # float32 over 3584-wide layers; the tiny models use 1e-4


@lru_cache(maxsize=1)
def _bundle(family: str):
    return build_real_shape(family, n_layers=2, vision_depth=2, seed=0)


def _steps(b):
    marker = b.tokenizer.decode([b.vision_start_token_id, b.image_token_id, b.vision_end_token_id])
    texts = ["system: you are a GUI agent. task: open the settings.\n" + marker + " step 1, next?\n",
             "\n" + marker + " observation 2, next?\n", "\n" + marker + " observation 3, next?\n"]
    steps = []
    for seed, text in enumerate(texts, start=1):
        out = b.processor(text=[text], images=[image(*SCREEN, seed=seed)], return_tensors="pt")
        steps.append((out["input_ids"], out["pixel_values"], out["image_grid_thw"]))
    return steps


@pytest.mark.parametrize("family", ["uitars", "opencua"])
def test_gui_kv_session_at_7b_shapes_matches_masked_full_forward(family):
    b = _bundle(family)
    text = b.model.config.get_text_config()
    assert (text.hidden_size, text.num_attention_heads, text.num_key_value_heads) == (3584, 28, 4)
    assert resolve(b.model).attentions[0].head_dim == 128
    method = GUIKV(budget=10.0)
    steps = _steps(b)
    assert int((steps[0][0] == b.image_token_id).sum()) == 299
    session, run = run_session(b, method, steps, frames_window=2, n_new=N_NEW)
    assert_matches_masked_forward(b, session, run, tol=TOL)
    n_layers = len(session.cache.layers)
    for out in run.outs:  # every layer holds exactly its capacity after the prefill, plus the decoded tokens
        st = out.stats
        n_seen_at_prefill = st.n_seen - (st.n_generated - 1)
        capacity = [method.capacity(n_seen_at_prefill, layer, n_layers) for layer in range(n_layers)]
        assert st.entries_per_layer == tuple(c + st.n_generated - 1 for c in capacity)
    assert run.outs[2].stats.n_evicted_frames == 1
    for layer in session.cache.layers:
        assert layer.keys.shape[1] == 4 and layer.keys.shape[-1] == 128 and layer.keys.dtype == torch.float32
