"""Errors raised by the compression package.

``CompressionError`` is the root; catch it to handle every failure of this package at once.
"""

from __future__ import annotations

__all__ = ["CapacityError", "CompressionError", "UnsupportedModelError"]


class CompressionError(Exception):
    """Root of the compression package's errors (a bug in our use of the model or its cache)."""


class CapacityError(CompressionError, ValueError):
    """A budget (or cap) leaves no room beyond the protected window on this input: ``window >= capacity``."""


class UnsupportedModelError(CompressionError, ValueError):
    """The model's class / ``config.model_type`` has no entry in ``compression.models.ADAPTERS``.

    The message names the model class and its ``model_type``; ``model_class`` and ``model_type`` keep them.
    """

    def __init__(self, model_class: str, model_type: str | None, detail: str = "") -> None:
        self.model_class = model_class
        self.model_type = model_type
        supported = ""
        try:  # late import: models imports this module
            from compression.models import ADAPTERS

            supported = f"; supported model_type values: {sorted(ADAPTERS)}"
        except ImportError:  # pragma: no cover - only during a broken install
            pass
        tail = f": {detail}" if detail else ""
        super().__init__(
            f"KV compression does not support {model_class} (config.model_type={model_type!r}){tail}{supported}"
        )
