"""Which image tokens each compression method keeps: one synthdesk task replayed per method, then every screenshot
still in context drawn with the cells a method dropped greyed out (a PNG grid: one row per method, one column per
screenshot, oldest first), and a table of the share of each screenshot's tokens kept.

A cell's shade is the share of (layer, KV head) slots that still hold its token after the last step: white = kept
everywhere, grey = dropped everywhere. This is the picture to look at when a method wins or loses the study
(`python -m agent study synthdesk`): where its budget went, on which screenshot.

Usage: ``python bench/kept_tokens.py --model gui-tiny --index 2 --budget 10 [--methods full,random,recency,gui_kv]``
(index 2 is a memory task: the notice on its first screenshot decides a later step).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tasks  # noqa: E402
from agent.engine import ChatEngine  # noqa: E402
from agent.models.loading import load  # noqa: E402
from eval.config import DEFAULT_MIN_PIXELS, parse_methods  # noqa: E402
from eval.method_spec import build_method  # noqa: E402
from eval.prompting import model_image, synthdesk_transcript  # noqa: E402

CELL = 28  # pixels per image token (14 px patches, 2x2 merge)


def kept_shares(engine: ChatEngine) -> list[tuple[int, torch.Tensor]]:
    """(step, share kept per token in row-major cell order) for every frame in the session's context."""
    session = engine.session
    ids = [t for t in session.tracker.ids if t is not None]  # per layer (1, Hkv, T) logical ids
    out = []
    for frame in session._frames:  # bench-only: the session's frame list, oldest first
        n = frame.end - frame.start
        counts = torch.zeros(n)
        for layer_ids in ids:
            inside = layer_ids[(layer_ids >= frame.start) & (layer_ids < frame.end)] - frame.start
            counts += torch.bincount(inside.flatten(), minlength=n).float()
        out.append((frame.step, counts / (len(ids) * ids[0].shape[1])))
    return out


def draw(image: Image.Image, share: torch.Tensor) -> Image.Image:
    """`image` with each token cell washed towards grey by the share of slots that dropped it."""
    cols = image.width // CELL
    shade = Image.new("L", image.size, 0)
    pen = ImageDraw.Draw(shade)
    for i, s in enumerate(share.tolist()):
        r, c = divmod(i, cols)
        pen.rectangle([c * CELL, r * CELL, (c + 1) * CELL - 1, (r + 1) * CELL - 1], fill=int(200 * (1 - s)))
    return Image.composite(Image.new("RGB", image.size, (128, 128, 128)), image.convert("RGB"), shade)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gui-tiny", help="model (as eval's --model). Default: gui-tiny")
    parser.add_argument("--seed", type=int, default=0, help="held-out synthdesk seed. Default: 0")
    parser.add_argument("--index", type=int, default=2, help="task index (2: a memory task). Default: 2")
    parser.add_argument("--budget", type=float, default=10.0, help="percent of tokens kept. Default: 10")
    parser.add_argument("--methods", default="full,random,recency,snapkv,gui_kv,gui_kv(alpha=0),gui_kv(temporal=false)")
    parser.add_argument("--frames", type=int, default=5, help="screenshots in context. Default: 5")
    parser.add_argument("--max-pixels", type=int, default=504 * 364, help="model-image pixel cap. Default: 183456")
    parser.add_argument("--images", default="runs/synthdesk", help="where synthdesk writes screenshots")
    parser.add_argument("--out", default="runs/kept_tokens.png", help="the PNG grid. Default: runs/kept_tokens.png")
    args = parser.parse_args()
    bundle = load(args.model)
    task = list(tasks.load("synthdesk", None, args.images, seed=args.seed, size=args.index + 1))[args.index]
    images = [model_image(s.image, DEFAULT_MIN_PIXELS, args.max_pixels)[0] for s in task.steps]
    rows: list[tuple[str, list[Image.Image]]] = []
    print(f"{task.sample_id} ({task.template}): {task.instruction}\n")
    print("| method | " + " | ".join(f"screenshot {i}" for i in range(len(images))) + " |")
    print("|---|" + "---:|" * len(images))
    for spec in parse_methods(args.methods):
        engine = ChatEngine(bundle, method=build_method(spec, args.budget), frames=args.frames, max_new_tokens=96)
        transcript = synthdesk_transcript(task, frames=args.frames, context="incremental")
        for image in images:
            transcript.observe(image)
            transcript.record_reply(str(engine.reply(transcript.messages()).extra["raw"]))
        shares = dict(kept_shares(engine))
        print(f"| {spec} | " + " | ".join(f"{100 * float(shares[i].mean()):.1f}%" if i in shares else "evicted"
                                          for i in range(len(images))) + " |")
        rows.append((spec, [draw(images[i], s) for i, s in sorted(shares.items())]))
    width = max(sum(im.width for im in row) + 8 * len(row) for _, row in rows) + 200
    height = sum(max(im.height for im in row) + 8 for _, row in rows)
    grid = Image.new("RGB", (width, height), "white")
    pen, y = ImageDraw.Draw(grid), 0
    for spec, row in rows:
        pen.text((4, y + 4), spec, fill="black")
        x = 200
        for im in row:
            grid.paste(im, (x, y))
            x += im.width + 8
        y += max(im.height for im in row) + 8
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
