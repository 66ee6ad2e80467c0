"""What an annotation file holds, in words, for "expected X, found Y" errors.

A user who points one benchmark's loader at another benchmark's file should read which format was expected and
which one was found ("found an array of 34 records; the first is a ScreenSpot-Pro record"), not a parser's complaint about line 1. The
records are recognised by keys that only their format has (spec-benchmarks.md); anything else is described by its
JSON type and keys.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RECORD_KINDS", "describe_json", "record_kind"]

#: (what a record is, the keys that mark it), the more specific first.
RECORD_KINDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("AgentNetBench trajectory", frozenset({"task_id", "steps", "high_level_task_description"})),
    ("AndroidControl episode (std format)", frozenset({"episode_id", "goal", "steps"})),
    ("AndroidControl episode (episodes format)", frozenset({"actions", "step_instructions"})),
    ("AndroidControl step (UI-R1 format)", frozenset({"gt", "image"})),
    ("AndroidControl step (uground format)", frozenset({"action", "screenshot"})),
    ("ScreenSpot-Pro record", frozenset({"img_filename", "bbox", "instruction", "application"})),
    ("ScreenSpot-v2 record", frozenset({"img_filename", "bbox", "instruction"})),
    ("ScreenSpot record (UGround format)", frozenset({"image", "bbox", "instruction"})),
    ("Multimodal-Mind2Web record", frozenset({"annotation_id", "action_uid", "operation"})),
)
_MAX_KEYS = 6


def record_kind(record: Any) -> str | None:
    """The `RECORD_KINDS` name of a JSON record, or None when its keys mark none."""
    if not isinstance(record, dict):
        return None
    keys = set(record)
    return next((kind for kind, marks in RECORD_KINDS if marks <= keys), None)


def _keys(record: dict[str, Any]) -> str:
    keys = sorted(map(str, record))
    more = f", ... ({len(keys)} keys)" if len(keys) > _MAX_KEYS else ""
    return ", ".join(keys[:_MAX_KEYS]) + more


def describe_json(value: Any) -> str:
    """A parsed JSON value in words: "a ScreenSpot-Pro record (keys application, bbox, ...)", "an array of 34 records;
    the first is a ScreenSpot-Pro record (keys ...)", "an object with keys a, b", "an empty array", "a string"."""
    if isinstance(value, dict):
        kind = record_kind(value)
        if kind is None:
            return f"an object with keys {_keys(value) or '(none)'}"
        article = "an" if kind[0] in "AEIOU" else "a"
        return f"{article} {kind} (keys {_keys(value)})"
    if isinstance(value, list):
        if not value:
            return "an empty array"
        return f"an array of {len(value)} records; the first is {describe_json(value[0])}"
    names = {str: "a string", bool: "true or false", int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
