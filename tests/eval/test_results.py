"""results.jsonl and config.json: append-only rows, torn-line repair, config checks, shard partition and merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.config import (
    ConfigError, EvalConfig, RunKey, Shard, parse_budgets, parse_methods, parse_shard, shard_from_env,
)
from eval.results import (
    RESULTS_FILE, ResultRow, ResultsFile, StepResult, check_config, merge_rows, read_rows, write_config,
)


def _config(tmp_path: Path, **values) -> EvalConfig:
    return EvalConfig.build(benchmark="mind2web", data=tmp_path, images=tmp_path, model="tiny", env={}, **values)


def _row(sample_id: str, index: int, status: str = "ok", run: RunKey = RunKey(method="gui_kv", budget=10.0)
         ) -> ResultRow:
    step = StepResult(sample_id=sample_id, score={"sample_id": sample_id, "status": status})
    return ResultRow.build(run, "uitars", sample_id, index, [step], 0.5)


def test_rows_are_appended_one_line_each_and_read_back(tmp_path: Path) -> None:
    results = ResultsFile(tmp_path / RESULTS_FILE).open()
    rows = [_row("a", 0), _row("b", 1, "failed"), _row("c", 2, "skipped")]
    for row in rows:
        results.append(row)
    assert (tmp_path / RESULTS_FILE).read_text().count("\n") == 3
    assert read_rows(tmp_path) == rows and [r.status for r in rows] == ["ok", "failed", "skipped"]
    again = ResultsFile(tmp_path / RESULTS_FILE).open()
    assert again.rows == rows and again.done == {("gui_kv@10", "a"), ("gui_kv@10", "b"), ("gui_kv@10", "c")}


@pytest.mark.parametrize("tail", [b'{"run": "gui_kv@10", "meth', b'{"run": "gui_kv@1', b"\xe2\x82"])
def test_a_torn_last_line_is_cut_off_on_open(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / RESULTS_FILE
    results = ResultsFile(path).open()
    results.append(_row("a", 0))
    whole = path.read_bytes()
    path.write_bytes(whole + tail)
    assert read_rows(tmp_path) == [_row("a", 0)]  # reading ignores the torn line
    reopened = ResultsFile(path).open()
    assert path.read_bytes() == whole and reopened.rows == [_row("a", 0)]
    reopened.append(_row("b", 1))
    assert [r.sample_id for r in read_rows(tmp_path)] == ["a", "b"]


def test_line_separators_inside_replies_do_not_split_rows(tmp_path: Path) -> None:
    step = StepResult(sample_id="a", error="reply had \u2028 and \x85 and \x1c in it", score={"status": "failed"})
    row = ResultRow.build(RunKey(method="full", budget=None), "opencua", "a", 0, [step], 0.0)
    ResultsFile(tmp_path / RESULTS_FILE).open().append(row)
    assert ResultsFile(tmp_path / RESULTS_FILE).open().rows == [row] and read_rows(tmp_path) == [row]


def test_a_complete_but_invalid_last_line_is_cut_too(tmp_path: Path) -> None:
    path = tmp_path / RESULTS_FILE
    ResultsFile(path).open().append(_row("a", 0))
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"run": \n')
    assert ResultsFile(path).open().rows == [_row("a", 0)] and path.read_bytes() == whole


def test_a_corrupt_middle_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / RESULTS_FILE
    path.write_text(_row("a", 0).model_dump_json() + '\n{"x": 1}\n' + _row("b", 1).model_dump_json() + "\n")
    with pytest.raises(ConfigError, match="line 2 is not a result row"):
        ResultsFile(path).open()


def test_resume_refuses_a_different_config(tmp_path: Path) -> None:
    config = _config(tmp_path, budgets="1,3")
    write_config(tmp_path / "out", config)
    check_config(tmp_path / "out", config)
    with pytest.raises(ConfigError, match="budgets: saved \\[1.0, 3.0\\], now \\[1.0, 5.0\\]"):
        check_config(tmp_path / "out", _config(tmp_path, budgets="1,5"))


def test_runs_sweep_methods_and_budgets_with_full_once(tmp_path: Path) -> None:
    config = _config(tmp_path, methods="gui_kv,full,snapkv", budgets="1,2.5")
    assert [r.name for r in config.runs()] == ["gui_kv@1", "gui_kv@2.5", "full", "snapkv@1", "snapkv@2.5"]
    assert config.max_new_tokens == 500  # the reference's Mind2Web default


def test_parsing_flags() -> None:
    assert parse_budgets("1, 3,5") == (1.0, 3.0, 5.0) and parse_methods("gui_kv,full") == ("gui_kv", "full")
    assert parse_shard("1/4") == Shard(index=1, count=4)
    for bad, match in (("0", "outside \\(0, 100\\]"), ("101", "outside"), ("abc", "'abc' is not a number"),
                       ("", "'' is not a number"), ("5,,3", "is not a number")):
        with pytest.raises(ConfigError, match=match):
            parse_budgets(bad)
    for bad in ("2/2", "a/b", "1", "0/0", "-1/2"):
        with pytest.raises(ConfigError, match="expected I/N"):
            parse_shard(bad)
    with pytest.raises(ConfigError, match="unknown method 'h2o'"):
        parse_methods("gui_kv,h2o")


def test_shards_partition_positions_by_modulo() -> None:
    shards = [Shard(index=i, count=3) for i in range(3)]
    owners = [[s.index for s in shards if s.owns(p)] for p in range(10)]
    assert owners == [[p % 3] for p in range(10)]


def test_shard_from_launcher_environment() -> None:
    assert shard_from_env({}) is None and shard_from_env({"RANK": "0", "WORLD_SIZE": "1"}) is None
    assert shard_from_env({"RANK": "3", "WORLD_SIZE": "4"}) == Shard(index=3, count=4)
    assert shard_from_env({"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}) == Shard(index=1, count=2)
    with pytest.raises(ConfigError, match="RANK=4 is outside"):
        shard_from_env({"RANK": "4", "WORLD_SIZE": "4"})


def test_environment_variables_default_data_and_images(tmp_path: Path) -> None:
    env = {"MM_MIND2WEB_TEST": str(tmp_path / "d"), "MM_MIND2WEB_IMGS": str(tmp_path / "i")}
    config = EvalConfig.build(benchmark="mind2web", model="tiny", env=env)
    assert (config.data, config.images) == (tmp_path / "d", tmp_path / "i")
    assert EvalConfig.build(benchmark="mind2web", model="tiny", env=env, data=tmp_path).data == tmp_path
    with pytest.raises(ConfigError, match="ANDROIDCONTROL_TEST"):
        EvalConfig.build(benchmark="androidcontrol", model="tiny", env={})


def _shard_dir(tmp_path: Path, name: str, shard: str | None, rows: list[ResultRow], **values) -> Path:
    directory = tmp_path / name
    write_config(directory, _config(tmp_path, shard=shard, **values))
    results = ResultsFile(directory / RESULTS_FILE).open()
    for row in rows:
        results.append(row)
    return directory


def test_merge_combines_shards_and_checks_them(tmp_path: Path) -> None:
    a = _shard_dir(tmp_path, "a", "0/2", [_row("x", 0), _row("z", 2)])
    b = _shard_dir(tmp_path, "b", "1/2", [_row("y", 1)])
    config, rows = merge_rows([b, a])
    assert config.shard is None and sorted(r.sample_id for r in rows) == ["x", "y", "z"]
    with pytest.raises(ConfigError, match="shards 1/2 are missing"):
        merge_rows([a])
    with pytest.raises(ConfigError, match="shard indices repeat"):
        merge_rows([a, _shard_dir(tmp_path, "a2", "0/2", [])])
    with pytest.raises(ConfigError, match="differs .* in budgets"):
        merge_rows([a, _shard_dir(tmp_path, "c", "1/2", [], budgets="5")])
    with pytest.raises(ConfigError, match="duplicate result \\('gui_kv@10', 'x'\\)"):
        merge_rows([a, _shard_dir(tmp_path, "d", "1/2", [_row("x", 0)])])
    with pytest.raises(ConfigError, match="not parts of one I/N partition"):
        merge_rows([a, _shard_dir(tmp_path, "e", "1/3", [])])
