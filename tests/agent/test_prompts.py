"""Prompt templates: every template renders, and the quoted prompts are byte-exact.

Expected texts are written out here from spec-benchmarks.md (§2.2, §3.2, §4.2, §5.2) and spec-actions.md (§2.3);
when the spec file itself is present (GUIKV_SPEC_DIR or /work/shared/docs), its fenced blocks are compared too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from agent import prompts

SPEC_DIR = Path(os.environ.get("GUIKV_SPEC_DIR", "/work/shared/docs"))

AGENTNETBENCH_UITARS = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the "
    "next action to complete the task.\n\n## Output Format\nYou should first think about the reasoning process in the "
    "mind and then provide the user with the answer. \nThe reasoning process is enclosed within <think> </think> tags\n"
    "After the <think> tags, you should place final answer, which concludes your summarized thought and your action."
    "\n\nFor example,\n```\n<think>detailed reasoning content here</think>\nThought: a small plan and finally "
    "summarize your next action (with its target element) in one sentence\nAction: ...\n```\n\n## Action Space\n\n"
    "click(point='<point>x1 y1</point>')\nleft_double(point='<point>x1 y1</point>')\n"
    "right_single(point='<point>x1 y1</point>')\n"
    "drag(start_point='<point>x1 y1</point>', end_point='<point>x2 y2</point>')\n"
    "hotkey(key='ctrl c') # Split keys with a space and use lowercase. Also, do not use more than 3 keys in one "
    "hotkey action.\n"
    "type(content='xxx') # Use escape characters \\', \\\", and \\n in content part to ensure we can parse the "
    "content in normal python string format. If you want to submit your input, use \\n at the end of content. \n"
    "scroll(point='<point>x1 y1</point>', direction='down or up or right or left') # Show more information on the "
    "`direction` side.\nwait() #Sleep for 5s and take a screenshot to check for any changes.\n"
    "finished(content='successful|failure') # Use escape characters \\', \\\", and \\n in content part to ensure we "
    "can parse the content in normal python string format.\n\n## Output Example\nThought: Let's click ...\n"
    "Action: click(point='<point>100 200</point>')\n\n## Note\n- Use English in `Thought` part.\n"
    "- Write a small plan and finally summarize your next action (with its target element) in one sentence in "
    "`Thought` part.\n- If you have executed several same actions (like repeatedly clicking the same point) but the "
    "screen keeps no change, please try to execute a modified action when necessary.\n"
    "- finished content should be either`successful` or `failure`.\n\n## User Instruction\n{instruction}\n\n"
    "Please generate the next move according to the screenshot and task instruction.\n"
)

ANDROIDCONTROL_HIGH_UITARS = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the "
    "next action to complete the task. \n## Output Format\n```\nThought: ...\nAction: ...\n```\n## Action Space\n\n"
    "click(point='<point>x1 y1</point>')\nlong_press(point='<point>x1 y1</point>')\n"
    "type(content='') #If you want to submit your input, use \"\\n\" at the end of `content`.\n"
    "scroll(point='<point>x1 y1</point>', direction='down or up or right or left')\npress_back()\n"
    "wait() # Wait for the screen to finish loading.\n"
    "finished(content='successful|infeasible') # Use `infeasible` if you think the task is not feasible (including "
    "cases like you don't have enough information or cannot perform some necessary actions); otherwise, use "
    "`successful`.\n\n\n## Note\n- Use English in `Thought` part.\n- Write a small plan and finally summarize your "
    "next action (with its target element) in one sentence in `Thought` part.\n"
    "- Always use `click` if you want to open an app.\n"
    "- content in `finished` action should only be `successful` or `infeasible`.\n\n"
    "## Previous Actions\n{previous_actions}\n\n## User Instruction\n{goal}\n\n"
)

MIND2WEB_UITARS = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the "
    "next action to complete the task. \n\n\n## Output Format\n```\nThought: ...\nAction: ...\n```\n\n"
    "## Action Space\n\n\n"
    "- type(content='xxx') # First click on the textbox, and then type the content. \n"
    "- scroll(point='<point>x1 y1</point>', direction='down or up') # Show more information on the `direction` "
    "side.\n"
    "- select(point='<point>x1 y1</point>', content='xxx') # Select dropdown menu at point x1 y1 and choose entry "
    "xxx.\n- click(point='<point>x1 y1</point>').   \n\n## Note\n- Use English in `Thought` part.\n"
    "- Write a small plan and finally summarize your next action (with its target element) in one sentence in "
    "`Thought` part. \n"
    "- For `type` action, Use escape characters \\', \\\", and \\n in content part to ensure we can parse the "
    "content in normal python string format. If you want to submit your input, use \\n at the end of content. \n\n"
    "## Rule\n- The `type` action will click + type in a textbox or search box. DO NOT `click` ON search box; "
    "otherwise, you will be terminated.\n\n## Previous Actions\n{previous_actions}\n\n\n\n## User Instruction\n"
    "{instruction}\n\n\n"
)

MIND2WEB_OPENCUA_TAIL = (
    "\n## Rule\n- The `write` action will click + write in a textbox or search box. DO NOT `click` ON search box; "
    "otherwise, you will be terminated.\n\n\n## Previous Actions\n{previous_actions}\n\n## User Instruction\n"
    "{instruction}\n"
)

GROUNDING_UITARS = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the "
    "next action to complete the task. \n\n## Output Format\n\nAction: ...\n\n\n## Action Space\n"
    "click(point='<point>x1 y1</point>'')\n\n## User Instruction\n{instruction}"
)

OPENCUA_HEAD = (
    "You are a GUI agent. You are given a task and a screenshot of the screen. You need to perform a series of "
    "pyautogui actions to complete the task."
)
TERMINATE_FAILURE = (
    '- {"name": "computer.terminate", "description": "Terminate the current task and report its completion status", '
    '"parameters": {"type": "object", "properties": {"status": {"type": "string", "enum": ["success", "failure"], '
    '"description": "The status of the task"}}, "required": ["status"]}}'
)

UITARS_COMPUTER_ENGLISH = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the "
    "next action to complete the task. \n\n## Output Format\n```\nThought: ...\nAction: ...\n```\n\n"
    "## Action Space\n\nclick(start_box='<|box_start|>(x1,y1)<|box_end|>')\n"
    "left_double(start_box='<|box_start|>(x1,y1)<|box_end|>')\n"
    "right_single(start_box='<|box_start|>(x1,y1)<|box_end|>')\n"
    "drag(start_box='<|box_start|>(x1,y1)<|box_end|>', end_box='<|box_start|>(x3,y3)<|box_end|>')\n"
    "hotkey(key='')\ntype(content='') #If you want to submit your input, use \"\\n\" at the end of `content`.\n"
    "scroll(start_box='<|box_start|>(x1,y1)<|box_end|>', direction='down or up or right or left')\n"
    "wait() #Sleep for 5s and take a screenshot to check for any changes.\n"
    "finished(content='xxx') # Use escape characters \\', \\\", and \\n in content part to ensure we can parse the "
    "content in normal python string format.\n\n\n## Note\n- Use English in `Thought` part.\n"
    "- Write a small plan and finally summarize your next action (with its target element) in one sentence in "
    "`Thought` part.\n\n## User Instruction\nOpen the settings\n"
)


def test_every_template_renders_with_its_fields():
    assert len(prompts.names()) >= 20
    for name in prompts.names():
        values = {f: f"<{f.upper()}>" for f in prompts.fields(name)}
        text = prompts.render(name, **values)
        assert text and re.search(r"\{[a-z_]+\}", text) is None, name
        for value in values.values():
            assert value in text


def test_render_names_missing_and_unexpected_fields():
    with pytest.raises(ValueError, match="missing=\\['instruction'\\]"):
        prompts.render("uitars_grounding")
    with pytest.raises(ValueError, match="unexpected=\\['goal'\\]"):
        prompts.render("uitars_grounding", instruction="x", goal="y")
    with pytest.raises(ValueError, match="unknown prompt template name='nope'"):
        prompts.template("nope")


def test_render_inserts_values_verbatim_like_str_format():
    text = prompts.render("uitars_grounding", instruction="click {instruction} and {\"a\": 1}")
    assert text.endswith("## User Instruction\nclick {instruction} and {\"a\": 1}")


def test_benchmark_uitars_prompts_match_spec_text():
    assert prompts.template("agentnetbench_uitars") == AGENTNETBENCH_UITARS
    assert prompts.template("androidcontrol_high_uitars") == ANDROIDCONTROL_HIGH_UITARS
    low = (ANDROIDCONTROL_HIGH_UITARS[: ANDROIDCONTROL_HIGH_UITARS.index("- content in `finished`")]
           + "- You must follow User Instruction below.\n\n## User Goal:\n{goal}\n\n## Previous Actions\n"
           "{previous_actions}\n\n## User Instruction\n{task}\n")
    assert prompts.template("androidcontrol_low_uitars") == low
    assert prompts.template("mind2web_uitars") == MIND2WEB_UITARS
    assert prompts.uitars_grounding_prompt("close") == GROUNDING_UITARS.replace("{instruction}", "close")


def test_benchmark_opencua_prompts_follow_the_spec_description():
    anb = prompts.template("agentnetbench_opencua")
    tail = "\n\n# Task Instruction:\n{instruction}\n\nPlease generate the next move according to the screenshot and task instruction.\n"
    assert anb.startswith(OPENCUA_HEAD + "\n\nFor each step") and anb.endswith(TERMINATE_FAILURE + tail)
    l2_gui_kv = anb[: -len(tail)]
    for text in ("Step by Step Progress Assessment", "Next Action Analysis", "For Text Input Actions",
                 "Finally, output the action as PyAutoGUI code or the following functions:\n- {\"name\": "
                 "\"computer.triple_click\""):
        assert text in l2_gui_kv
    high = prompts.template("androidcontrol_high_opencua")
    low = prompts.template("androidcontrol_low_opencua")
    assert high == "\n" + l2_gui_kv + "'" + "\n\n## Previous Actions\n{previous_actions}\n\n## User Instruction\n{goal}\n"
    assert low == "\n" + l2_gui_kv + "'" + (
        "\n\n\n## Note\n- You must follow User Instruction below.\n\n## User Goal\n{goal}\n\n## Previous Actions\n"
        "{previous_actions}\n\n## User Instruction\n{task}\n")
    m2w = prompts.template("mind2web_opencua")
    assert m2w == l2_gui_kv.replace(
        "You are given a task and a screenshot of the screen.",
        "You are given a task and your action history, with screenshots.", 1) + "\n" + MIND2WEB_OPENCUA_TAIL
    assert prompts.opencua_grounding_prompt("close") == OPENCUA_HEAD + "\nclose"


def test_opencua_system_prompts_v1_and_their_relation_to_gui_kv_copy():
    l1, l2, l3 = (prompts.opencua_system_prompt(level) for level in ("l1", "l2", "l3"))
    for text in (l1, l2, l3):
        assert text.startswith(OPENCUA_HEAD + "\n\nFor each step, provide your response in this format:\n\n")
        assert text.endswith(TERMINATE_FAILURE.replace('"failure"', '"fail"'))  # the training prompts' enum
    assert "Thought:" not in l1 and "Observation:" not in l1
    assert "Thought:" in l2 and "Observation:" not in l2
    assert "\n\nObservation:\n  - Describe the current computer state" in l3 and "Thought:" in l3
    assert l3.replace(l3[l3.index("Observation:"): l3.index("Thought:")], "") == l2
    # GUI-KV's copy of "L2" indents the first-person bullet by 4 and uses the "failure" enum; otherwise equal.
    gui_kv = prompts.template("agentnetbench_opencua").split("\n\n# Task Instruction:")[0]
    assert gui_kv == l2.replace("\n  - Use first-person", "\n    - Use first-person").replace('"fail"]', '"failure"]')
    with pytest.raises(ValueError, match="level='l4'"):
        prompts.opencua_system_prompt("l4")  # type: ignore[arg-type]


def test_opencua_instruction_and_history_templates_match_spec_actions():
    assert prompts.opencua_instruction("Open X") == (
        "# Task Instruction:\nOpen X\n\nPlease generate the next move according to the screenshot, task instruction "
        "and previous steps (if provided).\n")
    assert prompts.opencua_history(3, action="Click OK") == "# Step 3:\n## Action:\nClick OK\n"
    assert prompts.opencua_history(1, action="A", thought="T") == "# Step 1:\n## Thought:\nT\n\n## Action:\nA\n"
    assert prompts.opencua_history(2, action="A", thought="T", observation="O") == (
        "# Step 2:\n## Observation:\nO\n\n## Thought:\nT\n\n## Action:\nA\n")
    with pytest.raises(ValueError, match="step_num=0"):
        prompts.opencua_history(0, action="A")


def test_uitars_computer_prompt_uses_start_box_grammar_and_language():
    assert prompts.uitars_prompt("Open the settings") == UITARS_COMPUTER_ENGLISH
    chinese = prompts.uitars_prompt("Open the settings", language="Chinese")
    assert chinese == UITARS_COMPUTER_ENGLISH.replace("Use English in", "Use Chinese in")
    call_user = prompts.uitars_prompt("x", call_user=True)
    assert "\nfinished()\ncall_user() # Submit the task and call the user when the task is unsolvable" in call_user
    with pytest.raises(ValueError, match="call_user=True needs style='computer'"):
        prompts.uitars_prompt("x", style="mobile", call_user=True)
    with pytest.raises(ValueError, match="style='tablet'"):
        prompts.uitars_prompt("x", style="tablet")  # type: ignore[arg-type]


def test_doubao_prompts_equal_the_ui_tars_package():
    package = pytest.importorskip("ui_tars.prompt")
    assert prompts.template("uitars_computer_doubao") == package.COMPUTER_USE_DOUBAO
    assert prompts.template("uitars_mobile") == package.MOBILE_USE_DOUBAO
    assert prompts.template("uitars_grounding") == package.GROUNDING_DOUBAO
    assert prompts.uitars_prompt("go", style="mobile", language="English") == package.MOBILE_USE_DOUBAO.format(
        language="English", instruction="go")
    assert prompts.uitars_prompt("go", style="computer_doubao") == package.COMPUTER_USE_DOUBAO.format(
        language="English", instruction="go")


def _spec_block(text: str, marker: str) -> str:
    """Interior of the first fenced ```text / ````text block after `marker` (each line ends with a newline)."""
    start = text.index(marker)
    match = re.compile(r"^(`{3,4})text\n(.*?)^\1$", re.S | re.M).search(text, start)
    assert match is not None, marker
    return match.group(2)


@pytest.mark.skipif(not (SPEC_DIR / "spec-benchmarks.md").is_file(), reason="spec-benchmarks.md not available")
def test_templates_equal_the_fenced_blocks_of_the_spec():
    spec = (SPEC_DIR / "spec-benchmarks.md").read_text(encoding="utf-8")
    assert _spec_block(spec, "(`AGENTNETBENCH_PROMPT_UI_TARS`") == prompts.template("agentnetbench_uitars")
    assert _spec_block(spec, "(`ANDROIDCONTROL_PROMPT_HIGH`") == prompts.template("androidcontrol_high_uitars")
    assert _spec_block(spec, "(`MM_MIND2WEB_PROMPT`") == prompts.template("mind2web_uitars")
    tail = _spec_block(spec, "(`MM_MIND2WEB_PROMPT_OPENCUA`")
    assert prompts.template("mind2web_opencua").endswith("}}\n" + tail)
    assert _spec_block(spec, "`GROUNDING_DOUBAO` (verbatim")[:-1] == prompts.template("uitars_grounding")


def test_synthdesk_prompts_are_short_and_name_the_uitars_calls() -> None:
    system = prompts.synthdesk_system_prompt()
    assert system == ("You are a GUI agent. Reply with Thought: then Action: click(start_box='(x,y)'), "
                      "type(content=''), hotkey(key='') or finished(content='').")
    assert len(system) < 150 and system.isascii() and not system.endswith("\n")
    assert prompts.synthdesk_task_prompt("click Music") == "Task: click Music"
    assert prompts.fields("synthdesk_task") == {"instruction"} and prompts.fields("synthdesk_system") == set()
