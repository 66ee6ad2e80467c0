"""The static part of a synthdesk app (`AppSpec`) and its procedural generation (`generate_spec`).

An app is one window on a desktop with a menu bar: 2-4 menus of 3-5 items each, a window with a title bar, an
optional list (sidebar), and rows of controls (icon buttons, a search field, text fields, checkboxes, buttons),
and a status bar. Every box is aligned to the 28 px grid (`vocab.CELL`), one cell tall, at least two cells wide.
All labels of one app are distinct words of `vocab.WORDS` (plus the fixed UI words), so any label names one widget.

Menu items carry a command: "plain" (runs at once), "name" (a dialog asks for a name), "code" (a dialog asks for a
code) or "choice" (a dialog offers 3-4 word buttons). What a click does is `tasks.synthdesk.app`'s business.

`density` in [0, 1] scales how much is on the screen (counts of menus, items, controls, and how often optional
parts appear): 0 gives sparse screens, 1 busy ones.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from tasks.synthdesk.fonts import text_width
from tasks.synthdesk.vocab import CELL, DELETE, FONT_SIZE, ICONS, SEARCH, TITLE_FONT_SIZE, WORDS
from tasks.synthdesk.widgets import Box, Widget

__all__ = ["AppSpec", "Command", "Menu", "MenuItem", "Needs", "cells_for", "generate_spec"]

Command = Literal["plain", "name", "code", "choice"]
_RANDOM_COMMANDS: tuple[Command, ...] = ("plain", "plain", "plain", "name", "name", "code", "code", "choice")


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One menu item: its label, its command, and the word buttons of a "choice" dialog."""

    label: str
    command: Command
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Menu:
    """A menu: its title's box in the menu bar and its dropdown `panel`, whose items are stacked one cell each."""

    title: str
    box: Box
    items: tuple[MenuItem, ...]
    panel: Box

    def item_box(self, i: int) -> Box:
        """The box of item `i` in the open dropdown."""
        x1, y1, x2, _ = self.panel
        return (x1, y1 + i * CELL, x2, y1 + (i + 1) * CELL)


@dataclass(frozen=True)
class AppSpec:
    """Everything about an app that no event changes.

    size: (width, height) in pixels. theme: colour theme index (`tasks.synthdesk.render.THEMES`).
    menus: the menu bar's menus, left to right. window: the window's box (its first row is the title bar, its last
    row the status bar). title: the window title. list_box: the list panel (items stacked one cell each from its
    top), or None. list_items: the list's labels, top to bottom. controls: buttons, checkboxes, text fields and icon
    buttons with their boxes, in paint order (flags at their defaults). dialog_shift: (dx, dy) in cells, where
    dialogs sit relative to the screen centre. toast_top: notices appear under the menu bar (else at the bottom).
    """

    size: tuple[int, int]
    theme: int
    menus: tuple[Menu, ...]
    window: Box
    title: str
    list_box: Box | None
    list_items: tuple[str, ...]
    controls: tuple[Widget, ...]
    dialog_shift: tuple[int, int] = (0, 0)
    toast_top: bool = False
    unused: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def words(self) -> frozenset[str]:
        """Every word label the app can show (menus, items, dialog choices, list, controls, title)."""
        out = {self.title, *self.list_items, *(w.label for w in self.controls)}
        for menu in self.menus:
            out.add(menu.title)
            for item in menu.items:
                out.add(item.label)
                out.update(item.choices)
        return frozenset(out)


@dataclass(frozen=True)
class Needs:
    """What a task needs in the app; `generate_spec` includes all of it or fails.

    fields: text fields (besides search). checks: checkboxes. listed: a list of at least 3 items. delete: a Delete
    button. search: a search field. commands: menu-item commands that must exist (one item each).
    """

    fields: int = 0
    checks: int = 0
    listed: bool = False
    delete: bool = False
    search: bool = False
    commands: tuple[Command, ...] = ()


def cells_for(text: str, pad: int = 16, minimum: int = 2, size: int = FONT_SIZE) -> int:
    """Cells needed for `text` plus `pad` pixels, at least `minimum`."""
    return max(minimum, math.ceil((text_width(text, size) + pad) / CELL))


def _box(col: int, row: int, width: int, height: int = 1) -> Box:
    return (col * CELL, row * CELL, (col + width) * CELL, (row + height) * CELL)


def _count(rng: random.Random, lo: int, hi: int, density: float) -> int:
    return rng.randint(lo, lo + round((hi - lo) * density))


class _Words:
    def __init__(self, rng: random.Random) -> None:
        self.pool = list(WORDS)
        rng.shuffle(self.pool)

    def take(self, n: int = 1) -> list[str]:
        if n > len(self.pool):
            raise _NoRoom("out of words")
        out, self.pool = self.pool[:n], self.pool[n:]
        return out


class _NoRoom(Exception):
    """The screen (or the vocabulary) has no room for what was asked."""


def generate_spec(rng: random.Random, size: tuple[int, int], density: float, needs: Needs = Needs()
                  ) -> AppSpec | None:
    """A random app of `size` with everything `needs` asks for, or None when it does not fit (draw again)."""
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density={density!r} must be in [0, 1]")
    words = _Words(rng)
    try:
        menus = _menus(rng, size, density, needs, words)
        window, title, list_box, list_items, controls = _window(rng, size, density, needs, words)
    except _NoRoom:
        return None
    shift = (rng.randint(-1, 1), rng.randint(-1, 1))
    return AppSpec(size=size, theme=rng.randrange(4), menus=menus, window=window, title=title, list_box=list_box,
                   list_items=list_items, controls=controls, dialog_shift=shift, toast_top=rng.random() < 0.5,
                   unused=tuple(words.pool))


def _menus(rng: random.Random, size: tuple[int, int], density: float, needs: Needs, words: _Words
           ) -> tuple[Menu, ...]:
    cols = size[0] // CELL
    n_menus = _count(rng, 2, 4, density)
    commands: list[Command] = list(needs.commands)
    titles = words.take(n_menus)
    col, menus = 1, []  # column 0 holds the logo; the last two the clock
    slots = [_count(rng, 3, 5, density) for _ in titles]
    if sum(slots) < len(commands):
        raise _NoRoom("more commands than menu items")
    # spread the required commands over random item slots; the others are mostly plain, some name/code dialogs
    positions = rng.sample([(m, i) for m, n in enumerate(slots) for i in range(n)], len(commands))
    wanted = dict(zip(positions, commands))
    for m, title in enumerate(titles):
        width = cells_for(title, pad=20, size=TITLE_FONT_SIZE)
        if col + width > cols - 2:
            raise _NoRoom("menu bar full")
        items = []
        for i in range(slots[m]):
            command: Command = wanted.get((m, i), rng.choice(_RANDOM_COMMANDS))
            choices = tuple(words.take(rng.randint(3, 4))) if command == "choice" else ()
            items.append(MenuItem(words.take()[0], command, choices))
        panel_w = max(3, max(cells_for(it.label, pad=20) for it in items))
        x1 = min(col, cols - panel_w)
        panel = _box(x1, 1, panel_w, len(items))
        menus.append(Menu(title, _box(col, 0, width), tuple(items), panel))
        col += width
    return tuple(menus)


def _window(rng: random.Random, size: tuple[int, int], density: float, needs: Needs, words: _Words
            ) -> tuple[Box, str, Box | None, tuple[str, ...], tuple[Widget, ...]]:
    cols, rows = size[0] // CELL, size[1] // CELL
    left, right = rng.randint(0, 1), cols - rng.randint(0, 1)
    top, bottom = 1 + rng.randint(0, 1), rows - rng.randint(0, 1)
    title = words.take()[0]
    content_top, content_rows = top + 1, bottom - top - 2
    optional = 0.35 + 0.6 * density
    list_box: Box | None = None
    list_items: tuple[str, ...] = ()
    main_left = left + 1
    if needs.listed or needs.delete or rng.random() < optional:
        n_items = min(_count(rng, 3, 6, density), content_rows)
        list_items = tuple(words.take(n_items))
        width = max(3, max(cells_for(w, pad=20) for w in list_items))
        list_box = _box(left, content_top, width, content_rows)
        main_left = left + width + 1
    main_right = right - rng.randint(0, 1)
    blocks = _blocks(rng, density, needs, words, optional)
    controls = _place(rng, blocks, main_left, main_right, content_top, content_rows)
    return _box(left, top, right - left, bottom - top), title, list_box, list_items, controls


# A block is a list of rows; a row is (free cells between neighbours, [(cells wide, widget maker)]); the maker
# takes the widget's box.
_Row = tuple[int, list[tuple[int, Callable[[Box], Widget]]]]


def _blocks(rng: random.Random, density: float, needs: Needs, words: _Words, optional: float
            ) -> list[tuple[bool, list[_Row]]]:
    """(required, rows) of each control block; the button row comes last."""
    blocks: list[tuple[bool, list[_Row]]] = []
    if rng.random() < optional:
        icons = rng.sample(ICONS, _count(rng, 2, 4, density))
        blocks.append((False, [(0, [(2, _maker("icon", name, f"icon:{name}")) for name in icons])]))
    if needs.search or rng.random() < optional * 0.7:
        blocks.append((needs.search, [(1, [(rng.randint(4, 5), _maker("textfield", SEARCH, f"field:{SEARCH}"))])]))
    n_fields = max(needs.fields, rng.randint(1, 2) if rng.random() < optional else 0)
    for label in words.take(n_fields):
        blocks.append((needs.fields > 0, [(1, [(rng.randint(4, 6), _maker("textfield", label, f"field:{label}"))])]))
    n_checks = max(needs.checks, _count(rng, 2, 4, density) if rng.random() < optional else 0)
    if n_checks:
        labels = words.take(n_checks)
        per_row = rng.choice((1, 2))
        rows = [(1, [(cells_for(w, pad=40), _maker("checkbox", w, f"check:{w}")) for w in labels[i:i + per_row]])
                for i in range(0, len(labels), per_row)]
        blocks.append((needs.checks > 0, rows))
    rng.shuffle(blocks)
    buttons = words.take(_count(rng, 1, 3, density))
    if needs.delete or (rng.random() < optional * 0.5):
        buttons.insert(rng.randint(0, len(buttons)), DELETE)
    blocks.append((True, [(1, [(cells_for(b), _maker("button", b, f"button:{b}")) for b in buttons])]))
    return blocks


def _maker(role: Literal["icon", "textfield", "checkbox", "button"], label: str, key: str
           ) -> Callable[[Box], Widget]:
    return lambda box: Widget(role, label, box, key=key, interactive=True)


def _place(rng: random.Random, blocks: list[tuple[bool, list[_Row]]], left: int, right: int, top: int,
           n_rows: int) -> tuple[Widget, ...]:
    """Lay the blocks out top-down in columns [left, right), rows [top, top + n_rows); drop optional blocks that
    do not fit, raise _NoRoom when a required one does not."""
    width = right - left

    def row_cells(row: _Row) -> int:
        gap, items = row
        return sum(w for w, _ in items) + gap * (len(items) - 1)

    kept = []
    for required, rows in blocks:
        if any(row_cells(r) > width for r in rows):
            if required:
                raise _NoRoom("a required row is too wide")
            continue
        kept.append((required, rows))
    while sum(len(rows) for _, rows in kept) > n_rows:
        optional = [i for i, (required, _) in enumerate(kept) if not required]
        if not optional:
            raise _NoRoom("required rows do not fit")
        del kept[rng.choice(optional)]
    spare = n_rows - sum(len(rows) for _, rows in kept)
    row, widgets = top, []
    for _, rows in kept:
        if spare and rng.random() < 0.5:
            row, spare = row + 1, spare - 1
        for r in rows:
            free = width - row_cells(r)
            col = left + rng.randint(0, free)
            gap, items = r
            for cells, make in items:
                widgets.append(make(_box(col, row, cells)))
                col += cells + gap
            row += 1
    return tuple(widgets)
