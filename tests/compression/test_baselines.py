"""The study's baselines and ablations: RandomKV (seeded uniform subsets), RecencyKV (budget split in favour of the
newest screenshot), GUI-KV with its saliency or temporal part off, and ``max_tokens`` capping every layer of a
session (a full cache drops whole frames to fit)."""

from __future__ import annotations

import pytest
import torch

from _equivalence import bundle, run_session, segment
from compression import GUIKV, METHODS, FullKV, RandomKV, RecencyKV, SnapKV
from compression.hooks import frame_membership
from compression.methods.recency import spread_order
from compression.scoring import span_index

B, HKV, G, T, D, W = 1, 2, 2, 300, 16, 8
FRAMES = [(10, 90), (100, 180), (190, 270)]


def _inputs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randn(B, HKV, T, D, generator=gen)
    queries = torch.randn(B, HKV * G, W, D, generator=gen)
    hidden = torch.randn(B, T, 16, generator=gen)
    return keys, queries, hidden


def _per_frame(kept: torch.Tensor) -> list[int]:
    """Kept entries of head 0 in each of FRAMES."""
    return [int(((kept[0, 0] >= s) & (kept[0, 0] < e)).sum()) for s, e in FRAMES]


def test_random_is_seeded_and_differs_by_seed_layer_and_head():
    keys, queries, _ = _inputs()
    a = RandomKV(budget=20).select(keys, queries, frames=FRAMES)
    assert torch.equal(a, RandomKV(budget=20).select(keys, queries, frames=FRAMES))
    assert not torch.equal(a, RandomKV(budget=20, seed=1).select(keys, queries, frames=FRAMES))
    assert not torch.equal(a, RandomKV(budget=20).select(keys, queries, frames=FRAMES, layer_idx=1, num_layers=2))
    assert not torch.equal(a[:, 0], a[:, 1])
    other = torch.randn_like(keys)  # the subset does not look at the keys
    assert torch.equal(a, RandomKV(budget=20).select(other, queries, frames=FRAMES))


def test_random_is_uniform_over_positions():
    keys, queries, _ = _inputs()
    counts = torch.zeros(T - W)
    for seed in range(200):
        kept = RandomKV(budget=20, seed=seed).select(keys, queries)[0, 0]
        counts[kept[kept < T - W]] += 1
    expected = 200 * (RandomKV(budget=20).capacity(T) - W) / (T - W)
    assert abs(counts.mean().item() - expected) < 1e-4
    assert counts.min() > expected / 3 and counts.max() < expected * 2  # no region starved or favoured


def test_spread_order_scatters_like_uniform_draws():
    order = spread_order(torch.arange(4096))
    assert bool((order >= 0).all()) and bool((order < 1).all()) and len(set(order.tolist())) == 4096
    assert torch.histc(order.float(), bins=8, min=0, max=1).min() > 4096 / 8 * 0.8  # flat
    grid = order[:18 * 12].view(12, 18) < 0.25  # a 12 x 18 token grid keeps about a quarter, scattered
    assert grid.any(dim=0).sum() >= 15 and grid.any(dim=1).all()  # no stripes: (almost) every column and every row
    assert not torch.equal(spread_order(torch.arange(50), 1), spread_order(torch.arange(50), 2))


def test_recency_gives_the_newest_screenshot_the_largest_share():
    gen = torch.Generator().manual_seed(0)
    T_ = 1200
    keys, queries = torch.randn(1, HKV, T_, D, generator=gen), torch.randn(1, HKV * G, W, D, generator=gen)
    frames = [(20, 380), (420, 780), (820, 1180)]  # three screenshots of 360 tokens, text around them
    age = torch.zeros(T_ - W)  # text counts as age 0
    for a, (s, e) in enumerate(reversed(frames)):
        age[s:e] = a
    order = spread_order(torch.arange(T_ - W), 0x9E3779B9).float() + 2.0**-20  # layer 0's scatter
    for decay in (0.5, 1.0):
        kept = RecencyKV(budget=30, decay=decay).select(keys, queries, frames=frames)[0, 0]
        is_kept = torch.zeros(T_, dtype=torch.bool)
        is_kept[kept] = True
        ratio = order / decay**age  # kept iff order < t * decay**age for one threshold t
        assert ratio[is_kept[: T_ - W]].max() < ratio[~is_kept[: T_ - W]].min()
        counts = [int(is_kept[s:e].sum()) for s, e in frames]
        if decay == 0.5:
            assert counts[2] > counts[1] > counts[0] > 0, counts
        else:
            assert max(counts) - min(counts) <= 0.2 * max(counts), counts


def test_recency_reads_per_head_frame_ids_of_an_incremental_cache():
    keys, queries, _ = _inputs()
    spans = torch.tensor(FRAMES)
    ids = span_index(torch.arange(T), spans).view(1, 1, T).expand(B, HKV, T)
    method = RecencyKV(budget=25)
    assert torch.equal(method.select(keys, queries, frames=FRAMES),
                       method.select(keys, queries, frames=FRAMES[-1:], frame_ids=ids, n_frames=3))
    with pytest.raises(ValueError, match="n_frames"):
        method.select(keys, queries, frames=FRAMES, frame_ids=ids)


def test_span_index_matches_frame_membership():
    ids = torch.randint(0, T, (1, 2, 50))
    index = span_index(ids, torch.tensor(FRAMES))
    assert torch.equal(index >= 0, frame_membership(ids, FRAMES))
    for f, (s, e) in enumerate(FRAMES):
        assert torch.equal(index == f, (ids >= s) & (ids < e))


def test_gui_kv_ablations():
    keys, queries, hidden = _inputs(seed=1)
    snap = SnapKV(budget=20).select(keys, queries, hidden, FRAMES)
    both_off = GUIKV(budget=20, alpha=0.0, temporal=False).select(keys, queries, hidden, FRAMES)
    assert torch.equal(both_off, snap)  # alpha=0 adds exactly 0; temporal off zeroes nothing
    full = GUIKV(budget=20).select(keys, queries, hidden, FRAMES)
    assert not torch.equal(full, GUIKV(budget=20, alpha=0.0).select(keys, queries, hidden, FRAMES))
    temporal_only = GUIKV(budget=20, alpha=0.0).select(keys, queries, hidden, FRAMES)
    assert not torch.equal(temporal_only, snap)  # the temporal step alone moves entries out of older frames
    assert sum(_per_frame(temporal_only)[:2]) < sum(_per_frame(snap)[:2])
    with pytest.raises(ValueError, match="temporal"):
        GUIKV(temporal="no")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_max_tokens_caps_every_layer_of_a_session(name):
    """Three steps of a session, each a screenshot and text: after every prefill each layer holds at most
    ``max_tokens`` entries per KV head (the cache at the end of the step holds them plus n_generated - 1)."""
    b = bundle("uitars", "sdpa")
    cap = 100
    kwargs = {"layer_sparsity": (0.2, 0.5, 0.9)} if name == "vlcache" else {}
    method = METHODS[name](budget=None, max_tokens=cap, **kwargs)
    steps = [segment(b, f"{i}\n", (224, 168), seed=i) for i in range(3)]  # 48 image tokens and a little text each
    session, run = run_session(b, method, steps, frames_window=None, n_new=4)
    for out in run.outs:
        assert len(out.stats.entries_per_layer) == 3
        assert all(n - (out.stats.n_generated - 1) <= cap for n in out.stats.entries_per_layer), out.stats
    if name == "full":  # it fits by dropping whole frames, never by compressing
        assert sum(out.stats.n_evicted_frames for out in run.outs) > 0
        assert run.outs[-1].stats.n_frames < 3
    else:
        assert run.outs[-1].stats.n_frames == 3
        assert max(run.outs[-1].stats.entries_per_layer) - 3 == cap


def test_full_with_max_tokens_needs_incremental_mode():
    b = bundle("uitars", "sdpa")
    from compression import KVSession

    with pytest.raises(ValueError, match="incremental"):
        KVSession(b.model, FullKV(budget=None, max_tokens=64), mode="stateless")
