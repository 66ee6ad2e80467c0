"""The tiny offline models: shapes, determinism, real token counts, generation, chat formats, PIL backend, save/load."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest
import torch
import transformers
from packaging.version import Version
from PIL import Image
from transformers import DynamicCache

from agent.models.processing import MAX_PIXELS, MIN_PIXELS, pil_image_processor_class
from agent.models.tiny import TinyBundle, build_tiny_opencua, build_tiny_uitars, load_tiny
from agent.models.tokenizer import OPENCUA_SPECIAL_TOKENS, UITARS_SPECIAL_TOKENS
from compression import compat

BUILDERS = {"uitars": build_tiny_uitars, "opencua": build_tiny_opencua}
SPECIALS = {"uitars": UITARS_SPECIAL_TOKENS, "opencua": OPENCUA_SPECIAL_TOKENS}
FAMILIES = tuple(BUILDERS)


@pytest.fixture(params=FAMILIES)
def bundle(request) -> TinyBundle:
    return request.getfixturevalue(f"tiny_{request.param}")


def _image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _chat(bundle: TinyBundle, n_images: int, text: str = "click OK") -> str:
    content = [{"type": "image"}] * n_images + [{"type": "text", "text": text}]
    messages = [{"role": "user", "content": content}]
    return bundle.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _inputs(bundle: TinyBundle, images: list[Image.Image]):
    return bundle.processor(text=[_chat(bundle, len(images))], images=images, return_tensors="pt")


def _two_images() -> list[Image.Image]:
    return [_image(64, 64, seed=1), _image(84, 56, seed=2)]  # 2x2 and 3x2 merged tokens


def _lm_layers(bundle: TinyBundle):
    model = bundle.model
    return model.model.language_model.layers if bundle.family == "uitars" else model.language_model.model.layers


def _vision_tower(bundle: TinyBundle):
    return bundle.model.model.visual if bundle.family == "uitars" else bundle.model.vision_tower


def test_bundle_is_frozen_fp32_cpu_eval(bundle):
    assert isinstance(bundle, TinyBundle)
    with pytest.raises(dataclasses.FrozenInstanceError):
        bundle.seed = 1  # type: ignore[misc]
    params = list(bundle.model.parameters())
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in params)
    assert not bundle.model.training
    assert bundle.tokenizer is bundle.processor.tokenizer


def test_language_model_layout_is_gqa_with_three_layers(bundle):
    layers = _lm_layers(bundle)
    assert len(layers) == 3
    attn = layers[0].self_attn
    assert attn.q_proj.out_features == 4 * 32  # 4 query heads of 32
    assert attn.k_proj.out_features == attn.v_proj.out_features == 2 * 32  # 2 KV heads
    vision = _vision_tower(bundle)
    assert len(vision.blocks) == 2
    assert vision.spatial_merge_size == 2 and vision.patch_size == 14


def test_uitars_config_is_mrope_with_image_token(tiny_uitars):
    config = tiny_uitars.model.config
    assert type(tiny_uitars.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert config.model_type == "qwen2_5_vl"
    assert config.text_config.rope_parameters["mrope_section"] == [4, 6, 6]
    assert config.image_token_id == tiny_uitars.image_token_id
    assert config.vision_start_token_id == tiny_uitars.vision_start_token_id
    assert callable(tiny_uitars.model.model.get_rope_index)


def test_opencua_config_is_1d_rope_with_media_placeholder(tiny_opencua):
    config = tiny_opencua.model.config
    assert config.model_type == "opencua"
    assert type(tiny_opencua.model.language_model).__name__ == "Qwen2ForCausalLM"
    assert "mrope_section" not in (config.text_config.rope_parameters or {})
    assert config.media_placeholder_token_id == tiny_opencua.image_token_id
    assert tiny_opencua.tokenizer.convert_ids_to_tokens(tiny_opencua.image_token_id) == "<|media_placeholder|>"


def test_same_seed_gives_bit_identical_weights_and_outputs(bundle):
    first, second = BUILDERS[bundle.family](seed=3), BUILDERS[bundle.family](seed=3)
    sd1, sd2, sd0 = (b.model.state_dict() for b in (first, second, bundle))  # `bundle` has seed 0
    assert sd1.keys() == sd2.keys() == sd0.keys()
    assert all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert not all(torch.equal(sd1[k], sd0[k]) for k in sd1)
    inputs = _inputs(first, _two_images())
    with torch.no_grad():
        assert torch.equal(first.model(**inputs).logits, second.model(**inputs).logits)


@pytest.mark.parametrize("family", FAMILIES)
def test_build_leaves_global_rng_untouched(family):
    before = torch.random.get_rng_state()
    BUILDERS[family](seed=0)
    assert torch.equal(before, torch.random.get_rng_state())


@pytest.mark.parametrize("family", FAMILIES)
def test_build_rejects_bad_arguments(family):
    with pytest.raises(ValueError, match="attn_implementation"):
        BUILDERS[family](attn_implementation="flash_attention_2")
    with pytest.raises(TypeError, match="seed"):
        BUILDERS[family](seed="0")


@pytest.mark.parametrize(
    ("width", "height", "expected_tokens"),
    [(64, 64, 4), (1920, 1080, 2691)],  # 56x56 and 1932x1092 after smart_resize
)
def test_processor_expands_image_pads_on_the_real_grid(bundle, width, height, expected_tokens):
    image = Image.new("RGB", (width, height), (40, 90, 160))
    inputs = _inputs(bundle, [image])
    _, grid_h, grid_w = inputs["image_grid_thw"][0].tolist()
    assert int((inputs["input_ids"] == bundle.image_token_id).sum()) == expected_tokens == grid_h * grid_w // 4
    assert inputs["pixel_values"].shape == (grid_h * grid_w, 3 * 2 * 14 * 14)
    ids = inputs["input_ids"][0]
    assert int((ids == bundle.vision_start_token_id).sum()) == int((ids == bundle.vision_end_token_id).sum()) == 1


def test_special_tokens_encode_to_single_ids(bundle):
    tokenizer = bundle.tokenizer
    ids = [tokenizer.convert_tokens_to_ids(name) for name in SPECIALS[bundle.family]]
    assert ids == list(range(256, 256 + len(ids)))
    for name, token_id in zip(SPECIALS[bundle.family], ids):
        assert tokenizer.encode(name, add_special_tokens=False) == [token_id]
    text = "Größe: 日本 click(point='<point>10 20</point>')"
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    assert bundle.model.config.get_text_config().vocab_size >= len(tokenizer)


def test_uitars_chat_template_is_qwen2_vl_style(tiny_uitars):
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "task"}]},
        {"role": "assistant", "content": "Action: wait()"},
    ]
    rendered = tiny_uitars.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>task<|im_end|>\n"
        "<|im_start|>assistant\nAction: wait()<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_opencua_chat_template_is_kimi_style(tiny_opencua):
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "task"}]},
    ]
    rendered = tiny_opencua.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == (
        "<|im_system|>system<|im_middle|>sys<|im_end|>"
        "<|im_user|>user<|im_middle|><|media_begin|>image<|media_content|><|media_placeholder|><|media_end|>task"
        "<|im_end|><|im_assistant|>assistant<|im_middle|>"
    )


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_generate_with_two_images_matches_teacher_forcing(request, family, attn_implementation):
    bundle = BUILDERS[family](seed=0, attn_implementation=attn_implementation)
    assert bundle.model.config.get_text_config()._attn_implementation == attn_implementation
    inputs = _inputs(bundle, _two_images())
    assert int((inputs["input_ids"] == bundle.image_token_id).sum()) == 4 + 6
    vision_calls = []
    handle = _vision_tower(bundle).register_forward_hook(lambda *args: vision_calls.append(1))
    try:
        out = bundle.model.generate(
            **inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False, **compat.cache_kwargs(DynamicCache())
        )
    finally:
        handle.remove()
    n_prompt = inputs["input_ids"].shape[1]
    new = out[0, n_prompt:]
    assert new.shape == (4,)
    assert len(vision_calls) == 1  # images encoded once; pixel_values dropped after the first step
    full = dict(inputs, input_ids=out[:, :-1], attention_mask=torch.ones_like(out[:, :-1]))
    if "mm_token_type_ids" in full:
        full["mm_token_type_ids"] = (out[:, :-1] == bundle.image_token_id).to(inputs["mm_token_type_ids"].dtype)
    with torch.no_grad():
        logits = bundle.model(**full).logits[0, n_prompt - 1 :]
        reference = request.getfixturevalue(f"tiny_{family}").model(**full).logits[0, n_prompt - 1 :]  # sdpa
    assert torch.equal(logits.argmax(-1), new)
    torch.testing.assert_close(logits, reference, atol=1e-4, rtol=1e-4)  # eager == sdpa


def test_opencua_accepts_the_grid_thws_spelling(tiny_opencua):
    inputs = _inputs(tiny_opencua, _two_images())
    grid = inputs.pop("image_grid_thw")
    with torch.no_grad():
        a = tiny_opencua.model(**inputs, image_grid_thw=grid).logits
        b = tiny_opencua.model(**inputs, grid_thws=grid).logits
    assert torch.equal(a, b)


def test_opencua_rejects_unexpanded_placeholders(tiny_opencua):
    images = _two_images()
    encoded = tiny_opencua.processor.image_processor(images=images, return_tensors="pt")  # pixels only
    ids = tiny_opencua.tokenizer(_chat(tiny_opencua, 2), return_tensors="pt")["input_ids"]  # one placeholder each
    with pytest.raises(ValueError, match="placeholders"):
        tiny_opencua.model(input_ids=ids, pixel_values=encoded["pixel_values"], grid_thws=encoded["image_grid_thw"])


def test_image_processor_is_the_pil_backend(bundle):
    image_processor = bundle.processor.image_processor
    cls = pil_image_processor_class()
    assert isinstance(image_processor, cls)
    assert not any("Torchvision" in base.__name__ for base in type(image_processor).__mro__)
    _inputs(bundle, [_image(56, 56)])
    assert "torchvision" not in sys.modules
    size = image_processor.size
    get = size.get if isinstance(size, dict) else lambda key: getattr(size, key)
    assert (get("shortest_edge"), get("longest_edge")) == (MIN_PIXELS, MAX_PIXELS) == (3136, 12845056)
    if Version(transformers.__version__) >= Version("5.23"):  # fails loudly if the PIL backend moves again
        assert (cls.__module__, cls.__name__) == (
            "transformers.models.qwen2_vl.image_processing_pil_qwen2_vl",
            "Qwen2VLImageProcessorPil",
        )


def test_save_then_load_round_trips(bundle, tmp_path):
    bundle.save(tmp_path)
    loaded = load_tiny(tmp_path)
    assert loaded.family == bundle.family
    assert (loaded.image_token_id, loaded.vision_start_token_id, loaded.vision_end_token_id, loaded.eos_token_ids) == (
        bundle.image_token_id,
        bundle.vision_start_token_id,
        bundle.vision_end_token_id,
        bundle.eos_token_ids,
    )
    images = _two_images()
    inputs, reloaded_inputs = _inputs(bundle, images), _inputs(loaded, images)
    assert inputs.keys() == reloaded_inputs.keys()
    assert all(torch.equal(inputs[k], reloaded_inputs[k]) for k in inputs)
    with torch.no_grad():
        assert torch.equal(bundle.model(**inputs).logits, loaded.model(**reloaded_inputs).logits)


def test_load_tiny_requires_a_saved_bundle(tmp_path):
    with pytest.raises(FileNotFoundError, match="tiny_bundle.json"):
        load_tiny(tmp_path)
