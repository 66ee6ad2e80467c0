"""Shared helpers of the replay-runner tests: the real samples folder, scripted models, reading results back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eval import EvalConfig, run_eval
from eval.results import RESULTS_FILE, ResultRow
from paths import BENCH_DIR

MIND2WEB = Path(__file__).resolve().parents[1] / "data" / "mind2web"


@pytest.fixture(scope="session")
def bench() -> Path:
    """The real benchmark samples (shared/data/benchmarks); fails, never skips, when absent."""
    if not (BENCH_DIR / "README.md").is_file():
        pytest.fail(f"real benchmark samples not found at {BENCH_DIR} (set GUIKV_SHARED_DIR)")
    return BENCH_DIR


def write_script(directory: Path, replies: list[str], name: str = "script.txt") -> str:
    """A `script:FILE` model spec whose replies are `replies` (separated by `---` lines)."""
    path = directory / name
    path.write_text("\n---\n".join(replies) + "\n", encoding="utf-8")
    return f"script:{path}"


def read_rows(out: Path) -> list[ResultRow]:
    return [ResultRow.model_validate_json(line) for line in (out / RESULTS_FILE).read_text().split("\n") if line]


def replay(out: Path, **values: Any) -> tuple[dict, list[ResultRow]]:
    """Build an EvalConfig from `values`, run it into `out`, return (summary, rows)."""
    summary = run_eval(EvalConfig.build(**values), out)
    return summary, read_rows(out)


def run_metrics(summary: dict, run: str = "gui_kv@10") -> dict:
    return next(r for r in summary["runs"] if r["run"] == run)["metrics"]


def comparable(summary: dict) -> dict:
    """A summary without wall-clock fields (they differ between otherwise identical runs) and without the
    invocation's throughput (a merge or a resumed run has its own)."""
    runs = []
    for block in summary["runs"]:
        cost = {k: v for k, v in block["cost"].items() if not k.endswith("_s_total")}
        runs.append({**block, "cost": cost, "wall_s": None})
    return {**{k: v for k, v in summary.items() if k != "throughput"}, "runs": runs}


def comparable_rows(rows: list[ResultRow]) -> list[dict]:
    """Rows as dicts without timings, in (run, index) order."""
    out = []
    for row in sorted(rows, key=lambda r: (r.run, r.index)):
        data = row.model_dump(mode="json", exclude={"wall_s"})
        for step in data["steps"]:
            for call in step["calls"]:
                call.pop("prefill_s"), call.pop("decode_s")
        out.append(data)
    return out
