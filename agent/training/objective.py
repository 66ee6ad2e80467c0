"""The training objective of gui-tiny: reply cross-entropy plus dense auxiliary losses (see `examples`).

* reply: next-token cross-entropy on the gold replies (what `generate` is asked to do);
* read / where / digits: linear heads on the image tokens' hidden states after layer ``AUX_LAYER`` predict the
  word drawn on each cell, its row and column, and a notice code's digits. They teach the vision tower and the
  first layers to read labels and to carry absolute positions, which the sparse reply loss alone does not;
* point: query head 0 of the last layer (and of the one before it for memory hops), at the reply tokens that are
  coordinate digits, should attend to the target's cells: ``-log sum_{k in target} softmax(q.k)``. It trains the
  copy of the target's position into the reply directly. Query head ``COPY_HEAD`` of the last layer, at each reply
  token that spells a letter of the instruction's target word, should attend to that letter in the instruction
  (copy pointers, one key per query).
  ``point_acc`` counts the coordinate pointers only.

The heads (`AuxHeads`) are a training aid and are not shipped. Shape letters: B batch, L tokens, D hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from compression.models import chunk_positions, resolve

from agent.training.examples import CELL_CLASSES, MAX_COLS, MAX_ROWS, Example

__all__ = ["AuxHeads", "Batch", "collate", "compute_losses", "LOSS_WEIGHTS", "AUX_LAYER"]

AUX_LAYER = 2  # hidden_states index: the output of LM layer 1
LOSS_WEIGHTS = {"reply": 1.0, "read": 0.5, "where": 0.5, "digits": 0.5, "point": 1.0}


class AuxHeads(nn.Module):
    """Linear probes on image-token hidden states: cell class, row, column, three code digits."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.read = nn.Linear(hidden, len(CELL_CLASSES))
        self.row = nn.Linear(hidden, MAX_ROWS)
        self.col = nn.Linear(hidden, MAX_COLS)
        self.digits = nn.Linear(hidden, 30)


@dataclass
class Batch:
    """Right-padded examples, ready for the model (inputs) and the losses (the examples' targets)."""

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor  # (B, L)
    examples: list[Example]


def collate(examples: list[Example], pad_id: int, model: nn.Module) -> Batch:
    """Right-pad ``examples`` into one batch for ``model``.

    The mRoPE positions are explicit and come from `compression.models.chunk_positions`, the function the live
    `KVSession` uses: the model is trained on exactly the positions it runs with. (Left to the model, transformers
    >= 5.2x gives image tokens 1-D text positions unless ``mm_token_type_ids`` is passed, while 5.2 derives 3-D ones
    from the ids: a model trained one way answers gibberish when run the other way.)
    """
    L = max(e.input_ids.numel() for e in examples)
    B = len(examples)
    resolved = resolve(model)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    mask = torch.zeros((B, L), dtype=torch.long)
    labels = torch.full((B, L), -100, dtype=torch.long)
    positions = torch.zeros((3, B, L), dtype=torch.long)  # padding keeps position 0: it is masked out
    for b, e in enumerate(examples):
        n = e.input_ids.numel()
        ids[b, :n], mask[b, :n], labels[b, :n] = e.input_ids, 1, e.labels
        positions[:, b, :n] = chunk_positions(model, resolved, e.input_ids[None], e.image_grid_thw, 0)[:, 0]
    inputs = dict(input_ids=ids, attention_mask=mask, position_ids=positions,
                  pixel_values=torch.cat([e.pixel_values for e in examples]),
                  image_grid_thw=torch.cat([e.image_grid_thw for e in examples]))
    return Batch(inputs, labels, examples)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def _merged(position_embeddings: tuple[torch.Tensor, torch.Tensor], section: list[int]) -> tuple[torch.Tensor, ...]:
    """(cos, sin) as (B, L, D): transformers >= 5.2x merges mRoPE sections itself; 5.2 hands (3, B, L, D)."""
    cos, sin = position_embeddings
    if cos.dim() == 4:
        sections = list(section) * 2
        cos = torch.cat([m[i % 3] for i, m in enumerate(cos.split(sections, dim=-1))], dim=-1)
        sin = torch.cat([m[i % 3] for i, m in enumerate(sin.split(sections, dim=-1))], dim=-1)
    return cos, sin


class AttentionTap:
    """Keeps the attention inputs (hidden states, RoPE) of chosen LM layers during one forward."""

    def __init__(self, attentions: dict[str, nn.Module]) -> None:
        self.attentions = attentions
        self.seen: dict[str, tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]] = {}
        self._handles = [m.register_forward_pre_hook(self._keep(name), with_kwargs=True)
                         for name, m in attentions.items()]

    def _keep(self, name: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
            self.seen[name] = (kwargs["hidden_states"], kwargs["position_embeddings"])
        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def _pointer_loss(tap: AttentionTap, batch: Batch, section: list[int]) -> tuple[torch.Tensor, float, int]:
    """Mean -log(attention mass on the targets) of query head 0, and the share of queries whose argmax hits one."""
    losses, hits, n = [], 0, 0
    for name, attn in tap.attentions.items():
        hidden, pe = tap.seen[name]
        cos, sin = _merged(pe, section)
        D = attn.head_dim
        for b, ex in enumerate(batch.examples):
            for p in (p for p in ex.pointers if p.layer == name):
                kv = p.head // attn.num_key_value_groups  # the KV head that serves query head p.head
                q = attn.q_proj(hidden[b, p.queries])[:, p.head * D:(p.head + 1) * D]  # (nq, D)
                q = q * cos[b, p.queries] + _rotate_half(q) * sin[b, p.queries]
                last = int(p.queries.max()) + 1
                k = attn.k_proj(hidden[b, :last])[:, kv * D:(kv + 1) * D]  # (last, D)
                k = k * cos[b, :last] + _rotate_half(k) * sin[b, :last]
                scores = (q @ k.T) * attn.scaling  # (nq, last)
                future = torch.arange(last)[None, :] > p.queries[:, None]
                scores = scores.masked_fill(future, float("-inf"))
                if p.aligned:  # query i -> keys[i]
                    on_target = scores.gather(1, p.keys[:, None])[:, 0]
                else:  # any of the keys
                    on_target = torch.logsumexp(scores[:, p.keys], -1)
                losses.append(torch.logsumexp(scores, -1) - on_target)
                if name == "last" and p.head == 0:
                    hits += int(torch.isin(scores.argmax(-1), p.keys).sum())
                    n += p.queries.numel()
    if not losses:
        return torch.zeros(()), 0.0, 0
    return torch.cat(losses).mean(), hits / max(n, 1), n


def compute_losses(model: nn.Module, heads: AuxHeads, tap: AttentionTap, batch: Batch,
                   section: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward ``batch`` and return the weighted total loss and each part (plus pointer and token accuracies)."""
    out = model(**batch.inputs, output_hidden_states=True, use_cache=False)
    logits = out.logits[:, :-1]  # (B, L-1, V)
    target = batch.labels[:, 1:]
    reply = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)
    valid = target != -100
    token_acc = float((logits.argmax(-1)[valid] == target[valid]).float().mean())
    hidden = out.hidden_states[AUX_LAYER]  # (B, L, D)
    cells = torch.cat([hidden[b, e.cell_pos] for b, e in enumerate(batch.examples)])  # (C, D)
    cls = torch.cat([e.cell_class for e in batch.examples])
    rows = torch.cat([e.cell_row for e in batch.examples])
    cols = torch.cat([e.cell_col for e in batch.examples])
    digits = torch.cat([e.cell_digits for e in batch.examples])  # (C, 3)
    read = F.cross_entropy(heads.read(cells), cls)
    read_acc = float((heads.read(cells).argmax(-1) == cls).float().mean())
    where = F.cross_entropy(heads.row(cells), rows) + F.cross_entropy(heads.col(cells), cols)
    digit_logits = heads.digits(cells).view(-1, 3, 10)
    has_code = digits[:, 0] >= 0
    code = (F.cross_entropy(digit_logits[has_code].reshape(-1, 10), digits[has_code].reshape(-1))
            if bool(has_code.any()) else torch.zeros(()))
    point, point_acc, n_point = _pointer_loss(tap, batch, section)
    parts = {"reply": reply, "read": read, "where": where, "digits": code, "point": point}
    total = sum(LOSS_WEIGHTS[k] * v for k, v in parts.items())
    stats = {k: float(v.detach()) for k, v in parts.items()}
    stats.update(token_acc=token_acc, read_acc=read_acc, point_acc=point_acc, n_point=float(n_point))
    return total, stats
