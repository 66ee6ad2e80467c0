"""An OpenCUA-shaped model: a Qwen2.5-VL vision tower feeding a Qwen2 language model with 1-D RoPE.

xlangai/OpenCUA-7B ships remote code (`modeling_opencua.py`, written for transformers 4.x) that composes the
Qwen2.5-VL vision transformer and `Qwen2ForCausalLM`. This module is the project's own class for that checkpoint, so
that it loads on transformers 5.x without running the checkpoint's model code, and so that code written against the
tiny model also runs on the real one:

* `model.vision_tower`: `Qwen2_5_VisionTransformerPretrainedModel` (patch 14, spatial merge 2);
* `model.language_model`: `Qwen2ForCausalLM`, so the attention modules are
  `model.language_model.model.layers[i].self_attn` (`Qwen2Attention`, 1-D RoPE, cos/sin of shape (B, L, D));
* `config.media_placeholder_token_id`: the image placeholder id (the real config has no `image_token_id`);
* `generate(input_ids, pixel_values=..., grid_thws=...)` as in the OpenCUA README; `image_grid_thw=` is accepted too.

Checkpoint keys. `from_pretrained` maps every checkpoint key through `CHECKPOINT_KEY_MAP` (checkpoint prefix ->
module prefix; vLLM's `OpenCUAForConditionalGeneration` reads the same three prefixes) and refuses, with
`CheckpointKeyError` naming the keys, a checkpoint with a key no rule maps or a model parameter the checkpoint lacks.
transformers itself only logs both cases. The check reads the safetensors headers (or the shard index) before any
weight is loaded. The RoPE inverse frequencies (`rotary_emb.inv_freq`) are the one family of keys that is dropped on
purpose (`DROPPED_CHECKPOINT_KEYS`): they are buffers recomputed from `text_config`, never weights.

Difference from the checkpoint code, on purpose: placeholders must already be expanded (one
`<|media_placeholder|>` per merged image token, as `OpenCUAProcessor` produces). The checkpoint's tokenizer-only path
(one placeholder per image, expanded inside the model) is not supported: it would make the cache longer than
`input_ids`, which the incremental KV session cannot track. A mismatch raises ValueError.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel, Qwen2Config, Qwen2ForCausalLM

try:  # transformers >= 5.0 spelling
    from transformers import PreTrainedConfig as _BaseConfig
except ImportError:  # pragma: no cover - older spelling
    from transformers import PretrainedConfig as _BaseConfig
from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLVisionConfig
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel

from compression import compat

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_KEY_MAP",
    "DROPPED_CHECKPOINT_KEYS",
    "CheckpointKeyError",
    "OpenCUAConfig",
    "OpenCUAForConditionalGeneration",
    "check_checkpoint_keys",
    "map_checkpoint_keys",
]

CHECKPOINT_KEY_MAP: tuple[tuple[str, str], ...] = (
    # (checkpoint key prefix, module prefix). xlangai/OpenCUA-7B stores the composed model's own names, so every
    # row is the identity; a checkpoint exported under other names gets a row here, not a guess elsewhere.
    ("vision_tower.", "vision_tower."),  # patch_embed.proj, blocks.{0..31}.{norm1,norm2,attn,mlp}, merger
    ("language_model.model.", "language_model.model."),  # embed_tokens, layers.{0..27}.*, norm
    ("language_model.lm_head.", "language_model.lm_head."),  # weight (not tied to embed_tokens)
)
"""Checkpoint key prefix -> module prefix, tried in order; the first match wins."""

DROPPED_CHECKPOINT_KEYS = re.compile(r"language_model\.model\.(layers\.\d+\.self_attn\.)?rotary_emb\.inv_freq")
"""Checkpoint keys read and dropped: RoPE inverse frequencies, recomputed from `text_config` (exports from older
modeling code store them per layer; vLLM's Qwen2 loader skips them too)."""

_CHECKPOINT_KEYS_SHOWN = 12  # names listed per problem in a CheckpointKeyError message


class CheckpointKeyError(ValueError):
    """The checkpoint's keys do not match the model: keys no rule maps, or model parameters the checkpoint lacks.

    Attributes: source (the checkpoint), unmapped (checkpoint keys without a `CHECKPOINT_KEY_MAP` row), unknown
    (checkpoint keys mapped to a name the model does not have: checkpoint key -> module name), missing (model
    parameters no checkpoint key provides); from transformers' loading report, after the check above passed:
    unloaded (checkpoint keys it left unused) and mismatched (shapes that differ, or its error messages).
    """

    def __init__(
        self,
        source: str,
        unmapped: Iterable[str] = (),
        unknown: dict[str, str] | None = None,
        missing: Iterable[str] = (),
        unloaded: Iterable[str] = (),
        mismatched: Iterable[str] = (),
    ) -> None:
        self.source = source
        self.unmapped = list(dict.fromkeys(unmapped))  # in checkpoint / model order
        self.unknown = dict(unknown or {})
        self.missing = list(dict.fromkeys(missing))
        self.unloaded = list(dict.fromkeys(unloaded))
        self.mismatched = list(dict.fromkeys(mismatched))
        parts = []
        if self.unmapped:
            parts.append(f"{_count(self.unmapped, 'checkpoint key')} no rule of CHECKPOINT_KEY_MAP maps: "
                         f"{_names(self.unmapped)}")
        if self.unknown:
            pairs = [f"{k} -> {v}" for k, v in self.unknown.items()]
            parts.append(f"{_count(pairs, 'checkpoint key')} mapped to a name the model does not have: {_names(pairs)}")
        if self.missing:
            parts.append(f"{_count(self.missing, 'model parameter')} missing from the checkpoint: "
                         f"{_names(self.missing)}")
        if self.unloaded:
            parts.append(f"{_count(self.unloaded, 'checkpoint key')} transformers left unused: {_names(self.unloaded)}")
        if self.mismatched:
            parts.append(f"{_count(self.mismatched, 'parameter')} with a shape that differs from the checkpoint: "
                         f"{_names(self.mismatched)}")
        super().__init__(
            f"{source}: the checkpoint does not match OpenCUAForConditionalGeneration; " + "; ".join(parts) + ". "
            "Check that config.json describes this checkpoint; a checkpoint stored under other names needs a row in "
            "agent.models.opencua.CHECKPOINT_KEY_MAP (or load the checkpoint's own code with --trust-remote-code)"
        )


def _count(items: list[str], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_CHECKPOINT_KEYS_SHOWN])
    hidden = len(items) - _CHECKPOINT_KEYS_SHOWN
    return shown if hidden <= 0 else f"{shown}, ... ({hidden} more)"


def map_checkpoint_keys(keys: Iterable[str]) -> tuple[dict[str, str], list[str], list[str]]:
    """Map checkpoint keys to module names through `CHECKPOINT_KEY_MAP`.

    Returns (mapped: checkpoint key -> module name, dropped: keys matching `DROPPED_CHECKPOINT_KEYS`, unmapped: keys
    no rule maps), each in the order of `keys`.
    """
    mapped: dict[str, str] = {}
    dropped: list[str] = []
    unmapped: list[str] = []
    for key in keys:
        if DROPPED_CHECKPOINT_KEYS.fullmatch(key):
            dropped.append(key)
            continue
        rule = next(((src, dst) for src, dst in CHECKPOINT_KEY_MAP if key.startswith(src)), None)
        if rule is None:
            unmapped.append(key)
        else:
            mapped[key] = rule[1] + key[len(rule[0]):]
    return mapped, dropped, unmapped


class OpenCUAConfig(_BaseConfig):
    """Configuration of the OpenCUA-shaped model.

    Parameters
    ----------
    vision_config : dict or Qwen2_5_VLVisionConfig, optional
        Vision tower config; defaults to Qwen2.5-VL's.
    text_config : dict or Qwen2Config, optional
        Language model config (1-D RoPE); defaults to Qwen2's.
    media_placeholder_token_id : int, default 151664
        Token id whose positions receive the merged image features (OpenCUA-7B's `<|media_placeholder|>`).

    The other fields of xlangai/OpenCUA-7B's config.json are kept as plain attributes and change nothing here:
    `ignore_index` (-100, training only), `pad_token_id` (0), the top-level `max_position_embeddings` (128000, the same
    as `text_config`'s), `torch_dtype` / `transformers_version`, and `architectures` / `auto_map`, which point at the
    checkpoint's remote code and are only followed with `--trust-remote-code` (`agent.models.load`).
    """

    model_type = "opencua"
    sub_configs = {"vision_config": Qwen2_5_VLVisionConfig, "text_config": Qwen2Config}
    sub_configs_defaults = {"vision_config": Qwen2_5_VLVisionConfig, "text_config": Qwen2Config}

    def __init__(
        self,
        vision_config: dict | Qwen2_5_VLVisionConfig | None = None,
        text_config: dict | Qwen2Config | None = None,
        media_placeholder_token_id: int = 151664,
        tie_word_embeddings: bool = False,
        **kwargs: Any,
    ) -> None:
        if isinstance(vision_config, dict):
            vision_config = Qwen2_5_VLVisionConfig(**vision_config)
        if isinstance(text_config, dict):
            text_config = Qwen2Config(**text_config)
        self.vision_config = vision_config if vision_config is not None else Qwen2_5_VLVisionConfig()
        self.text_config = text_config if text_config is not None else Qwen2Config()
        self.media_placeholder_token_id = media_placeholder_token_id
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)


class OpenCUAPreTrainedModel(PreTrainedModel):
    config_class = OpenCUAConfig
    config: OpenCUAConfig
    base_model_prefix = "model"
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["Qwen2DecoderLayer", "Qwen2_5_VLVisionBlock"]
    _skip_keys_device_placement = [compat.CACHE_KEYWORD]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_attention_backend = True
    _keys_to_ignore_on_load_unexpected = [DROPPED_CHECKPOINT_KEYS.pattern]


_HUB_KWARGS = ("cache_dir", "force_download", "proxies", "token", "revision", "local_files_only", "subfolder")


class OpenCUAForConditionalGeneration(OpenCUAPreTrainedModel, GenerationMixin):
    """Vision tower + `Qwen2ForCausalLM`; image features are scattered into the media placeholders.

    `forward` returns the language model's `CausalLMOutputWithPast`. `generate` encodes the images once, during
    the first forward of the call, and drops `pixel_values` for the decode steps.
    """

    def __init__(self, config: OpenCUAConfig) -> None:
        super().__init__(config)
        self.vision_tower = Qwen2_5_VisionTransformerPretrainedModel._from_config(config.vision_config)
        self.language_model = Qwen2ForCausalLM._from_config(config.text_config)
        self.post_init()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, *model_args: Any, **kwargs: Any) -> Any:
        """`PreTrainedModel.from_pretrained`, after the checkpoint's keys are checked against `CHECKPOINT_KEY_MAP`.

        The check reads only `model.safetensors.index.json` (or the header of `model.safetensors`) and builds the
        model on the meta device, so a mismatch fails before any weight is read. The weights then load through
        transformers with the same table as its `key_mapping`, and its loading report must come back empty.

        Raises CheckpointKeyError (unmapped, unknown or missing keys, or shapes that differ), FileNotFoundError (no
        safetensors weights), OSError (files that cannot be fetched), ValueError (a `key_mapping` argument: the table
        is the mapping).
        """
        if kwargs.get("key_mapping") is not None:
            raise ValueError("key_mapping is not accepted: OpenCUA checkpoint keys are mapped by CHECKPOINT_KEY_MAP")
        source = str(pretrained_model_name_or_path)
        hub = {k: kwargs[k] for k in _HUB_KWARGS if kwargs.get(k) is not None}
        config = kwargs.get("config")
        if not isinstance(config, OpenCUAConfig):
            config = OpenCUAConfig.from_pretrained(pretrained_model_name_or_path, **hub)
        check_checkpoint_keys(_checkpoint_keys(source, hub), config, source=source)
        want_info = bool(kwargs.pop("output_loading_info", False))
        key_mapping = {"^" + re.escape(src): dst for src, dst in CHECKPOINT_KEY_MAP}
        model, info = super().from_pretrained(
            pretrained_model_name_or_path, *model_args, key_mapping=key_mapping, output_loading_info=True, **kwargs
        )
        unexpected = [k for k in info.get("unexpected_keys", ()) if not DROPPED_CHECKPOINT_KEYS.fullmatch(k)]
        missing, mismatched = list(info.get("missing_keys", ())), [str(m) for m in info.get("mismatched_keys", ())]
        if unexpected or missing or mismatched or info.get("error_msgs"):
            raise CheckpointKeyError(source, unloaded=unexpected, missing=missing,
                                     mismatched=mismatched + [str(e) for e in info.get("error_msgs", ())])
        return (model, info) if want_info else model

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.language_model.get_output_embeddings()

    def get_image_features(self, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> torch.Tensor:
        """Merged image features for all images, concatenated: (sum_i t_i*h_i*w_i/4, text hidden size)."""
        dtype = next(self.vision_tower.parameters()).dtype
        out = self.vision_tower(pixel_values.to(dtype), grid_thw=image_grid_thw)
        return out.pooler_output if hasattr(out, "pooler_output") else out  # 5.23 returns a ModelOutput

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Any = None,
        past_key_values: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_grid_thw: torch.LongTensor | None = None,
        grid_thws: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        cache_position: torch.LongTensor | None = None,
        **kwargs: Any,
    ):
        """Embed `input_ids`, replace the media placeholders by image features, run the language model.

        The cache is accepted under either keyword (`cache` from transformers 5.24, `past_key_values` before) and
        handed to the language model under the installed release's keyword (`compression.compat`).

        Raises ValueError when `pixel_values` comes without `input_ids` or a grid, or when the number of
        placeholders differs from the number of merged image tokens.
        """
        if cache is not None and past_key_values is not None and cache is not past_key_values:
            raise ValueError("forward got two different caches (cache= and past_key_values=); pass one")
        cache = cache if cache is not None else past_key_values
        if cache_position is not None:  # transformers 5.2's generate passes it; later releases dropped it
            kwargs["cache_position"] = cache_position
        grid = image_grid_thw if image_grid_thw is not None else grid_thws
        if inputs_embeds is None:
            if input_ids is None:
                raise ValueError("forward needs input_ids or inputs_embeds")
            inputs_embeds = self.get_input_embeddings()(input_ids)
        if pixel_values is not None:
            if input_ids is None or grid is None:
                raise ValueError("pixel_values needs input_ids and image_grid_thw (or grid_thws)")
            features = self.get_image_features(pixel_values, grid)
            mask = input_ids == self.config.media_placeholder_token_id  # (B, L)
            n_placeholders = int(mask.sum())
            if n_placeholders != features.shape[0]:
                raise ValueError(
                    f"input_ids hold {n_placeholders} media placeholders (id {self.config.media_placeholder_token_id})"
                    f" but the images give {features.shape[0]} tokens; expand placeholders with OpenCUAProcessor"
                )
            inputs_embeds = inputs_embeds.masked_scatter(
                mask.unsqueeze(-1).to(inputs_embeds.device), features.to(inputs_embeds.device, inputs_embeds.dtype)
            )
        return self.language_model(
            input_ids=None,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            labels=labels,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **compat.cache_kwargs(cache),
            **kwargs,
        )

    def prepare_inputs_for_generation(
        self,
        input_ids: torch.LongTensor,
        pixel_values: torch.Tensor | None = None,
        image_grid_thw: torch.LongTensor | None = None,
        grid_thws: torch.LongTensor | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Generic preparation plus the images on the first step of `generate` only.

        The first step is `is_first_iteration` when transformers passes it (5.23); otherwise it is recognised by
        media placeholders in the step's (already sliced) `input_ids`.
        """
        first = kwargs.get("is_first_iteration")
        if first is not None and "is_first_iteration" not in _parent_prepare_params():
            kwargs.pop("is_first_iteration")
        model_inputs = super().prepare_inputs_for_generation(input_ids, **kwargs)
        if first is None:
            step_ids = model_inputs.get("input_ids")
            first = step_ids is not None and bool((step_ids == self.config.media_placeholder_token_id).any())
        grid = image_grid_thw if image_grid_thw is not None else grid_thws
        for key in ("pixel_values", "image_grid_thw", "grid_thws"):
            model_inputs.pop(key, None)
        if first and pixel_values is not None:
            model_inputs["pixel_values"] = pixel_values
            model_inputs["image_grid_thw"] = grid
        return model_inputs


def check_checkpoint_keys(keys: Iterable[str], config: OpenCUAConfig, source: str = "checkpoint") -> dict[str, str]:
    """Map checkpoint `keys` through `CHECKPOINT_KEY_MAP` and check them against the parameters `config` gives.

    The model is built on the meta device (no memory, no weights). Tied parameters count once: a checkpoint may
    store the tied copy or not. Returns checkpoint key -> module name for the keys that load (dropped ones left out).

    Raises CheckpointKeyError naming the checkpoint keys no rule maps, the keys mapped to a name the model does not
    have, and the model parameters no key provides.
    """
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        skeleton = OpenCUAForConditionalGeneration(config)
    state = skeleton.state_dict(keep_vars=True)
    required, seen = [], set()
    for name, tensor in state.items():
        if id(tensor) not in seen:
            seen.add(id(tensor))
            required.append(name)
    mapped, dropped, unmapped = map_checkpoint_keys(keys)
    unknown = {k: v for k, v in mapped.items() if v not in state}
    provided = set(mapped.values())
    missing = [name for name in required if name not in provided]
    if unmapped or unknown or missing:
        raise CheckpointKeyError(source, unmapped=unmapped, unknown=unknown, missing=missing)
    if dropped:
        logger.info("%s: dropped %d RoPE inv_freq buffers stored in the checkpoint", source, len(dropped))
    return mapped


def _checkpoint_keys(source: str, hub: dict[str, Any]) -> list[str]:
    """Key names of a safetensors checkpoint (local directory or hub id): the shard index, else the file header."""
    from safetensors import safe_open
    from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME
    from transformers.utils.hub import cached_file

    index = cached_file(source, SAFE_WEIGHTS_INDEX_NAME, _raise_exceptions_for_missing_entries=False, **hub)
    if index is not None:
        weight_map = json.loads(Path(index).read_text()).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ValueError(f"{index}: no weight_map (checkpoint key -> shard file) in the shard index")
        return list(weight_map)
    single = cached_file(source, SAFE_WEIGHTS_NAME, _raise_exceptions_for_missing_entries=False, **hub)
    if single is None:
        raise FileNotFoundError(
            f"{source}: neither {SAFE_WEIGHTS_INDEX_NAME} nor {SAFE_WEIGHTS_NAME} found; OpenCUA checkpoints are "
            f"loaded from safetensors only"
        )
    with safe_open(single, framework="pt") as f:
        return list(f.keys())


@functools.lru_cache(maxsize=1)
def _parent_prepare_params() -> frozenset[str]:
    """Parameter names of `GenerationMixin.prepare_inputs_for_generation` in the installed transformers."""
    return frozenset(inspect.signature(GenerationMixin.prepare_inputs_for_generation).parameters)
