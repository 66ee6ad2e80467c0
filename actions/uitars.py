"""Parse UI-TARS replies into typed actions (`parse_uitars`) and write actions back as UI-TARS-1.5 calls
(`render_uitars`, for history turns).

The reply grammar and its variants are in spec-actions.md §1 (formats §1.1-1.3, escaping §1.5, worked examples §1.7,
aliases §1.8). Where the reference parsers have bugs (§3.1), this parser does what §6 asks instead: box tokens are
stripped, every coordinate syntax is read, `Action:` / `Action：` with or without a space is found, names are
lower-cased and aliased, `point=` is renamed only in argument position, content is unescaped as a Python string body
(by hand, never evaluated) with a fallback for unescaped quotes, and empty or off-image coordinates are rejected.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

from pydantic import ValidationError

from actions.coords import normalize_point
from actions.errors import ActionParseError, CoordinateError
from actions.keys import split_hotkey
from actions.schema import (
    Action,
    CallUser,
    Click,
    Direction,
    Drag,
    Finished,
    Hotkey,
    KeyDown,
    KeyUp,
    LongPress,
    Move,
    OpenApp,
    ParsedOutput,
    Point,
    PressBack,
    PressHome,
    Scroll,
    Select,
    Type,
    Wait,
)
from actions.uitars_render import CoordinateMode, coordinate_grid, render_uitars
from actions.uitars_syntax import (
    Call,
    CallArg,
    action_headers,
    blank_think,
    has_section_header,
    read_sections,
    scan_calls,
)

__all__ = ["CoordinateMode", "UITARS_NAME_ALIASES", "parse_uitars", "render_uitars"]

logger = logging.getLogger(__name__)

#: Lower-cased action names -> the canonical UI-TARS name (UI-TARS-desktop `unifyActionType` plus our mapping).
UITARS_NAME_ALIASES: dict[str, str] = {
    "left_single": "click", "left_click": "click",
    "double_click": "left_double",
    "right_click": "right_single",
    "mouse_move": "hover", "move_to": "hover",
    "left_click_drag": "drag", "swipe": "drag",
    "keydown": "press", "key_down": "press",
    "keyup": "release", "key_up": "release",
    "calluser": "call_user",
    "open": "open_app",
    "home": "press_home",
    "back": "press_back",
}

# Argument names renamed only in argument position (never inside values such as type content).
_ARG_ALIASES = {"point": "start_box", "start_point": "start_box", "end_point": "end_box", "hotkey": "key"}
# Arguments whose quoted value may hold unescaped quotes of its own kind.
_FREE_TEXT = frozenset({"content", "app_name"})
_DIRECTIONS: dict[str, Direction] = {"up": "up", "down": "down", "left": "left", "right": "right"}
_COORD_NOISE = re.compile(r"<\|box_start\|>|<\|box_end\|>|</?(?:point|bbox|box)>|[()\[\]]")
_COORD_SPLIT = re.compile(r"[\s,]+")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
_TWO_WORD_KEY = re.compile(r"\b(page|arrow)\s+(up|down|left|right)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Context:
    """text: the whole reply (for errors). grid: (width, height) that coordinates divide by. clamp: clamp points."""

    text: str
    grid: tuple[int, int]
    clamp: bool


def parse_uitars(
    text: str,
    image_size: tuple[int, int],
    coordinates: CoordinateMode = "absolute",
    *,
    clamp: bool = False,
) -> ParsedOutput:
    """Parse one UI-TARS reply into its sections and actions.

    text: the decoded model reply (`Thought: ...\\nAction: click(start_box='(x,y)')`, several calls separated by
        blank lines, optional `<think>` blocks, which are dropped).
    image_size: (width, height) of the image the model saw: the smart-resized one for UI-TARS-1.5 absolute
        coordinates. Ignored when `coordinates="relative1000"` (1.0 models), where values are divided by 1000.
    clamp: move points outside the image to its nearest edge instead of rejecting them.

    Returns a `ParsedOutput` whose actions hold normalised points in [0, 1] and `source` = the call text.
    Raises `ActionParseError` (reason, text, offset) for any reply it cannot turn into actions, and only that;
    `ValueError` / `TypeError` for bad `image_size`, `coordinates` or a non-str `text`.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    ctx = _Context(text=text, grid=coordinate_grid(image_size, coordinates), clamp=bool(clamp))
    cleaned = blank_think(text)
    if not cleaned.strip():
        raise ActionParseError("empty model output", text, 0)
    calls, header_start = _find_calls(cleaned, text)
    actions = tuple(_to_action(call, ctx) for call in calls)
    sections = read_sections(cleaned, header_start)
    return ParsedOutput(
        thought=sections.thought, reflection=sections.reflection, summary=sections.summary, actions=actions,
        raw=text,
    )



def _find_calls(cleaned: str, text: str) -> tuple[list[Call], int]:
    """The calls of the reply and the offset where the prose before them ends.

    Each `Action:` header (line-start ones first) is tried until one is followed by well-formed calls; the error
    of the first is raised if none is. A reply with no header and no Thought/Reflection/Action_Summary section is
    read as bare calls (grounding outputs); a thought with no `Action:` is an error.
    """
    headers = action_headers(cleaned)
    if not headers:
        if has_section_header(cleaned):
            raise ActionParseError("no 'Action:' section after the thought", text, len(text))
        headers = [(0, 0)]
    errors: list[ActionParseError] = []
    for start, end in headers:
        try:
            return scan_calls(cleaned, end, _FREE_TEXT), start
        except ActionParseError as e:
            errors.append(e)
    raise ActionParseError(errors[0].reason, text, errors[0].position)  # the scan saw <think> blanked


class _Args:
    """The arguments of one call after renaming; builders take what they need, `done()` rejects the rest."""

    def __init__(self, call: Call, ctx: _Context) -> None:
        self.call, self.ctx = call, ctx
        self.source = ctx.text[call.start:call.end]  # the original text: <think> tags are blanked in the scan
        self._args: dict[str, CallArg] = {}
        self._used: set[str] = set()
        for arg in call.args:
            key = arg.name.lower()
            key = _ARG_ALIASES.get(key, key)
            if key in self._args:
                raise self.fail(f"argument {key!r} given twice in {call.name}()", arg.position)
            self._args[key] = arg

    def fail(self, reason: str, position: int | None = None) -> ActionParseError:
        return ActionParseError(reason, self.ctx.text, self.call.start if position is None else position)

    def has(self, key: str) -> bool:
        arg = self._args.get(key)
        return arg is not None and arg.value.strip() != ""

    def text(self, key: str, *, required: bool = False) -> str | None:
        """The value of `key` (unescaped), or None when absent; `required` raises when absent."""
        self._used.add(key)
        arg = self._args.get(key)
        if arg is None:
            if required:
                raise self.fail(f"{self.call.name}() needs the argument {key!r}")
            return None
        return arg.value

    def point(self, key: str) -> Point:
        """The normalised point of `key`; absent or blank raises."""
        self._used.add(key)
        arg = self._args.get(key)
        if arg is None:
            raise self.fail(f"missing argument {key!r} of {self.call.name}()")
        return _parse_point(arg, self)

    def optional_point(self, key: str) -> Point | None:
        """The normalised point of `key`, or None when it is absent or blank."""
        return self.point(key) if self.has(key) else None

    def done(self) -> None:
        extra = [a for k, a in self._args.items() if k not in self._used and a.value.strip()]
        if extra:
            raise self.fail(f"unexpected argument {extra[0].name!r} for {self.call.name}()", extra[0].position)


def _to_action(call: Call, ctx: _Context) -> Action:
    args = _Args(call, ctx)
    name = call.name.lower()
    name = UITARS_NAME_ALIASES.get(name, name)
    builder = _BUILDERS.get(name)
    if builder is None:
        raise args.fail(f"unsupported action {call.name!r}")
    try:
        action = builder(args)
    except ValidationError as e:
        raise args.fail(f"invalid {call.name}(): {e.errors()[0].get('msg', e)}") from None
    args.done()
    return action


def _parse_point(arg: CallArg, args: _Args) -> Point:
    """`(x,y)`, `(x1,y1,x2,y2)` (centre), `[..]`, `<point>x y</point>`, `<bbox>..</bbox>`, box tokens -> [0,1]^2."""
    body = _COORD_NOISE.sub(" ", arg.value).strip()
    parts = [p for p in _COORD_SPLIT.split(body) if p]
    if not parts:
        raise args.fail(f"empty coordinates in {arg.name!r} of {args.call.name}()", arg.position)
    if len(parts) not in (2, 4) or not all(_NUMBER.fullmatch(p) for p in parts):
        raise args.fail(
            f"malformed coordinates {arg.value!r} in {arg.name!r}: expected 2 or 4 numbers", arg.position
        )
    nums = [float(p) for p in parts]
    x, y = (nums[0], nums[1]) if len(nums) == 2 else ((nums[0] + nums[2]) / 2, (nums[1] + nums[3]) / 2)
    try:
        return normalize_point(x, y, args.ctx.grid, clamp=args.ctx.clamp)
    except CoordinateError:  # words for the user reading the log and for the model re-asked with them
        width, height = args.ctx.grid
        raise args.fail(
            f"point {arg.value!r} in {arg.name!r} lies outside the image (x in [0, {width:g}], y in [0, {height:g}])",
            arg.position,
        ) from None


def _keys(args: _Args) -> tuple[str, ...]:
    spec = args.text("key", required=True) or ""
    try:
        return split_hotkey(_TWO_WORD_KEY.sub(r"\1\2", spec))
    except ValueError as e:
        raise args.fail(f"bad key in {args.call.name}(key={spec!r}): {e}") from None


def _single_key(args: _Args) -> str:
    keys = _keys(args)
    if len(keys) != 1:
        raise args.fail(f"{args.call.name}() takes one key, got {keys!r}")
    return keys[0]


def _click(args: _Args, *, button: Literal["left", "right"] = "left", clicks: int = 1) -> Action:
    return Click(xy=args.point("start_box"), button=button, clicks=clicks, source=args.source)


def _drag(args: _Args) -> Action:
    return Drag(xy_start=args.point("start_box"), xy_end=args.point("end_box"), source=args.source)


def _type(args: _Args) -> Action:
    content = args.text("content", required=True) or ""
    submit = content.endswith("\n")
    return Type(text=content[:-1] if submit else content, submit=submit, source=args.source)


def _select(args: _Args) -> Action:
    """`select(point, content)` picks a drop-down option (Mind2Web); `select(start_box, end_box)` is a drag."""
    if args.has("end_box"):
        return _drag(args)
    option = args.text("content", required=True) or ""
    return Select(xy=args.point("start_box"), option=option, source=args.source)


def _scroll(args: _Args) -> Action:
    raw = args.text("direction")
    if (raw is None or not raw.strip()) and args.has("end_box"):
        return _drag(args)  # UI-TARS 1.0 mobile: scroll(start_box, end_box) is a swipe
    direction = _DIRECTIONS.get((raw or "").strip().lower())
    if direction is None:
        raise args.fail(f"scroll() needs direction= one of {', '.join(_DIRECTIONS)}, got {raw!r}")
    return Scroll(direction=direction, xy=args.optional_point("start_box"), source=args.source)


def _long_press(args: _Args) -> Action:
    xy = args.point("start_box")
    raw = (args.text("time") or "").strip()
    if not raw:
        return LongPress(xy=xy, source=args.source)
    if not _NUMBER.fullmatch(raw) or not 0 < float(raw) <= 60:
        raise args.fail(f"long_press() time={raw!r} must be seconds in (0, 60]")
    return LongPress(xy=xy, seconds=float(raw), source=args.source)


def _open_app(args: _Args) -> Action:
    name = (args.text("app_name", required=True) or "").strip()
    if not name:
        raise args.fail("open_app() needs a non-empty app_name")
    return OpenApp(app_name=name, source=args.source)


_BUILDERS: dict[str, Callable[[_Args], Action]] = {
    "click": _click,
    "left_double": partial(_click, clicks=2),
    "triple_click": partial(_click, clicks=3),
    "right_single": partial(_click, button="right"),
    "hover": lambda a: Move(xy=a.point("start_box"), source=a.source),
    "drag": _drag,
    "select": _select,
    "hotkey": lambda a: Hotkey(keys=_keys(a), source=a.source),
    "press": lambda a: KeyDown(key=_single_key(a), source=a.source),
    "release": lambda a: KeyUp(key=_single_key(a), source=a.source),
    "type": _type,
    "scroll": _scroll,
    "wait": lambda a: Wait(source=a.source),
    "finished": lambda a: Finished(message=a.text("content") or "", source=a.source),
    "call_user": lambda a: CallUser(reason=a.text("content") or "", source=a.source),
    "long_press": _long_press,
    "open_app": _open_app,
    "press_home": lambda a: PressHome(source=a.source),
    "press_back": lambda a: PressBack(source=a.source),
}
