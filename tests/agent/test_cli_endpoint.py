"""Usage errors of the endpoint flags: exit code 2 and a message that says why, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from paths import BENCH_DIR

URL = "http://127.0.0.1:9/v1"  # nothing listens there; none of these runs gets that far


@pytest.mark.parametrize("argv, says", [
    (["--method", "gui_kv"], "with --endpoint the server owns the cache; use --method full"),
    (["--context", "incremental"], "--context incremental needs the KV cache in this process"),
    (["--model", "script:replies.txt"], "a scripted policy does not go through --endpoint"),
])
def test_run_refuses_what_an_endpoint_cannot_do(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                                says: str) -> None:
    args = ["run", "open it", "--endpoint", URL, "--model", "m", "--dry-run", "--out", str(tmp_path / "r"), *argv]
    assert main(args) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_run_family_without_endpoint_and_a_bad_url_are_usage_errors(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "x", "--model", "tiny", "--family", "opencua", "--out", str(tmp_path / "a")]) == 2
    assert "--family applies to --endpoint only" in capsys.readouterr().err
    assert main(["run", "x", "--endpoint", "127.0.0.1:8000", "--model", "m", "--out", str(tmp_path / "b")]) == 2
    assert "must be an http(s) URL" in capsys.readouterr().err


def test_an_unreachable_endpoint_is_reported_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "x", "--endpoint", URL, "--model", "m", "--dry-run", "--max-retries", "0", "--out",
            str(tmp_path / "r")]
    assert main(args) == 2
    assert "connection failed" in capsys.readouterr().err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv, says", [
    (["--endpoint", URL, "--method", "gui_kv,full"], "with --endpoint the server owns the cache; use --method full"),
    (["--endpoint", URL, "--context", "incremental"], "needs the KV cache in this process"),
    (["--model", "tiny", "--concurrency", "2"], "concurrency needs --endpoint"),
    (["--model", "tiny", "--timeout", "5"], "only with --endpoint"),
])
def test_eval_refuses_what_an_endpoint_cannot_do(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 argv: list[str], says: str) -> None:
    bench = BENCH_DIR / "screenspot-pro"
    args = ["eval", "screenspot-pro", "--data", str(bench), "--images", str(bench / "images"), "--limit", "1",
            "--out", str(tmp_path / "e"), "-q", *argv]
    if "--model" not in argv:
        args += ["--model", "m"]
    assert main(args) == 2
    assert says in capsys.readouterr().err


def test_the_endpoint_client_imports_neither_torch_nor_transformers() -> None:
    import subprocess
    import sys

    code = ("import sys, agent.cli, agent.live, agent.endpoint, eval.runner; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
