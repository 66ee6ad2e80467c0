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
from collections.abc import Iterable, Mapping
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
        w, h = step.image_size
        x, y = min(round(action.xy[0] * w), w - 1), min(round(action.xy[1] * h), h - 1)
        x1, y1, x2, y2 = step.bbox
        return x1 <= x < x2 and y1 <= y < y2
    if step.action_type == "type" and isinstance(action, Type):
        return action.text == step.text and not action.submit
    if step.action_type == "hotkey" and isinstance(action, Hotkey):
        return {normalize_key(k) for k in action.keys} == {normalize_key(step.key or "")}
    return step.action_type == "finished" and isinstance(action, Finished)


def score_step(task: SynthdeskTask, step: SynthdeskStep, parsed: ParsedOutput | None, *,
               error: str | None = None) -> SynthdeskScore:
    """Score one step of `task`; `parsed` None = no prediction (`error` says why)."""
    status, error = status_of(parsed, error)
    predicted = pred_type(parsed)
    action = parsed.actions[0] if parsed is not None else None
    return SynthdeskScore(
        sample_id=step.sample_id, status=status, error=error, task_id=task.sample_id, task_kind=task.task_kind,
        template=task.template, step_idx=step.step_idx, gt_type=step.action_type, pred_type=predicted,
        type_ok=predicted == step.action_type, correct=parsed is not None and _right(step, parsed),
        xy=action.xy if isinstance(action, Click) else None, box=step.bbox, look=step.look, memory=step.memory,
        chance=step.chance,
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


def _groups(rows: list[SynthdeskScore], key: str) -> dict[str, dict[str, Any]]:
    out: dict[str, list[SynthdeskScore]] = {}
    for r in rows:
        out.setdefault(str(getattr(r, key)), []).append(r)
    return {k: _block(v) for k, v in sorted(out.items())}


def summarize(records: Iterable[SynthdeskScore | Mapping[str, Any]]) -> dict[str, Any]:
    """`{"counts", "compat", "fixed"}` (the two variants are equal): the overall block, `by_kind`, `by_template`,
    `by_action_type`, `memory` (the memory steps alone) and `grounding_by_target` (the grounding steps by their
    target's look: which widgets a model misses), each with accuracies and their chance levels."""
    rows = read_records(SynthdeskScore, records)
    scored = [r for r in rows if r.status != "skipped"]
    counts = count_statuses(rows)
    variant = {
        **_block(scored),
        "unparsable_rate": ratio(counts["failed"], counts["records"] - counts["skipped"]),
        "by_kind": _groups(scored, "task_kind"),
        "memory": _block([r for r in scored if r.memory]),
        "by_template": _groups(scored, "template"),
        "by_action_type": _groups(scored, "gt_type"),
        "grounding_by_target": _groups([r for r in scored if r.task_kind == "grounding" and r.look], "look"),
    }
    return {"counts": counts, "compat": variant, "fixed": variant}
