"""The words, icons, screen sizes and fixed texts of synthdesk.

`WORDS` are the labels of menus, menu items, buttons, list items, checkboxes, text-field placeholders, window
titles and the texts the tasks ask to type. They are 3 to 8 letters long and visually distinct: no two share their
first three letters, and none collides with a fixed UI word (`RESERVED`) or an icon name. `ICONS` are the shapes
drawn on icon buttons; an icon's label is its shape name (`click star`).

Screen sizes are multiples of 28 px (ViT patch 14 x spatial merge 2), so a Qwen2.5-VL image processor with
`max_pixels >= W * H` leaves the screenshot unchanged (smart_resize is the identity) and the model-image pixels are
the screen pixels. One image token covers one 28 x 28 cell; every widget is cell-aligned, at least one cell tall and
two cells wide.
"""

from __future__ import annotations

from typing import Final

WORDS: Final[tuple[str, ...]] = (
    "Music", "Photos", "Videos", "Journal", "Mail", "Tiger", "Camera", "Clock", "Games", "Books",
    "Wallet", "Weather", "Fitness", "Radio", "Garden", "Travel", "Kitchen", "Sports", "Movies", "Podcast",
    "Chat", "Files", "Backup", "Print", "Share", "Export", "Import", "Rename", "Archive", "Copy",
    "Paste", "Zoom", "Theme", "Layout", "Lemon", "Colors", "Sound", "Network", "Battery", "Storage",
    "Security", "Profile", "Friends", "Zebra", "Orders", "Budget", "Invoice", "Report", "Sketch", "Tables",
    "Yogurt", "Slides", "Planet", "Rocket", "Anchor", "Bridge", "Castle", "Forest", "River", "Island",
)
"""The 60 label words."""

ICONS: Final[tuple[str, ...]] = ("circle", "square", "triangle", "star", "heart", "diamond", "cross", "moon")
"""Icon shapes; each is drawn in its own colour (`tasks.synthdesk.render`)."""

OK: Final = "OK"
CANCEL: Final = "Cancel"
DELETE: Final = "Delete"
SEARCH: Final = "Search"
READY: Final = "Ready"
RESERVED: Final[tuple[str, ...]] = (OK, CANCEL, DELETE, SEARCH, READY, "Note", "Code", "New")
"""Fixed UI words: dialog buttons, the delete button, the search field, the status bar, notice prefixes."""

CODE_RANGE: Final = (100, 999)
"""Codes shown in notices are integers in this range (inclusive): 900 candidates."""

SCREEN_SIZES: Final[tuple[tuple[int, int], ...]] = ((448, 336), (504, 364), (420, 308))
"""(width, height) in pixels: 16 x 12, 18 x 13 and 15 x 11 cells (192, 234 and 165 image tokens)."""

CELL: Final = 28
"""Grid cell in pixels: one image token after the 2 x 2 merge of 14 px patches."""

FONT_SIZE: Final = 15
"""Label font size in pixels (Pillow's embedded FreeType font)."""
TITLE_FONT_SIZE: Final = 16
"""Window, dialog and menu-bar font size in pixels."""
