"""KVSession: incremental steps equal full re-prefills (FullKV) or one masked full forward (compression).

Three agent steps, each a new screenshot plus text, 5 generated tokens per step, ``frames_window=2`` (the first
frame is evicted before step 2). Tiny UI-TARS (mRoPE) and tiny OpenCUA (1-D RoPE), eager and sdpa, fp32, CPU.

Masked reference for a compressed session (``_equivalence.masked_attention``): one forward over the whole
transcript where query ``q`` of step ``s`` sees key ``k <= q`` iff ``k`` was in that layer/head's cache when ``q``
ran: prefill queries see the cache as it was right before the chunk (after eviction; snapshotted by a test-only
pre-hook) plus the chunk; decode queries see the cache at the end of the step.
"""

from __future__ import annotations

import pytest
import torch

from _equivalence import (
    ATTNS,
    FAMILIES,
    METHOD_CASES,
    TOL,
    SessionRun,
    assert_matches_masked_forward,
    bundle,
    case_id,
    full_positions,
    generate_kwargs,
    hook_count,
    run_session,
    segment,
    step_rows,
    transcript,
)
from compression import METHODS, CompressionError, KVSession, SnapKV, UnsupportedModelError

N_NEW = 5


def _steps(b):
    head = b.tokenizer("system: you are a GUI agent. task: open the settings.\n", return_tensors="pt")["input_ids"]
    s0 = segment(b, " step 1, what next?\n", (168, 112), seed=1)
    s0 = (torch.cat([head, s0[0]], dim=1), s0[1], s0[2])
    s1 = segment(b, "\nobservation 2, next?\n", (112, 84), seed=2)
    s2 = segment(b, "\nobservation 3, next?\n", (112, 112), seed=3)
    return [s0, s1, s2]


@pytest.mark.parametrize("attn", ATTNS)
@pytest.mark.parametrize("family", FAMILIES)
def test_incremental_fullkv_matches_full_reprefill(family, attn):
    b = bundle(family, attn)
    session, run = run_session(b, METHODS["full"](), _steps(b), frames_window=None, n_new=N_NEW)
    model = b.model
    for s, out in enumerate(run.outs):
        ids = transcript(run, s, with_last_decode=False)
        grids = torch.cat(run.grids[: s + 1])
        with torch.no_grad():
            ref = model.generate(
                input_ids=ids, pixel_values=torch.cat(run.pixels[: s + 1]), max_new_tokens=N_NEW, do_sample=False,
                output_logits=True, return_dict_in_generate=True, **generate_kwargs(model, ids, grids),
            )
        assert ref.sequences[0, ids.shape[1]:].tolist() == list(out.tokens)
        assert (torch.cat(list(ref.logits)) - out.logits).abs().max().item() < TOL
    assert session.cache.get_seq_length() == session.tracker.next_id  # nothing evicted, nothing compressed


@pytest.mark.parametrize("case", METHOD_CASES, ids=case_id)
@pytest.mark.parametrize("attn", ATTNS)
@pytest.mark.parametrize("family", FAMILIES)
def test_incremental_session_matches_masked_full_forward(family, attn, case):
    b = bundle(family, attn)
    model = b.model
    name, kwargs = case
    session, run = run_session(b, METHODS[name](**kwargs), _steps(b), frames_window=2, n_new=N_NEW)
    ref = assert_matches_masked_forward(b, session, run)
    with torch.no_grad():  # negative control: the same forward without the masks (nothing evicted)
        ids, grids = transcript(run, len(run.outs) - 1, with_last_decode=True), torch.cat(run.grids)
        plain = b.model(input_ids=ids, pixel_values=torch.cat(run.pixels),
                        position_ids=full_positions(b.model, ids, grids), **generate_kwargs(b.model, ids, grids))
    rows = step_rows(run, len(run.outs) - 1)
    assert (plain.logits[0, rows] - ref[0, rows]).abs().max().item() > 1e-3  # evictions matter at step 2
    stats = run.outs[2].stats  # frame 0 left the context before step 2
    assert (stats.n_evicted_frames, stats.n_frames) == (1, 2)


def _frame0_span(run: SessionRun, b) -> tuple[int, int]:
    chunk = run.chunks[0][0]
    pads = (chunk == b.image_token_id).nonzero().flatten()
    return run.starts[0] + int(pads[0]), run.starts[0] + int(pads[-1]) + 1


@pytest.mark.parametrize("family", FAMILIES)
def test_eviction_drops_the_old_frame_rectangularly(family):
    b = bundle(family, "sdpa")
    method = METHODS["gui_kv"](budget=50.0)
    session, run = run_session(b, method, _steps(b), frames_window=2, n_new=N_NEW)
    start, end = _frame0_span(run, b)
    for layer_idx, ids in enumerate(session.tracker.ids):
        layer = session.cache.layers[layer_idx]
        assert ids.shape[:2] == layer.keys.shape[:2] and ids.shape[-1] == layer.keys.shape[2]
        assert not ((ids >= start) & (ids < end)).any()
        assert bool((ids[..., 1:] > ids[..., :-1]).all())  # sorted per head
    stats = run.outs[2].stats
    assert stats.n_evicted_frames == 1 and stats.n_evicted_entries > 0
    assert stats.n_seen == session.tracker.next_id - (end - start)


@pytest.mark.parametrize("case", METHOD_CASES[1:], ids=case_id)
def test_step_stats_report_the_cache(case):
    b = bundle("uitars", "sdpa")
    name, kwargs = case
    method = METHODS[name](**kwargs)
    session, run = run_session(b, method, _steps(b), frames_window=None, n_new=N_NEW)
    text = b.model.config.get_text_config()
    Hkv, D = text.num_key_value_heads, text.hidden_size // text.num_attention_heads
    first = run.outs[0].stats
    n_layers = len(first.entries_per_layer)
    # step 0: the prefill keeps capacity(n_seen) entries per KV head in every layer (keep_text: every text entry
    # plus capacity(image tokens seen)); decode appends n_gen - 1
    n_text = int((run.chunks[0] != b.image_token_id).sum())  # counted by keep_text only
    if method.calibrates:  # budgets of the method fitted to the prefill's measured statistics
        assert first.layer_statistics is not None and len(first.layer_statistics) == n_layers
        method = method.calibrated(first.layer_statistics)
    else:
        assert first.layer_statistics is None
    for layer_idx, n in enumerate(first.entries_per_layer):
        assert n == method.entries_kept(first.n_prefilled, n_text, layer_idx, n_layers) + N_NEW - 1
    for out in run.outs:
        st = out.stats
        assert st.n_generated == N_NEW and len(out.tokens) == N_NEW and isinstance(out.text, str)
        assert st.cache_bytes == sum(2 * Hkv * D * 4 * n for n in st.entries_per_layer)
    assert run.outs[-1].stats.entries_per_layer == tuple(l.get_seq_length() for l in session.cache.layers)
    assert [o.stats.n_prefilled for o in run.outs] == [c.shape[1] for c in run.chunks]
    assert run.outs[-1].stats.n_seen == session.tracker.next_id


def test_opening_tokens_pending_and_closer():
    b = bundle("uitars", "sdpa")
    im_end = b.tokenizer.convert_tokens_to_ids("<|im_end|>")
    ids, pv, grid = _steps(b)[0]
    plain = KVSession(b.model, SnapKV(budget=50.0))
    out = plain.step(ids, pv, grid, max_new_tokens=2)
    assert plain.opening_ids == (out.tokens[-1],) and out.text is None
    closing = KVSession(b.model, SnapKV(budget=50.0), turn_closer_ids=[im_end])
    out = closing.step(ids, pv, grid, max_new_tokens=2)
    expected = (out.tokens[-1],) if out.tokens[-1] == im_end else (out.tokens[-1], im_end)
    assert closing.opening_ids == expected
    nxt = segment(b, "\nnext\n")[0]
    out2 = closing.step(nxt, max_new_tokens=1)
    assert out2.stats.n_prefilled == len(expected) + nxt.shape[1]  # text-only chunk: pending + closer + suffix


@pytest.mark.parametrize("family", FAMILIES)
def test_stateless_step_equals_single_step_apply(family):
    from compression import apply

    b = bundle(family, "sdpa")
    model = b.model
    method = METHODS["gui_kv"](budget=40.0)
    session = KVSession(model, method, mode="stateless", frames_window=2)
    steps = _steps(b)
    ids = torch.cat([steps[0][0], steps[1][0]], dim=1)
    pv, grids = torch.cat([steps[0][1], steps[1][1]]), torch.cat([steps[0][2], steps[1][2]])
    outs = [session.step(ids, pv, grids, max_new_tokens=N_NEW, output_logits=True) for _ in range(2)]
    with torch.no_grad(), apply(model, method):
        ref = model.generate(input_ids=ids, pixel_values=pv, max_new_tokens=N_NEW, do_sample=False, output_logits=True,
                             return_dict_in_generate=True, **generate_kwargs(model, ids, grids))
    for out in outs:  # each step re-prefills from scratch
        assert list(out.tokens) == ref.sequences[0, ids.shape[1]:].tolist()
        assert (out.logits - torch.cat(list(ref.logits))).abs().max().item() < TOL
        assert out.stats.n_prefilled == ids.shape[1]
    assert outs[1].stats.step == 1 and session.opening_ids == ()


def test_session_leaves_no_hooks_and_rejects_bad_inputs():
    b = bundle("opencua", "sdpa")
    model = b.model
    before = hook_count(model)
    session = KVSession(model, SnapKV(budget=50.0))
    ids, pv, grid = _steps(b)[0]
    session.step(ids, pv, grid, max_new_tokens=2)
    assert hook_count(model) == before
    with pytest.raises(ValueError, match="batch size 1"):
        session.step(ids.repeat(2, 1), max_new_tokens=1)
    with pytest.raises(ValueError, match="position_ids"):
        session.step(ids, position_ids=torch.zeros(1, ids.shape[1], dtype=torch.long))
    with pytest.raises(ValueError, match="max_new_tokens"):
        session.step(ids, max_new_tokens=0)
    with pytest.raises(ValueError, match="mode"):
        KVSession(model, mode="chunked")
    with pytest.raises(ValueError, match="frames_window"):
        KVSession(model, frames_window=0)
    with pytest.raises(UnsupportedModelError, match="Linear"):
        KVSession(torch.nn.Linear(2, 2))
    assert hook_count(model) == before


def test_failed_step_requires_reset():
    b = bundle("opencua", "sdpa")
    steps = _steps(b)
    before = hook_count(b.model)
    session = KVSession(b.model, SnapKV(budget=50.0))
    with pytest.raises(ValueError, match="media placeholders"):
        session.step(steps[0][0], steps[1][1], steps[1][2], max_new_tokens=1)  # 24 pads, pixels of 12 tokens
    with pytest.raises(CompressionError, match="reset"):
        session.step(steps[0][0], steps[0][1], steps[0][2], max_new_tokens=1)
    session.reset()
    out = session.step(steps[0][0], steps[0][1], steps[0][2], max_new_tokens=1)
    assert out.stats.step == 0 and out.stats.n_prefilled == steps[0][0].shape[1]
    assert hook_count(b.model) == before


def test_a_fork_continues_exactly_like_the_original():
    b = bundle("uitars", "sdpa")
    steps = _steps(b)
    session, _ = run_session(b, METHODS["gui_kv"](budget=40.0), steps[:2], frames_window=2, n_new=N_NEW)
    twin = session.fork()
    other = session.fork(SnapKV(budget=40.0))
    ids, pv, grid = steps[2]
    a = session.step(ids, pv, grid, max_new_tokens=N_NEW, output_logits=True, do_sample=False)
    b_out = twin.step(ids, pv, grid, max_new_tokens=N_NEW, output_logits=True, do_sample=False)
    assert a.tokens == b_out.tokens and torch.equal(a.logits, b_out.logits)
    assert a.stats.model_dump(exclude={"wall_s"}) == b_out.stats.model_dump(exclude={"wall_s"})
    assert other.method == SnapKV(budget=40.0) and other.cache is not session.cache
    assert other.tracker.ids[0].data_ptr() != session.tracker.ids[0].data_ptr()
