"""OpenCUA-7B without the checkpoint's model code: the real config, the real key names, strict key mapping.

`tests/data/opencua_7b/config.json` carries xlangai/OpenCUA-7B's config.json fields with the real values (sources in
the README's model section): top-level `architectures` / `auto_map` pointing at the remote code, `ignore_index`,
`max_position_embeddings`, `media_placeholder_token_id`, `pad_token_id`, a 4.x-style Qwen2 `text_config` and the
Qwen2.5-VL `vision_config`. The round-trip tests write a checkpoint directory the way the real one is stored: that
config with tiny sizes, bf16 safetensors shards named `model-{i}-of-{n}.safetensors` under the real key names
(`vision_tower.*`, `language_model.model.*`, `language_model.lm_head.*`) with a `model.safetensors.index.json`, and a
`generation_config.json`. Nothing is mocked; the hub test reads a pre-filled Hugging Face cache with the hub offline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from agent.models.loading import RemoteCodeRequiredError, load
from agent.models.opencua import (
    CHECKPOINT_KEY_MAP,
    CheckpointKeyError,
    OpenCUAConfig,
    OpenCUAForConditionalGeneration,
    check_checkpoint_keys,
    map_checkpoint_keys,
)

REAL_DIR = Path(__file__).resolve().parents[1] / "data" / "opencua_7b"
N_SHARDS = 2
EOS = "[EOS]"


def _tiny_real_shaped_config(tokenizer, vocab_size: int) -> dict:
    """The real config.json with the sizes cut down (2 text layers, 2 vision blocks) and the tiny tokenizer's ids."""
    config = json.loads((REAL_DIR / "config.json").read_text())
    config["text_config"].update(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, max_window_layers=2, vocab_size=vocab_size)
    config["vision_config"].update(depth=2, hidden_size=64, intermediate_size=128, num_heads=2, out_hidden_size=128,
                                   fullatt_block_indexes=[1])
    config["media_placeholder_token_id"] = tokenizer.convert_tokens_to_ids("<|media_placeholder|>")
    return config


def _seeded_model(config: OpenCUAConfig, seed: int = 0) -> OpenCUAForConditionalGeneration:
    """The model the weights come from: random, rounded to bfloat16 (the checkpoint's dtype), kept in float32."""
    with torch.random.fork_rng(devices=[]):
        model = OpenCUAForConditionalGeneration(config).to(torch.float32)  # config.json says torch_dtype bfloat16
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator) * 0.15
            param.copy_((1.0 + noise if "norm" in name else noise).to(torch.bfloat16).float())
    return model.eval()


def _write_weights(directory: Path, state: dict[str, torch.Tensor], n_shards: int = N_SHARDS) -> None:
    """bf16 shards `model-{i}-of-{n}.safetensors` plus `model.safetensors.index.json`, as OpenCUA-7B stores them."""
    keys = list(state)
    per_shard = -(-len(keys) // n_shards)
    weight_map, total = {}, 0
    for i in range(n_shards):
        name = f"model-{i + 1}-of-{n_shards}.safetensors"
        shard = {k: state[k].to(torch.bfloat16).contiguous() for k in keys[i * per_shard:(i + 1) * per_shard]}
        save_file(shard, str(directory / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, name))
        total += sum(t.numel() * t.element_size() for t in shard.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


@pytest.fixture(scope="module")
def real_layout(tmp_path_factory, tiny_opencua):
    """(directory, source model): a tiny OpenCUA checkpoint stored like xlangai/OpenCUA-7B, with the tiny tokenizer."""
    directory = tmp_path_factory.mktemp("opencua-real-layout")
    tokenizer = tiny_opencua.tokenizer
    config = _tiny_real_shaped_config(tokenizer, tiny_opencua.model.config.text_config.vocab_size)
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    source = _seeded_model(OpenCUAConfig.from_pretrained(str(directory), attn_implementation="sdpa"))
    _write_weights(directory, source.state_dict())
    eos = tokenizer.convert_tokens_to_ids(EOS)
    (directory / "generation_config.json").write_text(json.dumps({"max_length": 32768, "eos_token_id": eos}) + "\n")
    tiny_opencua.processor.save_pretrained(str(directory))  # tokenizer.json + tokenizer_config.json, no auto_map
    return directory, source


def _copy(directory: Path, target: Path) -> Path:
    shutil.copytree(directory, target)
    return target


def _inputs(processor) -> dict[str, torch.Tensor]:
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Click the OK button."}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    pixels = np.random.default_rng(0).integers(0, 256, size=(84, 112, 3), dtype=np.uint8)
    batch = processor(text=[text], images=[Image.fromarray(pixels)], return_tensors="pt")
    return {k: batch[k] for k in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw")}


@torch.inference_mode()
def _logits(model, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**inputs).logits


def test_real_opencua_7b_config_builds_with_the_real_shapes():
    config = OpenCUAConfig.from_pretrained(str(REAL_DIR))
    text, vision = config.text_config, config.vision_config
    assert type(text).__name__ == "Qwen2Config" and text.rope_parameters["rope_theta"] == 1_000_000.0
    assert (text.hidden_size, text.intermediate_size, text.num_hidden_layers) == (3584, 18944, 28)
    assert (text.num_attention_heads, text.num_key_value_heads, text.vocab_size) == (28, 4, 152064)
    assert (vision.depth, vision.hidden_size, vision.intermediate_size, vision.num_heads) == (32, 1280, 3420, 16)
    assert (vision.out_hidden_size, vision.window_size, vision.fullatt_block_indexes) == (3584, 112, [7, 15, 23, 31])
    assert (config.media_placeholder_token_id, config.pad_token_id, config.ignore_index) == (151664, 0, -100)
    assert not config.tie_word_embeddings and not text.tie_word_embeddings
    with torch.device("meta"):
        model = OpenCUAForConditionalGeneration(config)
    state = model.state_dict()
    # 390 vision tensors (patch_embed 1, 32 blocks x 12, merger 5) + 339 LM tensors (embed, 28 layers x 12, norm, head)
    assert len(state) == 729
    assert sum(p.numel() for p in model.parameters()) == 8_292_166_656  # x 2 bytes (bf16) = 16.58 GB of shards
    shapes = {
        "vision_tower.patch_embed.proj.weight": (1280, 3, 2, 14, 14),
        "vision_tower.blocks.31.attn.qkv.weight": (3840, 1280),
        "vision_tower.blocks.0.mlp.gate_proj.weight": (3420, 1280),
        "vision_tower.merger.mlp.0.weight": (5120, 5120),
        "vision_tower.merger.mlp.2.weight": (3584, 5120),
        "language_model.model.embed_tokens.weight": (152064, 3584),
        "language_model.model.layers.27.self_attn.q_proj.weight": (3584, 3584),
        "language_model.model.layers.27.self_attn.k_proj.weight": (512, 3584),  # 4 KV heads x head_dim 128
        "language_model.model.layers.0.mlp.down_proj.weight": (3584, 18944),
        "language_model.lm_head.weight": (152064, 3584),
    }
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    attention = [layer.self_attn for layer in model.language_model.model.layers]
    assert len(attention) == 28 and type(attention[0]).__name__ == "Qwen2Attention"
    mapped, dropped, unmapped = map_checkpoint_keys(state)
    assert mapped == {k: k for k in state} and not dropped and not unmapped
    # The real key list, plus per-layer RoPE buffers as older exports store them, passes the check at real size.
    inv_freq = [f"language_model.model.layers.{i}.self_attn.rotary_emb.inv_freq" for i in range(28)]
    assert check_checkpoint_keys([*state, *inv_freq], config, source="OpenCUA-7B") == {k: k for k in state}


def test_key_map_rows_are_the_real_prefixes():
    prefixes = ["vision_tower.", "language_model.model.", "language_model.lm_head."]
    assert [src for src, _ in CHECKPOINT_KEY_MAP] == prefixes
    mapped, dropped, unmapped = map_checkpoint_keys(
        ["vision_tower.merger.ln_q.weight", "language_model.model.rotary_emb.inv_freq", "visual.merger.ln_q.weight"])
    assert mapped == {"vision_tower.merger.ln_q.weight": "vision_tower.merger.ln_q.weight"}
    assert dropped == ["language_model.model.rotary_emb.inv_freq"] and unmapped == ["visual.merger.ln_q.weight"]


def test_real_layout_checkpoint_round_trips_with_identical_logits(real_layout, tiny_opencua):
    directory, source = real_layout
    model, info = OpenCUAForConditionalGeneration.from_pretrained(
        str(directory), dtype=torch.float32, attn_implementation="sdpa", output_loading_info=True)
    assert not any(info.values())
    expected, loaded = source.state_dict(), model.state_dict()
    assert expected.keys() == loaded.keys() and all(torch.equal(expected[k], loaded[k]) for k in expected)
    inputs = _inputs(tiny_opencua.processor)
    assert torch.equal(_logits(model.eval(), inputs), _logits(source, inputs))


def test_load_reads_a_local_opencua_directory_with_the_project_class(real_layout, tiny_opencua):
    directory, source = real_layout
    assert json.loads((directory / "config.json").read_text())["auto_map"]  # it points at remote code; not followed
    bundle = load(str(directory))
    assert type(bundle.model) is OpenCUAForConditionalGeneration and bundle.family == "opencua"
    assert bundle.eos_token_ids == (tiny_opencua.tokenizer.convert_tokens_to_ids(EOS),)  # generation_config.json
    assert bundle.image_token_id == bundle.model.config.media_placeholder_token_id
    inputs = _inputs(bundle.processor)
    assert torch.equal(_logits(bundle.model, inputs), _logits(source, inputs))


def test_opencua_alias_loads_from_the_hub_cache_without_remote_code(real_layout, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    directory, source = real_layout
    commit = "0" * 40  # what a download of xlangai/OpenCUA-7B leaves in the cache, minus the download
    repo = tmp_path / "hub" / "models--xlangai--OpenCUA-7B"
    _copy(directory, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    bundle = load("opencua-7b", cache_dir=tmp_path / "hub", local_files_only=True)
    assert type(bundle.model) is OpenCUAForConditionalGeneration and bundle.name == "opencua-7b"
    inputs = _inputs(bundle.processor)
    assert torch.equal(_logits(bundle.model, inputs), _logits(source, inputs))


def test_stored_rope_buffers_are_dropped_and_the_rest_loads(real_layout, tmp_path):
    directory, source = real_layout
    target = _copy(directory, tmp_path / "ckpt")
    state = dict(source.state_dict())
    for i in range(2):
        state[f"language_model.model.layers.{i}.self_attn.rotary_emb.inv_freq"] = torch.ones(16)
    _write_weights(target, state)
    model = OpenCUAForConditionalGeneration.from_pretrained(str(target), dtype=torch.float32)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in source.state_dict().items())


@pytest.mark.parametrize("change, expected", [
    ("unmapped", ["1 checkpoint key no rule of CHECKPOINT_KEY_MAP maps: mm_projector.weight"]),
    ("unknown", ["1 checkpoint key mapped to a name the model does not have",
                 "vision_tower.blocks.0.attn.extra.weight -> vision_tower.blocks.0.attn.extra.weight"]),
    ("missing", ["1 model parameter missing from the checkpoint: language_model.model.norm.weight"]),
    ("renamed", ["no rule of CHECKPOINT_KEY_MAP maps: visual.",
                 "model parameters missing from the checkpoint: vision_tower."]),
])
def test_checkpoint_with_an_extra_or_missing_key_fails_naming_it(real_layout, tmp_path, change, expected):
    directory, source = real_layout
    target = _copy(directory, tmp_path / "ckpt")
    state = dict(source.state_dict())
    if change == "unmapped":
        state["mm_projector.weight"] = torch.zeros(2, 2)
    elif change == "unknown":
        state["vision_tower.blocks.0.attn.extra.weight"] = torch.zeros(2, 2)
    elif change == "missing":
        del state["language_model.model.norm.weight"]
    else:  # a Qwen2.5-VL-style export: vision weights under `visual.`
        state = {k.replace("vision_tower.", "visual.", 1): v for k, v in state.items()}
    for shard in target.glob("model-*.safetensors"):
        shard.unlink()
    _write_weights(target, state)
    with pytest.raises(CheckpointKeyError) as info:
        OpenCUAForConditionalGeneration.from_pretrained(str(target), dtype=torch.float32)
    message = str(info.value)
    assert str(target) in message and all(part in message for part in expected), message
    with pytest.raises(CheckpointKeyError):  # through load(), too
        load(str(target))


def test_key_check_fails_before_any_weight_is_read(real_layout, tmp_path):
    directory, _ = real_layout
    target = _copy(directory, tmp_path / "ckpt")
    index = json.loads((target / "model.safetensors.index.json").read_text())
    index["weight_map"]["mm_projector.weight"] = "model-1-of-2.safetensors"
    (target / "model.safetensors.index.json").write_text(json.dumps(index))
    for shard in target.glob("model-*.safetensors"):
        shard.write_bytes(b"not a safetensors file")  # reading any weight would fail differently
    with pytest.raises(CheckpointKeyError, match="mm_projector.weight"):
        OpenCUAForConditionalGeneration.from_pretrained(str(target))


def test_tokenizer_that_is_checkpoint_code_needs_permission(real_layout, tmp_path):
    directory, _ = real_layout
    target = _copy(directory, tmp_path / "ckpt")
    for shard in target.glob("model-*.safetensors"):
        shard.unlink()  # the tokenizer is checked before any weight is looked at
    config = json.loads((target / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": ["tokenization_opencua.TikTokenV3", None]}  # as OpenCUA-7B's
    (target / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(RemoteCodeRequiredError) as info:
        load(str(target))
    message = str(info.value)
    assert "tokenization_opencua.TikTokenV3" in message and "--trust-remote-tokenizer" in message
    assert "--trust-remote-code" in message and str(target) in message
    # Allowed, the permission reaches transformers, which then looks for the checkpoint's tokenizer file.
    with pytest.raises((OSError, ValueError)) as allowed:
        load(str(target), trust_remote_tokenizer=True)
    assert not isinstance(allowed.value, RemoteCodeRequiredError)


def test_key_mapping_argument_is_refused(real_layout):
    with pytest.raises(ValueError, match="CHECKPOINT_KEY_MAP"):
        OpenCUAForConditionalGeneration.from_pretrained(str(real_layout[0]), key_mapping={"a": "b"})
