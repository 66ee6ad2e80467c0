"""The Markdown report of a summary: the headline metric across methods (rows) and budgets (columns), then one
line per run with its scored and skipped units (samples, or AgentNetBench steps: the metrics' own counts), both
metric variants and the costs; for synthdesk, then each run's accuracy per task kind next to its chance level; then
the invocation's throughput (samples per second)."""

from __future__ import annotations

from typing import Any

from eval.plan import describe_partial
from eval.summary import MAIN_METRIC, main_metric

__all__ = ["markdown_report"]


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _budget(budget: float | None) -> str:
    return "–" if budget is None else f"{budget:g}"


def markdown_report(summary: dict[str, Any]) -> str:
    """Two Markdown tables (GitHub style) for `eval.summary.build_summary(...)`'s output."""
    bench = summary["benchmark"]
    runs = summary["runs"]
    metric = ".".join(MAIN_METRIC[bench])
    endpoint = summary["config"].get("endpoint")
    where = f" at {endpoint}" if endpoint else ""
    lines = [f"### {bench}: {summary['model']}{where} ({summary['config']['context']})", ""]
    partial = summary.get("partial")
    if partial:
        lines += [f"**Partial**: {describe_partial(partial)}; merged with --allow-partial.", ""]
    # Budget columns; a sweep of "full" alone has none, so it gets one column for the whole cache.
    budgets: list[float | None] = sorted({r["budget"] for r in runs if r["budget"] is not None}) or [None]
    methods = list(dict.fromkeys(r["method"] for r in runs))
    lines += [f"{metric} (compat, %) by method and budget:", "",
              "| method | " + " | ".join("full cache" if b is None else f"{b:g}%" for b in budgets) + " |",
              "|---|" + "---:|" * len(budgets)]
    for method in methods:
        cells = []
        for b in budgets:
            run = next((r for r in runs if r["method"] == method and (r["budget"] == b or r["budget"] is None)), None)
            cells.append(_pct(main_metric(bench, run["metrics"], "compat")) if run else "")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "| run | budget % | scored | skipped | compat % | fixed % | prompt tok/call | KV entries/layer "
              "| KV MiB | decode MFLOPs/token | decode FLOPs vs full |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        cost = r["cost"]
        ratio = cost.get("decode_flops_per_token_vs_full")
        vs_full = "–" if ratio is None else f"{100 * (ratio - 1):+.1f}%"
        counts = r["metrics"]["counts"]
        lines.append(
            f"| {r['run']} | {_budget(r['budget'])} | {counts['records'] - counts['skipped']} | {counts['skipped']} "
            f"| {_pct(main_metric(bench, r['metrics'], 'compat'))} | {_pct(main_metric(bench, r['metrics'], 'fixed'))} "
            f"| {cost['prompt_tokens_mean']:.0f} | {cost['kv_entries_mean']:.0f} | {cost['kv_bytes_mean'] / 2**20:.2f} "
            f"| {cost['decode_flops_per_token'] / 1e6:.3f} | {vs_full} |")
    if bench == "synthdesk":
        for r in runs:
            lines += _synthdesk_kinds(r)
    throughput = summary.get("throughput")
    if throughput and throughput["samples"]:
        lines += ["", f"This invocation: {throughput['samples']} samples in {throughput['wall_s']:.1f} s, "
                      f"{throughput['samples_per_s']:.2f} samples/s (concurrency {throughput['concurrency']})."]
    return "\n".join(lines) + "\n"


def _synthdesk_kinds(run: dict[str, Any]) -> list[str]:
    """One run's accuracy per task kind (and on the memory steps alone), each beside its chance level."""
    m = run["metrics"]["compat"]
    lines = ["", f"{run['run']}: accuracy by task kind, % (chance: a random argument of the right action type; "
             f"unparsable replies {_pct(m['unparsable_rate'])}%)", "",
             "| kind | steps | step acc | chance | tasks | task success | chance |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    blocks = [*m["by_kind"].items(), ("memory steps", m["memory"]), ("all", m)]
    for name, b in blocks:
        lines.append(f"| {name} | {b['steps']} | {_pct(b['step_accuracy'])} | {_pct(b['chance_step'])} "
                     f"| {b['tasks']} | {_pct(b['task_success'])} | {_pct(b['chance_task'])} |")
    return lines
