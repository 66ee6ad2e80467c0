"""`python -m agent demo`: the command-line face of `agent.demo` (parsing and printing only, no logic)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_demo_parser", "demo_command"]

_DEFAULT_MAX_STEPS = 12


def add_demo_parser(sub: argparse._SubParsersAction) -> None:
    dm = sub.add_parser("demo", help="watch the agent do a held-out synthdesk task in a real window",
                        description="Open a synthdesk app in a Tk window at (0, 0) of the current display and run the "
                                    "live agent on it (mss capture of the window, the model, pyautogui) until the "
                                    "task is finished. Prints one line per step and the report path; exits 0 when the "
                                    "model finished and the app confirms the goal. Needs a display of at least "
                                    "504x364, e.g. xvfb-run -a -s '-screen 0 640x480x24' python -m agent demo.")
    dm.add_argument("--seed", type=int, default=0, help="held-out seed of the task. Default: 0")
    dm.add_argument("--kind", choices=("episode", "memory"), default="episode",
                    help="episode: 3-6 steps through the app; memory: a notice on the first screen decides a later "
                         "step. Default: episode")
    dm.add_argument("--model", default="gui-tiny",
                    help="gui-tiny (the packaged trained model), a model directory, any --model of `run`, or "
                         "script:FILE. Default: gui-tiny")
    dm.add_argument("--method", choices=("full", "snapkv", "pyramidkv", "vlcache", "gui_kv"), default="full",
                    help="KV-cache compression method. Default: full (the setting gui-tiny's figures are measured in)")
    dm.add_argument("--budget", type=float, default=10.0,
                    help="percent of the tokens seen kept in the KV cache, in (0, 100]. Default: 10")
    dm.add_argument("--frames", type=int, default=None, help="screenshots kept in context (N). Default: 5")
    dm.add_argument("--max-steps", type=int, default=_DEFAULT_MAX_STEPS,
                    help=f"stop after this many steps. Default: {_DEFAULT_MAX_STEPS}")
    dm.add_argument("--retries", type=int, default=2,
                    help="re-ask the model this many times after an unparsable reply. Default: 2")
    dm.add_argument("--out", default=None, help="run directory. Default: runs/demo/<timestamp>")
    dm.add_argument("-v", "--verbose", action="store_true", help="debug logging (prompts, raw model text)")
    dm.add_argument("-q", "--quiet", action="store_true", help="warnings only")


def demo_command(args: argparse.Namespace) -> int:
    from agent.cli import EXIT_INTERRUPTED, EXIT_UNFINISHED, EXIT_USAGE, exit_code
    from agent.demo import DemoConfig, demo_episode, describe_step, run_demo
    from agent.live import ConfigError
    from agent.trajectory import RunStatus

    try:
        config = DemoConfig.build(seed=args.seed, kind=args.kind, model=args.model, method=args.method,
                                  budget=args.budget, frames=args.frames, max_steps=args.max_steps,
                                  retries=args.retries, out=args.out)
        episode = demo_episode(config)
        width, height = episode.spec.size
        print(f"task: {episode.instruction} (held-out seed {config.seed}, {config.kind}; {width}x{height} window "
              f"at (0, 0); model {config.model})", flush=True)
        result = run_demo(config, on_step=lambda r: print(describe_step(r, config.max_steps), flush=True))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("stopped by the user (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"{'success' if result.succeeded else result.run.status.value}: {result.reason}")
    print(f"report: {result.report}")
    if result.run.status is RunStatus.FINISHED and not result.succeeded:
        return EXIT_UNFINISHED
    return exit_code(result.run.status)
