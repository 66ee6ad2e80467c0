"""summary.json: every metric of every run (compat and fixed, with the per-category breakdowns of
`eval.metrics.summarize`) plus the cost of each run, from the rows of results.jsonl.

Costs per run (over all model calls): prompt tokens prefilled, tokens generated, KV-cache entries kept per KV head
(mean over calls of the mean over layers, and per layer), KV bytes, decode FLOPs (`eval.flops`) in total, per call
and per decode forward, and wall-clock seconds. When a "full" run is present, `decode_flops_per_token_vs_full` is
each run's per-token decode FLOPs over full's (0.611 = 38.9% fewer decoding FLOPs), full with the same screenshots in
context when the frames are swept. Each run block names its method spec, budget or token cap, and frames.

With `--fidelity`, each run's `fidelity` block averages its rows' `FidelityRecord`s over the samples that have one:
`top1_agreement` and `kl_mean` (each sample counts once), `kl_max` (the largest), `tokens` and `samples`.
"""

from __future__ import annotations

from typing import Any

from eval.config import EvalConfig, RunKey
from eval.metrics import summarize
from eval.results import CallRecord, ResultRow

__all__ = ["MAIN_METRIC", "build_summary", "cost_summary", "fidelity_summary", "main_metric"]

#: The headline metric of each benchmark: its path inside a variant block of `eval.metrics.summarize`.
MAIN_METRIC: dict[str, tuple[str, ...]] = {
    "screenspot-v2": ("overall_accuracy",),
    "screenspot-pro": ("overall_accuracy",),
    "agentnetbench": ("overall_score",),
    "androidcontrol": ("step_accuracy",),
    "mind2web": ("overall_metrics", "step_accuracy"),
    "synthdesk": ("step_accuracy",),
}


def main_metric(benchmark: str, metrics: dict[str, Any], variant: str) -> float | None:
    """The headline metric of `variant` ("compat" or "fixed") in a run's `metrics` block."""
    value: Any = metrics.get(variant, {})
    for key in MAIN_METRIC[benchmark]:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def cost_summary(calls: list[CallRecord]) -> dict[str, Any]:
    """The cost block of a run from its model calls (module docstring)."""
    with_cache = [c for c in calls if c.kv_entries_per_layer]
    n_layers = max((len(c.kv_entries_per_layer) for c in with_cache), default=0)
    per_layer = [_mean([c.kv_entries_per_layer[i] for c in with_cache if len(c.kv_entries_per_layer) > i])
                 for i in range(n_layers)]
    forwards = sum(max(c.n_generated - 1, 0) for c in calls)
    flops = sum(c.decode_flops for c in calls)
    return {
        "calls": len(calls),
        "prompt_tokens_total": sum(c.prompt_tokens for c in calls),
        "prompt_tokens_mean": _mean([c.prompt_tokens for c in calls]),
        "generated_tokens_total": sum(c.n_generated for c in calls),
        "seen_tokens_mean": _mean([c.n_seen for c in calls]),
        "kv_entries_mean": _mean([sum(c.kv_entries_per_layer) / len(c.kv_entries_per_layer) for c in with_cache]),
        "kv_entries_per_layer_mean": per_layer,
        "kv_bytes_mean": _mean([c.kv_bytes for c in calls]),
        "decode_forwards": forwards,
        "decode_flops_total": flops,
        "decode_flops_per_call": flops / len(calls) if calls else 0.0,
        "decode_flops_per_token": flops / forwards if forwards else 0.0,
        "prefill_s_total": sum(c.prefill_s for c in calls),
        "decode_s_total": sum(c.decode_s for c in calls),
    }


def fidelity_summary(rows: list[ResultRow]) -> dict[str, Any] | None:
    """The fidelity block of a run (module docstring); None when no row has a record."""
    records = [r.fidelity for r in rows if r.fidelity is not None]
    if not records:
        return None
    return {
        "samples": len(records), "tokens": sum(f.tokens for f in records),
        "top1_agreement": _mean([f.top1_agreement for f in records]),
        "kl_mean": _mean([f.kl_mean for f in records]), "kl_max": max(f.kl_max for f in records),
    }


def _run_block(benchmark: str, run: RunKey, frames: int, rows: list[ResultRow]) -> dict[str, Any]:
    rows = sorted(rows, key=lambda r: r.index)  # dataset order (AndroidControl compat needs it)
    scores = [step.score for row in rows for step in row.steps]
    calls = [call for row in rows for step in row.steps for call in step.calls]
    return {
        "run": run.name, "method": run.method, "budget": run.budget, "max_tokens": run.max_tokens,
        "frames": frames, "samples": len(rows), "fidelity": fidelity_summary(rows),
        "statuses": {s: sum(r.status == s for r in rows) for s in ("ok", "failed", "skipped")},
        "metrics": summarize(benchmark, scores),
        "cost": cost_summary(calls),
        "wall_s": sum(r.wall_s for r in rows),
    }


def build_summary(config: EvalConfig, rows: list[ResultRow], partial: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
    """`{"benchmark", "model", "family", "config", "partial", "runs": [...]}` for every run of `config` that has
    rows. partial: None, or the counts of a merge that lacks results (`eval.plan.Completeness`)."""
    runs = []
    for run in config.runs():
        mine = [r for r in rows if r.run == run.name]
        if mine:
            runs.append(_run_block(config.benchmark, run, config.frames_of(run), mine))
    fulls = [r for r in runs if r["method"] == "full"]
    for block in runs:  # against the full cache of the same history length (uncapped first)
        same = sorted((r for r in fulls if r["frames"] == block["frames"]), key=lambda r: r["max_tokens"] is not None)
        full = same[0] if same else (fulls[0] if fulls else None)
        base = full["cost"]["decode_flops_per_token"] if full else 0.0
        ours = block["cost"]["decode_flops_per_token"]
        block["cost"]["decode_flops_per_token_vs_full"] = ours / base if base else None
    families = sorted({r.family for r in rows})
    return {
        "benchmark": config.benchmark, "model": config.model, "family": families[0] if len(families) == 1 else families,
        "config": config.model_dump(mode="json"), "partial": partial, "runs": runs,
    }
