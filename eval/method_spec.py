"""Compression methods on the command line: `name` or `name(key=value, ...)`, parsed, never evaluated.

Grammar (one spec; `--method` takes a comma-separated list, commas inside parentheses belong to the spec):

    spec   := NAME | NAME "(" [option ("," option)*] ")"
    option := KEY "=" value
    value  := true | false | none | INT | FLOAT | 'quoted' | "quoted" | bare-word

`NAME` is a key of `compression.METHODS` (`METHOD_NAMES` here, so that a config validates without torch) and each
`KEY` a field of its dataclass, except `budget` and `max_tokens` (the sweep's `--budget` / `--max-tokens`) and
`head_layout` (a transformers cache stores KV heads only). Examples: `gui_kv(alpha=0)` (saliency off),
`gui_kv(temporal=false)`, `gui_kv(temporal_basis=principal)`, `gui_kv(saliency_source=residual)`,
`recency(decay=0.25)`, `random(seed=3)`, `snapkv(window=4)`.

`parse_method` checks the syntax and the name (`ConfigError`); `build_method` checks the options against the
method's fields and types and builds it, so an unknown or ill-typed option fails before anything runs. Specs are
kept in a canonical spelling (`str(MethodSpec)`: no spaces, `true`/`false`, numbers as `{:g}`), which names the run.
"""

from __future__ import annotations

import math
import re
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict

from eval.errors import ConfigError

__all__ = ["METHOD_NAMES", "MethodSpec", "Value", "build_method", "parse_method", "split_methods", "with_option"]

#: The compression registry's names (`compression.METHODS`), in the order the CLI lists them.
METHOD_NAMES: tuple[str, ...] = ("full", "random", "recency", "snapkv", "pyramidkv", "vlcache", "gui_kv")
#: Fields that are not options: the sweep sets them, or a cache cannot hold the result.
_NOT_OPTIONS = {"budget": "--budget", "max_tokens": "--max-tokens", "head_layout": None}

Value = Union[bool, int, float, str, None]
_SPEC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.S)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_INT = re.compile(r"^[+-]?\d+$")


class MethodSpec(BaseModel):
    """A parsed spec: the registry name and its options in the order given (no key twice)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    options: tuple[tuple[str, Value], ...] = ()

    def __str__(self) -> str:
        if not self.options:
            return self.name
        return f"{self.name}(" + ",".join(f"{k}={_format(v)}" for k, v in self.options) + ")"

    @property
    def kwargs(self) -> dict[str, Value]:
        return dict(self.options)


def _format(value: Value) -> str:
    if value is None or isinstance(value, bool):
        return {None: "none", True: "true", False: "false"}[value]
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return value if _BARE.match(value) and value.lower() not in ("true", "false", "none") else repr(value)


def _value(text: str, where: str) -> Value:
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if _INT.match(t):
        return int(t)
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    try:
        number = float(t)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number):
            raise ConfigError(f"{where}: {t!r} is not a finite number")
        return number
    if _BARE.match(t):
        return t
    raise ConfigError(f"{where}: cannot read the value {t!r} (a number, true/false, none, a word or a quoted string)")


def _split_top(text: str, where: str) -> list[str]:
    """`text` split on the commas outside parentheses and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"{where}: unbalanced ')'")
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth or quote:
        raise ConfigError(f"{where}: unbalanced {'quote' if quote else 'parenthesis'}")
    parts.append(text[start:])
    return parts


def split_methods(text: str) -> list[str]:
    """`"full,gui_kv(alpha=0,temporal=false)"` -> ["full", "gui_kv(alpha=0,temporal=false)"] (ConfigError when
    parentheses or quotes do not balance, or an item is empty)."""
    items = [p.strip() for p in _split_top(text, f"--method {text!r}")]
    if not text.strip() or any(not p for p in items):
        raise ConfigError(f"--method {text!r}: empty method name; use e.g. gui_kv,full or 'gui_kv(alpha=0)'")
    return items


def parse_method(text: str) -> MethodSpec:
    """One spec (module docstring); ConfigError for bad syntax, an unknown name or a key given twice."""
    where = f"--method {text!r}"
    match = _SPEC.match(text)
    if not match:
        raise ConfigError(f"{where}: expected NAME or NAME(key=value, ...), e.g. gui_kv(alpha=0)")
    name, body = match.group(1), match.group(2)
    if name not in METHOD_NAMES:
        raise ConfigError(f"{where}: unknown method {name!r}; allowed: {', '.join(METHOD_NAMES)}")
    options: list[tuple[str, Value]] = []
    if body is not None and body.strip():
        for item in _split_top(body, where):
            key, eq, raw = item.partition("=")
            key = key.strip()
            if not eq or not _KEY.match(key):
                raise ConfigError(f"{where}: {item.strip()!r} is not key=value")
            if key in dict(options):
                raise ConfigError(f"{where}: option {key!r} is given twice")
            options.append((key, _value(raw, f"{where}, option {key}")))
    return MethodSpec(name=name, options=tuple(options))


def _coerce(cls: type, key: str, value: Value, hint: Any, where: str) -> Value:
    """`value` as the field's type (ints are floats where a float is expected); ConfigError otherwise."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union and type(None) in args:  # Optional[X]
        if value is None:
            return None
        rest = [a for a in args if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else hint
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {key}={_format(value)} is not one of {', '.join(map(str, args))}")
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    if hint in (bool, int, float, str):
        article = "an" if hint is int else "a"
        raise ConfigError(f"{where}: {key} takes {article} {hint.__name__}, got {_format(value)}")
    raise ConfigError(f"{where}: option {key} of {cls.__name__} ({hint}) cannot be set from the command line")


def with_option(spec: str, key: str, value: Value) -> str:
    """`spec` (canonical spelling) with `key=value` added last, unless it sets `key` itself: what the user wrote
    wins. ConfigError as `parse_method`; the option is checked when the method is built."""
    parsed = parse_method(spec)
    if key in parsed.kwargs:
        return str(parsed)
    return str(MethodSpec(name=parsed.name, options=(*parsed.options, (key, value))))


def build_method(spec: MethodSpec | str, budget: float | None = None, max_tokens: int | None = None) -> Any:
    """The `compression` method of `spec` at `budget` percent or `max_tokens` entries (FullKV takes neither unless
    `max_tokens`: a full cache that drops frames to fit). ConfigError for an unknown option, a value of the wrong
    type, or one the method refuses (its own message)."""
    import dataclasses

    from compression import METHODS, FullKV

    spec = parse_method(spec) if isinstance(spec, str) else spec
    cls = METHODS[spec.name]
    where = f"--method {str(spec)!r}"
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in spec.options:
        if key in _NOT_OPTIONS:
            flag = _NOT_OPTIONS[key]
            reason = f"set it with {flag}" if flag else "a transformers cache stores KV heads only"
            raise ConfigError(f"{where}: {key} is not a method option ({reason})")
        if key not in fields:
            allowed = sorted(fields - set(_NOT_OPTIONS))
            raise ConfigError(f"{where}: unknown option {key!r} of {spec.name}; its options: {', '.join(allowed)}")
        kwargs[key] = _coerce(cls, key, value, hints[key], where)
    if max_tokens is not None:
        kwargs.update(budget=None, max_tokens=int(max_tokens))
    elif cls is not FullKV and budget is not None:
        kwargs["budget"] = float(budget)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None
