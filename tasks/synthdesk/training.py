"""The fast training API: synthdesk tasks of the "train" split as frames, layouts and gold replies.

    from tasks.synthdesk import training
    s = training.sample(1234, "memory")          # deterministic: train split, seed 0, task 1234, a random step
    s = training.sample(random.Random(7))         # from your RNG: kind and step drawn too
    e = training.episode(1234, "episode")         # every step of one task (for teacher forcing a whole episode)

`sample(rng_or_index, kind=None, *, step=None, density=None, template=None, seed=0) -> TrainSample`:

* rng_or_index: an int i gives task i of the train split under `seed` (its kind `KINDS[i % 3]` unless given,
  its step drawn from a generator keyed by i), always the same sample; a `random.Random` draws the kind (unless
  given), the task and the step from it.
* kind: "grounding", "episode" or "memory". step: which step to train (default: uniform over the task's steps).
* density: screen busyness in [0, 1] for a curriculum (0 = few widgets, 1 = many); None draws it uniformly, as
  the held-out set does. template: force one task template (`tasks.synthdesk.episodes`).

A `TrainSample` holds everything of one step: `frames` (PIL RGB images of screens 0..step, the last one current;
at the screen size, which is the model-image size: 448x336, 504x364 or 420x308, 192 / 234 / 165 image tokens),
`layouts` (each frame's widgets: role, label, pixel box xyxy with exclusive ends, key, flags), `instruction`,
`prior_replies` (gold replies of the earlier steps), `reply` (the gold reply of this step), `action_type`,
`target_box` / `target_point` (click: the target's box and the clicked pixel, the centre of its middle cell),
`text` (type), `key` (hotkey), `memory` (the step needs a notice only an earlier frame shows), `step` and `n_steps`.
For dense supervision, `target_token` is the row-major index of the 28 px cell (image token after the 2 x 2 merge)
under `target_point`, `(y // 28) * (width // 28) + x // 28`, and `target_tokens` lists every cell inside
`target_box` (boxes are cell-aligned, so these cells show the target and nothing else).

`lit(rng, density=None) -> TrainEpisode` is a third: a grounding task of the train split whose screen is repainted with
half of its menu titles, list items and buttons (at least one) drawn inverted, whatever the app state says, and whose
target is, half the time, one of those. A probe of soup5 (shipped 2026-12-06 to 12-07) named the word on 0 of 86
cells of inverted menu titles and 3 of 69 of inverted list items (drawn normally: 94% and 89%; the inverted "OK" of
every dialog, one word seen in thousands of dialogs: 44 of 44): an inverted menu title or list item on a few screens
in a hundred, each word rarely, is too little to learn reading white on the accent colour, which a linear reader of
dark-on-light text gets backwards. A lit screen shows several. Its `TrainEpisode.plain_frames` holds the screen as
the state paints it, the lit widgets as they were: the same words drawn plainly, for the ``match`` loss.

`glance(rng, density=None) -> TrainEpisode` is a training aid, not a task of any split's kinds: the memory step of a
memory task alone, with its notice still on screen (one frame; kind "memory", template "<template>_glance"). It
teaches reading a word or code off the screen and writing it, which the memory steps need and nothing else trains.

`inverted(rng, density=None) -> TrainEpisode` is another: a grounding task of the train split whose target is drawn
in inverted colours (a white label on the accent colour): the title of the open menu, the selected list item or a
dialog's default button (`INVERTED_ROLES` when ``on``). Such targets are 2 to 5% of grounding tasks and the hardest
to click: the inverted look and the state ("its menu is open") are rare as targets.

`beside(rng, density=None) -> TrainEpisode` pairs with it: a grounding task on a screen with an inverted widget whose
target is, half the time, that widget and otherwise a widget within one cell of it (the list item above or below, the
next menu title, the open menu's first items). `inverted` alone teaches "the inverted widget is the target": inv3,
trained with one grounding example in 3 of them, landed on a menu title or list item at 32 of its misses of other
targets (of 900 held-out screens; the mean shipped then, at 4). The held-out misses of that mean were the opposite:
the episodes teach that an inverted widget is never the next click (an open menu's next gold is one of its items, a
selected item's is Delete). Half and half leaves the label alone to decide.

The conversation the model sees (and `python -m agent eval synthdesk` replays) is `agent.context.Transcript` in
incremental mode with `system=agent.prompts.synthdesk_system_prompt()` and
`prompt=agent.prompts.synthdesk_task_prompt(instruction)`: observe frame 0, record reply 0, observe frame 1, ...;
the target is the reply to the last frame. With N = 5 frames in context the runtime evicts frames older than the
last 5 from the KV cache (a task has at most 6 frames; no memory step depends on a frame that old).

Speed: `bench/synthdesk_speed.py` measures samples per second on one core.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from PIL import Image

from tasks.synthdesk.episodes import KINDS, ActionType, Episode, Kind, grounding_targets, grounding_task
from tasks.synthdesk.app import hit
from tasks.synthdesk.generate import MAX_ATTEMPTS, draw, generate, split_of
from tasks.synthdesk.render import paint
from tasks.synthdesk.vocab import CELL
from tasks.synthdesk.widgets import Box, Widget

__all__ = ["INVERTED_ROLES", "StepTarget", "TrainEpisode", "TrainSample", "beside", "episode", "from_task", "glance",
           "inverted", "lit", "sample"]

INVERTED_ROLES = ("menu", "listitem", "button")
"""The roles `tasks.synthdesk.render` draws inverted (white on the accent colour) when the widget is ``on``."""


@dataclass(frozen=True)
class StepTarget:
    """The gold of one step: reply, action type, and its argument (see the module docstring)."""

    reply: str
    action_type: ActionType
    target_box: Box | None = None
    target_point: tuple[int, int] | None = None
    text: str | None = None
    key: str | None = None
    memory: bool = False


@dataclass(frozen=True)
class TrainEpisode:
    """A whole task: frames[i] and layouts[i] are screen i, targets[i] its gold step."""

    kind: Kind
    template: str
    instruction: str
    frames: tuple[Image.Image, ...]
    layouts: tuple[tuple[Widget, ...], ...]
    targets: tuple[StepTarget, ...]
    plain_frames: tuple[Image.Image, ...] = ()  # `lit` tasks: the same screens painted as their state has them

    @property
    def replies(self) -> tuple[str, ...]:
        """The gold replies in order."""
        return tuple(t.reply for t in self.targets)


@dataclass(frozen=True)
class TrainSample:
    """One step of one task, with the screens up to it (see the module docstring)."""

    kind: Kind
    template: str
    instruction: str
    frames: tuple[Image.Image, ...]
    layouts: tuple[tuple[Widget, ...], ...]
    prior_replies: tuple[str, ...]
    reply: str
    action_type: ActionType
    target_box: Box | None
    target_point: tuple[int, int] | None
    text: str | None
    key: str | None
    memory: bool
    step: int
    n_steps: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames in pixels."""
        return self.frames[-1].size

    @property
    def target_token(self) -> int | None:
        """Click steps: the row-major index of the 28 px cell (image token) under `target_point`; else None."""
        if self.target_point is None:
            return None
        x, y = self.target_point
        return (y // CELL) * (self.size[0] // CELL) + x // CELL

    @property
    def target_tokens(self) -> tuple[int, ...]:
        """Click steps: the row-major indices of every 28 px cell inside `target_box` (the whole target); else ()."""
        if self.target_box is None:
            return ()
        x1, y1, x2, y2 = self.target_box
        cols = self.size[0] // CELL
        rows, columns = range(y1 // CELL, (y2 + CELL - 1) // CELL), range(x1 // CELL, (x2 + CELL - 1) // CELL)
        return tuple(r * cols + c for r in rows for c in columns)


def _task(rng_or_index: int | random.Random, kind: Kind | None, density: float | None, template: str | None,
          seed: int) -> tuple[Episode, random.Random]:
    if isinstance(rng_or_index, random.Random):
        rng = rng_or_index
        chosen = kind if kind is not None else rng.choice(KINDS)
        return draw(rng, chosen, "train", density=density, template=template), rng
    if isinstance(rng_or_index, bool) or not isinstance(rng_or_index, int) or rng_or_index < 0:
        raise TypeError(f"rng_or_index={rng_or_index!r} must be an int >= 0 or a random.Random")
    chosen = kind if kind is not None else KINDS[rng_or_index % len(KINDS)]
    task = generate("train", seed, rng_or_index, chosen, density=density, template=template)
    return task, random.Random(f"synthdesk-step|{seed}|{rng_or_index}|{chosen}")


def _target(task: Episode, i: int) -> StepTarget:
    s = task.steps[i]
    box = s.target.box if s.target is not None else None
    point = s.target.click_point if s.target is not None else None
    return StepTarget(s.reply, s.action, box, point, s.text if s.action == "type" else None, s.key or None,
                      s.memory)


def sample(rng_or_index: int | random.Random, kind: Kind | None = None, *, step: int | None = None,
           density: float | None = None, template: str | None = None, seed: int = 0) -> TrainSample:
    """One training step (module docstring). Only the frames up to `step` are rendered."""
    task, rng = _task(rng_or_index, kind, density, template, seed)
    n = len(task.steps)
    i = rng.randrange(n) if step is None else step
    if not 0 <= i < n:
        raise ValueError(f"step={step!r} is outside this task's {n} steps")
    screens = [task.steps[j].state.render() for j in range(i + 1)]
    t = _target(task, i)
    return TrainSample(
        kind=task.kind, template=task.template, instruction=task.instruction,
        frames=tuple(s.image for s in screens), layouts=tuple(s.widgets for s in screens),
        prior_replies=tuple(task.steps[j].reply for j in range(i)), reply=t.reply, action_type=t.action_type,
        target_box=t.target_box, target_point=t.target_point, text=t.text, key=t.key, memory=t.memory, step=i,
        n_steps=n,
    )


def episode(rng_or_index: int | random.Random, kind: Kind | None = None, *, density: float | None = None,
            template: str | None = None, seed: int = 0) -> TrainEpisode:
    """Every step of one training task (same task as `sample` with the same arguments)."""
    task, _ = _task(rng_or_index, kind, density, template, seed)
    return from_task(task)


def from_task(task: Episode) -> TrainEpisode:
    """Every step of any synthdesk task (e.g. a held-out one, for diagnostics) in the training form."""
    screens = [s.state.render() for s in task.steps]
    return TrainEpisode(kind=task.kind, template=task.template, instruction=task.instruction,
                        frames=tuple(s.image for s in screens), layouts=tuple(s.widgets for s in screens),
                        targets=tuple(_target(task, i) for i in range(len(task.steps))))


def inverted(rng: random.Random, *, density: float | None = None) -> TrainEpisode:
    """A grounding task whose target is drawn inverted, drawn from ``rng`` (train split)."""
    for _ in range(MAX_ATTEMPTS):
        task = draw(rng, "grounding", "train", density=density)
        target = task.steps[0].target
        if target is not None and target.on and target.role in INVERTED_ROLES:
            return from_task(task)
    raise RuntimeError(f"no grounding task with an inverted target in {MAX_ATTEMPTS} draws (density={density})")


def beside(rng: random.Random, *, density: float | None = None) -> TrainEpisode:
    """A grounding task of the train split on a screen with an inverted widget: the target is that widget or, half
    the time, a widget within one cell of it (module docstring), drawn from ``rng``."""
    for _ in range(MAX_ATTEMPTS):
        state = draw(rng, "grounding", "train", density=density).steps[0].state
        targets = grounding_targets(state.layout())
        lit = [w for w in targets if w.on and w.role in INVERTED_ROLES]  # drawn inverted
        if not lit:
            continue
        centre = rng.choice(lit)
        near = [w for w in targets if w is not centre and _gap(w.box, centre.box) <= CELL]
        if not near:
            continue
        task = grounding_task(state, rng.choice(near) if rng.random() < 0.5 else centre)
        if split_of(task) == "train":  # another target is another task: its own fingerprint
            return from_task(task)
    raise RuntimeError(f"no grounding screen with an inverted target and a neighbour in {MAX_ATTEMPTS} draws "
                       f"(density={density})")


def lit(rng: random.Random, *, density: float | None = None) -> TrainEpisode:
    """A grounding task of the train split on a screen repainted with half its menu titles, list items and buttons
    inverted; the target is one of them half the time (module docstring), drawn from ``rng``."""
    for _ in range(MAX_ATTEMPTS):
        state = draw(rng, "grounding", "train", density=density).steps[0].state
        layout = state.layout()
        targets = grounding_targets(layout)
        roles = [w for w in layout if w.role in INVERTED_ROLES and w.interactive and w.label]
        if not targets or not roles:
            continue
        lit_keys = {w.key for w in rng.sample(roles, max(1, len(roles) // 2))}
        shown = [w for w in targets if w.key in lit_keys]
        task = grounding_task(state, rng.choice(shown) if shown and rng.random() < 0.5 else rng.choice(targets))
        if split_of(task) != "train":  # another target is another task: its own fingerprint
            continue
        widgets = tuple(replace(w, on=True) if w.key in lit_keys else w for w in layout)
        return TrainEpisode(kind="grounding", template="grounding_lit", instruction=task.instruction,
                            frames=(paint(widgets, state.spec.size, state.spec.theme),), layouts=(widgets,),
                            targets=(_target(task, 0),),
                            plain_frames=(paint(layout, state.spec.size, state.spec.theme),))
    raise RuntimeError(f"no grounding screen with a menu title, list item or button in {MAX_ATTEMPTS} draws "
                       f"(density={density})")


def _gap(a: Box, b: Box) -> int:
    """Pixels between two boxes along the axis that separates them most (0 when they touch or overlap)."""
    return max(a[0] - b[2], b[0] - a[2], a[1] - b[3], b[1] - a[3], 0)


def glance(rng: random.Random, *, density: float | None = None) -> TrainEpisode:
    """A memory step shown with its notice (module docstring), drawn from ``rng`` (train split)."""
    for _ in range(MAX_ATTEMPTS):
        task = draw(rng, "memory", "train", density=density)
        i = next(j for j, s in enumerate(task.steps) if s.memory)
        step = task.steps[i]
        screen = replace(step.state, toast=task.steps[0].state.toast).render()
        if step.target is not None and getattr(hit(screen.widgets, *step.target.click_point), "key", None) \
                != step.target.key:
            continue  # the notice covers the target
        return TrainEpisode(kind="memory", template=f"{task.template}_glance", instruction=task.instruction,
                            frames=(screen.image,), layouts=(screen.widgets,), targets=(_target(task, i),))
    raise RuntimeError(f"no glance in {MAX_ATTEMPTS} memory tasks whose notice leaves the target visible")
