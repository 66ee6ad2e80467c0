"""The replay runner: a benchmark through the model for every (method, budget) of a config, resumable and sharded.

`run_eval(config, out)` writes into `out`:
* `config.json`: the resolved `EvalConfig` (a resumed run must have the same one, or widen it: a higher or no
  `--limit`, `--skip-missing` added, methods or budgets added; `eval.results.check_config`);
* `plan.json`: the runs and samples this output owns (`eval.plan`), so a merge can tell it is complete;
* `results.jsonl`: one `eval.results.ResultRow` per (run, sample), appended and fsynced as each sample finishes;
* `summary.json` (`eval.summary.build_summary`) and `summary.md` (`eval.report.markdown_report`), rewritten at
  the end of every invocation from all the rows in the file.

Order: run by run (`EvalConfig.runs()`), samples in dataset order. With `fidelity`, sample by sample instead: for each
sample, first the teacher-forced pass of every pending run against one shared full-cache reference per frames value
(`eval.fidelity`), then each run's own replay, whose row carries its fidelity record; so the full-cache logits of a
sample are computed once and never stored. `--limit N` keeps the first N samples of the
dataset, then `--shard I/N` keeps those whose position p has p % N == I. With `resume`, the (run, sample) pairs
already in results.jsonl are skipped (a torn last line is cut off first). One process at a time writes `out`
(`eval.lock`: a second one is refused with the first one's pid). With `concurrency` K > 1 (a served model or a
script), K samples are replayed at once, each in its own conversation; rows are written by one thread as samples
finish (so results.jsonl may hold them out of dataset order), and when one fails the others in flight finish and are
written before the error propagates, so a resumed run redoes exactly the samples without a row. The summary of an
invocation includes its `throughput` (samples written, seconds, samples per second, concurrency). `merge(out,
shard_dirs)` combines shard outputs into one directory with the same three files as a single-process run.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import tasks
from eval.config import ConfigError, EvalConfig, RunKey
from eval.engines import Engines
from eval.fidelity import FanOutEngine
from eval.method_spec import build_method
from eval.lock import check_not_written, write_lock
from eval.plan import Completeness, Plan, read_plan, write_plan
from eval.plots import write_plots
from eval.metrics import ScoreRecord, score_skipped
from eval.metrics import androidcontrol as androidcontrol_metrics
from eval.metrics import mind2web as mind2web_metrics
from eval.progress import Progress
from eval.replay import replay_sample
from eval.report import markdown_report
from eval.results import (
    CONFIG_FILE, RESULTS_FILE, FidelityRecord, ResultRow, ResultsFile, StepResult, check_config, merge_rows,
    write_config,
)
from eval.summary import build_summary
from tasks.schema import AgentNetEpisode, SkippedSample, SynthdeskTask

logger = logging.getLogger(__name__)

__all__ = ["REPORT_FILE", "SUMMARY_FILE", "merge", "run_eval", "write_summary"]

SUMMARY_FILE = "summary.json"
REPORT_FILE = "summary.md"
_SCRIPT = "script:"


def run_eval(config: EvalConfig, out: str | Path, *, resume: bool = False, show_progress: bool = False,
             concurrency: int = 1, client: Any = None) -> dict[str, Any]:
    """Replay `config` into `out` and return the summary of everything in `out` (see the module docstring).

    concurrency: samples in flight at once (>= 1; above 1 only for an endpoint or a script model).
    client: `agent.endpoint.ClientOptions` for `config.endpoint` (None: the defaults).

    Raises ConfigError (`out` already holds results and `resume` is off, or holds another config's results; a
    missing script; an endpoint that cannot be reached or does not serve the model), `tasks.DatasetFormatError`
    (bad annotations), `tasks.MissingImageError` (an image is missing and `config.skip_missing` is off),
    `agent.endpoint.EndpointError` (the endpoint stopped answering, or refused a request, during the replay). A model
    that cannot be loaded (no weights), and a budget that keeps no more than a method's window, are ConfigErrors too.
    """
    out = Path(out)
    _check_concurrency(config, concurrency)
    _check_methods(config)
    dataset = tasks.load(config.benchmark, config.data, config.images, skip_missing=config.skip_missing,
                         **config.loader_options())
    with write_lock(out):
        _prepare(out, config, resume)
        try:
            return _replay(config, out, dataset, show_progress, concurrency, client)
        except ValueError as e:
            raise _as_config_error(e) from e


def _as_config_error(error: ValueError) -> ValueError:
    """A budget too small for the benchmark's prompts (`compression.CapacityError`) as a ConfigError with a way out;
    any other error as it is. (compression is imported only where a model runs, hence the module lookup.)"""
    errors = sys.modules.get("compression.errors")
    if errors is None or not isinstance(error, errors.CapacityError):
        return error
    return ConfigError(f"{error}: the budget keeps no more than the protected window on these prompts; use a larger "
                       "--budget or --max-tokens, or a smaller window, e.g. --method 'snapkv(window=2)'")


def _replay(config: EvalConfig, out: Path, dataset: tasks.Dataset[Any], show_progress: bool,
            concurrency: int, client: Any) -> dict[str, Any]:
    """The body of `run_eval`, under the output directory's lock."""
    ids = list(dataset.sample_ids)[: config.limit]
    index = {sid: i for i, sid in enumerate(ids)}
    mine = [sid for sid in ids if config.shard is None or config.shard.owns(index[sid])]
    write_config(out, config)
    write_plan(out, Plan(runs=tuple(run.name for run in config.runs()), sample_ids=tuple(mine)))
    results = ResultsFile(out / RESULTS_FILE).open()
    done = results.done
    plan = [(run, [sid for sid in mine if (run.name, sid) not in done]) for run in config.runs()]
    total = sum(len(todo) for _, todo in plan)
    logger.info("%s: %d samples (%s), %d run(s), %d (run, sample) pairs to do, %d already done; writing %s",
                config.benchmark, len(mine), f"shard {config.shard}" if config.shard else "all", len(plan), total,
                len(done), out)
    positions = _positions(config, ids) if config.model.startswith(_SCRIPT) else index
    replay = _SampleReplay(Engines(config, client), _GroundTruth(config), positions, index)
    started, n_written = time.perf_counter(), 0
    with Progress(total, enabled=show_progress) as bar:
        if config.fidelity:
            n_written = _replay_by_sample(config, dataset, mine, done, replay, results, bar)
        for run, todo in plan if not config.fidelity else []:
            if not todo:
                continue
            bar.describe(run.name)
            logger.info("run %s: %d samples%s", run.name, len(todo),
                        f", {concurrency} at a time" if concurrency > 1 else "")
            for row in _in_flight(dataset.subset(todo), functools.partial(replay, run), concurrency):
                results.append(row)
                n_written += 1
                logger.debug("%s %s: %s in %.2f s", run.name, row.sample_id, row.status, row.wall_s)
                bar.update()
    wall_s = time.perf_counter() - started
    throughput = {"samples": n_written, "wall_s": wall_s, "samples_per_s": n_written / wall_s if wall_s > 0 else None,
                  "concurrency": concurrency}
    return write_summary(out, config, results.rows, throughput=throughput)


def _replay_by_sample(config: EvalConfig, dataset: tasks.Dataset[Any], mine: list[str], done: set[tuple[str, str]],
                      replay: "_SampleReplay", results: ResultsFile, bar: Progress) -> int:
    """The `fidelity` order (module docstring); returns the rows written."""
    runs = config.runs()
    todo = [sid for sid in mine if any((run.name, sid) not in done for run in runs)]
    n_written = 0
    for item in dataset.subset(todo):
        pending = [run for run in runs if (run.name, item.sample_id) not in done]
        bar.describe(f"{item.sample_id} fidelity")
        fidelity = {} if isinstance(item, SkippedSample) else replay.fidelity(pending, item)
        for run in pending:
            bar.describe(f"{item.sample_id} {run.name}")
            row = replay(run, item, fidelity.get(run.name))
            results.append(row)
            n_written += 1
            bar.update()
    return n_written


def _check_methods(config: EvalConfig) -> None:
    """Build every run's compression method once, so an unknown option or a bad value stops the replay before
    anything loads (ConfigError)."""
    if config.endpoint is not None:
        return
    for run in config.runs():
        build_method(run.method, run.budget, run.max_tokens)


def _check_concurrency(config: EvalConfig, concurrency: int) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"--concurrency {concurrency!r}: must be an int >= 1")
    if concurrency > 1 and config.endpoint is None and not config.model.startswith(_SCRIPT):
        raise ConfigError(f"--concurrency {concurrency}: a model loaded in this process runs one conversation at a "
                          "time; concurrency needs --endpoint")


class _SampleReplay:
    """`replay(run, item)`: one dataset item (or `SkippedSample`) of `run` replayed and scored into its row, on the
    calling thread's engine."""

    def __init__(self, engines: Engines, ground_truth: "_GroundTruth", positions: dict[str, int],
                 index: dict[str, int]) -> None:
        self.engines, self.ground_truth, self.positions, self.index = engines, ground_truth, positions, index

    def __call__(self, run: RunKey, item: Any, fidelity: FidelityRecord | None = None) -> ResultRow:
        started = time.perf_counter()
        engine, settings = self.engines.get(run)
        if isinstance(item, SkippedSample):
            steps = [self.ground_truth.skipped(item)]
        else:
            steps = replay_sample(item, engine, settings, self.positions[item.sample_id])
        return ResultRow.build(run, engine.family, item.sample_id, self.index[item.sample_id], steps,
                               time.perf_counter() - started, fidelity=fidelity)

    def fidelity(self, runs: list[RunKey], item: Any) -> dict[str, FidelityRecord | None]:
        """Each run's fidelity on `item`: one shared full-cache reference per frames value (`eval.fidelity`)."""
        records: dict[str, FidelityRecord | None] = {}
        for frames in dict.fromkeys(self.engines.config.frames_of(run) for run in runs):
            group = [run for run in runs if self.engines.config.frames_of(run) == frames]
            forced = {run.name: self.engines.chat(run) for run in group}
            fan_out = FanOutEngine(self.engines.reference(frames), forced)
            _, settings = self.engines.get(group[0])
            replay_sample(item, fan_out, settings, self.positions[item.sample_id])
            records.update(fan_out.records())
        return records


def _in_flight(items: Iterable[Any], work: Callable[[Any], ResultRow], k: int) -> Iterator[ResultRow]:
    """`work(item)` for each item, at most `k` at once, yielding results as they finish (in order when k == 1).

    After the first failure no new item starts; those in flight finish (their results are yielded), then the first
    error is raised.
    """
    if k == 1:
        for item in items:
            yield work(item)
        return
    source = iter(items)
    pool = ThreadPoolExecutor(max_workers=k, thread_name_prefix="guikv-replay")
    pending: set[Future[ResultRow]] = set()
    error: BaseException | None = None
    try:
        while True:
            while error is None and len(pending) < k:
                item = next(source, None)
                if item is None:
                    break
                pending.add(pool.submit(work, item))
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                failure = future.exception()
                if failure is None:
                    yield future.result()
                elif error is None:
                    error = failure
                else:
                    logger.debug("also failed: %s: %s", type(failure).__name__, failure)
        if error is not None:
            raise error
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def merge(out: str | Path, shard_dirs: list[str | Path], *, allow_partial: bool = False) -> dict[str, Any]:
    """Combine the outputs of `--shard I/N` runs (every I of one N) into `out`; return the merged summary.

    Raises ConfigError for differing configs, missing or repeated shards, duplicate results, a shard still being
    written, an `out` that already holds results, or a shard that lacks results its plan.json lists (an interrupted
    eval), naming each short shard and its missing count. With `allow_partial`, short shards are merged and the
    summary is marked partial, with the counts.
    """
    out = Path(out)
    dirs = [Path(d) for d in shard_dirs]
    for d in dirs:
        check_not_written(d)
    config, rows = merge_rows(dirs)
    plans = [read_plan(d) for d in dirs]
    whole = Plan.union(plans)
    short = {str(d): n for d, plan in zip(dirs, plans) if (n := plan.n_missing(rows))}
    completeness = Completeness(n_results=whole.n_results, n_present=whole.n_results - sum(short.values()),
                                short=short)
    if completeness.is_partial and not allow_partial:
        counts = "; ".join(f"{d}: {n} of {plan.n_results} results missing" for d, plan in zip(dirs, plans)
                           if (n := short.get(str(d), 0)))
        raise ConfigError(f"incomplete shards ({counts}); finish each with `eval --resume` on its directory, or "
                          "pass --allow-partial to merge anyway (the summary is then marked partial)")
    if (out / RESULTS_FILE).exists() or (out / CONFIG_FILE).exists():
        raise ConfigError(f"{out} already holds results; merge into a new directory")
    with write_lock(out):
        write_config(out, config)
        write_plan(out, whole)
        order = {run.name: i for i, run in enumerate(config.runs())}
        rows.sort(key=lambda r: (order.get(r.run, len(order)), r.index))
        results = ResultsFile(out / RESULTS_FILE).open()
        for row in rows:
            results.append(row)
        logger.info("merged %d rows from %d shard directories into %s", len(rows), len(shard_dirs), out)
        if completeness.is_partial:
            logger.warning("merged a partial result: %s", completeness.describe())
        return write_summary(out, config, rows, partial=completeness.as_summary())


def write_summary(out: Path, config: EvalConfig, rows: list[ResultRow], partial: dict[str, Any] | None = None,
                  throughput: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write summary.json and summary.md for `rows` into `out` (each replaced whole); return the summary.
    partial: `Completeness.as_summary()` of a merge with short shards (None: complete). `throughput`: this
    invocation's (samples, wall_s, samples_per_s, concurrency), added as is when given."""
    summary = build_summary(config, rows, partial=partial)
    if throughput is not None:
        summary["throughput"] = throughput
    plots = write_plots(out, summary)
    if plots is not None:
        summary["plots"] = plots
    _write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    _write_text(out / REPORT_FILE, markdown_report(summary))
    return summary


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _prepare(out: Path, config: EvalConfig, resume: bool) -> None:
    has_results = (out / RESULTS_FILE).exists() or (out / CONFIG_FILE).exists()
    if has_results and not resume:
        raise ConfigError(f"{out} already holds results; pass --resume to continue them, or choose another --out")
    if resume and (out / CONFIG_FILE).exists():
        check_config(out, config)


def _positions(config: EvalConfig, ids: list[str]) -> dict[str, int]:
    """Script positions: the scored units (AgentNetBench and synthdesk steps, else samples) before each sample in
    the dataset."""
    if config.benchmark not in ("agentnetbench", "synthdesk"):
        return {sid: i for i, sid in enumerate(ids)}
    meta = tasks.load(config.benchmark, config.data, config.images, check_images=False, **config.loader_options())
    positions, n = {}, 0
    for episode in meta.subset(ids):
        positions[episode.sample_id] = n
        n += len(episode.steps) if isinstance(episode, (AgentNetEpisode, SynthdeskTask)) else 1
    return positions


class _GroundTruth:
    """The annotations read without images, for the records of skipped samples: AndroidControl and Mind2Web keep
    the ground truth's type and task size, so the summaries count them as the reference does."""

    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        self._samples: dict[str, Any] | None = None

    def skipped(self, item: SkippedSample) -> StepResult:
        """The step of a sample whose image is missing."""
        reason = f"{item.reason}: {item.detail}"
        score: ScoreRecord
        if item.benchmark == "androidcontrol":
            action = self._sample(item.sample_id).action
            score = androidcontrol_metrics.skipped_step(item.sample_id, reason, gt_type=action.action_type)
        elif item.benchmark == "mind2web":
            row = self._sample(item.sample_id)
            score = mind2web_metrics.skipped_step(item.sample_id, reason, split=row.split,
                                                  annotation_id=row.annotation_id, total_steps=row.total_steps)
        else:
            score = score_skipped(item)
        return StepResult(sample_id=item.sample_id, error=reason, score=score.model_dump(mode="json"))

    def _sample(self, sample_id: str) -> Any:
        if self._samples is None:
            c = self.config
            meta = tasks.load(c.benchmark, c.data, c.images, check_images=False)
            self._samples = {s.sample_id: s for s in meta}
        return self._samples[sample_id]
