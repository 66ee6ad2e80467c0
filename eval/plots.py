"""Plots of a sweep, one line per method: the headline metric, the fidelity and the KV bytes against the budget (or
token cap), and the headline metric against the screenshots in context when the frames are swept.

matplotlib is an optional extra (`pip install 'guikv-agent[plots]'`): without it `write_plots` says so once per
process (a warning) and returns the reason, which the report prints instead of the pictures; the tables are written
either way. Nothing is drawn for a summary with fewer than two budgets (or caps, or frames values).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from eval.method_spec import parse_method
from eval.summary import MAIN_METRIC, main_metric

__all__ = ["PLOTS_DIR", "write_plots"]

logger = logging.getLogger(__name__)

PLOTS_DIR = "plots"
_MISSING = "matplotlib is not installed (pip install 'guikv-agent[plots]')"
_warned = False


def _size(run: dict[str, Any]) -> float | None:
    return run["max_tokens"] if run.get("max_tokens") is not None else run["budget"]


def _series(runs: list[dict[str, Any]], x_of: Any, y_of: Any) -> dict[str, list[tuple[float, float]]]:
    """method -> sorted (x, y) points, runs without x or y left out."""
    out: dict[str, list[tuple[float, float]]] = {}
    for r in runs:
        x, y = x_of(r), y_of(r)
        if x is not None and y is not None:
            out.setdefault(r["method"], []).append((float(x), float(y)))
    return {m: sorted(points) for m, points in out.items()}


def _budget_base(runs: list[dict[str, Any]]) -> str:
    """What a budget is a percent of: the screenshot tokens when every compressing run keeps its text entries
    (``keep_text=true``), else every token."""
    compressing = [r for r in runs if r.get("budget") is not None]
    text_kept = bool(compressing) and all(parse_method(r["method"]).kwargs.get("keep_text") for r in compressing)
    return "screenshot tokens, text kept" if text_kept else "tokens"


def write_plots(out: Path, summary: dict[str, Any]) -> dict[str, Any] | None:
    """Draw the plots of `summary` into `out/plots/`; return the summary's `plots` block: {"files": {title: relative
    path}}, {"skipped": reason}, or None when there is nothing to plot."""
    runs = summary["runs"]
    sized = [r for r in runs if _size(r) is not None]
    frames = {r.get("frames") for r in runs}
    by_size = len({_size(r) for r in sized}) > 1
    by_frames = len(frames) > 1
    if not (by_size or by_frames):
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        global _warned
        if not _warned:
            logger.warning("no plots: %s; the tables are written", _MISSING)
            _warned = True
        return {"skipped": _MISSING}
    bench = summary["benchmark"]
    metric = ".".join(MAIN_METRIC[bench])
    capped = any(r.get("max_tokens") is not None for r in runs)
    x_label = "KV cap (entries per head)" if capped else f"budget (% of {_budget_base(sized)} seen)"
    accuracy = lambda r: main_metric(bench, r["metrics"], "compat")  # noqa: E731
    folder = out / PLOTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    def save(fig: Any, name: str, title: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / f"{name}.png", dpi=110)
        plt.close(fig)
        files[title] = f"{PLOTS_DIR}/{name}.png"

    groups = sorted(f for f in frames if f is not None) if by_frames else [None]
    if by_size:
        for f in groups:
            mine = [r for r in runs if f is None or r.get("frames") == f]
            tag = "" if f is None else f"_f{f}"
            at = "" if f is None else f", {f} screenshots"
            panels: list[tuple[str, Any, bool]] = [(f"{metric} (compat)", accuracy, False)]
            save(_lines(plt, mine, panels, x_label, f"{bench}: accuracy against {x_label.split(' (')[0]}{at}"),
                 f"accuracy_vs_budget{tag}", f"accuracy against budget{at}")
            if any(r.get("fidelity") for r in mine):
                fid = [r for r in mine if r.get("fidelity") and not _full(r)]
                panels = [("top-1 agreement with full", lambda r: r["fidelity"]["top1_agreement"], False),
                          ("mean KL(full || method), nats", lambda r: r["fidelity"]["kl_mean"] or None, True)]
                save(_lines(plt, fid, panels, x_label, f"{bench}: fidelity to the full cache{at}"),
                     f"fidelity_vs_budget{tag}", f"fidelity against budget{at}")
            panels = [("KV cache, MiB (mean over calls)", lambda r: r["cost"]["kv_bytes_mean"] / 2**20, False)]
            save(_lines(plt, mine, panels, x_label, f"{bench}: KV bytes{at}"), f"kv_bytes_vs_budget{tag}",
                 f"KV bytes against budget{at}")
    if by_frames:
        sizes: list[float | None] = [*sorted({float(_size(r) or 0) for r in sized})] or [None]
        for size in sizes:
            mine = [r for r in runs if _size(r) == size or _full(r)]
            fig, ax = plt.subplots(figsize=(6.4, 4.2))
            for method, points in _series(mine, lambda r: r.get("frames"), accuracy).items():
                ax.plot(*zip(*points), marker="o", label=method)
            at = "" if size is None else (f" at {size:g} tokens" if capped else f" at {size:g}%")
            ax.set(xlabel="screenshots in context", ylabel=f"{metric} (compat)",
                   title=f"{bench}: accuracy against history length{at}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            save(fig, "accuracy_vs_frames" + ("" if size is None else f"_{size:g}"),
                 f"accuracy against screenshots in context{at}")
    return {"files": files}


def _full(run: dict[str, Any]) -> bool:
    return run["method"] == "full" and run.get("max_tokens") is None


def _lines(plt: Any, runs: list[dict[str, Any]], panels: list[tuple[str, Any, bool]], x_label: str,
           title: str) -> Any:
    """One figure, one panel per (y label, value, log scale), one line per method; an uncapped full cache is a
    dashed horizontal line."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.2), squeeze=False)
    for ax, (label, value, log) in zip(axes[0], panels):
        for method, points in _series([r for r in runs if not _full(r)], _size, value).items():
            ax.plot(*zip(*points), marker="o", label=method)
        for r in runs:
            if _full(r) and value(r) is not None:
                ax.axhline(float(value(r)), color="black", linestyle="--", linewidth=1, label=f"{r['run']} (full cache)")
        _budget_ticks(ax, sorted({float(_size(r) or 0) for r in runs if _size(r) is not None}))
        if log:
            ax.set_yscale("log")
        ax.set(xlabel=x_label, ylabel=label)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return fig


def _budget_ticks(ax: Any, xs: list[float]) -> None:
    """A log x axis whose ticks are the sweep's own values, written plainly (5, 10, 20, 40)."""
    ax.set_xscale("log")
    ax.minorticks_off()
    if xs:
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{x:g}" for x in xs])
