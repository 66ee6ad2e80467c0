"""Where a gui-tiny training checkpoint stands on held-out synthdesk tasks, beyond its learning curve.

The curve is teacher-forced on training tasks and averages every reply token, so it hides what decides a click: the
digits of the coordinates, and what the model writes when nothing is forced. This prints three tables:

* the training losses and accuracies (`agent.training.objective.compute_losses`) on held-out tasks;
* teacher-forced accuracy of each coordinate digit by its slot (x1 = first digit of x, ...) and of whole numbers;
* where each coordinate pointer's top key lands: on its target, elsewhere on a cell that shows the target's word
  (same screen or an earlier one), on another cell, or on a text token;
* per axis, whether the coordinate head's output names the clicked column (row) at every digit (the carry) against
  whether the digits come out right: it tells the copy of the position from its spelling;
* per axis, the coordinate pointers by whether their top key is on the target at every digit, some or none, with
  their attention mass on the target (the smallest over the digits) and whether the digits come out right: a pointer
  that looks at the target with half its mass writes a mixture of positions (ft5's misses: median 0.68 against 0.94
  on the clicks it gets right);
* first steps of held-out grounding tasks: clicks inside the box with the gold reply forced up to the coordinates
  (digits greedy), then free running (the reply, and whether its click lands in the target box).

Usage: ``python bench/gui_tiny_probe.py runs/gui-tiny [--seed 0] [--limit 24] [--free 8]`` (a run directory or its
checkpoint.pt). A minute or two on one core. A gui-tiny model directory (an ``--export``, ``agent/models/gui_tiny``)
works too, with random auxiliary heads: the tables that do not read through them (digit slots, landings, pointers,
clicks) hold, the losses and the carry do not. ``--misses RUN`` probes the grounding tasks that the eval run RUN
(``python -m agent eval synthdesk --kind grounding ...``) scored wrong, at RUN's seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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
from agent.training.gui_tiny import build_gui_tiny, sizes_in  # noqa: E402
from agent.training.objective import AttentionTap, AuxHeads, collate, compute_losses  # noqa: E402
from tasks.synthdesk import training  # noqa: E402
from tasks.synthdesk.generate import generate  # noqa: E402
from tasks.synthdesk.loader import kind_of  # noqa: E402
from tasks.synthdesk.widgets import box_contains  # noqa: E402

_CLICK = re.compile(r"start_box='\((\d+),(\d+)\)'")  # a diagnostic: `eval synthdesk` scores with the real parser


def load_checkpoint(path: Path):
    """The bundle, auxiliary heads and step of a training checkpoint (a run directory or its checkpoint.pt), or of a
    gui-tiny model directory (random heads, step None)."""
    if (path / "config.json").is_file() and not (path / "checkpoint.pt").is_file():
        from transformers import Qwen2_5_VLForConditionalGeneration

        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
        bundle = build_gui_tiny(0, **sizes_in(model.state_dict()))
        bundle.model.load_state_dict(model.state_dict())
        return bundle, AuxHeads(bundle.model.config.get_text_config().hidden_size).eval(), None
    path = path / "checkpoint.pt" if path.is_dir() else path
    if not path.is_file():
        raise SystemExit(f"error: {path} is neither a training checkpoint (python -m agent train writes one) nor a "
                         "gui-tiny model directory")
    state = torch.load(path, weights_only=False)
    bundle = build_gui_tiny(0, **sizes_in(state["model"]))
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


def teacher_forced(bundle, heads, episodes) -> tuple[dict[str, float], dict[str, tuple[int, int]], dict[str, int],
                                                     dict[tuple[str, bool, bool], int],
                                                     dict[tuple[str, str, bool], list[float]]]:
    """Mean training stats over ``episodes``; per digit slot, (right, total) of the coordinate digits; counts of
    the coordinate pointers' top keys by `landing` (keys "x: target", ...); counts of coordinate pointers by
    (axis, carry right at every digit, digits all right); and the smallest attention mass on the target over each
    coordinate pointer's digits, by (axis, `on_target` of its top keys, digits all right)."""
    model = bundle.model.eval()
    tap = AttentionTap.of(model)
    section = list(model.config.get_text_config().rope_parameters["mrope_section"])
    sums: dict[str, float] = defaultdict(float)
    slots: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    landings: dict[str, int] = defaultdict(int)
    carries: dict[tuple[str, bool, bool], int] = defaultdict(int)
    masses: dict[tuple[str, str, bool], list[float]] = defaultdict(list)
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
            predicted = seen[0][0].argmax(-1)  # (L,)
            for look in landed:
                p = look.pointer
                for t in look.top.tolist():
                    landings[f"{p.axis}: {landing(ex, p.keys, t)}"] += 1
                of_cell = ex.cell_col if p.axis == "x" else ex.cell_row
                line = int(of_cell[torch.searchsorted(ex.cell_pos, p.keys[:1])])
                spelled = bool((predicted[p.queries] == ex.input_ids[p.queries + 1]).all())
                carries[(p.axis, bool((look.carried == line).all()), spelled)] += 1
                masses[(p.axis, on_target(look.top, p.keys), spelled)].append(float(look.mass.min()))
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
    return (dict(sums), {k: (v[0], v[1]) for k, v in sorted(slots.items())}, dict(landings), dict(carries),
            dict(masses))


ON_TARGET = ("every digit", "some digits", "no digit")


def on_target(top: torch.Tensor, keys: torch.Tensor) -> str:
    """Which of `ON_TARGET` a coordinate pointer's top keys (one per digit) are on its target keys."""
    on = int(torch.isin(top, keys).sum())
    return ON_TARGET[0] if on == top.numel() else ON_TARGET[2] if on == 0 else ON_TARGET[1]


def forced_clicks(bundle, episodes) -> int:
    """How many first clicks land inside the target box when the gold reply is forced up to ``start_box='(`` and
    the digits are decoded greedily: the clicks as the digits alone decide them, whatever the Thought would be."""
    model, tok = bundle.model, bundle.tokenizer
    close = tok.encode(")", add_special_tokens=False)[0]
    hits = 0
    for ep in episodes:
        ex = encode_episode(ep, bundle.processor)
        reply = ep.targets[0].reply
        start = int((ex.labels != -100).nonzero()[0])  # the first reply token; byte-level: one token per character
        forced = start + reply.index("start_box='(") + len("start_box='(")
        ids = ex.input_ids[:forced]
        for _ in range(12):
            cut = dataclasses.replace(ex, input_ids=ids, labels=torch.full_like(ids, -100))
            with torch.no_grad():
                logits = model(**collate([cut], tok.pad_token_id, model).inputs, use_cache=False).logits
            ids = torch.cat([ids, logits[0, -1:].argmax(-1)])
            if int(ids[-1]) == close:
                break
        m = re.fullmatch(r"(\d+),(\d+)\)", tok.decode(ids[forced:]))
        box = ep.targets[0].target_box
        hits += bool(m and box and box_contains(box, int(m[1]), int(m[2])))
    return hits


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


def missed(run: Path) -> tuple[int, list[int]]:
    """(held-out seed, task indices) of the grounding tasks that the synthdesk eval run ``run`` scored wrong."""
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    if config.get("benchmark") != "synthdesk":
        raise SystemExit(f"error: {run} is not a synthdesk eval run (its config.json names {config.get('benchmark')!r})")
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines() if line]
    wrong = [int(r["sample_id"].split("-")[0]) for r in rows if r["sample_id"].endswith("-grounding")
             and not all(step["score"] and step["score"]["correct"] for step in r["steps"])]
    if not wrong:
        raise SystemExit(f"error: {run}/results.jsonl holds no missed grounding task")
    return int(config["seed"]), wrong


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path, help="a run directory of `python -m agent train` or its checkpoint.pt")
    ap.add_argument("--seed", type=int, default=0, help="held-out seed. Default: 0")
    ap.add_argument("--limit", type=int, default=24, help="held-out tasks, kinds in turn. Default: 24")
    ap.add_argument("--free", type=int, default=8, help="grounding tasks decoded free-running. Default: 8")
    ap.add_argument("--misses", type=Path, metavar="RUN",
                    help="probe the grounding tasks that the eval run RUN scored wrong (at RUN's seed; --seed and "
                         "--limit are ignored)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    bundle, heads, step = load_checkpoint(args.checkpoint)
    seed, indices = missed(args.misses) if args.misses else (args.seed, list(range(args.limit)))
    episodes = [training.from_task(generate("heldout", seed, i, kind_of(i))) for i in indices]
    stats, slots, landings, carries, masses = teacher_forced(bundle, heads, episodes)
    origin = f"checkpoint step {step}" if step is not None else "model directory, random auxiliary heads (the losses " \
        "and the carry read through them mean nothing)"
    chosen = f"the {len(episodes)} grounding tasks {args.misses} missed" if args.misses else f"{len(episodes)} tasks"
    print(f"{origin}; held-out seed {seed}, {chosen}, teacher forced\n")
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
    print("\n| axis | carry | digits right | digits wrong |\n|---|---|---:|---:|")
    for axis in "xy":
        for carried in (True, False):
            print(f"| {axis} | {'right' if carried else 'wrong'} | {carries.get((axis, carried, True), 0)} | "
                  f"{carries.get((axis, carried, False), 0)} |")
    print("\n| axis | top key on the target at | pointers | digits right | mass on the target: median | "
          "quartiles |\n|---|---|---:|---:|---:|---|")
    for axis in "xy":
        for where in ON_TARGET:
            right, wrong = masses.get((axis, where, True), []), masses.get((axis, where, False), [])
            if right or wrong:
                m = sorted(right + wrong)
                print(f"| {axis} | {where} | {len(m)} | {len(right)} | {m[len(m) // 2]:.2f} | "
                      f"{m[len(m) // 4]:.2f} - {m[3 * len(m) // 4]:.2f} |")
    grounding = [ep for ep in episodes if ep.kind == "grounding"]
    if grounding:
        print(f"\nforced up to the coordinates: {forced_clicks(bundle, grounding)}/{len(grounding)} clicks inside the "
              "target box")
    grounding = grounding[: args.free]
    if grounding:
        rows = free_first_steps(bundle, grounding)
        print(f"\nfree-running first steps: {sum(ok for *_, ok in rows)}/{len(rows)} clicks inside the target box")
        for instruction, reply, ok in rows:
            print(f"  {'ok ' if ok else 'no '} {instruction!r}: {reply!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
