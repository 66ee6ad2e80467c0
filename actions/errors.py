"""Errors of the action layer. Model output is untrusted data: every problem with it is an `ActionParseError`."""

from __future__ import annotations


class ActionError(Exception):
    """Root of the action layer's errors."""


class ActionParseError(ActionError, ValueError):
    """A model output could not be turned into actions.

    Attributes:
        text: the offending text (the whole output, or the fragment at fault).
        reason: what was wrong, in words.
        position: character offset of the fault in `text`, when known.
    """

    def __init__(self, reason: str, text: str, position: int | None = None) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        where = f" at offset {position}" if position is not None else ""
        super().__init__(f"{reason}{where}: {_excerpt(text)!r}")


class CoordinateError(ActionError, ValueError):
    """A point lies outside the image or screen it should be on."""


class ExecutorNotFoundError(ActionError, LookupError):
    """An executor name resolves to nothing (no built-in, entry point or `module:Class`)."""


class NotAnExecutorError(ActionError, TypeError):
    """An executor spec resolves to something that is not an executor (or cannot be built into one)."""


def _excerpt(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
