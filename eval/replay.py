"""Replaying one sample: prompts -> engine -> parse -> score, per benchmark (spec-benchmarks.md §2-§6).

* ScreenSpot-v2/Pro, AndroidControl: one fresh conversation, one call.
* Mind2Web: one fresh conversation per call, up to 5 calls (the reference's scroll loop, §4.2): while the reply is
  a scroll (as the reference reads it), "Scroll {direction}." is appended to the history and the next block down
  (or up) is shown, when it exists; the last reply is scored with the block it was made on.
* AgentNetBench: the episode's steps in order within one conversation (`eval.prompting.AgentNetConversation`),
  the model's own replies as history; incremental (one KV cache for the episode) or stateless.
* synthdesk: the task's steps in order within one conversation (`eval.prompting.synthdesk_transcript`, the live
  agent's layout), the gold screenshots with the model's own replies as history, each step scored on its own.

Each reply is parsed with the size of the image the model saw. A reply that does not parse is data: the step is
scored as failed with the parse error. Anything else (a bug, out of memory) propagates; results already written
stay written, and a resumed run redoes the sample.

Engines (`ReplayEngine`): `ModelReplayEngine` wraps `agent.engine.ChatEngine` or `agent.endpoint.EndpointEngine`;
`ScriptReplayEngine` replays scripted replies. A script is one reply per call in dataset order: a conversation started
at `position` p takes replies p, p+1, ... (cyclically), where p counts the scored units (samples, or AgentNetBench
steps) before it in the full dataset. So a script with one reply per sample (per step) gives each its own reply,
whatever the shard or resume point; a Mind2Web scroll's follow-up call takes the next reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, SupportsIndex, SupportsInt

from PIL import Image

from actions.errors import ActionParseError
from actions.opencua import parse_opencua
from actions.schema import ParsedOutput
from actions.uitars import parse_uitars
from agent.policy import PolicyReply
from eval.flops import DecodeCostModel
from eval.metrics import score_sample
from eval.metrics import synthdesk as synthdesk_metrics
from eval.metrics.mind2web import compat_prediction as mind2web_prediction
from eval.prompting import (
    AgentNetConversation, Message, androidcontrol_messages, grounding_messages, mind2web_messages, model_image,
    synthdesk_transcript,
)
from eval.results import CallRecord, StepResult
from tasks.schema import AgentNetEpisode, AndroidControlStep, GroundingSample, Mind2WebStep, SynthdeskTask

logger = logging.getLogger(__name__)

__all__ = [
    "MIND2WEB_MAX_CALLS", "ModelReplayEngine", "ReplayEngine", "ReplaySettings", "ScriptReplayEngine", "parse_reply",
    "replay_sample",
]

Family = Literal["uitars", "opencua"]
#: The reference's Mind2Web scroll loop: at most this many calls per record.
MIND2WEB_MAX_CALLS = 5


class ReplayEngine(Protocol):
    """What a replay needs from a model: its grammar family, a cost model, and replies to conversations."""

    family: Family
    cost_model: DecodeCostModel | None
    context: Literal["incremental", "stateless"]

    def start(self, position: int) -> None:
        """Begin a new conversation (the first call of the sample at script position `position`)."""

    def reply(self, messages: list[Message]) -> PolicyReply:
        """The reply to `messages` (which end with a user turn)."""

    def skip(self) -> None:
        """A scored unit that makes no call (a skipped AgentNetBench step)."""


class ModelReplayEngine:
    """A `ReplayEngine` over `agent.engine.ChatEngine` (one per run: method and budget are fixed) or
    `agent.endpoint.EndpointEngine` (a served model; its `start` opens a new session key)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.family: Family = engine.family
        self.context = engine.context
        config = engine.model_config  # None for a model served elsewhere: no cost model
        self.cost_model: DecodeCostModel | None = DecodeCostModel.from_config(config) if config is not None else None

    def start(self, position: int) -> None:
        self.engine.reset()

    def reply(self, messages: list[Message]) -> PolicyReply:
        return self.engine.reply(messages)

    def skip(self) -> None:
        """Nothing to do: the conversation goes on without the step."""


class ScriptReplayEngine:
    """Scripted replies (module docstring); no model, so every cost is 0."""

    def __init__(self, replies: list[str], family: Family, context: Literal["incremental", "stateless"]) -> None:
        if not replies:
            raise ValueError("replies is empty; a script needs at least one reply")
        self.replies, self.family, self.context = list(replies), family, context
        self.cost_model: DecodeCostModel | None = None
        self._next = 0

    def start(self, position: int) -> None:
        self._next = position

    def reply(self, messages: list[Message]) -> PolicyReply:
        text = self.replies[self._next % len(self.replies)]
        self._next += 1
        return PolicyReply(text=text, extra={"raw": text})

    def skip(self) -> None:
        """Move past the reply of a unit that makes no call, so later units keep their own replies."""
        self._next += 1


@dataclass(frozen=True)
class ReplaySettings:
    """Per-run replay settings: frames (N screenshots, AgentNetBench), AndroidControl instruction level, and the
    smart_resize limits of the image sent (the conversation mode is the engine's `context`)."""

    frames: int
    instruction_level: Literal["high", "low"] = "high"
    min_pixels: int = 78_400
    max_pixels: int = 12_845_056


def parse_reply(text: str, family: Family, model_size: tuple[int, int]) -> tuple[ParsedOutput | None, str | None]:
    """(parsed, None), or (None, the parse error in words) when the reply is not a valid action."""
    try:
        if family == "uitars":
            return parse_uitars(text, model_size), None
        return parse_opencua(text, model_size), None
    except ActionParseError as e:
        return None, f"ActionParseError: {e}"


def _extra_count(extra: Mapping[str, object], key: str) -> int:
    """The integer counter `extra[key]` of a `PolicyReply` (0 when absent); TypeError when it is not a number."""
    value = extra.get(key, 0)
    if not isinstance(value, (str, SupportsInt, SupportsIndex)):
        raise TypeError(f"PolicyReply.extra[{key!r}]={value!r} is not an integer")
    return int(value)


def _call(engine: ReplayEngine, messages: list[Message], image: Image.Image, size: tuple[int, int],
          block_index: int | None = None) -> tuple[CallRecord, str]:
    """One call: its record, and the reply with special tokens kept (`extra["raw"]`, else the text)."""
    reply = engine.reply(messages)
    entries = tuple(int(e) for e in reply.kv_entries_per_layer)
    n_gen = _extra_count(reply.extra, "n_generated")
    flops = engine.cost_model.decode_flops(entries, n_gen) if engine.cost_model is not None and entries else 0.0
    record = CallRecord(
        text=reply.text, image_size=size, model_size=image.size, block_index=block_index,
        prompt_tokens=reply.prefill_tokens, n_generated=n_gen,
        n_seen=_extra_count(reply.extra, "n_seen"),
        kv_entries_per_layer=entries, kv_bytes=reply.kv_cache_bytes, decode_flops=flops,
        prefill_s=reply.prefill_s, decode_s=reply.decode_s,
    )
    return record, str(reply.extra.get("raw", reply.text))


def _step(sample: Any, engine: ReplayEngine, calls: list[CallRecord], block_index: int = 0) -> StepResult:
    last = calls[-1]
    assert last.model_size is not None
    parsed, error = parse_reply(last.text, engine.family, last.model_size)
    score = score_sample(sample, parsed, family=engine.family, error=error, block_index=block_index)
    return StepResult(sample_id=sample.sample_id, calls=tuple(calls), parsed=parsed, error=error,
                      score=score.model_dump(mode="json"))


def _single(sample: GroundingSample | AndroidControlStep, engine: ReplayEngine, s: ReplaySettings,
            position: int) -> list[StepResult]:
    image, size = model_image(sample.image, s.min_pixels, s.max_pixels)
    if isinstance(sample, GroundingSample):
        messages = grounding_messages(sample, engine.family, image)
    else:
        messages = androidcontrol_messages(sample, engine.family, image, s.instruction_level)
    engine.start(position)
    return [_step(sample, engine, [_call(engine, messages, image, size)[0]])]


def _mind2web(step: Mind2WebStep, engine: ReplayEngine, s: ReplaySettings, position: int) -> list[StepResult]:
    blocks = {b.index: b for b in step.blocks}
    history = list(step.previous_actions)
    calls: list[CallRecord] = []
    block = 0
    for _ in range(MIND2WEB_MAX_CALLS):
        image, size = model_image(blocks[block].image, s.min_pixels, s.max_pixels)
        engine.start(position + len(calls))  # every call is a fresh single-screenshot conversation
        calls.append(_call(engine, mind2web_messages(step, engine.family, image, history), image, size, block)[0])
        parsed, _ = parse_reply(calls[-1].text, engine.family, image.size)
        prediction = mind2web_prediction(parsed, engine.family)
        if prediction.operation != "scroll":
            break
        history.append(f"Scroll {prediction.direction}.")
        if prediction.direction == "down" and block + 1 in blocks:
            block += 1
        elif prediction.direction == "up" and block - 1 in blocks:
            block -= 1
    return [_step(step, engine, calls, block_index=block)]


def _agentnet(episode: AgentNetEpisode, engine: ReplayEngine, s: ReplaySettings, position: int) -> list[StepResult]:
    conversation = AgentNetConversation(episode, engine.family, frames=s.frames, context=engine.context)
    engine.start(position)
    results: list[StepResult] = []
    for step in episode.steps:
        if step.skipped is not None:
            conversation.record_skipped(step)
            engine.skip()
            score = score_sample(step, None, family=engine.family, error=step.skipped.detail)
            results.append(StepResult(sample_id=step.sample_id, error=step.skipped.detail,
                                      score=score.model_dump(mode="json")))
            continue
        image, size = model_image(step.image, s.min_pixels, s.max_pixels)
        call, raw = _call(engine, conversation.messages(image), image, size)
        results.append(_step(step, engine, [call]))
        conversation.record(image, call.text, raw)
    return results


def _synthdesk(task: SynthdeskTask, engine: ReplayEngine, s: ReplaySettings, position: int) -> list[StepResult]:
    transcript = synthdesk_transcript(task, frames=s.frames, context=engine.context)
    engine.start(position)
    results: list[StepResult] = []
    for step in task.steps:
        image, size = model_image(step.image, s.min_pixels, s.max_pixels)
        transcript.observe(image)
        call, raw = _call(engine, transcript.messages(), image, size)
        transcript.record_reply(raw)
        parsed, error = parse_reply(call.text, engine.family, image.size)
        score = synthdesk_metrics.score_step(task, step, parsed, error=error)
        results.append(StepResult(sample_id=step.sample_id, calls=(call,), parsed=parsed, error=error,
                                  score=score.model_dump(mode="json")))
    return results


_REPLAYERS: dict[type, Callable[..., list[StepResult]]] = {
    GroundingSample: _single, AndroidControlStep: _single, Mind2WebStep: _mind2web, AgentNetEpisode: _agentnet,
    SynthdeskTask: _synthdesk,
}


def replay_sample(sample: Any, engine: ReplayEngine, settings: ReplaySettings, position: int) -> list[StepResult]:
    """Replay one dataset sample (not a `SkippedSample`) and return its scored steps."""
    replay = _REPLAYERS.get(type(sample))
    if replay is None:
        raise TypeError(f"cannot replay a {type(sample).__name__}")
    return replay(sample, engine, settings, position)
