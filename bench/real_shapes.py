"""KV memory, compression cost and prefill tokens of a 20-step agent episode at the real 7B shapes (prints tables).

The episode: 20 steps, each a new 1920x1080 screenshot (2,691 image tokens) plus ~30 text tokens and a 24-token
reply, at most 5 screenshots in context (the reference's AgentNetBench setting). Three measurements:

1. **KV bytes** at the end of the episode and at its peak, for full and for every method at 5/10/20%, in the
   project's GQA layout (4 KV heads x 128 x bf16 per layer) and in the reference's query-head layout (28 heads, the
   cache re-built from a stateless prompt every step). Entry counts come from the real `KVSession` on a 28-layer
   stand-in with 4 KV heads whose other widths are cut (how many entries a layer keeps depends on token counts,
   window and budget, not on the widths); bytes use the real per-entry size.
2. **Compression time / layer prefill time** on the real UI-TARS-1.5-7B (and OpenCUA-7B) layer sizes: one LM layer
   (hidden 3584, 28/4 heads, MLP 18944), a 1-block vision tower whose output is cached after the first screenshot
   (the vision tower is not what is measured). Four uncompressed steps, then each method's session is forked from
   that state (`KVSession.fork`) and runs step 5: its compression scores 5 whole frames (~13.6k entries per head),
   the largest set an incremental step ever scores here, so the fraction is an upper bound. Times: the decoder
   layer's forward (compression included) and the compression hook, of that step's prefill.
3. **Prefill tokens per step**, incremental against stateless (the stateless prompt re-renders the last 5 frames).

Usage: ``python bench/real_shapes.py [--steps 20] [--threads N] [--family uitars,opencua] [--skip-timing]``
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.models.shapes import N_LAYERS_7B, build_real_shape  # noqa: E402
from agent.models.tiny import build_tiny_uitars  # noqa: E402
from compression import METHODS, KVSession  # noqa: E402
from compression import hooks as hooks_module  # noqa: E402
from compression.models import resolve  # noqa: E402

METHOD_NAMES = ("snapkv", "pyramidkv", "vlcache", "gui_kv")
BUDGETS = (5.0, 10.0, 20.0)
FRAMES = 5
REPLY_TOKENS = 24
KV_HEADS, QUERY_HEADS, HEAD_DIM, BF16 = 4, 28, 128, 2
ENTRY_BYTES = 2 * KV_HEADS * HEAD_DIM * BF16  # keys + values of one cached token in one layer (GQA layout)


def _screenshot(seed: int) -> Image.Image:
    return Image.fromarray(np.random.RandomState(seed).randint(0, 255, (1080, 1920, 3), dtype=np.uint8))


def _episode(b, n_steps: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Processor outputs of each step's chunk: screenshot + short text (the first step opens with the instruction)."""
    marker = b.tokenizer.decode([b.vision_start_token_id, b.image_token_id, b.vision_end_token_id])
    out = b.processor(text=[marker], images=[_screenshot(0)], return_tensors="pt")
    pv, grid = out["pixel_values"], out["image_grid_thw"]
    steps = []
    for step in range(n_steps):
        text = ("system: GUI agent. task: export the report as pdf.\n" if step == 0 else "\n") + marker
        text += f" step {step + 1}: what next?\n"
        ids = b.processor(text=[text], images=[_screenshot(0)], return_tensors="pt")["input_ids"]
        steps.append((ids, pv, grid))
    return steps


def _cache_vision(b) -> None:
    """Run the vision tower once; later calls return its output (bench only: the LM is what is measured)."""
    resolved = resolve(b.model)
    tower = b.model.model.visual if resolved.adapter.rope == "mrope" else b.model.vision_tower
    real, memo = tower.forward, {}

    def forward(pixel_values: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        key = tuple(pixel_values.shape)
        if key not in memo:
            memo[key] = real(pixel_values, *args, **kwargs)
        out = memo[key]
        return copy.copy(out) if not isinstance(out, torch.Tensor) else out

    tower.forward = forward


def _run(b, method, steps, mode: str = "incremental") -> list:
    session = KVSession(b.model, method, frames_window=FRAMES, mode=mode, tokenizer=b.tokenizer,
                        turn_closer_ids=[b.tokenizer.convert_tokens_to_ids("<|im_end|>")])
    outs = []
    for ids, pv, grid in steps:
        outs.append(session.step(ids, pv, grid, max_new_tokens=REPLY_TOKENS, min_new_tokens=REPLY_TOKENS,
                                 do_sample=False))
    return outs


def _stand_in():
    """28 layers, 4 KV heads (the real layout's counts), everything else narrow: entry counts at 1080p cheaply."""
    text = dict(hidden_size=64, intermediate_size=64, num_hidden_layers=N_LAYERS_7B, num_attention_heads=4,
                num_key_value_heads=KV_HEADS, max_position_embeddings=262144, rms_norm_eps=1e-6,
                rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]})
    vision = dict(depth=1, hidden_size=32, intermediate_size=32, num_heads=1, out_hidden_size=64, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[0])
    return build_tiny_uitars(0, "sdpa", text=text, vision=vision)


def _stateless_prompt_lengths(b, steps, n_steps: int) -> list[int]:
    """Tokens of the stateless (reference) prompt at each step: every step's text and earlier replies (with their
    closers), but only the last 5 screenshots (image pads plus their start/end tokens)."""
    n_img = [int((ids == b.image_token_id).sum()) + 2 for ids, _, _ in steps]
    n_txt = [ids.shape[1] - n for (ids, _, _), n in zip(steps, n_img)]
    return [sum(n_txt[: t + 1]) + sum(n_img[max(0, t - FRAMES + 1) : t + 1]) + (REPLY_TOKENS + 1) * t
            for t in range(n_steps)]


def kv_bytes_table(n_steps: int) -> None:
    b = _stand_in()
    steps = _episode(b, n_steps)
    _cache_vision(b)
    stateless = _stateless_prompt_lengths(b, steps, n_steps)
    rows = [("full", None, _run(b, METHODS["full"](), steps))]
    for name in METHOD_NAMES:
        for budget in BUDGETS:
            started = time.perf_counter()
            rows.append((name, budget, _run(b, METHODS[name](budget=budget), steps)))
            print(f"  ran {name}@{budget:g}% in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    full_end = sum(rows[0][2][-1].stats.entries_per_layer) * ENTRY_BYTES
    print(f"\n## KV cache of a {n_steps}-step episode at 1920x1080, {FRAMES} frames in context (28 layers, bf16)\n")
    print("| method | budget | GQA MiB/layer (end) | GQA MiB, 28 layers (end / peak) | vs full | "
          "reference query-head MiB, 28 layers (end) | reference / ours |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, budget, outs in rows:
        end = sum(outs[-1].stats.entries_per_layer) * ENTRY_BYTES
        peak = max(sum(o.stats.entries_per_layer) for o in outs) * ENTRY_BYTES
        if budget is None:  # the reference's full cache is GQA too
            ref = stateless[-1] + REPLY_TOKENS - 1
        else:
            ref = int(stateless[-1] * budget / 100) + REPLY_TOKENS - 1
        ref_bytes = ref * N_LAYERS_7B * 2 * (KV_HEADS if budget is None else QUERY_HEADS) * HEAD_DIM * BF16
        print(f"| {name} | {'-' if budget is None else f'{budget:g}%'} | {end / N_LAYERS_7B / 2**20:.2f} | "
              f"{end / 2**20:.1f} / {peak / 2**20:.1f} | {end / full_end:.3f} | {ref_bytes / 2**20:.1f} | "
              f"{ref_bytes / end:.1f}x |")
    incr = [o.stats.n_prefilled for o in rows[0][2]]
    print("\n## Prefill tokens per step (incremental session vs the stateless re-prefill)\n")
    print("| step | incremental | stateless | stateless / incremental |")
    print("|---:|---:|---:|---:|")
    for t in (0, 1, 4, 9, n_steps - 1):
        if t < n_steps:
            print(f"| {t + 1} | {incr[t]} | {stateless[t]} | {stateless[t] / incr[t]:.1f}x |")
    print(f"| total | {sum(incr)} | {sum(stateless)} | {sum(stateless) / sum(incr):.1f}x |")


def _timed_compression(times: list[float]) -> Callable[[], None]:
    real = hooks_module._compress_layer

    def timed(state, attn, kwargs):  # wall time of the whole hook: tracking, scoring, top-k, gather
        started = time.perf_counter()
        real(state, attn, kwargs)
        times.append(time.perf_counter() - started)

    hooks_module._compress_layer = timed
    return lambda: setattr(hooks_module, "_compress_layer", real)


def timing_table(families: list[str]) -> None:
    print("\n## Compression time as a fraction of the layer's prefill (real 7B layer sizes, 1080p, 5 frames)\n")
    print("| model | method | budget | layer prefill ms | compression ms | fraction |")
    print("|---|---|---:|---:|---:|---:|")
    for family in families:
        b = build_real_shape(family, n_layers=1, vision_depth=1)
        steps = _episode(b, FRAMES)
        _cache_vision(b)
        layer = resolve(b.model).layers[0]
        warm = KVSession(b.model, METHODS["full"](), frames_window=FRAMES, tokenizer=b.tokenizer)
        for ids, pv, grid in steps[:-1]:
            warm.step(ids, pv, grid, max_new_tokens=2, do_sample=False)
        for name, budget in [("full", None)] + [(m, x) for m in METHOD_NAMES for x in BUDGETS]:
            method = METHODS[name]() if budget is None else METHODS[name](budget=budget)
            compress_s: list[float] = []
            layer_s: list[float] = []
            start = {}
            pre = layer.register_forward_pre_hook(lambda m, a: start.__setitem__("t", time.perf_counter()))
            post = layer.register_forward_hook(lambda m, a, o: layer_s.append(time.perf_counter() - start["t"]))
            restore = _timed_compression(compress_s)
            try:
                ids, pv, grid = steps[-1]
                warm.fork(method).step(ids, pv, grid, max_new_tokens=1, do_sample=False)
            finally:
                restore()
                pre.remove()
                post.remove()
            prefill_ms, comp_ms = layer_s[0] * 1e3, compress_s[0] * 1e3  # the step's prefill forward
            print(f"| {family} | {name} | {'-' if budget is None else f'{budget:g}%'} | {prefill_ms:.0f} | "
                  f"{comp_ms:.1f} | {comp_ms / (prefill_ms - comp_ms):.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="episode length (default 20)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--family", default="uitars,opencua", help="models for the timing table")
    parser.add_argument("--skip-timing", action="store_true", help="only the KV bytes and prefill tables")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# bench/real_shapes.py: torch {torch.__version__}, {args.threads} threads, CPU")
    with torch.inference_mode():
        kv_bytes_table(args.steps)
        if not args.skip_timing:
            timing_table(args.family.split(","))


if __name__ == "__main__":
    main()
