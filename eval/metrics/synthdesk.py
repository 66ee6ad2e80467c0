"""synthdesk step scoring and summary (issue 9; tasks in `tasks.synthdesk`).

Each step is scored like AndroidControl / AgentNetBench, on the reply's first action:
* the action type must equal the gold one (click = a single left click; type; hotkey; finished);
* click: right iff it lands on the target: the point, in screen pixels (normalised x the screen size, rounded and
  kept on screen, exactly what the app does with it), lies in the target's box `x1 <= x < x2`, `y1 <= y < y2`;
* type: the text equals the gold text exactly, without a trailing Enter (`submit`);
* hotkey: the same key set (canonical names, `actions.keys`: "escape" = "esc");
* finished: right (its content is not judged).
A task (grounding screen, episode, memory episode) is a success iff every one of its steps is right. A reply that
does not parse scores its step wrong (status "failed").

Chance levels, from each step's `chance` (a uniformly random argument of the right action type is right): click =
target area / screen area, memory click = 1 / words offered, type = 1 / 60 (a word) or 1 / 900 (a code), hotkey =
1 / 2, finished = 1; a task's chance is the product over its steps. Reported next to each accuracy: the mean step
chance and the mean task chance. There is no reference implementation, so "compat" and "fixed" are the same.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from actions.keys import normalize_key
from actions.schema import Click, Finished, Hotkey, ParsedOutput, Type
from tasks.schema import SynthdeskStep, SynthdeskTask

from eval.metrics.common import Box, Point, ScoreRecord, count_statuses, mean, ratio, read_records, status_of

__all__ = ["SynthdeskScore", "pred_type", "score_step", "summarize"]

TaskKind = Literal["grounding", "episode", "memory"]


class SynthdeskScore(ScoreRecord):
    """One synthdesk step's score.

    task_id: the task's sample id; task_kind, template: the task's. step_idx: 0-based. gt_type / pred_type: gold
    and predicted action types (pred_type None when the reply did not parse). type_ok: the types match. correct:
    the step is right. xy: the predicted point (normalised), None for non-clicks. box: the gold box (screen
    pixels, xyxy, exclusive ends). look: a click's target role and marks (`tasks.synthdesk.app.look`), None for other
    steps and records from before it. memory: the step needs an earlier screenshot. chance: see the module docstring.
    Click steps also record (None elsewhere and in records from before them): crowd, the number of interactive
    widgets on the screen; named, whether the reply's Thought names the target's label (a whole word, any case);
    landed, for a click that missed, what it hit: the role of the topmost widget there when that widget is
    interactive ("button"), else "background"; off, for that click, which of its coordinates lie outside the
    target's box: "x" (the target's row, another column), "y" or "xy" (None: inside it, a wrong button or count).
    """

    task_id: str
    task_kind: TaskKind
    template: str
    step_idx: int
    gt_type: str
    pred_type: str | None = None
    type_ok: bool = False
    correct: bool = False
    xy: Point | None = None
    box: Box | None = None
    look: str | None = None
    memory: bool = False
    chance: float = 0.0
    crowd: int | None = None
    named: bool | None = None
    landed: str | None = None
    off: Literal["x", "y", "xy"] | None = None


def pred_type(parsed: ParsedOutput | None) -> str | None:
    """The type of the first action as synthdesk names it ("click" only for a single left click)."""
    if parsed is None:
        return None
    action = parsed.actions[0]
    if isinstance(action, Click):
        return "click" if (action.button, action.clicks) == ("left", 1) else f"click_{action.button}_{action.clicks}"
    return action.type


def _right(step: SynthdeskStep, parsed: ParsedOutput) -> bool:
    action = parsed.actions[0]
    if step.action_type == "click" and isinstance(action, Click):
        assert step.bbox is not None
        x, y = _pixel(step, action.xy)
        x1, y1, x2, y2 = step.bbox
        return x1 <= x < x2 and y1 <= y < y2
    if step.action_type == "type" and isinstance(action, Type):
        return action.text == step.text and not action.submit
    if step.action_type == "hotkey" and isinstance(action, Hotkey):
        return {normalize_key(k) for k in action.keys} == {normalize_key(step.key or "")}
    return step.action_type == "finished" and isinstance(action, Finished)


def _pixel(step: SynthdeskStep, xy: Point) -> tuple[int, int]:
    """A normalised point in screen pixels, rounded and kept on screen (what the app does with a click)."""
    w, h = step.image_size
    return min(round(xy[0] * w), w - 1), min(round(xy[1] * h), h - 1)


def _miss(step: SynthdeskStep, xy: Point) -> tuple[str, Literal["x", "y", "xy"] | None]:
    """Where a click at `xy` that missed `step`'s target landed (`SynthdeskScore.landed`) and which of its coordinates
    lie outside the target's box (`SynthdeskScore.off`; None inside it: a click of the wrong button or count)."""
    assert step.bbox is not None
    (x, y), (x1, y1, x2, y2) = _pixel(step, xy), step.bbox
    hit = next((w for w in reversed(step.widgets) if w.box[0] <= x < w.box[2] and w.box[1] <= y < w.box[3]), None)
    off_x, off_y = not x1 <= x < x2, not y1 <= y < y2
    return (hit.role if hit is not None and hit.interactive else "background",
            "xy" if off_x and off_y else "x" if off_x else "y" if off_y else None)


def _names(thought: str | None, label: str) -> bool:
    return thought is not None and re.search(rf"(?<!\w){re.escape(label)}(?!\w)", thought, re.IGNORECASE) is not None


def score_step(task: SynthdeskTask, step: SynthdeskStep, parsed: ParsedOutput | None, *,
               error: str | None = None) -> SynthdeskScore:
    """Score one step of `task`; `parsed` None = no prediction (`error` says why)."""
    status, error = status_of(parsed, error)
    predicted = pred_type(parsed)
    action = parsed.actions[0] if parsed is not None else None
    correct = parsed is not None and _right(step, parsed)
    click = step.action_type == "click" and step.label is not None and bool(step.widgets)
    landed, off = _miss(step, action.xy) if click and not correct and isinstance(action, Click) else (None, None)
    return SynthdeskScore(
        sample_id=step.sample_id, status=status, error=error, task_id=task.sample_id, task_kind=task.task_kind,
        template=task.template, step_idx=step.step_idx, gt_type=step.action_type, pred_type=predicted,
        type_ok=predicted == step.action_type, correct=correct,
        xy=action.xy if isinstance(action, Click) else None, box=step.bbox, look=step.look, memory=step.memory,
        chance=step.chance,
        crowd=sum(w.interactive for w in step.widgets) if click else None,
        named=_names(parsed.thought if parsed is not None else None, step.label or "") if click else None,
        landed=landed, off=off,
    )


def _block(rows: list[SynthdeskScore]) -> dict[str, Any]:
    tasks: dict[str, list[SynthdeskScore]] = {}
    for r in rows:
        tasks.setdefault(r.task_id, []).append(r)
    return {
        "steps": len(rows), "correct_steps": sum(r.correct for r in rows),
        "step_accuracy": mean(r.correct for r in rows), "type_accuracy": mean(r.type_ok for r in rows),
        "chance_step": mean(r.chance for r in rows),
        "tasks": len(tasks), "successful_tasks": sum(all(r.correct for r in t) for t in tasks.values()),
        "task_success": mean(all(r.correct for r in t) for t in tasks.values()),
        "chance_task": mean(math.prod(r.chance for r in t) for t in tasks.values()),
    }


def _groups(rows: list[SynthdeskScore], key: str | Callable[[SynthdeskScore], str]) -> dict[str, dict[str, Any]]:
    """`_block` of the rows by `key` (a field name or a function of the row), in key order."""
    name_of = key if callable(key) else (lambda r: str(getattr(r, key)))
    out: dict[str, list[SynthdeskScore]] = {}
    for r in rows:
        out.setdefault(name_of(r), []).append(r)
    return {k: _block(v) for k, v in sorted(out.items())}


CROWDS = ((12, "<= 12"), (18, "13-18"), (None, "> 18"))
"""Buckets of a screen's interactive widgets for `grounding_by_crowd`: (upper bound or None, name)."""


def _crowd(n: int) -> str:
    return next(name for bound, name in CROWDS if bound is None or n <= bound)


def _misses(rows: list[SynthdeskScore]) -> dict[str, Any]:
    """What the wrong steps of `rows` (click steps) did: no click (of those, how many did not parse), or a click,
    by what it `landed` on and by the coordinates it got wrong (`off`), and how many of those clicks had a Thought
    that named the target."""
    wrong = [r for r in rows if not r.correct]
    clicks = [r for r in wrong if r.landed is not None]
    return {"wrong": len(wrong), "not_a_click": len(wrong) - len(clicks),
            "unparsable": sum(r.status == "failed" for r in wrong), "clicks": len(clicks),
            "clicks_named": sum(bool(r.named) for r in clicks),
            "landed": dict(sorted(Counter(str(r.landed) for r in clicks).items())),
            "off": dict(sorted(Counter(r.off or "inside" for r in clicks).items()))}


def summarize(records: Iterable[SynthdeskScore | Mapping[str, Any]]) -> dict[str, Any]:
    """`{"counts", "compat", "fixed"}` (the two variants are equal): the overall block, `by_kind`, `by_template`,
    `by_action_type`, `memory` (the memory steps alone), `grounding_by_target` (the grounding steps by their
    target's look: which widgets a model misses) and `grounding_by_crowd` (by the screen's interactive widgets,
    `CROWDS`), each with accuracies and their chance levels; and `grounding_misses` (`_misses`: where the wrong
    grounding steps clicked)."""
    rows = read_records(SynthdeskScore, records)
    scored = [r for r in rows if r.status != "skipped"]
    counts = count_statuses(rows)
    grounding = [r for r in scored if r.task_kind == "grounding"]
    variant = {
        **_block(scored),
        "unparsable_rate": ratio(counts["failed"], counts["records"] - counts["skipped"]),
        "by_kind": _groups(scored, "task_kind"),
        "memory": _block([r for r in scored if r.memory]),
        "by_template": _groups(scored, "template"),
        "by_action_type": _groups(scored, "gt_type"),
        "grounding_by_target": _groups([r for r in grounding if r.look], "look"),
        "grounding_by_crowd": _groups([r for r in grounding if r.crowd is not None], lambda r: _crowd(r.crowd or 0)),
        "grounding_misses": _misses([r for r in grounding if r.crowd is not None]),
    }
    return {"counts": counts, "compat": variant, "fixed": variant}
