"""An OpenCUA-shaped model: a Qwen2.5-VL vision tower feeding a Qwen2 language model with 1-D RoPE.

xlangai/OpenCUA-7B ships remote code (`modeling_opencua.py`, trust_remote_code) that composes the Qwen2.5-VL vision
transformer and `Qwen2ForCausalLM`. This module mirrors its public shape so that code written against the tiny
model also runs on the real one:

* `model.vision_tower`: `Qwen2_5_VisionTransformerPretrainedModel` (patch 14, spatial merge 2);
* `model.language_model`: `Qwen2ForCausalLM`, so the attention modules are
  `model.language_model.model.layers[i].self_attn` (`Qwen2Attention`, 1-D RoPE, cos/sin of shape (B, L, D));
* `config.media_placeholder_token_id`: the image placeholder id (the real config has no `image_token_id`);
* checkpoint keys `vision_tower.*`, `language_model.model.*`, `language_model.lm_head.*`;
* `generate(input_ids, pixel_values=..., grid_thws=...)` as in the OpenCUA README; `image_grid_thw=` is accepted too.

Difference from the checkpoint code, on purpose: placeholders must already be expanded (one
`<|media_placeholder|>` per merged image token, as `OpenCUAProcessor` produces). The checkpoint's tokenizer-only path
(one placeholder per image, expanded inside the model) is not supported: it would make the cache longer than
`input_ids`, which the incremental KV session cannot track. A mismatch raises ValueError.
"""

from __future__ import annotations

import functools
import inspect
import logging
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

__all__ = ["OpenCUAConfig", "OpenCUAForConditionalGeneration"]


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


@functools.lru_cache(maxsize=1)
def _parent_prepare_params() -> frozenset[str]:
    """Parameter names of `GenerationMixin.prepare_inputs_for_generation` in the installed transformers."""
    return frozenset(inspect.signature(GenerationMixin.prepare_inputs_for_generation).parameters)
