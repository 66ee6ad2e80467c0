"""`python -m agent demo` on a real X server (Xvfb): the synthdesk window, mss capture of its rectangle, pyautogui.

* the gold replies (a `script:` model) finish the task: exit 0, one line per step, the app confirms the goal;
* a `finished()` before the goal is met is no success (exit 3);
* a randomly initialised exported gui-tiny runs through the real model path, with synthdesk's prompts and the
  window's render as its screenshot, and stops without finishing (exit 3, a clear status).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from desktop import XDisplay, assert_pyautogui_on
from PIL import Image

from agent import prompts
from agent.cli import main
from agent.context import Transcript
from agent.demo import DemoConfig, describe_step
from agent.models.loading import load
from agent.trajectory import read_result, read_steps
from tasks.synthdesk.generate import generate

pytestmark = pytest.mark.desktop


def _gold_script(tmp_path: Path, seed: int, kind: str) -> Path:
    episode = generate("heldout", seed, 0, kind)  # the demo's task: task 0 of the held-out seed
    path = tmp_path / f"gold-{kind}-{seed}.txt"
    path.write_text("\n---\n".join(step.reply for step in episode.steps), encoding="utf-8")
    return path


@pytest.mark.parametrize("seed,kind", [(0, "episode"), (2, "memory")])
def test_demo_with_the_gold_replies_finishes_the_task(desktop: XDisplay, tmp_path, capsys, seed, kind) -> None:
    assert_pyautogui_on(desktop)
    capsys.readouterr()  # python-xlib's warning about the empty XAUTHORITY file, printed when pyautogui is imported
    episode = generate("heldout", seed, 0, kind)
    out = tmp_path / "run"
    code = main(["demo", "--seed", str(seed), "--kind", kind, "--model", f"script:{_gold_script(tmp_path, seed, kind)}",
                 "--out", str(out), "-q"])
    printed = capsys.readouterr().out.splitlines()
    assert code == 0, printed
    n = len(episode.steps)
    assert printed[0].startswith(f"task: {episode.instruction} (held-out seed {seed}, {kind}")
    assert [line.split("  ")[0] for line in printed[1:1 + n]] == [f"step {i}/12" for i in range(1, n + 1)]
    assert printed[n].endswith("[finished]")
    assert printed[-2] == f"success: the app confirms the goal ({n} steps)"
    assert printed[-1] == f"report: {out / 'report.html'}" and (out / "report.html").is_file()
    result = read_result(out)
    assert result is not None and result.status.value == "finished"
    config = json.loads((out / "config.json").read_text())
    assert (config["seed"], config["kind"], config["task"]) == (seed, kind, episode.instruction)
    # what the agent saw is the training renderer's image of each state, pixel for pixel
    for step, gold in zip(read_steps(out), episode.steps):
        assert step.screenshot is not None
        with Image.open(out / step.screenshot) as shot:
            assert shot.convert("RGB").tobytes() == gold.state.render().image.tobytes()


def test_finishing_before_the_goal_is_no_success(desktop: XDisplay, tmp_path, capsys) -> None:
    assert_pyautogui_on(desktop)
    capsys.readouterr()  # python-xlib's warning about the empty XAUTHORITY file, printed when pyautogui is imported
    script = tmp_path / "lazy.txt"
    script.write_text("Thought: Done\nAction: finished(content='')\n", encoding="utf-8")
    code = main(["demo", "--model", f"script:{script}", "--out", str(tmp_path / "run"), "-q"])
    printed = capsys.readouterr().out
    assert code == 3
    assert "finished: the model said finished(), but the app's goal is not met" in printed


def test_demo_with_a_random_gui_tiny_runs_the_model_and_stops_unfinished(desktop: XDisplay, gui_tiny_export,
                                                                         tmp_path, capsys) -> None:
    assert_pyautogui_on(desktop)
    capsys.readouterr()  # python-xlib's warning about the empty XAUTHORITY file, printed when pyautogui is imported
    _, _, directory = gui_tiny_export
    out = tmp_path / "run"
    code = main(["demo", "--model", str(directory), "--max-steps", "1", "--retries", "0", "--out", str(out), "-q"])
    printed = capsys.readouterr().out.splitlines()
    assert code == 3, printed
    status = printed[-2].split(":")[0]
    assert status in ("parse_failed", "max_steps"), printed
    assert printed[-1] == f"report: {out / 'report.html'}"
    (step,) = read_steps(out)
    assert step.prefill_tokens > 0 and step.raw_output  # the model really ran
    episode = generate("heldout", 0, 0, "episode")
    image = episode.steps[0].state.render().image
    with Image.open(out / str(step.screenshot)) as shot:
        assert shot.convert("RGB").tobytes() == image.tobytes()
    # the model was prompted with synthdesk's system prompt and `Task: ...` turn (the eval's and training's layout),
    # not UI-TARS's long computer prompt: the prefill is exactly that conversation's first turn
    bundle = load(str(directory))
    transcript = Transcript(prompt=prompts.synthdesk_task_prompt(episode.instruction), frames=5,
                            system=prompts.synthdesk_system_prompt())
    transcript.observe(image)
    text = bundle.processor.apply_chat_template(transcript.messages(), tokenize=False, add_generation_prompt=True)
    ids = bundle.processor(text=[text], images=[image], return_tensors="pt", add_special_tokens=False)["input_ids"]
    assert step.prefill_tokens == ids.shape[1]


def test_demo_config_and_step_lines(tmp_path) -> None:
    with pytest.raises(ValueError, match="kind"):
        DemoConfig(kind="grounding", out=tmp_path)  # type: ignore[arg-type]
    assert DemoConfig.build(out=None).out.parent == Path("runs") / "demo"
    assert DemoConfig(out=tmp_path).model == "gui-tiny"
    record = _record(status="parse_error", error="no Action")
    assert describe_step(record, 12) == "step 1/12  unparsable reply: no Action"


def _record(**fields):
    from actions.coords import ScreenGeometry
    from agent.trajectory import StepRecord

    return StepRecord(step=1, geometry=ScreenGeometry.for_screenshot(448, 336), raw_output="x", **fields)
