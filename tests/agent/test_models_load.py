"""`agent.models.load`: aliases, the real from_pretrained path (tiny models saved to disk), and offline errors.

Nothing is mocked except the Hub: offline mode is switched on (the download is what cannot happen here).
"""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from agent.models import ModelBundle, ModelUnavailableError, load
from agent.models.loading import ALIASES, pick_attn_implementation, pick_device


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE=1 and an empty Hugging Face cache."""
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tmp_path / "hf-cache"


def test_aliases_name_the_real_checkpoints():
    assert ALIASES["ui-tars-1.5-7b"].repo_id == "ByteDance-Seed/UI-TARS-1.5-7B"
    assert ALIASES["opencua-7b"].repo_id == "xlangai/OpenCUA-7B" and ALIASES["opencua-7b"].family == "opencua"


def test_remote_code_flags_reach_the_run_and_eval_configs(tmp_path):
    from agent.cli import build_parser
    from agent.live import RunConfig
    from eval.config import EvalConfig

    parser = build_parser()
    run = parser.parse_args(["run", "a task", "--model", "opencua-7b", "--trust-remote-tokenizer"])
    assert (run.trust_remote_code, run.trust_remote_tokenizer) == (False, True)
    config = RunConfig.build(task=run.task, model=run.model, out=tmp_path, trust_remote_code=run.trust_remote_code,
                             trust_remote_tokenizer=run.trust_remote_tokenizer)
    assert (config.trust_remote_code, config.trust_remote_tokenizer) == (False, True)
    ev = parser.parse_args(["eval", "screenspot-v2", "--model", "opencua-7b", "--trust-remote-code"])
    assert (ev.trust_remote_code, ev.trust_remote_tokenizer) == (True, False)
    assert EvalConfig.build(benchmark="screenspot-v2", data=tmp_path, images=tmp_path, model=ev.model,
                            trust_remote_code=True).trust_remote_code
    assert not RunConfig.build(task="t", out=tmp_path).trust_remote_code  # off unless asked


def test_device_dtype_and_attention_are_picked_for_cpu():
    if torch.cuda.is_available():
        pytest.skip("CPU defaults")
    assert pick_device().type == "cpu"
    assert pick_attn_implementation(torch.device("cpu")) == "sdpa"


@pytest.mark.parametrize("name, family", [("tiny", "uitars"), ("tiny-opencua", "opencua")])
def test_tiny_aliases_build_offline_models(name, family):
    bundle = load(name)
    assert isinstance(bundle, ModelBundle) and bundle.family == family and bundle.name == name
    assert next(bundle.model.parameters()).dtype == torch.float32
    assert bundle.tokenizer.convert_ids_to_tokens(bundle.image_token_id) in ("<|image_pad|>", "<|media_placeholder|>")


@pytest.mark.parametrize("fixture", ["tiny_uitars", "tiny_opencua"])
def test_saved_model_loads_back_by_path_through_from_pretrained(fixture, request, tmp_path):
    tiny = request.getfixturevalue(fixture)
    tiny.save(tmp_path)
    (tmp_path / "tiny_bundle.json").unlink()  # the generic path reads config.json, not the tiny marker
    bundle = load(str(tmp_path))
    assert bundle.family == tiny.family
    assert (bundle.image_token_id, bundle.eos_token_ids) == (tiny.image_token_id, tiny.eos_token_ids)
    expected, loaded = tiny.model.state_dict(), bundle.model.state_dict()
    assert expected.keys() == loaded.keys() and all(torch.equal(expected[k], loaded[k]) for k in expected)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}]
    image = Image.new("RGB", (56, 84), (1, 2, 3))
    a, b = (p(text=[p.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)], images=[image],
              return_tensors="pt") for p in (tiny.processor, bundle.processor))
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["pixel_values"], b["pixel_values"])


def test_hub_id_offline_without_cache_says_so_and_suggests_tiny(offline):
    for name in ("ui-tars-1.5-7b", "some-org/some-model"):
        with pytest.raises(ModelUnavailableError) as info:
            load(name, cache_dir=offline)
        message = str(info.value)
        assert "not available locally" in message and "HF_HUB_OFFLINE" in message and "--model tiny" in message
    assert isinstance(info.value, OSError)


def test_local_files_only_gives_the_same_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="--model tiny"):
        load("opencua-7b", cache_dir=tmp_path, local_files_only=True)


def test_bad_paths_and_model_types_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load(str(tmp_path / "missing" / "model"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="model_type='bert' is not supported"):
        load(str(tmp_path))
    with pytest.raises(ValueError, match="non-empty"):
        load("  ")


def test_script_names_give_the_scripted_policy(tmp_path):
    script = tmp_path / "replies.txt"
    script.write_text("Thought: a\nAction: wait()\n---\nAction: finished(content='done')\n")
    policy = load(f"script:{script}")
    assert type(policy).__name__ == "ScriptPolicy" and policy.family == "uitars"
