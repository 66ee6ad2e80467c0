"""Tiny offline models for tests and demos: real transformers classes, random seeded weights, fp32, CPU.

`build_tiny_uitars()` is a real `Qwen2_5_VLForConditionalGeneration` (3 text layers, 4 query / 2 KV heads,
head_dim 32, mRoPE sections [4, 6, 6], a 2-block vision tower with patch 14 and spatial merge 2, block 0 windowed and
block 1 full attention). `build_tiny_opencua()` is the OpenCUA-shaped `OpenCUAForConditionalGeneration` (same vision
tower, a Qwen2 language model with 1-D RoPE and the same head layout). Both come with a locally built byte-level
tokenizer carrying the family's real special tokens and chat template, and a PIL-only processor with the real
28-px grid and pixel limits, so image token counts equal the real models' (2691 per 1920x1080 screenshot).

Nothing is downloaded. A build takes well under a second after `import transformers`; the global torch RNG is left
untouched (weights come from a private `torch.Generator`), and the same seed gives bit-identical weights and outputs.
`TinyBundle.save(dir)` writes a directory that `load_tiny(dir)` (and the plain transformers `from_pretrained` of the
model class, tokenizer and image processor) read back.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
)

from agent.models.loading import ModelBundle
from agent.policy import Family
from agent.models.opencua import OpenCUAConfig, OpenCUAForConditionalGeneration
from agent.models.processing import (
    OpenCUAProcessor,
    Qwen2_5_VLPilProcessor,
    build_image_processor,
    pil_image_processor_class,
)
from agent.models.tokenizer import (
    OPENCUA_CHAT_TEMPLATE,
    OPENCUA_SPECIAL_TOKENS,
    QWEN2_VL_CHAT_TEMPLATE,
    UITARS_SPECIAL_TOKENS,
    build_byte_tokenizer,
)

logger = logging.getLogger(__name__)

__all__ = ["TinyBundle", "build_tiny_opencua", "build_tiny_uitars", "load_tiny"]

_ATTN_IMPLEMENTATIONS = ("sdpa", "eager")
_BUNDLE_FILE = "tiny_bundle.json"
_INIT_STD = 0.15  # larger than the usual 0.02 so attention is peaked (not uniform) and top-k has few ties

_FAMILY_TOKENS: dict[str, tuple[str, str, str]] = {  # image placeholder, image start, image end
    "uitars": ("<|image_pad|>", "<|vision_start|>", "<|vision_end|>"),
    "opencua": ("<|media_placeholder|>", "<|media_begin|>", "<|media_end|>"),
}
_FAMILY_CLASSES: dict[str, tuple[Any, Any]] = {
    "uitars": (Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLPilProcessor),
    "opencua": (OpenCUAForConditionalGeneration, OpenCUAProcessor),
}

_TEXT = dict(
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=3,
    num_attention_heads=4,  # head_dim 32
    num_key_value_heads=2,  # GQA, 2 query heads per KV head
    max_position_embeddings=32768,
    rms_norm_eps=1e-6,
)
_VISION = dict(
    depth=2,
    hidden_size=64,
    intermediate_size=128,
    num_heads=2,
    out_hidden_size=128,  # == text hidden_size
    patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
    window_size=112,
    fullatt_block_indexes=[1],
)


@dataclass(frozen=True)
class TinyBundle(ModelBundle):
    """A tiny model with everything needed to run it: the fields of `ModelBundle` plus the weights' seed.

    model is a Qwen2_5_VLForConditionalGeneration or OpenCUAForConditionalGeneration in eval mode, fp32, CPU;
    processor a Qwen2_5_VLPilProcessor or OpenCUAProcessor; name "tiny" or "tiny-opencua".
    seed : the seed the weights were drawn with (None after `load_tiny`).
    """

    seed: int | None = None

    def save(self, directory: str | Path) -> Path:
        """Write model, tokenizer, image processor and a `tiny_bundle.json` marker to `directory`; return it."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(path))
        self.processor.save_pretrained(str(path))
        (path / _BUNDLE_FILE).write_text(json.dumps({"family": self.family, "seed": self.seed}, indent=2) + "\n")
        return path


def build_tiny_uitars(
    seed: int = 0,
    attn_implementation: str = "sdpa",
    *,
    text: dict[str, Any] | None = None,
    vision: dict[str, Any] | None = None,
    init_std: float = _INIT_STD,
) -> TinyBundle:
    """Tiny UI-TARS-1.5 stand-in: a random `Qwen2_5_VLForConditionalGeneration` with the Qwen2-VL chat format.

    ``text`` / ``vision`` replace the tiny sizes (e.g. `agent.models.shapes` for the real 7B shapes with few
    layers); ``text`` may carry ``rope_parameters``. ``init_std``: std of the random matrices.
    """
    _check_attn(attn_implementation)
    text, vision = _sizes(text, vision)
    tokenizer = build_byte_tokenizer(
        UITARS_SPECIAL_TOKENS, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=QWEN2_VL_CHAT_TEMPLATE
    )
    ids = _token_ids(tokenizer, UITARS_SPECIAL_TOKENS)
    eos = (ids["<|im_end|>"], ids["<|endoftext|>"])
    config = Qwen2_5_VLConfig(
        text_config=dict(
            {"rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]}},
            **text,
            vocab_size=_padded_vocab(len(tokenizer)),
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=list(eos),
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        attn_implementation=attn_implementation,
    )
    model = _instantiate(Qwen2_5_VLForConditionalGeneration, config, seed, eos, ids["<|endoftext|>"], init_std)
    processor = Qwen2_5_VLPilProcessor(image_processor=build_image_processor(), tokenizer=tokenizer)
    return _bundle("uitars", model, processor, tokenizer, eos, seed)


def build_tiny_opencua(
    seed: int = 0,
    attn_implementation: str = "sdpa",
    *,
    text: dict[str, Any] | None = None,
    vision: dict[str, Any] | None = None,
    init_std: float = _INIT_STD,
) -> TinyBundle:
    """Tiny OpenCUA-7B stand-in: Qwen2.5-VL vision tower + Qwen2 LM (1-D RoPE), Kimi-style chat format.

    ``text``, ``vision`` and ``init_std`` as in `build_tiny_uitars`.
    """
    _check_attn(attn_implementation)
    text, vision = _sizes(text, vision)
    tokenizer = build_byte_tokenizer(
        OPENCUA_SPECIAL_TOKENS,
        bos_token="[BOS]",
        eos_token="[EOS]",
        pad_token="[PAD]",
        chat_template=OPENCUA_CHAT_TEMPLATE,
    )
    ids = _token_ids(tokenizer, OPENCUA_SPECIAL_TOKENS)
    eos = (ids["[EOS]"],)
    config = OpenCUAConfig(
        vision_config=vision,
        text_config=dict(
            {"rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}},
            **text,
            vocab_size=_padded_vocab(len(tokenizer)),
            bos_token_id=ids["[BOS]"],
            eos_token_id=ids["[EOS]"],
            pad_token_id=ids["[PAD]"],
        ),
        media_placeholder_token_id=ids["<|media_placeholder|>"],
        bos_token_id=ids["[BOS]"],
        eos_token_id=ids["[EOS]"],
        pad_token_id=ids["[PAD]"],
        attn_implementation=attn_implementation,
    )
    model = _instantiate(OpenCUAForConditionalGeneration, config, seed, eos, ids["[PAD]"], init_std)
    processor = OpenCUAProcessor(image_processor=build_image_processor(), tokenizer=tokenizer)
    return _bundle("opencua", model, processor, tokenizer, eos, seed)


def load_tiny(directory: str | Path, attn_implementation: str = "sdpa") -> TinyBundle:
    """Load a bundle written by `TinyBundle.save` through the ordinary `from_pretrained` paths."""
    _check_attn(attn_implementation)
    path = Path(directory)
    marker = path / _BUNDLE_FILE
    if not marker.is_file():
        raise FileNotFoundError(f"{marker}: not found; expected a directory written by TinyBundle.save")
    family = json.loads(marker.read_text()).get("family")
    if family not in _FAMILY_CLASSES:
        raise ValueError(f"{marker}: family={family!r}, expected one of {tuple(_FAMILY_CLASSES)}")
    model_cls, processor_cls = _FAMILY_CLASSES[family]
    model = model_cls.from_pretrained(str(path), attn_implementation=attn_implementation, dtype=torch.float32).eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(path))  # AutoTokenizer would warn on model_type opencua
    image_processor = pil_image_processor_class().from_pretrained(str(path))
    processor = processor_cls(image_processor=image_processor, tokenizer=tokenizer)
    eos = model.generation_config.eos_token_id
    eos_ids = tuple(eos) if isinstance(eos, (list, tuple)) else (eos,)
    return _bundle(family, model, processor, tokenizer, eos_ids, seed=None)


def _token_ids(tokenizer: PreTrainedTokenizerBase, names: tuple[str, ...]) -> dict[str, int]:
    """Map each token in `names` to its single id; raise ValueError if one is missing."""
    ids = {}
    for name in names:
        token_id = tokenizer.convert_tokens_to_ids(name)
        if not isinstance(token_id, int) or token_id == tokenizer.unk_token_id:
            raise ValueError(f"tokenizer has no token {name!r} (got {token_id!r})")
        ids[name] = token_id
    return ids


def _bundle(
    family: Family,
    model: Any,
    processor: Any,
    tokenizer: PreTrainedTokenizerBase,
    eos: tuple[int, ...],
    seed: int | None,
) -> TinyBundle:
    image, start, end = _token_ids(tokenizer, _FAMILY_TOKENS[family]).values()
    return TinyBundle(family, model, processor, tokenizer, image, start, end, tuple(int(e) for e in eos),
                      name="tiny" if family == "uitars" else "tiny-opencua", seed=seed)


def _sizes(text: dict[str, Any] | None, vision: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The text and vision config fields: the tiny sizes unless replaced."""
    return (dict(_TEXT) if text is None else dict(text)), (dict(_VISION) if vision is None else dict(vision))


def _check_attn(attn_implementation: str) -> None:
    if attn_implementation not in _ATTN_IMPLEMENTATIONS:
        raise ValueError(f"attn_implementation={attn_implementation!r}; allowed: {_ATTN_IMPLEMENTATIONS}")


def _padded_vocab(n_tokens: int) -> int:
    """Round the LM vocabulary up to a multiple of 16, like the real checkpoints pad theirs (ids past the tokenizer)."""
    return -(-n_tokens // 16) * 16


def _instantiate(
    model_cls: type, config: Any, seed: int, eos: tuple[int, ...], pad_id: int, init_std: float = _INIT_STD
) -> Any:
    """Build `model_cls(config)` with weights drawn from a private generator seeded with `seed`."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    with torch.random.fork_rng(devices=[]):  # construction draws from the global RNG; keep the caller's state
        model = model_cls(config)
    _init_weights(model, seed, init_std)
    model.generation_config = GenerationConfig(
        eos_token_id=list(eos), pad_token_id=pad_id, do_sample=False, max_new_tokens=64
    )
    return model.to(torch.float32).eval()


@torch.no_grad()
def _init_weights(model: torch.nn.Module, seed: int, std: float = _INIT_STD) -> None:
    """Normal(0, std) matrices/embeddings/convs, zero biases, unit norm weights; order = named_parameters."""
    generator = torch.Generator().manual_seed(seed)
    norm_types = tuple(
        cls for cls in {type(m) for m in model.modules()} if "norm" in cls.__name__.lower()
    )
    norm_params = {id(p) for m in model.modules() if isinstance(m, norm_types) for p in m.parameters(recurse=False)}
    for name, param in model.named_parameters():
        if id(param) in norm_params:
            param.fill_(1.0 if name.endswith("weight") else 0.0)
        elif param.dim() >= 2:
            param.copy_(torch.randn(param.shape, generator=generator) * std)
        else:
            param.zero_()
