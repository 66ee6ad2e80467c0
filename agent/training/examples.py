"""Turn a synthdesk training episode into model inputs, reply labels and the dense targets of the auxiliary losses.

One example is one whole task rendered exactly as the live agent renders it (`agent.context.Transcript`,
incremental layout, gui-tiny's system and task prompts), with every gold reply in place: a single causal forward
then teaches every step at once (the reply to screen t sees screens 0..t and replies 0..t-1, as at run time).

Dense targets (training aids only; the shipped model answers through `generate` alone):

* per image token (28 px cell): the vocabulary class of the label drawn on it (`CELL_CLASSES`), its row and its
  column, whether the label is drawn inverted (white on the accent colour: an open menu's title, a selected list
  item, a dialog's default button), and on the cells a "Code NNN" notice draws a digit on, that digit in its slot
  (0 to 2);
* pointers: for each reply token that is a coordinate digit (or a digit of a typed code from a notice), the image
  tokens it should attend to, in the layer before the last (``"coord"``), which leaves the last layer to turn the
  copied position into digits. An x digit points at the target's cells in the column of its click point (the
  middle cell, `tasks.synthdesk.widgets.box_click_point`), a y digit at those in its row: the column (row) read
  there is exactly the one the digits spell. Memory clicks (a word noted earlier) also point an earlier layer
  (``"hop"``) at the notice. Each character of the noted word or code in a memory step's Thought points (``"hop"``)
  at the cells the notice draws it on; a typed code's digits point there too (``"coord"``) and copy the Thought's;
* copy pointers: each reply position that spells a letter of a Thought word, or of a type action's text, which the
  task's instruction names (the target, "Music" in "click Music") attends, with another head, to that same letter
  of the word in the instruction.
  One key per query: attention spread over the whole word hands the output a bag of letters from which the first
  one cannot be read (a model trained so attended the right word and still spelled a frequent one).

Shape letters: L tokens of the example, C cells (image tokens) of all its screens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from agent import prompts
from agent.context import Transcript
from tasks.synthdesk.training import INVERTED_ROLES, TrainEpisode
from tasks.synthdesk.render import notice_char_centres
from tasks.synthdesk.vocab import CELL, ICONS, RESERVED, WORDS
from tasks.synthdesk.widgets import Widget

__all__ = ["CELL_CLASSES", "Example", "Pointer", "POINTER_LAYERS", "cell_widgets", "encode_episode", "MAX_ROWS",
           "MAX_COLS"]

NONE, OTHER = "<none>", "<other>"
CELL_CLASSES: tuple[str, ...] = (*WORDS, *ICONS, *RESERVED, OTHER, NONE)
_CLASS = {word: i for i, word in enumerate(CELL_CLASSES)}
_CONTAINERS = {"desktop", "window", "dialog", "list", "menubar", "dropdown"}
_CODE = re.compile(r"Code (\d{3})")
MAX_ROWS, MAX_COLS = 13, 18
_COORDS = re.compile(r"start_box='\((\d+),(\d+)\)'")
_TYPED = re.compile(r"content='([^']*)'")
_WORD = re.compile(r"[A-Za-z]+")
COPY_HEAD = 2  # a query head on the other KV head than the coordinate pointer's head 0
POINTER_LAYERS = {"last": -1, "coord": -2, "hop": -3}  # pointer layer name -> index into the LM's layers


@dataclass(frozen=True)
class Pointer:
    """Reply positions whose attention (query head ``head`` of ``layer``) should land on ``keys``: sequence positions
    of image tokens, or of the instruction's word for a copy pointer. layer: a name of `POINTER_LAYERS`."""

    queries: torch.Tensor  # (nq,) int64 positions whose next token is a supervised digit (or letter, when copying)
    keys: torch.Tensor  # (nk,) int64 positions of the tokens to attend to; aligned: (nq,), one per query
    layer: str
    head: int = 0  # the supervised query head (`COPY_HEAD` for copy pointers)
    aligned: bool = False  # query i attends to keys[i] only (copy pointers), not to any of the keys
    recalls: bool = False  # the head's own output names the next token: a noted character of an earlier screen
    axis: str = ""  # coordinate pointers: "x" (the keys share the clicked column) or "y" (the clicked row)

    @property
    def noted(self) -> bool:
        """Whether its queries predict a character a memory step noted from the notice: one of its Thought's
        (``recalls``) or of its typed text (the only ``"coord"`` pointers without an axis)."""
        return self.recalls or (self.layer == "coord" and not self.axis)


@dataclass(frozen=True)
class Example:
    """One tokenised task with its targets (module docstring)."""

    input_ids: torch.Tensor  # (L,) int64
    labels: torch.Tensor  # (L,) int64, -100 outside the replies (reply tokens and their <|im_end|>)
    pixel_values: torch.Tensor  # (patches, C * T * P * P)
    image_grid_thw: torch.Tensor  # (F, 3)
    cell_pos: torch.Tensor  # (C,) positions of the image tokens
    cell_class: torch.Tensor  # (C,) index into CELL_CLASSES
    cell_row: torch.Tensor  # (C,)
    cell_col: torch.Tensor  # (C,)
    cell_digits: torch.Tensor  # (C, 3) digits of a code notice, -100 elsewhere
    cell_inverted: torch.Tensor  # (C,) bool: the cell shows an inverted widget (module docstring)
    pointers: tuple[Pointer, ...]
    kind: str
    # a `lit` task's screens painted without its lit widgets (`TrainEpisode.plain_frames`), None for other tasks,
    # and the cells whose pixels differ between the two (all False without them)
    plain_pixel_values: torch.Tensor | None = None
    cell_lit: torch.Tensor | None = None


def cell_widgets(widgets: tuple[Widget, ...], size: tuple[int, int]) -> list[Widget | None]:
    """Row-major, the widget each cell of a screen of ``size`` shows: the last of ``widgets`` (they are in paint order)
    whose box holds the cell's centre, or None where none does."""
    cols, rows = size[0] // CELL, size[1] // CELL
    shown: list[Widget | None] = [None] * (rows * cols)
    for w in widgets:
        x1, y1, x2, y2 = w.box
        for r in range(max(0, y1 // CELL), min(rows, (y2 + CELL - 1) // CELL)):
            for c in range(max(0, x1 // CELL), min(cols, (x2 + CELL - 1) // CELL)):
                if x1 <= c * CELL + CELL // 2 < x2 and y1 <= r * CELL + CELL // 2 < y2:
                    shown[r * cols + c] = w
    return shown


def _cell_labels(widgets: tuple[Widget, ...], size: tuple[int, int]
                 ) -> tuple[list[int], list[list[int]], list[bool]]:
    """Row-major per-cell class, code digits and inverted look of one screen, each cell as `cell_widgets` shows it.

    A notice's code digit ``i`` labels slot ``i`` of the cells it is drawn on and no other: gt12 to gt17 gave every
    cell of the notice (icon and "Code" too) all three digits, and the digit probe stayed above chance through the
    reading phase."""
    shown = cell_widgets(widgets, size)
    classes = [_CLASS[NONE]] * len(shown)
    digits = [[-100, -100, -100] for _ in shown]
    inverted = [False] * len(shown)
    labelled: dict[int, tuple[int, dict[int, list[int]]]] = {}  # id(widget) -> its class, its cells' digits
    for cell, w in enumerate(shown):
        if w is None:
            continue
        if id(w) not in labelled:
            labelled[id(w)] = _widget_label(w, size)
        classes[cell], drawn = labelled[id(w)]
        digits[cell] = drawn.get(cell, [-100, -100, -100])
        inverted[cell] = w.on and w.role in INVERTED_ROLES
    return classes, digits, inverted


def _widget_label(w: Widget, size: tuple[int, int]) -> tuple[int, dict[int, list[int]]]:
    """The class of ``w``'s cells, and for a code notice the digit per slot of each cell it draws a digit on."""
    label = w.text if w.role == "textfield" and w.text else w.label
    code = _CODE.fullmatch(label) if w.role == "toast" else None
    if w.role in _CONTAINERS:
        return _CLASS[NONE], {}
    if code is None:
        words = [t for t in re.split(r"[^A-Za-z]+", label) if t in _CLASS]
        return (_CLASS[words[-1]] if words else _CLASS[OTHER]), {}
    drawn: dict[int, list[int]] = {}  # cell -> its digit per slot
    for slot, i in enumerate(range(code.start(1), code.end(1))):
        for cell in _char_cells(w, size, i):
            drawn.setdefault(cell, [-100, -100, -100])[slot] = int(label[i])
    return _CLASS["Code"], drawn


def _char_cells(notice: Widget, size: tuple[int, int], i: int) -> list[int]:
    """Row-major cells of the column that character ``i`` of a notice's label is drawn in, on the notice's rows."""
    cols = size[0] // CELL
    col = notice_char_centres(notice)[i] // CELL
    return [r * cols + col for r in range(notice.box[1] // CELL, (notice.box[3] + CELL - 1) // CELL)]


def _box_cells(box: tuple[int, int, int, int], size: tuple[int, int]) -> list[int]:
    cols = size[0] // CELL
    x1, y1, x2, y2 = box
    return [r * cols + c for r in range(y1 // CELL, (y2 + CELL - 1) // CELL)
            for c in range(x1 // CELL, (x2 + CELL - 1) // CELL)]


def encode_episode(episode: TrainEpisode, processor, *, frames: int = 6) -> Example:
    """Render, tokenise and label one training task (see the module docstring)."""
    tokenizer = processor.tokenizer
    transcript = Transcript(prompt=prompts.synthdesk_task_prompt(episode.instruction), frames=frames,
                            mode="incremental", system=prompts.synthdesk_system_prompt(), keep_all_images=True)
    for frame, target in zip(episode.frames, episode.targets):
        transcript.observe(frame)
        transcript.record_reply(target.reply)
    text = processor.apply_chat_template(transcript.messages(), tokenize=False, add_generation_prompt=False)
    batch = processor(text=[text], images=list(episode.frames), return_tensors="pt", add_special_tokens=False)
    ids = batch["input_ids"][0]  # (L,)
    image_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    im_start, im_end = (tokenizer.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>"))
    header = tokenizer.encode("assistant\n", add_special_tokens=False)
    starts = [i + 1 + len(header) for i in (ids == im_start).nonzero().flatten().tolist()
              if ids[i + 1: i + 1 + len(header)].tolist() == header]
    if len(starts) != len(episode.targets):
        raise ValueError(f"found {len(starts)} assistant turns for {len(episode.targets)} gold replies")
    labels = torch.full_like(ids, -100)
    reply_starts = []
    for start, target in zip(starts, episode.targets):
        end = start + int((ids[start:] == im_end).nonzero()[0])
        if tokenizer.decode(ids[start:end]) != target.reply:
            raise ValueError(f"reply tokens do not decode to the gold reply {target.reply!r}")
        labels[start: end + 1] = ids[start: end + 1]
        reply_starts.append(start)
    cell_pos = (ids == image_id).nonzero().flatten()  # (C,)
    classes: list[int] = []
    digits: list[list[int]] = []
    inverted: list[bool] = []
    rows: list[int] = []
    cols: list[int] = []
    frame_offsets = []
    for widgets, frame in zip(episode.layouts, episode.frames):
        frame_offsets.append(len(classes))
        c, d, inv = _cell_labels(widgets, frame.size)
        n_cols = frame.size[0] // CELL
        classes += c
        digits += d
        inverted += inv
        rows += [i // n_cols for i in range(len(c))]
        cols += [i % n_cols for i in range(len(c))]
    if len(classes) != cell_pos.numel():
        raise ValueError(f"{cell_pos.numel()} image tokens but {len(classes)} labelled cells")
    notice = _notice_keys(episode, cell_pos, frame_offsets)
    pointers = []
    for step, (start, target) in enumerate(zip(reply_starts, episode.targets)):
        size = episode.frames[step].size
        if target.action_type == "click" and target.target_box is not None and target.target_point is not None:
            x, y = target.target_point
            cells = _box_cells(target.target_box, size)
            for axis, group, line in (("x", 1, lambda c: c % (size[0] // CELL) == x // CELL),
                                      ("y", 2, lambda c: c // (size[0] // CELL) == y // CELL)):
                keys = cell_pos[[frame_offsets[step] + c for c in cells if line(c)]]
                pointers.append(Pointer(_digit_queries(target.reply, _COORDS, start, (group,)), keys, "coord",
                                        axis=axis))
            if target.memory and notice is not None:
                pointers.append(Pointer(_digit_queries(target.reply, _COORDS, start), notice, "hop"))
        if target.memory:
            pointers += _noted_pointers(episode, step, start, cell_pos, frame_offsets)
    pointers += _copy_pointers(ids, tokenizer, episode.instruction, reply_starts, episode.targets)
    plain_pixels, lit = None, [False] * len(classes)
    if episode.plain_frames:
        plain = processor(text=[text], images=list(episode.plain_frames), return_tensors="pt", add_special_tokens=False)
        if not torch.equal(plain["image_grid_thw"], batch["image_grid_thw"]):
            raise ValueError(f"plain frames of grid {plain['image_grid_thw'].tolist()}, not the screens' "
                             f"{batch['image_grid_thw'].tolist()}")
        plain_pixels = plain["pixel_values"]
        lit = [c for frame, twin in zip(episode.frames, episode.plain_frames, strict=True)
               for c in _changed_cells(frame, twin)]
    return Example(
        input_ids=ids, labels=labels, pixel_values=batch["pixel_values"], image_grid_thw=batch["image_grid_thw"],
        cell_pos=cell_pos, cell_class=torch.tensor(classes), cell_row=torch.tensor(rows),
        cell_col=torch.tensor(cols), cell_digits=torch.tensor(digits).view(-1, 3),
        cell_inverted=torch.tensor(inverted, dtype=torch.bool), pointers=tuple(pointers),
        kind=episode.kind, plain_pixel_values=plain_pixels, cell_lit=torch.tensor(lit, dtype=torch.bool),
    )


def _changed_cells(frame: Image.Image, twin: Image.Image) -> list[bool]:
    """Row-major: whether any pixel of each cell differs between two screens of one size."""
    w, h = frame.size
    rows, cols = h // CELL, w // CELL
    a, b = (np.asarray(im.convert("RGB"))[: rows * CELL, : cols * CELL] for im in (frame, twin))
    return (a != b).any(-1).reshape(rows, CELL, cols, CELL).any(axis=(1, 3)).flatten().tolist()


def _first_notice(episode: TrainEpisode) -> tuple[int, Widget] | None:
    """(screen index, widget) of the first notice (toast) shown: the one memory steps refer to."""
    return next(((f, w) for f, widgets in enumerate(episode.layouts) for w in widgets if w.role == "toast"), None)


def _notice_keys(episode: TrainEpisode, cell_pos: torch.Tensor, offsets: list[int]) -> torch.Tensor | None:
    """Positions of the cells of the first notice."""
    shown = _first_notice(episode)
    if shown is None:
        return None
    f, notice = shown
    return cell_pos[[offsets[f] + i for i in _box_cells(notice.box, episode.frames[f].size)]]


def _noted_pointers(episode: TrainEpisode, step: int, start: int, cell_pos: torch.Tensor, offsets: list[int]
                    ) -> list[Pointer]:
    """The pointers of memory step ``step`` (reply at ``start``) to the text it needs from the notice: the word or
    code the notice gave ("Zoom" of "Note: Zoom", "964" of "Code 964").

    Each of its characters in the Thought ("Click Zoom", "Type 964") attends, in layer ``"hop"``, to the cells that
    character is drawn on, and the head's own output names it (``recalls``: ft18 put its top key on the right cells
    for 50 of 69 held-out noted characters, teacher-forced, and wrote 23 of them: attention alone did not train what
    the head reads, as for the copy pointers before the ``copy`` loss; ft2r, 700 steps with it, wrote 30 of those
    69, the letters better than the digits). In a typed text each attends to them in layer ``"coord"`` and, with
    `COPY_HEAD` of the last layer, to the same character of the Thought (a copy pointer). Without these, gt15ft to
    gt17 wrote Thoughts of a few frequent codes whatever the notice said, and typed codes that were not even their
    own Thought's. Tried and dropped: the Thought's pointers in layer "coord" with a loss making the head's output
    name the digit or word (its probe fixed); trained from scratch (gt19) it lost grounding and episodes (held-out
    steps 53.6% against gt18's 70.7%) and did not write the digits either (memory steps 2/32, as gt18 4/32). Also
    dropped: an aligned copy pointer from each noted character of the Thought to its one notice cell, with query
    head 1 of the last layer (gt21, notices one character per cell): at step 1610 of 1750 it misspelled the
    instruction's words too (episode steps 48.9% against gt18's 82.2%, memory steps 2/32)."""
    shown = _first_notice(episode)
    if shown is None:
        raise ValueError(f"memory step {step} of {episode.instruction!r} has no notice on any screen")
    f, notice = shown
    target = episode.targets[step]
    thought = target.reply.split("\n", 1)[0]
    noted = target.text if target.action_type == "type" else _WORD.findall(thought)[-1]
    at, in_thought = notice.label.rfind(noted or "\0"), thought.rfind(noted or "\0")
    if at < 0 or in_thought < 0:
        raise ValueError(f"memory step {step}: the notice {notice.label!r} and the Thought {thought!r} do not both "
                         f"show the noted text {noted!r}")
    size = episode.frames[f].size
    cells = [cell_pos[[offsets[f] + c for c in _char_cells(notice, size, at + i)]] for i in range(len(noted))]
    out = [Pointer(torch.tensor([start + in_thought + i - 1]), keys, "hop", recalls=True)
           for i, keys in enumerate(cells)]
    typed = _TYPED.search(target.reply)
    if target.action_type == "type" and typed is not None and typed.group(1) == noted:
        out += [Pointer(torch.tensor([start + typed.start(1) + i - 1]), keys, "coord") for i, keys in enumerate(cells)]
        chars = torch.arange(len(noted))
        out.append(Pointer(start + typed.start(1) - 1 + chars, start + in_thought + chars, "last", COPY_HEAD,
                           aligned=True))
    return out


def _copy_pointers(ids: torch.Tensor, tokenizer, instruction: str, reply_starts: list[int],
                   targets) -> list[Pointer]:
    """Copy pointers (module docstring): each word of a reply's Thought line or typed text that the instruction
    names."""
    encoded = tokenizer.encode(instruction, add_special_tokens=False)
    if len(encoded) != len(instruction):
        raise ValueError(f"instruction {instruction!r} is not one token per character")
    at = _find(ids, torch.tensor(encoded))
    words = {m.group(): m.start() for m in _WORD.finditer(instruction)}
    out = []
    for start, target in zip(reply_starts, targets):
        thought = target.reply.split("\n", 1)[0]
        spelled = list(_WORD.finditer(thought))[2:]  # after "Thought" and the verb
        typed = _TYPED.search(target.reply)
        if typed:  # the text of a type action, when the instruction holds it
            spelled += list(_WORD.finditer(target.reply, typed.start(1), typed.end(1)))
        for m in spelled:
            if m.group() in words:
                keys = torch.arange(at + words[m.group()], at + words[m.group()] + len(m.group()))
                queries = torch.arange(start + m.start() - 1, start + m.end() - 1)
                out.append(Pointer(queries, keys, "last", COPY_HEAD, aligned=True))
    return out


def _find(ids: torch.Tensor, part: torch.Tensor) -> int:
    """The first position of ``part`` in ``ids``."""
    windows = ids.unfold(0, part.numel(), 1)  # (L - n + 1, n)
    hits = (windows == part).all(-1).nonzero()
    if hits.numel() == 0:
        raise ValueError("the instruction's tokens are not in the example")
    return int(hits[0])


def _digit_queries(reply: str, pattern: re.Pattern, start: int, groups: tuple[int, ...] = ()) -> torch.Tensor:
    """Positions whose next token is a character inside the pattern's ``groups`` (default: all of them; byte
    tokenizer: one token per char)."""
    m = pattern.search(reply)
    if m is None:
        raise ValueError(f"reply {reply!r} has no {pattern.pattern}")
    chars = [i for g in (groups or range(1, (pattern.groups or 0) + 1)) for i in range(m.start(g), m.end(g))]
    return torch.tensor([start + i - 1 for i in chars], dtype=torch.long)
