"""What an output directory owns: plan.json, written by each replay before its first row.

A replay interrupted half way leaves fewer rows than its config asks for, and the config alone cannot say how many
(that depends on the dataset, `--limit` and `--shard`). The plan lists the runs and the samples the directory is for,
so `merge` can tell a finished shard from a short one without the data at hand, and name what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from eval.config import ConfigError
from eval.results import ResultRow

__all__ = ["PLAN_FILE", "Completeness", "Plan", "describe_partial", "read_plan", "write_plan"]

PLAN_FILE = "plan.json"


class Plan(BaseModel):
    """runs: `RunKey.name`s in sweep order. sample_ids: the directory's samples (its shard), in dataset order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runs: tuple[str, ...]
    sample_ids: tuple[str, ...]

    @property
    def n_results(self) -> int:
        """The (run, sample) results the directory holds when complete."""
        return len(self.runs) * len(self.sample_ids)

    def n_missing(self, rows: Iterable[ResultRow]) -> int:
        """How many of its (run, sample) results `rows` lack."""
        done = {row.key for row in rows}
        return sum((run, sid) not in done for run in self.runs for sid in self.sample_ids)

    @classmethod
    def union(cls, plans: Sequence["Plan"]) -> "Plan":
        """The plan of the merge of directories with these plans (runs in first-seen order; samples concatenated)."""
        runs = tuple(dict.fromkeys(run for plan in plans for run in plan.runs))
        return cls(runs=runs, sample_ids=tuple(sid for plan in plans for sid in plan.sample_ids))


class Completeness(BaseModel):
    """How much of its plan a merged output holds. short: directory -> results missing, for each short one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_results: int
    n_present: int
    short: dict[str, int]

    @property
    def is_partial(self) -> bool:
        return bool(self.short)

    def describe(self) -> str:
        """"4 of 6 results (2 missing: m_part1 2)"."""
        return describe_partial(self.model_dump())

    def as_summary(self) -> dict[str, Any] | None:
        """The summary.json `partial` block: None when complete."""
        return self.model_dump() if self.is_partial else None


def describe_partial(block: dict[str, Any]) -> str:
    """A summary's `partial` block (`Completeness.as_summary()`) in words: "4 of 6 results (2 missing: m_part1 2)"."""
    shorts = ", ".join(f"{d} {n}" for d, n in block["short"].items())
    n_missing = block["n_results"] - block["n_present"]
    return f"{block['n_present']} of {block['n_results']} results ({n_missing} missing: {shorts})"


def write_plan(directory: Path, plan: Plan) -> None:
    """Write `plan.json` into `directory`."""
    (directory / PLAN_FILE).write_text(plan.model_dump_json(indent=1) + "\n", encoding="utf-8")


def read_plan(directory: Path) -> Plan:
    """The plan saved in `directory`; ConfigError when absent (an output written before plans existed: a rerun with
    --resume writes it and redoes nothing) or unreadable."""
    path = directory / PLAN_FILE
    try:
        return Plan.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found, so the samples {directory} owns are unknown; rerun its eval with "
                          "--resume (it redoes nothing that is done) to write it") from None
    except ValueError as e:  # not JSON, or a ValidationError
        raise ConfigError(f"{path}: not a valid plan ({e})") from None
