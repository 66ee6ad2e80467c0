"""Shared pytest fixtures.

Tiny models (`agent.models.tiny`): session-scoped, seed 0, sdpa attention, fp32 on CPU. They are shared, so a test
must not change their weights or leave hooks on them; build a private copy with `build_tiny_*(...)` if it needs to.
Imports happen inside the fixtures so tests that do not use them never import torch or transformers.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_uitars():
    """Tiny UI-TARS bundle (`agent.models.tiny.TinyBundle`, family "uitars")."""
    from agent.models.tiny import build_tiny_uitars

    return build_tiny_uitars(seed=0, attn_implementation="sdpa")


@pytest.fixture(scope="session")
def tiny_opencua():
    """Tiny OpenCUA bundle (`agent.models.tiny.TinyBundle`, family "opencua")."""
    from agent.models.tiny import build_tiny_opencua

    return build_tiny_opencua(seed=0, attn_implementation="sdpa")


@pytest.fixture(scope="session")
def desktop():
    """A real X display for the whole session (`desktop.XDisplay`): Xvfb 1920x1080x24 on a free display number,
    with DISPLAY and XAUTHORITY (an empty file) set while it runs. Fails when Xvfb is not installed: the desktop
    tests are part of CI (`.ci/run` installs xvfb), never silently skipped.

    Session-scoped because pyautogui binds to the display it first sees and keeps it; for another size, use
    `desktop.xvfb(size)` in a subprocess. Open windows with `desktop.probe_app(display)`.
    """
    from desktop import have_xvfb, xvfb

    if not have_xvfb():
        pytest.fail("Xvfb is not installed (Debian: apt-get install xvfb python3-tk xdotool xclip)")
    with xvfb() as display:
        yield display


@pytest.fixture(scope="session")
def tiny_uitars_dir(tmp_path_factory):
    """The tiny UI-TARS model (seed 0) saved to a folder, as a user's model directory would be."""
    from agent.models.tiny import build_tiny_uitars

    return build_tiny_uitars(seed=0).save(tmp_path_factory.mktemp("tiny-uitars"))


@pytest.fixture(scope="session")
def tiny_server(tiny_uitars_dir):
    """`python -m agent serve` of `tiny_uitars_dir` in its own process (`serving.Server`), served as "tiny-ui-tars"
    with GUI-KV at 20% and 3 screenshots per conversation."""
    from serving import served

    with served(str(tiny_uitars_dir), "--served-model-name", "tiny-ui-tars", "--method", "gui_kv", "--budget", "20",
                "--frames", "3") as server:
        yield server


@pytest.fixture(scope="session")
def gui_tiny_export(tmp_path_factory):
    """An exported gui-tiny with random weights (seed 0): (the checkpoint dict, the checkpoint path, the exported
    directory). No weights are committed: the export happens here, in a temporary directory."""
    import torch

    from agent.training.export import export_gui_tiny
    from agent.training.gui_tiny import build_gui_tiny

    root = tmp_path_factory.mktemp("gui_tiny")
    state = {"model": build_gui_tiny(0).model.state_dict(), "step": 40, "elapsed_s": 600.0,
             "config": {"out": "runs/gui-tiny", "steps": "900", "batch": "8", "lr": "0.002", "seed": "0",
                        "threads": "2"}}
    checkpoint = root / "checkpoint.pt"
    torch.save(state, checkpoint)
    directory = export_gui_tiny(checkpoint, root / "gui_tiny",
                                card_facts={"figures": {"grounding, click inside the box": "0.0% (random weights)"}})
    return state, checkpoint, directory
