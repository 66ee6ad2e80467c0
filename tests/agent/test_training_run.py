"""gui-tiny training runs: validated config, a resumed run equals an uninterrupted one, the live engine's positions,
data parallelism."""

from __future__ import annotations

import copy
import dataclasses
import csv
import random

import pytest
import torch

from agent import prompts
from agent.context import Transcript
from agent.engine import ChatEngine
from agent.training.examples import encode_episode
from agent.training.objective import collate
from agent.training.run import CURVE_COLUMNS, TrainConfig, train
from tasks.synthdesk import training as synthdesk


def test_config_is_validated(tmp_path):
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(out=tmp_path, steps=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(out=tmp_path, lr=0.0)
    with pytest.raises(ValueError, match="reading_steps"):
        TrainConfig(out=tmp_path, steps=10, reading_steps=10)


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    from agent.training import run as run_module

    common = dict(steps=4, batch=1, warmup=1, reading_steps=1, checkpoint_every=2, threads=1, procs=1, seed=7)
    whole = train(TrainConfig(out=tmp_path / "whole", **common), progress=False)
    real_draw = run_module._draw

    def stop_at_step_four(cfg, step, processor, share=None):
        if step == 3:
            raise KeyboardInterrupt  # the session ends during step 4: step 3 is logged but not checkpointed
        return real_draw(cfg, step, processor, share)

    monkeypatch.setattr(run_module, "_draw", stop_at_step_four)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=tmp_path / "cut", **common), progress=False)
    monkeypatch.setattr(run_module, "_draw", real_draw)
    curve = tmp_path / "cut" / "curve.csv"  # as an older version wrote it: without the "recall" column
    older = [{k: v for k, v in row.items() if k != "recall"} for row in csv.DictReader(open(curve))]
    with open(curve, "w", newline="") as f:
        writer = csv.DictWriter(f, [c for c in CURVE_COLUMNS if c != "recall"])
        writer.writeheader()
        writer.writerows(older)
    with pytest.raises(FileExistsError, match="--resume"):
        train(TrainConfig(out=tmp_path / "cut", **common), progress=False)
    with pytest.raises(ValueError, match="configuration"):
        train(TrainConfig(out=tmp_path / "cut", **dict(common, lr=1e-3)), resume=True, progress=False)
    train(TrainConfig(out=tmp_path / "cut", **common), resume=True, progress=False)
    a = torch.load(whole / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)
    assert a["step"] == b["step"] == 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])  # same seed, same data, same weights
    for out in (whole, tmp_path / "cut"):
        rows = list(csv.reader(open(out / "curve.csv")))
        assert tuple(rows[0]) == CURVE_COLUMNS and [r[0] for r in rows[1:]] == ["1", "2", "3", "4"]
        point = CURVE_COLUMNS.index("point")
        assert float(rows[1][point]) == 0.0 and float(rows[2][point]) > 0.0  # step 1 reads; step 2 points
        assert (out / "curve.png").stat().st_size > 0
    recall = [r["recall"] for r in csv.DictReader(open(curve))]
    assert recall[:2] == ["", ""] and all(recall[2:])  # the older rows kept, the redone and new ones complete


def test_training_runs_the_model_with_the_positions_of_the_live_engine(gui_tiny):
    """The training forward's logits on a reply equal the live engine's teacher-forced logits on the same reply, for
    an example that is right-padded in its batch too. (Trained with positions other than the session's, a model
    answers gibberish at run time while its training accuracy looks fine.)"""
    grounding = synthdesk.episode(random.Random(7), "grounding")
    longer = synthdesk.episode(random.Random(7), "episode")
    examples = [encode_episode(ep, gui_tiny.processor) for ep in (longer, grounding)]
    batch = collate(examples, gui_tiny.tokenizer.pad_token_id, gui_tiny.model)
    assert batch.inputs["input_ids"].shape[1] > examples[1].input_ids.numel()  # the grounding example is padded
    with torch.no_grad():
        logits = gui_tiny.model.eval()(**batch.inputs, use_cache=False).logits[1]  # (L, V)
    labelled = (examples[1].labels != -100).nonzero().flatten()
    start, end = int(labelled[0]), int(labelled[-1]) + 1  # the reply and its <|im_end|>
    transcript = Transcript(prompt=prompts.synthdesk_task_prompt(grounding.instruction), frames=5,
                            mode="incremental", system=prompts.synthdesk_system_prompt())
    transcript.observe(grounding.frames[0])
    engine = ChatEngine(gui_tiny, method="full", budget=None, context="incremental")
    reply = engine.reply(transcript.messages(), forced=examples[1].input_ids[start:end].tolist(), keep_logits=True)
    assert reply.extra["raw"] == grounding.targets[0].reply
    torch.testing.assert_close(reply.extra["logits"].float(), logits[start - 1:end - 1], atol=2e-4, rtol=1e-4)


def test_two_processes_step_on_the_mean_of_their_shares_gradients(tmp_path):
    """procs=2 (two spawned processes, gloo): after a reading step and a task step the weights are those of one
    process that averages the two shares' gradients itself, and the curve logs the mean of the shares' losses."""
    from agent.training.objective import AttentionTap, compute_losses
    from agent.training.run import _draw, _lr, _replica

    cfg = TrainConfig(out=tmp_path / "dp", steps=2, batch=2, warmup=1, reading_steps=1, checkpoint_every=1,
                      threads=1, procs=2, seed=3)
    train(cfg, progress=False)
    bundle, heads, optim = _replica(cfg)
    model = bundle.model
    params = [p for group in optim.param_groups for p in group["params"]]
    tap = AttentionTap.of(model)
    section = list(model.config.get_text_config().rope_parameters["mrope_section"])
    losses = []
    for step in range(cfg.steps):
        grads, step_losses = [], []
        for share in (range(0, 1), range(1, 2)):
            batch = collate(_draw(cfg, step, bundle.processor, share), bundle.tokenizer.pad_token_id, model)
            loss, _ = compute_losses(model, heads, tap, batch, section, reading_only=step < cfg.reading_steps)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            grads.append([None if p.grad is None else p.grad.clone() for p in params])
            step_losses.append(float(loss.detach()))
        for p, pair in zip(params, zip(*grads)):
            given = [g for g in pair if g is not None]
            p.grad = sum(given) / 2 if given else None
        for group in optim.param_groups:
            group["lr"] = _lr(cfg, step)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        losses.append(sum(step_losses) / 2)
    tap.remove()
    state = torch.load(cfg.out / "checkpoint.pt", weights_only=False)
    assert state["step"] == 2 and state["config"]["procs"] == "2"
    trained = model.state_dict()
    assert max(float((state["model"][k] - trained[k]).abs().max()) for k in trained) < 1e-6
    rows = list(csv.DictReader(open(cfg.out / "curve.csv")))
    assert [float(r["loss"]) for r in rows] == pytest.approx(losses, abs=1e-4)
    assert float(rows[1]["point"]) > 0.0  # the task step trained the pointers in both processes


def test_batch_must_split_evenly_across_processes(tmp_path):
    with pytest.raises(ValueError, match="multiple of procs=2"):
        TrainConfig(out=tmp_path, batch=3, procs=2)


def test_the_train_command_passes_procs_and_refuses_an_uneven_split(tmp_path, capsys):
    from agent.cli import main

    assert main(["train", "--out", str(tmp_path / "run"), "--batch", "3", "--procs", "2", "-q"]) == 2
    assert "batch=3 must be a multiple of procs=2" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_run_continues_from_a_model_directory_on_the_final_mix(tmp_path):
    from safetensors.torch import load_file

    from agent.models.loading import packaged_dir
    from agent.training import run as run_module

    shipped = packaged_dir("gui-tiny")
    common = dict(batch=1, warmup=1, reading_steps=0, threads=1, procs=1, checkpoint_every=1)
    cfg = TrainConfig(out=tmp_path / "ft", steps=1, lr=1e-6, init=shipped, **common)
    bundle = run_module._replica(cfg)[0]
    name = "model.language_model.layers.0.self_attn.q_proj.weight"
    start = bundle.model.state_dict()[name].clone()
    assert torch.equal(start, load_file(shipped / "model.safetensors")["model.layers.0.self_attn.q_proj.weight"])
    # every step draws the final mix: step 4 of a from-scratch run of 5 steps is past the curriculum's ramp
    scratch = TrainConfig(out=tmp_path / "scratch", steps=5, **common)
    drawn = lambda c, step: [e.input_ids.tolist() for e in run_module._draw(c, step, bundle.processor)]
    assert drawn(cfg, 4) == drawn(scratch, 4)
    assert drawn(cfg, 0) != drawn(scratch, 0)  # a from-scratch run starts on sparse screens
    out = train(cfg, progress=False)
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["config"]["init"] == str(shipped)
    drift = (state["model"][name] - start).abs().max()
    assert 0 < drift < 1e-4  # one step at lr 1e-6 moved the shipped weights, did not replace them


def test_init_must_be_a_model_directory(tmp_path, capsys):
    from agent.cli import main

    assert main(["train", "--out", str(tmp_path / "run"), "--init", str(tmp_path), "-q"]) == 2
    assert "not a model directory" in capsys.readouterr().err


def test_a_continuation_can_start_the_auxiliary_heads_of_the_run_it_continues(tmp_path):
    """--init-heads RUN: the heads start from RUN's checkpoint, and only when that checkpoint holds the init model
    exactly (the export of RUN); heads fitted to another model are refused, as is the flag without --init."""
    from agent.cli import main
    from agent.models.loading import packaged_dir
    from agent.training import run as run_module

    shipped = packaged_dir("gui-tiny")
    common = dict(batch=1, warmup=1, reading_steps=0, threads=1, procs=1, checkpoint_every=1)
    parent = train(TrainConfig(out=tmp_path / "parent", steps=1, lr=1e-6, init=shipped, seed=1, **common),
                   progress=False)  # seed 1: its heads start from other random weights than the children's (seed 0)
    assert main(["train", "--out", str(parent), "--export", str(tmp_path / "parent-export"), "-q"]) == 0
    fitted = torch.load(parent / "checkpoint.pt", weights_only=False)["heads"]
    cfg = TrainConfig(out=tmp_path / "child", steps=1, lr=1e-6, init=tmp_path / "parent-export",
                      init_heads=parent, **common)
    heads = run_module._replica(cfg)[1].state_dict()
    assert heads.keys() == fitted.keys() and all(torch.equal(heads[k], fitted[k]) for k in heads)
    fresh = run_module._replica(TrainConfig(out=tmp_path / "fresh", steps=1, lr=1e-6, init=tmp_path / "parent-export",
                                            **common))[1].state_dict()
    assert not torch.allclose(fresh["read.weight"], fitted["read.weight"], atol=1e-3)
    with pytest.raises(ValueError, match="not the init model"):  # the shipped model is not the parent's checkpoint
        run_module._replica(TrainConfig(out=tmp_path / "x", steps=1, init=shipped, init_heads=parent, **common))
    with pytest.raises(ValueError, match="needs init"):
        TrainConfig(out=tmp_path / "y", init_heads=parent)
    child = tmp_path / "child-cli"
    assert main(["train", "--out", str(child), "--init", str(tmp_path / "parent-export"), "--init-heads", str(parent),
                 "--steps", "1", "--batch", "1", "--procs", "1", "--lr", "1e-6", "-q"]) == 0
    assert torch.load(child / "checkpoint.pt", weights_only=False)["config"]["init_heads"] == str(parent)


def test_heads_first_trains_the_fresh_heads_alone_then_the_model_on_its_own_schedule(tmp_path, capsys, monkeypatch):
    """--heads-first N: steps 0..N-1 move the auxiliary heads and leave every model weight as it was; the model's
    warm-up starts at step N; the flag needs --init and fresh heads, and leaves steps to the model."""
    from agent.cli import main
    from agent.models.loading import packaged_dir
    from agent.training import run as run_module

    shipped = packaged_dir("gui-tiny")
    common = dict(batch=1, reading_steps=0, threads=1, procs=1, checkpoint_every=1, init=shipped)
    cfg = TrainConfig(out=tmp_path / "hf", steps=3, warmup=2, lr=1e-4, heads_first=2, **common)
    assert [run_module._lr(cfg, s) for s in range(3)] == [run_module.HEADS_FIRST_LR] * 2 + [1e-4 / 2]
    bundle, heads, _ = run_module._replica(cfg)
    model0, heads0 = bundle.model.state_dict(), heads.state_dict()
    saved: list[dict] = []  # every step's checkpoint (one process: the saves happen here)
    save = run_module._save
    monkeypatch.setattr(run_module, "_save", lambda path, state: (saved.append(copy.deepcopy(state)), save(path, state)))
    train(cfg, progress=False)
    assert [state["step"] for state in saved] == [1, 2, 3] and saved[-1]["config"]["heads_first"] == "2"
    for state in saved[:2]:  # the heads-first steps
        assert all(torch.equal(v, model0[k]) for k, v in state["model"].items())
        assert not torch.equal(state["heads"]["read.weight"], heads0["read.weight"])
    assert any(not torch.equal(v, model0[k]) for k, v in saved[2]["model"].items())  # step 3 trains the model
    with pytest.raises(ValueError, match="needs init"):
        TrainConfig(out=tmp_path / "x", steps=5, reading_steps=0, heads_first=2)
    with pytest.raises(ValueError, match="leave none"):
        TrainConfig(out=tmp_path / "x", steps=2, heads_first=2, **common)
    assert main(["train", "--out", str(tmp_path / "cli"), "--init", "gui-tiny", "--heads-first", "-1", "-q"]) == 2
    assert "heads_first=-1" in capsys.readouterr().err


def test_mix_weighs_the_kinds_of_the_final_mix_and_bad_mixes_are_refused(tmp_path, capsys):
    """--mix G,E,M: the relative weights of grounding, episode and memory steps once the curriculum's ramp is done
    (every step of an --init run). 1,0,0 draws grounding steps alone (a grounding step's glances are memory steps of
    one screen), the default 1,1,1 all three kinds; a malformed mix is a usage error naming it."""
    from agent.cli import main
    from agent.models.loading import packaged_dir
    from agent.training import run as run_module

    shipped = packaged_dir("gui-tiny")
    common = dict(steps=40, batch=4, reading_steps=0, procs=1, init=shipped)
    processor = run_module._replica(TrainConfig(out=tmp_path / "r", **common))[0].processor

    def kinds(mix):
        cfg = TrainConfig(out=tmp_path / "r", mix=mix, **common)
        return [e.kind for step in range(12) for e in run_module._draw(cfg, step, processor)]

    only_grounding = kinds((1, 0, 0))
    assert set(only_grounding) == {"grounding", "memory"}
    assert only_grounding.count("grounding") == 12 * 3  # GLANCE_EVERY 4: one glance per step
    assert set(kinds((1, 1, 1))) == {"grounding", "episode", "memory"}
    assert set(kinds((0, 1, 0))) == {"episode"}
    for bad in ("1,1", "1,-1,1", "0,0,0", "a,b,c"):
        with pytest.raises(SystemExit) as exited:
            main(["train", "--out", str(tmp_path / "x"), "--mix", bad, "-q"])
        assert exited.value.code == 2 and repr(bad) in capsys.readouterr().err
    with pytest.raises(ValueError, match="mix="):
        TrainConfig(out=tmp_path, mix=(0, 0, 0))


@pytest.mark.parametrize("draw, option, at", [("inverted", "inverted_every", 1), ("beside", "beside_every", 2),
                                              ("lit", "lit_every", 0)])
def test_inverted_and_beside_every_put_their_tasks_in_each_grounding_step_and_old_checkpoints_resume_without(
        tmp_path, monkeypatch, draw, option, at):
    """One example in ``inverted_every`` of a grounding step (b % K == 1) is `synthdesk.inverted`, one in
    ``beside_every`` (b % K == 2) `synthdesk.beside`, one in ``lit_every`` (b % K == 0) `synthdesk.lit`; episode
    and memory steps have none, 0 turns it off, and a checkpoint from before the option resumes as 0 (what it
    drew)."""
    from agent.cli import main
    from agent.models.loading import packaged_dir
    from agent.training import run as run_module

    common = dict(steps=40, batch=8, reading_steps=0, procs=1, init=packaged_dir("gui-tiny"))
    processor = run_module._replica(TrainConfig(out=tmp_path / "r", **common))[0].processor
    real, drawn = getattr(synthdesk, draw), []

    def spy(rng, *, density=None):
        drawn.append(density)
        return real(rng, density=density)

    monkeypatch.setattr(run_module.synthdesk, draw, spy)

    def drawn_per_step(every, mix):
        cfg = TrainConfig(out=tmp_path / "r", mix=mix, **{option: every}, **common)
        counts = []
        for step in range(3):
            drawn.clear()
            examples = run_module._draw(cfg, step, processor)
            assert len(examples) == 8
            counts.append((examples[at].kind, len(drawn)))
        return counts

    assert drawn_per_step(8, (1, 0, 0)) == [("grounding", 1)] * 3
    assert drawn_per_step(4, (1, 0, 0)) == [("grounding", 2)] * 3  # b = at and at + 4 (3 and 7 are glances)
    assert drawn_per_step(0, (1, 0, 0)) == [("grounding", 0)] * 3
    assert drawn_per_step(8, (0, 1, 0)) == [("episode", 0)] * 3
    with pytest.raises(ValueError, match=f"{option}=-1 must be a positive int"):
        TrainConfig(out=tmp_path, **{option: -1})

    old = tmp_path / "old"  # the CLI passes the option on; then the checkpoint is made to look older
    flag = "--" + option.replace("_", "-")
    assert main(["train", "--out", str(old), "--steps", "1", "--batch", "1", "--procs", "1", flag, "0",
                 "--reading-steps", "0", "--checkpoint-every", "1", "-q"]) == 0
    state = torch.load(old / "checkpoint.pt", weights_only=False)
    assert state["config"][option] == "0"
    del state["config"][option]
    torch.save(state, old / "checkpoint.pt")
    same = dict(out=old, steps=1, batch=1, procs=1, reading_steps=0, checkpoint_every=1)
    with pytest.raises(ValueError, match="configuration"):  # 8 is not what the old run drew
        train(TrainConfig(**{option: 8}, **same), resume=True, progress=False)
    assert train(TrainConfig(**{option: 0}, **same), resume=True, progress=False) == old


def test_inverted_read_weight_reaches_the_loss_and_old_checkpoints_resume_as_even(tmp_path, monkeypatch):
    """``--inverted-read-weight W`` is validated (a number >= 1), reaches `compute_losses` as ``inverted_weight`` on
    every step, and a checkpoint from before the option resumes as 1 (every cell read evenly, what it did)."""
    from agent.cli import main

    for bad in (0.5, float("nan"), float("inf"), True, "2"):
        with pytest.raises(ValueError, match="inverted_read_weight="):
            TrainConfig(out=tmp_path, inverted_read_weight=bad)
    assert TrainConfig(out=tmp_path, inverted_read_weight=3).saved()["inverted_read_weight"] == "3.0"
    weights = _spy_on_losses(monkeypatch, "inverted_weight", 1.0)
    old = tmp_path / "old"
    assert main(["train", "--out", str(old), "--steps", "2", "--batch", "1", "--procs", "1", "--inverted-read-weight",
                 "7", "--reading-steps", "1", "--checkpoint-every", "1", "-q"]) == 0
    assert weights == [7.0, 7.0]  # the reading phase too: it trains the read probe
    state = torch.load(old / "checkpoint.pt", weights_only=False)
    assert state["config"]["inverted_read_weight"] == "7.0"
    del state["config"]["inverted_read_weight"]  # made to look older
    state["step"] = 1
    torch.save(state, old / "checkpoint.pt")
    same = dict(out=old, steps=2, batch=1, procs=1, reading_steps=1, checkpoint_every=1)
    with pytest.raises(ValueError, match="configuration"):
        train(TrainConfig(inverted_read_weight=7, **same), resume=True, progress=False)
    weights.clear()
    assert train(TrainConfig(**same), resume=True, progress=False) == old and weights == [1.0]


def test_vision_lr_scale_moves_the_vision_tower_that_many_times_as_far(tmp_path):
    """``vision_lr_scale`` S: the vision tower is its own optimiser group, and a first AdamW step (which moves every
    weight with a gradient by about the learning rate) moves it S times as far as the LM; S = 1 keeps one group (the
    optimiser state of older checkpoints)."""
    from agent.training import run as run_module

    common = dict(out=tmp_path / "r", steps=3, batch=1, reading_steps=0, procs=1, warmup=1)
    assert len(run_module._replica(TrainConfig(**common))[2].param_groups) == 1
    cfg = TrainConfig(vision_lr_scale=10, **common)
    bundle, heads, optim = run_module._replica(cfg)
    model = bundle.model
    vision = list(model.model.visual.parameters())
    assert [len(g["params"]) for g in optim.param_groups] == [len(vision), len(list(model.parameters())) - len(vision)
                                                              + len(list(heads.parameters()))]
    assert optim.param_groups[0]["params"][0] is vision[0] and optim.param_groups[0]["lr_scale"] == 10.0
    before = {n: p.detach().clone() for n, p in model.named_parameters()}  # the seeded start `train` makes too
    run_module.train(dataclasses.replace(cfg, steps=1), progress=False)
    after = torch.load(cfg.out / "checkpoint.pt", weights_only=False)["model"]
    moved = {n: float((after[n] - before[n]).abs().max()) for n in before}
    tower = max(v for n, v in moved.items() if n.startswith("model.visual."))
    lm = max(v for n, v in moved.items() if n.startswith("model.language_model."))
    assert tower == pytest.approx(10 * cfg.lr, rel=0.05) and lm == pytest.approx(cfg.lr, rel=0.05)


def test_the_reading_phase_draws_lit_screens_as_lit_every_asks(tmp_path, monkeypatch):
    """With ``lit_every`` K the reading phase draws example b % K == 0 of each step from `synthdesk.lit` (inverted
    labels are learnt to read where reading is learnt) and the others from plain grounding tasks; K = 0: none."""
    from agent.training import run as run_module

    common = dict(out=tmp_path / "r", steps=10, batch=4, reading_steps=5, procs=1)
    processor = run_module._replica(TrainConfig(**common))[0].processor
    real, drawn = synthdesk.lit, []
    monkeypatch.setattr(run_module.synthdesk, "lit", lambda rng, **kw: drawn.append(1) or real(rng, **kw))
    examples = run_module._draw(TrainConfig(lit_every=2, **common), 0, processor)
    assert len(examples) == 4 and len(drawn) == 2 and {e.kind for e in examples} == {"grounding"}
    assert any(bool(e.cell_inverted.any()) for e in examples[::2])
    drawn.clear()
    run_module._draw(TrainConfig(**common), 0, processor)
    assert drawn == []


def test_match_weight_needs_lit_screens_reaches_the_loss_and_old_checkpoints_resume_without_it(tmp_path, monkeypatch):
    """``--match-weight W``: a number >= 0, refused without ``lit_every`` (no lit screen, no twin: the loss would be a
    silent 0), passed to `compute_losses` every step; a checkpoint from before the option resumes as 0."""
    from agent.cli import main

    for bad in (-1.0, float("nan"), float("inf"), True, "2"):
        with pytest.raises(ValueError, match="match_weight="):
            TrainConfig(out=tmp_path, match_weight=bad, lit_every=2)
    with pytest.raises(ValueError, match="needs lit_every"):
        TrainConfig(out=tmp_path, match_weight=0.5)
    weights = _spy_on_losses(monkeypatch, "match_weight", 0.0)
    old = tmp_path / "old"
    assert main(["train", "--out", str(old), "--steps", "2", "--batch", "1", "--procs", "1", "--lit-every", "1",
                 "--match-weight", "0.5", "--reading-steps", "1", "--checkpoint-every", "1", "-q"]) == 0
    assert weights == [0.5, 0.5]
    header = (old / "curve.csv").read_text().splitlines()[0].split(",")
    assert header[-1] == "match"
    state = torch.load(old / "checkpoint.pt", weights_only=False)
    assert state["config"]["match_weight"] == "0.5"
    del state["config"]["match_weight"]  # made to look older
    state["step"] = 1
    torch.save(state, old / "checkpoint.pt")
    same = dict(out=old, steps=2, batch=1, procs=1, reading_steps=1, checkpoint_every=1, lit_every=1)
    with pytest.raises(ValueError, match="configuration"):
        train(TrainConfig(match_weight=0.5, **same), resume=True, progress=False)
    weights.clear()
    assert train(TrainConfig(**same), resume=True, progress=False) == old and weights == [0.0]


def test_heads_first_fits_every_head_even_inside_a_reading_phase(tmp_path, monkeypatch):
    """A continuation with a reading phase and heads-first steps: the heads-first steps compute every loss (all the
    probes fit before the model moves), the remaining reading steps the reading losses alone, then every loss."""
    from agent.models.loading import packaged_dir

    reading = _spy_on_losses(monkeypatch, "reading_only", False)
    cfg = TrainConfig(out=tmp_path / "r", steps=6, batch=1, reading_steps=3, heads_first=2, procs=1,
                      init=packaged_dir("gui-tiny"), checkpoint_every=6)
    train(cfg, progress=False)
    assert reading == [False, False, True, False, False, False]


def test_a_continuation_matches_against_its_starting_model_frozen(tmp_path):
    """With ``init`` and ``match_weight`` the match targets come from the init model, loaded again and frozen (the
    model being trained drifts; its start does not); a run from scratch, or one without the loss, has no teacher."""
    from agent.models.loading import packaged_dir
    from agent.training import run as run_module
    from agent.training.run import _trained_weights

    shipped = packaged_dir("gui-tiny")
    cfg = TrainConfig(out=tmp_path / "t", init=shipped, lit_every=2, match_weight=1.0)
    teacher = run_module._match_teacher(cfg)
    weights = _trained_weights(shipped)
    assert teacher.state_dict().keys() == weights.keys()
    assert all(torch.equal(v, weights[k]) for k, v in teacher.state_dict().items())
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert run_module._match_teacher(dataclasses.replace(cfg, match_weight=0.0, lit_every=0)) is None
    assert run_module._match_teacher(TrainConfig(out=tmp_path / "s", lit_every=2, match_weight=1.0)) is None


def _spy_on_losses(monkeypatch, option: str, default) -> list:
    """The value of ``option`` (``default`` where not passed) of every `compute_losses` call a training run makes
    from now on; the real function still runs."""
    from agent.training import run as run_module

    real, seen = run_module.compute_losses, []

    def spy(*args, **kwargs):
        seen.append(kwargs.get(option, default))
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "compute_losses", spy)
    return seen
