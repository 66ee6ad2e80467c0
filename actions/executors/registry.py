"""Finding an executor by name: the built-ins, then the `guikv.executors` entry points, then `module:Class`.

A plug-in package declares its executor in its own pyproject.toml and needs nothing from us at import time:

    [project.entry-points."guikv.executors"]
    adb = "my_package.adb:AdbExecutor"

after which `--executor adb` (or `get_executor("adb", serial="emulator-5554")`) builds it. Without packaging,
`get_executor("my_package.adb:AdbExecutor")` imports the class directly. The object built must have a str `name`,
a frozenset `supports` and an `execute(action, geometry)` method (`actions.executors.base.Executor`); a spec that
names anything else (`os:system`, `json:JSONDecoder`) raises `NotAnExecutorError` before or instead of running it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from actions.errors import ExecutorNotFoundError, NotAnExecutorError
from actions.executors.base import EXECUTOR_CONTRACT, Executor, check_executor
from actions.executors.dry_run import DryRunExecutor
from actions.executors.pyautogui import PyAutoGUIExecutor
from actions.executors.record import RecordExecutor

logger = logging.getLogger(__name__)

#: The entry-point group plug-in packages declare executors in.
ENTRY_POINT_GROUP = "guikv.executors"

#: Built-in executors by name; these names win over entry points of the same name.
BUILTIN_EXECUTORS: dict[str, Callable[..., Any]] = {
    "pyautogui": PyAutoGUIExecutor,
    "dry-run": DryRunExecutor,
    "record": RecordExecutor,
}


def available_executors() -> dict[str, str]:
    """Every executor name that `get_executor` resolves, mapped to its `module:Class` target: the built-ins first,
    then the installed entry points of group `guikv.executors`, sorted by name."""
    found = {name: f"{cls.__module__}:{cls.__qualname__}" for name, cls in BUILTIN_EXECUTORS.items()}
    for name, point in sorted(_entry_points().items()):
        found.setdefault(name, point.value)
    return found


def get_executor(spec: str, **kwargs: Any) -> Executor:
    """Build the executor `spec` names, passing `kwargs` to its constructor.

    `spec` is a built-in name (`pyautogui`, `dry-run`, `record`), an entry-point name of group `guikv.executors`,
    or `package.module:Class`. Raises `ExecutorNotFoundError` (listing the available names) when it resolves to
    nothing, and `NotAnExecutorError` (a TypeError) when it names a class without `execute` (refused before it is
    built), something that cannot be called with `kwargs`, or something whose product lacks `name`, `supports` or
    `execute`. An entry point or module that fails to import raises its own error: that is a bug in the plug-in,
    not an unknown name.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"executor spec={spec!r} must be a non-empty string")
    spec = spec.strip()
    if spec in BUILTIN_EXECUTORS:
        factory, origin = BUILTIN_EXECUTORS[spec], f"built-in executor {spec!r}"
    elif (point := _entry_points().get(spec)) is not None:
        factory, origin = point.load(), f"entry point {spec!r} ({point.value})"
    elif ":" in spec:
        factory, origin = _import_target(spec), f"executor {spec!r}"
    else:
        raise ExecutorNotFoundError(_not_found(spec))
    executor = _build(factory, origin, kwargs)
    check_executor(executor, origin)
    logger.debug("executor %s from %s", getattr(executor, "name", "?"), origin)
    return executor


def _build(factory: Callable[..., Any], origin: str, kwargs: dict[str, Any]) -> Any:
    """`factory(**kwargs)`. A class without an `execute` is refused before it is built; a call whose arguments do not
    fit (`os:system` needs a command) means the spec names no executor. A TypeError raised inside the factory's own
    code is a bug in it and propagates as it is."""
    name = getattr(factory, "__qualname__", repr(factory))
    if isinstance(factory, type) and not callable(getattr(factory, "execute", None)):
        raise NotAnExecutorError(f"{origin} names the class {name}, which has no `execute` method; "
                                 f"{EXECUTOR_CONTRACT}")
    try:
        return factory(**kwargs)
    except TypeError as e:
        if e.__traceback__ is not None and e.__traceback__.tb_next is not None:
            raise  # raised inside the factory's body, not by the call itself
        raise NotAnExecutorError(f"{origin}: calling {name}() failed ({e}); {EXECUTOR_CONTRACT}") from e


def _entry_points() -> dict[str, EntryPoint]:
    """Entry points of `ENTRY_POINT_GROUP` by name; for a name declared twice the first one found is kept."""
    points: dict[str, EntryPoint] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in BUILTIN_EXECUTORS:
            _warn_once(f"entry point {point.name} = {point.value} is shadowed by the built-in executor of that name")
        elif point.name in points:
            _warn_once(f"entry point {point.name} is declared twice ({points[point.name].value} and {point.value}); "
                       "using the first")
        else:
            points[point.name] = point
    return points


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning("%s", message)


def _import_target(spec: str) -> Callable[..., Any]:
    """The object `module:attr.path` names; `ExecutorNotFoundError` when the module or attribute does not exist."""
    module_name, _, qualname = spec.partition(":")
    if not module_name or not qualname:
        raise ExecutorNotFoundError(_not_found(spec))
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is None or not (module_name == e.name or module_name.startswith(e.name + ".")):
            raise  # the module exists but one of its own imports is missing
        raise ExecutorNotFoundError(f"{_not_found(spec)} (no module named {e.name!r})") from e
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as e:
            raise ExecutorNotFoundError(f"{_not_found(spec)} ({module_name!r} has no {qualname!r})") from e
    if not callable(target):
        raise ExecutorNotFoundError(f"{_not_found(spec)} ({qualname!r} is not a class or factory)")
    return target


def _not_found(spec: str) -> str:
    names = ", ".join(available_executors())
    return f"no executor {spec!r}; available: {names}; or give 'package.module:Class'"
