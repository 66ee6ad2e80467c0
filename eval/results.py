"""Result rows and the files that hold them: config.json and the append-only, resumable results.jsonl.

One `ResultRow` per (run, sample): its steps (one, or an AgentNetBench episode's steps), each with its model calls
(one, or a Mind2Web scroll loop's), the parsed reply, the score record and the costs. Rows are written one JSON line
at a time, flushed and fsynced. A process killed mid-write can leave a torn last line; `ResultsFile.open` cuts it
off, so a resumed run redoes exactly that sample. `merge_rows` combines shard outputs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from actions.schema import ParsedOutput
from eval.config import ConfigError, EvalConfig, RunKey

logger = logging.getLogger(__name__)

__all__ = [
    "CONFIG_FILE", "CallRecord", "FidelityRecord", "RESULTS_FILE", "ResultRow", "ResultsFile", "StepResult",
    "check_config",
    "merge_rows", "read_config", "read_rows", "write_config",
]

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.jsonl"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CallRecord(_Frozen):
    """One model call.

    text: the reply (special tokens stripped). image_size: (w, h) of the screenshot file; model_size: (w, h) of the
    image sent (smart_resize), which the reply's coordinates refer to. block_index: Mind2Web block shown.
    prompt_tokens: tokens prefilled for this call. n_generated: reply tokens. n_seen: tokens in context after it.
    kv_entries_per_layer: cache entries per KV head in each layer after the call. kv_bytes: bytes of the cache.
    decode_flops: FLOPs of the decode forwards (`eval.flops`). prefill_s / decode_s: wall-clock seconds.
    """

    text: str
    image_size: tuple[int, int] | None = None
    model_size: tuple[int, int] | None = None
    block_index: int | None = None
    prompt_tokens: int = 0
    n_generated: int = 0
    n_seen: int = 0
    kv_entries_per_layer: tuple[int, ...] = ()
    kv_bytes: int = 0
    decode_flops: float = 0.0
    prefill_s: float = 0.0
    decode_s: float = 0.0


class FidelityRecord(_Frozen):
    """How close a run's model stays to the full cache's on one sample, teacher-forced (`eval.fidelity`).

    tokens: reply tokens compared (every call of every step, the full cache's replies fed to both). top1_agreement:
    the fraction of them where both next-token distributions have the same argmax. kl_mean / kl_max: mean and largest
    KL(full || run) in nats over them. Full against itself is exactly 1, 0, 0.
    """

    tokens: int
    top1_agreement: float
    kl_mean: float
    kl_max: float


class StepResult(_Frozen):
    """One scored unit (a sample, or one AgentNetBench step): its calls, the parsed final reply (None when it did
    not parse), the parse error, and `score` = the `eval.metrics` record as JSON."""

    sample_id: str
    calls: tuple[CallRecord, ...] = ()
    parsed: ParsedOutput | None = None
    error: str | None = None
    score: dict[str, Any]


class ResultRow(_Frozen):
    """One results.jsonl line: one sample under one run.

    run: `RunKey.name`; method, budget, max_tokens, frames: the run's (frames None unless swept). family: the model's
    grammar family ("uitars" / "opencua"). sample_id: the dataset's id; index: its position in the full dataset
    (order of the summaries). status: "skipped" (missing image), "failed" (a step has no prediction) or "ok".
    steps: the scored units. wall_s: seconds spent on the sample (the teacher-forced pass excluded).
    fidelity: the sample's `FidelityRecord` with `--fidelity` (None otherwise, and for a skipped sample).
    """

    run: str
    method: str
    budget: float | None
    family: Literal["uitars", "opencua"]
    sample_id: str
    index: int
    status: Literal["ok", "failed", "skipped"]
    steps: tuple[StepResult, ...]
    wall_s: float = 0.0
    max_tokens: int | None = None
    frames: int | None = None
    fidelity: FidelityRecord | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.run, self.sample_id)

    @classmethod
    def build(cls, run: RunKey, family: Literal["uitars", "opencua"], sample_id: str, index: int,
              steps: list[StepResult], wall_s: float, fidelity: FidelityRecord | None = None) -> "ResultRow":
        """A row whose status is derived from its steps' score records."""
        statuses = [s.score.get("status") for s in steps]
        status: Literal["ok", "failed", "skipped"] = ("skipped" if statuses and all(s == "skipped" for s in statuses)
                  else "failed" if "failed" in statuses else "ok")
        return cls(run=run.name, method=run.method, budget=run.budget, family=family, sample_id=sample_id, index=index,
                   status=status, steps=tuple(steps), wall_s=wall_s, max_tokens=run.max_tokens, frames=run.frames,
                   fidelity=fidelity)


def write_config(directory: Path, config: EvalConfig) -> None:
    """Write `config.json` (the resolved configuration) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")


def read_config(directory: Path) -> EvalConfig:
    """The `EvalConfig` saved in `directory` (ConfigError when absent or unreadable)."""
    path = directory / CONFIG_FILE
    try:
        return EvalConfig.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; is {directory} a replay output directory?") from None
    except ValidationError as e:
        raise ConfigError(f"{path}: not a valid replay config ({e.errors()[0]['msg']})") from None


#: The config fields a resume may change, each only in the direction that widens what the output covers (or skips
#: samples whose image is missing), so that every row already written keeps its meaning; and the rule in words.
_WIDENINGS: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "limit": (lambda saved, now: now is None or (saved is not None and now >= saved),
              "a resume may raise --limit or drop it, not lower it"),
    "skip_missing": (lambda saved, now: now or not saved, "a resume may add --skip-missing, not drop it"),
    "methods": (lambda saved, now: set(saved) <= set(now), "a resume may add methods, not drop them"),
    "budgets": (lambda saved, now: set(saved) <= set(now), "a resume may add budgets, not drop them"),
    "max_tokens": (lambda saved, now: saved is not None and now is not None and set(saved) <= set(now),
                   "a resume may add --max-tokens caps, not drop them or switch between caps and budgets"),
}


def check_config(directory: Path, config: EvalConfig) -> None:
    """ConfigError unless `config` is `directory`'s saved config, or widens it (`_WIDENINGS`: a higher or no
    --limit, --skip-missing added, methods or budgets added). Any other change would alter what a finished row
    means, so resume never mixes configurations."""
    saved = read_config(directory).model_dump(mode="json")
    wanted = config.model_dump(mode="json")
    refused = []
    for key in sorted(k for k in wanted if saved.get(k) != wanted[k]):
        widens, rule = _WIDENINGS.get(key, (None, ""))
        if widens is None or not widens(saved.get(key), wanted[key]):
            refused.append(f"{key}: saved {saved.get(key)!r}, now {wanted[key]!r}" + (f"; {rule}" if rule else ""))
    if refused:
        raise ConfigError(f"{directory} holds results of a different configuration ({'; '.join(refused)}); "
                          "use another --out or the same flags")


class ResultsFile:
    """An append-only results.jsonl: `open()` reads what is there (repairing a torn last line), `append()` writes
    one row and makes it durable before returning."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[ResultRow] = []

    @property
    def done(self) -> set[tuple[str, str]]:
        """(run, sample_id) of every row already written."""
        return {row.key for row in self.rows}

    def open(self) -> "ResultsFile":
        """Read the existing rows; a last line without its newline (or not valid JSON) is cut off the file."""
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
            return self
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        tail = data[end:]
        lines = _lines(data[:end])
        if lines and not _is_row(lines[-1]):  # a complete line that is not JSON: cut it too
            tail = lines.pop().encode("utf-8") + b"\n" + tail
            end = len("".join(line + "\n" for line in lines).encode("utf-8"))
        if tail:
            logger.warning("%s: dropping a torn last line (%d bytes) left by an interrupted run", self.path, len(tail))
            with self.path.open("r+b") as f:
                f.truncate(end)
        self.rows = _rows_from_lines(lines, self.path)
        return self

    def append(self, row: ResultRow) -> None:
        """Write `row` as one line, flush and fsync it."""
        line = row.model_dump_json() + "\n"
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.rows.append(row)


def _lines(data: bytes) -> list[str]:
    """Complete lines of `data` (which ends with a newline or is empty), split on "\n" only: a reply may hold
    U+2028 and other characters that `str.splitlines` would split on."""
    return data.decode("utf-8").split("\n")[:-1]


def _is_row(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def _rows_from_lines(lines: Iterable[str], path: Path) -> list[ResultRow]:
    rows: list[ResultRow] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(ResultRow.model_validate_json(line))
        except ValidationError as e:
            raise ConfigError(f"{path}: line {n} is not a result row ({e.errors()[0]['msg']})") from None
    return rows


def read_rows(directory: Path) -> list[ResultRow]:
    """Every complete row of `directory/results.jsonl` (a torn last line is ignored, not repaired)."""
    path = directory / RESULTS_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: not found")
    data = path.read_bytes()
    return _rows_from_lines(_lines(data[: data.rfind(b"\n") + 1]), path)  # bytes after the last newline are torn


def merge_rows(directories: list[Path]) -> tuple[EvalConfig, list[ResultRow]]:
    """The common config (shard removed) and the union of the rows of shard output `directories`.

    Raises ConfigError when configs differ beyond their shard, when shards repeat or are missing (all of 0..N-1
    must be given), or when a (run, sample_id) appears twice.
    """
    if not directories:
        raise ConfigError("merge needs at least one shard directory")
    configs = [read_config(d) for d in directories]
    base = configs[0].model_copy(update={"shard": None})
    for d, c in zip(directories, configs):
        if c.model_copy(update={"shard": None}) != base:
            diff = sorted(k for k, v in c.model_dump().items() if k != "shard" and v != base.model_dump()[k])
            raise ConfigError(f"{d}: its config differs from {directories[0]}'s in {', '.join(diff)}")
    shards = [c.shard for c in configs]
    present = [s for s in shards if s is not None]
    if present:
        if len(present) != len(shards) or len({s.count for s in present}) != 1:
            raise ConfigError(f"shards {[str(s) for s in shards]} are not parts of one I/N partition")
        count = present[0].count
        indices = [s.index for s in present]
        if len(set(indices)) != len(indices):
            raise ConfigError(f"shard indices repeat: {sorted(indices)}")
        missing = sorted(set(range(count)) - set(indices))
        if missing:
            raise ConfigError(f"shards {', '.join(f'{i}/{count}' for i in missing)} are missing")
    rows: list[ResultRow] = []
    seen: dict[tuple[str, str], Path] = {}
    for d in directories:
        for row in read_rows(d):
            if row.key in seen:
                raise ConfigError(f"duplicate result {row.key} in {seen[row.key]} and {d}")
            seen[row.key] = d
            rows.append(row)
    return base, rows
