"""Fixtures shared by the gui-tiny training tests."""

from __future__ import annotations

import pytest

from agent.training.gui_tiny import build_gui_tiny


@pytest.fixture(scope="module")
def gui_tiny():
    return build_gui_tiny(0)
