"""Averaging trained gui-tiny models (`agent.training.soup`): the mean of their weights, widened to one KV-head count,
written as a checkpoint that exports like a run's."""

from __future__ import annotations

import json

import pytest
import torch

from agent.training.grow import widen_kv
from agent.training.gui_tiny import build_gui_tiny, kv_heads_of, sizes_of
from agent.training.soup import average_models


def test_the_average_is_the_mean_of_the_weights_after_widening_to_the_most_kv_heads():
    a, b = build_gui_tiny(1).model, widen_kv(build_gui_tiny(2).model, 4)
    mean = average_models([a, b])
    wide_a = widen_kv(a, 4).state_dict()
    name = "model.language_model.layers.2.self_attn.v_proj.weight"
    assert mean[name].shape == (256, 256)
    assert torch.allclose(mean[name], (wide_a[name] + b.state_dict()[name]) / 2)
    assert torch.equal(average_models([a, a])["model.visual.blocks.0.attn.qkv.weight"],
                       a.state_dict()["model.visual.blocks.0.attn.qkv.weight"])
    with pytest.raises(ValueError, match="at least two"):
        average_models([a])
    with pytest.raises(ValueError, match="different depths"):
        average_models([a, build_gui_tiny(3, lm_layers=5).model])


def test_an_average_of_the_shipped_model_and_another_exports_and_loads(tmp_path, capsys):
    from transformers import Qwen2_5_VLForConditionalGeneration

    from agent.cli import main
    from agent.models.loading import packaged_dir

    other = tmp_path / "other"
    shipped_model = Qwen2_5_VLForConditionalGeneration.from_pretrained(packaged_dir("gui-tiny"))
    lm_layers, vision_depth = sizes_of(shipped_model)  # the other model must be as deep: only KV heads are widened
    widen_kv(build_gui_tiny(5, lm_layers=lm_layers, vision_depth=vision_depth).model, 4).save_pretrained(other)
    assert main(["train", "--out", str(tmp_path / "soup"), "--average", "gui-tiny", str(other), "-q"]) == 0
    state = torch.load(tmp_path / "soup" / "checkpoint.pt", weights_only=True)
    assert state["averaged"] == ["gui-tiny", str(other)]
    assert main(["train", "--out", str(tmp_path / "soup"), "--export", str(tmp_path / "export"), "-q"]) == 0
    loaded = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "export", dtype=torch.float32)
    assert kv_heads_of(loaded) == 4
    shipped = widen_kv(shipped_model, 4).state_dict()
    name = "model.language_model.embed_tokens.weight"
    expected = (shipped[name] + Qwen2_5_VLForConditionalGeneration.from_pretrained(other).state_dict()[name]) / 2
    assert torch.allclose(loaded.state_dict()[name], expected)
    assert f"--average gui-tiny {other}" in (tmp_path / "export" / "README.md").read_text()
    assert json.loads((tmp_path / "export" / "config.json").read_text())["text_config"]["num_key_value_heads"] == 4
    capsys.readouterr()
    assert main(["train", "--out", str(tmp_path / "soup"), "--average", "gui-tiny", str(other), "-q"]) == 2
    assert "already holds a checkpoint" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "soup"), "--steps", "2", "--reading-steps", "0", "--procs", "1", "--resume", "-q"]) == 2
    assert "not a training run's checkpoint" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "s2"), "--average", "gui-tiny", str(tmp_path), "-q"]) == 2
    assert "not a model directory" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "s3"), "--average", "gui-tiny", str(other), "--card-facts",
                 str(tmp_path / "facts.json"), "-q"]) == 2
    assert "--card-facts goes with --export" in capsys.readouterr().err and not (tmp_path / "s3").exists()
