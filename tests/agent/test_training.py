"""gui-tiny training: examples carry the right targets, and a run is reproducible across a stop and a resume."""

from __future__ import annotations

import csv
import random

import pytest
import torch

from agent import prompts
from agent.context import Transcript
from agent.engine import ChatEngine
from agent.training.examples import CELL_CLASSES, encode_episode
from agent.training.objective import collate
from agent.training.gui_tiny import GUI_TINY_MAX_PIXELS, build_gui_tiny
from agent.training.run import CURVE_COLUMNS, TrainConfig, train
from tasks.synthdesk import training as synthdesk
from tasks.synthdesk.vocab import CELL, SCREEN_SIZES


def synthdesk_sizes():
    return SCREEN_SIZES


@pytest.fixture(scope="module")
def gui_tiny():
    return build_gui_tiny(0)


def test_gui_tiny_is_small_and_sees_synthdesk_screens_unchanged(gui_tiny):
    assert sum(p.numel() for p in gui_tiny.model.parameters()) < 30_000_000
    assert type(gui_tiny.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    from PIL import Image

    for size in synthdesk_sizes():  # model image == screen: one 14 px patch grid per screen, nothing resized
        out = gui_tiny.processor.image_processor(images=[Image.new("RGB", size)], return_tensors="pt")
        assert out["image_grid_thw"].tolist() == [[1, size[1] // 14, size[0] // 14]]
    assert max(w * h for w, h in synthdesk_sizes()) == GUI_TINY_MAX_PIXELS


@pytest.mark.parametrize("kind", ["grounding", "episode", "memory"])
def test_example_labels_are_the_gold_replies_and_cells_are_labelled(gui_tiny, kind):
    ep = synthdesk.episode(random.Random(3), kind)
    ex = encode_episode(ep, gui_tiny.processor)
    tok = gui_tiny.tokenizer
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    labelled = ex.labels[ex.labels != -100]
    assert tok.decode(labelled) == "<|im_end|>".join(ep.replies) + "<|im_end|>"
    assert int((labelled == im_end).sum()) == len(ep.targets)
    n_cells = sum((f.size[0] // CELL) * (f.size[1] // CELL) for f in ep.frames)
    assert ex.cell_pos.numel() == n_cells == ex.cell_class.numel()
    assert bool((ex.input_ids[ex.cell_pos] == tok.convert_tokens_to_ids("<|image_pad|>")).all())
    assert ex.cell_class.max() < len(CELL_CLASSES) and (ex.cell_class != CELL_CLASSES.index("<none>")).any()
    clicks = [t for t in ep.targets if t.action_type == "click"]
    coord = [p for p in ex.pointers if p.layer == "coord"]  # coordinate (and code) pointers
    assert len(coord) >= 2 * len(clicks)
    for p in coord:  # every query is followed by a digit; every key is an image token
        assert all(chr(int(ex.input_ids[q + 1])).isdigit() for q in p.queries.tolist())
        assert bool(torch.isin(p.keys, ex.cell_pos).all())


@pytest.mark.parametrize("seed", [5, 6, 8])
def test_the_pointers_of_a_click_cover_the_clicked_column_and_row_of_the_target(gui_tiny, seed):
    """The x digits point at the target's cells in the clicked column, the y digits at those in its row; the digits
    that follow the queries spell the click point, which lies in the middle cell of the target box."""
    ep = synthdesk.episode(random.Random(seed), "grounding")
    ex = encode_episode(ep, gui_tiny.processor)
    target = ep.targets[0]
    x, y = target.target_point
    x1, y1, x2, y2 = target.target_box
    assert x1 <= x < x2 and y1 <= y < y2 and (x % CELL, y % CELL) == (CELL // 2, CELL // 2)
    assert x // CELL == (x1 // CELL + (x2 - 1) // CELL) // 2  # the middle cell (the left one of two)
    pointers = {p.axis: p for p in ex.pointers if p.head == 0}
    assert sorted(pointers) == ["x", "y"] and all(p.layer == "coord" for p in pointers.values())
    cols = ep.frames[0].size[0] // CELL
    cell = lambda pos: int((ex.cell_pos == pos).nonzero())
    spelled = lambda p: "".join(chr(int(ex.input_ids[q + 1])) for q in p.queries.tolist())
    assert spelled(pointers["x"]) == str(x) and spelled(pointers["y"]) == str(y)
    x_cells, y_cells = ([cell(k) for k in pointers[a].keys.tolist()] for a in "xy")
    assert sorted(x_cells) == [r * cols + x // CELL for r in range(y1 // CELL, (y2 - 1) // CELL + 1)]
    assert sorted(y_cells) == [(y // CELL) * cols + c for c in range(x1 // CELL, (x2 - 1) // CELL + 1)]


def _first(template: str):
    """The first training task of ``template`` among random draws, with its example."""
    for i in range(40):
        ep = synthdesk.episode(random.Random(i), "memory", template=template)
        if ep.template == template:
            return ep
    pytest.fail(f"no {template} task drawn")


def test_each_code_digit_labels_its_slot_on_the_cells_it_is_drawn_on_only(gui_tiny):
    """Slot i of the digit targets is set on the notice's cells in one column, where white ink (the notice's text)
    is; the icon's cell and the "Code" word's cells carry none. Checked against the pixels of the frame."""
    ep = _first("memory_code")
    ex = encode_episode(ep, gui_tiny.processor)
    code = next(t.text for t in ep.targets if t.action_type == "type" and t.memory)
    frame, (notice,) = ep.frames[0], [w for w in ep.layouts[0] if w.role == "toast"]
    cols = frame.size[0] // CELL
    n0 = cols * (frame.size[1] // CELL)
    digits = ex.cell_digits[:n0]  # the first frame's cells
    assert int((ex.cell_digits[n0:] >= 0).sum()) == 0  # later frames show no notice
    for slot, digit in enumerate(code):
        cells = (digits[:, slot] >= 0).nonzero().flatten().tolist()
        assert len({c % cols for c in cells}) == 1 and cells
        assert all(int(digits[c, slot]) == int(digit) for c in cells)
        for c in cells:
            x, y = (c % cols) * CELL, (c // cols) * CELL
            ink = frame.crop((x, y, x + CELL, y + CELL)).getcolors(CELL * CELL)
            assert any(rgb == (255, 255, 255) for _, rgb in ink), "a digit target on a cell without text"
    icon_cell = (notice.box[1] // CELL) * cols + notice.box[0] // CELL
    assert bool((digits[icon_cell] < 0).all())


def test_a_memory_code_steps_thought_reads_the_notice_and_its_action_copies_the_thought(gui_tiny):
    """The Thought's digits point (layer "hop") at the cells their digit is drawn on, the typed digits point there
    too (layer "coord") and, with COPY_HEAD, at the Thought's digits: the next token at each query is its digit."""
    from agent.training.examples import COPY_HEAD

    ep = _first("memory_code")
    ex = encode_episode(ep, gui_tiny.processor)
    code = next(t.text for t in ep.targets if t.action_type == "type" and t.memory)
    text = lambda positions: "".join(chr(int(ex.input_ids[i])) for i in positions)  # byte tokenizer
    cell_of = lambda pos: int((ex.cell_pos == pos).nonzero())
    for layer in ("hop", "coord"):
        pointers = [p for p in ex.pointers if p.layer == layer and p.queries.numel() == 1 and not p.axis]
        assert text([int(p.queries[0]) + 1 for p in pointers]) == code
        for slot, p in enumerate(pointers):  # the keys are the cells labelled with that digit in that slot
            assert {cell_of(k) for k in p.keys.tolist()} == set(
                (ex.cell_digits[:, slot] >= 0).nonzero().flatten().tolist())
    (copy,) = [p for p in ex.pointers if p.head == COPY_HEAD and text(p.keys.tolist()).isdigit()]
    assert copy.aligned and text(copy.keys.tolist()) == code == text((copy.queries + 1).tolist())
    reply = next(t.reply for t in ep.targets if t.memory)  # the keys: the Thought of the same reply
    assert int(copy.queries[0]) + 1 - int(copy.keys[0]) == reply.index("content='") + len("content='") - reply.index(code)


def test_a_memory_press_steps_thought_spells_the_noted_word_pointing_at_the_notice(gui_tiny):
    ep = _first("memory_press")
    ex = encode_episode(ep, gui_tiny.processor)
    (notice,) = [w for w in ep.layouts[0] if w.role == "toast"]
    word = notice.label.split()[-1]
    hops = [p for p in ex.pointers if p.layer == "hop" and p.queries.numel() == 1]
    assert "".join(chr(int(ex.input_ids[int(p.queries[0]) + 1])) for p in hops) == word
    n0 = (ep.frames[0].size[0] // CELL) * (ep.frames[0].size[1] // CELL)
    assert all(bool(torch.isin(p.keys, ex.cell_pos[:n0]).all()) for p in hops)  # the notice's screen


@pytest.mark.parametrize("seed", range(4))
def test_a_glance_is_a_memory_step_with_its_notice_on_screen(gui_tiny, seed):
    from tasks.synthdesk.app import hit

    ep = synthdesk.glance(random.Random(seed))
    (target,) = ep.targets
    (notice,) = [w for w in ep.layouts[0] if w.role == "toast"]
    assert len(ep.frames) == 1 and target.memory and ep.template.endswith("_glance")
    noted = target.text if target.action_type == "type" else ep.replies[0].split("\n")[0].split()[-1]
    assert notice.label.endswith(noted)
    if target.target_point is not None:  # the notice does not cover the word to click
        assert hit(ep.layouts[0], *target.target_point).label == noted
    ex = encode_episode(ep, gui_tiny.processor)
    assert len([p for p in ex.pointers if p.layer == "hop" and p.queries.numel() == 1]) == len(noted)


def test_config_is_validated(tmp_path):
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(out=tmp_path, steps=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(out=tmp_path, lr=0.0)
    with pytest.raises(ValueError, match="reading_steps"):
        TrainConfig(out=tmp_path, steps=10, reading_steps=10)


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
    assert stats["point"] == stats["copy"] == stats["carry"] == 0.0 < full_stats["point"]
    assert stats["digits"] > 0  # a memory task shows a code notice
    assert float(total) == pytest.approx(sum(LOSS_WEIGHTS[k] * stats[k] for k in READING_PARTS), rel=1e-5)
    assert float(full) > float(total)
    assert 0.0 <= stats["word_acc"] <= 1.0


def _losses_without_grad(gui_tiny, draws):
    """(examples, batch, heads, stats): `compute_losses` without gradients on the synthdesk draws (seed, kind),
    with fresh auxiliary heads."""
    from agent.training.objective import AttentionTap, AuxHeads, compute_losses

    model = gui_tiny.model
    examples = [encode_episode(synthdesk.episode(random.Random(s), kind), gui_tiny.processor) for s, kind in draws]
    batch = collate(examples, gui_tiny.tokenizer.pad_token_id, model)
    heads = AuxHeads(model.config.get_text_config().hidden_size)
    section = list(model.config.get_text_config().rope_parameters["mrope_section"])
    tap = AttentionTap.of(model)
    try:
        with torch.no_grad():
            _, stats = compute_losses(model, heads, tap, batch, section)
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


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    from agent.training import run as run_module

    common = dict(steps=4, batch=1, warmup=1, reading_steps=1, checkpoint_every=2, threads=1, procs=1, seed=7)
    whole = train(TrainConfig(out=tmp_path / "whole", **common), progress=False)
    real_draw = run_module._draw

    def stop_at_step_four(cfg, step, processor, share=None):
        if step == 3:
            raise KeyboardInterrupt  # the session ends during step 4: step 3 is logged but not checkpointed
        return real_draw(cfg, step, processor, share)

    monkeypatch.setattr(run_module, "_draw", stop_at_step_four)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=tmp_path / "cut", **common), progress=False)
    monkeypatch.setattr(run_module, "_draw", real_draw)
    with pytest.raises(FileExistsError, match="--resume"):
        train(TrainConfig(out=tmp_path / "cut", **common), progress=False)
    with pytest.raises(ValueError, match="configuration"):
        train(TrainConfig(out=tmp_path / "cut", **dict(common, lr=1e-3)), resume=True, progress=False)
    train(TrainConfig(out=tmp_path / "cut", **common), resume=True, progress=False)
    a = torch.load(whole / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)
    assert a["step"] == b["step"] == 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])  # same seed, same data, same weights
    for out in (whole, tmp_path / "cut"):
        rows = list(csv.reader(open(out / "curve.csv")))
        assert tuple(rows[0]) == CURVE_COLUMNS and [r[0] for r in rows[1:]] == ["1", "2", "3", "4"]
        point = CURVE_COLUMNS.index("point")
        assert float(rows[1][point]) == 0.0 and float(rows[2][point]) > 0.0  # step 1 reads; step 2 points
        assert (out / "curve.png").stat().st_size > 0


def test_training_runs_the_model_with_the_positions_of_the_live_engine(gui_tiny):
    """The training forward's logits on a reply equal the live engine's teacher-forced logits on the same reply, for
    an example that is right-padded in its batch too. (Trained with positions other than the session's, a model
    answers gibberish at run time while its training accuracy looks fine.)"""
    grounding = synthdesk.episode(random.Random(7), "grounding")
    longer = synthdesk.episode(random.Random(7), "episode")
    examples = [encode_episode(ep, gui_tiny.processor) for ep in (longer, grounding)]
    batch = collate(examples, gui_tiny.tokenizer.pad_token_id, gui_tiny.model)
    assert batch.inputs["input_ids"].shape[1] > examples[1].input_ids.numel()  # the grounding example is padded
    with torch.no_grad():
        logits = gui_tiny.model.eval()(**batch.inputs, use_cache=False).logits[1]  # (L, V)
    labelled = (examples[1].labels != -100).nonzero().flatten()
    start, end = int(labelled[0]), int(labelled[-1]) + 1  # the reply and its <|im_end|>
    transcript = Transcript(prompt=prompts.synthdesk_task_prompt(grounding.instruction), frames=5,
                            mode="incremental", system=prompts.synthdesk_system_prompt())
    transcript.observe(grounding.frames[0])
    engine = ChatEngine(gui_tiny, method="full", budget=None, context="incremental")
    reply = engine.reply(transcript.messages(), forced=examples[1].input_ids[start:end].tolist(), keep_logits=True)
    assert reply.extra["raw"] == grounding.targets[0].reply
    torch.testing.assert_close(reply.extra["logits"].float(), logits[start - 1:end - 1], atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("kind, seed", [("grounding", 11), ("episode", 11)])
def test_copy_pointers_spell_the_instructions_target_from_the_instruction(gui_tiny, kind, seed):
    """Every word of a Thought, or of a type action's text, that the instruction names is spelled by positions that
    point (with COPY_HEAD) at that word inside the instruction, letter by letter: the next token at each query is its
    key's letter. (The episode types a word of its instruction.)"""
    import re

    from agent.training.examples import COPY_HEAD

    ep = synthdesk.episode(random.Random(seed), kind)
    ex = encode_episode(ep, gui_tiny.processor)
    copies = [p for p in ex.pointers if p.head == COPY_HEAD]
    typed = lambda reply: " ".join(re.findall(r"content='([^']*)'", reply)).split()
    named = [w for r in ep.replies for w in r.split("\n")[0].split()[2:] + typed(r) if w in ep.instruction.split(" ")]
    assert len(copies) == len(named) > 0
    assert (kind == "episode") == any(w in ep.instruction.split(" ") for r in ep.replies for w in typed(r))
    text = lambda positions: "".join(chr(int(ex.input_ids[i])) for i in positions)  # byte tokenizer
    for pointer, word in zip(copies, named):  # aligned: the query before each letter points at that letter
        assert pointer.aligned and pointer.keys.shape == pointer.queries.shape
        assert text(pointer.keys.tolist()) == word == text((pointer.queries + 1).tolist())
        assert int(pointer.keys.max()) < int(pointer.queries.min())  # the instruction comes first


def test_pointer_losses_are_computed_from_the_models_own_attention_and_head_output():
    """`_pointer_loss` re-projects queries and keys outside the model: its point loss must equal -log of the mass
    that the model's eager attention (of each pointer's layer) puts on the targets, its copy loss the cross-entropy
    of the supervised head's own output (the input of ``o_proj``, that head's slice) read through the final norm and
    ``lm_head``, and its carry loss that of the ``where`` probe of the pointer's axis on the same head output. The
    top keys it reports (``landed``) are the eager attention's argmax of each coordinate pointer, and the carried
    column or row the argmax of that probe."""
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
    points, copies, carries, carried = [], [], [], []
    for b, ex in enumerate(examples):
        for p in ex.pointers:
            weights = out.attentions[POINTER_LAYERS[p.layer]]  # (B, H, L, L)
            rows = weights[b, p.head, p.queries]  # (nq, L)
            mass = rows.gather(1, p.keys[:, None])[:, 0] if p.aligned else rows[:, p.keys].sum(-1)
            points.append(-mass.log())
            D, o_proj = layers[0].self_attn.head_dim, layers[POINTER_LAYERS[p.layer]].self_attn.o_proj
            own = o_inputs[p.layer][b, p.queries, p.head * D:(p.head + 1) * D]
            written = own @ o_proj.weight[:, p.head * D:(p.head + 1) * D].T
            if p.aligned:
                copies.append(F.cross_entropy(readout(written), ids[b, p.queries + 1], reduction="none"))
            elif p.axis:  # the clicked column (x) or row (y), shared by every key cell
                probe, of_cell = (heads.col, ex.cell_col) if p.axis == "x" else (heads.row, ex.cell_row)
                (line,) = set(of_cell[[int((ex.cell_pos == k).nonzero()) for k in p.keys.tolist()]].tolist())
                carries.append(-probe(written).log_softmax(-1)[:, line])
                carried.append(probe(written).argmax(-1))
    assert copies and carries, "the examples have no copy or no coordinate pointer"
    assert {p.layer for ex in examples for p in ex.pointers} == set(POINTER_LAYERS), "a pointer layer is not covered"
    with torch.no_grad():
        for name, expected in (("point", points), ("copy", copies), ("carry", carries)):
            torch.testing.assert_close(pointed[name], torch.cat(expected).mean(), atol=1e-4, rtol=1e-4)
    coordinate = [(b, p) for b, ex in enumerate(examples) for p in ex.pointers if p.axis]
    assert [(seen.b, seen.pointer) for seen in landed] == coordinate
    for seen, expected in zip(landed, carried, strict=True):
        weights = out.attentions[POINTER_LAYERS[seen.pointer.layer]][seen.b, seen.pointer.head, seen.pointer.queries]
        assert seen.top.tolist() == weights.argmax(-1).tolist()
        assert seen.carried.tolist() == expected.tolist()
    hits = sum(int(torch.isin(seen.top, seen.pointer.keys).sum()) for seen in landed)
    assert n == sum(p.queries.numel() for _, p in coordinate) and point_acc == hits / n


def test_the_probe_sorts_a_pointers_top_key_by_where_it_lands(gui_tiny):
    """bench/gui_tiny_probe.py's `landing`: target, the target's word elsewhere on its screen, another cell of its
    screen, a cell of an earlier screen, or a text token."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "gui_tiny_probe.py"
    spec = importlib.util.spec_from_file_location("gui_tiny_probe", path)
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
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


def test_two_processes_step_on_the_mean_of_their_shares_gradients(tmp_path):
    """procs=2 (two spawned processes, gloo): after a reading step and a task step the weights are those of one
    process that averages the two shares' gradients itself, and the curve logs the mean of the shares' losses."""
    from agent.training.objective import AttentionTap, compute_losses
    from agent.training.run import _draw, _lr, _replica

    cfg = TrainConfig(out=tmp_path / "dp", steps=2, batch=2, warmup=1, reading_steps=1, checkpoint_every=1,
                      threads=1, procs=2, seed=3)
    train(cfg, progress=False)
    bundle, heads, optim = _replica(cfg)
    model = bundle.model
    params = [p for group in optim.param_groups for p in group["params"]]
    tap = AttentionTap.of(model)
    section = list(model.config.get_text_config().rope_parameters["mrope_section"])
    losses = []
    for step in range(cfg.steps):
        grads, step_losses = [], []
        for share in (range(0, 1), range(1, 2)):
            batch = collate(_draw(cfg, step, bundle.processor, share), bundle.tokenizer.pad_token_id, model)
            loss, _ = compute_losses(model, heads, tap, batch, section, reading_only=step < cfg.reading_steps)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            grads.append([None if p.grad is None else p.grad.clone() for p in params])
            step_losses.append(float(loss.detach()))
        for p, pair in zip(params, zip(*grads)):
            given = [g for g in pair if g is not None]
            p.grad = sum(given) / 2 if given else None
        for group in optim.param_groups:
            group["lr"] = _lr(cfg, step)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        losses.append(sum(step_losses) / 2)
    tap.remove()
    state = torch.load(cfg.out / "checkpoint.pt", weights_only=False)
    assert state["step"] == 2 and state["config"]["procs"] == "2"
    trained = model.state_dict()
    assert max(float((state["model"][k] - trained[k]).abs().max()) for k in trained) < 1e-6
    rows = list(csv.DictReader(open(cfg.out / "curve.csv")))
    assert [float(r["loss"]) for r in rows] == pytest.approx(losses, abs=1e-4)
    assert float(rows[1]["point"]) > 0.0  # the task step trained the pointers in both processes


def test_batch_must_split_evenly_across_processes(tmp_path):
    with pytest.raises(ValueError, match="multiple of procs=2"):
        TrainConfig(out=tmp_path, batch=3, procs=2)


def test_the_train_command_passes_procs_and_refuses_an_uneven_split(tmp_path, capsys):
    from agent.cli import main

    assert main(["train", "--out", str(tmp_path / "run"), "--batch", "3", "--procs", "2", "-q"]) == 2
    assert "batch=3 must be a multiple of procs=2" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
