"""The resolved configuration of one replay (`EvalConfig`), validated once and saved as config.json.

Defaults < environment variables (the reference's `--data`/`--images` variables, and RANK/WORLD_SIZE for the shard
under `accelerate launch`) < flags. `EvalConfig.build(...)` raises `ConfigError` (a ValueError naming the field and
the value) for anything that cannot run; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "BENCHMARKS", "ConfigError", "DEFAULT_MAX_PIXELS", "REFERENCE_FRAMES", "DEFAULT_MIN_PIXELS", "ENV_VARS", "EvalConfig",
    "MAX_NEW_TOKENS", "METHOD_NAMES", "RunKey", "SYNTHDESK_DIR", "SYNTHDESK_SIZE", "Shard", "default_out",
    "parse_budgets", "parse_methods", "parse_shard", "shard_from_env",
]

Benchmark = Literal["screenspot-v2", "screenspot-pro", "agentnetbench", "androidcontrol", "mind2web", "synthdesk"]
BENCHMARKS: tuple[str, ...] = (
    "screenspot-v2", "screenspot-pro", "agentnetbench", "androidcontrol", "mind2web", "synthdesk",
)
#: The compression registry's names (`compression.METHODS`; kept here so the CLI validates without importing torch).
METHOD_NAMES: tuple[str, ...] = ("full", "snapkv", "pyramidkv", "vlcache", "gui_kv")
#: The reference's environment variables for (--data, --images), per benchmark (spec-benchmarks.md §1.1).
ENV_VARS: dict[str, tuple[str, str]] = {
    "agentnetbench": ("AGENTNETBENCH_DATA", "AGENTNETBENCH_IMGS"),
    "androidcontrol": ("ANDROIDCONTROL_TEST", "ANDROIDCONTROL_IMGS"),
    "mind2web": ("MM_MIND2WEB_TEST", "MM_MIND2WEB_IMGS"),
    "screenspot-v2": ("SCREENSPOT_TEST", "SCREENSPOT_IMGS"),
    "screenspot-pro": ("SCREENSPOTPRO_TEST", "SCREENSPOTPRO_IMGS"),
    "synthdesk": ("SYNTHDESK_DIR", "SYNTHDESK_DIR"),
}
#: synthdesk generates its tasks: without --data/--images (or SYNTHDESK_DIR) its screenshots go here.
SYNTHDESK_DIR = Path("runs") / "synthdesk"
#: synthdesk tasks scored when no --limit is given.
SYNTHDESK_SIZE = 300
#: The reference's `--max_new_tokens` per benchmark (spec-benchmarks.md §1.5).
MAX_NEW_TOKENS: dict[str, int] = {
    "agentnetbench": 1000, "androidcontrol": 600, "mind2web": 500, "screenspot-v2": 200, "screenspot-pro": 400,
    "synthdesk": 96,  # a gold reply is at most ~70 characters; the byte tokenizer spends one token per character
}
#: smart_resize limits of the image sent to the model: what the reference's UI-TARS processor ends up with
#: (spec-benchmarks.md §1.3: factor 28, min 78,400, max 12,845,056 pixels).
DEFAULT_MIN_PIXELS = 78_400
DEFAULT_MAX_PIXELS = 12_845_056
#: The reference's AgentNetBench `--image_slots`: the current screenshot and 4 previous ones.
REFERENCE_FRAMES = 5
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ConfigError(ValueError):
    """The replay cannot run as configured; the message names the field, the value and what is allowed."""


class Shard(BaseModel):
    """Shard `index` of `count` (0-based): the samples whose dataset position p has p % count == index."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=0)
    count: int = Field(ge=1)

    @model_validator(mode="after")
    def _in_range(self) -> "Shard":
        if self.index >= self.count:
            raise ValueError(f"shard index {self.index} must be < count {self.count}")
        return self

    def owns(self, position: int) -> bool:
        """True iff the sample at dataset position `position` belongs to this shard."""
        return position % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class RunKey(BaseModel):
    """One (method, budget) sweep point. `budget` is None for "full" (nothing is evicted, one run covers all)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str
    budget: float | None

    @property
    def name(self) -> str:
        """`gui_kv@10`, `snapkv@2.5`, or `full`."""
        return self.method if self.budget is None else f"{self.method}@{self.budget:g}"


class EvalConfig(BaseModel):
    """Everything that determines a replay's results (saved as config.json; resume and merge compare it).

    benchmark: registry name. data / images: annotation path and image root (absolute).
    model: alias, hub id, local path, `tiny`, `tiny-opencua` or `script:FILE`.
    methods: compression methods (`compression.METHODS` names); budgets: percent of tokens kept, each in (0, 100].
    frames: screenshots in context for AgentNetBench (the current one included), both families; default 5, the
        reference's image_slots; synthdesk too. context: "incremental" or "stateless" (the reference's layout,
        re-prefilled every step).
    instruction_level: AndroidControl prompt, "high" (goal) or "low" (goal + step instruction).
    max_new_tokens: reply cap (default: the reference's per benchmark). min_pixels / max_pixels: smart_resize
        limits of the image sent. limit: only the first N samples of the dataset. shard: this process's shard.
    skip_missing: record samples with missing images as skipped instead of stopping.
    trust_remote_code / trust_remote_tokenizer: let the checkpoint's own model and tokenizer code run, or its
        tokenizer code only (`agent.models.load`); both off by default.
    endpoint: base URL of an OpenAI-compatible API serving `model` (agent.endpoint), or None (load it here). The
        server owns the KV cache: methods must be ("full",) and context "stateless" (the layout each request carries).
    family: the served model's grammar, "uitars" (default) or "opencua"; endpoint only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    benchmark: Benchmark
    data: Path
    images: Path
    model: str = Field(min_length=1)
    methods: tuple[str, ...] = ("gui_kv",)
    budgets: tuple[float, ...] = (10.0,)
    frames: int = Field(REFERENCE_FRAMES, ge=1)
    context: Literal["incremental", "stateless"] = "incremental"
    instruction_level: Literal["high", "low"] = "high"
    max_new_tokens: int = Field(ge=1)
    min_pixels: int = Field(DEFAULT_MIN_PIXELS, ge=784)
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=784)
    limit: int | None = Field(None, ge=1)
    shard: Shard | None = None
    skip_missing: bool = False
    trust_remote_code: bool = False
    trust_remote_tokenizer: bool = False
    seed: int | None = Field(None, ge=0)
    endpoint: str | None = None
    family: Literal["uitars", "opencua"] | None = None

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [m for m in v if m not in METHOD_NAMES]
        if not v or unknown:
            raise ValueError(f"methods={','.join(v)!r}: {unknown or 'none given'}; allowed: {', '.join(METHOD_NAMES)}")
        return tuple(dict.fromkeys(v))

    @field_validator("budgets")
    @classmethod
    def _budgets_in_range(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        bad = [b for b in v if not 0 < b <= 100]
        if not v or bad:
            raise ValueError(f"budgets={v!r}: each budget is a percent in (0, 100]")
        return tuple(dict.fromkeys(float(b) for b in v))

    @model_validator(mode="after")
    def _pixels(self) -> "EvalConfig":
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"--min-pixels {self.min_pixels} is larger than --max-pixels {self.max_pixels}; "
                             "the floor must not exceed the cap")
        return self

    @model_validator(mode="after")
    def _seed(self) -> "EvalConfig":
        if self.seed is not None and self.benchmark != "synthdesk":
            raise ValueError(f"seed={self.seed} is for synthdesk only, not {self.benchmark}")
        return self

    def loader_options(self) -> dict[str, Any]:
        """Extra options of `tasks.load` for this benchmark: synthdesk's seed and size, nothing elsewhere."""
        if self.benchmark != "synthdesk":
            return {}
        return {"seed": self.seed or 0, "size": self.limit or SYNTHDESK_SIZE}

    @model_validator(mode="after")
    def _endpoint_rules(self) -> "EvalConfig":
        if self.endpoint is None:
            if self.family is not None:
                raise ValueError("family applies to --endpoint only (a model loaded here knows its family)")
            return self
        parts = urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"endpoint={self.endpoint!r} must be an http(s) URL such as http://127.0.0.1:8000/v1")
        if self.model.startswith("script:"):
            raise ValueError(f"model={self.model!r}: a scripted model does not go through --endpoint")
        if self.methods != ("full",):
            raise ValueError(f"methods={','.join(self.methods)!r}: KV compression runs in this process, but with "
                             "--endpoint the server owns the cache; use --method full (or serve the model with "
                             "`python -m agent serve MODEL --method gui_kv` to compress on the server)")
        if self.context != "stateless":
            raise ValueError("context='incremental' needs the KV cache in this process; with --endpoint each request "
                             "carries the stateless layout (`python -m agent serve` continues the cache on its side)")
        return self

    def runs(self) -> list[RunKey]:
        """The sweep, method by method and budget by budget; "full" runs once (budget None)."""
        keys: list[RunKey] = []
        for method in self.methods:
            budgets: tuple[float | None, ...] = (None,) if method == "full" else self.budgets
            keys.extend(RunKey(method=method, budget=b) for b in budgets)
        return keys

    @classmethod
    def build(cls, *, env: Mapping[str, str] | None = None, **values: Any) -> "EvalConfig":
        """Validate `values` (None means "use the default"); ConfigError if anything is wrong.

        Strings are accepted for `methods` ("gui_kv,full"), `budgets` ("1,3,5") and `shard` ("0/2"). `data` /
        `images` default to the benchmark's environment variables (`ENV_VARS`; synthdesk falls back to
        `SYNTHDESK_DIR` and seed 0), `max_new_tokens` to `MAX_NEW_TOKENS`, `methods` and `context` to gui_kv /
        incremental (full / stateless with an `endpoint`, whose `family` defaults to uitars). The shard is not taken
        from RANK/WORLD_SIZE here (see `shard_from_env`).
        """
        env = os.environ if env is None else env
        values = {k: v for k, v in values.items() if v is not None}
        bench = values.get("benchmark")
        if bench not in BENCHMARKS:
            raise ConfigError(f"benchmark={bench!r}; allowed: {', '.join(BENCHMARKS)}")
        for field, var in zip(("data", "images"), ENV_VARS[bench]):
            if field not in values:
                if env.get(var):
                    values[field] = env[var]
                elif bench == "synthdesk":
                    values[field] = SYNTHDESK_DIR
                else:
                    raise ConfigError(f"--{field} is required for {bench} (or set the environment variable {var})")
            values[field] = Path(values[field]).expanduser().absolute()
        if bench == "synthdesk":
            values.setdefault("seed", 0)
        remote = values.get("endpoint") is not None
        values.setdefault("methods", ("full",) if remote else ("gui_kv",))
        values.setdefault("context", "stateless" if remote else "incremental")
        if remote:
            values.setdefault("family", "uitars")
        if isinstance(values.get("methods"), str):
            values["methods"] = parse_methods(values["methods"])
        if isinstance(values.get("budgets"), str):
            values["budgets"] = parse_budgets(values["budgets"])
        if isinstance(values.get("shard"), str):
            values["shard"] = parse_shard(values["shard"])
        values.setdefault("max_new_tokens", MAX_NEW_TOKENS[bench])
        try:
            return cls(**values)
        except ValidationError as e:
            first = e.errors()[0]
            if not first["loc"]:  # a check across fields: its message names them; the input is the whole config
                raise ConfigError(first["msg"].removeprefix("Value error, ")) from None
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{where}: {first['msg']} (got {first.get('input')!r})") from None


def parse_methods(text: str) -> tuple[str, ...]:
    """`"gui_kv,full"` -> ("gui_kv", "full"); ConfigError for an unknown or empty name."""
    names = tuple(m.strip() for m in text.split(","))
    unknown = [m for m in names if m not in METHOD_NAMES]
    if not text.strip() or unknown:
        raise ConfigError(f"--method {text!r}: unknown {unknown or 'empty'}; allowed: {', '.join(METHOD_NAMES)}")
    return names


def parse_budgets(text: str) -> tuple[float, ...]:
    """`"1,3,5"` -> (1.0, 3.0, 5.0); ConfigError unless every item is a number in (0, 100]."""
    out: list[float] = []
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            raise ConfigError(f"--budget {text!r}: {item.strip()!r} is not a number; use e.g. 1,3,5,10") from None
        if not 0 < value <= 100:
            raise ConfigError(f"--budget {text!r}: {value:g} is outside (0, 100] (a percent of the tokens seen)")
        out.append(value)
    return tuple(out)


def parse_shard(text: str) -> Shard:
    """`"I/N"` -> Shard(I, N) with 0 <= I < N; ConfigError otherwise."""
    match = _SHARD.match(text)
    if not match:
        raise ConfigError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/2")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or index >= count:
        raise ConfigError(f"--shard {text!r}: expected I/N with 0 <= I < N (got I={index}, N={count})")
    return Shard(index=index, count=count)


def shard_from_env(env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard of this process under `accelerate launch` / torchrun: RANK of WORLD_SIZE (LOCAL_RANK of
    LOCAL_WORLD_SIZE when only those are set); None for a single process."""
    env = os.environ if env is None else env
    for rank_var, size_var in (("RANK", "WORLD_SIZE"), ("LOCAL_RANK", "LOCAL_WORLD_SIZE")):
        if env.get(rank_var) is not None and env.get(size_var) is not None:
            try:
                rank, size = int(env[rank_var]), int(env[size_var])
            except ValueError:
                raise ConfigError(
                    f"{rank_var}={env[rank_var]!r} / {size_var}={env[size_var]!r} are not integers") from None
            if size <= 1:
                return None
            if not 0 <= rank < size:
                raise ConfigError(f"{rank_var}={rank} is outside [0, {size_var}={size})")
            return Shard(index=rank, count=size)
    return None


def default_out(benchmark: str, model: str, context: str) -> Path:
    """`runs/eval/<benchmark>_<model slug>_<context>` (the directory is named from the config)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model.removeprefix("script:")).strip("-") or "model"
    return Path("runs") / "eval" / f"{benchmark}_{slug}_{context}"
