"""Training speed of gui-tiny on this machine's CPUs: one process of N threads against N processes of one thread.

Each layout trains `--steps` optimiser steps of the late curriculum (every task kind, full screen density, batch 8),
the most expensive part of a default run, from a checkpoint of the seeded starting weights (a step costs the same
whatever the weights), and the table gives seconds per step and the speed against the first row, measured in the
same run. The default run's wall time is about the reading phase plus its 950 task steps at this rate.

Usage: ``python bench/train_step.py [--steps 20] [--cores 2] [--lm-layers 4] [--vision-depth 2]`` (a deeper
gui-tiny, as ``python -m agent train --lm-layers`` trains one, costs more per step)
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from agent.training.run import TrainConfig, _replica, train  # noqa: E402

LATE = 1500  # a step of the default run's last 10%: density 1.0, the task kinds in thirds


def seconds_per_step(procs: int, threads: int, steps: int, folder: Path, lm_layers: int, vision_depth: int) -> float:
    """Train `steps` steps after step `LATE` with `procs` x `threads`; the mean wall time of a step, the first
    excluded (it warms the caches)."""
    cfg = TrainConfig(out=folder, steps=LATE + steps, procs=procs, threads=threads, checkpoint_every=10_000,
                      lm_layers=lm_layers, vision_depth=vision_depth)
    bundle, heads, optim = _replica(cfg)
    folder.mkdir(parents=True)
    torch.save(dict(model=bundle.model.state_dict(), heads=heads.state_dict(), optim=optim.state_dict(), step=LATE,
                    elapsed_s=0.0, config=cfg.saved()), folder / "checkpoint.pt")
    started = time.perf_counter()
    train(cfg, resume=True, progress=False)
    wall = time.perf_counter() - started
    elapsed = [float(r["elapsed_s"]) for r in csv.DictReader(open(folder / "curve.csv"))]
    per_step = (elapsed[-1] - elapsed[0]) / (len(elapsed) - 1)
    print(f"  {procs} x {threads}: {wall:.0f} s with start-up", file=sys.stderr)
    return per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per layout. Default: 20")
    parser.add_argument("--cores", type=int, default=2, help="CPU cores to share out. Default: 2")
    parser.add_argument("--lm-layers", type=int, default=4, help="gui-tiny's LM layers. Default: 4")
    parser.add_argument("--vision-depth", type=int, default=2, help="gui-tiny's vision blocks. Default: 2")
    args = parser.parse_args()
    layouts = [(1, args.cores), (args.cores, 1)]
    with tempfile.TemporaryDirectory() as tmp:
        times = [seconds_per_step(p, t, args.steps, Path(tmp) / f"{p}x{t}", args.lm_layers, args.vision_depth)
                 for p, t in layouts]
    print(f"gui-tiny with {args.lm_layers} LM layers and {args.vision_depth} vision blocks")
    print(f"| processes x threads | s per step ({args.steps} late steps, batch 8) | speed |\n|---|---:|---:|")
    for (p, t), s in zip(layouts, times):
        print(f"| {p} x {t} | {s:.2f} | {times[0] / s:.2f}x |")


if __name__ == "__main__":
    main()
