"""Fidelity: how far a compressed cache moves the model from the full cache's next-token distributions.

For one sample and a group of runs that see the same screenshots (same `frames`), a reference engine (the full
cache) replays the sample as usual: its replies become the history of the conversation for everyone. Every run's
engine is fed the same conversation and teacher-forced on the reference's reply tokens (`ChatEngine.reply(forced=...)`,
the same forwards as a free run that chose them). Per reply token, with P the full cache's and Q the run's
distribution: top-1 agreement (argmax P == argmax Q) and KL(P || Q) in nats, in float64. Gold labels play no part.

The reference pass runs once per (sample, frames) and is shared by every run of the sweep (`FanOutEngine`): only one
call's logits are held at a time. Full against full is exactly agreement 1 and KL 0: the forced forwards are the
free run's, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from agent.policy import PolicyReply
from eval.flops import DecodeCostModel
from eval.prompting import Message
from eval.results import FidelityRecord

if TYPE_CHECKING:
    import torch

__all__ = ["FanOutEngine", "FidelityTally", "compare_logits"]


def compare_logits(reference: torch.Tensor, other: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row top-1 agreement (bool) and KL(softmax(reference) || softmax(other)) (float64), both (n,).

    `reference`, `other`: (n, V) raw logits of the same n positions.
    """
    import torch  # eval imports torch only where a model runs

    if reference.shape != other.shape:
        raise ValueError(f"logits of different shapes: {tuple(reference.shape)} and {tuple(other.shape)}")
    log_p = torch.log_softmax(reference.double(), dim=-1)  # (n, V)
    log_q = torch.log_softmax(other.double(), dim=-1)  # (n, V)
    kl = (log_p.exp() * (log_p - log_q)).sum(dim=-1).clamp(min=0.0)  # (n,); rounding can dip below 0
    return reference.argmax(dim=-1) == other.argmax(dim=-1), kl


@dataclass
class FidelityTally:
    """Running counts of one run over one sample."""

    tokens: int = 0
    agree: int = 0
    kl_sum: float = 0.0
    kl_max: float = 0.0

    def add(self, reference: torch.Tensor, other: torch.Tensor) -> None:
        agree, kl = compare_logits(reference, other)
        self.tokens += int(kl.numel())
        self.agree += int(agree.sum())
        self.kl_sum += float(kl.sum())
        self.kl_max = max(self.kl_max, float(kl.max())) if kl.numel() else self.kl_max

    def record(self) -> FidelityRecord | None:
        """The sample's record (None when no reply token was compared)."""
        if not self.tokens:
            return None
        return FidelityRecord(tokens=self.tokens, top1_agreement=self.agree / self.tokens,
                              kl_mean=self.kl_sum / self.tokens, kl_max=self.kl_max)


@dataclass
class FanOutEngine:
    """A `ReplayEngine` whose replies are the reference engine's, with every forced engine teacher-forced on each of
    them and tallied (module docstring). `reference` and `forced` values are `agent.engine.ChatEngine`s. One instance
    per sample: its tallies cover every conversation the sample opens."""

    reference: Any
    forced: dict[str, Any]
    tallies: dict[str, FidelityTally] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.family = self.reference.family
        self.context: Literal["incremental", "stateless"] = self.reference.context
        self.cost_model: DecodeCostModel | None = None
        self.tallies = {name: FidelityTally() for name in self.forced}  # one sample: every conversation it opens

    def start(self, position: int) -> None:
        """A new conversation (a Mind2Web sample opens one per call): fresh caches, the tallies go on."""
        self.reference.reset()
        for engine in self.forced.values():
            engine.reset()

    def reply(self, messages: list[Message]) -> PolicyReply:
        ref = self.reference.reply(messages, keep_logits=True)
        logits = ref.extra.pop("logits")
        tokens = list(ref.extra["tokens"])
        for name, engine in self.forced.items():
            out = engine.reply(messages, forced=tokens, keep_logits=True)
            self.tallies[name].add(logits, out.extra.pop("logits"))
        return ref

    def skip(self) -> None:
        """Nothing to do: the conversation goes on without the step."""

    def records(self) -> dict[str, FidelityRecord | None]:
        return {name: tally.record() for name, tally in self.tallies.items()}
