"""`python -m agent train`: train gui-tiny on synthdesk, resumable, with a learning curve (CSV and PNG).

Reproducible: the weights start from ``--seed``; the examples of optimiser step ``s`` are drawn from
``random.Random(f"{seed}:{s}:{b}")``, so a resumed run sees exactly the examples an uninterrupted one would.
A checkpoint (model, auxiliary heads, optimiser, step) is written atomically every ``--checkpoint-every`` steps and
at the end; ``--resume`` continues from it. The final model is exported as a Hugging Face directory (``export``).

Curriculum: first a reading phase of ``reading_steps`` steps on grounding screens of any density, with the reading
losses alone (`objective.READING_PARTS`): in gt7 the image path never learned to name the word on a cell under the
full objective (word cells read right 34% at the end, read loss flat from step 120), while the same model trained on
reading alone reached 79% in 620 steps (8 minutes), so the pointers had nothing to match the target's name with.
Reading learns late and suddenly: gt10's phase sat at 0.30 of word cells (read loss ~1.2) until step ~350, then
rose to 0.57 by step 600 (read loss 0.63); hence 600 steps. The position probes (``where``) join after the phase.
Then screen density rises linearly from 0.1 to 1.0 over the first 60% of the remaining steps (few, large widgets
first), and the task mix moves from grounding-heavy (1/2 grounding, 1/4 episode, 1/4 memory) to the final mix (even
thirds unless ``mix`` weighs the kinds otherwise); each step draws one kind, so the examples of a batch have similar
lengths. One in ``GLANCE_EVERY`` examples of a grounding step is a glance (`tasks.synthdesk.training.glance`: a
memory step with its notice still on screen, as short as a grounding screen): nothing else teaches writing a word
or code read off a screen, which every memory step needs. With ``inverted_every`` K > 0, example 1 of every K of a
grounding step is a grounding task whose target is drawn inverted (`tasks.synthdesk.training.inverted`: an open
menu's title, a selected list item, a dialog's default button): 2 to 5% of held-out targets, of which soup3 clicked
about a quarter against 97% of the other targets. With ``beside_every`` K > 0, example 2 of every K (after glances
and inverted ones) is `synthdesk.training.beside`: a screen with an inverted widget whose target is that widget or,
half the time, its neighbour, so that no prior ("inverted is never next" from the episodes, "inverted is the target"
from ``inverted_every``) decides the click (README: bes1, bes2).
With ``lit_every`` K > 0, example 0 of every K is `synthdesk.training.lit`: a screen repainted with half its menu
titles, list items and buttons inverted, which shows the model many inverted labels to learn to read; in the
reading phase too (example 0 of every K of every step).
``vision_lr_scale`` S trains the vision tower at S times the learning rate of the rest (after ``heads_first``): a
trained model's tower moves little at a continuation's rate, and learning to read anew took the first run 350
steps at 2e-3.
``inverted_read_weight`` W > 1 weighs the read loss on the cells of inverted widgets W times (`objective`): a probe
fitted to that mean (100 steps, the model frozen) named the word on none of the cells of inverted menu titles and
on 3 of 69 of inverted list items (drawn normally: 94% and 89%), so a pointer had no word there to match the
instruction's with. Continuations of 500 steps with these aids (W = 20; with K = 4; with S = 10) still read 2 to 3
of them at their ends (README: rw1, lit1, vis1). Where reading is learnt, it is learnt for both: a run from scratch
with ``lit_every`` 2 (``inverted_read_weight`` 5, seed 0, 700 steps) read 80 of 86 inverted menu title cells and 37
of 69 inverted list item cells at the end of its 600-step reading phase (normal: 96% and 79%).
``match_weight`` W > 0 (needs ``lit_every``) adds the ``match`` loss (`objective._match_loss`): the cells a lit
screen repaints are asked for the hidden states the same screen painted plainly gives them, from the frozen ``init``
model in a continuation (`_match_teacher`), the rest of every example for what that model gives it. With a third
vision block (``vision_depth`` 3) and a reading phase it taught soup5 to read inverted menu titles (README: mt4 to
mt8, and soup7 and soup10, this lineage's means, shipped since 2026-12-07), which no continuation had learnt before.

Continuing (``init``, ``--init DIR``): the model starts from a trained gui-tiny directory (weights only: the
auxiliary heads and the optimiser start fresh, so ``warmup`` matters) and every step draws from the curriculum's final
mix (full density, the kinds as ``mix`` weighs them); a reading phase, if any, still comes first. Used to train a model
further than a run's schedule went (gt18's curve was still rising at its last step). A continuation may be deeper
than ``init`` (``lm_layers``, ``vision_depth``): `agent.training.grow.deepen` inserts layers that start by writing
nothing, so the run starts from exactly ``init``'s outputs with more capacity; or wider in KV heads (``kv_heads``,
`agent.training.grow.widen_kv`: copies that train apart). ``init_heads`` (``--init-heads RUN``)
starts the auxiliary heads from the final checkpoint of the run that trained ``init`` instead:
fresh heads are random probes, and until they fit, the losses read through them (``name``, ``carry``) pull the
model toward them (ft4n, ft3n continued with fresh heads: ``name`` 7.0 at step 1, the reply loss 0.026 -> 0.048 and
``note`` 0.27 -> 0.67 by step 38). Where no such checkpoint is left (the shipped directory holds no heads),
``heads_first`` (``--heads-first N``) trains fresh heads alone for the first N steps, the model frozen (ft9a, ft5
(shipped then) with N = 100: ``name`` 3.7 -> 0.08 and ``word_acc`` 0.27 -> 0.69 by step 100, about 3 s a step; then the
reply loss stayed at 0.01-0.02 as the model moved). The heads-first steps fit every head, also where they fall in a
reading phase (whose own steps train the reading losses alone): mt4, soup5 continued with a reading phase, fitted
only the reading probes first, and met the task phase with a random ``where`` probe (``where`` 13.6, ``carry`` 2.9
at its first step).

Data parallel: ``procs`` processes (default 2, one CPU thread each) each draw their share of every step's examples
(example ``b`` goes to process ``b // (batch / procs)``), run forward and backward on them, and average their
gradients with one gloo all-reduce; every process then takes the same optimiser step, so the replicas stay equal.
Process 0 writes the checkpoint, the curve (each value the mean over the processes) and the progress bar. On 2
cores this is faster than one process of 2 threads (`bench/train_step.py`): the model is small enough that a second
thread speeds a step up by only 1.7x, and each process pads its half of the batch to its own longest example. A
step's gradient is the mean of the shares' gradients, each normalised over its own examples, so it differs a little
from one process's; a run is reproducible for a given ``procs``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from agent.models.tiny import TinyBundle
from agent.training.config import TrainConfig, config_sizes
from agent.training.examples import encode_episode
from agent.training.grow import deepen, widen_kv
from agent.training.gui_tiny import build_gui_tiny, kv_heads_of, sizes_of
from agent.training.objective import AttentionTap, AuxHeads, collate, compute_losses
from tasks.synthdesk import training as synthdesk

__all__ = ["TrainConfig", "train", "CURVE_COLUMNS"]

logger = logging.getLogger(__name__)

GLANCE_EVERY = 4
CURVE_COLUMNS = ("step", "examples", "elapsed_s", "lr", "loss", "reply", "read", "where", "digits", "name", "spell",
                 "note", "point", "copy", "recall", "carry", "token_acc", "read_acc", "word_acc", "name_acc",
                 "point_acc", "inv_acc", "match")


HEADS_FIRST_LR = 2e-3
"""The heads' learning rate during ``heads_first`` (a from-scratch run's peak: linear probes fit in tens of steps)."""


def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.heads_first:
        return HEADS_FIRST_LR
    step -= cfg.heads_first
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.heads_first - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _draw(cfg: TrainConfig, step: int, processor, share: range | None = None) -> list:
    """The examples ``share`` (default: all ``batch``) of optimiser step ``step``: one task kind per step (similar
    lengths, little padding). Example ``b`` is the same whichever process draws it."""
    share = range(cfg.batch) if share is None else share
    if step < cfg.reading_steps:  # the reading phase: single screens of any density, lit ones as ``lit_every`` asks
        screens = [(random.Random(f"{cfg.seed}:{step}:{b}"), cfg.lit_every and b % cfg.lit_every == 0) for b in share]
        return [encode_episode(synthdesk.lit(rng) if lit else synthdesk.episode(rng, "grounding"), processor)
                for rng, lit in screens]
    progress = 1.0 if cfg.init is not None else (step - cfg.reading_steps) / (cfg.steps - cfg.reading_steps)
    density = min(1.0, 0.1 + 0.9 * progress / 0.6)
    ramp = min(1.0, progress / 0.6)
    final = [w / sum(cfg.mix) for w in cfg.mix]  # grounding, episode, memory: from 1/2, 1/4, 1/4 to the final mix
    weights = [(1 - ramp) * start + ramp * end for start, end in zip((0.5, 0.25, 0.25), final)]
    kind = random.Random(f"{cfg.seed}:{step}:kind").choices(("grounding", "episode", "memory"), weights)[0]
    out = []
    for b in share:
        rng = random.Random(f"{cfg.seed}:{step}:{b}")
        d = min(1.0, max(0.0, rng.uniform(density - 0.3, density)))
        glance = kind == "grounding" and b % GLANCE_EVERY == GLANCE_EVERY - 1
        inverted = kind == "grounding" and cfg.inverted_every > 0 and b % cfg.inverted_every == 1
        beside = kind == "grounding" and cfg.beside_every > 0 and b % cfg.beside_every == 2 % cfg.beside_every
        lit = kind == "grounding" and cfg.lit_every > 0 and b % cfg.lit_every == 0
        if glance:
            task = synthdesk.glance(rng, density=d)
        elif inverted:
            task = synthdesk.inverted(rng, density=d)
        elif beside:
            task = synthdesk.beside(rng, density=d)
        elif lit:
            task = synthdesk.lit(rng, density=d)
        else:
            task = synthdesk.episode(rng, kind, density=d)
        out.append(encode_episode(task, processor))
    return out


def _truncate_curve(curve_path: Path, step: int) -> None:
    """Drop the curve rows written after the checkpoint a resumed run restarts from (they are redone), and rewrite
    the rest under `CURVE_COLUMNS`: a curve begun by an older version lacks its newer columns (left empty)."""
    if not curve_path.is_file():
        return
    with open(curve_path, newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [r for r in rows if r.get("step") and int(r["step"]) <= step]
    with open(curve_path, "w", newline="") as f:
        writer = csv.DictWriter(f, CURVE_COLUMNS, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)


def _save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True) -> Path:
    """Train (or continue) and return the run directory; writes checkpoint.pt, curve.csv, curve.png.

    FileExistsError when ``cfg.out`` holds a run and ``resume`` is off; ValueError when the checkpoint was made with
    another configuration. With ``procs`` > 1 the processes are spawned here; an error in one of them stops all and
    is raised here with its traceback (``torch.multiprocessing.ProcessRaisedException``)."""
    start = _prepare(cfg, resume)
    if cfg.procs == 1:
        _run_process(0, cfg, start, progress, 0)
    else:
        import torch.multiprocessing as mp

        level = logging.getLogger().getEffectiveLevel()  # spawned processes start with logging unconfigured
        mp.spawn(_run_process, args=(cfg, start, progress, _free_port(), level), nprocs=cfg.procs, join=True)
    return cfg.out


def _prepare(cfg: TrainConfig, resume: bool) -> int:
    """Check ``cfg.out`` and the checkpoint, trim the curve to it, write config.json; return the step to start at."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    ckpt_path, curve_path = cfg.out / "checkpoint.pt", cfg.out / "curve.csv"
    start = 0
    if resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, weights_only=False, map_location="cpu", mmap=True)  # reads the config alone
        if "config" not in state:
            raise ValueError(f"{ckpt_path}: not a training run's checkpoint (an average of models? export it and "
                             "continue it with --init); use another --out")
        # checkpoints from before data parallelism ran one process, from before `init` (and `init_heads`) started
        # from random weights (and fresh heads), from before `mix` drew the kinds in thirds, and from before
        # `lm_layers`/`vision_depth`/`kv_heads` had the default sizes, and from before `heads_first` (`inverted_every`,
        # `beside_every`, `lit_every`) had none, and from before `inverted_read_weight` (`vision_lr_scale`) read every
        # cell evenly (trained the vision tower at the model's rate), and from before `match_weight` had no match loss
        made = {"procs": "1", "init": "None", "init_heads": "None", "mix": "(1, 1, 1)", "lm_layers": "4",
                "vision_depth": "2", "kv_heads": "2", "heads_first": "0", "inverted_every": "0", "beside_every": "0",
                "lit_every": "0", "inverted_read_weight": "1.0", "vision_lr_scale": "1.0", "match_weight": "0.0",
                **state["config"]}
        if made != cfg.saved():
            raise ValueError(f"{ckpt_path}: made with {made}, not this configuration; resume with the same flags "
                             "or use another --out")
        start = state["step"]
        _truncate_curve(curve_path, start)
        logger.info("resuming from %s at step %d", ckpt_path, start)
    elif ckpt_path.exists() or curve_path.exists():
        raise FileExistsError(f"{cfg.out} already holds a run; pass --resume to continue it or choose another --out")
    (cfg.out / "config.json").write_text(json.dumps(cfg.saved(), indent=2) + "\n")
    return start


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_process(rank: int, cfg: TrainConfig, start: int, progress: bool, port: int,
                 log_level: int | None = None) -> None:
    """One training process (all of it when ``procs`` is 1): joins the process group, trains, leaves it.
    log_level: configure logging as the parent had it (a spawned process); None leaves it alone."""
    if log_level is not None and rank == 0:
        logging.basicConfig(level=log_level, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if cfg.procs > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=cfg.procs)
    try:
        _train_loop(cfg, rank, start, progress and rank == 0)
    finally:
        if cfg.procs > 1:
            dist.destroy_process_group()


def _replica(cfg: TrainConfig) -> tuple[Any, AuxHeads, torch.optim.AdamW]:
    """The seeded starting point of every process: gui-tiny (in train mode), the auxiliary heads and their AdamW."""
    if cfg.init is None:
        bundle = build_gui_tiny(cfg.seed, lm_layers=cfg.lm_layers, vision_depth=cfg.vision_depth,
                                kv_heads=cfg.kv_heads)
    else:
        bundle = _init_bundle(cfg)
    with torch.random.fork_rng(devices=[]):  # the heads' initial weights come from the seed, not the global RNG
        torch.manual_seed(cfg.seed)
        heads = AuxHeads(bundle.model.config.get_text_config().hidden_size)
    if cfg.init_heads is not None:
        heads.load_state_dict(_fitted_heads(cfg.init_heads, bundle.model))
    if sizes_of(bundle.model) != (cfg.lm_layers, cfg.vision_depth):  # after the heads' check: it compares with init
        bundle = dataclasses.replace(bundle, model=deepen(bundle.model, cfg.lm_layers, cfg.vision_depth, cfg.seed))
    if kv_heads_of(bundle.model) != cfg.kv_heads:
        bundle = dataclasses.replace(bundle, model=widen_kv(bundle.model, cfg.kv_heads))
    bundle.model.train()
    params = list(bundle.model.parameters()) + list(heads.parameters())
    if cfg.vision_lr_scale != 1.0:  # one group otherwise, as the optimiser states of older checkpoints have
        vision = {id(p) for p in bundle.model.model.visual.parameters()}
        params = [{"params": [p for p in params if id(p) in vision], "lr_scale": cfg.vision_lr_scale},
                  {"params": [p for p in params if id(p) not in vision]}]
    return bundle, heads, torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.98))


def _match_teacher(cfg: TrainConfig) -> torch.nn.Module | None:
    """The model whose hidden states the ``match`` loss asks for (`objective._match_loss`): the ``init`` model,
    frozen, in a continuation with ``match_weight``; None otherwise (a run from scratch matches its own, no
    gradient)."""
    if cfg.init is None or not cfg.match_weight:
        return None
    return _init_bundle(cfg).model.eval().requires_grad_(False)


def _init_bundle(cfg: TrainConfig) -> TinyBundle:
    """gui-tiny of the ``init`` directory's sizes holding its weights (`_trained_weights`)."""
    lm_layers, vision_depth, kv_heads = config_sizes(cfg.init)
    bundle = build_gui_tiny(cfg.seed, lm_layers=lm_layers, vision_depth=vision_depth, kv_heads=kv_heads)
    bundle.model.load_state_dict(_trained_weights(cfg.init))
    return bundle


def _trained_weights(directory: Path) -> dict[str, torch.Tensor]:
    """The weights of the gui-tiny model directory ``directory``, loaded as any user loads it (`from_pretrained`).
    The caller's strict `load_state_dict` refuses a directory of another architecture or size."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration.from_pretrained(directory, dtype=torch.float32).state_dict()


def _fitted_heads(run: Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The auxiliary heads of ``run``'s checkpoint, which must hold ``model``'s weights exactly (heads fitted to
    another model would be the random probes `init_heads` exists to avoid); ValueError otherwise."""
    state = torch.load(Path(run) / "checkpoint.pt", weights_only=False, map_location="cpu", mmap=True)
    mine = model.state_dict()
    if state["model"].keys() != mine.keys() or not all(torch.equal(state["model"][k], mine[k]) for k in mine):
        raise ValueError(f"init_heads={run}: its checkpoint's model is not the init model; give the run that init "
                         "was exported from")
    return state["heads"]


def _train_loop(cfg: TrainConfig, rank: int, start: int, progress: bool) -> None:
    torch.set_num_threads(cfg.threads)
    ckpt_path, curve_path = cfg.out / "checkpoint.pt", cfg.out / "curve.csv"
    bundle, heads, optim = _replica(cfg)
    model = bundle.model
    params = [p for group in optim.param_groups for p in group["params"]]
    elapsed_before = 0.0
    if start:
        state = torch.load(ckpt_path, weights_only=False, map_location="cpu")
        model.load_state_dict(state["model"])
        heads.load_state_dict(state["heads"])
        optim.load_state_dict(state["optim"])
        elapsed_before = state["elapsed_s"]
    teacher = _match_teacher(cfg)
    tap = AttentionTap.of(model)
    section = list(model.config.get_text_config().rope_parameters["mrope_section"])
    pad_id = bundle.tokenizer.pad_token_id
    per = cfg.batch // cfg.procs
    share = range(rank * per, (rank + 1) * per)
    writing = rank == 0
    bar = _bar(cfg.steps, start, progress)
    with open(curve_path, "a", newline="") if writing else _nowhere() as f:
        writer = csv.writer(f)
        if writing and f.tell() == 0:  # a new curve (also when a checkpoint is resumed without its curve)
            writer.writerow(CURVE_COLUMNS)
        t0 = time.perf_counter() - elapsed_before
        try:
            for step in range(start, cfg.steps):
                if step == start or step == cfg.heads_first:  # frozen while the heads fit alone
                    model.requires_grad_(step >= cfg.heads_first)
                batch = collate(_draw(cfg, step, bundle.processor, share), pad_id, model)
                for group in optim.param_groups:
                    group["lr"] = _lr(cfg, step) * (group.get("lr_scale", 1.0) if step >= cfg.heads_first else 1.0)
                loss, stats = compute_losses(model, heads, tap, batch, section,
                                             reading_only=cfg.heads_first <= step < cfg.reading_steps,
                                             inverted_weight=cfg.inverted_read_weight,
                                             match_weight=cfg.match_weight, teacher=teacher)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                logged = [float(loss.detach()), *(stats[k] for k in CURVE_COLUMNS[5:])]
                if cfg.procs > 1:
                    logged = _average_over_processes(params, logged, cfg.procs)
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optim.step()
                if not writing:
                    continue
                elapsed = time.perf_counter() - t0
                writer.writerow([step + 1, (step + 1) * cfg.batch, round(elapsed, 1), f"{_lr(cfg, step):.3g}",
                                 *(f"{v:.4f}" for v in logged)])
                f.flush()
                bar.update(1, dict(zip(CURVE_COLUMNS[5:], logged[1:])))
                if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
                    _save(ckpt_path, dict(model=model.state_dict(), heads=heads.state_dict(), optim=optim.state_dict(),
                                          step=step + 1, elapsed_s=elapsed, config=cfg.saved()))
                    plot_curve(curve_path, cfg.out / "curve.png")
        finally:
            tap.remove()
            bar.close()


def _nowhere():
    return open(os.devnull, "w", newline="")


def _average_over_processes(params: list[torch.nn.Parameter], logged: list[float], procs: int) -> list[float]:
    """Replace every gradient by its mean over the processes, with one all-reduce, and return ``logged`` averaged
    too. A parameter that got no gradient in any process keeps none (AdamW skips it, as in one process); one that
    got a gradient in some processes only counts zeros for the others."""
    has = [float(p.grad is not None) for p in params]
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
                     + [torch.tensor(has + logged, dtype=torch.float32)])
    dist.all_reduce(flat)
    flat /= procs
    n_grads = flat.numel() - len(has) - len(logged)
    offset = 0
    for p, seen in zip(params, flat[n_grads:n_grads + len(has)].tolist()):
        p.grad = flat[offset:offset + p.numel()].view_as(p) if seen > 0 else None
        offset += p.numel()
    return flat[n_grads + len(has):].tolist()


class _bar:
    """tqdm on a terminal, else one log line every 10 steps."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.step, self.total, self._tqdm = start, total, None
        if enabled:
            from tqdm import tqdm

            self._tqdm = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)

    def update(self, n: int, stats: dict[str, float]) -> None:
        self.step += n
        shown = ("reply", "read", "point", "copy", "recall", "carry", "token_acc", "word_acc", "point_acc")
        summary = {k: round(stats[k], 3) for k in shown}
        if self._tqdm is not None:
            self._tqdm.update(n)
            self._tqdm.set_postfix(summary)
        elif self.step % 10 == 0:
            logger.info("step %d/%d %s", self.step, self.total, summary)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()


def plot_curve(csv_path: Path, png_path: Path) -> None:
    """Draw the learning curve (losses on a log scale, accuracies on a linear one) with Pillow: no plotting extra."""
    from PIL import Image, ImageDraw

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    if len(rows) < 2:
        return
    W, H, pad = 900, 520, 50
    img = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(img)
    steps = [int(r["step"]) for r in rows]
    series = {"reply": "red", "read": "blue", "point": "green", "copy": "orange", "recall": "magenta", "carry": "brown",
              "note": "olive", "token_acc": "black", "word_acc": "teal", "point_acc": "purple", "inv_acc": "gray"}
    half = (H - 3 * pad) // 2
    panels = [(("reply", "read", "point", "copy", "recall", "carry", "note"), True),
              (("token_acc", "word_acc", "point_acc", "inv_acc"), False)]
    for panel, (names, log) in enumerate(panels):
        top = pad + panel * (half + pad)
        draw.rectangle([pad, top, W - pad, top + half], outline="gray")
        # (step, value) per series; a column an older version did not write is empty in its rows
        values = {n: [(s, max(float(r[n]), 1e-3)) for s, r in zip(steps, rows) if r.get(n)] for n in names}
        values = {n: [(s, math.log10(y) if log else y) for s, y in v] for n, v in values.items() if v}
        ys = [y for v in values.values() for _, y in v]
        lo, hi = (min(ys), max(ys)) if log else (0.0, 1.0)
        for name, v in values.items():  # one scale per panel, so the series compare
            pts = [(pad + (W - 2 * pad) * (s - steps[0]) / max(1, steps[-1] - steps[0]),
                    top + half - half * (y - lo) / max(hi - lo, 1e-9)) for s, y in v]
            draw.line(pts, fill=series[name], width=2)
        span = f"{10 ** lo:.3g} .. {10 ** hi:.3g}" if log else "0 .. 1"
        draw.text((pad, top - 15), ("loss, log scale " if log else "accuracy ") + f"({span}): " + ", ".join(
            f"{n} ({series[n]})" for n in names), fill="black")
    draw.text((pad, H - pad + 10), f"steps {steps[0]}..{steps[-1]}", fill="black")
    img.save(png_path)
