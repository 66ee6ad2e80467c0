"""synthdesk task generation: gold replies that parse and replay to the goal, the shape of each task kind,
determinism down to the pixels, and held-out tasks that never equal training ones."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from actions.uitars import parse_uitars
from tasks.synthdesk import AppState, events_for, fingerprint, generate, split_of
from tasks.synthdesk.episodes import EPISODE_TEMPLATES, MEMORY_TEMPLATES, Episode
from tasks.synthdesk.widgets import box_contains
from paths import REPO_DIR

N = 40  # tasks per kind in the property tests
REPLY_CAP = 96  # eval.config.MAX_NEW_TOKENS["synthdesk"]: a byte tokenizer spends one token per character


def _tasks(split: str = "heldout", seed: int = 0, n: int = N) -> list[Episode]:
    return [generate(split, seed, i, kind) for kind in ("grounding", "episode", "memory") for i in range(n)]


def _replay(task: Episode) -> AppState:
    """Parse every gold reply as the model's would be and drive the app with it; check each screen on the way."""
    state = task.steps[0].state
    for step in task.steps:
        assert state == step.state, (task.instruction, step.reply)
        parsed = parse_uitars(step.reply, state.spec.size)
        (action,) = parsed.actions
        assert action.type == step.action
        if step.action == "click":
            assert step.target is not None
            x, y = action.xy[0] * state.spec.size[0], action.xy[1] * state.spec.size[1]
            assert box_contains(step.target.box, x, y)
        for event in events_for(action, state.spec.size):
            state = state.apply(event)
    return state


def test_gold_replies_parse_and_replay_to_the_goal() -> None:
    for task in _tasks():
        final = _replay(task)
        assert final == task.final
        if task.goal is not None:
            assert task.goal.met(final) and not task.goal.met(task.steps[0].state), task.instruction
        for step in task.steps:
            assert len(step.reply) <= REPLY_CAP and len(step.thought) <= 20
            assert 0 < step.chance <= 1


def test_task_kinds_have_their_shapes() -> None:
    templates: Counter[str] = Counter()
    for task in _tasks(n=60):
        templates[task.template] += 1
        kinds = [s.action for s in task.steps]
        assert len(task.instruction) <= 80
        if task.kind == "grounding":
            (step,) = task.steps
            assert step.target is not None and step.action == "click"
            assert task.instruction == f"click {step.target.label}"
            continue
        assert kinds[-1] == "finished" and "finished" not in kinds[:-1]
        memory = [i for i, s in enumerate(task.steps) if s.memory]
        if task.kind == "episode":
            assert 3 <= len(task.steps) <= 6 and not memory
            continue
        assert 4 <= len(task.steps) <= 6 and len(memory) == 1
        i = memory[0]
        assert 1 <= i <= 4  # the notice (screen 0) is among the last 5 screens at the memory step
        notice = task.steps[0].state.toast
        assert notice and all(s.state.toast == "" for s in task.steps[1:])
        answer = task.steps[i].text or task.steps[i].target.label  # type: ignore[union-attr]
        assert notice.endswith(f" {answer}")
        assert answer not in task.instruction
    assert set(templates) == {"grounding", *EPISODE_TEMPLATES, *MEMORY_TEMPLATES}


def _image_digest(task: Episode) -> str:
    h = hashlib.sha256()
    for step in task.steps:
        h.update(step.state.render().image.tobytes())
    return h.hexdigest()


_DIGEST_SCRIPT = """
import hashlib, json, sys
from tasks.synthdesk import generate
out = {}
for kind in ("grounding", "episode", "memory"):
    for i in range(4):
        task = generate("heldout", 7, i, kind)
        h = hashlib.sha256()
        for step in task.steps:
            h.update(step.state.render().image.tobytes())
        out[f"{kind}{i}"] = [task.instruction, h.hexdigest()]
print(json.dumps(out))
"""


def test_same_seed_same_pixels_in_another_process_with_another_hash_seed() -> None:
    here = {f"{kind}{i}": [generate("heldout", 7, i, kind).instruction, _image_digest(generate("heldout", 7, i, kind))]
            for kind in ("grounding", "episode", "memory") for i in range(4)}
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_DIR)}
    result = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT], env=env, capture_output=True, text=True,
                            timeout=120, check=True)
    assert json.loads(result.stdout) == here
    assert generate("heldout", 8, 0, "episode").instruction != generate("heldout", 7, 0, "episode").instruction


def test_heldout_tasks_never_equal_training_tasks() -> None:
    train = _tasks("train", seed=0, n=100)
    heldout = _tasks("heldout", seed=0, n=100) + _tasks("heldout", seed=1, n=30)
    assert {split_of(t) for t in train} == {"train"} and {split_of(t) for t in heldout} == {"heldout"}
    train_ids = {fingerprint(t) for t in train}
    assert not train_ids & {fingerprint(t) for t in heldout}
    train_pixels = {_image_digest(t) for t in train if t.kind == "grounding"}
    assert not train_pixels & {_image_digest(t) for t in heldout if t.kind == "grounding"}
    assert len({fingerprint(t) for t in heldout}) == len(heldout)  # no duplicates within a split either


@pytest.mark.parametrize("template", sorted(EPISODE_TEMPLATES))
def test_every_episode_template_generates(template: str) -> None:
    task = generate("heldout", 0, 0, "episode", template=template)
    assert task.template == template and _replay(task) == task.final



def test_a_first_screen_that_names_every_word_gets_no_distractor_notice(monkeypatch):
    """At density 1 a screen can use every vocabulary word: the distractor notice (drawn 30% of the time from the
    unused words) is then left out rather than raising IndexError (it stopped a training run past step 2000)."""
    import random as _random

    import tasks.synthdesk.episodes as episodes
    from tasks.synthdesk import training

    full = []
    start = episodes._start
    monkeypatch.setattr(episodes, "_start", lambda rng, spec, **kw: (
        full.append(spec) if not spec.unused else None, start(rng, spec, **kw))[1])
    training.episode(_random.Random("full118"), "grounding", density=1.0)
    assert full, "the draw no longer makes a screen that names every word"
    seed = next(i for i in range(100) if _random.Random(i).random() < 0.3)  # a roll that asks for a distractor
    assert start(_random.Random(seed), full[0]).toast == ""


@pytest.mark.parametrize("template", ["form", "form2", "menu_name", "search"])
def test_a_plan_that_types_a_free_word_does_not_fit_a_screen_that_names_every_word(template: str) -> None:
    """The words such plans type are drawn from those the screen does not show; when it shows every word (density 1
    can) the plan does not fit and the draw is redone, rather than raising IndexError (it stopped run ft2r at step
    633 of 700)."""
    import dataclasses
    import random as _random

    from tasks.synthdesk.spec import generate_spec
    from tasks.synthdesk.vocab import SCREEN_SIZES

    rng = _random.Random(0)
    needs, make = EPISODE_TEMPLATES[template](rng)
    spec = next(s for s in (generate_spec(rng, SCREEN_SIZES[-1], 1.0, needs) for _ in range(50)) if s is not None)
    assert make(spec) is not None
    assert make(dataclasses.replace(spec, unused=())) is None
