"""Sweeps: method specs with options, frames and token-cap axes, fidelity against the full cache (exactly 1 and 0
for full itself, one shared reference pass per sample), --max-tokens through the runner, the report's tables and the
plots (and their absence without matplotlib)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _replay import read_rows, replay, write_script

import eval.runner
from agent.cli import main
from eval.config import ConfigError, EvalConfig, parse_methods
from eval.fidelity import FanOutEngine
from eval.method_spec import build_method, parse_method, with_option
from eval.results import FidelityRecord
from eval.runner import write_summary

SEED = 3


def test_method_specs_parse_to_a_canonical_spelling() -> None:
    assert parse_methods("full, gui_kv( alpha = 0 ,temporal=False ),recency(decay=0.25)") == (
        "full", "gui_kv(alpha=0,temporal=false)", "recency(decay=0.25)")
    assert str(parse_method("gui_kv(temporal_basis='principal', saliency_source=residual)")) == (
        "gui_kv(temporal_basis=principal,saliency_source=residual)")
    with pytest.raises(ConfigError, match="unbalanced parenthesis"):
        parse_methods("full,gui_kv(alpha=0")
    assert parse_method("gui_kv(alpha=2.0)") == parse_method("gui_kv(alpha=2)").model_copy(
        update={"options": (("alpha", 2.0),)})


def test_with_option_adds_an_option_unless_the_spec_sets_it() -> None:
    assert with_option("snapkv", "keep_text", True) == "snapkv(keep_text=true)"
    assert with_option("gui_kv( alpha=0 )", "keep_text", True) == "gui_kv(alpha=0,keep_text=true)"
    assert with_option("gui_kv(keep_text=False)", "keep_text", True) == "gui_kv(keep_text=false)"
    with pytest.raises(ConfigError, match="unknown method"):
        with_option("snap", "keep_text", True)


@pytest.mark.parametrize(("spec", "message"), [
    ("gui_kv(alpah=0)", "unknown option 'alpah' of gui_kv; its options: alpha,"),
    ("gui_kv(alpha=high)", "alpha takes a float, got high"),
    ("gui_kv(temporal_basis=second)", "temporal_basis=second is not one of first, principal"),
    ("gui_kv(budget=5)", "budget is not a method option (set it with --budget)"),
    ("gui_kv(temperature=0)", "temperature must be > 0"),
    ("gui_kv(alpha=0", "expected NAME or NAME(key=value, ...)"),
    ("gui_kv(alpha)", "'alpha' is not key=value"),
    ("gui_kv(alpha=1,alpha=2)", "option 'alpha' is given twice"),
    ("h2o", "unknown method 'h2o'"),
    ("gui_kv(alpha=__import__('os'))", "cannot read the value"),
])
def test_bad_method_specs_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_method(spec, 10.0)
    assert message in str(info.value)


def test_each_ablation_builds_the_method_it_names() -> None:
    assert build_method("gui_kv(alpha=0)", 10).alpha == 0.0
    assert build_method("gui_kv(temporal=false)", 10).temporal is False
    assert build_method("gui_kv(temporal_basis=principal)", 10).temporal_basis == "principal"
    assert build_method("gui_kv(saliency_source=residual)", 10).hidden_states_source == "residual"
    capped = build_method("full", None, 300)
    assert (capped.budget, capped.max_tokens) == (None, 300)


def test_unknown_option_on_the_command_line_exits_2_before_anything_runs(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "synthdesk", "--model", "tiny", "--limit", "1", "--method", "full,gui_kv(alpah=0)",
                 "--images", str(tmp_path / "img"), "--out", str(tmp_path / "out"), "-q"]) == 2
    assert "unknown option 'alpah' of gui_kv" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_runs_sweep_frames_and_caps() -> None:
    config = EvalConfig.build(benchmark="synthdesk", model="tiny", methods="full,gui_kv(alpha=0)", budgets="5,10",
                              frames="2,4")
    assert [r.name for r in config.runs()] == ["full/f2", "gui_kv(alpha=0)@5/f2", "gui_kv(alpha=0)@10/f2", "full/f4",
                                               "gui_kv(alpha=0)@5/f4", "gui_kv(alpha=0)@10/f4"]
    capped = EvalConfig.build(benchmark="synthdesk", model="tiny", methods="full,recency", max_tokens="300,600")
    assert [r.name for r in capped.runs()] == ["full@300tok", "full@600tok", "recency@300tok", "recency@600tok"]
    assert capped.budgets == () and capped.frames_of(capped.runs()[0]) == 5
    with pytest.raises(ConfigError, match="alternatives"):
        EvalConfig.build(benchmark="synthdesk", model="tiny", budgets="10", max_tokens="300")
    with pytest.raises(ConfigError, match="needs a model loaded in this process"):
        EvalConfig.build(benchmark="synthdesk", model="script:x", fidelity=True)


def test_fidelity_of_full_against_full_is_exactly_one_and_zero(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    references: list[FanOutEngine] = []

    class Counting(FanOutEngine):
        def __post_init__(self) -> None:
            super().__post_init__()
            references.append(self)

    monkeypatch.setattr(eval.runner, "FanOutEngine", Counting)
    summary, rows = replay(tmp_path / "out", benchmark="synthdesk", images=tmp_path / "img", seed=SEED, limit=2,
                           model="tiny", methods=("full", "snapkv", "recency"), budgets=(30.0,), max_new_tokens=3,
                           fidelity=True)
    assert len(references) == 2  # one shared reference pass per sample, whatever the number of runs
    assert all(sorted(ref.forced) == ["full", "recency@30", "snapkv@30"] for ref in references)
    assert [r.run for r in rows] == ["full", "snapkv@30", "recency@30"] * 2  # sample by sample
    for row in rows:
        fid = row.fidelity
        assert fid is not None and fid.tokens >= len(row.steps)
        if row.run == "full":
            assert (fid.top1_agreement, fid.kl_mean, fid.kl_max) == (1.0, 0.0, 0.0)
        else:
            assert 0.0 <= fid.top1_agreement <= 1.0 and fid.kl_mean >= 0.0
    assert any(r.fidelity.kl_mean > 0 for r in rows if r.run != "full" and r.fidelity)  # compression does move it
    block = next(r for r in summary["runs"] if r["run"] == "full")["fidelity"]
    assert (block["samples"], block["top1_agreement"], block["kl_mean"]) == (2, 1.0, 0.0)
    report = (tmp_path / "out/summary.md").read_text()
    assert "top-1 agreement with the full cache" in report and "| full | 100.00 |" in report


def test_max_tokens_caps_every_layer_through_the_runner(tmp_path: Path) -> None:
    cap = 600  # above the first prompt (~430 tokens), which a full cache cannot shrink
    summary, rows = replay(tmp_path / "out", benchmark="synthdesk", images=tmp_path / "img", seed=SEED, limit=2,
                           model="tiny", methods=("full", "pyramidkv", "gui_kv"), max_tokens=(cap,),
                           max_new_tokens=3)
    assert {r.run for r in rows} == {"full@600tok", "pyramidkv@600tok", "gui_kv@600tok"}
    for row in rows:
        assert row.max_tokens == cap
        for step in row.steps:
            for call in step.calls:  # the cache after the prefill is capped; decoding appends n_generated - 1
                assert max(call.kv_entries_per_layer) - (call.n_generated - 1) <= cap, (row.run, call)
    episode = {r.run: [c for s in r.steps for c in s.calls] for r in rows if r.sample_id.endswith("episode")}
    assert max(max(c.kv_entries_per_layer) for c in episode["gui_kv@600tok"]) > cap  # capped, then decoded
    assert episode["full@600tok"][-1].n_seen < sum(c.prompt_tokens for c in episode["full@600tok"])  # frames dropped


def _script_sweep(tmp_path: Path, **values: object) -> tuple[dict, list]:
    script = write_script(tmp_path, ["Thought: go\nAction: click(start_box='(10,10)')"])
    return replay(tmp_path / "out", benchmark="synthdesk", images=tmp_path / "img", seed=SEED, limit=3, model=script,
                  **values)


def test_sweep_report_has_tables_by_kind_fidelity_and_plots(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    summary, rows = _script_sweep(tmp_path, methods=("full", "random", "gui_kv(alpha=0)"), budgets=(5.0, 10.0))
    fake = [r.model_copy(update={"fidelity": FidelityRecord(tokens=4, top1_agreement=0.5 if r.budget == 5 else 0.75,
                                                            kl_mean=0.2, kl_max=1.0)}) for r in rows]
    config = EvalConfig.model_validate_json((tmp_path / "out/config.json").read_text())
    summary = write_summary(tmp_path / "out", config, fake)
    report = (tmp_path / "out/summary.md").read_text()
    assert "| method | 5% | 10% |" in report and "| gui_kv(alpha=0) | 50.00 | 75.00 |" in report
    assert "step accuracy by task kind" in report and "| random@5 |" in report
    for name in ("accuracy_vs_budget", "fidelity_vs_budget", "kv_bytes_vs_budget"):
        assert (tmp_path / f"out/plots/{name}.png").stat().st_size > 1000
        assert f"](plots/{name}.png)" in report
    assert summary["plots"]["files"]["accuracy against budget"] == "plots/accuracy_vs_budget.png"


def test_without_matplotlib_the_tables_are_written_and_the_report_says_so(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    summary, _ = _script_sweep(tmp_path, methods=("full", "snapkv"), budgets=(5.0, 10.0), frames=(1, 2))
    report = (tmp_path / "out/summary.md").read_text()
    assert "Plots: none, matplotlib is not installed (pip install 'guikv-agent[plots]')." in report
    assert "by method and screenshots in context at 5%:" in report and "| method | 1 | 2 |" in report
    assert not (tmp_path / "out/plots").exists()
    assert json.loads((tmp_path / "out/summary.json").read_text())["plots"] == summary["plots"]


def test_resume_may_add_caps_but_not_switch_from_budgets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = write_script(tmp_path, ["Thought: go\nAction: click(start_box='(10,10)')"])
    args = ["eval", "synthdesk", "--model", script, "--limit", "1", "--seed", str(SEED), "--images",
            str(tmp_path / "img"), "--out", str(tmp_path / "out"), "--method", "full,snapkv", "-q"]
    assert main([*args, "--max-tokens", "200"]) == 0
    assert main([*args, "--max-tokens", "200,400", "--resume"]) == 0
    assert {r.run for r in read_rows(tmp_path / "out")} == {"full@200tok", "full@400tok", "snapkv@200tok",
                                                            "snapkv@400tok"}
    assert main([*args, "--budget", "10", "--resume"]) == 2
    assert "a resume may add --max-tokens caps" in capsys.readouterr().err


def test_a_budget_below_the_window_is_a_usage_error_with_a_way_out(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    args = ["eval", "synthdesk", "--model", "tiny", "--limit", "1", "--seed", str(SEED), "--max-new-tokens", "2",
            "--images", str(tmp_path / "img"), "-q"]
    assert main([*args, "--method", "snapkv", "--budget", "1", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "window=8 must be smaller than the capacity=4" in err and "--method 'snapkv(window=2)'" in err
    assert main([*args, "--method", "snapkv(window=2)", "--budget", "1", "--out", str(tmp_path / "b")]) == 0


class _FakeChat:
    """A ChatEngine stand-in: replies `tokens` with fixed logits (scaled by `temperature`)."""

    family, context = "uitars", "incremental"

    def __init__(self, temperature: float) -> None:
        self.temperature, self.resets = temperature, 0

    def reset(self) -> None:
        self.resets += 1

    def reply(self, messages: list, forced: list[int] | None = None, keep_logits: bool = False):  # type: ignore[no-untyped-def]
        import torch

        from agent.policy import PolicyReply

        logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 3.0]]) / self.temperature
        return PolicyReply(text="x", extra={"tokens": [0, 2] if forced is None else forced, "logits": logits,
                                            "raw": "x"})


def test_fan_out_tallies_every_conversation_of_a_sample_against_the_shared_reference() -> None:
    import torch

    reference, same, other = _FakeChat(1.0), _FakeChat(1.0), _FakeChat(4.0)
    fan = FanOutEngine(reference, {"same": same, "other": other})
    for _ in range(2):  # a Mind2Web sample opens a conversation per call
        fan.start(0)
        assert fan.reply([]).extra["tokens"] == [0, 2]
    records = fan.records()
    assert records["same"] == FidelityRecord(tokens=4, top1_agreement=1.0, kl_mean=0.0, kl_max=0.0)
    p = torch.log_softmax(torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 3.0]], dtype=torch.float64), -1)
    q = torch.log_softmax(torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 3.0]], dtype=torch.float64) / 4, -1)
    kl = (p.exp() * (p - q)).sum(-1)
    got = records["other"]
    assert got is not None and got.tokens == 4 and got.top1_agreement == 1.0  # same argmax, flatter distribution
    assert got.kl_mean == pytest.approx(float(kl.mean())) and got.kl_max == pytest.approx(float(kl.max()))
    assert reference.resets == same.resets == other.resets == 2


def test_the_budget_axis_says_what_a_budget_is_a_percent_of() -> None:
    from eval.plots import _budget_base

    run = lambda method, budget: {"method": method, "budget": budget}  # noqa: E731
    assert _budget_base([run("full", None), run("snapkv(keep_text=true)", 10.0),
                         run("gui_kv(alpha=0,keep_text=true)", 20.0)]) == "screenshot tokens, text kept"
    assert _budget_base([run("snapkv(keep_text=true)", 10.0), run("random", 10.0)]) == "tokens"
    assert _budget_base([run("full", None)]) == "tokens"
