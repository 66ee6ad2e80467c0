"""`load(name)`: a model alias, Hugging Face id or local path -> a `ModelBundle` ready for `agent.engine`.

Names:

| name | what loads |
|---|---|
| `ui-tars-1.5-7b` | `ByteDance-Seed/UI-TARS-1.5-7B` (`Qwen2_5_VLForConditionalGeneration`) |
| `opencua-7b` | `xlangai/OpenCUA-7B` (the project's `agent.models.opencua.OpenCUAForConditionalGeneration`) |
| `tiny`, `tiny-opencua` | the offline random models of `agent.models.tiny` (nothing is read from disk) |
| `gui-tiny` | the project's own trained model, shipped in the package at `agent/models/gui_tiny/` (a local directory) |
| a local directory | dispatched on `config.json`'s `model_type`: `qwen2_5_vl` -> UI-TARS family, `opencua` -> OpenCUA |
| any other string | a Hugging Face repo id, loaded through `from_pretrained` (downloaded unless cached or offline) |
| `script:FILE` | not a model: `agent.models.script.ScriptPolicy.from_spec` (returned as is) |

No checkpoint code runs unless the caller allows it. What an OpenCUA checkpoint (`opencua-7b`, a hub id, or a local
directory whose `config.json` says `model_type: opencua`) is loaded from, and by what:

* `config.json` -> the project's `agent.models.opencua.OpenCUAConfig`; its `auto_map` and `architectures`, which
  name the checkpoint's remote classes, are ignored.
* `model.safetensors.index.json` and its shards (or `model.safetensors`) -> the project's
  `OpenCUAForConditionalGeneration.from_pretrained`, every key mapped by `CHECKPOINT_KEY_MAP`; an unmapped or missing
  key raises `CheckpointKeyError` before any weight is read.
* `generation_config.json` -> transformers' `GenerationConfig` (the eos id: 151644 on OpenCUA-7B).
* `preprocessor_config.json` -> the PIL Qwen2-VL image processor of `agent.models.processing`.
* `tokenizer_config.json` (with the chat template), `tiktoken.model`, `tokenization_opencua.py` -> `AutoTokenizer`,
  which builds the checkpoint's own `TikTokenV3` (needs the `tiktoken` package). This is checkpoint code: it runs
  only with `trust_remote_tokenizer=True` (CLI `--trust-remote-tokenizer`) or `trust_remote_code=True`; without
  either, `RemoteCodeRequiredError` names both, before the weights are touched.
* `configuration_opencua.py`, `modeling_opencua.py` -> `AutoModel`, only with `trust_remote_code=True` (CLI
  `--trust-remote-code`), replacing the project's config and model classes.

A directory with a plain `tokenizer.json` and no tokenizer `auto_map` (what `TinyBundle.save` writes) loads with no
checkpoint code at all. UI-TARS never needs remote code; the two flags only reach its tokenizer.

Device, dtype and attention are picked automatically: CUDA -> `bfloat16` and `flash_attention_2` when the
`flash_attn` package is installed (else `sdpa`); CPU -> `float32` and `sdpa`. Each can be overridden.
Image processors are the PIL-only ones of `agent.models.processing` (no torchvision).

When the weights are neither on disk nor downloadable (no network, `HF_HUB_OFFLINE=1`), `ModelUnavailableError`
says so and suggests `--model tiny`. A packaged directory without its weights (`gui-tiny` before it is trained and
exported) raises `WeightsNotExportedError`, which says how to train and export them.

A model directory may carry `guikv_model.json` (`AGENT_CONFIG_FILE`), the properties of the model that transformers'
files do not hold: `{"family": "uitars", "prompt_set": "synthdesk"}`. `prompt_set` picks the prompts the live agent
uses (`ModelBundle.prompt_set`): "default" (the family's own: UI-TARS computer prompt, OpenCUA system prompt) or
"synthdesk" (gui-tiny's short system prompt and `Task: ...` turn, `agent.prompts.synthdesk_*`). Without the file a
directory gets "default".
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from agent.policy import Family, PromptSet
from agent.models.processing import OpenCUAProcessor, Qwen2_5_VLPilProcessor, pil_image_processor_class
from agent.models.tokenizer import QWEN2_VL_CHAT_TEMPLATE

logger = logging.getLogger(__name__)

__all__ = [
    "ALIASES",
    "ModelBundle",
    "ModelUnavailableError",
    "RemoteCodeRequiredError",
    "WeightsNotExportedError",
    "load",
    "local_path",
    "pick_attn_implementation",
    "pick_device",
]



@dataclass(frozen=True)
class HubModel:
    """A named checkpoint: its repo id and family (both load with the project's model classes)."""

    repo_id: str
    family: Family


ALIASES: dict[str, HubModel] = {
    "ui-tars-1.5-7b": HubModel("ByteDance-Seed/UI-TARS-1.5-7B", "uitars"),
    "opencua-7b": HubModel("xlangai/OpenCUA-7B", "opencua"),
}
TINY_NAMES = ("tiny", "tiny-opencua")
#: Models shipped inside the package: alias -> directory under agent/models/ (resolved where the package is installed).
PACKAGED: dict[str, str] = {"gui-tiny": "gui_tiny"}
AGENT_CONFIG_FILE = "guikv_model.json"
WEIGHTS_FILE = "model.safetensors"
PROMPT_SETS: tuple[PromptSet, ...] = ("default", "synthdesk")
_MODEL_TYPES: dict[str, Family] = {"qwen2_5_vl": "uitars", "opencua": "opencua"}
_FAMILY_TOKENS: dict[Family, tuple[str, str, str]] = {  # image placeholder, start, end
    "uitars": ("<|image_pad|>", "<|vision_start|>", "<|vision_end|>"),
    "opencua": ("<|media_placeholder|>", "<|media_begin|>", "<|media_end|>"),
}


class ModelUnavailableError(OSError):
    """The weights of `name` are not on this machine and cannot be downloaded (offline or no network)."""

    def __init__(self, name: str, repo_id: str, cause: BaseException | None = None) -> None:
        self.name, self.repo_id = name, repo_id
        detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        super().__init__(
            f"model {name!r} ({repo_id}) is not available locally and could not be downloaded: no network access "
            f"or offline mode (HF_HUB_OFFLINE=1){detail}. Download it on a machine with network "
            f"(`huggingface-cli download {repo_id}`) and pass its local path, or use `--model tiny` "
            f"(`tiny-opencua` for the OpenCUA family) to run offline with a tiny random model."
        )


class RemoteCodeRequiredError(ValueError):
    """The checkpoint's tokenizer is its own code (a tokenizer `auto_map`), and the caller did not allow it."""

    def __init__(self, name: str, source: str, tokenizer_class: str) -> None:
        self.name, self.source, self.tokenizer_class = name, source, tokenizer_class
        super().__init__(
            f"model {name!r}: the tokenizer of {source} is the checkpoint's own code (tokenizer_config.json maps "
            f"AutoTokenizer to {tokenizer_class}; OpenCUA's TikTokenV3 reads tiktoken.model and needs the `tiktoken` "
            f"package), and transformers cannot load it without running that file. Allow only the tokenizer's code "
            f"with --trust-remote-tokenizer (load(..., trust_remote_tokenizer=True)): the model stays the project's "
            f"class. --trust-remote-code (trust_remote_code=True) runs the checkpoint's model code as well."
        )


class WeightsNotExportedError(ModelUnavailableError):
    """A model shipped with the package (`PACKAGED`) whose directory holds no weights yet."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name, self.repo_id = name, str(directory)
        OSError.__init__(
            self,
            f"model {name!r} has no weights yet: {directory / WEIGHTS_FILE} does not exist. Train it with "
            f"`python -m agent train --out runs/{name}` (resumable with --resume), then export the checkpoint into "
            f"the package with `python -m agent train --out runs/{name} --export {directory}`; or pass an exported "
            f"directory as --model PATH, or use `--model tiny` (random weights) to try the runtime offline."
        )


@dataclass(frozen=True)
class ModelBundle:
    """A loaded model with everything the engine needs to run it.

    family: "uitars" or "opencua" (selects prompts and the reply parser).
    model: the transformers model, in eval mode. processor: `processor(text=[...], images=[...],
        return_tensors="pt")` expands image placeholders. tokenizer: the processor's tokenizer (has the chat template).
    image_token_id, vision_start_token_id, vision_end_token_id: the image placeholder and its frame tokens.
    eos_token_ids: ids that end generation (the model's generation config).
    name: what `load` was given.
    prompt_set: the prompts the live agent uses with it ("default": the family's own; "synthdesk": gui-tiny's short
        prompts), from the directory's `guikv_model.json` (module docstring).
    """

    family: Family
    model: Any
    processor: Any
    tokenizer: PreTrainedTokenizerBase
    image_token_id: int
    vision_start_token_id: int
    vision_end_token_id: int
    eos_token_ids: tuple[int, ...]
    name: str = ""
    prompt_set: PromptSet = "default"


def pick_device() -> torch.device:
    """`cuda` when available, else `cpu`."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_attn_implementation(device: torch.device) -> str:
    """`flash_attention_2` on CUDA with the `flash_attn` package installed, else `sdpa`."""
    if device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def load(
    name: str,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    attn_implementation: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool | None = None,
    seed: int = 0,
    trust_remote_code: bool = False,
    trust_remote_tokenizer: bool = False,
) -> Any:
    """Load `name` (see the module table) and return a `ModelBundle` (a `ScriptPolicy` for `script:FILE`).

    device / dtype / attn_implementation: None picks them automatically (module docstring).
    cache_dir, local_files_only: passed to `from_pretrained` for hub ids (None: the Hugging Face defaults; offline
        mode follows `HF_HUB_OFFLINE`).
    seed: weights seed of the tiny models (which are always float32 and use sdpa or eager attention).
    trust_remote_code: run the checkpoint's own code: OpenCUA's `modeling_opencua.py` through `AutoModel` instead
        of the project's class, and its tokenizer code. Default False.
    trust_remote_tokenizer: run only the tokenizer's code (OpenCUA-7B's `TikTokenV3`); implied by
        trust_remote_code. Default False.

    Raises ModelUnavailableError (weights absent and not downloadable), FileNotFoundError (a path-like name that
    does not exist), RemoteCodeRequiredError (a tokenizer that is checkpoint code, not allowed), CheckpointKeyError
    (OpenCUA weights whose keys do not match the model), ValueError (a checkpoint of an unsupported `model_type`).
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model name must be a non-empty string, got name={name!r}")
    name = name.strip()
    if name.startswith("script:"):
        from agent.models.script import ScriptPolicy

        return ScriptPolicy.from_spec(name)
    dev = torch.device(device) if device is not None else pick_device()
    if name.lower() in TINY_NAMES:
        return _load_tiny(name.lower(), dev, attn_implementation, seed)
    dtype = dtype if dtype is not None else (torch.bfloat16 if dev.type == "cuda" else torch.float32)
    attn = attn_implementation or pick_attn_implementation(dev)
    alias = ALIASES.get(name.lower())
    path = local_path(name)
    if alias is None and path.is_dir():
        source, hub_kwargs = str(path), {}
    elif alias is None and _looks_like_path(name):
        raise FileNotFoundError(f"model path {name!r} is not a directory (aliases: {', '.join(_all_names())})")
    else:
        repo_id = alias.repo_id if alias else name
        hub_kwargs = {"cache_dir": str(cache_dir) if cache_dir else None, "local_files_only": local_files_only}
        hub_kwargs = {k: v for k, v in hub_kwargs.items() if v is not None}
        source = repo_id
    config = _read_config(name, source, hub_kwargs)
    model_type = config.get("model_type")
    family = _MODEL_TYPES.get(model_type) if isinstance(model_type, str) else None
    if family is None:
        raise ValueError(
            f"{name!r}: config.json model_type={model_type!r} is not supported; supported: "
            f"{', '.join(f'{k} ({v})' for k, v in _MODEL_TYPES.items())}"
        )
    prompt_set = read_prompt_set(path, family) if source == str(path) else "default"
    logger.info("loading %s (%s, family %s) on %s as %s with %s attention%s", name, source, family, dev, dtype, attn,
                " (checkpoint code allowed)" if trust_remote_code else "")
    try:  # the processor first: it is small, and a tokenizer that needs permission fails before the weights load
        processor = _load_processor(name, family, source, trust_remote_code or trust_remote_tokenizer, hub_kwargs)
        model = _load_model(family, source, trust_remote_code, dev, dtype, attn, hub_kwargs)
    except OSError as exc:  # a missing weight/tokenizer file that the hub could not provide
        if source == str(path) and path.is_dir():
            raise
        raise ModelUnavailableError(name, source, exc) from exc
    return _bundle(family, model, processor, name, prompt_set)


def local_path(name: str) -> Path:
    """Where model ``name`` would be on this machine: a packaged model's directory (`packaged_dir`, which raises
    when it holds no weights) or ``name`` as a path."""
    return packaged_dir(name) if name.lower() in PACKAGED else Path(name).expanduser()


def packaged_dir(name: str) -> Path:
    """The directory of a model shipped in the package (`PACKAGED`), where the package is installed.

    Raises WeightsNotExportedError when it holds no `model.safetensors` yet.
    """
    directory = Path(__file__).resolve().parent / PACKAGED[name.lower()]
    if not (directory / WEIGHTS_FILE).is_file():
        raise WeightsNotExportedError(name.lower(), directory)
    return directory


def read_prompt_set(directory: Path, family: Family) -> PromptSet:
    """The prompt set recorded in `directory/guikv_model.json` ("default" without the file).

    Raises ValueError when the file names another family than config.json's or an unknown prompt set.
    """
    path = directory / AGENT_CONFIG_FILE
    if not path.is_file():
        return "default"
    recorded = json.loads(path.read_text(encoding="utf-8"))
    if recorded.get("family", family) != family:
        raise ValueError(f"{path}: family={recorded['family']!r}, but config.json's model_type means {family!r}")
    prompt_set = recorded.get("prompt_set", "default")
    if prompt_set not in PROMPT_SETS:
        raise ValueError(f"{path}: prompt_set={prompt_set!r} is not one of {PROMPT_SETS}")
    return prompt_set


def _all_names() -> list[str]:
    return [*ALIASES, *TINY_NAMES, *PACKAGED, "script:FILE"]


def _looks_like_path(name: str) -> bool:
    """A name that can only be a path: starts with `.`, `/` or `~`, or has more than one `/`."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def _load_tiny(name: str, device: torch.device, attn: str | None, seed: int) -> ModelBundle:
    from agent.models.tiny import build_tiny_opencua, build_tiny_uitars

    build = build_tiny_opencua if name == "tiny-opencua" else build_tiny_uitars
    bundle = build(seed=seed, attn_implementation=attn if attn in ("sdpa", "eager") else "sdpa")
    if device.type != "cpu":
        bundle.model.to(device)
    return bundle


def _read_config(name: str, source: str, hub_kwargs: dict[str, Any]) -> dict[str, Any]:
    """`config.json` of a local directory or a hub repo (downloaded or from the cache)."""
    local = Path(source) / "config.json"
    if local.is_file():
        return json.loads(local.read_text())
    if Path(source).is_dir():
        raise FileNotFoundError(f"{local}: not found; {name!r} is not a model directory")
    from transformers.utils.hub import cached_file

    try:
        resolved = cached_file(source, "config.json", **hub_kwargs)
    except OSError as exc:  # offline / no network / not in the cache / no such repo
        if _is_missing_repo(exc):
            raise ValueError(
                f"model {name!r} is neither an alias ({', '.join(_all_names())}), a local directory, nor a Hugging "
                f"Face repo id that exists: {exc}") from exc
        raise ModelUnavailableError(name, source, exc) from exc
    if resolved is None:
        raise ModelUnavailableError(name, source)
    return json.loads(Path(resolved).read_text())


def _is_missing_repo(exc: BaseException) -> bool:
    """True when the Hub answered that the repo does not exist (as opposed to not being reachable)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, RepositoryNotFoundError):
            return True
        cause = cause.__cause__
    return False


def _load_model(
    family: Family, source: str, remote: bool, device: torch.device, dtype: torch.dtype, attn: str,
    hub_kwargs: dict[str, Any],
) -> Any:
    kwargs: dict[str, Any] = dict(hub_kwargs, dtype=dtype, attn_implementation=attn)
    if importlib.util.find_spec("accelerate") is not None:
        kwargs["device_map"] = {"": str(device)}  # straight to the device, no fp32 copy in RAM
    if family == "uitars":
        from transformers import Qwen2_5_VLForConditionalGeneration as cls
    elif remote:
        from transformers import AutoModel as cls

        kwargs["trust_remote_code"] = True
    else:
        from agent.models.opencua import OpenCUAForConditionalGeneration as cls
    model = cls.from_pretrained(source, **kwargs)
    if "device_map" not in kwargs:
        model = model.to(device)
    return model.eval()


def _load_processor(name: str, family: Family, source: str, remote: bool, hub_kwargs: dict[str, Any]) -> Any:
    tokenizer_class = _remote_tokenizer_class(source, hub_kwargs)
    if tokenizer_class is not None and not remote:
        raise RemoteCodeRequiredError(name, source, tokenizer_class)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=remote, **hub_kwargs)
    image_processor = pil_image_processor_class().from_pretrained(source, **hub_kwargs)
    if family == "uitars":
        processor = Qwen2_5_VLPilProcessor(image_processor=image_processor, tokenizer=tokenizer)
        if processor.chat_template is None:  # the template may live in chat_template.json only
            logger.info("%s: no chat template on the tokenizer; using the Qwen2.5-VL-Instruct template", source)
            processor.chat_template = tokenizer.chat_template = QWEN2_VL_CHAT_TEMPLATE
        return processor
    processor = OpenCUAProcessor(image_processor=image_processor, tokenizer=tokenizer)
    if processor.chat_template is None:
        raise ValueError(f"{source}: the tokenizer has no chat template (tokenizer_config.json / chat_template.jinja)")
    return processor


def _remote_tokenizer_class(source: str, hub_kwargs: dict[str, Any]) -> str | None:
    """The class `tokenizer_config.json`'s `auto_map` names for `AutoTokenizer` (checkpoint code), else None."""
    from transformers.utils.hub import cached_file

    resolved = cached_file(source, "tokenizer_config.json", _raise_exceptions_for_missing_entries=False, **hub_kwargs)
    if resolved is None:
        return None
    auto_map = json.loads(Path(resolved).read_text()).get("auto_map") or {}
    entry = auto_map.get("AutoTokenizer") if isinstance(auto_map, dict) else None
    if isinstance(entry, (list, tuple)):  # [slow class, fast class], either may be None
        entry = next((e for e in entry if e), None)
    return entry if isinstance(entry, str) and entry else None


def _bundle(family: Family, model: Any, processor: Any, name: str, prompt_set: PromptSet = "default") -> ModelBundle:
    tokenizer = processor.tokenizer
    image, start, end = (tokenizer.convert_tokens_to_ids(t) for t in _FAMILY_TOKENS[family])
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    eos_ids = tuple(int(e) for e in eos) if isinstance(eos, (list, tuple)) else (int(eos),)
    return ModelBundle(family, model, processor, tokenizer, int(image), int(start), int(end), eos_ids, name,
                       prompt_set)
