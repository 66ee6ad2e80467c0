"""The training objective of gui-tiny: reply cross-entropy plus dense auxiliary losses (see `examples`).

* reply: next-token cross-entropy on the gold replies (what `generate` is asked to do);
* read / where / digits: linear heads on the image tokens' hidden states after layer ``AUX_LAYER`` predict the
  word drawn on each cell, its row and column, and a notice code's digits. They teach the vision tower and the
  first layers to read labels and to carry absolute positions, which the sparse reply loss alone does not;
* point: query head 0 of the layer before the last (``"coord"``; of the one before that for memory hops), at the
  reply tokens that are coordinate digits, should attend to the target's cells in the clicked column (x digits) or
  row (y digits): ``-log sum_{k in target} softmax(q.k)``. It trains the copy of the target's position into the
  reply directly, and leaves the last layer to spell it. Query head ``COPY_HEAD`` of the last layer, at each reply
  token that spells a letter of the instruction's target word, should attend to that letter in the instruction
  (copy pointers, one key per query);
* copy: that head's own output, read through the final norm and ``lm_head``, names the letter it points at;
  recall: the same for the ``"hop"`` head at a memory step's noted characters (`Pointer.recalls`);
  carry: the coordinate head's own output, read by the ``where`` probe of its axis, names the clicked column (x)
  or row (y).
  ``point_acc`` counts the coordinate pointers only.
* spell: the reply cross-entropy of the coordinate digit tokens and of the token that ends each coordinate (the
  tokens the coordinate pointers' queries predict, and the next one). The reply loss averages over every reply
  token, of which the digits are a few; gt14 carried the clicked column into the digits' positions right 36 of 59
  times yet spelled half of those wrong.
* note: the same for a memory step's noted characters in its Thought and in its typed text (`Pointer.noted`), and
  the token after each (its newline, its quote).
  ft2r's hop head named 25 of 27 held-out code digits by its own output (teacher-forced), yet the reply wrote 7 of
  them: the recall reaches the hop head's output and is lost on the way to the logits. With the Thought's characters
  alone (ft3n, ft2r + 700 steps) the Thought's digits rose to 53 of 60, but the typed digits, which copy them, fell
  from 59 of 60 right given a right Thought to 41 of 60; with the typed ones too (ft4h, ft3n + 250 steps): 55 and 58,
  and with the token after each noted run too (ft5, ft4h + 500 steps): 60 and 60, held-out memory steps 32 of 32.
* name: the ``read`` probe, applied to the hidden state of each coordinate pointer's query positions (the input of
  the coordinate layer), names the word on the target's cells. The pointer matches a query against keys; reading
  puts the word's identity on the cells (the keys), and this puts the same identity, in the same probe's basis, at
  the digits that look for it (the queries). The probe's weights are not trained by it: the cells define the basis.

The heads (`AuxHeads`) are a training aid and are not shipped. Shape letters: B batch, L tokens, D hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from compression.models import chunk_positions, resolve

from agent.training.examples import CELL_CLASSES, MAX_COLS, MAX_ROWS, OTHER, POINTER_LAYERS, Example, Pointer

__all__ = ["AuxHeads", "Batch", "Landing", "collate", "compute_losses", "LOSS_WEIGHTS", "AUX_LAYER"]

AUX_LAYER = -3  # hidden_states index: the output of the "hop" layer (LM layer 1 of 4), whatever the depth
LOSS_WEIGHTS = {"reply": 1.0, "read": 1.0, "where": 0.5, "digits": 0.5, "name": 0.5, "point": 1.0, "copy": 1.0,
                "recall": 1.0, "carry": 0.5, "spell": 1.0, "note": 1.0}


class AuxHeads(nn.Module):
    """Linear probes on image-token hidden states: cell class, row, column, three code digits."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.read = nn.Linear(hidden, len(CELL_CLASSES))
        self.row = nn.Linear(hidden, MAX_ROWS)
        self.col = nn.Linear(hidden, MAX_COLS)
        self.digits = nn.Linear(hidden, 30)


@dataclass(frozen=True)
class Landing:
    """Where one coordinate pointer of example ``b`` looked (a diagnostic): per query, its top key, its attention
    mass on the target keys, and the column (x) or row (y) that the ``where`` probe reads in the head's output (the
    carry)."""

    b: int
    pointer: Pointer
    top: torch.Tensor  # (nq,) argmax key positions
    carried: torch.Tensor  # (nq,) column or row
    mass: torch.Tensor  # (nq,) softmax mass on pointer.keys


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

    @classmethod
    def of(cls, model: nn.Module) -> "AttentionTap":
        """A tap on the attention of every layer named in `POINTER_LAYERS`."""
        layers = model.model.language_model.layers
        return cls({name: layers[i].self_attn for name, i in POINTER_LAYERS.items()})

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def _pointer_loss(tap: AttentionTap, batch: Batch, section: list[int], readout: Callable[[torch.Tensor], torch.Tensor],
                  heads: AuxHeads, landed: list[Landing] | None = None) -> tuple[dict[str, torch.Tensor], float, int]:
    """The pointer losses of ``batch``: ({point, copy, recall, carry}, point_acc, n).

    point: mean -log(attention mass on the targets) over every pointer's queries. copy: for copy pointers, the
    supervised head's own output (its attention-weighted values through its slice of ``o_proj``) read by
    ``readout`` (the final norm and ``lm_head``) must name the next reply token, the letter the head points at.
    Without it the head learned to look at the right letter yet the reply kept a constant first letter (gt5 at
    step 200: mass 1.00 on the letter, first letter right 0/8): attention alone does not train what is read.
    recall: the same readout for the pointers that recall a noted character (`Pointer.recalls`).
    carry: the same for the coordinate pointers (``axis`` set): the head's own output, read by the ``where`` probe of
    its axis, names the column (x) or row (y) of the cells it points at.
    point_acc: the share of coordinate-pointer queries whose argmax hits a target.
    landed: if given, receives a `Landing` for every coordinate pointer.
    """
    losses, copies, recalls, carries, hits, n = [], [], [], [], 0, 0
    ids = batch.inputs["input_ids"]
    for name, attn in tap.attentions.items():
        hidden, pe = tap.seen[name]
        cos, sin = _merged(pe, section)
        D, groups = attn.head_dim, attn.num_key_value_groups
        # Views split once: indexing a view of one example (one head) costs its backward a buffer of that view's size,
        # while indexing the batch tensor costs one of the whole batch per index (gt14: a fifth of a step in fill_).
        per_example, o_heads = hidden.unbind(0), attn.o_proj.weight.split(D, dim=1)
        for b, ex in enumerate(batch.examples):
            pointers = [p for p in ex.pointers if p.layer == name]
            if not pointers:
                continue
            h = per_example[b]
            last = max(int(p.queries.max()) for p in pointers) + 1
            k = attn.k_proj(h[:last]).view(last, -1, D)  # (last, KV heads, D): projected once
            k = k * cos[b, :last, None] + _rotate_half(k) * sin[b, :last, None]
            k_heads, v_heads = k.unbind(1), attn.v_proj(h[:last]).view(last, -1, D).unbind(1)
            at = torch.cat([p.queries for p in pointers])  # every query of the example, projected at once
            q = attn.q_proj(h[at]).view(at.numel(), -1, D)  # (nq, heads, D)
            q = q * cos[b, at, None] + _rotate_half(q) * sin[b, at, None]
            positions = torch.arange(last)
            for p, q_p in zip(pointers, q.split([p.queries.numel() for p in pointers])):
                kv = p.head // groups  # the KV head that serves query head p.head
                scores = (q_p[:, p.head] @ k_heads[kv].T) * attn.scaling  # (nq, last)
                scores = scores.masked_fill(positions[None, :] > p.queries[:, None], float("-inf"))
                coordinate = bool(p.axis)
                if p.aligned or p.recalls or coordinate:  # what this head alone adds to the residual, (nq, hidden)
                    written = (scores.softmax(-1) @ v_heads[kv]) @ o_heads[p.head].T
                if p.aligned or p.recalls:  # the head's output names the next token
                    named = F.cross_entropy(readout(written), ids[b, p.queries + 1], reduction="none")
                    (copies if p.aligned else recalls).append(named)
                if p.aligned:  # query i -> keys[i]
                    on_target = scores.gather(1, p.keys[:, None])[:, 0]
                else:  # any of the keys
                    on_target = torch.logsumexp(scores[:, p.keys], -1)
                    if coordinate:
                        carry, carried = _carry_loss(heads, written, ex, p.keys, p.axis)
                        carries.append(carry)
                losses.append(torch.logsumexp(scores, -1) - on_target)
                if coordinate:
                    top = scores.argmax(-1)
                    hits += int(torch.isin(top, p.keys).sum())
                    n += p.queries.numel()
                    if landed is not None:
                        landed.append(Landing(b, p, top, carried, (-losses[-1]).detach().exp()))
    mean = lambda parts: torch.cat(parts).mean() if parts else torch.zeros(())
    return ({"point": mean(losses), "copy": mean(copies), "recall": mean(recalls), "carry": mean(carries)},
            hits / max(n, 1), n)


def _carry_loss(heads: AuxHeads, written: torch.Tensor, ex: Example, keys: torch.Tensor, axis: str
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query: cross-entropy of the ``where`` probe of ``axis`` (x: column, y: row) on ``written`` against the
    columns (rows) of ``keys`` (image-token positions), each key weighing the same (coordinate keys share one);
    and the column (row) the probe names."""
    cells = torch.searchsorted(ex.cell_pos, keys)  # cell_pos is increasing
    probe, of_cell, size = (heads.col, ex.cell_col, MAX_COLS) if axis == "x" else (heads.row, ex.cell_row, MAX_ROWS)
    target = F.one_hot(of_cell[cells], size).float().mean(0)  # (size,)
    logits = probe(written)
    return F.cross_entropy(logits, target.expand(written.shape[0], -1), reduction="none"), logits.argmax(-1)


def _rows(x: torch.Tensor, at: list[tuple[int, torch.Tensor]]) -> torch.Tensor:
    """``x`` (B, L, ...) at the positions of each ``(example, positions)`` of ``at``, concatenated: (N, ...). One
    gather, so its backward allocates one buffer rather than one of the whole batch per example."""
    B, L = x.shape[:2]
    return x.reshape(B * L, *x.shape[2:])[torch.cat([b * L + positions for b, positions in at])]


def _name_loss(heads: AuxHeads, hidden: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, float]:
    """(loss, accuracy) of the ``name`` part (module docstring) over the coordinate pointers of ``batch``;
    (0, 0.0) when it has none. ``hidden``: (B, L, D) at ``AUX_LAYER``."""
    at, words = [], []
    for b, ex in enumerate(batch.examples):
        for p in ex.pointers:
            if p.axis:
                target = ex.cell_class[torch.searchsorted(ex.cell_pos, p.keys[:1])]  # (1,) the word on the target
                at.append((b, p.queries))
                words.append(target.expand(p.queries.numel()))
    if not at:
        return torch.zeros(()), 0.0
    logits = F.linear(_rows(hidden, at), heads.read.weight.detach(), heads.read.bias.detach())
    target = torch.cat(words)
    return F.cross_entropy(logits, target), float((logits.argmax(-1) == target).float().mean())


def _spell_loss(logits: torch.Tensor, target: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Cross-entropy of the coordinate digits and each coordinate's end (the ``spell`` part); 0 when ``batch`` has
    none.
    ``logits``/``target``: (B, L-1, V)/(B, L-1), position i predicting token i + 1, as for the reply loss."""
    # each coordinate's digits and the token after them (its "," or ")"): with the digits alone, gt15 spelled
    # them right but ran on past them ("(238,982)", "(3222666)": 16% of its held-out replies unparsable)
    return _cross_entropy_at(logits, target, [(b, torch.cat([p.queries, p.queries[-1:] + 1]))
                                              for b, ex in enumerate(batch.examples) for p in ex.pointers if p.axis])


def _note_loss(logits: torch.Tensor, target: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Cross-entropy of the characters memory steps noted (`Pointer.noted`: in the Thought and typed) and of the
    token after each noted run (the Thought's newline, the typed text's quote; the ``note`` part); 0 when ``batch``
    has none. ``logits``/``target`` as for `_spell_loss`."""
    # the token after the run, as `_spell_loss` does for coordinates: with the characters alone, ft4h ran on past
    # two held-out words ("Click Tablesssssshed(", "Fitnesssssshed": unparsable)
    at = []
    for b, ex in enumerate(batch.examples):
        noted = [p.queries for p in ex.pointers if p.noted]
        if noted:
            queries = torch.cat(noted).unique()
            at.append((b, torch.cat([queries, queries[~torch.isin(queries + 1, queries)] + 1])))
    return _cross_entropy_at(logits, target, at)


def _cross_entropy_at(logits: torch.Tensor, target: torch.Tensor, at: list[tuple[int, torch.Tensor]]) -> torch.Tensor:
    """The mean reply cross-entropy over the positions ``at`` (`_rows`); 0 when there are none."""
    if not at:
        return torch.zeros(())
    return F.cross_entropy(_rows(logits, at), _rows(target, at))


def _plain_twins(model: nn.Module, batch: Batch, every: bool = False) -> tuple[list[int], torch.Tensor] | None:
    """(rows of ``batch``, their hidden states at ``AUX_LAYER`` as ``model`` gives them, (b, L, D), no gradient):
    the `lit` examples forwarded on their screens painted without the lit widgets (`Example.plain_pixel_values`),
    and with ``every`` the other examples too, as they are; None when there are no rows."""
    rows = [b for b, e in enumerate(batch.examples) if every or e.plain_pixel_values is not None]
    if not rows:
        return None
    inputs = batch.inputs
    pixels = [e.pixel_values if e.plain_pixel_values is None else e.plain_pixel_values
              for e in (batch.examples[b] for b in rows)]
    twin = dict(input_ids=inputs["input_ids"][rows], attention_mask=inputs["attention_mask"][rows],
                position_ids=inputs["position_ids"][:, rows], pixel_values=torch.cat(pixels),
                image_grid_thw=torch.cat([batch.examples[b].image_grid_thw for b in rows]))
    with torch.no_grad():
        return rows, model(**twin, output_hidden_states=True, use_cache=False).hidden_states[AUX_LAYER]


def _match_loss(hidden: torch.Tensor, batch: Batch, rows: list[int], plain: torch.Tensor) -> torch.Tensor:
    """The ``match`` loss of the examples ``rows``: the squared distance of their hidden states at ``AUX_LAYER`` to
    the targets ``plain`` (`_plain_twins`: of the plain twins where the screen is lit), relative to the targets'
    squared norm, averaged over the cells lit screens repaint (`Example.cell_lit`), plus `MATCH_ANCHOR` times the same
    over every other position of the rows (text and image). ``hidden``: (B, L, D) of the batch.

    The read loss names inverted labels through a probe; the first term asks the image path for the representation
    the same word gets drawn plainly, which is what the pointer matches the instruction against. Continuations with
    the read loss alone, even weighted 20x with the vision tower at 10x the rate, left soup5 (then shipped) unable
    to read inverted menu titles (README: rw1, lit1, vis1). The second term keeps everything else where the targets
    have it: with a frozen teacher (a continuation), which gives the targets of every example of the batch, the
    layers after ``AUX_LAYER`` see what they were trained on (mt6, which anchored the lit examples alone, fell from
    283 to 262 of 300 held-out grounding screens over its reading phase)."""
    ex = [batch.examples[b] for b in rows]
    mask = batch.inputs["attention_mask"][rows].bool()  # (b, L)
    lit = torch.zeros_like(mask)
    for i, e in enumerate(ex):
        if e.cell_lit is not None:
            lit[i, e.cell_pos[e.cell_lit]] = True
    got = hidden[rows]
    terms = [w * _relative_error(got[m], plain[m]) for w, m in ((1.0, lit), (MATCH_ANCHOR, mask & ~lit))
             if bool(m.any())]
    return sum(terms, torch.zeros(()))


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of the rows of ``got`` to those of ``want``, over the mean squared norm of ``want``."""
    return (got - want).pow(2).sum(-1).mean() / want.pow(2).sum(-1).mean()


# How much more the match loss weighs keeping the positions a lit screen does not repaint than moving the repainted
# ones: weighed evenly, mt7's reading phase left a relative error of 0.039 on the image cells of plain screens at
# AUX_LAYER (0.006 on text), which cost 21 of 300 held-out grounding clicks.
MATCH_ANCHOR = 10.0


# The losses of the reading phase (`agent.training.run`). Not "where": in a reading-only run with it the read probe
# named 0.30 of the held-out word cells after 200 steps, without it 0.48 (and 0.79 after 620). Whether "where" only
# delays reading's late breakthrough or prevents it is not settled.
READING_PARTS = ("read", "digits")


def compute_losses(model: nn.Module, heads: AuxHeads, tap: AttentionTap, batch: Batch, section: list[int], *,
                   reading_only: bool = False, landed: list[Landing] | None = None, inverted_weight: float = 1.0,
                   match_weight: float = 0.0, teacher: nn.Module | None = None
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward ``batch`` and return the weighted total loss and each part (plus pointer and token accuracies).

    reading_only: the total is the `READING_PARTS` alone and the pointer losses are not computed (reported as 0).
    ``name_acc`` is the ``name`` part's accuracy. ``word_acc`` is the read probe's accuracy on the cells that show a
    word or an icon; ``read_acc`` counts blank cells too, which are most cells (gt7: read_acc 0.74 while word cells
    were read right 34% of the time). ``inv_acc`` is its accuracy on the word cells of inverted widgets (white on
    the accent colour), 0 when the batch shows none.
    landed: see `_pointer_loss` (a diagnostic: where the coordinate pointers look).
    inverted_weight: the ``read`` loss weighs each cell of an inverted widget this many times as much as any other
    cell (a weighted mean). A probe fitted to soup5 (gui-tiny shipped 2026-12-06 to 12-07; 100 steps, the model frozen)
    named the word on 0 of 86 cells of inverted menu titles and 3 of 69 of inverted list items (drawn normally: 94%
    and 89%; the inverted "OK" of every dialog: all): they are a few cells in a thousand of the training screens, so
    the read loss hardly asks for them, and a pointer cannot match an instruction's word to a cell that does not
    carry it.
    match_weight: the total adds ``match`` (`_match_loss`) this many times; 0 leaves it out (reported as 0).
    teacher: the model whose hidden states ``match`` asks for, on the plain twins of lit screens and on every other
    example as it is (a frozen copy of a continuation's starting model); None: ``model`` itself, no gradient, on
    the lit examples alone (on the others it would ask for what they already have).
    """
    # before the batch's own forward, whose attention inputs the tap must hold for the pointer losses (a teacher has
    # no tap)
    twins = None
    if match_weight > 0:
        twins = _plain_twins(model if teacher is None else teacher, batch, every=teacher is not None)
    out = model(**batch.inputs, output_hidden_states=True, use_cache=False)
    logits = out.logits[:, :-1]  # (B, L-1, V)
    target = batch.labels[:, 1:]
    reply = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)
    valid = target != -100
    token_acc = float((logits.argmax(-1)[valid] == target[valid]).float().mean())
    hidden = out.hidden_states[AUX_LAYER]  # (B, L, D)
    cells = _rows(hidden, [(b, e.cell_pos) for b, e in enumerate(batch.examples)])  # (C, D)
    cls = torch.cat([e.cell_class for e in batch.examples])
    rows = torch.cat([e.cell_row for e in batch.examples])
    cols = torch.cat([e.cell_col for e in batch.examples])
    digits = torch.cat([e.cell_digits for e in batch.examples])  # (C, 3)
    inverted = torch.cat([e.cell_inverted for e in batch.examples])  # (C,)
    read_logits = heads.read(cells)
    cell_weight = 1.0 + (inverted_weight - 1.0) * inverted.float()  # (C,)
    read = (F.cross_entropy(read_logits, cls, reduction="none") * cell_weight).sum() / cell_weight.sum()
    read_right = read_logits.argmax(-1) == cls
    read_acc = float(read_right.float().mean())
    shows_word = cls < CELL_CLASSES.index(OTHER)
    word_acc = float(read_right[shows_word].float().mean()) if bool(shows_word.any()) else 0.0
    inverted_word = shows_word & inverted
    inv_acc = float(read_right[inverted_word].float().mean()) if bool(inverted_word.any()) else 0.0
    where = F.cross_entropy(heads.row(cells), rows) + F.cross_entropy(heads.col(cells), cols)
    digit_logits = heads.digits(cells).view(-1, 3, 10)
    drawn = digits >= 0  # (C, 3): a cell carries only the slots of the digits drawn on it
    code = F.cross_entropy(digit_logits[drawn], digits[drawn]) if bool(drawn.any()) else torch.zeros(())
    name, name_acc = _name_loss(heads, hidden, batch)
    spell, note = _spell_loss(logits, target, batch), _note_loss(logits, target, batch)
    norm = model.model.language_model.norm
    lm_head = model.get_output_embeddings()
    if reading_only:
        pointed, point_acc, n_point = {k: torch.zeros(()) for k in ("point", "copy", "recall", "carry")}, 0.0, 0
    else:
        readout = lambda h: lm_head(norm(h))
        pointed, point_acc, n_point = _pointer_loss(tap, batch, section, readout, heads, landed)
    match = _match_loss(hidden, batch, *twins) if twins is not None else torch.zeros(())
    parts = {"reply": reply, "read": read, "where": where, "digits": code, "name": name, "spell": spell, "note": note,
             **pointed}
    total = sum(LOSS_WEIGHTS[k] * v for k, v in parts.items() if not reading_only or k in READING_PARTS)
    total = total + match_weight * match
    parts["match"] = match
    stats = {k: float(v.detach()) for k, v in parts.items()}
    stats.update(token_acc=token_acc, read_acc=read_acc, word_acc=word_acc, name_acc=name_acc, point_acc=point_acc,
                 n_point=float(n_point), inv_acc=inv_acc)
    return total, stats
