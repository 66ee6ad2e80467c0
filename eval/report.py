"""The Markdown report of a summary (summary.md, also printed by `eval`):

1. the headline metric by method (rows) and budget or token cap (columns), one table per screenshots-in-context
   value when the frames are swept; with fidelity, the same table for the top-1 agreement and for the mean KL;
2. when the frames are swept, the headline metric by method and screenshots in context, one table per budget or cap
   (at a fixed cap this is "does compression buy a longer memory in the same bytes?");
3. for a synthdesk sweep, one table of every run's accuracy per task kind (one run: its own table with chance levels);
4. the plots (`eval.plots`), or why there are none;
5. one line per run with its scored and skipped units (samples, or AgentNetBench steps: the metrics' own counts),
   both metric variants, the costs and the fidelity; then the invocation's throughput (samples per second).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eval.metrics.synthdesk import CROWDS
from eval.plan import describe_partial
from eval.summary import MAIN_METRIC, main_metric

__all__ = ["markdown_report", "pivot_table", "size_header", "size_of", "size_label"]

Cell = Callable[[dict[str, Any]], str]


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _budget(budget: float | None) -> str:
    return "–" if budget is None else f"{budget:g}"


def size_label(run: dict[str, Any]) -> str:
    """A run's column: `10%`, `512 tok`, or `full cache` (uncapped full)."""
    if run.get("max_tokens") is not None:
        return f"{run['max_tokens']} tok"
    return "full cache" if run["budget"] is None else f"{run['budget']:g}%"


def pivot_table(runs: list[dict[str, Any]], title: str, cell: Cell, column: Callable[[dict[str, Any]], Any],
                header: Callable[[Any], str]) -> list[str]:
    """A method x column table (Markdown lines, a blank line last); an uncapped full run fills every column of its
    row."""
    columns = sorted({column(r) for r in runs if not _uncapped_full(r)}, key=_order) or [column(runs[0])]
    methods = list(dict.fromkeys(r["method"] for r in runs))
    lines = [title, "", "| method | " + " | ".join(header(c) for c in columns) + " |", "|---|" + "---:|" * len(columns)]
    for method in methods:
        mine = [r for r in runs if r["method"] == method]
        cells = []
        for c in columns:
            run = next((r for r in mine if column(r) == c), None) or next((r for r in mine if _uncapped_full(r)), None)
            cells.append(cell(run) if run else "")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines + [""]


def _uncapped_full(run: dict[str, Any]) -> bool:
    return run["budget"] is None and run.get("max_tokens") is None


def _order(value: Any) -> tuple[int, float]:
    return (0, float(value)) if isinstance(value, (int, float)) else (1, 0.0)


def size_of(run: dict[str, Any]) -> Any:
    """A run's budget (percent) or token cap; None for an uncapped full cache."""
    return run["max_tokens"] if run.get("max_tokens") is not None else run["budget"]


def size_header(runs: list[dict[str, Any]]) -> Callable[[Any], str]:
    """Column header of a `size_of` value: `10%`, `512 tok` or `full cache`."""
    capped = any(r.get("max_tokens") is not None for r in runs)
    return lambda v: "full cache" if v is None else (f"{v} tok" if capped else f"{v:g}%")


def markdown_report(summary: dict[str, Any]) -> str:
    """The report (module docstring) of `eval.summary.build_summary(...)`'s output."""
    bench, runs = summary["benchmark"], summary["runs"]
    metric = ".".join(MAIN_METRIC[bench])
    endpoint = summary["config"].get("endpoint")
    where = f" at {endpoint}" if endpoint else ""
    lines = [f"### {bench}: {summary['model']}{where} ({summary['config']['context']})", ""]
    partial = summary.get("partial")
    if partial:
        lines += [f"**Partial**: {describe_partial(partial)}; merged with --allow-partial.", ""]
    if not runs:
        return "\n".join(lines + ["No results yet."]) + "\n"
    accuracy: Cell = lambda r: _pct(main_metric(bench, r["metrics"], "compat"))  # noqa: E731
    tables: list[tuple[str, Cell]] = [(f"{metric} (compat, %)", accuracy)]
    if any(r.get("fidelity") for r in runs):
        tables += [("top-1 agreement with the full cache (%, teacher-forced on its replies)",
                    lambda r: _pct(r["fidelity"]["top1_agreement"]) if r.get("fidelity") else "–"),
                   ("mean KL(full cache || method) per reply token (nats)",
                    lambda r: f"{r['fidelity']['kl_mean']:.4f}" if r.get("fidelity") else "–")]
    frames = sorted({r.get("frames") for r in runs if r.get("frames") is not None})
    swept = len(frames) > 1
    header = size_header(runs)
    kind = "token cap" if any(r.get("max_tokens") is not None for r in runs) else "budget"
    for f in frames if swept else [None]:
        mine = [r for r in runs if f is None or r.get("frames") == f]
        at = f" with {f} screenshots in context" if swept else ""
        for title, cell in tables:
            lines += pivot_table(mine, f"{title} by method and {kind}{at}:", cell, size_of, header)
    if swept:
        for size in sorted({size_of(r) for r in runs if not _uncapped_full(r)}, key=_order) or [None]:
            mine = [r for r in runs if size_of(r) == size or _uncapped_full(r)]
            lines += pivot_table(mine, f"{metric} (compat, %) by method and screenshots in context at {header(size)}:",
                            accuracy, lambda r: r.get("frames"), str)
    if bench == "synthdesk":
        lines += _synthdesk_kinds(runs[0]) if len(runs) == 1 else _synthdesk_sweep(runs)
    lines += _plots(summary.get("plots"))
    lines += _runs_table(bench, runs)
    throughput = summary.get("throughput")
    if throughput and throughput["samples"]:
        lines += ["", f"This invocation: {throughput['samples']} samples in {throughput['wall_s']:.1f} s, "
                      f"{throughput['samples_per_s']:.2f} samples/s (concurrency {throughput['concurrency']})."]
    return "\n".join(lines) + "\n"


def _runs_table(bench: str, runs: list[dict[str, Any]]) -> list[str]:
    fidelity = any(r.get("fidelity") for r in runs)
    extra_head = " top-1 agree % | KL mean |" if fidelity else ""
    lines = ["| run | budget % | scored | skipped | compat % | fixed % | prompt tok/call | KV entries/layer "
             f"| KV MiB | decode MFLOPs/token | decode FLOPs vs full |{extra_head}",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|---:|" * fidelity]
    for r in runs:
        cost = r["cost"]
        ratio = cost.get("decode_flops_per_token_vs_full")
        vs_full = "–" if ratio is None else f"{100 * (ratio - 1):+.1f}%"
        counts = r["metrics"]["counts"]
        fid = r.get("fidelity")
        extra = (f" {_pct(fid['top1_agreement'])} | {fid['kl_mean']:.4f} |" if fid else " – | – |") if fidelity else ""
        lines.append(
            f"| {r['run']} | {_budget(r['budget'])} | {counts['records'] - counts['skipped']} | {counts['skipped']} "
            f"| {_pct(main_metric(bench, r['metrics'], 'compat'))} | {_pct(main_metric(bench, r['metrics'], 'fixed'))} "
            f"| {cost['prompt_tokens_mean']:.0f} | {cost['kv_entries_mean']:.0f} | {cost['kv_bytes_mean'] / 2**20:.2f} "
            f"| {cost['decode_flops_per_token'] / 1e6:.3f} | {vs_full} |{extra}")
    return lines


def _plots(plots: dict[str, Any] | None) -> list[str]:
    if not plots:
        return []
    if plots.get("skipped"):
        return [f"Plots: none, {plots['skipped']}.", ""]
    return [f"![{title}]({path})" for title, path in plots["files"].items()] + [""]


def _synthdesk_sweep(runs: list[dict[str, Any]]) -> list[str]:
    """Every run's step accuracy per task kind (and on the memory steps), in one table, chance in the header."""
    first = runs[0]["metrics"]["compat"]
    kinds = list(first["by_kind"])
    chance = [first["by_kind"][k]["chance_step"] for k in kinds] + [first["memory"]["chance_step"],
                                                                      first["chance_step"], first["chance_task"]]
    names = [*kinds, "memory steps", "all steps", "task success"]
    lines = ["step accuracy by task kind, % (chance in brackets: a random argument of the right action type):", "",
             "| run | " + " | ".join(f"{n} ({_pct(c)})" for n, c in zip(names, chance)) + " | unparsable |",
             "|---|" + "---:|" * (len(names) + 1)]
    for r in runs:
        m = r["metrics"]["compat"]
        cells = [_pct(m["by_kind"].get(k, {}).get("step_accuracy")) for k in kinds]
        cells += [_pct(m["memory"]["step_accuracy"]), _pct(m["step_accuracy"]), _pct(m["task_success"]),
                  _pct(m["unparsable_rate"])]
        lines.append(f"| {r['run']} | " + " | ".join(cells) + " |")
    return lines + [""]


def _synthdesk_kinds(run: dict[str, Any]) -> list[str]:
    """One run's accuracy per task kind (and on the memory steps alone), each beside its chance level."""
    m = run["metrics"]["compat"]
    lines = [f"{run['run']}: accuracy by task kind, % (chance: a random argument of the right action type; "
             f"unparsable replies {_pct(m['unparsable_rate'])}%)", "",
             "| kind | steps | step acc | chance | tasks | task success | chance |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    blocks = [*m["by_kind"].items(), ("memory steps", m["memory"]), ("all", m)]
    for name, b in blocks:
        lines.append(f"| {name} | {b['steps']} | {_pct(b['step_accuracy'])} | {_pct(b['chance_step'])} "
                     f"| {b['tasks']} | {_pct(b['task_success'])} | {_pct(b['chance_task'])} |")
    targets = m.get("grounding_by_target")  # absent from summaries written before it
    if targets:
        lines += ["", "grounding by target (role; on: its state marks it, e.g. an open menu's title; covered: a "
                  "widget painted over it overlaps its box):", "", "| target | steps | right | step acc | chance |",
                  "|---|---:|---:|---:|---:|"]
        for name, b in sorted(targets.items(), key=lambda item: (-item[1]["steps"], item[0])):
            lines.append(f"| {name} | {b['steps']} | {b['correct_steps']} | {_pct(b['step_accuracy'])} "
                         f"| {_pct(b['chance_step'])} |")
    crowds = m.get("grounding_by_crowd")  # absent from summaries written before it
    if crowds:
        lines += ["", "grounding by crowding (interactive widgets on the screen):", "",
                  "| widgets | steps | right | step acc | chance |", "|---|---:|---:|---:|---:|"]
        order = {name: i for i, (_, name) in enumerate(CROWDS)}
        for name, b in sorted(crowds.items(), key=lambda item: order.get(item[0], len(order))):
            lines.append(f"| {name} | {b['steps']} | {b['correct_steps']} | {_pct(b['step_accuracy'])} "
                         f"| {_pct(b['chance_step'])} |")
    misses = m.get("grounding_misses")
    if misses and misses["wrong"]:
        def tally(counts: dict[str, int]) -> str:
            return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        lines += ["", f"grounding misses: {misses['wrong']}; {misses['not_a_click']} without a click "
                  f"({misses['unparsable']} unparsable); {misses['clicks']} clicks elsewhere, "
                  f"{misses['clicks_named']} of them after a Thought that names the target; landed on: "
                  f"{tally(misses['landed']) or '-'}; coordinates off the target (x: its row, another column): "
                  f"{tally(misses['off']) or '-'}"]
    return lines + [""]
