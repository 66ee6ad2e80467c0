"""synthdesk's app state machine and screens: vocabulary, geometry on the 28 px grid, and what each event does."""

from __future__ import annotations

import random

import pytest

from actions.coords import smart_resize
from actions.schema import Click as ClickAction, Finished, Hotkey, Type
from tasks.synthdesk import AppState, Click, Key, TypeText, events_for
from tasks.synthdesk.app import hit
from tasks.synthdesk.generate import generate
from tasks.synthdesk.render import notice_cells, notice_char_centres
from tasks.synthdesk.spec import AppSpec, Needs, generate_spec
from tasks.synthdesk.vocab import CELL, ICONS, RESERVED, SCREEN_SIZES, WORDS

INTERACTIVE = {"menu", "menuitem", "listitem", "button", "checkbox", "textfield", "icon"}


def test_vocabulary_is_60_distinct_short_words() -> None:
    assert len(WORDS) == 60 and len(set(WORDS)) == 60
    assert all(3 <= len(w) <= 8 and w.isalpha() for w in WORDS)
    prefixes = {w[:3].lower() for w in WORDS}
    assert len(prefixes) == 60  # no two words start alike
    assert not prefixes & {w[:3].lower() for w in RESERVED + ICONS}


@pytest.mark.parametrize("size", SCREEN_SIZES)
def test_screen_sizes_are_their_own_model_image(size: tuple[int, int]) -> None:
    w, h = size
    assert w % 28 == 0 and h % 28 == 0
    assert smart_resize(h, w) == (h, w)  # the project's default min/max pixels leave them unchanged


def _spec(seed: int = 0, needs: Needs = Needs(), density: float = 1.0) -> AppSpec:
    rng = random.Random(seed)
    for _ in range(100):
        spec = generate_spec(rng, SCREEN_SIZES[seed % 3], density, needs)
        if spec is not None:
            return spec
    raise AssertionError("no spec fits")


def _all_states(n: int = 60) -> list[AppState]:
    states = []
    for i in range(n):
        for kind in ("grounding", "episode", "memory"):
            states += [s.state for s in generate("train", 5, i, kind).steps]
    return states


def test_widgets_sit_on_the_grid_and_are_big_enough_to_read_and_hit() -> None:
    for state in _all_states(30):
        w, h = state.spec.size
        labels = []
        for widget in state.layout():
            x1, y1, x2, y2 = widget.box
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, widget
            if widget.role in INTERACTIVE:
                assert all(v % CELL == 0 for v in widget.box), widget
                assert y2 - y1 >= 28 and x2 - x1 >= 56, widget
                labels.append(widget.label)
        assert len(labels) == len(set(labels)), labels  # one label names one widget


def test_render_is_the_screen_size_and_lists_the_layout() -> None:
    state = AppState(_spec(1))
    screen = state.render()
    assert screen.image.mode == "RGB" and screen.size == state.spec.size
    assert screen.widgets == state.layout()
    assert screen.find("menubar").box == (0, 0, state.spec.size[0], 28)


def _click(state: AppState, key: str) -> AppState:
    layout = state.layout()
    widget = next(w for w in reversed(layout) if w.key == key)
    assert hit(layout, *widget.center) is widget
    return state.apply(Click(*widget.center))


def test_menu_opens_switches_and_closes_without_clicking_through() -> None:
    spec = _spec(2, Needs(listed=True))
    first, second = spec.menus[0], spec.menus[1]
    state = _click(AppState(spec), f"menu:{first.title}")
    assert state.open_menu == 0 and any(w.key == f"item:{first.items[0].label}" for w in state.layout())
    state = _click(state, f"menu:{second.title}")
    assert state.open_menu == 1
    assert state.layout()[-1].role == "menuitem"
    layout = state.layout()
    outside = next(w for w in layout if w.role in ("listitem", "button", "checkbox", "textfield", "icon")
                   and hit(layout, *w.center) is w)
    closed = state.apply(Click(*outside.center))  # closes the menu, does not reach the widget
    assert closed == AppState(spec)


def test_name_dialog_types_confirms_and_logs() -> None:
    spec = _spec(3, Needs(commands=("name",)))
    menu = next(m for m in spec.menus if any(it.command == "name" for it in m.items))
    item = next(it for it in menu.items if it.command == "name")
    state = _click(_click(AppState(spec), f"menu:{menu.title}"), f"item:{item.label}")
    assert state.dialog is not None and state.focus == "dialog:field"
    state = state.apply(TypeText("Mapel")).apply(Key("backspace")).apply(Key("backspace")).apply(TypeText("le"))
    assert state.dialog is not None and state.dialog.text == "Maple"
    before = state
    state = state.apply(Click(1, spec.size[1] - 1))  # outside the modal dialog: nothing happens
    assert state == before
    done = _click(state, "dialog:OK")
    assert done.dialog is None and done.log == (("name", item.label, "Maple"),) and done.status == "Named Maple"
    assert state.apply(Key("enter")) == done
    cancelled = state.apply(Key("escape"))
    assert cancelled.dialog is None and cancelled.log == (("cancel", item.label),)


def test_delete_needs_a_selection_and_a_confirmation() -> None:
    spec = _spec(4, Needs(listed=True, delete=True))
    state = _click(AppState(spec), "button:Delete")
    assert state.dialog is None and state.status == "Select an item"
    target = spec.list_items[1]
    state = _click(_click(state, f"list:{target}"), "button:Delete")
    assert state.dialog is not None and state.dialog.message == f"Delete {target}?"
    state = _click(state, "dialog:OK")
    assert state.log[-1] == ("delete", target) and target not in [w.label for w in state.layout()]


def test_fields_checkboxes_and_buttons_submit_what_they_hold() -> None:
    spec = _spec(5, Needs(fields=1, checks=2, search=True))
    field = next(c.label for c in spec.controls if c.role == "textfield" and c.label != "Search")
    box = next(c.label for c in spec.controls if c.role == "checkbox")
    button = next(c.label for c in spec.controls if c.role == "button" and c.label != "Delete")
    state = _click(AppState(spec), f"field:{field}").apply(TypeText("Zebra"))
    state = _click(state, f"check:{box}")
    assert f"check:{box}" in state.checked and state.focus == ""
    state = state.apply(TypeText("lost"))  # no focus: typing goes nowhere
    state = _click(state, f"button:{button}")
    assert state.log[-1] == ("submit", button, f"{field}=Zebra", f"+{box}")
    state = _click(state, "field:Search").apply(TypeText("River")).apply(Key("enter"))
    assert state.log[-1] == ("search", "River")


def test_any_event_dismisses_the_notice_and_a_click_on_it_does_nothing_else() -> None:
    spec = _spec(6)
    state = AppState(spec, toast="Note: River")
    toast = state.layout()[-1]
    assert toast.role == "toast"
    assert state.apply(Click(*toast.center)) == AppState(spec)
    assert state.apply(Key("f5")) == AppState(spec)


@pytest.mark.parametrize("label", ["Note: Security", "New Zoom", "Code 964"])
def test_a_notice_draws_each_noted_character_alone_in_its_own_cell(label: str) -> None:
    spec = _spec(2)
    state = AppState(spec, toast=label)
    screen = state.render()
    toast = screen.find("toast")
    x1, y1, x2, y2 = toast.box
    noted = label.rsplit(" ", 1)[1]
    assert (x2 - x1) // CELL == notice_cells(label) and y2 - y1 == CELL
    centres = notice_char_centres(toast)[-len(noted):]
    ink = [[max(screen.image.getpixel((x, y))) > 200 for y in range(y1, y2)] for x in range(screen.size[0])]
    for centre in centres:  # the middle of a cell; ink in the cell, none on its edges
        left = centre - CELL // 2
        assert left % CELL == 0 and x1 <= left and left + CELL <= x2
        assert any(any(column) for column in ink[left + 2: left + CELL - 2])
        assert not any(ink[left]) and not any(ink[left + CELL - 1])
    assert sorted(centres) == centres and len({c // CELL for c in centres}) == len(noted)


def test_events_for_parsed_actions() -> None:
    size = (448, 336)
    assert events_for(ClickAction(xy=(0.5, 1.0)), size) == [Click(224, 335)]
    assert events_for(Type(text="abc", submit=True), size) == [TypeText("abc"), Key("enter")]
    assert events_for(Hotkey(keys=("escape",)), size) == [Key("escape")]
    assert events_for(Finished(), size) == []
