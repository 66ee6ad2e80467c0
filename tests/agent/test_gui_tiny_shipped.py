"""The shipped gui-tiny (`agent/models/gui_tiny/`), loaded the way a user loads it (`--model gui-tiny`, offline).

The shipped weights meet issue 9's targets (grounding 96.1% of 3,600 held-out screens drawn after they were chosen,
episode steps >= 90%, episode success >= 80%, memory steps >= 90%, unparsable <= 1%, the demo's 9 of 10); the model card
and the README give the figures reached. These tests pin what the shipped weights score on a fixed held-out set
(seed 0, tasks 0-23: 8 of each kind) so that a change of the model path (loading, prompts, positions, the KV session, the parser) that costs
accuracy fails loud. They are a floor under the shipped model, not the issue's targets, which stay as they are.

Greedy decoding in float32 on CPU is deterministic on a machine, but another CPU may round a near-tie differently,
so each count may fall one short of what it scored when pinned.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from desktop import XDisplay, assert_pyautogui_on

from agent.cli import main
from agent.models import loading
from agent.training.export import MAX_WEIGHTS_BYTES
from agent.trajectory import read_result

# What the shipped weights (soup10: the mean of soup7 and mt13, which continued soup7; soup7 is the mean of soup6 and
# mt11, which continued soup6; soup6 is the mean of mt9 and mt10, mt10 continued mt9, mt9 mt8, and mt8 soup5 deepened
# to 3 vision blocks; the README's training commands give the whole lineage) score on `eval synthdesk --seed 0
# --limit 24 --method full` (ft5 alone: 7, 35, 40; the mean of ft5, kv4 and kv4b: 7, 34, 40; soup2: 7, 34, 41; soup3:
# 7, 34, 40; soup4: 6, 35, 41; soup5: 6, 35, 41; soup7: 7, 35, 41).
PINNED = {"grounding": 7, "episode": 35, "memory": 42}  # correct steps per kind
PINNED_STEPS = {"grounding": 8, "episode": 36, "memory": 42}  # scored steps per kind
PINNED_UNPARSABLE = 0  # unparsable replies over all steps
DEMO_SEED = 0  # README's first command: a held-out demo seed the shipped model finishes


def test_the_shipped_directory_holds_weights_card_and_figures() -> None:
    directory = loading.packaged_dir("gui-tiny")
    assert (directory / "model.safetensors").stat().st_size <= MAX_WEIGHTS_BYTES
    card = (directory / "README.md").read_text(encoding="utf-8")
    assert "It knows only synthdesk" in card and "grounding, click inside the box" in card


def test_the_shipped_model_keeps_its_held_out_figures(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert main(["eval", "synthdesk", "--model", "gui-tiny", "--seed", "0", "--limit", "24", "--method", "full",
                 "--out", str(out), "-q"]) == 0
    (run,) = json.loads((out / "summary.json").read_text())["runs"]
    compat = run["metrics"]["compat"]
    for kind, pinned in PINNED.items():
        got = compat["by_kind"][kind]
        assert got["steps"] == PINNED_STEPS[kind], kind  # the held-out set itself is fixed
        assert got["correct_steps"] >= pinned - 1, (kind, got["correct_steps"], pinned)
    assert round(compat["unparsable_rate"] * compat["steps"]) <= PINNED_UNPARSABLE + 1


@pytest.mark.desktop
def test_the_shipped_model_finishes_the_readme_demo_in_a_real_window(desktop: XDisplay, tmp_path, capsys) -> None:
    assert_pyautogui_on(desktop)
    capsys.readouterr()  # python-xlib's warning about the empty XAUTHORITY file, printed when pyautogui is imported
    out = tmp_path / "run"
    code = main(["demo", "--seed", str(DEMO_SEED), "--out", str(out), "-q"])
    printed = capsys.readouterr().out.splitlines()
    assert code == 0, printed
    assert printed[-2].startswith("success: the app confirms the goal")
    result = read_result(out)
    assert result is not None and result.status.value == "finished"
