"""Tasks on a synthdesk app and their gold actions: `Episode` (instruction, goal, gold steps) and the templates.

Three kinds:

* grounding: one screen (sometimes with an open menu, a dialog or a notice); "click <label>" where the label names
  one reachable widget and appears nowhere else on screen. One step, no `finished`.
* episode: 3 to 6 steps through the app, the last one `finished()`. Templates (instruction pattern):
  menu_plain "open <Menu> > <Item>"; menu_name "open <Menu> > <Item>, name it <Word>"; menu_cancel
  "open <Menu> > <Item>, then press escape"; form "type <Word> in <Field>, then <Button>"; form2 "type <W1> in
  <F1> and <W2> in <F2>, then <Button>"; checks "tick <A> [and <B>], then <Button>"; delete "delete <Item>";
  search "search for <Word>".
* memory: the first screen shows a notice that the instruction refers to, and the notice is gone after the first
  action. memory_press: "[tick <A> [and <B>], then ]open <Menu> > <Item>, pick the noted word": the dialog offers
  3-4 words, the notice said "Note: <word>". memory_code: "[tick <A>, then ]open <Menu> > <Item>, enter the noted
  code": the notice said "Code <NNN>" and the dialog's field wants it. The step that needs the notice (`memory`)
  is at most 4 screens after it, so with N = 5 screens in context it is still there.

Every gold action is a function of the instruction and the screens so far: the screen shows which step comes next
(open menu, dialog, focused field, ticked boxes, status text), and only memory steps need an earlier screen.
Gold clicks are at the centre of the target box's middle cell (`widgets.box_click_point`); gold replies use the
UI-TARS-1.5 grammar with a few-word thought: "Click <label>", "Type <text>", "Press <key>", "Done". The click verb
is the same for every widget role: it is written before the target's coordinates, so a verb that depends on the
role (as "Open" for menus and "Select" for list items did) asks the model to know the target's role before it has
found the target. gui-tiny's run gt12 used the verb as a cue for where to click: on 24 held-out grounding tasks,
with the gold thought forced, 12 clicks landed; with "Open" forced on every task, 8; with "Select", 3. Free
running it wrote "Open" for most targets and clicked the menu bar.

Per-step chance (a uniformly random argument for the right action type): click = target area / screen area;
memory click = 1 / words in the dialog; type = 1 / 60 (a vocabulary word) or 1 / 900 (a code); hotkey = 1 / 2
(enter or escape); finished = 1.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tasks.synthdesk.app import AppState, Click, Goal, Key, TypeText, hit
from tasks.synthdesk.spec import AppSpec, Command, Menu, MenuItem, Needs, generate_spec
from tasks.synthdesk.vocab import CODE_RANGE, DELETE, SCREEN_SIZES, SEARCH, WORDS
from tasks.synthdesk.widgets import Widget

__all__ = [
    "ActionType", "EPISODE_TEMPLATES", "Episode", "GoldStep", "KINDS", "Kind", "MEMORY_TEMPLATES", "draw_episode",
    "grounding_targets", "grounding_task",
]

Kind = Literal["grounding", "episode", "memory"]
KINDS: tuple[Kind, ...] = ("grounding", "episode", "memory")
ActionType = Literal["click", "type", "hotkey", "finished"]
_CODES = CODE_RANGE[1] - CODE_RANGE[0] + 1


@dataclass(frozen=True)
class GoldStep:
    """One step: the state on screen and the gold action taken on it.

    action: "click" / "type" / "hotkey" / "finished". target: the clicked widget (its box is the gold box, its
    `click_point` the gold point). text: typed text. key: the hotkey. memory: the action needs an earlier screen.
    chance: the probability that a random argument of the right action type is right (module docstring).
    thought: the few words before the action.
    """

    state: AppState
    action: ActionType
    thought: str
    target: Widget | None = None
    text: str = ""
    key: str = ""
    memory: bool = False
    chance: float = 1.0

    @property
    def call(self) -> str:
        """The action in the UI-TARS-1.5 grammar, e.g. `click(start_box='(120,42)')`."""
        if self.action == "click":
            assert self.target is not None
            x, y = self.target.click_point
            return f"click(start_box='({x},{y})')"
        if self.action == "type":
            return f"type(content='{self.text}')"
        if self.action == "hotkey":
            return f"hotkey(key='{self.key}')"
        return "finished(content='')"

    @property
    def reply(self) -> str:
        """The gold reply: `Thought: <thought>\\nAction: <call>`."""
        return f"Thought: {self.thought}\nAction: {self.call}"


@dataclass(frozen=True)
class Episode:
    """A task and its gold trajectory. steps[i].state is screen i; `final` is the state after the last action.
    goal: what the app's state must reach (None for grounding). template: see the module docstring."""

    kind: Kind
    template: str
    instruction: str
    goal: Goal | None
    steps: tuple[GoldStep, ...]
    final: AppState

    @property
    def spec(self) -> AppSpec:
        return self.steps[0].state.spec


@dataclass(frozen=True)
class _Intent:
    action: ActionType
    key: str = ""  # click: the widget key; hotkey: the key name
    text: str = ""
    memory: bool = False
    chance: float | None = None


@dataclass(frozen=True)
class _Plan:
    instruction: str
    goal: Goal | None
    intents: tuple[_Intent, ...]
    start: AppState


class _Unreachable(Exception):
    """A planned click target is missing or covered: draw again."""


# -- templates: (rng) -> (needs, plan maker) ----------------------------------------------------------------------

Template = Callable[[random.Random], tuple[Needs, Callable[[AppSpec], "_Plan | None"]]]


def _items(spec: AppSpec, *commands: Command) -> list[tuple[Menu, MenuItem]]:
    return [(m, it) for m in spec.menus for it in m.items if it.command in commands]


def _controls(spec: AppSpec, role: str, exclude: tuple[str, ...] = ()) -> list[str]:
    return [c.label for c in spec.controls if c.role == role and c.label not in exclude]


def _start(rng: random.Random, spec: AppSpec, *, toast: str = "", keep_unchecked: tuple[str, ...] = ()
           ) -> AppState:
    """The first screen: a notice (given, or a distractor 30% of the time) and some boxes already ticked."""
    if not toast and rng.random() < 0.3 and spec.unused:  # a screen can name every word (density 1)
        word = rng.choice(spec.unused)
        toast = rng.choice((f"Note: {word}", f"New {word}", f"Code {rng.randint(*CODE_RANGE)}"))
    boxes = [c.key for c in spec.controls if c.role == "checkbox" and c.label not in keep_unchecked]
    checked = frozenset(k for k in boxes if rng.random() < 0.3)
    return AppState(spec, toast=toast, checked=checked)


def _click(key: str, **kw: object) -> _Intent:
    return _Intent("click", key=key, **kw)  # type: ignore[arg-type]


def _menu_path(menu: Menu, item: MenuItem) -> list[_Intent]:
    return [_click(f"menu:{menu.title}"), _click(f"item:{item.label}")]


def _word(rng: random.Random, spec: AppSpec) -> str | None:
    """A vocabulary word that ``spec`` shows nowhere, or None when it shows every word (a density-1 screen can:
    the plan does not fit, draw again)."""
    return rng.choice(spec.unused) if spec.unused else None


def menu_plain(rng: random.Random) -> tuple[Needs, Callable[[AppSpec], _Plan | None]]:
    def plan(spec: AppSpec) -> _Plan | None:
        menu, item = rng.choice(_items(spec, "plain"))
        return _Plan(f"open {menu.title} > {item.label}", Goal(("menu", item.label)),
                     tuple(_menu_path(menu, item)), _start(rng, spec))
    return Needs(commands=("plain",)), plan


def menu_name(rng: random.Random) -> tuple[Needs, Callable[[AppSpec], _Plan | None]]:
    def plan(spec: AppSpec) -> _Plan | None:
        menu, item = rng.choice(_items(spec, "name"))
        word = _word(rng, spec)
        if word is None:
            return None
        intents = [*_menu_path(menu, item), _Intent("type", text=word, chance=1 / len(WORDS)), _click("dialog:OK")]
        return _Plan(f"open {menu.title} > {item.label}, name it {word}", Goal(("name", item.label, word)),
                     tuple(intents), _start(rng, spec))
    return Needs(commands=("name",)), plan


def menu_cancel(rng: random.Random) -> tuple[Needs, Callable[[AppSpec], _Plan | None]]:
    def plan(spec: AppSpec) -> _Plan | None:
        menu, item = rng.choice(_items(spec, "name", "code"))
        intents = [*_menu_path(menu, item), _Intent("hotkey", key="escape", chance=0.5)]
        return _Plan(f"open {menu.title} > {item.label}, then press escape", Goal(("cancel", item.label)),
                     tuple(intents), _start(rng, spec))
    return Needs(commands=(rng.choice(("name", "code")),)), plan


def _button(rng: random.Random, spec: AppSpec) -> str:
    return rng.choice(_controls(spec, "button", exclude=(DELETE,)))


def form(rng: random.Random) -> tuple[Needs, Callable[[AppSpec], _Plan | None]]:
    def plan(spec: AppSpec) -> _Plan | None:
        field = rng.choice(_controls(spec, "textfield", exclude=(SEARCH,)))
        word, button = _word(rng, spec), _button(rng, spec)
        if word is None:
            return None
        intents = [_click(f"field:{field}"), _Intent("type", text=word, chance=1 / len(WORDS)),
                   _click(f"button:{button}")]
        return _Plan(f"type {word} in {field}, then click {button}", Goal(("submit", button), (f"{field}={word}",)),
                     tuple(intents), _start(rng, spec))
    return Needs(fields=1), plan


def form2(rng: random.Random) -> tuple[Needs, Callable[[AppSpec], _Plan | None]]:
    def plan(spec: AppSpec) -> _Plan | None:
        f1, f2 = rng.sample(_controls(spec, "textfield", exclude=(SEARCH,)), 2)
        if len(spec.unused) < 2:
            return None
        w1, w2 = rng.sample(spec.unused, 2)
        button = _button(rng, spec)
        intents = [_click(f"field:{f1}"), _Intent("type", text=w1, chance=1 / len(WORDS)), _click(f"field:{f2}"),
                   _Intent("type", text=w2, chance=1 / len(WORDS)), _click(f"button:{button}")]
        return _Plan(f"type {w1} in {f1} and {w2} in {f2}, then click {button}",
                     Goal(("submit", button), (f"{f1}={w1}", f"{f2}={w2}")), tuple(intents), _start(rng, spec))
    return Needs(fields=2), plan


def _ticks(rng: random.Random, spec: AppSpec, n: int) -> tuple[list[str], str]:
    boxes = rng.sample(_controls(spec, "checkbox"), n) if n else []
    said = " and ".join(boxes)
    return boxes, (f"tick {said}, then " if boxes else "")


def checks(rng: random.Random) -> tuple[Needs, Callable[[AppSpec], _Plan | None]]:
    n = rng.choice((1, 2))

    def plan(spec: AppSpec) -> _Plan | None:
        boxes, prefix = _ticks(rng, spec, n)
        button = _button(rng, spec)
        intents = [*(_click(f"check:{b}") for b in boxes), _click(f"button:{button}")]
        return _Plan(f"{prefix}click {button}", Goal(("submit", button), tuple(f"+{b}" for b in boxes)),
                     tuple(intents), _start(rng, spec, keep_unchecked=tuple(boxes)))
    return Needs(checks=max(n, 2)), plan


def delete(rng: random.Random) -> tuple[Needs, Callable[[AppSpec], _Plan | None]]:
    def plan(spec: AppSpec) -> _Plan | None:
        item = rng.choice(spec.list_items)
        start = _start(rng, spec)
        others = [x for x in spec.list_items if x != item]
        if rng.random() < 0.3:
            start = AppState(spec, toast=start.toast, checked=start.checked, selected=rng.choice(others))
        intents = [_click(f"list:{item}"), _click(f"button:{DELETE}"), _click("dialog:OK")]
        return _Plan(f"delete {item}", Goal(("delete", item)), tuple(intents), start)
    return Needs(listed=True, delete=True), plan


def search(rng: random.Random) -> tuple[Needs, Callable[[AppSpec], _Plan | None]]:
    def plan(spec: AppSpec) -> _Plan | None:
        word = _word(rng, spec)
        if word is None:
            return None
        intents = [_click(f"field:{SEARCH}"), _Intent("type", text=word, chance=1 / len(WORDS)),
                   _Intent("hotkey", key="enter", chance=0.5)]
        return _Plan(f"search for {word}", Goal(("search", word)), tuple(intents), _start(rng, spec))
    return Needs(search=True), plan


def memory_press(rng: random.Random) -> tuple[Needs, Callable[[AppSpec], _Plan | None]]:
    n = rng.choice((0, 1, 2))

    def plan(spec: AppSpec) -> _Plan | None:
        boxes, prefix = _ticks(rng, spec, n)
        menu, item = rng.choice(_items(spec, "choice"))
        word = rng.choice(item.choices)
        intents = [*(_click(f"check:{b}") for b in boxes), *_menu_path(menu, item),
                   _click(f"dialog:choice:{word}", memory=True, chance=1 / len(item.choices))]
        start = _start(rng, spec, toast=f"Note: {word}", keep_unchecked=tuple(boxes))
        return _Plan(f"{prefix}open {menu.title} > {item.label}, pick the noted word",
                     Goal(("choice", item.label, word), checked=tuple(f"check:{b}" for b in boxes)),
                     tuple(intents), start)
    return Needs(checks=2 if n else 0, commands=("choice",)), plan


def memory_code(rng: random.Random) -> tuple[Needs, Callable[[AppSpec], _Plan | None]]:
    n = rng.choice((0, 1))

    def plan(spec: AppSpec) -> _Plan | None:
        boxes, prefix = _ticks(rng, spec, n)
        menu, item = rng.choice(_items(spec, "code"))
        code = str(rng.randint(*CODE_RANGE))
        intents = [*(_click(f"check:{b}") for b in boxes), *_menu_path(menu, item),
                   _Intent("type", text=code, memory=True, chance=1 / _CODES), _click("dialog:OK")]
        start = _start(rng, spec, toast=f"Code {code}", keep_unchecked=tuple(boxes))
        return _Plan(f"{prefix}open {menu.title} > {item.label}, enter the noted code",
                     Goal(("code", item.label, code), checked=tuple(f"check:{b}" for b in boxes)),
                     tuple(intents), start)
    return Needs(checks=2 if n else 0, commands=("code",)), plan


EPISODE_TEMPLATES: dict[str, Template] = {
    "menu_plain": menu_plain, "menu_name": menu_name, "menu_cancel": menu_cancel, "form": form, "form2": form2,
    "checks": checks, "delete": delete, "search": search,
}
MEMORY_TEMPLATES: dict[str, Template] = {"memory_press": memory_press, "memory_code": memory_code}


# -- grounding ---------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9]+")


def _grounding(rng: random.Random, spec: AppSpec) -> _Plan | None:
    state = _start(rng, spec)
    if spec.list_items and rng.random() < 0.4:
        state = AppState(spec, toast=state.toast, checked=state.checked, selected=rng.choice(spec.list_items))
    roll = rng.random()
    if roll < 0.25:
        state = AppState(spec, toast=state.toast, checked=state.checked, selected=state.selected,
                         open_menu=rng.randrange(len(spec.menus)))
    elif roll < 0.45:
        item = rng.choice([it for m in spec.menus for it in m.items if it.command != "plain"] or [None])
        if item is not None:
            state = state._run_item(item.label)
    reachable = grounding_targets(state.layout())
    if not reachable:
        return None
    role = rng.choice(sorted({w.role for w in reachable}))
    target = rng.choice([w for w in reachable if w.role == role])
    return _grounding_plan(state, target)


def _grounding_plan(state: AppState, target: Widget) -> _Plan:
    return _Plan(f"click {target.label}", None, (_click(target.key),), state)


def grounding_targets(layout: tuple[Widget, ...]) -> list[Widget]:
    """The widgets of ``layout`` a grounding task may ask for: interactive, labelled, showing no text of their own,
    with a label that no other widget shows, and on top at their click point."""
    tokens: dict[str, int] = {}
    for w in layout:
        for token in set(_WORD.findall(f"{w.label} {w.text}")):
            tokens[token] = tokens.get(token, 0) + 1
    return [w for w in layout if w.interactive and w.label and not w.text and tokens.get(w.label, 0) == 1
            and hit(layout, *w.click_point) is w]


def grounding_task(state: AppState, target: Widget) -> Episode:
    """The grounding task "click <target>" on ``state`` (``target`` one of `grounding_targets` of its layout)."""
    plan = _grounding_plan(state, target)
    steps, final = _run(plan, finish=False)
    return Episode("grounding", "grounding", plan.instruction, None, steps, final)


# -- running a plan ----------------------------------------------------------------------------------------------


def _thought(w: Widget) -> str:
    return f"Click {w.label or 'field'}"  # one verb for every role: the module docstring says why


def _run(plan: _Plan, finish: bool) -> tuple[tuple[GoldStep, ...], AppState]:
    state, steps = plan.start, []
    area = state.spec.size[0] * state.spec.size[1]
    for intent in plan.intents:
        if intent.action == "click":
            layout = state.layout()
            target = next((w for w in reversed(layout) if w.key == intent.key), None)
            if target is None or hit(layout, *target.click_point) is not target:
                raise _Unreachable(intent.key)
            x1, y1, x2, y2 = target.box
            chance = intent.chance if intent.chance is not None else (x2 - x1) * (y2 - y1) / area
            steps.append(GoldStep(state, "click", _thought(target), target=target, memory=intent.memory,
                                  chance=chance))
            state = state.apply(Click(*target.click_point))
        elif intent.action == "type":
            steps.append(GoldStep(state, "type", f"Type {intent.text}", text=intent.text, memory=intent.memory,
                                  chance=intent.chance or 0.0))
            state = state.apply(TypeText(intent.text))
        else:
            steps.append(GoldStep(state, "hotkey", f"Press {intent.key}", key=intent.key, chance=0.5))
            state = state.apply(Key(intent.key))
    if finish:
        steps.append(GoldStep(state, "finished", "Done"))
    if plan.goal is not None and not plan.goal.met(state):
        raise AssertionError(f"gold actions of {plan.instruction!r} do not reach the goal {plan.goal}")
    return tuple(steps), state


def draw_episode(rng: random.Random, kind: Kind, *, density: float | None = None, template: str | None = None
                 ) -> Episode | None:
    """One random task of `kind` with its gold steps, or None when this draw did not fit (draw again).

    density: screen busyness in [0, 1] (`tasks.synthdesk.spec`); None draws it uniformly. template: force one of
    `EPISODE_TEMPLATES` / `MEMORY_TEMPLATES` (for an episode / memory kind); None draws one uniformly.
    """
    size = rng.choice(SCREEN_SIZES)
    d = rng.random() if density is None else density
    if kind == "grounding":
        spec = generate_spec(rng, size, d)
        plan = _grounding(rng, spec) if spec is not None else None
        name = "grounding"
    else:
        table = EPISODE_TEMPLATES if kind == "episode" else MEMORY_TEMPLATES
        if kind not in ("episode", "memory"):
            raise ValueError(f"kind={kind!r} is not one of {KINDS}")
        name = template if template is not None else rng.choice(sorted(table))
        if name not in table:
            raise ValueError(f"template={name!r} is not a {kind} template: {sorted(table)}")
        needs, make = table[name](rng)
        spec = generate_spec(rng, size, d, needs)
        plan = make(spec) if spec is not None else None
    if plan is None:
        return None
    try:
        steps, final = _run(plan, finish=kind != "grounding")
    except _Unreachable:
        return None
    return Episode(kind, name, plan.instruction, plan.goal, steps, final)
