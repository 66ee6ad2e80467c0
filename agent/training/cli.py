"""`python -m agent train`: the command-line face of `agent.training.run` (parsing only, no logic)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_train_parser", "train_command"]


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    from agent.training.run import TrainConfig

    defaults = TrainConfig(out=Path("."))
    tr = sub.add_parser("train", help="train gui-tiny on synthdesk (resumable)",
                        description="Train gui-tiny on synthdesk from random weights. Writes OUT/checkpoint.pt every "
                                    "--checkpoint-every steps, OUT/curve.csv and OUT/curve.png; --resume continues. "
                                    "Export the result with --export DIR.")
    tr.add_argument("--out", type=Path, default=Path("runs/gui-tiny"), help="run directory. Default: runs/gui-tiny")
    tr.add_argument("--steps", type=int, default=defaults.steps, help=f"optimiser steps. Default: {defaults.steps}")
    tr.add_argument("--batch", type=int, default=defaults.batch, help=f"tasks per step. Default: {defaults.batch}")
    tr.add_argument("--lr", type=float, default=defaults.lr, help=f"peak learning rate. Default: {defaults.lr}")
    tr.add_argument("--reading-steps", type=int, default=None,
                    help="first steps that train reading alone, on single screens (counted in --steps). "
                         f"Default: {defaults.reading_steps}, or 0 with --init")
    tr.add_argument("--init", default=None, metavar="DIR",
                    help="continue training a trained model: a gui-tiny model directory (an --export, or gui-tiny "
                         "for the shipped one); every step draws the curriculum's final mix. Default: random "
                         "weights from --seed")
    tr.add_argument("--init-heads", default=None, type=Path, metavar="RUN",
                    help="with --init: start the auxiliary heads from the final checkpoint of RUN, the run that the "
                         "--init model was exported from (fresh heads pull the model toward random probes until "
                         "they fit). Default: fresh heads")
    tr.add_argument("--heads-first", type=int, default=defaults.heads_first, metavar="N",
                    help="with --init and fresh heads: the first N steps (counted in --steps) train the auxiliary "
                         "heads alone, the model frozen, so the losses read through them do not pull the model "
                         "toward random probes; the model's warm-up starts after them. Default: 0")
    tr.add_argument("--mix", type=_mix, default=defaults.mix, metavar="G,E,M",
                    help="relative weights of grounding, episode and memory steps in the curriculum's final mix "
                         "(every step of an --init run). Default: 1,1,1 (thirds)")
    tr.add_argument("--lm-layers", type=int, default=None,
                    help="LM layers (at least 3). With --init, more than the model's own deepens it: new layers "
                         "start by writing nothing, so training starts from its exact outputs. Default: "
                         f"{defaults.lm_layers}, or the --init model's")
    tr.add_argument("--vision-depth", type=int, default=None,
                    help="vision blocks, the last one full-attention (with --init: as --lm-layers). Default: "
                         f"{defaults.vision_depth}, or the --init model's")
    tr.add_argument("--kv-heads", type=int, default=None,
                    help="key/value heads of the LM attention (1, 2 or 4). With --init, a multiple of the model's "
                         "own widens it: each KV head is copied to the query heads that shared it, so training "
                         f"starts from its exact outputs. Default: {defaults.kv_heads}, or the --init model's")
    tr.add_argument("--inverted-every", type=int, default=defaults.inverted_every, metavar="K",
                    help="one example in K of a grounding step has a target drawn inverted (an open menu's title, a "
                         f"selected list item); 0: none. Default: {defaults.inverted_every}")
    tr.add_argument("--beside-every", type=int, default=defaults.beside_every, metavar="K",
                    help="one example in K of a grounding step is on a screen with an inverted widget and asks for it "
                         "or, half the time, a widget within a cell of it (its neighbour in a list or menu); 0: none. "
                         f"Default: {defaults.beside_every}")
    tr.add_argument("--lit-every", type=int, default=defaults.lit_every, metavar="K",
                    help="one example in K of a grounding step is on a screen repainted with half its menu titles, "
                         "list items and buttons drawn inverted, and asks for one of them half the time; 0: none. "
                         f"Default: {defaults.lit_every}")
    tr.add_argument("--vision-lr-scale", type=float, default=defaults.vision_lr_scale, metavar="S",
                    help="train the vision tower at S times --lr (a continuation's rate hardly moves it). Default: "
                         f"{defaults.vision_lr_scale:g}")
    tr.add_argument("--inverted-read-weight", type=float, default=defaults.inverted_read_weight, metavar="W",
                    help="the reading loss weighs the cells of inverted widgets (white on the accent colour: an open "
                         "menu's title, a selected list item, a dialog's default button) W times as much as the "
                         f"others. Default: {defaults.inverted_read_weight:g}")
    tr.add_argument("--match-weight", type=float, default=defaults.match_weight, metavar="W",
                    help="with --lit-every, ask the image path for the same hidden states on a lit screen's inverted "
                         "labels as on those labels drawn plainly, this weight in the loss; 0: not at all. Default: "
                         f"{defaults.match_weight:g}")
    tr.add_argument("--seed", type=int, default=defaults.seed, help=f"weights and data seed. Default: {defaults.seed}")
    tr.add_argument("--procs", type=int, default=defaults.procs,
                    help="data-parallel processes; each draws an equal share of every step's examples and the "
                         f"gradients are averaged. Default: {defaults.procs}")
    tr.add_argument("--threads", type=int, default=defaults.threads,
                    help=f"CPU threads per process. Default: {defaults.threads}")
    tr.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every,
                    help=f"steps between checkpoints. Default: {defaults.checkpoint_every}")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    tr.add_argument("--export", type=Path, default=None, metavar="DIR",
                    help="do not train: export --out's checkpoint.pt as a Hugging Face model directory DIR (the "
                         "shipped one is agent/models/gui_tiny). Default: off")
    tr.add_argument("--average", nargs="+", default=None, metavar="DIR",
                    help="do not train: write --out's checkpoint.pt as the uniform mean of the weights of two or more "
                         "gui-tiny model directories (continuations of one model; each widened to the most KV heads "
                         "among them), to export with --export. Default: off")
    tr.add_argument("--card-facts", type=Path, default=None, metavar="JSON",
                    help="with --export: a JSON object of model-card facts; its \"figures\" object (e.g. held-out "
                         "accuracies) becomes the card's figures table. Default: none")
    tr.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    tr.add_argument("-q", "--quiet", action="store_true", help="warnings only, no progress bar")


def _mix(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts) or not any(int(p) for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: want three ints >= 0, not all 0, as G,E,M (e.g. 2,1,1)")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def train_command(args: argparse.Namespace) -> int:
    if args.export is not None:
        return _export(args)
    if args.card_facts is not None:  # before --average: a checkpoint has no card, so they would be dropped silently
        print("error: --card-facts goes with --export", file=sys.stderr)
        return 2
    if args.average is not None:
        return _average(args)
    from agent.training.run import TrainConfig, train

    try:
        from agent.models.loading import local_path

        init = local_path(args.init) if args.init is not None else None
        reading_steps = args.reading_steps if args.reading_steps is not None else (
            0 if init is not None else TrainConfig.reading_steps)
        cfg = TrainConfig(out=args.out, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                          reading_steps=reading_steps, init=init, init_heads=args.init_heads, mix=args.mix,
                          lm_layers=args.lm_layers, vision_depth=args.vision_depth, kv_heads=args.kv_heads,
                          heads_first=args.heads_first, inverted_every=args.inverted_every,
                          beside_every=args.beside_every, lit_every=args.lit_every,
                          inverted_read_weight=args.inverted_read_weight, vision_lr_scale=args.vision_lr_scale,
                          match_weight=args.match_weight,
                          threads=args.threads, procs=args.procs, checkpoint_every=args.checkpoint_every)
        out = train(cfg, resume=args.resume, progress=not args.quiet and sys.stderr.isatty())
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"trained: {out / 'checkpoint.pt'} (curve: {out / 'curve.csv'}, {out / 'curve.png'})")
    return 0


def _average(args: argparse.Namespace) -> int:
    from agent.training.soup import average_checkpoint

    try:
        path = average_checkpoint(args.average, args.out)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"averaged: {path} (export it with --out {args.out} --export DIR)")
    return 0


def _export(args: argparse.Namespace) -> int:
    import json

    from agent.training.export import export_gui_tiny

    try:
        facts = json.loads(args.card_facts.read_text(encoding="utf-8")) if args.card_facts else {}
        if not isinstance(facts, dict):
            raise ValueError(f"{args.card_facts}: expected a JSON object")
        out = export_gui_tiny(args.out / "checkpoint.pt", args.export, card_facts=facts)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"exported: {out} (load it with --model {out})")
    return 0
