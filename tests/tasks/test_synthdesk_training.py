"""The training API of synthdesk: what a TrainSample / TrainEpisode holds, and that it is reproducible."""

from __future__ import annotations

import random

import pytest

from actions.uitars import parse_uitars
from tasks.synthdesk import training
from tasks.synthdesk.generate import generate
from tasks.synthdesk.widgets import box_contains


@pytest.mark.parametrize("kind", ["grounding", "episode", "memory"])
def test_sample_holds_frames_layouts_and_the_gold_of_one_step(kind: str) -> None:
    for index in range(6):
        s = training.sample(index, kind)  # type: ignore[arg-type]
        assert s.kind == kind and 0 <= s.step < s.n_steps
        assert len(s.frames) == len(s.layouts) == s.step + 1 == len(s.prior_replies) + 1
        assert all(f.size == s.size and f.mode == "RGB" for f in s.frames)
        (action,) = parse_uitars(s.reply, s.size).actions
        assert action.type == s.action_type
        if s.action_type == "click":
            assert s.target_box is not None and s.target_point is not None
            assert box_contains(s.target_box, *s.target_point)
            assert any(w.box == s.target_box and w.interactive for w in s.layouts[-1])
            x1, y1, x2, y2 = s.target_box
            assert s.target_token in s.target_tokens
            assert len(s.target_tokens) == (x2 - x1) * (y2 - y1) // 28 ** 2  # cell-aligned
        else:
            assert s.target_token is None and s.target_tokens == ()
        assert (s.text is not None) == (s.action_type == "type")


def test_sample_by_index_is_reproducible_and_matches_the_episode() -> None:
    a, b = training.sample(17, "memory", step=2), training.sample(17, "memory", step=2)
    assert a.reply == b.reply and [f.tobytes() for f in a.frames] == [f.tobytes() for f in b.frames]
    e = training.episode(17, "memory")
    assert e.replies[:3] == (*a.prior_replies, a.reply)
    assert e.frames[2].tobytes() == a.frames[-1].tobytes()
    assert e.instruction == generate("train", 0, 17, "memory").instruction


def test_sample_from_an_rng_draws_kinds_and_respects_density_and_template() -> None:
    rng = random.Random(3)
    kinds = {training.sample(rng).kind for _ in range(30)}
    assert kinds == {"grounding", "episode", "memory"}
    sparse = training.sample(random.Random(1), "episode", density=0.0, template="search")
    assert sparse.template == "search" and sparse.instruction.startswith("search for ")
    with pytest.raises(ValueError, match="outside"):
        training.sample(0, "grounding", step=1)
    with pytest.raises(TypeError):
        training.sample(-1)


def test_synthdesk_imports_no_torch_no_agent_no_tk() -> None:
    import subprocess
    import sys

    from paths import REPO_DIR

    code = ("import sys, tasks.synthdesk, tasks.synthdesk.training, tasks.synthdesk.tkapp; "
            "print(sorted({m.split('.')[0] for m in sys.modules} "
            "& {'torch', 'transformers', 'agent', 'eval', 'tkinter', 'compression'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_DIR, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
