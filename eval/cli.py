"""The `eval` and `merge` commands behind `python -m agent` (argparse lives in `agent.cli`; this turns the parsed
flags into an `EvalConfig`, calls the runner, prints the Markdown summary on stdout and maps errors to exit codes:
0 done, 1 a data or run error, 2 a usage or configuration error, 130 Ctrl-C or SIGTERM)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from agent.signals import stop_reason
from eval.config import ConfigError, EvalConfig, default_out, shard_from_env
from eval.progress import progress_enabled
from eval.report import markdown_report
from tasks.errors import DatasetFormatError, MissingImageError

logger = logging.getLogger(__name__)

__all__ = ["eval_command", "merge_command", "resolve_out", "study_command"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _error(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def resolve_out(config: EvalConfig, out: str | None, *, shard_from_launcher: bool) -> Path:
    """The output directory: `--out` or the default named from the config; a shard assigned by the launcher (or
    given without --out) writes into its own `shard-I-of-N` sub-directory, so ranks never share a file."""
    name = config.benchmark if config.seed is None else f"{config.benchmark}-s{config.seed}"
    name += f"-{config.kind}" if config.kind is not None else ""
    base = Path(out) if out else default_out(name, config.model, config.context)
    if config.shard is not None and (shard_from_launcher or out is None):
        return base / f"shard-{config.shard.index}-of-{config.shard.count}"
    return base


def eval_command(args: argparse.Namespace) -> int:
    """`python -m agent eval ...`."""
    from eval.runner import run_eval

    from agent.endpoint import EndpointError

    try:
        launcher_shard = shard_from_env() if args.shard is None else None
        config = EvalConfig.build(
            benchmark=args.benchmark, data=args.data, images=args.images, model=args.model, methods=args.method,
            budgets=args.budget, max_tokens=args.max_tokens, frames=args.frames, fidelity=args.fidelity or None,
            context=args.context,
            instruction_level=args.instruction_level, max_new_tokens=args.max_new_tokens,
            min_pixels=args.min_pixels, max_pixels=args.max_pixels, limit=args.limit,
            shard=args.shard if args.shard is not None else launcher_shard, skip_missing=args.skip_missing,
            trust_remote_code=args.trust_remote_code, trust_remote_tokenizer=args.trust_remote_tokenizer,
            seed=args.seed, kind=args.kind,
            endpoint=args.endpoint, family=args.family,
        )
        client = _client_options(args)
        out = resolve_out(config, args.out, shard_from_launcher=launcher_shard is not None)
        summary = run_eval(config, out, resume=args.resume, show_progress=progress_enabled(args.quiet),
                           concurrency=args.concurrency, client=client)
    except ConfigError as e:
        return _error(str(e), EXIT_USAGE)
    except EndpointError as e:  # the server died or refused mid-replay; the rows written so far stay
        return _error(f"{e}; the samples finished so far are in {out}: rerun with --resume to continue", EXIT_ERROR)
    except MissingImageError as e:
        return _error(f"{e} (pass --skip-missing to record such samples as skipped)", EXIT_ERROR)
    except DatasetFormatError as e:
        return _error(str(e), EXIT_USAGE)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (agent.signals.Terminated)
        print(f"{stop_reason(e)}; rerun with --resume to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(markdown_report(summary), end="")
    logger.info("results in %s", out)
    return EXIT_OK


def _client_options(args: argparse.Namespace) -> object | None:
    """`agent.endpoint.ClientOptions` from the flags (None without --endpoint); ConfigError when one is bad."""
    from agent.endpoint import ClientOptions

    given = {k: v for k, v in (("api_key_env", args.api_key_env), ("timeout_s", args.timeout),
                               ("max_retries", args.max_retries)) if v is not None}
    if args.endpoint is None:
        if given:
            raise ConfigError(f"{', '.join(sorted(given))}: only with --endpoint")
        return None
    try:
        return ClientOptions(**given)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def study_command(args: argparse.Namespace) -> int:
    """`python -m agent study synthdesk ...`: both sweeps, study.md and the README section (`eval.study`)."""
    from eval.config import parse_budgets, parse_counts, parse_methods
    from eval.study import StudyConfig, StudyError, run_study

    given = {k: v for k, v in vars(args).items() if v is not None}
    try:
        values: dict[str, object] = {}
        for key in ("model", "seed", "limit", "jobs", "max_new_tokens", "max_tokens"):
            if key in given:
                values[key] = given[key]
        if "out" in given:
            values["out"] = Path(given["out"])
        if "images" in given:
            values["images"] = Path(given["images"])
        if "method" in given:
            values["methods"] = parse_methods(given["method"])
        if "budget" in given:
            values["budgets"] = parse_budgets(given["budget"])
        if "history_method" in given:
            values["history_methods"] = parse_methods(given["history_method"])
        if "frames" in given:
            values["history_frames"] = parse_counts(given["frames"], "--frames")
        values["keep_text"] = not args.no_keep_text
        values["readme"] = None if args.no_readme else Path(given.get("readme", "README.md"))
        values["command"] = _study_command_line(args)
        section = run_study(StudyConfig(**values), show_progress=progress_enabled(args.quiet))  # type: ignore[arg-type]
    except ConfigError as e:
        return _error(str(e), EXIT_USAGE)
    except StudyError as e:  # a shard process failed; what it wrote stays, a rerun resumes
        return _error(str(e), EXIT_ERROR)
    except KeyboardInterrupt as e:
        print(f"{stop_reason(e)}; rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(section)
    return EXIT_OK


def _study_command_line(args: argparse.Namespace) -> str:
    """The study command as typed, from its flags (for the README section)."""
    import shlex

    words = ["python", "-m", "agent", "study", args.benchmark]
    for key in ("model", "seed", "limit", "method", "budget", "history_method", "max_tokens", "frames", "max_new_tokens",
                "jobs", "out", "images", "readme"):
        value = getattr(args, key, None)
        if value is not None:
            words += ["--" + key.replace("_", "-"), str(value)]
    flags = [f for f, on in (("--no-keep-text", args.no_keep_text), ("--no-readme", args.no_readme)) if on]
    return " ".join(shlex.quote(w) for w in words + flags)


def merge_command(args: argparse.Namespace) -> int:
    """`python -m agent merge OUT SHARD_DIR...`."""
    from eval.runner import merge

    try:
        summary = merge(args.out, args.shards, allow_partial=args.allow_partial)
    except ConfigError as e:
        return _error(str(e), EXIT_USAGE)
    print(markdown_report(summary), end="")
    return EXIT_OK
