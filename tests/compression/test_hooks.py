"""compression.apply: compressed generate == masked full-cache generate; cache sizes; hook hygiene; errors.

Runs every method of ``compression.METHODS`` on the tiny UI-TARS (Qwen2.5-VL, mRoPE) and the tiny OpenCUA
(Qwen2 LM, 1-D RoPE), with eager and sdpa attention, fp32 on CPU. The masked reference is described in
``_equivalence.py`` (per-layer, per-KV-head 4-D masks installed by test-only attention pre-hooks).
"""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache, Qwen2Config, Qwen2ForCausalLM
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from _equivalence import (
    ATTNS,
    FAMILIES,
    METHOD_CASES,
    TOL,
    bundle,
    case_id,
    causal,
    generate_kwargs,
    hook_count,
    masked_attention,
    membership,
    n_kv_heads,
    two_image_prompt,
)
from compression import METHODS, SnapKV, UnsupportedModelError, VLCache, apply, compat
from compression.hooks import window_queries
from compression.models import image_spans, resolve

N_NEW = 6


def _generate(model, ids, pv, grids, cache=None, n_new=N_NEW):
    return model.generate(
        input_ids=ids, pixel_values=pv, max_new_tokens=n_new, do_sample=False, output_logits=True,
        return_dict_in_generate=True, **compat.cache_kwargs(cache), **generate_kwargs(model, ids, grids),
    )


def test_method_cases_cover_the_registry():
    assert {name for name, _ in METHOD_CASES} == set(METHODS)


@pytest.mark.parametrize("case", METHOD_CASES, ids=case_id)
@pytest.mark.parametrize("attn", ATTNS)
@pytest.mark.parametrize("family", FAMILIES)
def test_compressed_generate_matches_masked_full_cache(family, attn, case):
    b = bundle(family, attn)
    model = b.model
    name, kwargs = case
    method = METHODS[name](**kwargs)
    ids, pv, grids = two_image_prompt(b)
    L = ids.shape[1]
    with torch.no_grad():
        with apply(model, method) as hooks:
            out = _generate(model, ids, pv, grids)
        n_layers = len(resolve(model).layers)
        allowed = []
        for layer_idx in range(n_layers):
            vis = causal(n_kv_heads(model), L + N_NEW)
            if layer_idx in hooks.kept:  # decode queries see only the kept prompt entries (and the new tokens)
                vis[:, L:, :L] &= membership(hooks.kept[layer_idx], L)[:, None, :]
            allowed.append(vis)
        with masked_attention(model, allowed):
            ref = _generate(model, ids, pv, grids)
        full = _generate(model, ids, pv, grids)
    logits, ref_logits = torch.stack(out.logits), torch.stack(ref.logits)  # (N_NEW, 1, V)
    assert torch.equal(out.sequences, ref.sequences)
    assert (logits - ref_logits).abs().max().item() < TOL
    if method.compresses:
        assert hooks.n_compressions == n_layers
        assert all(hooks.kept[i].shape[-1] < L for i in range(n_layers))
        # the reference is sensitive: hiding the evicted keys changes the logits
        assert (torch.stack(full.logits) - ref_logits).abs().max().item() > 1e-3
    else:
        assert hooks.n_compressions == 0
        assert torch.equal(out.sequences, full.sequences)


@pytest.mark.parametrize("budget", [20.0, 50.0, 100.0])
@pytest.mark.parametrize("case", METHOD_CASES, ids=case_id)
def test_cache_holds_capacity_entries_per_kv_head(case, budget):
    b = bundle("uitars", "sdpa")
    model = b.model
    name, kwargs = case
    method = METHODS[name](**dict(kwargs, budget=budget)) if name != "full" else METHODS[name]()
    ids, pv, grids = two_image_prompt(b)
    L = ids.shape[1]
    cache = DynamicCache(config=model.config)
    with torch.no_grad(), apply(model, method) as hooks:
        _generate(model, ids, pv, grids, cache=cache, n_new=1)  # one forward: the prefill (never the last token)
    if method.calibrates:  # the budgets are those of the method fitted to the forward
        assert hooks.calibration is not None
        method = hooks.calibration
    text = model.config.get_text_config()
    Hkv, D = text.num_key_value_heads, text.hidden_size // text.num_attention_heads
    n_layers = len(cache.layers)
    n_text = int((ids != b.image_token_id).sum())  # counted by keep_text only
    for layer_idx, layer in enumerate(cache.layers):
        k = method.entries_kept(L, n_text, layer_idx, n_layers) if method.compresses else L
        assert layer.keys.shape == layer.values.shape == (1, Hkv, k, D)
        assert layer.keys.is_contiguous() and layer.values.is_contiguous()
    n_bytes = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    expected = sum(
        2 * Hkv * D * 4 * (method.entries_kept(L, n_text, i, n_layers) if method.compresses else L)
        for i in range(n_layers)
    )
    assert n_bytes == expected
    if budget == 100.0:
        assert n_bytes == 2 * n_layers * Hkv * L * D * 4


@pytest.mark.parametrize("family", FAMILIES)
def test_window_queries_reproduce_the_models_attention_rows(family):
    """Recomputed post-RoPE window queries give exactly the model's own eager attention rows."""
    b = bundle(family, "eager")
    model = b.model
    ids, pv, grids = two_image_prompt(b)
    W = 8
    captured = {}

    def grab(attn, args, kwargs, output):
        q = window_queries(attn, kwargs["hidden_states"], kwargs["position_embeddings"], W,
                           resolve(model).mrope_section)  # (1, H, W, D)
        keys = compat.cache_of(kwargs).layers[attn.layer_idx].keys  # (1, Hkv, T, D)
        G = q.shape[1] // keys.shape[1]
        logits = q @ keys.repeat_interleave(G, dim=1).transpose(-1, -2) * attn.scaling  # (1, H, W, T)
        T = keys.shape[2]
        future = torch.arange(T)[None, :] > torch.arange(T - W, T)[:, None]  # (W, T)
        captured[attn.layer_idx] = (logits.masked_fill(future, float("-inf")).softmax(-1), output[1][:, :, -W:])

    handles = [a.register_forward_hook(grab, with_kwargs=True) for a in resolve(model).attentions]
    try:
        with torch.no_grad():
            model(input_ids=ids, pixel_values=pv, use_cache=True, output_attentions=True,
                  **generate_kwargs(model, ids, grids))
    finally:
        for h in handles:
            h.remove()
    assert len(captured) == len(resolve(model).layers)
    for mine, theirs in captured.values():
        assert (mine - theirs).abs().max().item() < 1e-5


def test_hooks_removed_after_block_and_nothing_global_changed():
    b = bundle("uitars", "sdpa")
    model = b.model
    before = hook_count(model)
    functions = dict(ALL_ATTENTION_FUNCTIONS._global_mapping)
    forwards = {type(m): type(m).forward for m in model.modules()}
    ids, pv, grids = two_image_prompt(b)
    with torch.no_grad(), apply(model, METHODS["gui_kv"](budget=40.0, saliency_source="residual")):
        assert hook_count(model) > before
        _generate(model, ids, pv, grids, n_new=2)
    assert hook_count(model) == before
    assert dict(ALL_ATTENTION_FUNCTIONS._global_mapping) == functions
    assert all(cls.forward is fwd for cls, fwd in forwards.items())


def test_hooks_removed_when_the_forward_raises():
    b = bundle("uitars", "sdpa")
    model = b.model
    ids, pv, grids = two_image_prompt(b)

    def boom(module, args, kwargs, output):
        raise RuntimeError("boom in layer 1")

    bomb = resolve(model).layers[1].register_forward_hook(boom, with_kwargs=True)
    try:
        before = hook_count(model)
        with pytest.raises(RuntimeError, match="boom in layer 1"):
            with torch.no_grad(), apply(model, METHODS["gui_kv"](budget=40.0, saliency_source="residual")) as hooks:
                _generate(model, ids, pv, grids, n_new=1)
        assert hooks.n_compressions == 2  # layers 0 and 1 compressed before layer 1's output hook raised
        assert hook_count(model) == before
    finally:
        bomb.remove()


def test_unsupported_model_error_names_the_class():
    config = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    model = Qwen2ForCausalLM(config)
    with pytest.raises(UnsupportedModelError, match="Qwen2ForCausalLM") as info:
        with apply(model, SnapKV()):
            pass
    assert isinstance(info.value, ValueError)
    assert "qwen2" in str(info.value)
    with pytest.raises(UnsupportedModelError, match="Linear"):
        with apply(torch.nn.Linear(2, 2), SnapKV()):
            pass


def test_batch_larger_than_one_raises_and_leaves_no_hook():
    b = bundle("uitars", "sdpa")
    model = b.model
    before = hook_count(model)
    ids = torch.randint(32, 127, (2, 20), generator=torch.Generator().manual_seed(0))  # two unpadded rows
    with pytest.raises(ValueError, match="batch size 1"):
        with torch.no_grad(), apply(model, SnapKV(budget=50.0)):
            model.generate(input_ids=ids, max_new_tokens=1, do_sample=False)
    assert hook_count(model) == before


def test_query_head_layout_is_rejected_by_the_hooks():
    model = bundle("uitars", "sdpa").model
    with pytest.raises(ValueError, match="head_layout='query'"):
        with apply(model, SnapKV(head_layout="query")):
            pass


def test_disarmed_hooks_do_not_compress():
    b = bundle("opencua", "sdpa")
    model = b.model
    ids, pv, grids = two_image_prompt(b)
    cache = DynamicCache(config=model.config)
    with torch.no_grad(), apply(model, SnapKV(budget=20.0)) as hooks:
        hooks.armed = False
        _generate(model, ids, pv, grids, cache=cache, n_new=1)
    assert hooks.n_compressions == 0
    assert cache.get_seq_length() == ids.shape[1]


def test_vlcache_calibrates_on_the_forward_it_compresses():
    """VL-Cache without fixed sparsities measures each layer's sparsity on the uncompressed forward (what
    ``measure_sparsity`` gives on a plain prefill), then keeps exactly what fixed sparsities of those values keep."""
    b = bundle("uitars", "sdpa")
    model = b.model
    ids, pv, grids = two_image_prompt(b)
    frames = image_spans(ids, b.image_token_id)
    calibrating = VLCache(budget=30.0)
    measured = {}

    def measure(attn, args, kwargs, output):  # test-only: the sparsity of the plain (uncompressed) prefill
        q = window_queries(attn, kwargs["hidden_states"], kwargs["position_embeddings"], calibrating.window,
                           resolve(model).mrope_section)  # (1, H, W, D)
        keys = compat.cache_of(kwargs).layers[attn.layer_idx].keys  # (1, Hkv, T, D)
        measured[attn.layer_idx] = float(calibrating.measure_sparsity(keys, q, frames))

    handles = [a.register_forward_hook(measure, with_kwargs=True) for a in resolve(model).attentions]
    try:
        with torch.no_grad():
            plain = model(input_ids=ids, pixel_values=pv, use_cache=True, **generate_kwargs(model, ids, grids))
    finally:
        for h in handles:
            h.remove()
    n_layers = len(resolve(model).layers)
    gammas = tuple(measured[i] for i in range(n_layers))
    assert len(set(gammas)) > 1  # unequal sparsities: the layers get unequal budgets

    caches = {}
    for name, method in (("calibrating", calibrating), ("fixed", calibrating.with_layer_sparsity(gammas))):
        caches[name] = DynamicCache(config=model.config)
        with torch.no_grad(), apply(model, method) as hooks:
            out = model(input_ids=ids, pixel_values=pv, use_cache=True, **compat.cache_kwargs(caches[name]),
                        **generate_kwargs(model, ids, grids))
        # compressing after the forward changes nothing of the forward itself
        assert (out.logits - plain.logits).abs().max().item() < 1e-5
        if name == "calibrating":
            assert hooks.statistics == pytest.approx(gammas, abs=1e-6)
            assert hooks.calibration.layer_sparsity == pytest.approx(gammas, abs=1e-6)
        else:
            assert hooks.statistics is None and hooks.calibration is None
    lengths = [layer.get_seq_length() for layer in caches["calibrating"].layers]
    assert len(set(lengths)) > 1 and max(lengths) < ids.shape[1]
    for mine, fixed in zip(caches["calibrating"].layers, caches["fixed"].layers):
        assert torch.equal(mine.keys, fixed.keys) and torch.equal(mine.values, fixed.values)


def test_vlcache_calibration_with_every_layer_sparse_is_uniform():
    fitted = VLCache(budget=20.0).calibrated([1.0, 1.0, 1.0])
    assert [fitted.capacity(1000, i, 3) for i in range(3)] == [VLCache(budget=20.0).capacity(1000)] * 3
    assert VLCache(budget=20.0, layer_sparsity=(0.5, 0.5, 0.5)).calibrates is False
    assert SnapKV().calibrates is False
