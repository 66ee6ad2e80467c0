"""Command-line interface: `python -m agent run "task"` (live), `python -m agent eval BENCHMARK` (replay),
`python -m agent merge OUT SHARD_DIR...` (combine sharded replays), `python -m agent serve MODEL` (an
OpenAI-compatible server; `run` and `eval` drive such a server, or vLLM/SGLang, with `--endpoint URL`),
`python -m agent train` (gui-tiny) and `python -m agent demo` (a synthdesk task done live in a Tk window).

The CLI holds no logic: it parses flags, configures logging, and calls a library function. `main(argv)` returns the
exit code (0 finished, 1 error, 2 usage/config error, 3 stopped without finishing, 130 Ctrl-C or SIGTERM), so tests
call it directly. SIGTERM is handled like Ctrl-C (`agent.signals`): runs end with status terminated and their files.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from agent.interaction import TerminalInteraction
from agent.live import ConfigError, RunConfig, run_live
from agent.signals import sigterm_as_interrupt, stop_reason
from agent.trajectory import RunStatus

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNFINISHED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

METHOD_CHOICES = ("full", "random", "recency", "snapkv", "pyramidkv", "vlcache", "gui_kv")
BENCHMARK_CHOICES = ("screenspot-v2", "screenspot-pro", "agentnetbench", "androidcontrol", "mind2web", "synthdesk")


def _add_common(p: argparse.ArgumentParser, *, method_list: bool = False, out_default: str = "runs/<timestamp>",
                frames_default: str = "5 for UI-TARS, 3 for OpenCUA") -> None:
    p.add_argument("--model", default="ui-tars-1.5-7b",
                   help="model alias (ui-tars-1.5-7b, opencua-7b, tiny, tiny-opencua, gui-tiny), Hugging Face id, "
                        "local path, or script:FILE (replies separated by '---' lines). Default: ui-tars-1.5-7b")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="run the checkpoint's own Python code: OpenCUA's modeling_opencua.py instead of the project's "
                        "model class, and its tokenizer code. Default: off (no checkpoint code runs)")
    p.add_argument("--trust-remote-tokenizer", action="store_true",
                   help="run only the checkpoint's tokenizer code (OpenCUA-7B's tiktoken-based TikTokenV3, which it "
                        "needs); the model stays the project's class. Default: off")
    if method_list:
        p.add_argument("--method", default=None,
                       help=f"comma-separated KV-cache compression methods ({', '.join(METHOD_CHOICES)}), e.g. "
                            "gui_kv,full, each optionally with options: 'gui_kv(alpha=0)', 'gui_kv(temporal=false)'; "
                            "each runs at every --budget (full once). Default: gui_kv (full with --endpoint, the "
                            "only one allowed there)")
    else:
        p.add_argument("--method", choices=METHOD_CHOICES, default=None,
                       help="KV-cache compression method. Default: gui_kv (full with --endpoint, the only one "
                            "allowed there)")
    p.add_argument("--frames", type=str if method_list else int, default=None,
                   help=f"screenshots kept in context (N){'; comma-separated to sweep, e.g. 2,5,10' * method_list}. "
                        f"Default: {frames_default}")
    p.add_argument("--context", choices=("incremental", "stateless"), default=None,
                   help="incremental: prefill only the new screenshot each step; stateless: re-prefill the "
                        "reference layout every step. Default: incremental (stateless with --endpoint, the only "
                        "one allowed there)")
    _add_endpoint(p)
    p.add_argument("--out", default=None, help=f"output directory. Default: {out_default}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging (prompts, raw model text)")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings only")


def _add_endpoint(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("remote model", "drive a model served elsewhere (vLLM, SGLang, python -m agent serve) "
                                             "through its OpenAI-compatible API; --model is then the served name")
    g.add_argument("--endpoint", default=None, help="base URL of the API, e.g. http://127.0.0.1:8000/v1. "
                                                    "Default: none (load --model in this process)")
    g.add_argument("--family", choices=("uitars", "opencua"), default=None,
                   help="prompt and reply grammar of the served model. Default: uitars")
    g.add_argument("--api-key-env", default=None,
                   help="environment variable holding the API key (never logged or saved). Default: OPENAI_API_KEY")
    g.add_argument("--timeout", type=float, default=None,
                   help="seconds one request may take before it is retried. Default: 300")
    g.add_argument("--max-retries", type=int, default=None,
                   help="retries of a request that timed out or got 408/429/5xx or no connection, with "
                        "exponential backoff and jitter. Default: 4")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m agent",
                                     description="GUI agents on vision-language models with GUI-KV cache compression.")
    sub = parser.add_subparsers(dest="command", metavar="{run,eval,merge,study,serve,train,demo}")

    run = sub.add_parser("run", help="run a task live on this desktop",
                         description="Screenshot -> model -> parsed action -> executor, in a loop, until the model "
                                     "finishes or --max-steps is reached.")
    run.add_argument("task", help="the task, in words")
    _add_common(run)
    run.add_argument("--budget", type=float, default=10.0,
                     help="percent of the tokens seen kept in the KV cache, in (0, 100]. Default: 10")
    run.add_argument("--max-steps", type=int, default=50, help="stop after this many steps. Default: 50")
    run.add_argument("--monitor", type=int, default=1, help="mss monitor index to capture (1 = primary). Default: 1")
    run.add_argument("--executor", default="pyautogui",
                     help="pyautogui, dry-run, record, an entry point of group guikv.executors, or module:Class. "
                          "Default: pyautogui")
    run.add_argument("--dry-run", action="store_true", help="execute nothing (same as --executor dry-run)")
    run.add_argument("--confirm", action="store_true", help="ask in the terminal before each action")
    run.add_argument("--retries", type=int, default=2,
                     help="re-ask the model this many times after an unparsable reply. Default: 2")

    ev = sub.add_parser("eval", help="replay a benchmark offline and score it",
                        description="Replay BENCHMARK through the same engine as the live agent and score it. Writes "
                                    "config.json, results.jsonl, summary.json and summary.md into --out and prints "
                                    "the Markdown summary.")
    ev.add_argument("benchmark", choices=BENCHMARK_CHOICES)
    ev.add_argument("--data", default=None,
                    help="annotation file or folder. Default: the reference's variable (AGENTNETBENCH_DATA, "
                         "ANDROIDCONTROL_TEST, MM_MIND2WEB_TEST, SCREENSPOT_TEST, SCREENSPOTPRO_TEST); synthdesk "
                         "reads none")
    ev.add_argument("--images", default=None,
                    help="image folder. Default: the reference's variable (AGENTNETBENCH_IMGS, ANDROIDCONTROL_IMGS, "
                         "MM_MIND2WEB_IMGS, SCREENSPOT_IMGS, SCREENSPOTPRO_IMGS); synthdesk writes its screenshots "
                         "there (SYNTHDESK_DIR, else runs/synthdesk)")
    ev.add_argument("--seed", type=int, default=None,
                    help="synthdesk only: seed of the held-out tasks it generates (disjoint from training ones). "
                         "Default: 0")
    ev.add_argument("--kind", choices=("grounding", "episode", "memory"), default=None,
                    help="synthdesk only: score the tasks of this kind alone, the same tasks and ids as in the mixed "
                         "set (--kind grounding --limit 96: 96 grounding screens). Default: all three kinds in turn")
    _add_common(ev, method_list=True, out_default="runs/eval/<benchmark>_<model>_<context>",
                frames_default="5, the reference's image_slots (AgentNetBench and synthdesk)")
    ev.add_argument("--budget", default=None,
                    help="comma-separated budgets in percent of the tokens seen, each in (0, 100], e.g. "
                         "1,3,5,10,20,40,80. Default: 10")
    ev.add_argument("--max-tokens", default=None,
                    help="comma-separated absolute caps on the KV cache, in entries per KV head (every layer), swept "
                         "instead of --budget; full meets a cap by dropping its oldest screenshots. Default: none")
    ev.add_argument("--fidelity", action="store_true",
                    help="also score each sample teacher-forced on the full cache's replies: top-1 agreement and KL "
                         "of every run's next-token distributions against the full cache's. Default: off")
    ev.add_argument("--limit", type=int, default=None,
                    help="score only the first N samples. Default: all (synthdesk: 300 tasks, kinds in turn)")
    ev.add_argument("--resume", action="store_true",
                    help="skip the samples already in --out/results.jsonl; the flags must be the saved ones, except "
                         "that --limit may grow (or go), and --skip-missing, methods and budgets may be added")
    ev.add_argument("--shard", default=None,
                    help="I/N: score only the samples at positions p with p %% N == I. Default: RANK/WORLD_SIZE "
                         "under accelerate launch or torchrun (each rank then writes to --out/shard-I-of-N), else all")
    ev.add_argument("--skip-missing", action="store_true", help="record samples with missing images as skipped")
    ev.add_argument("--max-new-tokens", type=int, default=None,
                    help="reply length cap in tokens. Default: the reference's (AgentNetBench 1000, AndroidControl "
                         "600, Mind2Web 500, ScreenSpot-v2 200, ScreenSpot-Pro 400); synthdesk 96")
    ev.add_argument("--instruction-level", choices=("high", "low"), default="high",
                    help="AndroidControl prompt: goal only (high) or goal + step instruction (low). Default: high")
    ev.add_argument("--max-pixels", type=int, default=None,
                    help="smart_resize pixel cap of the image sent to the model. Default: 12845056")
    ev.add_argument("--min-pixels", type=int, default=None,
                    help="smart_resize pixel floor of the image sent to the model. Default: 78400")
    ev.add_argument("--concurrency", type=int, default=1,
                    help="samples in flight at once (--endpoint only: the server queues or batches them). Default: 1")

    mg = sub.add_parser("merge", help="combine the outputs of sharded eval runs",
                        description="Merge the output directories of `eval --shard I/N` runs (every I of one N, same "
                                    "flags otherwise) into OUT, as if one process had run them; prints the summary.")
    mg.add_argument("out", help="new output directory")
    mg.add_argument("shards", nargs="+", help="shard output directories")
    mg.add_argument("--allow-partial", action="store_true",
                    help="merge shards whose eval was interrupted; the summary is marked partial, with the counts. "
                         "Default: refuse them")
    mg.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    mg.add_argument("-q", "--quiet", action="store_true", help="warnings only")

    _add_study(sub)

    sv = sub.add_parser("serve", help="serve a model over an OpenAI-compatible API",
                        description="Serve MODEL with the project's engine at /v1/chat/completions, /v1/models and "
                                    "/health. Conversations continue their KV session across requests (by the "
                                    "session key in `user`, or by prefix), so each request prefills only its new "
                                    "screenshot and text, compressed with --method.")
    sv.add_argument("model", help="model alias (ui-tars-1.5-7b, opencua-7b, tiny, tiny-opencua), Hugging Face id or "
                                  "local path")
    sv.add_argument("--served-model-name", default=None, help="the name clients pass as model. Default: MODEL")
    sv.add_argument("--method", choices=METHOD_CHOICES, default=None, help="KV-cache compression method. "
                                                                           "Default: gui_kv")
    sv.add_argument("--budget", type=float, default=None,
                    help="percent of the tokens seen kept in the KV cache, in (0, 100]. Default: 10")
    sv.add_argument("--frames", type=int, default=None,
                    help="screenshots kept in a conversation's context (N). Default: 5 for UI-TARS, 3 for OpenCUA")
    sv.add_argument("--context", choices=("incremental", "stateless"), default=None,
                    help="incremental: continue each conversation's KV session; stateless: prefill every request "
                         "whole. Default: incremental")
    sv.add_argument("--host", default=None, help="address to listen on. Default: 127.0.0.1 (this machine only)")
    sv.add_argument("--port", type=int, default=None, help="port (0 picks a free one). Default: 8000")
    sv.add_argument("--max-sessions", type=int, default=None,
                    help="conversations kept; the least recently used one goes first. Default: 16")
    sv.add_argument("--session-idle", type=float, default=None,
                    help="seconds after which an unused conversation is dropped. Default: 900")
    sv.add_argument("--max-new-tokens", type=int, default=None,
                    help="reply cap of a request that sets no max_tokens. Default: 1024")
    sv.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sv.add_argument("-q", "--quiet", action="store_true", help="warnings only")

    from agent.demo_cli import add_demo_parser
    from agent.training.cli import add_train_parser

    add_train_parser(sub)
    add_demo_parser(sub)
    return parser


def _add_study(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser("study", help="the compression study: accuracy and fidelity against budget and history",
                        description="Two eval sweeps on held-out synthdesk tasks (every method at every budget with "
                                    "--fidelity; methods at one --max-tokens cap for every --frames value), then "
                                    "OUT/study.md and the README section 'Compression on synthdesk'. Resumable.")
    st.add_argument("benchmark", choices=("synthdesk",))
    st.add_argument("--model", default=None, help="model to study (as eval's --model). Default: gui-tiny")
    st.add_argument("--seed", type=int, default=None, help="held-out synthdesk seed. Default: 0")
    st.add_argument("--limit", type=int, default=None, help="tasks (kinds in turn). Default: 24")
    st.add_argument("--method", default=None, help="budget sweep methods (as eval's --method). Default: full, random, "
                                                   "recency, snapkv, pyramidkv, vlcache, gui_kv and its two ablations")
    st.add_argument("--budget", default=None, help="budget sweep, percent. Default: 5,10,20,40")
    st.add_argument("--no-keep-text", action="store_true",
                    help="budget sweep: the budget counts every entry, text included (default: each compressing "
                         "method keeps all text entries, keep_text=true, and the budget is a percent of the "
                         "screenshot tokens)")
    st.add_argument("--history-method", default=None,
                    help="history sweep methods. Default: full,random,recency,snapkv,gui_kv")
    st.add_argument("--max-tokens", type=int, default=None, help="history sweep cap, entries per KV head. Default: 512")
    st.add_argument("--frames", default=None, help="history sweep screenshots in context. Default: 1,2,4,6")
    st.add_argument("--max-new-tokens", type=int, default=None, help="reply cap in tokens. Default: 96")
    st.add_argument("--jobs", type=int, default=None, help="processes per sweep, one CPU thread each. Default: 2")
    st.add_argument("--out", default=None, help="output folder. Default: runs/study")
    st.add_argument("--images", default=None, help="where synthdesk writes its screenshots. Default: runs/synthdesk")
    st.add_argument("--readme", default=None, help="README to update between its markers. Default: README.md")
    st.add_argument("--no-readme", action="store_true", help="write only OUT/study.md")
    st.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    st.add_argument("-q", "--quiet", action="store_true", help="warnings only, no progress bar")


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("httpx", "httpx2", "httpcore", "httpcore2", "openai"):  # one line per HTTP request otherwise
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    if args.quiet:  # no "Loading weights" bar: the switch is read when transformers is imported, before or after this
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        if "transformers" in sys.modules:
            sys.modules["transformers"].utils.logging.disable_progress_bar()


def exit_code(status: RunStatus) -> int:
    """The process exit code of a run that ended with `status`."""
    if status is RunStatus.FINISHED:
        return EXIT_OK
    if status is RunStatus.ERROR:
        return EXIT_ERROR
    if status in (RunStatus.USER_STOPPED, RunStatus.TERMINATED):
        return EXIT_INTERRUPTED
    return EXIT_UNFINISHED  # failed, max_steps, parse_failed, call_user_abort, user_abort


def _run(args: argparse.Namespace) -> int:
    try:
        config = RunConfig.build(
            task=args.task, model=args.model, method=args.method, budget=args.budget, frames=args.frames,
            context=args.context, max_steps=args.max_steps, retries=args.retries, confirm=args.confirm,
            monitor=args.monitor, executor=args.executor, dry_run=args.dry_run, out=args.out,
            trust_remote_code=args.trust_remote_code, trust_remote_tokenizer=args.trust_remote_tokenizer,
            endpoint=args.endpoint, family=args.family, api_key_env=args.api_key_env, timeout_s=args.timeout,
            max_retries=args.max_retries)
        result = run_live(config, interaction=TerminalInteraction())
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:  # outside the loop's own handling: while loading the model, or a second Ctrl-C
        print(stop_reason(e), file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"{result.status.value}: {result.message} ({result.n_steps} steps; {config.out})")
    return exit_code(result.status)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    _configure_logging(args)
    command = {"run": _run, "eval": _eval, "merge": _merge, "study": _study, "serve": _serve, "train": _train,
               "demo": _demo}[args.command]
    with sigterm_as_interrupt():  # SIGTERM stops every command the way Ctrl-C does
        try:
            return command(args)
        except KeyboardInterrupt as e:  # a command without its own handling (merge)
            print(stop_reason(e), file=sys.stderr)
            return EXIT_INTERRUPTED


def _eval(args: argparse.Namespace) -> int:
    from eval.cli import eval_command  # lazy: only `eval` needs the replay runner

    return eval_command(args)


def _demo(args: argparse.Namespace) -> int:
    from agent.demo_cli import demo_command

    return demo_command(args)


def _study(args: argparse.Namespace) -> int:
    from eval.cli import study_command

    return study_command(args)


def _train(args: argparse.Namespace) -> int:
    from agent.training.cli import train_command

    return train_command(args)


def _merge(args: argparse.Namespace) -> int:
    from eval.cli import merge_command

    return merge_command(args)


def _serve(args: argparse.Namespace) -> int:
    from agent.server import parse_serve_config, serve  # lazy: only `serve` needs FastAPI

    try:
        config = parse_serve_config(
            model=args.model, served_model_name=args.served_model_name, method=args.method, budget=args.budget,
            frames=args.frames, context=args.context, host=args.host, port=args.port, max_sessions=args.max_sessions,
            idle_timeout_s=args.session_idle, max_new_tokens=args.max_new_tokens)
        serve(config)
    except (ValueError, OSError) as e:  # a bad flag, a model that cannot be loaded, an address in use
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK
