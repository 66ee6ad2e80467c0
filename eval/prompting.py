"""Benchmark samples -> chat messages, in the reference's layout per model family (spec-benchmarks.md §2.2, §3.2,
§4.2, §5.2, §6.2). Prompt texts come byte-exact from `agent.prompts`.

Messages are the chat-template dicts `agent.engine.ChatEngine` takes: string contents verbatim, list contents of
`{"type": "image", "image": PIL}` / `{"type": "text", "text": ...}` items. Images are sent already resized to their
smart_resize size (`model_image`), so the processor leaves them unchanged and the parser knows the size the reply's
pixel coordinates refer to.

Single-screenshot benchmarks: one user turn [image, prompt]. UI-TARS AndroidControl and Mind2Web add the
reference's explicit system message "You are a helpful assistant. " (trailing space); UI-TARS ScreenSpot and every
OpenCUA prompt have none. Choices where the reference cannot be followed (recorded here):
* AndroidControl files other than UGround's carry no `previous_actions`; the earlier step instructions of the
  episode are the history instead. A step without a goal (UI-R1) is prompted with its step instruction as goal.
* Mind2Web: each record's own history (the reference leaks the previous record's text into step-0 prompts,
  spec §8.1 item 7, which also depends on run order and could not be reproduced under sharding).
* AgentNetBench OpenCUA: the intended N-screenshot layout (the reference's indentation bug, §8.1 item 1, is not
  reproduced).

synthdesk (the project's own benchmark) has no reference: it uses the live agent's transcript layout
(`synthdesk_transcript`), so replay, training and the live demo prompt the model alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from actions.coords import smart_resize
from agent import prompts
from agent.context import Transcript
from tasks.schema import (
    AgentNetEpisode, AgentNetStep, AndroidControlStep, GroundingSample, Mind2WebStep, SynthdeskTask,
)

__all__ = [
    "AgentNetConversation", "Message", "SYSTEM_MESSAGE", "androidcontrol_messages", "grounding_messages",
    "mind2web_messages", "model_image", "synthdesk_transcript",
]

Family = Literal["uitars", "opencua"]
Message = dict[str, Any]
#: The explicit system message of the reference's UI-TARS AndroidControl and Mind2Web drivers.
SYSTEM_MESSAGE = "You are a helpful assistant. "
#: The reference's AgentNetBench text history: previous steps shown as text (max_history_length).
AGENTNET_MAX_HISTORY = 10


def model_image(path: Path, min_pixels: int, max_pixels: int) -> tuple[Image.Image, tuple[int, int]]:
    """(the RGB image resized to smart_resize(factor 28, min_pixels, max_pixels), the file's (w, h))."""
    with Image.open(path) as img:
        rgb = img.convert("RGB")
    width, height = rgb.size
    h, w = smart_resize(height, width, 28, min_pixels, max_pixels)
    return (rgb if (w, h) == (width, height) else rgb.resize((w, h), Image.Resampling.BICUBIC)), (width, height)


def _image(image: Image.Image | None) -> dict[str, Any]:
    return {"type": "image", "image": image} if image is not None else {"type": "image"}


def _user(image: Image.Image, text: str) -> Message:
    return {"role": "user", "content": [_image(image), {"type": "text", "text": text}]}


def _with_system(family: Family, user: Message) -> list[Message]:
    return [{"role": "system", "content": SYSTEM_MESSAGE}, user] if family == "uitars" else [user]


def grounding_messages(sample: GroundingSample, family: Family, image: Image.Image) -> list[Message]:
    """ScreenSpot-v2 / Pro: UI-TARS `GROUNDING_DOUBAO`, OpenCUA the short system sentence + instruction."""
    text = (prompts.uitars_grounding_prompt(sample.instruction) if family == "uitars"
            else prompts.opencua_grounding_prompt(sample.instruction))
    return [_user(image, text)]


def androidcontrol_messages(step: AndroidControlStep, family: Family, image: Image.Image,
                            level: Literal["high", "low"]) -> list[Message]:
    """AndroidControl at `level` "high" (goal) or "low" (goal + step instruction)."""
    history = "\n".join(step.previous_actions or step.previous_instructions)
    goal = step.goal if step.goal is not None else (step.step_instruction or "")
    name = f"androidcontrol_{level}_{family}"
    if level == "high":
        text = prompts.render(name, goal=goal, previous_actions=history)
    else:
        text = prompts.render(name, goal=goal, previous_actions=history, task=step.step_instruction or "")
    return _with_system(family, _user(image, text))


def mind2web_messages(step: Mind2WebStep, family: Family, image: Image.Image,
                      previous_actions: Sequence[str]) -> list[Message]:
    """One call of the Mind2Web scroll loop: `previous_actions` = the record's plus the loop's "Scroll down." lines."""
    text = prompts.render(f"mind2web_{family}", instruction=step.task, previous_actions="\n".join(previous_actions))
    return _with_system(family, _user(image, text))


def synthdesk_transcript(task: SynthdeskTask, *, frames: int, context: Literal["incremental", "stateless"]
                         ) -> Transcript:
    """synthdesk: the live agent's own conversation (`agent.context.Transcript`, N = `frames` screenshots) with
    gui-tiny's short prompts: system `synthdesk_system`, first user turn `Task: <instruction>`, then one user turn
    per screenshot and the model's reply to it. Training builds the same conversation with the gold replies."""
    return Transcript(prompt=prompts.synthdesk_task_prompt(task.instruction), frames=frames, mode=context,
                      system=prompts.synthdesk_system_prompt())


@dataclass
class _Turn:
    has_image: bool
    image: Image.Image | None  # released (None) once outside the window
    output: str | None  # the reply as shown in the reference's text history; None for a skipped step
    transcript: str | None  # the reply as fed back in the incremental layout
    fallback: str  # the reference's inner-monologue history text, used when the step was skipped


class AgentNetConversation:
    """The N-screenshot conversation of one AgentNetBench episode (spec-benchmarks.md §2.2).

    frames: N, screenshots shown (current + N-1 previous; the reference's image_slots, 5).
    context "stateless" (the reference): for each previous step h, [user: screenshot h] if h is one of the last N-1,
        then [assistant: "# Step {h+1}:\\nStep {h+1}:\\n{reply h}"] if h is one of the last 10 (a skipped step shows
        its inner monologue instead); finally [user: current screenshot, prompt]. No system message.
    context "incremental" (append-only, so a KV cache carries over): [user: prompt], then per step
        [user: screenshot] [assistant: reply]; a skipped step adds its inner-monologue text as an assistant turn.
        Screenshots older than N keep their placeholder (the KV session evicts their cache entries).
    """

    def __init__(self, episode: AgentNetEpisode, family: Family, *, frames: int,
                 context: Literal["incremental", "stateless"]) -> None:
        if frames < 1:
            raise ValueError(f"frames={frames!r} must be >= 1")
        self.family, self.frames, self.context = family, frames, context
        self.prompt = prompts.render(f"agentnetbench_{family}", instruction=episode.instruction)
        self.turns: list[_Turn] = []

    def messages(self, image: Image.Image) -> list[Message]:
        """The conversation for the next step, whose screenshot (at its model size) is `image`."""
        return self._stateless(image) if self.context == "stateless" else self._incremental(image)

    def record(self, image: Image.Image, output: str, transcript: str) -> None:
        """Close the step just asked: its screenshot, the reply text, and the reply as the engine wants it back."""
        self.turns.append(_Turn(True, image, output, transcript, ""))
        self._release()

    def record_skipped(self, step: AgentNetStep) -> None:
        """A step whose screenshot is missing: no call; later prompts show its inner monologue."""
        fallback = (f"## Observation:\n{step.observation}\n\n## Thought:\n{step.thought}\n\n"
                    f"## Action:\n{step.low_level_instruction}\n")
        self.turns.append(_Turn(False, None, None, None, fallback))

    def _release(self) -> None:
        owners = [t for t in self.turns if t.has_image]
        for turn in owners[: -self.frames]:
            turn.image = None

    def _stateless(self, image: Image.Image) -> list[Message]:
        s = len(self.turns)
        k = min(self.frames - 1, s)
        messages: list[Message] = []
        for h, turn in enumerate(self.turns):
            if h >= s - k and turn.has_image:
                messages.append({"role": "user", "content": [_image(turn.image)]})
            if h >= s - AGENTNET_MAX_HISTORY:
                body = f"Step {h + 1}:\n{turn.output}" if turn.output is not None else turn.fallback
                messages.append({"role": "assistant", "content": f"# Step {h + 1}:\n{body}"})
        messages.append(_user(image, self.prompt))
        return messages

    def _incremental(self, image: Image.Image) -> list[Message]:
        messages: list[Message] = [{"role": "user", "content": [{"type": "text", "text": self.prompt}]}]
        for h, turn in enumerate(self.turns):
            if turn.has_image:
                messages.append({"role": "user", "content": [_image(turn.image)]})
                messages.append({"role": "assistant", "content": turn.transcript})
            else:
                messages.append({"role": "assistant", "content": f"# Step {h + 1}:\n{turn.fallback}"})
        messages.append({"role": "user", "content": [_image(image)]})
        return messages
