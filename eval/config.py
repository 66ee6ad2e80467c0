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

from eval.errors import ConfigError
from eval.method_spec import METHOD_NAMES, parse_method, split_methods

__all__ = [
    "BENCHMARKS", "ConfigError", "DEFAULT_MAX_PIXELS", "REFERENCE_FRAMES", "DEFAULT_MIN_PIXELS", "ENV_VARS", "EvalConfig",
    "MAX_NEW_TOKENS", "METHOD_NAMES", "RunKey", "SYNTHDESK_DIR", "SYNTHDESK_SIZE", "Shard", "default_out",
    "parse_budgets", "parse_counts", "parse_methods", "parse_shard", "shard_from_env",
]

Benchmark = Literal["screenspot-v2", "screenspot-pro", "agentnetbench", "androidcontrol", "mind2web", "synthdesk"]
BENCHMARKS: tuple[str, ...] = (
    "screenspot-v2", "screenspot-pro", "agentnetbench", "androidcontrol", "mind2web", "synthdesk",
)
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
    """One sweep point: a method spec (`eval.method_spec`, canonical spelling) at a budget (percent) or a token cap,
    with a screenshot count when the frames are swept. `budget` is None for "full" (nothing is evicted, one run
    covers all budgets) and with `max_tokens`; `frames` is None when the config has a single value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str
    budget: float | None
    max_tokens: int | None = None
    frames: int | None = None

    @property
    def name(self) -> str:
        """`gui_kv@10`, `snapkv@2.5`, `full`, `gui_kv(alpha=0)@10`, `recency@512tok`, `full@512tok/f4`."""
        size = "" if self.budget is None else f"@{self.budget:g}"
        size = size if self.max_tokens is None else f"@{self.max_tokens}tok"
        return self.method + size + ("" if self.frames is None else f"/f{self.frames}")

    @property
    def base_method(self) -> str:
        """The registry name of the method (`gui_kv` for `gui_kv(alpha=0)`)."""
        return parse_method(self.method).name


class EvalConfig(BaseModel):
    """Everything that determines a replay's results (saved as config.json; resume and merge compare it).

    benchmark: registry name. data / images: annotation path and image root (absolute).
    model: alias, hub id, local path, `tiny`, `tiny-opencua` or `script:FILE`.
    methods: compression method specs (`eval.method_spec`: a `compression.METHODS` name, optionally with options,
        e.g. `gui_kv(alpha=0)`), canonical spelling. budgets: percent of tokens kept, each in (0, 100].
    max_tokens: absolute caps on the cache (entries per KV head, in every layer) swept instead of `budgets` (which
        is then empty); a full cache meets a cap by dropping its oldest screenshots (incremental context only).
    frames: screenshots in context for AgentNetBench and synthdesk (the current one included), both families; default
        (5,), the reference's image_slots; several values sweep the history length. context: "incremental" or
        "stateless" (the reference's layout, re-prefilled every step).
    fidelity: also score every sample teacher-forced on the full cache's replies (`eval.fidelity`): per reply token,
        top-1 agreement and KL divergence of each run's next-token distribution against the full cache's.
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
    max_tokens: tuple[int, ...] | None = None
    frames: tuple[int, ...] = (REFERENCE_FRAMES,)
    fidelity: bool = False
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
    kind: Literal["grounding", "episode", "memory"] | None = None
    endpoint: str | None = None
    family: Literal["uitars", "opencua"] | None = None

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError(f"methods: none given; allowed: {', '.join(METHOD_NAMES)}")
        try:
            return tuple(dict.fromkeys(str(parse_method(m)) for m in v))
        except ConfigError as e:
            raise ValueError(str(e)) from None

    @field_validator("budgets")
    @classmethod
    def _budgets_in_range(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        bad = [b for b in v if not 0 < b <= 100]
        if bad:
            raise ValueError(f"budgets={v!r}: each budget is a percent in (0, 100]")
        return tuple(dict.fromkeys(float(b) for b in v))

    @field_validator("max_tokens")
    @classmethod
    def _caps_positive(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if v is not None and (not v or any(k < 1 for k in v)):
            raise ValueError(f"max_tokens={v!r}: each cap is a number of cache entries >= 1")
        return None if v is None else tuple(dict.fromkeys(int(k) for k in v))

    @field_validator("frames", mode="before")
    @classmethod
    def _frames_tuple(cls, v: Any) -> Any:
        return (v,) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("frames")
    @classmethod
    def _frames_positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(f < 1 for f in v):
            raise ValueError(f"frames={v!r}: each is a number of screenshots >= 1")
        return tuple(dict.fromkeys(v))

    @model_validator(mode="after")
    def _sizes(self) -> "EvalConfig":
        if self.max_tokens is None and not self.budgets:
            raise ValueError("budgets: none given; each budget is a percent in (0, 100]")
        if self.max_tokens is not None and self.budgets:
            raise ValueError(f"--budget {','.join(f'{b:g}' for b in self.budgets)} and --max-tokens "
                             f"{','.join(map(str, self.max_tokens))} are alternatives: a run keeps a percent of the "
                             "tokens seen or an absolute number of entries, not both")
        if self.max_tokens is not None and self.context == "stateless" and any(
                parse_method(m).name == "full" for m in self.methods):
            raise ValueError("--method full with --max-tokens drops screenshots to fit the cap, which needs "
                             "--context incremental")
        return self

    @model_validator(mode="after")
    def _fidelity_needs_logits(self) -> "EvalConfig":
        if self.fidelity and (self.endpoint is not None or self.model.startswith("script:")):
            raise ValueError("--fidelity compares next-token distributions, so it needs a model loaded in this "
                             "process (not --endpoint, not a script: model)")
        return self

    def frames_of(self, run: RunKey) -> int:
        """Screenshots in context for `run`: its own when the frames are swept, else the config's."""
        return run.frames if run.frames is not None else self.frames[0]

    @model_validator(mode="after")
    def _pixels(self) -> "EvalConfig":
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"--min-pixels {self.min_pixels} is larger than --max-pixels {self.max_pixels}; "
                             "the floor must not exceed the cap")
        return self

    @model_validator(mode="after")
    def _synthdesk_options(self) -> "EvalConfig":
        if self.seed is not None and self.benchmark != "synthdesk":
            raise ValueError(f"seed={self.seed} is for synthdesk only, not {self.benchmark}")
        if self.kind is not None and self.benchmark != "synthdesk":
            raise ValueError(f"kind={self.kind} is for synthdesk only, not {self.benchmark}")
        return self

    def loader_options(self) -> dict[str, Any]:
        """Extra options of `tasks.load` for this benchmark: synthdesk's seed, size and kind, nothing elsewhere."""
        if self.benchmark != "synthdesk":
            return {}
        return {"seed": self.seed or 0, "size": self.limit or SYNTHDESK_SIZE, "kind": self.kind}

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
        """The sweep: for each frames value (when several), method by method and budget by budget (or cap by
        cap); "full" runs once per frames value unless capped (budget None)."""
        keys: list[RunKey] = []
        swept: tuple[int | None, ...] = self.frames if len(self.frames) > 1 else (None,)
        for frames in swept:
            for method in self.methods:
                if self.max_tokens is not None:
                    keys.extend(RunKey(method=method, budget=None, max_tokens=k, frames=frames)
                                for k in self.max_tokens)
                elif parse_method(method).name == "full":
                    keys.append(RunKey(method=method, budget=None, frames=frames))
                else:
                    keys.extend(RunKey(method=method, budget=b, frames=frames) for b in self.budgets)
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
        if isinstance(values.get("max_tokens"), str):
            values["max_tokens"] = parse_counts(values["max_tokens"], "--max-tokens")
        if isinstance(values.get("frames"), str):
            values["frames"] = parse_counts(values["frames"], "--frames")
        if values.get("max_tokens") is not None:
            if "budgets" in values:
                raise ConfigError(f"--budget and --max-tokens are alternatives: a run keeps a percent of the tokens "
                                  "seen or an absolute number of entries, not both")
            values["budgets"] = ()
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
    """`"gui_kv,full,gui_kv(alpha=0, temporal=false)"` -> ("gui_kv", "full", "gui_kv(alpha=0,temporal=false)")
    (canonical specs, `eval.method_spec`); ConfigError for an unknown or empty name or bad syntax."""
    return tuple(str(parse_method(m)) for m in split_methods(text))


def parse_counts(text: str, flag: str) -> tuple[int, ...]:
    """`"2,5,10"` -> (2, 5, 10) for `--frames` / `--max-tokens`; ConfigError unless each item is an int >= 1."""
    out: list[int] = []
    for item in text.split(","):
        try:
            value = int(item)
        except ValueError:
            raise ConfigError(f"{flag} {text!r}: {item.strip()!r} is not a whole number; use e.g. 2,5,10") from None
        if value < 1:
            raise ConfigError(f"{flag} {text!r}: {value} must be >= 1")
        out.append(value)
    return tuple(out)


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
