"""gui-tiny's export: a real Hugging Face directory that plain transformers classes load with identical logits, within
the 30 MB cap, with its card and prompt set; `--model gui-tiny` loads the packaged directory or says how to make it.

The weights are random (seed 0, the `gui_tiny_export` fixture): nothing trained is committed or needed here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from agent import prompts
from agent.cli import main
from agent.engine import ModelPolicy
from agent.models import loading
from agent.models.loading import WeightsNotExportedError, load
from agent.training.export import MAX_WEIGHTS_BYTES, export_gui_tiny
from agent.training.gui_tiny import GUI_TINY_MAX_PIXELS, build_gui_tiny
from tasks.synthdesk.generate import generate

EXPECTED_FILES = {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                  "tokenizer_config.json", "chat_template.jinja", "preprocessor_config.json", "guikv_model.json",
                  "README.md"}


def _screen() -> tuple[str, Image.Image]:
    episode = generate("heldout", 0, 0, "episode")
    return episode.instruction, episode.steps[0].state.render().image


def _plain_inputs(directory: Path) -> dict[str, torch.Tensor]:
    """Model inputs for one synthdesk screen built with plain transformers classes only (no project code)."""
    from transformers import AutoImageProcessor, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    image_processor = AutoImageProcessor.from_pretrained(directory)
    instruction, image = _screen()
    pixels = image_processor(images=[image], return_tensors="pt")
    n_image_tokens = int(pixels["image_grid_thw"].prod()) // 4
    messages = [{"role": "system", "content": prompts.synthdesk_system_prompt()},
                {"role": "user", "content": [{"type": "text", "text": prompts.synthdesk_task_prompt(instruction)}]},
                {"role": "user", "content": [{"type": "image"}]}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text.count("<|image_pad|>") == 1
    text = text.replace("<|image_pad|>", "<|image_pad|>" * n_image_tokens)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    image_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "pixel_values": pixels["pixel_values"],
            "image_grid_thw": pixels["image_grid_thw"], "mm_token_type_ids": (ids == image_id).long()}


def test_export_writes_a_hugging_face_directory_within_the_cap(gui_tiny_export) -> None:
    _, _, directory = gui_tiny_export
    assert {p.name for p in directory.iterdir()} == EXPECTED_FILES
    size = (directory / "model.safetensors").stat().st_size
    assert size <= MAX_WEIGHTS_BYTES == 30_000_000
    n_params = sum(p.numel() for p in build_gui_tiny(0).model.parameters())
    assert size >= 4 * n_params  # float32
    config = json.loads((directory / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_vl" and config["architectures"] == ["Qwen2_5_VLForConditionalGeneration"]
    assert config["dtype"] == "float32"
    pre = json.loads((directory / "preprocessor_config.json").read_text())
    assert pre["max_pixels"] == pre["size"]["longest_edge"] == GUI_TINY_MAX_PIXELS
    assert pre["min_pixels"] == pre["size"]["shortest_edge"]
    assert json.loads((directory / "guikv_model.json").read_text())["prompt_set"] == "synthdesk"
    assert json.loads((directory / "generation_config.json").read_text())["max_new_tokens"] == 96


def test_model_card_says_data_command_figures_and_limits(gui_tiny_export) -> None:
    _, _, directory = gui_tiny_export
    card = (directory / "README.md").read_text()
    assert card.startswith("---\nlicense: apache-2.0\nlibrary_name: transformers\n")
    assert "synthdesk only" in card and "It knows only synthdesk" in card
    assert "`python -m agent train --out runs/gui-tiny --steps 900 --batch 8 --lr 0.002 --seed 0 --procs 1 --threads 2`" in card
    assert "| optimiser steps | 40 of 900 |" in card and "| training time | 10 min |" in card
    assert "| grounding, click inside the box | 0.0% (random weights) |" in card
    assert "float32" in card


def test_plain_transformers_classes_load_it_with_identical_logits(gui_tiny_export) -> None:
    from transformers import Qwen2_5_VLForConditionalGeneration

    state, _, directory = gui_tiny_export
    original = build_gui_tiny(1)  # other random weights, replaced by the checkpoint's
    original.model.load_state_dict(state["model"])
    loaded = Qwen2_5_VLForConditionalGeneration.from_pretrained(directory, dtype=torch.float32).eval()
    inputs = _plain_inputs(directory)
    # the plain classes prepare exactly what the project's processor prepares
    instruction, image = _screen()
    ours = original.processor.image_processor(images=[image], return_tensors="pt")
    assert torch.equal(ours["pixel_values"], inputs["pixel_values"])
    assert inputs["image_grid_thw"].tolist() == [[1, image.height // 14, image.width // 14]]
    with torch.no_grad():
        expected = original.model(**inputs).logits
        got = loaded(**inputs).logits
    assert torch.equal(got, expected)


def test_load_reads_the_prompt_set_and_the_policy_uses_synthdesk_prompts(gui_tiny_export, tmp_path) -> None:
    _, _, directory = gui_tiny_export
    bundle = load(str(directory))
    assert (bundle.family, bundle.prompt_set) == ("uitars", "synthdesk")
    policy = ModelPolicy(bundle, method="full")
    policy.start("tick Share, then click Music")
    assert policy.transcript is not None
    assert policy.transcript.system == prompts.synthdesk_system_prompt()
    assert policy.transcript.prompt == "Task: tick Share, then click Music"
    plain = tmp_path / "plain"  # the same model without guikv_model.json: the family's own prompts
    plain.mkdir()
    for f in directory.iterdir():
        if f.name != "guikv_model.json":
            (plain / f.name).symlink_to(f)
    assert load(str(plain)).prompt_set == "default"


def test_export_refuses_a_file_over_the_cap_and_a_foreign_state_dict(gui_tiny_export, tmp_path) -> None:
    state, checkpoint, _ = gui_tiny_export
    with pytest.raises(ValueError, match="over the cap of 1000 bytes"):
        export_gui_tiny(checkpoint, tmp_path / "small", card_facts={}, max_bytes=1000)
    assert not (tmp_path / "small").exists() and not list(tmp_path.glob(".small*"))
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {"lm_head.weight": torch.zeros(2, 2)}}, foreign)
    with pytest.raises(ValueError, match="does not fit gui-tiny"):
        export_gui_tiny(foreign, tmp_path / "x", card_facts={})


def test_train_export_cli_writes_the_directory_with_card_facts(gui_tiny_export, tmp_path, capsys) -> None:
    _, checkpoint, _ = gui_tiny_export
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").symlink_to(checkpoint)
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"hardware": "2 CPU cores", "figures": {"memory tasks": "91% (chance 30%)"}}))
    out = tmp_path / "exported"
    assert main(["train", "--out", str(run), "--export", str(out), "--card-facts", str(facts)]) == 0
    assert f"exported: {out}" in capsys.readouterr().out
    card = (out / "README.md").read_text()
    assert "| hardware | 2 CPU cores |" in card and "| memory tasks | 91% (chance 30%) |" in card
    assert main(["train", "--out", str(tmp_path / "none"), "--export", str(out)]) == 2
    assert "checkpoint.pt: not found" in capsys.readouterr().err


def test_gui_tiny_without_exported_weights_says_how_to_make_them(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setitem(loading.PACKAGED, "gui-tiny", "gui_tiny_not_exported")  # the real one may hold weights
    with pytest.raises(WeightsNotExportedError) as err:
        load("gui-tiny")
    message = str(err.value)
    assert "gui_tiny_not_exported/model.safetensors does not exist" in message
    assert "python -m agent train --out runs/gui-tiny" in message and "--export" in message
    script_free = ["run", "open it", "--model", "gui-tiny", "--dry-run", "--out", str(tmp_path / "r")]
    assert main(script_free) == 2
    assert "has no weights yet" in capsys.readouterr().err


def test_gui_tiny_alias_resolves_inside_the_installed_package() -> None:
    directory = Path(loading.__file__).resolve().parent / loading.PACKAGED["gui-tiny"]
    assert directory.parent.name == "models" and directory.parent.parent.name == "agent"
    if (directory / "model.safetensors").is_file():  # once the trained weights are committed
        assert loading.packaged_dir("gui-tiny") == directory
    else:
        with pytest.raises(WeightsNotExportedError):
            loading.packaged_dir("gui-tiny")


def test_a_frame_over_the_models_pixel_cap_is_shown_under_it(gui_tiny_export) -> None:
    from actions.coords import smart_resize
    from agent.engine import GenerationSettings
    from agent.screen import ReplayScreen

    _, _, directory = gui_tiny_export
    policy = ModelPolicy(load(str(directory)), method="full", settings=GenerationSettings(max_new_tokens=2))
    policy.start("click Music")
    frame = ReplayScreen([Image.new("RGB", (1920, 1080), "white")]).capture()
    assert frame.geometry.model_size == (1932, 1092)  # the screen's own limits: far over gui-tiny's 504 * 364
    reply = policy.act(frame)
    height, width = smart_resize(1080, 1920, 28, min_pixels=3136, max_pixels=GUI_TINY_MAX_PIXELS)
    assert reply.model_size == (width, height) and width * height <= GUI_TINY_MAX_PIXELS
    # the same as showing it a screenshot of that size in the first place: the processor resized nothing further
    policy.start("click Music")
    small = ReplayScreen([Image.new("RGB", (1920, 1080), "white").resize((width, height), Image.Resampling.BICUBIC)])
    same = policy.act(small.capture())
    assert same.model_size is None and (same.prefill_tokens, same.text) == (reply.prefill_tokens, reply.text)
