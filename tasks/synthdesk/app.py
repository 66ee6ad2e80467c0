"""The synthdesk app's state machine: an immutable `AppState` with `layout()`, `render()` and `apply(event)`.

This is the only code path for state. Sample generation (gold actions), the live Tk window and any replay all
call `apply` on the events they observe and `render` for what is on screen, so a live screenshot is
pixel-identical to the training frame of the same state.

Events: `Click(x, y)` (screen pixels), `TypeText(text)` (goes to the focused text field) and `Key(name)` ("enter",
"escape", "backspace"; other keys do nothing). `events_for(action, size)` turns a parsed `actions.schema` action
into events. Rules:

* Any event first dismisses the notice (toast); a click on the notice does nothing else.
* A click hits the topmost widget under the point. While a dialog is open only the dialog reacts (it is modal);
  while a menu is open, a click on an item runs it, on a menu title switches menus, anywhere else closes the menu.
* Menu title: opens its menu. Menu item: runs its command: "plain" logs `("menu", item)`; "name" / "code" open a
  dialog with a focused text field, message "New name" / "Enter code", and Cancel / OK buttons; "choice" opens a
  dialog of word buttons ("Pick one") and Cancel.
* Dialog OK (or Enter): logs `("name", item, text)` / `("code", item, text)` / `("delete", list item)`; a word
  button of a choice dialog logs `("choice", item, word)`; Cancel (or Escape) logs `("cancel", item)`.
* Text field: focuses it (typed text goes there, Backspace deletes); Enter in the Search field logs
  `("search", text)`. Checkbox: toggles it. List item: selects it. Icon: logs `("icon", name)`.
* Button Delete: asks "Delete <selected item>?" (a confirm dialog); any other button logs
  `("submit", button, "<field>=<text>"..., "+<checked box>"...)` (non-empty fields and checked boxes, sorted).
* Escape closes the open menu or cancels the dialog. Every logged command also sets the status bar text.

A task's goal is a `Goal` on the log (`Goal.met(state)`), so "the task is done" is a function of the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from actions.keys import normalize_key
from actions.schema import Action, Click as ClickAction, Hotkey, Type
from tasks.synthdesk.render import notice_cells, paint
from tasks.synthdesk.spec import AppSpec, cells_for
from tasks.synthdesk.vocab import CANCEL, CELL, DELETE, OK, READY, SEARCH
from tasks.synthdesk.widgets import Box, Screen, Widget, box_contains

__all__ = ["AppState", "Click", "Dialog", "Event", "Goal", "Key", "TypeText", "events_for", "hit", "look"]

MAX_TEXT = 16
"""Characters a text field holds; typing more is ignored."""
CLOCK = "9:41"


@dataclass(frozen=True, slots=True)
class Click:
    """A left click at screen pixel (x, y)."""

    x: int
    y: int


@dataclass(frozen=True, slots=True)
class TypeText:
    """Text typed on the keyboard."""

    text: str


@dataclass(frozen=True, slots=True)
class Key:
    """A key press; the name is read by `actions.keys.normalize_key` ("enter", "escape" = "esc", "backspace" do
    something)."""

    name: str


Event = Click | TypeText | Key


@dataclass(frozen=True, slots=True)
class Dialog:
    """An open dialog. kind: "name" / "code" (a text field), "choice" (word buttons), "confirm" (delete).
    title: the menu item (or Delete); message: the line under the title; choices: the word buttons; target: the
    list item a confirm dialog deletes; text: the text field's contents."""

    kind: Literal["name", "code", "choice", "confirm"]
    title: str
    message: str
    choices: tuple[str, ...] = ()
    target: str = ""
    text: str = ""


@dataclass(frozen=True)
class Goal:
    """Met when some log entry starts with `head` and contains every string of `contains`, and every checkbox key
    of `checked` is checked."""

    head: tuple[str, ...]
    contains: tuple[str, ...] = ()
    checked: tuple[str, ...] = ()

    def met(self, state: "AppState") -> bool:
        """True iff `state` satisfies the goal."""
        n = len(self.head)
        logged = any(e[:n] == self.head and all(c in e[n:] for c in self.contains) for e in state.log)
        return logged and state.checked.issuperset(self.checked)


@dataclass(frozen=True)
class AppState:
    """One state of an app (immutable; `apply` returns a new one).

    spec: the static app. open_menu: index of the open menu, -1 when none. dialog: the open dialog or None.
    focus: key of the focused text field ("" none; "dialog:field" for a dialog's). fields: (key, text) of the
    window's text fields that hold text, sorted. checked: keys of checked checkboxes. selected: the selected list
    item's label. deleted: list items deleted so far. toast: the notice shown ("" none). status: the status bar
    text. log: the commands run so far, oldest first (see the module docstring).
    """

    spec: AppSpec
    open_menu: int = -1
    dialog: Dialog | None = None
    focus: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    checked: frozenset[str] = frozenset()
    selected: str = ""
    deleted: tuple[str, ...] = ()
    toast: str = ""
    status: str = READY
    log: tuple[tuple[str, ...], ...] = field(default=())

    # -- what is on screen -------------------------------------------------------------------------------------

    def layout(self) -> tuple[Widget, ...]:
        """Every widget on screen, in paint order (later ones on top)."""
        spec, (w, h) = self.spec, self.spec.size
        out = [Widget("desktop", "", (0, 0, w, h), key="desktop"),
               Widget("menubar", "", (0, 0, w, CELL), key="menubar"),
               Widget("logo", "", (0, 0, CELL, CELL), key="logo"),
               Widget("clock", CLOCK, (w - 2 * CELL, 0, w, CELL), key="clock")]
        out += [Widget("menu", m.title, m.box, key=f"menu:{m.title}", interactive=True, on=i == self.open_menu)
                for i, m in enumerate(spec.menus)]
        x1, y1, x2, y2 = spec.window
        out += [Widget("window", "", spec.window, key="window"),
                Widget("title", spec.title, (x1, y1, x2, y1 + CELL), key="window:title")]
        if spec.list_box is not None:
            out.append(Widget("list", "", spec.list_box, key="list"))
            lx1, ly1, lx2, _ = spec.list_box
            items = [label for label in spec.list_items if label not in self.deleted]
            out += [Widget("listitem", label, (lx1, ly1 + i * CELL, lx2, ly1 + (i + 1) * CELL), key=f"list:{label}",
                           interactive=True, on=label == self.selected) for i, label in enumerate(items)]
        texts = dict(self.fields)
        for c in spec.controls:
            if c.role == "checkbox" and c.key in self.checked:
                c = replace(c, on=True)
            elif c.role == "textfield":
                c = replace(c, on=c.key == self.focus, text=texts.get(c.key, ""))
            out.append(c)
        out.append(Widget("status", self.status, (x1, y2 - CELL, x2, y2), key="status"))
        if self.open_menu >= 0:
            menu = spec.menus[self.open_menu]
            out.append(Widget("dropdown", "", menu.panel, key="dropdown"))
            out += [Widget("menuitem", item.label, menu.item_box(i), key=f"item:{item.label}", interactive=True)
                    for i, item in enumerate(menu.items)]
        if self.dialog is not None:
            out += _dialog_widgets(spec, self.dialog, self.focus == "dialog:field")
        if self.toast:
            out.append(Widget("toast", self.toast, toast_box(spec, self.toast), key="toast"))
        return tuple(out)

    def render(self) -> Screen:
        """The screen of this state: its image (RGB, `spec.size`) and its widgets."""
        widgets = self.layout()
        return Screen(paint(widgets, self.spec.size, self.spec.theme), widgets)

    # -- events ------------------------------------------------------------------------------------------------

    def apply(self, event: Event) -> AppState:
        """The state after `event` (module docstring)."""
        s = replace(self, toast="") if self.toast else self
        if isinstance(event, Click):
            return s._click(hit(self.layout(), event.x, event.y))
        if isinstance(event, TypeText):
            return s._type(event.text)
        return s._key(event.name)

    def _click(self, w: Widget | None) -> AppState:
        if w is not None and w.role == "toast":
            return self
        if self.dialog is not None:
            return self._dialog_click(w) if w is not None and w.key.startswith("dialog:") else self
        if self.open_menu >= 0:
            if w is not None and w.role == "menuitem":
                return replace(self, open_menu=-1)._run_item(w.label)
            if w is not None and w.role == "menu":
                index = self._menu_index(w.label)
                return replace(self, open_menu=-1 if index == self.open_menu else index)
            return replace(self, open_menu=-1)
        if w is None or not w.interactive:
            return replace(self, focus="")
        if w.role == "menu":
            return replace(self, open_menu=self._menu_index(w.label), focus="")
        if w.role == "textfield":
            return replace(self, focus=w.key)
        if w.role == "checkbox":
            return replace(self, checked=self.checked ^ {w.key}, focus="")
        if w.role == "listitem":
            return replace(self, selected=w.label, focus="")
        if w.role == "icon":
            return replace(self, focus="")._logged(("icon", w.label), f"{w.label} tool")
        return replace(self, focus="")._press(w.label)

    def _menu_index(self, title: str) -> int:
        return next(i for i, m in enumerate(self.spec.menus) if m.title == title)

    def _run_item(self, label: str) -> AppState:
        item = next(it for m in self.spec.menus for it in m.items if it.label == label)
        if item.command == "plain":
            return self._logged(("menu", label), f"{label} done")
        if item.command == "choice":
            return replace(self, dialog=Dialog("choice", label, "Pick one", item.choices), focus="")
        message = "New name" if item.command == "name" else "Enter code"
        return replace(self, dialog=Dialog(item.command, label, message), focus="dialog:field")

    def _press(self, label: str) -> AppState:
        if label == DELETE:
            if not self.selected:
                return replace(self, status="Select an item")
            return replace(self, dialog=Dialog("confirm", DELETE, f"Delete {self.selected}?", target=self.selected))
        fields = tuple(f"{k.split(':', 1)[1]}={t}" for k, t in self.fields if t)
        checks = tuple(sorted(f"+{k.split(':', 1)[1]}" for k in self.checked))
        return self._logged(("submit", label, *fields, *checks), f"{label} done")

    def _dialog_click(self, w: Widget) -> AppState:
        d = self.dialog
        assert d is not None
        if w.key == "dialog:OK":
            return self._confirm()
        if w.key == "dialog:Cancel":
            return self._cancel()
        if w.key.startswith("dialog:choice:"):
            closed = replace(self, dialog=None, focus="")
            return closed._logged(("choice", d.title, w.label), f"{d.title} done")
        if w.key == "dialog:field":
            return replace(self, focus=w.key)
        return self

    def _confirm(self) -> AppState:
        d = self.dialog
        assert d is not None
        closed = replace(self, dialog=None, focus="")
        if d.kind == "confirm":
            gone = replace(closed, deleted=(*self.deleted, d.target), selected="")
            return gone._logged(("delete", d.target), f"Deleted {d.target}")
        if d.kind == "name":
            return closed._logged(("name", d.title, d.text), f"Named {d.text}")
        if d.kind == "code":
            return closed._logged(("code", d.title, d.text), "Code sent")
        return self  # a choice dialog has no OK

    def _cancel(self) -> AppState:
        d = self.dialog
        assert d is not None
        return replace(self, dialog=None, focus="")._logged(("cancel", d.title), "Cancelled")

    def _logged(self, entry: tuple[str, ...], status: str) -> AppState:
        return replace(self, log=(*self.log, entry), status=status)

    def _type(self, text: str) -> AppState:
        if self.focus == "dialog:field" and self.dialog is not None:
            return replace(self, dialog=replace(self.dialog, text=(self.dialog.text + text)[:MAX_TEXT]))
        if self.focus and self.dialog is None and self.open_menu < 0:
            texts = dict(self.fields)
            texts[self.focus] = (texts.get(self.focus, "") + text)[:MAX_TEXT]
            return replace(self, fields=tuple(sorted(texts.items())))
        return self

    def _key(self, key: str) -> AppState:
        name = normalize_key(key)
        if name == "esc":
            if self.dialog is not None:
                return self._cancel()
            return replace(self, open_menu=-1, focus="")
        if name == "enter":
            if self.dialog is not None:
                return self._confirm() if self.dialog.kind != "choice" else self
            if self.focus == f"field:{SEARCH}" and self.open_menu < 0:
                text = dict(self.fields).get(self.focus, "")
                return self._logged(("search", text), f"Searched {text}")
            return self
        if name == "backspace":
            if self.focus == "dialog:field" and self.dialog is not None:
                return replace(self, dialog=replace(self.dialog, text=self.dialog.text[:-1]))
            texts = dict(self.fields)
            if self.focus in texts:
                texts[self.focus] = texts[self.focus][:-1]
                return replace(self, fields=tuple(sorted(texts.items())))
        return self


def hit(widgets: tuple[Widget, ...], x: float, y: float) -> Widget | None:
    """The topmost widget whose box holds the point, or None (outside the screen)."""
    for w in reversed(widgets):
        if box_contains(w.box, x, y):
            return w
    return None


def look(widgets: tuple[Widget, ...], target: Widget) -> str:
    """How `target` appears among `widgets` (paint order): its role, then "on" when its state marks it (an open menu's
    title, a selected list item, a checked box, a focused field, a dialog's default button: the menu, item and button
    are drawn inverted, white on the accent colour), then "covered" when a widget painted after it overlaps its box
    (an open menu's panel, a dialog, a notice cuts its label). E.g. "menu on", "textfield covered", "button"."""
    at = max((i for i, w in enumerate(widgets) if w.key == target.key), default=None)
    if at is None:
        raise ValueError(f"{target.key!r} is not among the widgets")
    x1, y1, x2, y2 = target.box
    covered = any(w.box[0] < x2 and x1 < w.box[2] and w.box[1] < y2 and y1 < w.box[3] for w in widgets[at + 1:])
    return " ".join([target.role] + ["on"] * target.on + ["covered"] * covered)


def toast_box(spec: AppSpec, text: str) -> Box:
    """Where a notice with `text` is shown: flush right, under the menu bar or on the bottom row."""
    w, h = spec.size
    width = notice_cells(text) * CELL
    top = CELL if spec.toast_top else h - CELL
    return (w - width, top, w, top + CELL)


def dialog_box(spec: AppSpec, dialog: Dialog) -> Box:
    """The dialog panel's box: centred, shifted by `spec.dialog_shift` cells, kept on screen below the menu bar."""
    cols, rows = spec.size[0] // CELL, spec.size[1] // CELL
    if dialog.kind == "choice":
        pairs = [dialog.choices[i:i + 2] for i in range(0, len(dialog.choices), 2)]
        width = max(sum(cells_for(c) for c in pair) + len(pair) - 1 for pair in pairs) + 2
        height = 3 + len(pairs)
    elif dialog.kind == "confirm":
        width, height = cells_for(dialog.message, pad=24), 3
    else:
        width, height = 8, 4
    width = max(width, 8, cells_for(dialog.title, pad=24))
    dx, dy = spec.dialog_shift
    col = min(max((cols - width) // 2 + dx, 0), cols - width)
    row = min(max(1 + (rows - 1 - height) // 2 + dy, 1), rows - height)
    return (col * CELL, row * CELL, (col + width) * CELL, (row + height) * CELL)


def _dialog_widgets(spec: AppSpec, d: Dialog, focused: bool) -> list[Widget]:
    x1, y1, x2, y2 = dialog_box(spec, d)
    row = lambda r: y1 + r * CELL  # noqa: E731
    out = [Widget("dialog", "", (x1, y1, x2, y2), key="dialog:panel"),
           Widget("title", d.title, (x1, y1, x2, row(1)), key="dialog:title"),
           Widget("text", d.message, (x1, row(1), x2, row(2)), key="dialog:message")]
    if d.kind in ("name", "code"):
        out.append(Widget("textfield", "", (x1 + CELL, row(2), x2 - CELL, row(3)), key="dialog:field",
                          interactive=True, on=focused, text=d.text))
    if d.kind == "choice":
        for i in range(0, len(d.choices), 2):
            col = x1 + CELL
            for word in d.choices[i:i + 2]:
                width = cells_for(word) * CELL
                out.append(Widget("button", word, (col, row(2 + i // 2), col + width, row(3 + i // 2)),
                                  key=f"dialog:choice:{word}", interactive=True))
                col += width + CELL
    right = x2  # the buttons end one cell in from the right edge
    buttons_row = y2 - CELL
    ok_w, cancel_w = cells_for(OK) * CELL, cells_for(CANCEL) * CELL
    if d.kind == "choice":
        out.append(Widget("button", CANCEL, (right - CELL - cancel_w, buttons_row, right - CELL,
                                             buttons_row + CELL), key="dialog:Cancel", interactive=True))
    else:
        ok_x = right - CELL - ok_w
        out.append(Widget("button", CANCEL, (ok_x - CELL - cancel_w, buttons_row, ok_x - CELL, buttons_row + CELL),
                          key="dialog:Cancel", interactive=True))
        out.append(Widget("button", OK, (ok_x, buttons_row, right - CELL, buttons_row + CELL), key="dialog:OK",
                          interactive=True, on=True))
    return out


def events_for(action: Action, size: tuple[int, int]) -> list[Event]:
    """The app events of a parsed action (normalised points scaled to `size`, rounded to pixels).

    click -> Click; type -> TypeText (then Key("enter") when it submits); hotkey -> one Key per key; anything else
    (finished, wait, ...) -> no event.
    """
    w, h = size
    if isinstance(action, ClickAction):
        return [Click(min(round(action.xy[0] * w), w - 1), min(round(action.xy[1] * h), h - 1))]
    if isinstance(action, Type):
        events: list[Event] = [TypeText(action.text)]
        return events + [Key("enter")] if action.submit else events
    if isinstance(action, Hotkey):
        return [Key(k) for k in action.keys]
    return []
