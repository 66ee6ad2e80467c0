"""Contract matrix: every registered method x budgets x head layouts keeps exactly its promised entries."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from compression import METHODS, GUIKV, FullKV, PyramidKV, SnapKV, VLCache
from compression.scoring import temporal_basis, temporal_residuals, zero_smallest

B, HKV, G, T, D, W = 2, 2, 3, 240, 32, 8
FRAMES = [(4, 64), (70, 130), (140, 200)]
NUM_LAYERS = 4


def _inputs(dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randn(B, HKV, T, D, generator=gen).to(dtype)
    queries = torch.randn(B, HKV * G, W, D, generator=gen).to(dtype)
    hidden = torch.randn(B, T, 16, generator=gen).to(dtype)
    return keys, queries, hidden


def _method(name: str, budget: float, layout: str):
    if name == "full":
        return FullKV(head_layout=layout)
    if name == "vlcache":
        return VLCache(budget=budget, head_layout=layout, layer_sparsity=(0.1, 0.6, 0.8, 0.95))
    return METHODS[name](budget=budget, head_layout=layout)


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("budget", [5, 30, 100])
@pytest.mark.parametrize("layout", ["kv", "query"])
@pytest.mark.parametrize("layer", [0, NUM_LAYERS - 1])
def test_select_keeps_capacity_sorted_with_window(name, budget, layout, layer):
    keys, queries, hidden = _inputs()
    method = _method(name, budget, layout)
    kept = method.select(keys, queries, hidden, FRAMES, layer_idx=layer, num_layers=NUM_LAYERS)
    capacity = min(method.capacity(T, layer, NUM_LAYERS), T)
    n_heads = HKV if layout == "kv" else HKV * G
    assert kept.dtype == torch.long
    assert kept.shape == (B, n_heads, capacity)
    assert bool((kept[..., 1:] > kept[..., :-1]).all()), "positions must be sorted and unique"
    assert bool((kept >= 0).all()) and bool((kept < T).all())
    assert torch.equal(kept[..., -W:], torch.arange(T - W, T).expand(B, n_heads, W)), "window must be kept"
    if budget == 100 or name == "full":
        assert torch.equal(kept, torch.arange(T).expand(B, n_heads, T))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_budget_100_keeps_everything(name):
    keys, queries, hidden = _inputs(seed=1)
    method = _method(name, 100, "kv")
    assert torch.equal(method.select(keys, queries, hidden, FRAMES), torch.arange(T).expand(B, HKV, T))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_gui_kv_runs_in_model_dtypes(dtype):
    keys, queries, hidden = _inputs(dtype)
    kept = GUIKV(budget=10).select(keys, queries, hidden, FRAMES)
    assert kept.shape == (B, HKV, GUIKV(budget=10).capacity(T))


def test_max_tokens_is_an_absolute_cap():
    keys, queries, hidden = _inputs()
    assert SnapKV(budget=None, max_tokens=50).select(keys, queries).shape == (B, HKV, 50)
    assert SnapKV(budget=None, max_tokens=500).select(keys, queries).shape == (B, HKV, T)


def test_n_seen_sets_the_capacity():
    keys, queries, _ = _inputs()
    assert SnapKV(budget=10).select(keys, queries, n_seen=1000).shape == (B, HKV, 100)


def test_pyramid_capacities_decrease_with_depth_and_average_to_budget():
    method = PyramidKV(budget=10)
    caps = [method.capacity(14_000, layer, 28) for layer in range(28)]
    assert caps == sorted(caps, reverse=True) and caps[0] > caps[-1]
    assert abs(sum(caps) / 28 - method.base_capacity(14_000)) <= 28


def test_capabilities():
    assert FullKV.compresses is False and GUIKV.compresses is True
    assert GUIKV().hidden_states_source == "attention_input"
    assert GUIKV(saliency_source="residual").hidden_states_source == "residual"
    assert SnapKV().hidden_states_source == "none"


def test_gui_kv_hidden_states_may_cover_only_the_chunk():
    keys, queries, hidden = _inputs(seed=2)
    method = GUIKV(budget=20)
    full = method.select(keys, queries, hidden, FRAMES)
    chunk = method.select(keys, queries, hidden[:, 130:], FRAMES)
    assert torch.equal(full, chunk)
    with pytest.raises(ValueError, match="hidden_states"):
        method.select(keys, queries, hidden[:, 150:], FRAMES)


def test_prev_frame_mask_equal_to_spans_gives_same_selection():
    keys, queries, hidden = _inputs(seed=3)
    mask = torch.zeros(1, 1, T, dtype=torch.bool)
    for start, end in FRAMES[:-1]:
        mask[..., start:end] = True
    method = GUIKV(budget=15)
    assert torch.equal(
        method.select(keys, queries, hidden, FRAMES), method.select(keys, queries, hidden, FRAMES, prev_frame_mask=mask)
    )


def test_zero_smallest_uses_per_head_counts():
    gen = torch.Generator().manual_seed(4)
    scores = torch.rand(2, 3, 50, generator=gen, dtype=torch.float64) + 1
    residuals = torch.rand(2, 3, 50, generator=gen, dtype=torch.float64)
    cand = torch.rand(2, 3, 50, generator=gen) < torch.tensor([0.2, 0.5, 0.9])[:, None]  # (3, 50) -> per head
    out = zero_smallest(scores, residuals, cand, keep_fraction=0.3)
    for b in range(2):
        for h in range(3):
            pos = cand[b, h].nonzero().flatten()
            n_zero = int((1.0 - 0.3) * len(pos))
            smallest = pos[residuals[b, h, pos].topk(n_zero, largest=False).indices] if n_zero else pos[:0]
            expected = scores[b, h].clone()
            expected[smallest] = 0
            assert torch.equal(out[b, h], expected)


def test_principal_basis_spans_top_singular_subspace():
    gen = torch.Generator().manual_seed(5)
    cur = torch.randn(2, 3, 70, 24, generator=gen, dtype=torch.float64)
    basis = temporal_basis(cur, 6, "principal")  # (2, 3, 24, 6)
    for b in range(2):
        for h in range(3):
            v = torch.linalg.svd(cur[b, h], full_matrices=False).Vh[:6].T
            assert torch.allclose(basis[b, h] @ basis[b, h].T, v @ v.T, atol=1e-10)
    prev = torch.randn(2, 3, 30, 24, generator=gen, dtype=torch.float64)
    res = temporal_residuals(prev, basis)
    assert torch.allclose(res, torch.linalg.vector_norm(prev - prev @ basis @ basis.mT, dim=-1))


def test_first_basis_equals_reference_full_qr():
    gen = torch.Generator().manual_seed(6)
    cur = torch.randn(1, 2, 90, 40, generator=gen, dtype=torch.float64)
    basis = temporal_basis(cur, 32, "first")
    for h in range(2):
        q_full, _ = torch.linalg.qr(cur[0, h].T, mode="reduced")
        ref = q_full[:, :32]
        assert torch.allclose(basis[0, h] @ basis[0, h].T, ref @ ref.T, atol=1e-10)


def test_gui_kv_principal_basis_runs_in_both_layouts():
    keys, queries, hidden = _inputs(seed=7)
    for layout, n_heads in (("kv", HKV), ("query", HKV * G)):
        kept = GUIKV(budget=10, temporal_basis="principal", head_layout=layout).select(keys, queries, hidden, FRAMES)
        assert kept.shape == (B, n_heads, GUIKV(budget=10).capacity(T))


def test_capacity_uses_the_reference_float_expression():
    # reference: int(kv_seq_len * (budget / 100)); 100 * 0.29 == 28.999999999999996
    assert SnapKV(budget=29).capacity(100) == 28
    assert SnapKV(budget=10).capacity(13_755) == 1375


N_TEXT = T - sum(e - s for s, e in FRAMES)  # positions outside every frame (the window among them)


@pytest.mark.parametrize("name", sorted(set(METHODS) - {"full"}))
@pytest.mark.parametrize("budget", [5, 30])
@pytest.mark.parametrize("layout", ["kv", "query"])
def test_keep_text_keeps_every_text_entry_and_spends_the_budget_on_image_tokens(name, budget, layout):
    keys, queries, hidden = _inputs(seed=2)
    method = _method(name, budget, layout)
    method = dataclasses.replace(method, keep_text=True)
    layer = NUM_LAYERS - 1
    kept = method.select(keys, queries, hidden, FRAMES, layer_idx=layer, num_layers=NUM_LAYERS)
    n_heads = HKV if layout == "kv" else HKV * G
    in_frame = torch.zeros(T, dtype=torch.bool)
    for s, e in FRAMES:
        in_frame[s:e] = True
    text = (~in_frame).nonzero().flatten()
    assert kept.shape == (B, n_heads, N_TEXT + method.capacity(T - N_TEXT, layer, NUM_LAYERS))
    assert bool(torch.isin(text, kept).all()) and all(
        bool(torch.isin(text, kept[b, h]).all()) for b in range(B) for h in range(n_heads)), "a text entry was dropped"
    assert bool((kept[..., 1:] > kept[..., :-1]).all())


def test_keep_text_with_per_head_frame_ids_of_an_incremental_cache():
    """Incremental caches pass ``frame_ids`` per head; text is whatever is -1 there, per head."""
    keys, queries, hidden = _inputs(seed=3)
    frame_ids = torch.full((B, HKV, T), -1, dtype=torch.long)
    frame_ids[..., 10:110] = 0
    frame_ids[..., 120:220] = 1
    frame_ids[:, 1, 50:60] = -1  # head 1 kept ten more text entries than head 0 from an earlier step
    method = SnapKV(budget=10, keep_text=True)
    kept = method.select(keys, queries, None, [(120, 220)], frame_ids=frame_ids, n_frames=2)
    n_text = int((frame_ids < 0).sum(-1).max())
    assert kept.shape[-1] == n_text + method.capacity(T - n_text)
    for b in range(B):
        for h in range(HKV):
            text = (frame_ids[b, h] < 0).nonzero().flatten()
            assert bool(torch.isin(text, kept[b, h]).all())


def test_keep_text_must_be_a_bool():
    with pytest.raises(ValueError, match="keep_text must be a bool"):
        SnapKV(budget=10, keep_text="yes")
