"""synthdesk: a procedural desktop benchmark for small GUI agents (issue 9).

Small, seeded screens that look like a desktop application (a menu bar with menus, a window with a title bar, a
list, icon buttons, text fields, checkboxes, buttons, a status bar; dialogs and notices), rendered with Pillow's
embedded font at 448x336, 504x364 or 420x308 pixels on a 28 px grid (one image token per cell). Three task kinds
(`tasks.synthdesk.episodes`): grounding ("click <label>"), episode (3-6 steps through the app, then `finished()`),
memory (a notice on the first screen decides a later step). Gold replies use the UI-TARS-1.5 grammar.

Modules, one concept each:
  vocab     the 60 label words, icons, screen sizes, fixed UI words
  widgets   `Widget` (role, label, box, key, flags) and `Screen` (image + widgets)
  fonts     Pillow's embedded font, cached widths and glyph masks
  spec      `AppSpec`, the static app, and its procedural generation
  app       `AppState`: layout(), render(), apply(event): the one code path for state
  render    painting widgets into an image
  episodes  task templates and gold steps (`Episode`, `GoldStep`)
  generate  seeded, split-disjoint generation (`generate(split, seed, index, kind)`)
  loader    the benchmark: `load(data, images, seed=..., size=...)` for `python -m agent eval synthdesk`
  training  the fast training API (`sample`, `episode`); its docstring documents the trainer's contract
  tkapp     the live Tk window showing `state.render()` 1:1 and feeding clicks and keys to `state.apply`

Nothing here scores (that is `eval.metrics.synthdesk`) and nothing imports torch.
"""

from __future__ import annotations

from tasks.synthdesk.app import AppState, Click, Dialog, Event, Goal, Key, TypeText, events_for
from tasks.synthdesk.episodes import (
    EPISODE_TEMPLATES, KINDS, MEMORY_TEMPLATES, ActionType, Episode, GoldStep, Kind,
)
from tasks.synthdesk.generate import SPLITS, Split, draw, fingerprint, generate, split_of
from tasks.synthdesk.loader import DEFAULT_SIZE, load
from tasks.synthdesk.spec import AppSpec
from tasks.synthdesk.training import StepTarget, TrainEpisode, TrainSample, episode, sample
from tasks.synthdesk.vocab import ICONS, SCREEN_SIZES, WORDS
from tasks.synthdesk.widgets import Box, Role, Screen, Widget

__all__ = [
    "ActionType", "AppSpec", "AppState", "Box", "Click", "DEFAULT_SIZE", "Dialog", "EPISODE_TEMPLATES", "Episode",
    "Event", "Goal", "GoldStep", "ICONS", "KINDS", "Key", "Kind", "MEMORY_TEMPLATES", "Role", "SCREEN_SIZES",
    "SPLITS", "Screen", "Split", "StepTarget", "TrainEpisode", "TrainSample", "TypeText", "WORDS", "Widget", "draw",
    "episode", "events_for", "fingerprint", "generate", "load", "sample", "split_of",
]
