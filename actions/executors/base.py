"""The executor contract: `Executor` (a Protocol) and `ExecResult`, the answer it gives for every action.

An executor performs actions and nothing else: it never sleeps for `wait`, never retries and never decides when a
run ends. It answers every action it is given; an action it cannot perform gets `status="unsupported"` with the
reason in `detail`, never silence. Control flow (retries, `wait`, stop conditions) belongs to the loop.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from actions.coords import ScreenGeometry
from actions.errors import NotAnExecutorError
from actions.schema import ACTION_TYPES, Action, Drag

#: What happened to one action. "finished" and "call_user" echo those actions; "error" means the machine could not
#: do what the executor supports (a tool missing or failing), as opposed to "unsupported" (not this executor's job).
ExecStatus = Literal["ok", "unsupported", "finished", "call_user", "error"]

#: Action types only a phone can perform; desktop executors answer them with "unsupported".
MOBILE_ACTIONS: frozenset[str] = frozenset({"long_press", "open_app", "press_home", "press_back"})
#: Action types that need a page's DOM (choosing a drop-down option); pixel-level executors answer "unsupported".
WEB_ACTIONS: frozenset[str] = frozenset({"select"})
#: Action types a desktop executor performs (every action type but the phone and DOM ones).
DESKTOP_ACTIONS: frozenset[str] = ACTION_TYPES - MOBILE_ACTIONS - WEB_ACTIONS


class ExecResult(BaseModel):
    """An executor's answer to one action.

    status: see `ExecStatus`.
    xy_input: the input coordinates used (the start point of a drag); None for actions without a point, and for
        actions that were not performed.
    xy_input_end: the end point of a drag, in input coordinates; None otherwise.
    detail: how the action was done or why not (e.g. "typed with xdotool", "no key code for 'volumeup'"); the
        dry-run executor puts the equivalent pyautogui code here.
    description: the action in words, in input coordinates ("left click at (960, 540)").
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: ExecStatus
    xy_input: tuple[int, int] | None = None
    xy_input_end: tuple[int, int] | None = None
    detail: str = ""
    description: str = ""


@runtime_checkable
class Executor(Protocol):
    """Performs actions on some device.

    name: the registry key and `--executor` value.
    supports: the action types (`Action.type`) it can perform; others get status "unsupported". The loop checks
        this against the model family's action space before step 1.
    execute(action, geometry): perform `action`, whose points are normalised to the screenshot that `geometry`
        describes; `geometry.to_input` gives the coordinates to inject.
    """

    name: ClassVar[str]
    supports: ClassVar[frozenset[str]]

    def execute(self, action: Action, geometry: ScreenGeometry) -> ExecResult: ...


def input_points(action: Action, geometry: ScreenGeometry) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """(xy_input, xy_input_end) of `action`: its point(s) in input coordinates, None where it has none."""
    if isinstance(action, Drag):
        return geometry.to_input(action.xy_start), geometry.to_input(action.xy_end)
    xy = getattr(action, "xy", None)  # Click, Move, LongPress; Scroll when it has a point
    return (geometry.to_input(xy) if xy is not None else None), None


#: What an executor must provide, in words (error messages).
EXECUTOR_CONTRACT = ("an executor is a class (or a factory returning an object) with a str `name`, a frozenset "
                     "`supports` of action types and an `execute(action, geometry) -> ExecResult` method")


def check_executor(obj: object, origin: str) -> None:
    """Raise `NotAnExecutorError` (a TypeError) naming `origin` unless `obj` has a str `name`, a frozenset
    `supports` and an `execute`."""
    problems = []
    if not isinstance(getattr(obj, "name", None), str):
        problems.append("a str `name`")
    if not isinstance(getattr(obj, "supports", None), frozenset):
        problems.append("a frozenset `supports`")
    if not callable(getattr(obj, "execute", None)):
        problems.append("an `execute(action, geometry)` method")
    if problems:
        raise NotAnExecutorError(f"{origin} gave {type(obj).__name__}, which lacks {', '.join(problems)}; "
                                 f"{EXECUTOR_CONTRACT}")
