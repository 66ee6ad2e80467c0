"""Painting a synthdesk screen: `paint(widgets, size, theme) -> PIL RGB image`.

The image is a pure function of the widget list, the size and the theme. Flat colours and high contrast: dark
text on light widgets, white text on the theme's accent colour (open menu, selected item, checked box, primary
button, focused field border). Framed widgets (buttons, icon buttons, text fields) are drawn 2 px inside their box,
so neighbours stay apart although their boxes touch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw

from tasks.synthdesk.fonts import line_height, text_mask, text_width
from tasks.synthdesk.vocab import CELL, FONT_SIZE, TITLE_FONT_SIZE
from tasks.synthdesk.widgets import Box, Widget

__all__ = ["THEMES", "Theme", "notice_cells", "notice_char_centres", "notice_layout", "paint"]

RGB = tuple[int, int, int]
INK: RGB = (28, 28, 30)
WHITE: RGB = (255, 255, 255)
PANEL: RGB = (250, 250, 250)
BAR: RGB = (234, 237, 240)
LINE: RGB = (172, 184, 192)
FRAME: RGB = (84, 104, 116)
PLACEHOLDER: RGB = (138, 150, 158)
SHADOW: RGB = (40, 44, 48)
TOAST: RGB = (36, 44, 52)
ICON_COLOURS: dict[str, RGB] = {
    "circle": (214, 48, 49), "square": (38, 104, 200), "triangle": (46, 139, 60), "star": (240, 120, 0),
    "heart": (214, 30, 110), "diamond": (123, 44, 170), "cross": (60, 72, 80), "moon": (222, 168, 0),
}


@dataclass(frozen=True)
class Theme:
    """desktop: background colour; accent: selection / primary colour (white text on it); title: title bars."""

    desktop: RGB
    accent: RGB
    title: RGB


THEMES: tuple[Theme, ...] = (
    Theme(desktop=(38, 118, 120), accent=(28, 96, 210), title=(212, 221, 234)),
    Theme(desktop=(58, 86, 140), accent=(190, 64, 30), title=(226, 222, 214)),
    Theme(desktop=(92, 74, 136), accent=(0, 118, 104), title=(214, 230, 226)),
    Theme(desktop=(60, 108, 76), accent=(120, 40, 160), title=(226, 216, 234)),
)


def paint(widgets: tuple[Widget, ...], size: tuple[int, int], theme: int) -> Image.Image:
    """The RGB image of `widgets` (in paint order) on a `size` screen in theme `THEMES[theme]`."""
    t = THEMES[theme]
    image = Image.new("RGB", size, t.desktop)
    draw = ImageDraw.Draw(image)
    for w in widgets:
        _PAINTERS[w.role](image, draw, w, t)
    return image


def _text(image: Image.Image, box: Box, text: str, colour: RGB, *, left: int | None = None,
          size: int = FONT_SIZE) -> int:
    """Draw `text` vertically centred in `box`, centred horizontally or `left` px in; clipped to the box.
    Returns the x just after the text."""
    if not text:
        return box[0] + (left or 0)
    x1, y1, x2, y2 = box
    mask = text_mask(text, size)
    width = mask.width
    x = x1 + left if left is not None else x1 + (x2 - x1 - width) // 2
    y = y1 + (y2 - y1 - line_height(size)) // 2
    room = x2 - 2 - x
    if room <= 0:
        return x
    if width > room:
        mask, width = mask.crop((0, 0, room, mask.height)), room
    image.paste(colour, (x, y, x + width, y + mask.height), mask)
    return x + width


def _inset(box: Box, d: int) -> Box:
    x1, y1, x2, y2 = box
    return (x1 + d, y1 + d, x2 - d - 1, y2 - d - 1)  # ImageDraw boxes include their last pixel


def _desktop(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    """Nothing: the image starts filled with the desktop colour."""


def _menubar(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    x1, y1, x2, y2 = w.box
    draw.rectangle((x1, y1, x2 - 1, y2 - 1), fill=BAR)
    draw.line((x1, y2 - 1, x2 - 1, y2 - 1), fill=LINE)


def _logo(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    cx, cy = w.center
    draw.ellipse((cx - 7, cy - 8, cx + 7, cy + 6), fill=t.accent)


def _label(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    _text(image, w.box, w.label, INK)


def _menu(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    if w.on:
        x1, y1, x2, y2 = w.box
        draw.rectangle((x1, y1, x2 - 1, y2 - 2), fill=t.accent)
    _text(image, w.box, w.label, WHITE if w.on else INK, size=TITLE_FONT_SIZE)


def _panel(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme, *, shadow: int, border: int) -> None:
    x1, y1, x2, y2 = w.box
    if shadow:
        draw.rectangle((x1 + shadow, y1 + shadow, x2 - 1 + shadow, y2 - 1 + shadow), fill=SHADOW)
    draw.rectangle((x1, y1, x2 - 1, y2 - 1), fill=PANEL if w.role != "list" else WHITE, outline=FRAME,
                   width=border)


def _dropdown(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    _panel(image, draw, w, t, shadow=3, border=1)


def _menuitem(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    _text(image, w.box, w.label, INK, left=12)


def _window(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    _panel(image, draw, w, t, shadow=0, border=1)


def _dialog(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    _panel(image, draw, w, t, shadow=4, border=2)


def _list(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    x1, y1, x2, y2 = w.box
    draw.rectangle((x1, y1, x2 - 1, y2 - 1), fill=WHITE)
    draw.line((x2 - 1, y1, x2 - 1, y2 - 1), fill=LINE)


def _title(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    x1, y1, x2, y2 = w.box
    draw.rectangle((x1 + 1, y1 + 1, x2 - 2, y2 - 1), fill=t.title)
    draw.line((x1, y2 - 1, x2 - 1, y2 - 1), fill=LINE)
    if w.key == "window:title":
        for i, colour in enumerate(((236, 94, 84), (240, 190, 60), (96, 190, 90))):
            cx = x1 + 12 + 14 * i
            draw.ellipse((cx - 4, y1 + 10, cx + 4, y1 + 18), fill=colour)
    _text(image, w.box, w.label, INK, size=TITLE_FONT_SIZE)


def _listitem(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    x1, y1, x2, y2 = w.box
    if w.on:
        draw.rectangle((x1 + 1, y1 + 1, x2 - 3, y2 - 2), fill=t.accent)
    else:
        draw.line((x1 + 6, y2 - 1, x2 - 8, y2 - 1), fill=BAR)
    _text(image, w.box, w.label, WHITE if w.on else INK, left=10)


def _button(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    fill, outline, ink = (t.accent, t.accent, WHITE) if w.on else ((226, 231, 238), FRAME, INK)
    draw.rounded_rectangle(_inset(w.box, 2), radius=4, fill=fill, outline=outline)
    _text(image, w.box, w.label, ink)


def _checkbox(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    x1, y1, _, y2 = w.box
    top = (y1 + y2) // 2 - 8
    left = x1 + 6
    if w.on:
        draw.rectangle((left, top, left + 15, top + 15), fill=t.accent)
        draw.line((left + 3, top + 8, left + 6, top + 11, left + 12, top + 4), fill=WHITE, width=2)
    else:
        draw.rectangle((left, top, left + 15, top + 15), fill=WHITE, outline=FRAME, width=2)
    _text(image, w.box, w.label, INK, left=28)


def _textfield(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    draw.rectangle(_inset(w.box, 2), fill=WHITE, outline=t.accent if w.on else FRAME, width=2 if w.on else 1)
    if w.text:
        end = _text(image, w.box, w.text, INK, left=9)
    else:
        _text(image, w.box, w.label, PLACEHOLDER, left=9)
        end = w.box[0] + 9
    if w.on:
        x = min(end + 1, w.box[2] - 6)
        draw.line((x, w.box[1] + 6, x, w.box[3] - 7), fill=INK, width=2)


def _icon(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    draw.rounded_rectangle(_inset(w.box, 2), radius=4, fill=BAR, outline=LINE)
    cx, cy = w.center
    colour = ICON_COLOURS[w.label]
    r = 9
    shape = w.label
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif shape == "square":
        draw.rectangle((cx - r + 1, cy - r + 1, cx + r - 1, cy + r - 1), fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx + r, cy + r - 1), (cx - r, cy + r - 1)], fill=colour)
    elif shape == "diamond":
        draw.polygon([(cx, cy - r - 1), (cx + r, cy), (cx, cy + r + 1), (cx - r, cy)], fill=colour)
    elif shape == "star":
        outer = [(0.0, -1.0), (0.95, -0.31), (0.59, 0.81), (-0.59, 0.81), (-0.95, -0.31)]
        inner = [(0.36, -0.12), (0.22, 0.31), (-0.22, 0.31), (-0.36, -0.12), (0.0, -0.38)]
        points = []
        for i in range(5):
            points += [outer[i], inner[i]]
        draw.polygon([(cx + r * x, cy + r * y + 1) for x, y in points], fill=colour)
    elif shape == "heart":
        draw.ellipse((cx - r, cy - 7, cx, cy + 2), fill=colour)
        draw.ellipse((cx, cy - 7, cx + r, cy + 2), fill=colour)
        draw.polygon([(cx - r, cy - 1), (cx + r, cy - 1), (cx, cy + r)], fill=colour)
    elif shape == "cross":
        draw.rectangle((cx - 3, cy - r, cx + 3, cy + r), fill=colour)
        draw.rectangle((cx - r, cy - 3, cx + r, cy + 3), fill=colour)
    elif shape == "moon":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        draw.ellipse((cx - r + 6, cy - r - 3, cx + r + 6, cy + r - 3), fill=BAR)


def _status(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    x1, y1, x2, y2 = w.box
    draw.rectangle((x1 + 1, y1, x2 - 2, y2 - 2), fill=BAR)
    draw.line((x1 + 1, y1, x2 - 2, y1), fill=LINE)
    _text(image, w.box, w.label, (60, 72, 80), left=10)


def _message(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    _text(image, w.box, w.label, INK, left=14)


def _toast(image: Image.Image, draw: ImageDraw.ImageDraw, w: Widget, t: Theme) -> None:
    x1, y1, x2, y2 = w.box
    draw.rectangle((x1, y1, x2 - 1, y2 - 1), fill=TOAST)
    cy = (y1 + y2) // 2
    draw.ellipse((x1 + 9, cy - 6, x1 + 21, cy + 6), fill=(250, 196, 46))
    prefix, noted = notice_layout(w.label)
    _text(image, w.box, prefix, WHITE, left=_NOTICE_TEXT_LEFT)
    first = x1 + _prefix_cells(prefix) * CELL
    for i, char in enumerate(noted):
        _text(image, (first + i * CELL, y1, first + (i + 1) * CELL, y2), char, WHITE)


_NOTICE_TEXT_LEFT = 28  # the prefix of a notice starts this far right of its box, after the icon


def notice_layout(label: str) -> tuple[str, str]:
    """A notice's label split into its prefix and the noted text ("Note: Zoom" -> ("Note:", "Zoom"), "Code 964" ->
    ("Code", "964")): the prefix is drawn as one run of text, the noted text one character per cell.

    One character per 28 px cell (one image token each) because a run of 15 px text puts two or three characters on
    a cell: gt18 had the digits of a code decodable from every layer, yet copied 8 of 60 right (teacher-forced)."""
    prefix, _, noted = label.rpartition(" ")
    return prefix, noted


def _prefix_cells(prefix: str) -> int:
    """Cells from a notice's left edge to its first noted character: the icon and the prefix, 6 px apart."""
    return -(-(_NOTICE_TEXT_LEFT + text_width(prefix, FONT_SIZE) + 6) // CELL)


def notice_cells(label: str) -> int:
    """How many cells wide the notice showing ``label`` is (`notice_layout`)."""
    prefix, noted = notice_layout(label)
    return _prefix_cells(prefix) + len(noted)


def notice_char_centres(w: Widget) -> list[int]:
    """The x of the middle of each character of a notice's (toast's) label, as `paint` draws it: those of the noted
    text are the middles of their cells."""
    prefix, noted = notice_layout(w.label)
    left = w.box[0] + _NOTICE_TEXT_LEFT
    run = w.label[:len(w.label) - len(noted)]  # the prefix and its space
    first = w.box[0] + _prefix_cells(prefix) * CELL
    return ([left + (text_width(run[:i], FONT_SIZE) + text_width(run[:i + 1], FONT_SIZE)) // 2
             for i in range(len(run))] + [first + i * CELL + CELL // 2 for i in range(len(noted))])


_PAINTERS: dict[str, Callable[[Image.Image, ImageDraw.ImageDraw, Widget, Theme], None]] = {
    "desktop": _desktop, "menubar": _menubar, "logo": _logo, "clock": _label, "menu": _menu,
    "dropdown": _dropdown, "menuitem": _menuitem, "window": _window, "title": _title, "list": _list,
    "listitem": _listitem, "button": _button, "checkbox": _checkbox, "textfield": _textfield, "icon": _icon,
    "status": _status, "dialog": _dialog, "text": _message, "toast": _toast,
}
