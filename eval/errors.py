"""The replay's error type (re-exported by `eval.config`, where it has always been imported from)."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """The replay cannot run as configured; the message names the field, the value and what is allowed."""
