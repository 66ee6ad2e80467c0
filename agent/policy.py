"""The policy interface between the live loop and whatever produces model text.

A policy owns its own context: each `act()` call observes one new frame (plus optional feedback such as a parse
error to correct), produces the model's reply text, and remembers that reply as part of its history. The loop never
builds prompts; a policy never parses or executes actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from agent.screen import Frame

Family = Literal["uitars", "opencua"]
#: The prompts a model is driven with: its family's own ("default") or gui-tiny's short synthdesk ones.
PromptSet = Literal["default", "synthdesk"]


@dataclass(frozen=True)
class PolicyReply:
    """One reply of a policy and what it cost.

    text: the raw model text (special tokens stripped).
    prefill_tokens: tokens prefilled for this reply (the new chunk in incremental mode, the whole prompt otherwise).
    kv_cache_bytes: bytes held by the KV cache after the reply (0 for policies without a cache).
    kv_entries_per_layer: cache entries per KV head in each layer after the reply.
    prefill_s, decode_s: wall-clock seconds spent prefilling and decoding.
    model_size: (width, height) of the image the model saw, when the policy resized the frame to something other
        than `frame.geometry.model_size` (e.g. other min/max pixels); the loop parses coordinates against it.
        None (default): the frame's geometry is right.
    """

    text: str
    prefill_tokens: int = 0
    kv_cache_bytes: int = 0
    kv_entries_per_layer: tuple[int, ...] = ()
    prefill_s: float = 0.0
    decode_s: float = 0.0
    model_size: tuple[int, int] | None = None
    extra: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class Policy(Protocol):
    """Produces model replies for a task, one observed frame at a time."""

    family: Family  # which grammar its replies use (selects the parser)

    def start(self, task: str) -> None:
        """Begin a new task; forget any previous context."""

    def act(self, frame: Frame, feedback: str | None = None) -> PolicyReply:
        """Observe `frame` (and `feedback` on the previous reply, if any) and return the next reply.

        After an unparsable reply the loop calls `act` again with the SAME frame object and `feedback` set to the
        parse error (in words, ready to show the model); a policy may then add only the feedback to its context
        instead of the screenshot again.
        """
