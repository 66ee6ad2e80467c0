"""The transformers call conventions live in `compression.compat`, and a compression that did not happen is an error.

The failure this guards against (transformers 5.24): the attention modules got the cache under a new keyword, the
hooks read the old one, found None, compressed nothing and raised nothing. Here the hooks are made to look under an
unknown keyword while the model keeps passing the real one, which is exactly that situation.
"""

from __future__ import annotations

import inspect
import re
import tomllib

import pytest
import torch
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from transformers.models.qwen2.modeling_qwen2 import Qwen2Attention
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLAttention

from _equivalence import bundle, generate_kwargs, two_image_prompt
from compression import GUIKV, CompressionError, FullKV, KVSession, SnapKV, apply, compat
from compression import hooks as hooks_module
from paths import REPO_DIR

REAL_KEYWORD = compat.CACHE_KEYWORD


@pytest.mark.parametrize(
    ("version", "keyword"),
    [("5.2.0", "past_key_values"), ("5.23.0", "past_key_values"), ("5.24.0", "cache"), ("5.24.1", "cache"),
     ("5.25.0", "cache")],
)
def test_cache_keyword_table(version, keyword):
    assert compat._cache_keyword(Version(version)) == keyword


@pytest.mark.parametrize("version", ["4.57.1", "6.0.0"])
def test_releases_outside_the_table_are_refused(version):
    with pytest.raises(ImportError, match=re.escape(version)):
        compat._cache_keyword(Version(version))


@pytest.mark.parametrize("attention", [Qwen2_5_VLAttention, Qwen2Attention])
def test_installed_attention_modules_take_the_cache_under_the_known_keyword(attention):
    assert compat.CACHE_KEYWORD in inspect.signature(attention.forward).parameters


def test_pyproject_declares_the_tested_range():
    deps = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = SpecifierSet(next(d for d in deps if d.startswith("transformers"))[len("transformers"):])
    oldest, newest = compat.TESTED_RANGE
    assert {s.operator + s.version for s in spec} == {f">={oldest}", f"<{newest.major}.{newest.minor + 1}"}
    assert compat.TRANSFORMERS_VERSION in spec


@pytest.fixture
def unknown_keyword(monkeypatch):
    """The hooks look for the cache under a keyword the model does not use; generate still gets the real one."""
    monkeypatch.setattr(compat, "CACHE_KEYWORD", "kv_store")
    monkeypatch.setattr(compat, "cache_kwargs", lambda cache: {REAL_KEYWORD: cache})


def _session_steps(b, method):
    session = KVSession(b.model, method, tokenizer=b.tokenizer)
    ids, pv, grids = two_image_prompt(b)
    return session, (ids, pv, grids)


@pytest.mark.parametrize("method", [GUIKV(budget=20), SnapKV(budget=20), FullKV()], ids=lambda m: type(m).__name__)
def test_session_with_an_unknown_cache_keyword_raises_and_reports_nothing(unknown_keyword, method):
    b = bundle("uitars", "sdpa")
    session, (ids, pv, grids) = _session_steps(b, method)
    with pytest.raises(CompressionError) as err:
        session.step(ids, pv, grids, max_new_tokens=2, do_sample=False)
    message = str(err.value)
    assert "kv_store" in message and f"transformers {compat.TRANSFORMERS_VERSION}" in message
    with pytest.raises(CompressionError, match="reset"):  # no later step can report a cache from this one
        session.step(ids, pv, grids, max_new_tokens=2, do_sample=False)


def test_bare_apply_with_an_unknown_cache_keyword_raises(unknown_keyword):
    b = bundle("uitars", "sdpa")
    ids, pv, grids = two_image_prompt(b)
    kwargs = dict(input_ids=ids, pixel_values=pv, max_new_tokens=2, do_sample=False, **generate_kwargs(b.model, ids, grids))
    with pytest.raises(CompressionError, match="kv_store"):
        with apply(b.model, SnapKV(budget=20)):
            b.model.generate(**kwargs)
    with apply(b.model, SnapKV(budget=20)) as hooks:  # disarmed: nothing was meant to be compressed
        hooks.armed = False
        b.model.generate(**kwargs)
    assert hooks.n_compressions == 0


def test_a_forward_that_compresses_only_some_layers_raises(monkeypatch):
    b = bundle("uitars", "sdpa")
    real = hooks_module._compress_layer

    def skip_layer_one(state, attn, kwargs):
        if attn.layer_idx != 1:
            real(state, attn, kwargs)

    monkeypatch.setattr(hooks_module, "_compress_layer", skip_layer_one)
    ids, pv, grids = two_image_prompt(b)
    with pytest.raises(CompressionError, match=r"2 of 3 layers were compressed"):
        with apply(b.model, GUIKV(budget=20)):
            b.model(input_ids=ids, pixel_values=pv, use_cache=True, **generate_kwargs(b.model, ids, grids))


def test_a_cache_changed_behind_the_trackers_back_raises():
    b = bundle("uitars", "sdpa")
    session, (ids, pv, grids) = _session_steps(b, GUIKV(budget=30))
    session.step(ids, pv, grids, max_new_tokens=2, do_sample=False)
    layer = session.cache.layers[2]
    layer.keys, layer.values = layer.keys[:, :, 1:], layer.values[:, :, 1:]  # one entry gone behind its back
    more = b.tokenizer(" and then?", return_tensors="pt")["input_ids"]
    with pytest.raises(CompressionError, match="layer 2|out of step"):
        session.step(more, max_new_tokens=2, do_sample=False)


def test_compressed_steps_report_what_the_cache_holds():
    b = bundle("uitars", "sdpa")
    session, (ids, pv, grids) = _session_steps(b, GUIKV(budget=30))
    out = session.step(ids, pv, grids, max_new_tokens=2, do_sample=False)
    held = tuple(layer.keys.shape[2] for layer in session.cache.layers)
    assert out.stats.entries_per_layer == held
    capacity = int(ids.shape[1] * 0.30)
    assert all(n == capacity + 1 for n in held)  # capacity after the prefill, plus the one decoded token
    assert torch.equal(session.tracker.ids[0][0, 0], session.tracker.ids[0][0, 0].sort().values)
