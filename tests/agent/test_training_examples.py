"""gui-tiny training examples: the model sees synthdesk screens unchanged, and each example carries the gold replies,
cell labels and pointers its losses need."""

from __future__ import annotations

import random

import pytest
import torch

from agent.training.examples import CELL_CLASSES, encode_episode
from agent.training.gui_tiny import GUI_TINY_MAX_PIXELS
from tasks.synthdesk import training as synthdesk
from tasks.synthdesk.vocab import CELL, SCREEN_SIZES


def synthdesk_sizes():
    return SCREEN_SIZES


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
    """The Thought's digits point (layer "hop") at the cells their digit is drawn on (and recall it), the typed digits
    point there too (layer "coord") and, with COPY_HEAD, at the Thought's digits: the next token at each query is its
    digit."""
    from agent.training.examples import COPY_HEAD

    ep = _first("memory_code")
    ex = encode_episode(ep, gui_tiny.processor)
    code = next(t.text for t in ep.targets if t.action_type == "type" and t.memory)
    text = lambda positions: "".join(chr(int(ex.input_ids[i])) for i in positions)  # byte tokenizer
    cell_of = lambda pos: int((ex.cell_pos == pos).nonzero())
    for layer in ("hop", "coord"):
        pointers = [p for p in ex.pointers if p.layer == layer and p.queries.numel() == 1 and not p.axis]
        assert text([int(p.queries[0]) + 1 for p in pointers]) == code
        assert all(p.recalls == (layer == "hop") for p in pointers)  # the Thought's characters are read out
        assert all(p.noted for p in pointers)  # and both are spelled by the note loss
        for slot, p in enumerate(pointers):  # the keys are the cells labelled with that digit in that slot
            assert {cell_of(k) for k in p.keys.tolist()} == set(
                (ex.cell_digits[:, slot] >= 0).nonzero().flatten().tolist())
    (copy,) = [p for p in ex.pointers if p.head == COPY_HEAD and text(p.keys.tolist()).isdigit()]
    assert not any(p.noted for p in ex.pointers if p.axis or p.aligned)
    assert copy.aligned and text(copy.keys.tolist()) == code == text((copy.queries + 1).tolist())
    reply = next(t.reply for t in ep.targets if t.memory)  # the keys: the Thought of the same reply
    typed_at = reply.index("content='") + len("content='")
    assert int(copy.queries[0]) + 1 - int(copy.keys[0]) == typed_at - reply.index(code)


def test_a_memory_press_steps_thought_spells_the_noted_word_pointing_at_the_notice(gui_tiny):
    ep = _first("memory_press")
    ex = encode_episode(ep, gui_tiny.processor)
    (notice,) = [w for w in ep.layouts[0] if w.role == "toast"]
    word = notice.label.split()[-1]
    hops = [p for p in ex.pointers if p.layer == "hop" and p.queries.numel() == 1]
    assert "".join(chr(int(ex.input_ids[int(p.queries[0]) + 1])) for p in hops) == word
    n0 = (ep.frames[0].size[0] // CELL) * (ep.frames[0].size[1] // CELL)
    assert all(bool(torch.isin(p.keys, ex.cell_pos[:n0]).all()) for p in hops)  # the notice's screen
    assert all(p.recalls for p in hops)


@pytest.mark.parametrize("seed", range(4))
def test_an_inverted_task_clicks_a_widget_drawn_white_on_the_accent(gui_tiny, seed):
    """`synthdesk.inverted`: a train-split grounding task whose target is on (open menu, selected item, default
    button) and so drawn inverted: its box is mostly the accent colour, where the same role off is light."""
    from tasks.synthdesk.app import hit

    def median(image, box):  # the median grey level of the box's pixels
        grey = sorted(image.crop(box).convert("L").tobytes())
        return grey[len(grey) // 2]

    ep = synthdesk.inverted(random.Random(seed))
    (target,) = ep.targets
    widget = hit(ep.layouts[0], *target.target_point)
    assert ep.kind == "grounding" and widget.box == target.target_box
    assert widget.on and widget.role in synthdesk.INVERTED_ROLES
    assert ep.instruction == f"click {widget.label}"
    assert median(ep.frames[0], widget.box) < 200  # the median pixel of its box is not light
    assert all(median(ep.frames[0], w.box) >= 200 for w in ep.layouts[0] if w.role == widget.role and not w.on)
    again = synthdesk.inverted(random.Random(seed))
    assert again.instruction == ep.instruction and again.frames[0].tobytes() == ep.frames[0].tobytes()
    assert len(encode_episode(ep, gui_tiny.processor).pointers) >= 2  # its x and y pointers


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cells_are_marked_inverted_exactly_where_a_widget_is_drawn_white_on_the_accent(gui_tiny, seed):
    """`Example.cell_inverted`: the cells of the widgets drawn inverted (the target of an inverted task among them)
    and no others."""
    ep = synthdesk.inverted(random.Random(seed))
    ex = encode_episode(ep, gui_tiny.processor)
    cols = ep.frames[0].size[0] // CELL
    on = [w.box for w in ep.layouts[0] if w.on and w.role in synthdesk.INVERTED_ROLES]

    def centre_in(c, boxes):
        x, y = (c % cols) * CELL + CELL // 2, (c // cols) * CELL + CELL // 2
        return any(x1 <= x < x2 and y1 <= y < y2 for x1, y1, x2, y2 in boxes)

    marked = {int(c) for c in ex.cell_inverted.nonzero().flatten()}
    assert ex.cell_inverted.dtype == torch.bool and ex.cell_inverted.shape == ex.cell_class.shape
    assert {c for c in range(ex.cell_class.numel()) if centre_in(c, [ep.targets[0].target_box])} <= marked
    assert all(centre_in(c, on) for c in marked)
    plain = next(e for e in (synthdesk.episode(random.Random(100 * seed + i), "grounding") for i in range(50))
                 if not any(w.on and w.role in synthdesk.INVERTED_ROLES for w in e.layouts[0]))
    assert not encode_episode(plain, gui_tiny.processor).cell_inverted.any()


def test_a_lit_task_repaints_half_the_menu_titles_list_items_and_buttons_inverted(gui_tiny):
    """`synthdesk.lit`: a train-split grounding task whose screen is its state's layout with half (at least one) of
    its labelled menu titles, list items and buttons turned on and painted so; the target is one of them about half
    the time; the cells are labelled from the repainted layout, and the same RNG gives the same task."""
    from tasks.synthdesk.app import hit
    from tasks.synthdesk.episodes import grounding_targets

    on_target = 0
    for seed in range(30):
        ep = synthdesk.lit(random.Random(seed))
        (target,) = ep.targets
        layout, frame = ep.layouts[0], ep.frames[0]
        widget = hit(layout, *target.target_point)
        roles = [w for w in layout if w.role in synthdesk.INVERTED_ROLES and w.interactive and w.label]
        lit = [w for w in roles if w.on]
        assert ep.kind == "grounding" and ep.template == "grounding_lit" and ep.instruction == f"click {widget.label}"
        assert widget.box == target.target_box and widget.key in {w.key for w in grounding_targets(layout)}
        assert len(lit) >= max(1, len(roles) // 2)  # and those the state had on (an open menu, a selected item)
        def median(box):  # the median grey level of the box's pixels
            grey = sorted(frame.crop(box).convert("L").tobytes())
            return grey[len(grey) // 2]

        shown = [w for w in roles if hit(layout, *w.click_point) is w]  # not under a menu or dialog
        assert all(median(w.box) < 200 for w in shown if w.on)
        assert all(median(w.box) >= 200 for w in shown if not w.on)
        ex = encode_episode(ep, gui_tiny.processor)
        assert int(ex.cell_inverted.sum()) >= len(lit)  # a widget covers at least one cell
        on_target += widget.on
        again = synthdesk.lit(random.Random(seed))
        assert again.instruction == ep.instruction and again.frames[0].tobytes() == frame.tobytes()
    assert 8 <= on_target <= 24


def test_a_beside_task_asks_for_an_inverted_widget_or_a_neighbour_half_each(gui_tiny, monkeypatch):
    """`synthdesk.beside`: a train-split grounding task on a screen with an inverted widget (on, of
    `INVERTED_ROLES`); its target is that widget or a reachable widget within one cell of an inverted one, about
    half each, and the same RNG gives the same task."""
    from tasks.synthdesk.app import hit
    from tasks.synthdesk.episodes import grounding_targets
    from tasks.synthdesk.generate import split_of

    def gap(a, b):
        return max(a[0] - b[2], b[0] - a[2], a[1] - b[3], b[1] - a[3], 0)

    tasks, real = [], synthdesk.grounding_task
    monkeypatch.setattr(synthdesk, "grounding_task", lambda state, target: tasks.append(real(state, target))
                        or tasks[-1])
    on_target = 0
    for seed in range(40):
        ep = synthdesk.beside(random.Random(seed))
        (target,) = ep.targets
        layout = ep.layouts[0]
        widget = hit(layout, *target.target_point)
        inverted = [w for w in layout if w.on and w.role in synthdesk.INVERTED_ROLES]
        assert ep.kind == "grounding" and ep.template == "grounding" and ep.instruction == f"click {widget.label}"
        assert widget.box == target.target_box and widget in grounding_targets(layout)
        assert any(gap(widget.box, w.box) <= CELL for w in inverted)
        on_target += widget in inverted
        assert split_of(tasks[-1]) == "train"  # its own fingerprint: another target is another task
        if seed < 4:
            again = synthdesk.beside(random.Random(seed))
            assert again.instruction == ep.instruction and again.frames[0].tobytes() == ep.frames[0].tobytes()
            assert len(encode_episode(ep, gui_tiny.processor).pointers) >= 2  # its x and y pointers
    assert 10 <= on_target <= 30


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


def test_each_cell_shows_the_last_painted_widget_whose_box_holds_its_centre(gui_tiny):
    """`cell_widgets`: later widgets paint over earlier ones, a box counts for the cells whose centre it holds, and
    the labels of `encode_episode` follow the widget each cell shows (a hand-made screen, then a lit one)."""
    from agent.training.examples import cell_widgets
    from tasks.synthdesk.widgets import Widget

    under = Widget("window", "", (0, 0, 84, 56))
    over = Widget("button", "Save", (28, 0, 70, 28))  # holds the centre of column 1 only (column 2's is x = 70)
    assert cell_widgets((under, over), (112, 56)) == [under, over, under, None, under, under, under, None]
    assert cell_widgets((over, under), (112, 56)) == [under, under, under, None, under, under, under, None]
    ep = synthdesk.lit(random.Random(4))
    (layout,), (frame,) = ep.layouts, ep.frames
    shown = cell_widgets(layout, frame.size)
    ex = encode_episode(ep, gui_tiny.processor)
    assert len(shown) == ex.cell_class.numel()
    assert ex.cell_inverted.tolist() == [bool(w and w.on and w.role in synthdesk.INVERTED_ROLES) for w in shown]
    for w, cls in zip(shown, ex.cell_class.tolist()):
        if w is not None and w.role in ("menu", "listitem", "button") and w.label in CELL_CLASSES:
            assert CELL_CLASSES[cls] == w.label
