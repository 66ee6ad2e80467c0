"""The action layer: typed actions, model-output parsers, coordinate spaces, key names and executors.

Imports nothing heavy: no torch, no transformers; pyautogui and mss are imported only inside the executors that use
them, so this package works headless.
"""

from actions.coords import ScreenGeometry, normalize_point, smart_resize
from actions.errors import ActionError, ActionParseError, CoordinateError, ExecutorNotFoundError, NotAnExecutorError
from actions.keys import normalize_key, split_hotkey
from actions.opencua import parse_opencua
from actions.render import to_pyautogui_code
from actions.uitars import parse_uitars, render_uitars
from actions.schema import (
    ACTION_ADAPTER,
    ACTION_TYPES,
    Action,
    CallUser,
    Click,
    Drag,
    Finished,
    Hotkey,
    KeyDown,
    KeyUp,
    LongPress,
    Move,
    OpenApp,
    ParsedOutput,
    PressBack,
    PressHome,
    Scroll,
    Select,
    Type,
    Wait,
)

__all__ = [
    "ACTION_ADAPTER", "ACTION_TYPES", "Action", "ActionError", "ActionParseError", "CallUser", "Click",
    "CoordinateError", "Drag", "ExecutorNotFoundError", "Finished", "Hotkey", "KeyDown", "KeyUp", "LongPress", "Move",
    "NotAnExecutorError", "OpenApp", "ParsedOutput", "PressBack", "PressHome", "ScreenGeometry", "Scroll", "Select", "Type", "Wait", "normalize_key",
    "normalize_point", "parse_opencua", "parse_uitars", "render_uitars", "smart_resize", "split_hotkey", "to_pyautogui_code",
]
