"""parse_uitars: the golden corpus (spec-actions.md §1.7 plus extras), error reporting, arguments, render_uitars."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from corpus_uitars import _UNSET, CASES, TABLE, W, H, UitarsCase, px

from actions.errors import ActionParseError
from actions.schema import (
    CallUser,
    Click,
    Drag,
    Finished,
    Hotkey,
    KeyDown,
    KeyUp,
    LongPress,
    Move,
    OpenApp,
    PressBack,
    PressHome,
    Scroll,
    Type,
    Wait,
)
from actions.uitars import parse_uitars, render_uitars

ACTIONS_DIR = Path(__file__).resolve().parents[2] / "actions"


def _parse(case: UitarsCase):  # type: ignore[no-untyped-def]
    return parse_uitars(case.text, case.image_size, case.coordinates, clamp=case.clamp)


def test_corpus_covers_the_whole_table_and_enough_cases() -> None:
    assert [c.id for c in TABLE] == [f"t{i:02d}" for i in range(1, 53)]
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    for case in CASES:
        assert (case.error is None) == bool(case.expect), case.id


@pytest.mark.parametrize("case", [c for c in CASES if c.error is None], ids=lambda c: c.id)
def test_corpus_parses_to_the_written_actions(case: UitarsCase) -> None:
    out = _parse(case)
    assert out.actions == case.expect
    assert out.raw == case.text
    for field in ("thought", "reflection", "summary"):
        want = getattr(case, field)
        if want != _UNSET:
            assert getattr(out, field) == want, field


@pytest.mark.parametrize("case", [c for c in CASES if c.error is not None], ids=lambda c: c.id)
def test_corpus_rejections_name_the_reason(case: UitarsCase) -> None:
    with pytest.raises(ActionParseError) as info:
        _parse(case)
    assert case.error in info.value.reason
    assert info.value.text == case.text
    assert info.value.position is None or 0 <= info.value.position <= len(case.text)


@pytest.mark.parametrize("case", [c for c in CASES if c.error is None], ids=lambda c: c.id)
def test_every_source_is_a_slice_of_the_reply(case: UitarsCase) -> None:
    for action in _parse(case).actions:
        assert action.source and action.source in case.text


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("Thought: x\nAction: hotkey(key='ctrl', 'c')", "'c'"),
        ("Thought: x\nAction: click(start_box='(2500,1500)')", "(2500"),
        ("Thought: x\nAction: click(start_box='(1,2)', foo='bar')", "bar"),
        ("Thought: x\nAction: click here", "here"),
        ("Thought: x\nAction: click(start_box='(1,2)' start_box='(1,2)')", "start_box='(1,2)')"),
    ],
)
def test_error_position_points_at_the_fault(text: str, fault: str) -> None:
    with pytest.raises(ActionParseError) as info:
        parse_uitars(text, (W, H))
    assert info.value.position == text.rindex(fault)


def test_think_blocks_keep_error_offsets_of_the_original_text() -> None:
    text = "<think>plan</think>\nThought: x\nAction: click(start_box='')"
    with pytest.raises(ActionParseError) as info:
        parse_uitars(text, (W, H))
    assert info.value.text == text
    assert info.value.position == text.rindex("')")


def test_relative1000_ignores_the_image_size() -> None:
    out = parse_uitars("Action: click(start_box='(235,512)')", (1, 1), "relative1000")
    assert out.actions == (Click(xy=(0.235, 0.512), source="click(start_box='(235,512)')"),)


def test_clamp_moves_each_axis_to_the_nearest_edge() -> None:
    out = parse_uitars("Action: drag(start_box='(-10,500)', end_box='(2000,-3)')", (W, H), clamp=True)
    assert out.actions[0] == Drag(xy_start=(0.0, 500 / H), xy_end=(1.0, 0.0), source=out.actions[0].source)


def test_an_off_image_point_is_explained_in_words_for_the_user_and_the_model() -> None:
    with pytest.raises(ActionParseError) as info:
        parse_uitars("Action: click(start_box='(2500,500)')", (W, H))
    assert info.value.reason == f"point '(2500,500)' in 'start_box' lies outside the image (x in [0, {W}], y in [0, {H}])"
    assert "clamp" not in str(info.value)  # a Python argument means nothing on the command line or to a model


def test_box_centre_is_used_even_when_a_corner_is_off_image() -> None:
    out = parse_uitars("Action: click(start_box='(1900,1000,1960,1080)')", (W, H))
    assert out.actions[0].xy == px(1930, 1040)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("image_size", "coordinates"),
    [((0, 1092), "absolute"), ((1932,), "absolute"), (None, "absolute"), ((W, H), "pixels"), ((True, 5), "absolute")],
)
def test_bad_arguments_are_value_errors(image_size, coordinates) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as info:
        parse_uitars("Action: wait()", image_size, coordinates)
    assert not isinstance(info.value, ActionParseError)


def test_text_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        parse_uitars(b"Action: wait()", (W, H))  # type: ignore[arg-type]


FORBIDDEN = re.compile(r"(?<![\w.])(eval|exec|compile)\s*\(|literal_eval|^\s*import ast|^\s*from ast", re.M)


def test_parser_modules_never_evaluate_model_text() -> None:
    paths = sorted(ACTIONS_DIR.glob("uitars*.py"))
    assert len(paths) >= 3
    for path in paths:
        assert not FORBIDDEN.search(path.read_text(encoding="utf-8")), path


def test_importing_the_parser_pulls_in_no_torch() -> None:
    code = "import sys, actions.uitars; sys.exit('torch' in sys.modules or 'transformers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- render_uitars ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "text"),
    [
        (Click(xy=(0.5, 0.5)), "click(start_box='(966,546)')"),
        (Click(xy=px(120, 340), clicks=2), "left_double(start_box='(120,340)')"),
        (Click(xy=px(120, 340), clicks=3), "triple_click(start_box='(120,340)')"),
        (Click(xy=px(500, 500), button="right"), "right_single(start_box='(500,500)')"),
        (Move(xy=px(300, 300)), "hover(start_box='(300,300)')"),
        (Drag(xy_start=px(100, 200), xy_end=px(400, 200)), "drag(start_box='(100,200)', end_box='(400,200)')"),
        (Scroll(direction="down", xy=px(960, 540)), "scroll(start_box='(960,540)', direction='down')"),
        (Scroll(direction="left"), "scroll(direction='left')"),
        (Type(text="It's \"a\"\\b\nc", submit=True), "type(content='It\\'s \"a\"\\\\b\\nc\\n')"),
        (Hotkey(keys=("ctrl", "shift", "t")), "hotkey(key='ctrl shift t')"),
        (KeyDown(key="ctrl"), "press(key='ctrl')"),
        (KeyUp(key="ctrl"), "release(key='ctrl')"),
        (Wait(), "wait()"),
        (Finished(message="The price is $5.\nBye"), "finished(content='The price is $5.\\nBye')"),
        (Finished(), "finished()"),
        (CallUser(), "call_user()"),
        (CallUser(reason="log in"), "call_user(content='log in')"),
        (LongPress(xy=px(500, 600)), "long_press(start_box='(500,600)')"),
        (OpenApp(app_name="Settings"), "open_app(app_name='Settings')"),
        (PressHome(), "press_home()"),
        (PressBack(), "press_back()"),
    ],
)
def test_render_writes_the_canonical_call(action, text: str) -> None:  # type: ignore[no-untyped-def]
    assert render_uitars(action, (W, H)) == text
    assert parse_uitars(f"Action: {text}", (W, H)).actions == (action.model_copy(update={"source": text}),)


def test_render_relative1000_uses_the_thousand_grid() -> None:
    assert render_uitars(Click(xy=(0.235, 0.512)), (W, H), "relative1000") == "click(start_box='(235,512)')"


@pytest.mark.parametrize(
    "action", [Click(xy=(0.5, 0.5), button="middle"), Click(xy=(0.5, 0.5), button="right", clicks=2),
               Type(text="abc\n")],
)
def test_render_refuses_what_the_grammar_cannot_say(action) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        render_uitars(action, (W, H))


@pytest.mark.parametrize("case", [c for c in CASES if c.error is None and c.coordinates == "absolute"],
                         ids=lambda c: c.id)
def test_corpus_actions_survive_render_then_parse(case: UitarsCase) -> None:
    for action in case.expect:
        text = render_uitars(action, case.image_size)
        back = parse_uitars(f"Action: {text}", case.image_size).actions
        assert len(back) == 1
        want = action.model_copy(update={"source": text})
        if isinstance(action, LongPress):
            want = want.model_copy(update={"seconds": 1.0})
        assert back[0].model_dump(exclude={"xy", "xy_start", "xy_end"}) == want.model_dump(
            exclude={"xy", "xy_start", "xy_end"})
        for name in ("xy", "xy_start", "xy_end"):
            got, exp = getattr(back[0], name, None), getattr(want, name, None)
            if exp is None:
                assert got is None
            else:  # rendering rounds to whole pixels
                assert abs(got[0] - exp[0]) <= 0.5 / case.image_size[0] + 1e-12
                assert abs(got[1] - exp[1]) <= 0.5 / case.image_size[1] + 1e-12
