"""Where a gui-tiny training checkpoint stands on held-out synthdesk tasks, beyond its learning curve.

The curve is teacher-forced on training tasks and averages every reply token, so it hides what decides a click: the
digits of the coordinates, and what the model writes when nothing is forced. This prints three tables:

* the training losses and accuracies (`agent.training.objective.compute_losses`) on held-out tasks;
* teacher-forced accuracy of each coordinate digit by its slot (x1 = first digit of x, ...) and of whole numbers;
* where each coordinate pointer's top key lands: on its target, elsewhere on a cell that shows the target's word
  (same screen or an earlier one), on another cell, or on a text token;
* free-running first steps of held-out grounding tasks: the reply, and whether its click lands in the target box.

Usage: ``python bench/gui_tiny_probe.py runs/gui-tiny [--seed 0] [--limit 24] [--free 8]`` (a run directory or its
checkpoint.pt). A minute or two on one core.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent import prompts  # noqa: E402
from agent.context import Transcript  # noqa: E402
from agent.engine import ChatEngine  # noqa: E402
from agent.training.examples import encode_episode  # noqa: E402
from agent.training.gui_tiny import build_gui_tiny  # noqa: E402
from agent.training.objective import AttentionTap, AuxHeads, collate, compute_losses  # noqa: E402
from tasks.synthdesk import training  # noqa: E402
from tasks.synthdesk.generate import generate  # noqa: E402
from tasks.synthdesk.loader import kind_of  # noqa: E402
from tasks.synthdesk.widgets import box_contains  # noqa: E402

_CLICK = re.compile(r"start_box='\((\d+),(\d+)\)'")  # a diagnostic: `eval synthdesk` scores with the real parser


def load_checkpoint(path: Path):
    """The bundle and auxiliary heads of a training checkpoint (a run directory or its checkpoint.pt)."""
    path = path / "checkpoint.pt" if path.is_dir() else path
    if not path.is_file():
        raise SystemExit(f"error: {path} is not a training checkpoint (python -m agent train writes one)")
    state = torch.load(path, weights_only=False)
    bundle = build_gui_tiny(0)
    bundle.model.load_state_dict(state["model"])
    heads = AuxHeads(bundle.model.config.get_text_config().hidden_size)
    heads.load_state_dict(state["heads"])
    return bundle, heads.eval(), int(state["step"])


LANDINGS = ("target", "same word, same screen", "same word, other screen", "other cell, same screen",
            "other screen", "text")


def landing(ex, keys: torch.Tensor, top: int) -> str:
    """Which of `LANDINGS` the key position ``top`` is, for a pointer whose targets are ``keys`` (image tokens)."""
    if bool((keys == top).any()):
        return "target"
    i = int(torch.searchsorted(ex.cell_pos, torch.tensor(top)))
    if i >= ex.cell_pos.numel() or int(ex.cell_pos[i]) != top:
        return "text"
    tokens = (ex.image_grid_thw.prod(-1) // 4).cumsum(0)  # image tokens up to the end of each screen
    screen = lambda cell: int(torch.searchsorted(tokens, torch.tensor(cell), right=True))
    target = int(torch.searchsorted(ex.cell_pos, keys[0]))
    same_screen = screen(i) == screen(target)
    if int(ex.cell_class[i]) == int(ex.cell_class[target]):
        return "same word, same screen" if same_screen else "same word, other screen"
    return "other cell, same screen" if same_screen else "other screen"


def teacher_forced(bundle, heads, episodes) -> tuple[dict[str, float], dict[str, tuple[int, int]], dict[str, int]]:
    """Mean training stats over ``episodes``; per digit slot, (right, total) of the coordinate digits; and counts of
    the coordinate pointers' top keys by `landing` (keys "x: target", ...)."""
    model = bundle.model.eval()
    tap = AttentionTap.of(model)
    section = list(model.config.get_text_config().rope_parameters["mrope_section"])
    sums: dict[str, float] = defaultdict(float)
    slots: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    landings: dict[str, int] = defaultdict(int)
    try:
        for ep in episodes:
            ex = encode_episode(ep, bundle.processor)
            batch = collate([ex], bundle.tokenizer.pad_token_id, model)
            seen: list[torch.Tensor] = []  # the logits of compute_losses' own forward: one forward per example
            hook = model.register_forward_hook(lambda m, args, out: seen.append(out.logits))
            landed: list = []
            try:
                with torch.no_grad():
                    _, stats = compute_losses(model, heads, tap, batch, section, landed=landed)
            finally:
                hook.remove()
            for _, p, top in landed:
                for t in top.tolist():
                    landings[f"{p.axis}: {landing(ex, p.keys, t)}"] += 1
            predicted = seen[0][0].argmax(-1)  # (L,)
            for k, v in stats.items():
                sums[k] += v / len(episodes)
            for p in (p for p in ex.pointers if p.axis):
                right = (predicted[p.queries] == ex.input_ids[p.queries + 1]).tolist()
                for i, ok in enumerate(right):
                    slots[f"{p.axis}{i + 1}"][0] += int(ok)
                    slots[f"{p.axis}{i + 1}"][1] += 1
                slots[f"{p.axis} whole"][0] += int(all(right))
                slots[f"{p.axis} whole"][1] += 1
    finally:
        tap.remove()
    return dict(sums), {k: (v[0], v[1]) for k, v in sorted(slots.items())}, dict(landings)


def free_first_steps(bundle, episodes) -> list[tuple[str, str, bool]]:
    """(instruction, reply, click inside the target box) of the first step of each task, decoded greedily."""
    engine = ChatEngine(bundle, method="full", budget=None, context="incremental")
    out = []
    for ep in episodes:
        engine.reset()  # a new task: a new conversation
        transcript = Transcript(prompt=prompts.synthdesk_task_prompt(ep.instruction), frames=5, mode="incremental",
                                system=prompts.synthdesk_system_prompt())
        transcript.observe(ep.frames[0])
        reply = engine.reply(transcript.messages()).extra["raw"]
        m = _CLICK.search(reply)
        box = ep.targets[0].target_box
        out.append((ep.instruction, reply, bool(m and box and box_contains(box, int(m[1]), int(m[2])))))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path, help="a run directory of `python -m agent train` or its checkpoint.pt")
    ap.add_argument("--seed", type=int, default=0, help="held-out seed. Default: 0")
    ap.add_argument("--limit", type=int, default=24, help="held-out tasks, kinds in turn. Default: 24")
    ap.add_argument("--free", type=int, default=8, help="grounding tasks decoded free-running. Default: 8")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    bundle, heads, step = load_checkpoint(args.checkpoint)
    episodes = [training.from_task(generate("heldout", args.seed, i, kind_of(i))) for i in range(args.limit)]
    stats, slots, landings = teacher_forced(bundle, heads, episodes)
    print(f"checkpoint step {step}; held-out seed {args.seed}, {len(episodes)} tasks, teacher forced\n")
    print("| " + " | ".join(stats) + " |\n|" + "---:|" * len(stats))
    print("| " + " | ".join(f"{v:.3f}" for v in stats.values()) + " |\n")
    print("| digit slot | right | of | share |\n|---|---:|---:|---:|")
    for name, (right, total) in slots.items():
        print(f"| {name} | {right} | {total} | {right / max(total, 1):.2f} |")
    totals = {axis: sum(v for k, v in landings.items() if k.startswith(f"{axis}:")) for axis in "xy"}
    print("\n| coordinate pointer's top key | x | y |\n|---|---:|---:|")
    for where in LANDINGS:
        share = {axis: landings.get(f"{axis}: {where}", 0) / max(totals[axis], 1) for axis in "xy"}
        print(f"| {where} | {share['x']:.2f} | {share['y']:.2f} |")
    grounding = [ep for ep in episodes if ep.kind == "grounding"][: args.free]
    if grounding:
        rows = free_first_steps(bundle, grounding)
        print(f"\nfree-running first steps: {sum(ok for *_, ok in rows)}/{len(rows)} clicks inside the target box")
        for instruction, reply, ok in rows:
            print(f"  {'ok ' if ok else 'no '} {instruction!r}: {reply!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
