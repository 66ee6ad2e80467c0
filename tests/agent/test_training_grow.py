"""Deepening a trained gui-tiny (`agent.training.grow`): the same outputs, new layers that can learn, and a
continuation that trains and exports the deeper model."""

from __future__ import annotations

import json
import random

import pytest
import torch

from agent.training.examples import encode_episode
from agent.training.grow import deepen, widen_kv
from agent.training.gui_tiny import build_gui_tiny, sizes_in, sizes_of
from agent.training.objective import AttentionTap, AuxHeads, collate, compute_losses
from agent.training.run import TrainConfig, train
from tasks.synthdesk import training as synthdesk


@pytest.fixture(scope="module")
def shipped():
    """The shipped gui-tiny (trained weights: a deepened random model would prove less) and a batch of two tasks."""
    from agent.models.loading import packaged_dir
    from agent.training.run import _trained_weights

    weights = _trained_weights(packaged_dir("gui-tiny"))
    bundle = build_gui_tiny(0, **sizes_in(weights))
    bundle.model.load_state_dict(weights)
    episodes = [synthdesk.episode(random.Random(f"grow:{kind}"), kind) for kind in ("grounding", "memory")]
    examples = [encode_episode(ep, bundle.processor) for ep in episodes]
    return bundle, examples


def _logits(model, examples, pad_id):
    with torch.no_grad():
        return model.eval()(**collate(examples, pad_id, model).inputs, use_cache=False).logits


def test_a_deepened_model_computes_exactly_what_the_trained_one_does(shipped):
    bundle, examples = shipped
    lm, vision = sizes_of(bundle.model)  # 4 LM layers; 2 vision blocks or 3 (a deepened ancestor)
    grown = deepen(bundle.model, lm + 2, vision + 1, seed=1)
    assert sizes_of(grown) == (lm + 2, vision + 1)
    assert grown.config.vision_config.fullatt_block_indexes == [vision]
    pad = bundle.tokenizer.pad_token_id
    assert torch.equal(_logits(grown, examples, pad), _logits(bundle.model, examples, pad))
    trained, state = bundle.model.state_dict(), grown.state_dict()
    # the trained layers sit first and last; the new ones in between write nothing but read with random weights
    for new, old in ((0, 0), (3, 1), (lm + 1, lm - 1)):
        assert torch.equal(state[f"model.language_model.layers.{new}.self_attn.q_proj.weight"],
                           trained[f"model.language_model.layers.{old}.self_attn.q_proj.weight"])
    for new in (1, 2):
        layer = f"model.language_model.layers.{new}."
        assert not state[layer + "self_attn.o_proj.weight"].any() and not state[layer + "mlp.down_proj.weight"].any()
        assert state[layer + "self_attn.q_proj.weight"].std() > 0.01
        assert state[layer + "mlp.up_proj.weight"].std() > 0.01
    assert not state["model.visual.blocks.1.attn.proj.weight"].any()
    assert not state["model.visual.blocks.1.mlp.down_proj.bias"].any()
    assert torch.equal(state[f"model.visual.blocks.{vision}.attn.qkv.weight"],
                       trained[f"model.visual.blocks.{vision - 1}.attn.qkv.weight"])
    state["model.language_model.layers.0.self_attn.q_proj.weight"].add_(1.0)  # copies, not shared storage
    assert not torch.equal(bundle.model.state_dict()["model.language_model.layers.0.self_attn.q_proj.weight"],
                           state["model.language_model.layers.0.self_attn.q_proj.weight"])
    with pytest.raises(ValueError, match="added, never removed"):
        deepen(bundle.model, lm - 1, vision)


def test_the_new_layers_output_projections_learn_from_the_first_step(shipped):
    """Their inputs are random, so the zero output projections get gradients at once (zero on both sides would
    leave the block dead), and the losses that name layers from the end still find the trained ones."""
    bundle, examples = shipped
    lm, vision = sizes_of(bundle.model)
    grown = deepen(bundle.model, lm + 1, vision + 1, seed=2).train()
    tap = AttentionTap.of(grown)
    try:
        loss, stats = compute_losses(grown, AuxHeads(256), tap, collate(examples, bundle.tokenizer.pad_token_id, grown),
                                     list(grown.config.get_text_config().rope_parameters["mrope_section"]))
        loss.backward()
    finally:
        tap.remove()
    layers = grown.model.language_model.layers
    assert layers[1].self_attn.o_proj.weight.grad.abs().sum() > 0
    assert layers[1].mlp.down_proj.weight.grad.abs().sum() > 0
    assert grown.model.visual.blocks[1].mlp.down_proj.weight.grad.abs().sum() > 0
    assert stats["n_point"] > 0 and stats["reply"] < 0.5  # the trained pointer layers, answering as trained


def test_a_continuation_deepens_its_init_model_and_exports_the_deeper_model(tmp_path, capsys):
    from transformers import Qwen2_5_VLForConditionalGeneration

    from agent.cli import main
    from agent.models.loading import packaged_dir
    from agent.training import run as run_module

    init = packaged_dir("gui-tiny")
    common = dict(steps=1, batch=1, warmup=1, reading_steps=0, threads=1, procs=1, checkpoint_every=1, init=init)
    cfg = TrainConfig(out=tmp_path / "deep", lr=1e-6, lm_layers=5, vision_depth=3, **common)
    assert sizes_of(run_module._replica(cfg)[0].model) == (5, 3)
    assert TrainConfig(out=tmp_path / "same", **common).lm_layers == 4  # None: the init model's own size
    with pytest.raises(ValueError, match="not remove"):
        TrainConfig(out=tmp_path / "x", lm_layers=3, **common)
    with pytest.raises(ValueError, match="last 3"):
        TrainConfig(out=tmp_path / "x", lm_layers=2)
    out = train(cfg, progress=False)
    saved = torch.load(out / "checkpoint.pt", weights_only=False)["config"]
    assert (saved["lm_layers"], saved["vision_depth"]) == ("5", "3")
    with pytest.raises(ValueError, match="configuration"):  # resuming as another size is another run
        train(TrainConfig(out=out, lr=1e-6, lm_layers=6, vision_depth=3, **dict(common, steps=2)), resume=True,
              progress=False)
    assert main(["train", "--out", str(out), "--export", str(tmp_path / "export"), "-q"]) == 0
    config = json.loads((tmp_path / "export" / "config.json").read_text())
    assert config["text_config"]["num_hidden_layers"] == 5 and config["vision_config"]["depth"] == 3
    loaded = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "export", dtype=torch.float32)
    assert sizes_of(loaded) == (5, 3)
    # continuing the deeper export keeps its size by default, and the CLI refuses to shrink it
    assert TrainConfig(out=tmp_path / "next", **dict(common, init=tmp_path / "export")).lm_layers == 5
    capsys.readouterr()
    assert main(["train", "--out", str(tmp_path / "shrunk"), "--init", str(tmp_path / "export"), "--lm-layers", "4",
                 "-q"]) == 2
    assert "can add layers, not remove them" in capsys.readouterr().err


def test_a_model_widened_to_more_kv_heads_computes_exactly_what_it_did(shipped):
    """On a model of 2 KV heads with random weights (the shipped one may have 4 already): each query head meets the
    same keys and values, so the logits stay equal."""
    bundle, examples = build_gui_tiny(7), shipped[1]
    wide = widen_kv(bundle.model, 4)
    assert wide.config.get_text_config().num_key_value_heads == 4
    assert wide.model.language_model.layers[0].self_attn.k_proj.weight.shape == (256, 256)
    pad = bundle.tokenizer.pad_token_id
    assert torch.allclose(_logits(wide, examples, pad), _logits(bundle.model, examples, pad), atol=1e-5)
    old = bundle.model.state_dict()["model.language_model.layers.2.self_attn.v_proj.weight"].view(2, 64, 256)
    new = wide.state_dict()["model.language_model.layers.2.self_attn.v_proj.weight"].view(4, 64, 256)
    assert torch.equal(new[0], old[0]) and torch.equal(new[1], old[0]) and torch.equal(new[3], old[1])
    with pytest.raises(ValueError, match="multiple of the model's 2 KV heads"):
        widen_kv(bundle.model, 3)


def test_a_continuation_widens_its_init_model_to_more_kv_heads_and_exports_it(tmp_path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    from agent.cli import main
    from agent.training import run as run_module
    from agent.training.gui_tiny import kv_heads_of

    init = tmp_path / "narrow"  # a model directory of 2 KV heads (random weights: the shipped one may have 4)
    build_gui_tiny(3).model.save_pretrained(init)
    common = dict(steps=1, batch=1, warmup=1, reading_steps=0, threads=1, procs=1, checkpoint_every=1, init=init)
    assert TrainConfig(out=tmp_path / "same", **common).kv_heads == 2  # None: the init model's own
    for wrong in (1, 3):  # fewer than init's, or not a divisor of the 4 query heads
        with pytest.raises(ValueError, match="must divide the 4 query heads and be a multiple of init="):
            TrainConfig(out=tmp_path / "x", kv_heads=wrong, **common)
    cfg = TrainConfig(out=tmp_path / "wide", lr=1e-6, kv_heads=4, **common)
    assert kv_heads_of(run_module._replica(cfg)[0].model) == 4
    out = train(cfg, progress=False)
    assert torch.load(out / "checkpoint.pt", weights_only=False)["config"]["kv_heads"] == "4"
    assert main(["train", "--out", str(out), "--export", str(tmp_path / "export"), "-q"]) == 0
    loaded = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "export", dtype=torch.float32)
    assert kv_heads_of(loaded) == 4 and sizes_of(loaded) == (4, 2)
    assert TrainConfig(out=tmp_path / "next", **dict(common, init=tmp_path / "export")).kv_heads == 4
