"""gui-tiny training objective: each loss computes what its docstring says from the model's own forward."""

from __future__ import annotations

import random

import pytest
import torch

from agent.training.examples import encode_episode
from agent.training.objective import collate
from agent.training.gui_tiny import build_gui_tiny
from tasks.synthdesk import training as synthdesk


def test_the_reading_phase_trains_the_reading_losses_alone(gui_tiny):
    from agent.training.objective import LOSS_WEIGHTS, READING_PARTS, AttentionTap, AuxHeads, compute_losses

    model = gui_tiny.model
    batch = collate([encode_episode(synthdesk.episode(random.Random(4), "memory"), gui_tiny.processor)],
                    gui_tiny.tokenizer.pad_token_id, model)
    heads = AuxHeads(model.config.get_text_config().hidden_size)
    section = list(model.config.get_text_config().rope_parameters["mrope_section"])
    tap = AttentionTap.of(model)
    try:
        with torch.no_grad():
            total, stats = compute_losses(model, heads, tap, batch, section, reading_only=True)
            full, full_stats = compute_losses(model, heads, tap, batch, section)
    finally:
        tap.remove()
    assert stats["point"] == stats["copy"] == stats["recall"] == stats["carry"] == 0.0 < full_stats["point"]
    assert stats["digits"] > 0  # a memory task shows a code notice
    assert float(total) == pytest.approx(sum(LOSS_WEIGHTS[k] * stats[k] for k in READING_PARTS), rel=1e-5)
    assert float(full) > float(total)
    assert 0.0 <= stats["word_acc"] <= 1.0


def _losses_without_grad(gui_tiny, draws, **options):
    """(examples, batch, heads, stats): `compute_losses` (with ``options``) without gradients on the synthdesk draws
    (seed, kind), with fresh auxiliary heads."""
    from agent.training.objective import AttentionTap, AuxHeads, compute_losses

    model = gui_tiny.model
    examples = [encode_episode(synthdesk.episode(random.Random(s), kind), gui_tiny.processor) for s, kind in draws]
    batch = collate(examples, gui_tiny.tokenizer.pad_token_id, model)
    heads = AuxHeads(model.config.get_text_config().hidden_size)
    section = list(model.config.get_text_config().rope_parameters["mrope_section"])
    tap = AttentionTap.of(model)
    try:
        with torch.no_grad():
            _, stats = compute_losses(model, heads, tap, batch, section, **options)
    finally:
        tap.remove()
    return examples, batch, heads, stats


def test_the_name_loss_reads_the_target_word_at_the_coordinate_digits_with_the_cells_probe(gui_tiny):
    """name: the read probe on the hidden states (``AUX_LAYER``) at each coordinate pointer's queries against the
    word on that pointer's target cells; it trains the model there, never the probe (the cells define the basis)."""
    import torch.nn.functional as F

    from agent.training.objective import AUX_LAYER, _name_loss

    model = gui_tiny.model
    examples, batch, heads, stats = _losses_without_grad(gui_tiny, ((5, "episode"), (6, "grounding")))
    model.zero_grad(set_to_none=True)
    hidden = model(**batch.inputs, output_hidden_states=True, use_cache=False).hidden_states[AUX_LAYER]
    name, accuracy = _name_loss(heads, hidden, batch)
    name.backward()
    logits, words = [], []
    for b, ex in enumerate(examples):
        for p in (p for p in ex.pointers if p.axis):
            (word,) = set(ex.cell_class[[int((ex.cell_pos == k).nonzero()) for k in p.keys.tolist()]].tolist())
            logits.append(heads.read(hidden[b, p.queries]))
            words += [word] * p.queries.numel()
    assert len(words) >= 4, "the examples have no coordinate pointer"
    with torch.no_grad():
        logits = torch.cat(logits)
        expected = F.cross_entropy(logits, torch.tensor(words))
    assert stats["name"] == pytest.approx(float(expected), rel=1e-4)
    assert float(name.detach()) == pytest.approx(float(expected), rel=1e-4)
    assert accuracy == stats["name_acc"] == float((logits.argmax(-1) == torch.tensor(words)).float().mean())
    assert heads.read.weight.grad is None and heads.read.bias.grad is None
    assert float(model.model.language_model.embed_tokens.weight.grad.abs().sum()) > 0
    model.zero_grad(set_to_none=True)


def test_pointer_losses_are_computed_from_the_models_own_attention_and_head_output():
    """`_pointer_loss` re-projects queries and keys outside the model: its point loss must equal -log of the mass
    that the model's eager attention (of each pointer's layer) puts on the targets, its copy loss the cross-entropy
    of the supervised head's own output (the input of ``o_proj``, that head's slice) read through the final norm and
    ``lm_head``, its recall loss the same for the pointers that recall a noted character, and its carry loss that of
    the ``where`` probe of the pointer's axis on the same head output. The top keys it reports (``landed``) are the
    eager attention's argmax of each coordinate pointer, and the carried column or row the argmax of that probe."""
    import torch.nn.functional as F

    from agent.training.examples import POINTER_LAYERS
    from agent.training.objective import AttentionTap, AuxHeads, _pointer_loss

    gui_tiny = build_gui_tiny(1, attn_implementation="eager")  # eager: the attention weights are returned
    model = gui_tiny.model.eval()
    layers = model.model.language_model.layers
    tap = AttentionTap.of(model)
    o_inputs: dict[str, torch.Tensor] = {}
    hooks = [layers[i].self_attn.o_proj.register_forward_pre_hook(
        lambda m, args, name=name: o_inputs.__setitem__(name, args[0])) for name, i in POINTER_LAYERS.items()]
    try:
        examples = [encode_episode(synthdesk.episode(random.Random(s), kind), gui_tiny.processor)
                    for s, kind in ((5, "episode"), (6, "grounding"), (7, "memory"))]
        batch = collate(examples, gui_tiny.tokenizer.pad_token_id, model)
        section = list(model.config.get_text_config().rope_parameters["mrope_section"])
        readout = lambda h: model.get_output_embeddings()(model.model.language_model.norm(h))
        with torch.no_grad():
            out = model(**batch.inputs, use_cache=False, output_attentions=True)
            heads = AuxHeads(model.config.get_text_config().hidden_size)
            landed: list = []
            pointed, point_acc, n = _pointer_loss(tap, batch, section, readout, heads, landed)
    finally:
        for h in hooks:
            h.remove()
        tap.remove()
    ids = batch.inputs["input_ids"]
    points, copies, recalls, carries, carried = [], [], [], [], []
    for b, ex in enumerate(examples):
        for p in ex.pointers:
            weights = out.attentions[POINTER_LAYERS[p.layer]]  # (B, H, L, L)
            rows = weights[b, p.head, p.queries]  # (nq, L)
            mass = rows.gather(1, p.keys[:, None])[:, 0] if p.aligned else rows[:, p.keys].sum(-1)
            points.append(-mass.log())
            D, o_proj = layers[0].self_attn.head_dim, layers[POINTER_LAYERS[p.layer]].self_attn.o_proj
            own = o_inputs[p.layer][b, p.queries, p.head * D:(p.head + 1) * D]
            written = own @ o_proj.weight[:, p.head * D:(p.head + 1) * D].T
            if p.aligned or p.recalls:
                (copies if p.aligned else recalls).append(
                    F.cross_entropy(readout(written), ids[b, p.queries + 1], reduction="none"))
            elif p.axis:  # the clicked column (x) or row (y), shared by every key cell
                probe, of_cell = (heads.col, ex.cell_col) if p.axis == "x" else (heads.row, ex.cell_row)
                (line,) = set(of_cell[[int((ex.cell_pos == k).nonzero()) for k in p.keys.tolist()]].tolist())
                carries.append(-probe(written).log_softmax(-1)[:, line])
                carried.append(probe(written).argmax(-1))
    assert copies and recalls and carries, "the examples have no copy, recall or coordinate pointer"
    assert {p.layer for ex in examples for p in ex.pointers} == set(POINTER_LAYERS), "a pointer layer is not covered"
    with torch.no_grad():
        for name, expected in (("point", points), ("copy", copies), ("recall", recalls), ("carry", carries)):
            torch.testing.assert_close(pointed[name], torch.cat(expected).mean(), atol=1e-4, rtol=1e-4)
    coordinate = [(b, p) for b, ex in enumerate(examples) for p in ex.pointers if p.axis]
    assert [(seen.b, seen.pointer) for seen in landed] == coordinate
    for seen, expected in zip(landed, carried, strict=True):
        weights = out.attentions[POINTER_LAYERS[seen.pointer.layer]][seen.b, seen.pointer.head, seen.pointer.queries]
        assert seen.top.tolist() == weights.argmax(-1).tolist()
        assert seen.carried.tolist() == expected.tolist()
        torch.testing.assert_close(seen.mass, weights[:, seen.pointer.keys].sum(-1), atol=1e-5, rtol=1e-4)
    hits = sum(int(torch.isin(seen.top, seen.pointer.keys).sum()) for seen in landed)
    assert n == sum(p.queries.numel() for _, p in coordinate) and point_acc == hits / n


def _bench(name: str):
    """bench/<name>.py as a module."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_probe_sorts_a_pointers_top_key_by_where_it_lands(gui_tiny):
    """bench/gui_tiny_probe.py's `landing`: target, the target's word elsewhere on its screen, another cell of its
    screen, a cell of an earlier screen, or a text token."""
    probe = _bench("gui_tiny_probe")
    ex = encode_episode(synthdesk.episode(random.Random(7), "episode"), gui_tiny.processor)
    tokens = (ex.image_grid_thw.prod(-1) // 4).cumsum(0).tolist()
    p = [p for p in ex.pointers if p.axis == "x"][-1]  # a click on a later screen, whose word an earlier one showed
    target = int((ex.cell_pos == p.keys[0]).nonzero())
    screen = next(s for s, end in enumerate(tokens) if target < end)
    first = tokens[screen - 1] if screen else 0
    assert screen > 0, "the episode's last click is on its first screen"
    cells = range(first, tokens[screen])
    word = int(ex.cell_class[target])
    same = [c for c in cells if int(ex.cell_class[c]) == word and int(ex.cell_pos[c]) not in p.keys.tolist()]
    other = next(c for c in cells if int(ex.cell_class[c]) != word)
    assert same, "the target's word covers one cell only"
    assert probe.landing(ex, p.keys, int(p.keys[0])) == "target"
    assert probe.landing(ex, p.keys, int(ex.cell_pos[same[0]])) == "same word, same screen"
    assert probe.landing(ex, p.keys, int(ex.cell_pos[other])) == "other cell, same screen"
    earlier = next(c for c in range(first) if int(ex.cell_class[c]) != word)
    assert probe.landing(ex, p.keys, int(ex.cell_pos[earlier])) == "other screen"
    earlier = next(c for c in range(first) if int(ex.cell_class[c]) == word)
    assert probe.landing(ex, p.keys, int(ex.cell_pos[earlier])) == "same word, other screen"
    assert probe.landing(ex, p.keys, int(ex.cell_pos[0]) - 1) == "text"


def test_the_probe_reads_a_model_directory_and_the_grounding_tasks_an_eval_run_missed(tmp_path):
    """The probe takes an exported model directory (random heads, no step) as well as a checkpoint, and ``--misses
    RUN`` picks the grounding tasks RUN scored wrong, at RUN's seed; `on_target` sorts a pointer's top keys."""
    import json
    from pathlib import Path

    from transformers import Qwen2_5_VLForConditionalGeneration

    probe = _bench("gui_tiny_probe")
    shipped = Path(__file__).resolve().parents[2] / "agent" / "models" / "gui_tiny"
    bundle, heads, step = probe.load_checkpoint(shipped)
    weights = Qwen2_5_VLForConditionalGeneration.from_pretrained(shipped, dtype=torch.float32).state_dict()
    assert step is None and isinstance(heads, probe.AuxHeads)
    assert all(torch.equal(v, weights[k]) for k, v in bundle.model.state_dict().items())
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"benchmark": "synthdesk", "seed": 3}))
    rows = [("00000-grounding", True), ("00001-episode", False), ("00003-grounding", False), ("00006-grounding", None)]
    (run / "results.jsonl").write_text("".join(
        json.dumps({"sample_id": sid, "steps": [{"score": None if ok is None else {"correct": ok}}]}) + "\n"
        for sid, ok in rows))
    assert probe.missed(run) == (3, [3, 6])  # a step without a score (it failed to run) is not right either
    (run / "results.jsonl").write_text(json.dumps({"sample_id": "00000-grounding",
                                                   "steps": [{"score": {"correct": True}}]}) + "\n")
    with pytest.raises(SystemExit, match="no missed grounding task"):
        probe.missed(run)
    keys = torch.tensor([5, 6])
    assert [probe.on_target(torch.tensor(top), keys) for top in ([5, 6, 5], [5, 9], [1, 2])] == list(probe.ON_TARGET)


def test_the_spell_loss_is_the_cross_entropy_of_the_coordinate_digits_alone(gui_tiny):
    """spell: the reply's cross-entropy over the tokens that coordinate pointers' queries predict (the digits of the
    click coordinates) and the token that ends each coordinate, and over no other token."""
    import torch.nn.functional as F

    examples, batch, _, stats = _losses_without_grad(gui_tiny, ((5, "episode"), (6, "grounding"), (7, "memory")))
    with torch.no_grad():
        logits = gui_tiny.model(**batch.inputs, use_cache=False).logits
    predicted, wanted = [], []
    for b, ex in enumerate(examples):
        for p in (p for p in ex.pointers if p.axis):
            for q in p.queries.tolist() + [int(p.queries[-1]) + 1]:
                token = int(batch.labels[b, q + 1])
                assert gui_tiny.tokenizer.decode([token]).isdigit() or q == int(p.queries[-1]) + 1
                predicted.append(logits[b, q])
                wanted.append(token)
            assert gui_tiny.tokenizer.decode([wanted[-1]]) == ("," if p.axis == "x" else ")")
    assert len(wanted) >= 8, "the examples have too few coordinate digits"
    expected = F.cross_entropy(torch.stack(predicted), torch.tensor(wanted))
    assert stats["spell"] == pytest.approx(float(expected), rel=1e-4)
    assert stats["spell"] != pytest.approx(stats["reply"], rel=1e-2)


def test_the_note_loss_is_the_cross_entropy_of_the_memory_steps_noted_characters_alone(gui_tiny):
    """note: the reply's cross-entropy over the tokens that noted pointers' queries predict (each character of the
    word or code a memory step notes from the notice, in its Thought and typed) and the token that ends each such
    run (the Thought's newline, the typed text's quote), and over no other token."""
    import torch.nn.functional as F

    examples, batch, _, stats = _losses_without_grad(gui_tiny, ((5, "episode"), (7, "memory"), (8, "memory")))
    with torch.no_grad():
        logits = gui_tiny.model(**batch.inputs, use_cache=False).logits
    predicted, wanted, noted, closing, typed = [], [], "", [], 0
    for b, ex in enumerate(examples):
        queries = sorted(int(p.queries[0]) for p in ex.pointers if p.noted)
        typed += sum(not p.recalls for p in ex.pointers if p.noted)
        ends = [q + 1 for q in queries if q + 1 not in queries]
        for q in queries + ends:
            predicted.append(logits[b, q])
            wanted.append(int(batch.labels[b, q + 1]))
        noted += gui_tiny.tokenizer.decode(batch.labels[b, [q + 1 for q in queries]])
        closing += [gui_tiny.tokenizer.decode(batch.labels[b, q + 1]) for q in ends]
    assert len(noted) >= 6 and noted.isalnum() and typed >= 3, (noted, typed)
    assert set(closing) == {"\n", "'"}, closing
    assert examples[0].kind == "episode" and not any(p.recalls for p in examples[0].pointers)
    expected = F.cross_entropy(torch.stack(predicted), torch.tensor(wanted))
    assert stats["note"] == pytest.approx(float(expected), rel=1e-4)
    assert stats["note"] != pytest.approx(stats["reply"], rel=1e-2)


def test_the_read_loss_weighs_the_cells_of_inverted_widgets_as_asked(gui_tiny):
    """``inverted_weight`` W: the read loss is the mean of the cells' cross-entropies with each inverted widget's
    cell counted W times; ``inv_acc`` is the probe's accuracy on the inverted word cells alone."""
    import torch.nn.functional as F

    from agent.training.examples import CELL_CLASSES, OTHER
    from agent.training.objective import AUX_LAYER

    torch.manual_seed(0)  # the same fresh heads for both
    examples, batch, heads, even = _losses_without_grad(gui_tiny, [(6, "episode")])  # a delete: a selected item
    torch.manual_seed(0)
    _, _, _, weighted = _losses_without_grad(gui_tiny, [(6, "episode")], inverted_weight=5.0)
    ex = examples[0]
    with torch.no_grad():  # the heads too: a scalar of a graph is what torch warns about
        hidden = gui_tiny.model(**batch.inputs, output_hidden_states=True, use_cache=False).hidden_states[AUX_LAYER]
        logits = heads.read(hidden[0, ex.cell_pos])
        ce = F.cross_entropy(logits, ex.cell_class, reduction="none")
    inverted = ex.cell_inverted
    assert 0 < int(inverted.sum()) < inverted.numel()
    assert even["read"] == pytest.approx(float(ce.mean()), rel=1e-5)
    expected = ((float(ce[~inverted].sum()) + 5 * float(ce[inverted].sum()))
                / (int((~inverted).sum()) + 5 * int(inverted.sum())))
    assert weighted["read"] == pytest.approx(expected, rel=1e-5)
    assert abs(expected - float(ce.mean())) > 1e-4  # the weighting moves the loss (random heads: by a little)
    words = inverted & (ex.cell_class < CELL_CLASSES.index(OTHER))
    right = logits.argmax(-1)[words] == ex.cell_class[words]
    assert weighted["inv_acc"] == pytest.approx(float(right.float().mean()))


def test_the_read_probe_tallies_word_cells_by_widget_role_and_inverted_look(gui_tiny, monkeypatch):
    """bench/read_probe.py's `read_by_look`: every word cell counted once, under the role and look of the widget it
    shows; a cell counts as read exactly when the probe names its class (an oracle reads all, a wrong one none)."""
    from agent.training.examples import CELL_CLASSES
    from agent.training.objective import AuxHeads

    probe = _bench("read_probe")
    episodes = [synthdesk.beside(random.Random(seed)) for seed in range(3)]
    heads = AuxHeads(gui_tiny.model.config.get_text_config().hidden_size).eval()
    real = probe.read_by_look(gui_tiny, heads, episodes)
    words = sum(int((encode_episode(ep, gui_tiny.processor).cell_class < probe.WORD_CLASSES).sum()) for ep in episodes)
    assert sum(b for _, b in real.values()) == words
    assert any(inverted and b for (_, inverted), (_, b) in real.items())  # a beside screen shows an inverted word
    assert all(0 <= a <= b for a, b in real.values())
    monkeypatch.setattr(probe, "named_words", lambda bundle, heads, ex: ex.cell_class)
    assert probe.read_by_look(gui_tiny, heads, episodes) == {k: (b, b) for k, (_, b) in real.items()}
    monkeypatch.setattr(probe, "named_words", lambda bundle, heads, ex: (ex.cell_class + 1) % len(CELL_CLASSES))
    assert probe.read_by_look(gui_tiny, heads, episodes) == {k: (0, b) for k, (_, b) in real.items()}


def test_the_read_probe_prints_a_checkpoints_table_and_refuses_a_model_directory(gui_tiny, gui_tiny_export,
                                                                                 tmp_path, capsys):
    """bench/read_probe.py end to end on a training checkpoint (its step and a row per role); a model directory has
    no read probe and is refused by name."""
    from agent.training.objective import AuxHeads

    probe = _bench("read_probe")
    heads = AuxHeads(gui_tiny.model.config.get_text_config().hidden_size)
    torch.save({"model": gui_tiny.model.state_dict(), "heads": heads.state_dict(), "step": 7}, tmp_path / "ck.pt")
    assert probe.main([str(tmp_path / "ck.pt"), "--screens", "2", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("checkpoint step 7; 2 train-split `beside` screens (seed 3)")
    assert "| widget | drawn normally | drawn inverted |" in out and "\n| menu | " in out
    with pytest.raises(SystemExit, match="model directory"):
        probe.main([str(gui_tiny_export[2])])


def test_the_match_loss_pulls_a_lit_screens_hidden_states_toward_its_plain_twins(gui_tiny):
    """`compute_losses(match_weight=W)`: a `lit` example carries its screen painted plainly; ``match`` is the
    squared distance of its hidden states (at AUX_LAYER) to the twin's, relative to the twin's squared norm, over
    the repainted cells plus MATCH_ANCHOR times that over every other position (hand-computed here), 0 when the twin
    is the screen itself, and reaches the vision tower; other examples have no twin. A ``teacher`` gives the targets instead (and gets no
    gradient), for every example of the batch (the others as they are). W = 0 forwards no twin and adds nothing."""
    import copy
    import dataclasses

    from agent.training.objective import AUX_LAYER, MATCH_ANCHOR, AttentionTap, AuxHeads, compute_losses

    model, pad = gui_tiny.model, gui_tiny.tokenizer.pad_token_id
    lit = [encode_episode(synthdesk.lit(random.Random(seed)), gui_tiny.processor) for seed in range(2)]
    plain = encode_episode(synthdesk.episode(random.Random(5), "grounding"), gui_tiny.processor)
    assert plain.plain_pixel_values is None and not plain.cell_lit.any()
    for ex in lit:
        assert ex.plain_pixel_values.shape == ex.pixel_values.shape
        assert not torch.equal(ex.plain_pixel_values, ex.pixel_values)
        assert ex.cell_lit.any() and not (ex.cell_lit & ~ex.cell_inverted).any()  # lit cells are inverted ones
    batch = collate([lit[0], plain, lit[1]], pad, model)
    heads = AuxHeads(model.config.get_text_config().hidden_size)
    tap = AttentionTap.of(model)
    section = list(model.config.get_text_config().rope_parameters["mrope_section"])
    teacher = copy.deepcopy(model).requires_grad_(False)
    with torch.no_grad():
        for p in teacher.model.visual.parameters():
            p.add_(0.01 * torch.randn_like(p))

    def expected(source, rows):
        """The match loss by hand, the targets from ``source`` on the examples ``rows`` of the batch."""
        examples = [batch.examples[b] for b in rows]
        with torch.no_grad():
            got = model(**batch.inputs, output_hidden_states=True, use_cache=False).hidden_states[AUX_LAYER]
            twins = collate([e if e.plain_pixel_values is None else
                             dataclasses.replace(e, pixel_values=e.plain_pixel_values) for e in examples], pad, model)
            want = source(**twins.inputs, output_hidden_states=True, use_cache=False).hidden_states[AUX_LAYER]
        total = 0.0
        for repainted, weight in ((True, 1.0), (False, MATCH_ANCHOR)):
            a, t = [], []
            for i, (b, e) in enumerate(zip(rows, examples)):
                n = e.input_ids.numel()
                on = torch.zeros(n, dtype=torch.bool)
                on[e.cell_pos[e.cell_lit]] = True
                keep = on if repainted else ~on
                a.append(got[b, :n][keep])
                t.append(want[i, :n][keep])
            a, t = torch.cat(a), torch.cat(t)
            total += weight * float((a - t).pow(2).sum(-1).mean() / t.pow(2).sum(-1).mean())
        return total

    forwards = []
    hook = model.register_forward_hook(lambda m, a, out: forwards.append(1))
    try:
        model.zero_grad()
        total, stats = compute_losses(model, heads, tap, batch, section, match_weight=2.0)
        assert len(forwards) == 2  # the batch and its two lit examples' twins
        total.backward()
        assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.model.visual.parameters())
        assert stats["match"] == pytest.approx(expected(model, [0, 2]), rel=1e-4) and stats["match"] > 0
        forwards.clear()
        rest, without = compute_losses(model, heads, tap, batch, section)
        assert len(forwards) == 1 and without["match"] == 0.0
        assert float(total.detach()) == pytest.approx(float(rest.detach()) + 2.0 * stats["match"], rel=1e-5)
        itself = [dataclasses.replace(e, pixel_values=e.plain_pixel_values) for e in lit]
        _, same = compute_losses(model, heads, tap, collate(itself, pad, model), section, match_weight=2.0)
        assert same["match"] == pytest.approx(0.0, abs=1e-10)
        forwards.clear()
        _, taught = compute_losses(model, heads, tap, batch, section, match_weight=2.0, teacher=teacher)
        assert len(forwards) == 1  # the twins, and the plain example as it is, went through the teacher
        assert taught["match"] == pytest.approx(expected(teacher, [0, 1, 2]), rel=1e-4)
        assert taught["match"] != pytest.approx(stats["match"], rel=1e-3)
        assert all(p.grad is None for p in teacher.parameters())
    finally:
        hook.remove()
        tap.remove()
