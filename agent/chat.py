"""The live policy over any chat backend: `ChatPolicy` owns the task's `Transcript`, a backend turns its messages into
a reply. Two backends: `agent.engine.ChatEngine` (the model in this process, through a KV session) and
`agent.endpoint.EndpointEngine` (a model served elsewhere, through an OpenAI-compatible API).

This module imports neither torch nor transformers, so a desktop that only talks to an endpoint never loads them.
"""

from __future__ import annotations

import dataclasses

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image

from actions.coords import MIN_PIXELS, smart_resize
from agent import prompts
from agent.context import ContextMode, Transcript, reply_history, step_history
from agent.policy import Family, PolicyReply
from agent.screen import Frame

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_FRAMES", "ChatBackend", "ChatPolicy", "GenerationSettings", "check_max_new_tokens", "frame_image", "task_transcript",
]

Message = dict[str, Any]
#: Screenshots in context (N) per family when none is given.
DEFAULT_FRAMES: dict[Family, int] = {"uitars": 5, "opencua": 3}


@dataclass(frozen=True)
class GenerationSettings:
    """How replies are produced and prompted.

    max_new_tokens: reply length cap (default 256).
    uitars_style: UI-TARS prompt ("computer": UI-TARS-1.5 start_box grammar; "computer_doubao"; "mobile").
    language: language of the UI-TARS Thought part. call_user: advertise `call_user()` (UI-TARS "computer").
    opencua_level: OpenCUA system prompt level ("l1", "l2", "l3").
    max_history: stateless layout: earlier replies shown (reference 10).
    """

    max_new_tokens: int = 256
    uitars_style: prompts.UITarsStyle = "computer"
    language: str = "English"
    call_user: bool = False
    opencua_level: prompts.OpenCUALevel = "l2"
    max_history: int = 10

    def __post_init__(self) -> None:
        check_max_new_tokens(self.max_new_tokens)
        if self.opencua_level not in ("l1", "l2", "l3"):
            raise ValueError(f"opencua_level={self.opencua_level!r} is not one of 'l1', 'l2', 'l3'")
        if self.uitars_style not in ("computer", "computer_doubao", "mobile"):
            raise ValueError(
                f"uitars_style={self.uitars_style!r} is not one of 'computer', 'computer_doubao', 'mobile'")


def check_max_new_tokens(n: object) -> None:
    """ValueError unless `n` is an int >= 1."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"max_new_tokens={n!r} must be an int >= 1")


class ChatBackend(Protocol):
    """Chat messages in, a reply out (`ChatEngine`, `EndpointEngine`)."""

    family: Family
    frames: int
    context: ContextMode

    def reset(self) -> None:
        """Start a new conversation."""

    def reply(self, messages: list[Message]) -> PolicyReply:
        """The reply to `messages` (ending with a user turn); `extra["raw"]` is the assistant turn to record."""


def task_transcript(family: Family, settings: GenerationSettings, task: str, *, frames: int, mode: ContextMode,
                    keep_all_images: bool = False, prompt_set: str = "default") -> Transcript:
    """The empty transcript of `task` in `family`'s live prompt (UI-TARS: the computer-use prompt in the first user
    turn; OpenCUA: its system prompt, the instruction, and `# Step k:` history). prompt_set "synthdesk" (gui-tiny, a
    property of the model: its guikv_model.json) gives the short synthdesk system prompt and a `Task: ...` first turn,
    as in training and in the synthdesk eval."""
    s = settings
    if prompt_set == "synthdesk":
        system, prompt, history = prompts.synthdesk_system_prompt(), prompts.synthdesk_task_prompt(task), reply_history
    elif family == "uitars":
        system, prompt, history = None, prompts.uitars_prompt(
            task, style=s.uitars_style, language=s.language, call_user=s.call_user), reply_history
    else:
        system, prompt, history = (prompts.opencua_system_prompt(s.opencua_level),
                                   prompts.opencua_instruction(task), step_history)
    return Transcript(prompt=prompt, frames=frames, mode=mode, system=system, max_history=s.max_history,
                      history=history, keep_all_images=keep_all_images)


def model_size(frame: Frame, max_pixels: int | None = None) -> tuple[int, int]:
    """The size the model sees `frame` at: the geometry's model size, unless that exceeds the model's own pixel cap
    (gui-tiny's is 504 * 364), in which case smart_resize under that cap, so the processor resizes nothing and the
    reply's coordinates refer to the image it really saw."""
    width, height = (int(v) for v in frame.geometry.model_size)
    if max_pixels is None or width * height <= max_pixels:
        return width, height
    shot_w, shot_h = frame.image.size
    new_h, new_w = smart_resize(shot_h, shot_w, 28, min_pixels=min(MIN_PIXELS, max_pixels), max_pixels=max_pixels)
    return new_w, new_h


def frame_image(frame: Frame, size: tuple[int, int] | None = None) -> Image.Image:
    """The frame's screenshot at `size` (default: the model-image size the coordinate conversions assume), RGB."""
    image = frame.image.convert("RGB") if frame.image.mode != "RGB" else frame.image
    size = model_size(frame) if size is None else size
    return image if image.size == size else image.resize(size, Image.Resampling.BICUBIC)


class ChatPolicy:
    """A `Policy`: a `Transcript` of the task, rendered for `backend` at every step.

    backend: a `ChatBackend`; its `context` picks the transcript layout and its `frames` the screenshots kept.
    settings: `GenerationSettings` (prompt style; the backend applies the reply cap).
    keep_all_images: keep every screenshot's pixels in the transcript (for checks that re-process it).
    prompt_set: "default" (the family's prompt) or "synthdesk" (gui-tiny's; see `task_transcript`).
    max_pixels: the model's own pixel cap; frames over it are shown under it (the reply's `model_size` says so).
    """

    def __init__(self, backend: ChatBackend, settings: GenerationSettings | None = None, *,
                 keep_all_images: bool = False, prompt_set: str = "default", max_pixels: int | None = None) -> None:
        self.prompt_set, self.max_pixels = prompt_set, max_pixels
        self.backend = backend
        self.settings = settings or GenerationSettings()
        self.family: Family = backend.family
        self.frames, self.context = backend.frames, backend.context
        self.keep_all_images = keep_all_images
        self.transcript: Transcript | None = None
        self._last_frame: Frame | None = None

    def start(self, task: str) -> None:
        """Begin `task`: a new transcript and a new conversation on the backend."""
        self.transcript = task_transcript(self.family, self.settings, task, frames=self.frames, mode=self.context,
                                          keep_all_images=self.keep_all_images, prompt_set=self.prompt_set)
        self.backend.reset()
        self._last_frame = None
        logger.debug("task started (%s, %s, N=%d, %s)", self.family, self.context, self.frames,
                     type(self.backend).__name__)

    def act(self, frame: Frame, feedback: str | None = None) -> PolicyReply:
        """Observe `frame` (plus `feedback`), get the backend's reply, record it in the transcript."""
        if self.transcript is None:
            raise RuntimeError("act() before start(task)")
        repeat = self._last_frame is not None and frame.image is self._last_frame.image and bool(feedback)
        size = model_size(frame, self.max_pixels)
        self.transcript.observe(None if repeat else frame_image(frame, size), feedback)
        self._last_frame = frame
        reply = self.backend.reply(self.transcript.messages())
        self.transcript.record_reply(str(reply.extra.get("raw", reply.text)))
        if size != tuple(frame.geometry.model_size):
            reply = dataclasses.replace(reply, model_size=size)
        return reply
