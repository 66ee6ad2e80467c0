"""Prompt templates (data files beside this module) and the builders that fill them.

Every template is a `*.txt` file in this package, stored byte-exact (trailing spaces, blank lines and the absence
of a final newline are part of the prompt; do not let an editor "fix" them). A placeholder is `{name}` with
`name` in lowercase letters and underscores; anything else in braces (the JSON tool specs of the OpenCUA prompts)
is literal text. `render(name, **fields)` substitutes in one pass, so a value that itself contains `{...}` is
inserted verbatim, exactly like the reference code's `str.format`.

Sources (facts; see spec-benchmarks.md and spec-actions.md):

* `uitars_computer` (+ `uitars_action_space`, `uitars_action_space_call_user`): the UI-TARS-1.5 computer-use prompt,
  `start_box='<|box_start|>(x1,y1)<|box_end|>'` grammar (OSWorld `mm_agents/uitars15_v1.py`:
  `UITARS_USR_PROMPT_THOUGHT` with `UITARS_NORMAL_ACTION_SPACE` / `UITARS_CALL_USR_ACTION_SPACE`).
* `uitars_computer_doubao`, `uitars_mobile`, `uitars_grounding`: `COMPUTER_USE_DOUBAO`, `MOBILE_USE_DOUBAO`,
  `GROUNDING_DOUBAO` of the `ui-tars` 0.5.1 package (`point='<point>x1 y1</point>'` grammar).
* `opencua_l1`, `opencua_l2`, `opencua_l3`: OpenCUA-7B/32B system prompts V1, the training prompts (OSWorld
  `mm_agents/opencua/prompts.py` `SYSTEM_PROMPT_V1_L1/L2/L3`; terminate enum `success|fail`).
* `opencua_instruction`, `opencua_step`, `opencua_history_{action,thought,observation}`: OpenCUA's instruction and
  history templates (spec-actions §2.3).
* `opencua_grounding`: GUI-KV's ScreenSpot OpenCUA text (system sentence, newline, instruction).
* `agentnetbench_*`, `androidcontrol_{high,low}_*`, `mind2web_*`: the GUI-KV benchmark prompts with their quirks
  (spec-benchmarks §2.2, §3.2, §4.2); their OpenCUA "L2" copy indents one bullet differently and uses the
  `success|failure` enum.
* `synthdesk_system`, `synthdesk_task`: the project's own short prompts for gui-tiny on synthdesk (issue 9): a
  system message under 150 characters naming the UI-TARS-1.5 calls it answers with, and the task line. The model's
  tokenizer is byte-level (one token per character), so they are kept short.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from importlib import resources
from typing import Literal

logger = logging.getLogger(__name__)

__all__ = [
    "OpenCUALevel",
    "UITarsStyle",
    "fields",
    "names",
    "opencua_grounding_prompt",
    "opencua_history",
    "opencua_instruction",
    "opencua_system_prompt",
    "render",
    "synthdesk_system_prompt",
    "synthdesk_task_prompt",
    "template",
    "uitars_grounding_prompt",
    "uitars_prompt",
]

UITarsStyle = Literal["computer", "computer_doubao", "mobile"]
OpenCUALevel = Literal["l1", "l2", "l3"]
OpenCUAHistory = Literal["action", "thought", "observation"]

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_SUFFIX = ".txt"


@lru_cache(maxsize=None)
def names() -> tuple[str, ...]:
    """Names of all templates shipped with the package (file stems), sorted."""
    files = resources.files(__name__).iterdir()
    return tuple(sorted(f.name[: -len(_SUFFIX)] for f in files if f.name.endswith(_SUFFIX)))


@lru_cache(maxsize=None)
def template(name: str) -> str:
    """The raw text of template `name` (UTF-8, byte-exact). Raises ValueError for an unknown name."""
    if name not in names():
        raise ValueError(f"unknown prompt template name={name!r}; known: {', '.join(names())}")
    return resources.files(__name__).joinpath(name + _SUFFIX).read_bytes().decode("utf-8")


def fields(name: str) -> frozenset[str]:
    """The placeholder names of template `name`."""
    return frozenset(_PLACEHOLDER.findall(template(name)))


def render(name: str, **values: object) -> str:
    """Fill every placeholder of template `name` with `str(values[field])`.

    Raises ValueError naming the missing or unexpected fields when `values` does not match the template's
    placeholders exactly.
    """
    expected = fields(name)
    missing, extra = expected - values.keys(), values.keys() - expected
    if missing or extra:
        raise ValueError(
            f"template {name!r} takes fields {sorted(expected)}; missing={sorted(missing)}, unexpected={sorted(extra)}"
        )
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template(name))


def uitars_prompt(
    instruction: str, *, style: UITarsStyle = "computer", language: str = "English", call_user: bool = False
) -> str:
    """The UI-TARS user prompt for `instruction`.

    style: "computer" (UI-TARS-1.5 / OSWorld, `start_box` grammar; the default), "computer_doubao" (ui-tars package
        `COMPUTER_USE_DOUBAO`, `point` grammar) or "mobile" (`MOBILE_USE_DOUBAO`).
    language: the language the model should think in (`Use {language} in Thought part`).
    call_user: "computer" style only: advertise `call_user()` (and a content-less `finished()`), OSWorld's
        `UITARS_CALL_USR_ACTION_SPACE`.
    """
    if style == "computer":
        space = template("uitars_action_space_call_user" if call_user else "uitars_action_space")
        return render("uitars_computer", action_space=space, language=language, instruction=instruction)
    if call_user:
        raise ValueError(f"call_user=True needs style='computer', got style={style!r}")
    if style == "computer_doubao":
        return render("uitars_computer_doubao", language=language, instruction=instruction)
    if style == "mobile":
        return render("uitars_mobile", language=language, instruction=instruction)
    raise ValueError(f"style={style!r} is not one of 'computer', 'computer_doubao', 'mobile'")


def uitars_grounding_prompt(instruction: str) -> str:
    """`GROUNDING_DOUBAO` for `instruction` (ScreenSpot; no trailing newline, `''` typo kept)."""
    return render("uitars_grounding", instruction=instruction)


def opencua_system_prompt(level: OpenCUALevel = "l2") -> str:
    """OpenCUA-7B's system prompt of `level` ("l1": Action; "l2": Thought + Action; "l3": Observation too)."""
    if level not in ("l1", "l2", "l3"):
        raise ValueError(f"level={level!r} is not one of 'l1', 'l2', 'l3'")
    return template(f"opencua_{level}")


def opencua_instruction(instruction: str) -> str:
    """OpenCUA's task-instruction text (`# Task Instruction:\\n...previous steps (if provided).\\n`)."""
    return render("opencua_instruction", instruction=instruction)


def opencua_history(
    step_num: int,
    *,
    action: str,
    thought: str | None = None,
    observation: str | None = None,
) -> str:
    """One OpenCUA history turn: `# Step {step_num}:\\n` plus the action / thought / observation template.

    The template is picked by what is given: `action` only, `thought` + `action`, or all three.
    """
    if step_num < 1:
        raise ValueError(f"step_num={step_num} must be >= 1")
    head = render("opencua_step", step_num=step_num)
    if observation is not None:
        if thought is None:
            raise ValueError("observation needs thought too (OBSERVATION_HISTORY_TEMPLATE has all three)")
        return head + render("opencua_history_observation", observation=observation, thought=thought, action=action)
    if thought is not None:
        return head + render("opencua_history_thought", thought=thought, action=action)
    return head + render("opencua_history_action", action=action)


def opencua_grounding_prompt(instruction: str) -> str:
    """GUI-KV's OpenCUA grounding text: the system sentence, a newline, the instruction."""
    return render("opencua_grounding", instruction=instruction)


def synthdesk_system_prompt() -> str:
    """The system message of gui-tiny on synthdesk (under 150 characters)."""
    return template("synthdesk_system")


def synthdesk_task_prompt(instruction: str) -> str:
    """The first user turn of a synthdesk task: `Task: {instruction}`."""
    return render("synthdesk_task", instruction=instruction)
