"""Executors without a display: the contract, dry-run and record executors, plug-in discovery, headless import.

The pyautogui executor's real input is tested on Xvfb in test_live_desktop.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from actions import (
    ACTION_TYPES,
    CallUser,
    Click,
    Drag,
    ExecutorNotFoundError,
    Finished,
    Hotkey,
    KeyDown,
    KeyUp,
    LongPress,
    Move,
    NotAnExecutorError,
    OpenApp,
    PressBack,
    PressHome,
    ScreenGeometry,
    Scroll,
    Select,
    Type,
    Wait,
)
from actions.executors import (
    DESKTOP_ACTIONS,
    ENTRY_POINT_GROUP,
    EXECUTORS,
    MOBILE_ACTIONS,
    WEB_ACTIONS,
    DryRunExecutor,
    ExecResult,
    Executor,
    PyAutoGUIExecutor,
    RecordExecutor,
    available_executors,
    describe,
    get_executor,
    input_points,
)
from actions.executors.pyautogui import WHEEL_DELTA, current_platform, platform_key
from actions.executors.text_input import KEY_TYPABLE, TextInput
from actions.render import to_pyautogui_code

FULL_HD = ScreenGeometry.for_screenshot(1920, 1080)
# A 2x screenshot of the second monitor, whose input origin is (1920, 0).
RETINA_RIGHT = ScreenGeometry.for_screenshot(2880, 1800, origin=(1920, 0), input_size=(1440, 900))

ALL_ACTIONS = [
    Click(xy=(0.5, 0.5)), Click(xy=(0.25, 0.75), button="right", clicks=2), Move(xy=(0.1, 0.2)),
    Drag(xy_start=(0.1, 0.1), xy_end=(0.9, 0.9)), Scroll(direction="down"), Scroll(direction="left", amount=2,
    xy=(0.5, 0.5)), Type(text="héllo wörld", submit=True), Hotkey(keys=("ctrl", "c")), KeyDown(key="shift"),
    KeyUp(key="shift"), Wait(), LongPress(xy=(0.5, 0.5)), OpenApp(app_name="Settings"), PressHome(), PressBack(),
    Finished(message="done"), CallUser(reason="login"), Select(xy=(0.5, 0.5), option="Economy"),
]
EXPECTED_STATUS = {"finished": "finished", "call_user": "call_user", **{t: "unsupported" for t in MOBILE_ACTIONS | WEB_ACTIONS}}


def test_every_action_type_is_covered_by_the_table() -> None:
    assert {a.type for a in ALL_ACTIONS} == ACTION_TYPES
    assert DESKTOP_ACTIONS | MOBILE_ACTIONS | WEB_ACTIONS == ACTION_TYPES
    assert not DESKTOP_ACTIONS & (MOBILE_ACTIONS | WEB_ACTIONS) and not MOBILE_ACTIONS & WEB_ACTIONS


# ---- the contract -------------------------------------------------------------------------------------------------

def test_exec_result_is_frozen_strict_and_round_trips_through_json() -> None:
    result = ExecResult(status="ok", xy_input=(960, 540), detail="d", description="left click at (960, 540)")
    assert ExecResult.model_validate_json(result.model_dump_json()) == result
    with pytest.raises(ValidationError):
        ExecResult(status="done")
    with pytest.raises(ValidationError):
        ExecResult(status="ok", extra=1)
    with pytest.raises(ValidationError):
        result.status = "error"  # type: ignore[misc]


@pytest.mark.parametrize("cls", [PyAutoGUIExecutor, DryRunExecutor, RecordExecutor])
def test_builtins_satisfy_the_protocol(cls: type) -> None:
    executor = cls()
    assert isinstance(executor, Executor)
    assert EXECUTORS[executor.name] is cls
    assert isinstance(cls.supports, frozenset) and cls.supports <= ACTION_TYPES


def test_input_points_use_the_monitor_origin_and_the_hidpi_ratio() -> None:
    assert input_points(Click(xy=(0.5, 0.5)), RETINA_RIGHT) == ((1920 + 720, 450), None)
    assert input_points(Drag(xy_start=(0, 0), xy_end=(1, 1)), RETINA_RIGHT) == ((1920, 0), (1920 + 1439, 899))
    assert input_points(Scroll(direction="up"), FULL_HD) == (None, None)
    assert input_points(Type(text="x"), FULL_HD) == (None, None)


@pytest.mark.parametrize("action,words", [
    (Click(xy=(0.5, 0.5), clicks=2), "left double click at (960, 540)"),
    (Drag(xy_start=(0, 0), xy_end=(0.5, 0.5), button="right"), "drag with the right button from (0, 0) to (960, 540)"),
    (Scroll(direction="down", amount=3, xy=(0.5, 0.5)), "scroll down 3 at (960, 540)"),
    (Type(text="hi\n", submit=True), "type 'hi\\n' and press Enter"),
    (Hotkey(keys=("ctrl", "shift", "t")), "press ctrl+shift+t"),
    (Wait(seconds=20), "wait 20 s"),
    (Finished(status="infeasible", message="no such file"), "finish (infeasible): no such file"),
])
def test_describe_says_what_happens_in_input_coordinates(action: object, words: str) -> None:
    assert describe(action, FULL_HD) == words  # type: ignore[arg-type]


# ---- pyautogui executor: everything that needs no display -----------------------------------------------------------

@pytest.mark.parametrize("action", [a for a in ALL_ACTIONS if a.type in MOBILE_ACTIONS], ids=lambda a: a.type)
def test_pyautogui_answers_phone_actions_with_unsupported(action: object) -> None:
    result = PyAutoGUIExecutor().execute(action, FULL_HD)  # type: ignore[arg-type]
    assert result.status == "unsupported" and "phone" in result.detail
    assert result.xy_input is None and result.description


def test_pyautogui_control_actions_need_no_display_and_never_sleep() -> None:
    executor = PyAutoGUIExecutor()
    assert executor.execute(Finished(message="the answer is 42"), FULL_HD) == ExecResult(
        status="finished", detail="the answer is 42", description="finish (success): the answer is 42")
    assert executor.execute(CallUser(reason="captcha"), FULL_HD).status == "call_user"
    wait = executor.execute(Wait(seconds=3600), FULL_HD)  # would hang the test if it slept
    assert wait.status == "ok" and "loop" in wait.detail


@pytest.mark.parametrize("kwargs", [{"text_input": "paste"}, {"drag_duration_s": -1}, {"wheel_delta": 0},
                                    {"paste_timeout_s": 0}])
def test_pyautogui_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PyAutoGUIExecutor(**kwargs)  # type: ignore[arg-type]


def test_platform_key_names() -> None:
    assert platform_key("win", "darwin") == "command"
    assert platform_key("win", "x11") == "win" and platform_key("win", "win32") == "win"
    assert platform_key("command", "win32") == "win" and platform_key("option", "x11") == "alt"
    assert platform_key("ctrl", "darwin") == "ctrl"  # ctrl stays ctrl: the model says which it means
    assert current_platform() == {"darwin": "darwin", "win32": "win32"}.get(sys.platform, "x11")
    assert WHEEL_DELTA == {"x11": 1, "darwin": 1, "win32": 120}


def test_text_input_settings_and_classification() -> None:
    with pytest.raises(ValueError, match="mode"):
        TextInput(mode="typewriter")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="platform"):
        TextInput(platform="wayland")  # type: ignore[arg-type]
    assert TextInput().enter("", pyautogui=sys) == "no text to type"  # touches nothing
    assert set("Hello, <World>!\n\t~") <= KEY_TYPABLE
    assert not {"é", "北", "😀", "\r"} & KEY_TYPABLE


def test_importing_the_package_needs_no_display(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import json, sys
        import actions, actions.executors as ex
        from actions import Click, Finished, ScreenGeometry
        geo = ScreenGeometry.for_screenshot(1920, 1080)
        out = {"dry": ex.get_executor("dry-run").execute(Click(xy=(0.5, 0.5)), geo).status,
               "finished": ex.get_executor("pyautogui").execute(Finished(), geo).status,
               "loaded": sorted(m for m in ("pyautogui", "torch", "transformers", "mss") if m in sys.modules)}
        try:
            ex.get_executor("pyautogui").execute(Click(xy=(0.5, 0.5)), geo)
        except RuntimeError as e:
            out["click"] = str(e)
        print(json.dumps(out))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY")}
    env["HOME"] = str(tmp_path)  # no ~/.Xauthority either
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["dry"] == "ok" and out["finished"] == "finished"
    assert out["loaded"] == []  # the failed click attempt leaves no half-imported pyautogui behind
    assert "DISPLAY" in out["click"] and "XAUTHORITY" in out["click"]


# ---- dry run and record -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ALL_ACTIONS, ids=lambda a: a.type)
def test_dry_run_answers_like_pyautogui_and_shows_the_code(action: object) -> None:
    result = DryRunExecutor().execute(action, RETINA_RIGHT)  # type: ignore[arg-type]
    assert result.status == EXPECTED_STATUS.get(action.type, "ok")  # type: ignore[attr-defined]
    assert result.description == describe(action, RETINA_RIGHT)  # type: ignore[arg-type]
    if result.status == "unsupported":
        assert result.xy_input is None and "phone" in result.detail
    else:
        assert (result.xy_input, result.xy_input_end) == input_points(action, RETINA_RIGHT)  # type: ignore[arg-type]
        assert result.detail == to_pyautogui_code([action], RETINA_RIGHT)  # type: ignore[list-item]


def test_dry_run_code_for_a_click_on_the_second_monitor() -> None:
    result = DryRunExecutor().execute(Click(xy=(0.5, 0.5)), RETINA_RIGHT)
    assert result.detail == "pyautogui.click(2640, 450, button='left')"
    assert result.xy_input == (2640, 450)


def test_record_keeps_every_action_with_its_geometry_in_order() -> None:
    recorder = RecordExecutor()
    results = [recorder.execute(a, FULL_HD if i % 2 else RETINA_RIGHT) for i, a in enumerate(ALL_ACTIONS)]
    assert recorder.actions == ALL_ACTIONS
    assert [g for _, g in recorder.calls] == [FULL_HD if i % 2 else RETINA_RIGHT for i in range(len(ALL_ACTIONS))]
    assert [r.status for r in results] == [
        {"finished": "finished", "call_user": "call_user"}.get(a.type, "ok") for a in ALL_ACTIONS]
    assert results[0].xy_input == RETINA_RIGHT.to_input((0.5, 0.5))


def test_record_subclass_with_fewer_types_answers_unsupported_and_records_nothing() -> None:
    class ClickOnly(RecordExecutor):
        supports = frozenset({"click"})

    recorder = ClickOnly()
    assert recorder.execute(Type(text="x"), FULL_HD).status == "unsupported"
    assert recorder.execute(Click(xy=(0, 0)), FULL_HD).status == "ok"
    assert recorder.actions == [Click(xy=(0, 0))]


# ---- discovery ----------------------------------------------------------------------------------------------------

PLUGIN = '''
from typing import ClassVar

from actions.executors import ExecResult


class EchoExecutor:
    name: ClassVar[str] = "echo"
    supports: ClassVar[frozenset[str]] = frozenset({"click", "finished"})

    def __init__(self, prefix: str = "echo") -> None:
        self.prefix = prefix

    def execute(self, action, geometry):
        if action.type == "click":
            return ExecResult(status="ok", xy_input=geometry.to_input(action.xy), detail=f"{self.prefix} click")
        if action.type == "finished":
            return ExecResult(status="finished")
        return ExecResult(status="unsupported", detail=action.type)


class NotAnExecutor:
    pass
'''
ENTRY_POINTS = f"""[{ENTRY_POINT_GROUP}]
echo = guikv_echo_plugin:EchoExecutor
record = guikv_echo_plugin:EchoExecutor
broken = guikv_echo_plugin:NotAnExecutor
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed plug-in distribution: a package plus a .dist-info with entry_points.txt, on sys.path."""
    (tmp_path / "guikv_echo_plugin.py").write_text(PLUGIN)
    (tmp_path / "guikv_echo_plugin_bad.py").write_text("import guikv_no_such_dependency\n")
    info = tmp_path / "guikv_echo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: guikv-echo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("guikv_echo_plugin", "guikv_echo_plugin_bad"):
        sys.modules.pop(name, None)


def test_builtin_names_build_their_executors_with_kwargs() -> None:
    assert list(available_executors())[:3] == ["pyautogui", "dry-run", "record"]
    assert available_executors()["dry-run"] == "actions.executors.dry_run:DryRunExecutor"
    assert isinstance(get_executor("dry-run"), DryRunExecutor)
    assert get_executor("pyautogui", text_input="clipboard", drag_duration_s=1.0) == PyAutoGUIExecutor(
        text_input="clipboard", drag_duration_s=1.0)
    with pytest.raises(TypeError):
        get_executor("record", speed=3)
    with pytest.raises(ValueError, match="spec"):
        get_executor("  ")


def test_entry_point_executor_is_found_and_used(plugin: Path) -> None:
    names = available_executors()
    assert names["echo"] == "guikv_echo_plugin:EchoExecutor"
    assert names["record"] == "actions.executors.record:RecordExecutor"  # built-ins win over entry points
    echo = get_executor("echo", prefix="hi")
    assert type(echo).__name__ == "EchoExecutor" and echo.name == "echo"
    assert echo.execute(Click(xy=(0.5, 0.5)), FULL_HD) == ExecResult(status="ok", xy_input=(960, 540),
                                                                      detail="hi click")
    assert echo.execute(Type(text="x"), FULL_HD).status == "unsupported"
    assert isinstance(get_executor("record"), RecordExecutor)


def test_module_colon_class_is_imported(plugin: Path) -> None:
    echo = get_executor("guikv_echo_plugin:EchoExecutor", prefix="direct")
    assert echo.execute(Click(xy=(0, 0)), FULL_HD).detail == "direct click"
    assert isinstance(get_executor("actions.executors.record:RecordExecutor"), RecordExecutor)


@pytest.mark.parametrize("spec,hint", [
    ("no-such-executor", "available: pyautogui, dry-run, record"),
    ("guikv_no_such_module:Executor", "no module named 'guikv_no_such_module'"),
    ("guikv_echo_plugin:MissingExecutor", "has no 'MissingExecutor'"),
    (":EchoExecutor", "available:"),
])
def test_unknown_names_raise_executor_not_found_listing_the_choices(plugin: Path, spec: str, hint: str) -> None:
    with pytest.raises(ExecutorNotFoundError) as info:
        get_executor(spec)
    assert hint in str(info.value) and "echo" in str(info.value)


@pytest.mark.parametrize("spec,words", [
    ("os:system", "calling system() failed"),
    ("json:JSONDecoder", "names the class JSONDecoder, which has no `execute` method"),
    ("json:dumps", "calling dumps() failed"),
])
def test_a_spec_naming_something_else_says_what_an_executor_must_provide(spec: str, words: str) -> None:
    with pytest.raises(NotAnExecutorError) as info:
        get_executor(spec)
    assert words in str(info.value) and "frozenset `supports`" in str(info.value)


def test_a_type_error_inside_a_factory_is_a_bug_not_a_bad_spec(plugin: Path) -> None:
    (plugin / "guikv_echo_plugin_typo.py").write_text(
        "class TypoExecutor:\n    name, supports = 'typo', frozenset()\n"
        "    def __init__(self):\n        len(3)\n    def execute(self, action, geometry):\n        pass\n")
    with pytest.raises(TypeError) as info:
        get_executor("guikv_echo_plugin_typo:TypoExecutor")
    assert not isinstance(info.value, NotAnExecutorError)
    sys.modules.pop("guikv_echo_plugin_typo", None)


def test_plugin_bugs_are_not_reported_as_unknown_names(plugin: Path) -> None:
    with pytest.raises(NotAnExecutorError, match="NotAnExecutor, which has no `execute`"):
        get_executor("broken")
    with pytest.raises(ModuleNotFoundError, match="guikv_no_such_dependency"):
        get_executor("guikv_echo_plugin_bad:Executor")
