"""How fast the synthdesk training API makes data on one core (prints a table; no GPU, no model).

For each kind (and the 1:1:1 mix): `tasks.synthdesk.training.sample(i, kind)` (one step, the frames up to it
rendered) and `training.episode(i, kind)` (every frame of the task rendered), in samples (tasks) per second and
per minute, single process.

Usage: ``python bench/synthdesk_speed.py [--n 600]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.synthdesk import KINDS, training  # noqa: E402


def _rate(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    fn(0)  # warm the font caches
    started = time.perf_counter()
    for i in range(1, n + 1):
        fn(i)
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600, help="samples per measurement. Default: 600")
    args = parser.parse_args()
    print("| what | kind | per second | per minute |\n|---|---|---:|---:|")
    for name, api in (("sample", training.sample), ("episode", training.episode)):
        for kind in (*KINDS, None):
            rate = _rate(lambda i: api(i, kind), args.n)  # noqa: B023
            print(f"| {name} | {kind or 'mix'} | {rate:.0f} | {60 * rate:,.0f} |")


if __name__ == "__main__":
    main()
