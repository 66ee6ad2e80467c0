"""Export a gui-tiny training checkpoint as a Hugging Face model directory (what ships in `agent/models/gui_tiny/`).

`export_gui_tiny(checkpoint, out_dir, card_facts=...)` writes:

| file | what |
|---|---|
| `model.safetensors` | the weights in float32 (see below), at most `MAX_WEIGHTS_BYTES` |
| `config.json`, `generation_config.json` | `Qwen2_5_VLConfig` (`qwen2_5_vl`); greedy, 96 new tokens |
| `tokenizer.json`, `tokenizer_config.json`, `chat_template.jinja` | the byte-level tokenizer, real special tokens |
| `preprocessor_config.json` | Qwen2-VL image processor, gui-tiny's pixel limits (`size`, `min/max_pixels`) |
| `guikv_model.json` | what transformers' files cannot say: family "uitars", prompt set "synthdesk" |
| `README.md` | the model card: training data, command, seed, steps, time, figures (`card_facts`), limits |

Why float32: the model has ~4.2M parameters (5.9M with 6 LM layers and 3 vision blocks), so float32 is ~17 MB
(~24 MB), under the 30 MB cap; it is the dtype it was
trained in and the one the CPU path runs (`agent.models.load` picks float32 on CPU), so the exported model gives
bit-identical logits to the checkpoint. bf16 would halve the file but round every weight, and CPU bf16 matmuls are
slower, not faster.

Any tool that reads a Hugging Face directory loads it with plain classes: `Qwen2_5_VLForConditionalGeneration`,
`AutoTokenizer` and the Qwen2-VL image processor (`Qwen2VLImageProcessorPil` on transformers 5.23+,
`Qwen2VLImageProcessor` on 5.2). The auxiliary heads of training are not exported: the model answers through
`generate` alone.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from agent.models.loading import AGENT_CONFIG_FILE, WEIGHTS_FILE
from agent.training.gui_tiny import GUI_TINY_MAX_PIXELS, build_gui_tiny, sizes_in

__all__ = ["MAX_WEIGHTS_BYTES", "MAX_NEW_TOKENS", "export_gui_tiny", "model_card"]

logger = logging.getLogger(__name__)

MAX_WEIGHTS_BYTES = 30_000_000  # issue 9: the shipped safetensors file is at most 30 MB
MAX_NEW_TOKENS = 96  # a gold synthdesk reply is at most ~70 characters; the byte tokenizer spends one token on each
_CARD = "README.md"


def export_gui_tiny(checkpoint_path: str | Path, out_dir: str | Path, *, card_facts: Mapping[str, Any],
                    max_bytes: int = MAX_WEIGHTS_BYTES) -> Path:
    """Write the Hugging Face directory of the gui-tiny in `checkpoint_path` to `out_dir` and return `out_dir`.

    checkpoint_path: a `python -m agent train` checkpoint (a dict whose "model" entry is the model's state_dict;
        its "config", "step", "elapsed_s" and "averaged" (`agent.training.soup`) entries, when present, fill the
        card's training facts).
    card_facts: facts for the model card. "figures" (a mapping measure -> value, e.g. held-out accuracies) becomes
        the figures table; every other entry (e.g. "command", "hardware", "training time") is a training fact and
        replaces the one derived from the checkpoint under the same name.
    max_bytes: the cap on model.safetensors (default 30 MB); a larger file raises ValueError and nothing is written.

    The files are written to a temporary sibling directory first and moved into `out_dir` only when complete and
    within the cap; files of `out_dir` that the export does not write are left alone.
    """
    checkpoint_path, out_dir = Path(checkpoint_path), Path(out_dir)
    if not checkpoint_path.is_file():
        raise FileNotFoundError(f"{checkpoint_path}: not found (`python -m agent train` writes OUT/checkpoint.pt)")
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not isinstance(state.get("model"), Mapping):
        raise ValueError(f"{checkpoint_path}: not a gui-tiny checkpoint (expected a dict with a 'model' state_dict)")
    bundle = build_gui_tiny(**sizes_in(state["model"]))
    try:
        bundle.model.load_state_dict(state["model"])
    except RuntimeError as e:  # missing, unexpected or mis-shaped keys
        raise ValueError(f"{checkpoint_path}: the state_dict does not fit gui-tiny: {e}") from e
    model = bundle.model.to(torch.float32).eval()
    model.generation_config.max_new_tokens = MAX_NEW_TOKENS

    tmp = out_dir.parent / f".{out_dir.name}.export-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        model.save_pretrained(str(tmp))
        size = (tmp / WEIGHTS_FILE).stat().st_size
        if size > max_bytes:
            raise ValueError(f"{WEIGHTS_FILE} would be {size} bytes, over the cap of {max_bytes} bytes")
        bundle.processor.save_pretrained(str(tmp))
        _record_pixel_limits(tmp / "preprocessor_config.json")
        (tmp / AGENT_CONFIG_FILE).write_text(json.dumps(
            {"model": "gui-tiny", "family": "uitars", "prompt_set": "synthdesk", "trained_on": "synthdesk"},
            indent=2) + "\n", encoding="utf-8")
        n_params = sum(p.numel() for p in model.parameters())
        (tmp / _CARD).write_text(model_card(state, card_facts, n_params=n_params, weights_bytes=size),
                                 encoding="utf-8")
        out_dir.mkdir(parents=True, exist_ok=True)
        for item in sorted(tmp.iterdir()):
            item.replace(out_dir / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("exported %s (step %s) to %s: %s is %.1f MB", checkpoint_path, state.get("step", "?"), out_dir,
                WEIGHTS_FILE, size / 1e6)
    return out_dir


def _record_pixel_limits(path: Path) -> None:
    """Add `min_pixels` / `max_pixels` next to `size` (older readers and qwen-vl-utils look for these keys)."""
    config = json.loads(path.read_text(encoding="utf-8"))
    size = config.get("size") or {}
    config["min_pixels"] = int(size.get("shortest_edge", 3136))
    config["max_pixels"] = int(size.get("longest_edge", GUI_TINY_MAX_PIXELS))
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _training_facts(state: Mapping[str, Any]) -> dict[str, str]:
    """Facts the checkpoint itself records: its training configuration, steps done and wall-clock time."""
    cfg = state.get("config") or {}
    facts: dict[str, str] = {}
    if cfg:
        cfg = {"procs": "1", **cfg}  # checkpoints from before data parallelism ran one process
        flags = " ".join(f"--{k.replace('_', '-')} {cfg[k]}"
                         for k in ("steps", "batch", "lr", "reading_steps", "seed", "procs", "threads") if k in cfg)
        if cfg.get("init", "None") != "None":
            flags += f" --init {cfg['init']}"
        facts["command"] = f"`python -m agent train --out {cfg.get('out', 'runs/gui-tiny')} {flags}`"
        facts["seed"] = str(cfg.get("seed", "?"))
    if "step" in state:
        planned = f" of {cfg['steps']}" if "steps" in cfg else ""
        facts["optimiser steps"] = f"{state['step']}{planned}"
        if "batch" in cfg:
            facts["training tasks seen"] = str(int(state["step"]) * int(cfg["batch"]))
    if "elapsed_s" in state:
        facts["training time"] = f"{float(state['elapsed_s']) / 60:.0f} min"
    if "averaged" in state:  # `agent.training.soup`
        sources = " ".join(state["averaged"])
        facts["made by"] = (f"the uniform mean of the weights of {len(state['averaged'])} models: `python -m agent "
                            f"train --out OUT --average {sources}`")
    return facts


def model_card(state: Mapping[str, Any], card_facts: Mapping[str, Any], *, n_params: int, weights_bytes: int) -> str:
    """The README.md of the exported directory (module docstring); `state` is the checkpoint dict."""
    facts = _training_facts(state)
    facts.update({str(k): str(v) for k, v in card_facts.items() if k != "figures"})
    figures = card_facts.get("figures") or {}
    fact_rows = "\n".join(f"| {k} | {v} |" for k, v in facts.items()) or "| (none recorded) | |"
    figure_rows = "\n".join(f"| {k} | {v} |" for k, v in dict(figures).items())
    figures_md = (f"| measure | value |\n|---|---|\n{figure_rows}" if figure_rows
                  else "No figures were recorded for this export.")
    return f"""---
license: apache-2.0
library_name: transformers
pipeline_tag: image-text-to-text
tags: [gui-agent, qwen2_5_vl, ui-tars, synthdesk]
---

# gui-tiny

A {n_params / 1e6:.1f}M-parameter `Qwen2_5_VLForConditionalGeneration` (the class of UI-TARS-1.5) trained from random
weights by the guikv-agent project on **synthdesk**, the project's procedural desktop benchmark (`tasks/synthdesk/`).
It answers in the UI-TARS-1.5 grammar (`Thought: ...` then `Action: click(start_box='(x,y)')`, `type(content='...')`,
`hotkey(key='...')`, `finished()`), in model-image pixels, so the project's parser, coordinate spaces and executors
run unchanged. It is the embedded default of `python -m agent demo`.

## Training data

synthdesk only: seeded, rendered screens of small desktop applications (menus, buttons, lists, text fields,
checkboxes, dialogs, notices; 420x308 to 504x364 pixels on a 28 px grid) with three task kinds: grounding ("click
<label>"), episodes of 3 to 6 steps through an app's state machine, and memory tasks whose answer was shown on an
earlier screen only. Training seeds and held-out seeds are disjoint by construction. No real screenshots, no other
data.

## Training

Reply cross-entropy on the gold replies plus dense auxiliary losses (the word on each image cell, its position, the
target's cells as an attention pointer), with a curriculum from few large widgets to dense screens
(`agent/training/`). The auxiliary heads are training aids and are not part of this model.

| fact | value |
|---|---|
{fact_rows}

## Figures

{figures_md}

## Use

Prompts: the system message of `agent.prompts.synthdesk_system_prompt()`, a first user turn `Task: <instruction>`,
then one user turn per screenshot and the model's reply to it (N = 5 screenshots in context). `guikv_model.json`
records this prompt set; `--model gui-tiny` and `--model <this directory>` use it.

```bash
python -m agent demo                                   # a held-out synthdesk task in a live Tk window
python -m agent eval synthdesk --model gui-tiny --limit 30
```

Plain transformers: `Qwen2_5_VLForConditionalGeneration.from_pretrained(dir)`, `AutoTokenizer.from_pretrained(dir)`
and the Qwen2-VL image processor (PIL backend) read this directory. Pass the model every output of the processor:
on transformers 5.24 its `mm_token_type_ids` is what gives image tokens their 3-D mRoPE positions (the ones the model
was trained with); without it they get 1-D text positions and the replies are gibberish. Screens at most 504x364 pixels
(`max_pixels` {GUI_TINY_MAX_PIXELS}) reach the model unchanged, one image token per 28x28 cell.

Files: `{WEIGHTS_FILE}` in float32 ({weights_bytes / 1e6:.1f} MB): the dtype it was trained and runs in on CPU, so its
logits equal the training checkpoint's.

## Limits

It knows only synthdesk. On real desktops, other applications, other screen sizes or other fonts its replies are
meaningless: it has never seen them. Its vocabulary of labels is synthdesk's 60 words, it reads text only in
synthdesk's font, and its tokenizer is byte-level. It is a test and demo model for the runtime and the KV-cache
compression methods, not a general GUI agent; the real checkpoints (UI-TARS-1.5-7B, OpenCUA-7B) remain the product's
purpose.
"""
