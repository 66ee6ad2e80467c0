"""What a synthdesk screen is made of: `Widget` (role, label, pixel box, flags) and `Screen` (the image plus the
widgets it shows, in paint order).

Boxes are `(x1, y1, x2, y2)` in screen pixels with exclusive ends (PIL's convention): the widget covers the pixels
`x1 <= x < x2`, `y1 <= y < y2`; its size is `(x2 - x1, y2 - y1)`. Screen pixels are model-image pixels (the screen
sizes are multiples of 28, see `tasks.synthdesk.vocab`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PIL import Image

from tasks.synthdesk.vocab import CELL

__all__ = ["Box", "Role", "Screen", "Widget", "box_center", "box_click_point", "box_contains"]

Box = tuple[int, int, int, int]
"""(x1, y1, x2, y2) in screen pixels, x2 and y2 exclusive."""

Role = Literal[
    "desktop", "menubar", "logo", "clock", "menu", "dropdown", "menuitem", "window", "title", "list", "listitem",
    "button", "checkbox", "textfield", "icon", "status", "dialog", "text", "toast",
]
"""What a widget is. Interactive roles: menu (a menu-bar title), menuitem, listitem, button, checkbox, textfield,
icon. The others are decoration or text (window, title bars, status bar, dialog and dropdown panels, notices)."""


@dataclass(frozen=True, slots=True)
class Widget:
    """One element of a screen.

    role: see `Role`. label: the word shown (menu titles, items, buttons, checkboxes, window and dialog titles,
        messages, notices, the status text); a text field's label is its placeholder name (shown while it is
        empty); an icon's label is its shape name (`tasks.synthdesk.vocab.ICONS`).
    box: pixel box, `(x1, y1, x2, y2)` with exclusive ends.
    key: the widget's stable name in its app (`menu:File`, `item:Rename`, `button:Save`, `field:Title`,
        `dialog:OK`, ...); "" for decoration.
    interactive: a click on it does something (it is a click target).
    on: menu title: its menu is open; listitem: selected; checkbox: checked; textfield: focused; button: the
        primary (default) button of a dialog.
    text: a text field's contents.
    """

    role: Role
    label: str
    box: Box
    key: str = ""
    interactive: bool = False
    on: bool = False
    text: str = ""

    @property
    def center(self) -> tuple[int, int]:
        """The click point of the widget: the integer centre of its box (inside it)."""
        return box_center(self.box)

    @property
    def click_point(self) -> tuple[int, int]:
        """Where a gold action clicks the widget: `box_click_point` of its box."""
        return box_click_point(self.box)


def box_click_point(box: Box) -> tuple[int, int]:
    """The centre of the box's middle 28 px cell (the left / upper one of two middles), kept inside the box.

    Why not the box centre: synthdesk boxes are cell-aligned, so the centre of an even-width box is a cell border.
    The middle cell's centre is a pixel of one image token, so a click's digits name exactly one token's column
    and row: what gui-tiny's coordinate head copies (`agent.training.examples`).
    """
    x1, y1, x2, y2 = box
    mid = lambda lo, hi: min(max(((lo // CELL + (hi - 1) // CELL) // 2) * CELL + CELL // 2, lo), hi - 1)
    return mid(x1, x2), mid(y1, y2)


def box_center(box: Box) -> tuple[int, int]:
    """`((x1 + x2) // 2, (y1 + y2) // 2)`: a pixel inside any non-empty box."""
    x1, y1, x2, y2 = box
    return (x1 + x2) // 2, (y1 + y2) // 2


def box_contains(box: Box, x: float, y: float) -> bool:
    """True iff the point lies on one of the box's pixels: `x1 <= x < x2` and `y1 <= y < y2`."""
    x1, y1, x2, y2 = box
    return x1 <= x < x2 and y1 <= y < y2


@dataclass(frozen=True)
class Screen:
    """One rendered screen: the RGB image and the widgets on it, in paint order (later ones are on top), decoration
    included (`tasks.synthdesk.app.hit` finds the widget a click lands on)."""

    image: Image.Image
    widgets: tuple[Widget, ...]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image.size

    def find(self, key: str) -> Widget:
        """The topmost widget whose key is `key`; KeyError when there is none."""
        for widget in reversed(self.widgets):
            if widget.key == key:
                return widget
        raise KeyError(f"no widget with key {key!r} on this screen")
