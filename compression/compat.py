"""The private call conventions of the installed transformers, read in one place.

transformers renames keywords between minor releases. Code that guesses a name gets None and does nothing (5.24
renamed the attention modules' cache keyword, and a hook that read the old name compressed nothing without a word).
So every reader of the cache, in hooks, session and engine, goes through this module, and it knows the keyword of
each supported release from an explicit table:

==================  =====================================  ==========================================
transformers        attention forward / ``generate`` cache  ``generate`` takes ``cache_position``
==================  =====================================  ==========================================
5.2 ... 5.23        ``past_key_values``                      yes (5.2: logical unless given; we give physical)
5.24 ... 5.25       ``cache``                                no (derived from the physical cache length)
==================  =====================================  ==========================================

``TESTED_RANGE`` is what CI runs (the oldest and the newest release allowed by ``pyproject.toml``). A release outside
the table is refused at import, naming the version, rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import transformers
from packaging.version import Version
from transformers import GenerationMixin

__all__ = [
    "TRANSFORMERS_VERSION",
    "TESTED_RANGE",
    "CACHE_KEYWORD",
    "GENERATE_TAKES_CACHE_POSITION",
    "cache_of",
    "cache_kwargs",
    "describe",
]

TRANSFORMERS_VERSION = Version(transformers.__version__)
TESTED_RANGE = (Version("5.2.0"), Version("5.25.0"))  # CI runs both ends; pyproject: >=oldest,<next minor

# (first release, cache keyword) in release order; a release uses the last row whose first release it has reached.
_CACHE_KEYWORDS: tuple[tuple[Version, str], ...] = (
    (Version("5.2.0"), "past_key_values"),
    (Version("5.24.0.dev0"), "cache"),
)


def _cache_keyword(version: Version) -> str:
    if version < _CACHE_KEYWORDS[0][0] or version.major != _CACHE_KEYWORDS[0][0].major:
        raise ImportError(
            f"transformers {version} is not supported: the cache keyword is known for transformers "
            f">={_CACHE_KEYWORDS[0][0]},<{_CACHE_KEYWORDS[0][0].major + 1} (tested {TESTED_RANGE[0]} and "
            f"{TESTED_RANGE[1]}); install a release in that range"
        )
    return [keyword for since, keyword in _CACHE_KEYWORDS if version >= since][-1]


CACHE_KEYWORD: str = _cache_keyword(TRANSFORMERS_VERSION)
"""Keyword under which the attention modules receive the cache, and under which ``generate`` takes it."""

GENERATE_TAKES_CACHE_POSITION: bool = hasattr(GenerationMixin, "_get_initial_cache_position")
"""5.2's ``generate`` derives ``cache_position`` from the input length (logical) unless it is given; later
releases dropped the argument and size everything from the physical cache length."""


def cache_of(kwargs: Mapping[str, Any]) -> Any:
    """The cache object in an attention module's forward kwargs (None when the forward runs without a cache)."""
    return kwargs.get(CACHE_KEYWORD)


def cache_kwargs(cache: Any) -> dict[str, Any]:
    """``{keyword: cache}`` for ``model.generate`` / ``model(...)`` in the installed release."""
    return {CACHE_KEYWORD: cache}


def describe() -> str:
    """One phrase for error messages: the release and the keyword this module looks for."""
    return f"transformers {TRANSFORMERS_VERSION} (cache keyword {CACHE_KEYWORD!r})"
