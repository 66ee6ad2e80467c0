"""What a gui-tiny training checkpoint's read probe names on the cells of each kind of widget, drawn normally and
drawn inverted (white on the accent colour: an open menu's title, a selected list item, a dialog's default button).

The read probe is the auxiliary head that names the word on each image cell from the LM's hidden state after layer
`agent.training.objective.AUX_LAYER`; the coordinate pointer matches the instruction's word against what the cells
carry in that basis, so a look whose words the probe cannot name is a look whose targets are clicked by elimination
at best. The learning curve's ``inv_acc`` averages every inverted cell, and most of those are one dialog word
("OK"); this table splits them by widget role. By default the screens are train-split `beside` grounding screens
(each has an inverted widget, `tasks.synthdesk.training.beside`); ``--draw lit`` takes screens with half their menu
titles, list items and buttons inverted instead. Only cells whose label is a vocabulary word count.

Usage: ``python bench/read_probe.py runs/X [--screens 60] [--seed 12345] [--draw beside|lit]`` (a run directory or
its checkpoint.pt: the probe is the run's own head; a model directory has none). About a second a screen on one core.
soup5's probe (shipped then; fitted with the model frozen, the first 100 steps of a ``--heads-first 100`` run) named
0 of 86 inverted menu title cells and 3 of 69 inverted list item cells of the default 60 screens (README).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from agent.training.examples import CELL_CLASSES, OTHER, cell_widgets, encode_episode  # noqa: E402
from agent.training.objective import AUX_LAYER, collate  # noqa: E402
from gui_tiny_probe import load_checkpoint  # noqa: E402
from tasks.synthdesk import training  # noqa: E402
from tasks.synthdesk.training import INVERTED_ROLES  # noqa: E402

WORD_CLASSES = CELL_CLASSES.index(OTHER)  # classes below it are vocabulary words (the icons' names among them)


def load_run(path: Path):
    """The bundle, read probe (auxiliary heads) and step of a training checkpoint: a run directory or its
    checkpoint.pt."""
    bundle, heads, step = load_checkpoint(path)
    if step is None:
        raise SystemExit(f"error: {path} is a model directory: it holds no read probe; give a training run")
    return bundle, heads, step


def look(widget) -> tuple[str, bool]:
    """(role, drawn inverted) of a widget."""
    return widget.role, bool(widget.on and widget.role in INVERTED_ROLES)


def named_words(bundle, heads, ex) -> torch.Tensor:
    """(C,) the class the read probe ``heads`` names on each image cell of the encoded example ``ex``."""
    model = bundle.model.eval()
    batch = collate([ex], bundle.tokenizer.pad_token_id, model)
    with torch.no_grad():
        hidden = model(**batch.inputs, output_hidden_states=True, use_cache=False).hidden_states[AUX_LAYER]
        return heads.read(hidden[0, ex.cell_pos]).argmax(-1)


def read_by_look(bundle, heads, episodes) -> dict[tuple[str, bool], tuple[int, int]]:
    """(cells whose word the read probe names, word cells) per `look` of the widget each cell shows, over every
    screen of ``episodes``."""
    tally: dict[tuple[str, bool], list[int]] = defaultdict(lambda: [0, 0])
    for ep in episodes:
        ex = encode_episode(ep, bundle.processor)
        right = (named_words(bundle, heads, ex) == ex.cell_class).tolist()
        shown = [w for layout, frame in zip(ep.layouts, ep.frames) for w in cell_widgets(layout, frame.size)]
        for w, cls, ok in zip(shown, ex.cell_class.tolist(), right, strict=True):
            if w is None or cls >= WORD_CLASSES:
                continue
            t = tally[look(w)]
            t[0] += int(ok)
            t[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(tally.items())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path, help="a run directory of `python -m agent train` or its checkpoint.pt")
    ap.add_argument("--screens", type=int, default=60, help="screens to probe. Default: 60")
    ap.add_argument("--seed", type=int, default=12345, help="seed of the screens drawn. Default: 12345")
    ap.add_argument("--draw", choices=("beside", "lit"), default="beside",
                    help="which train-split grounding screens (module docstring). Default: beside")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    bundle, heads, step = load_run(args.checkpoint)
    rng = random.Random(args.seed)
    draw = getattr(training, args.draw)
    episodes = [draw(rng) for _ in range(args.screens)]
    tally = read_by_look(bundle, heads, episodes)
    print(f"checkpoint step {step}; {args.screens} train-split `{args.draw}` screens (seed {args.seed}): word cells "
          "whose word the read probe names\n")
    print("| widget | drawn normally | drawn inverted |\n|---|---:|---:|")
    for role in sorted({role for role, _ in tally}):
        cells = [tally.get((role, inverted)) for inverted in (False, True)]
        print(f"| {role} | " + " | ".join(f"{a}/{b} ({a / b:.0%})" if b else "" for a, b in
                                          (c or (0, 0) for c in cells)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
