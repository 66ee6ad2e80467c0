"""pyautogui's fail-safe, told apart from the agent's own pointer moves.

pyautogui raises `FailSafeException` when the pointer sits in a screen corner (`pyautogui.FAILSAFE_POINTS`) as one of
its functions starts or clicks: the emergency stop of a person at the machine, who slams the mouse into a corner.
Corners are also real targets (hot-corner menus, a Start button), and a model that clicks one must not stop its own
run: neither during that click nor at its next action, which begins with the pointer where the agent left it.

`FailSafeGuard` remembers where the executor put the pointer. Around each action it
- raises `FailSafeException` at once when the pointer is in a corner the agent did not put it in (the person's stop);
- disarms, for that action only, the corners the action moves to and the corner the agent left the pointer in, and
  keeps every other corner armed, so a person slamming the pointer into another corner during a drag still stops it.
A corner the agent left the pointer in stops nothing until the pointer leaves it: a person who wants to stop the run
then uses any other corner.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

__all__ = ["FailSafeGuard"]

_Point = tuple[int, int]


@dataclass
class FailSafeGuard:
    """Where the executor last put the pointer (`agent_xy`, input coordinates; None before its first move), and the
    fail-safe check around each action (module docstring)."""

    agent_xy: _Point | None = None

    @contextmanager
    def around(self, pyautogui: ModuleType, targets: Sequence[_Point]) -> Iterator[None]:
        """Check for a person's stop, then run the block with the agent's own corners disarmed. `targets`: the points
        the action moves the pointer to, in order (empty for keyboard actions and scrolls without a point)."""
        corners = {(int(x), int(y)) for x, y in pyautogui.FAILSAFE_POINTS}
        if pyautogui.FAILSAFE:
            x, y = pyautogui.position()
            if (int(x), int(y)) in corners and (int(x), int(y)) != self.agent_xy:
                raise pyautogui.FailSafeException(
                    f"the pointer was moved into the screen corner ({x}, {y}), where the agent did not put it")
        ours = {*targets, self.agent_xy}
        armed = pyautogui.FAILSAFE_POINTS
        setattr(pyautogui, "FAILSAFE_POINTS", [p for p in armed if (int(p[0]), int(p[1])) not in ours])
        try:
            yield
        finally:
            setattr(pyautogui, "FAILSAFE_POINTS", armed)
        if targets:
            self.agent_xy = targets[-1]
