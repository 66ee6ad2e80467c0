"""One entry point per job for the runner: score any sample, record any skipped sample, summarise any benchmark.

`score_sample` picks the benchmark scorer from the sample's type (a synthdesk step is scored with its task:
`eval.metrics.synthdesk.score_step`); `summarize` from the benchmark name. Records are
pydantic models (`RECORD_TYPES[benchmark]`); write `record.model_dump(mode="json")` to results.jsonl and hand the
dicts read back to `summarize` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from typing import Any

from actions.schema import ParsedOutput
from tasks.schema import (
    AgentNetStep, AndroidControlStep, GroundingSample, Mind2WebStep, SkippedSample,
)

from eval.metrics import agentnetbench, androidcontrol, mind2web, screenspot_pro, screenspot_v2, synthdesk
from eval.metrics.common import Family, ScoreRecord
from eval.metrics.fixes import fixes_for
from eval.metrics.grounding import GroundingScore, score_grounding, skipped_grounding

__all__ = ["RECORD_TYPES", "SUMMARIZERS", "score_sample", "score_skipped", "summarize"]

#: Benchmark name -> its score record model.
RECORD_TYPES: dict[str, type[ScoreRecord]] = {
    "screenspot-v2": GroundingScore,
    "screenspot-pro": GroundingScore,
    "agentnetbench": agentnetbench.AgentNetScore,
    "androidcontrol": androidcontrol.AndroidControlScore,
    "mind2web": mind2web.Mind2WebScore,
    "synthdesk": synthdesk.SynthdeskScore,
}

#: Benchmark name -> records -> {"counts", "compat", "fixed"}.
SUMMARIZERS: dict[str, Callable[[Iterable[Any]], dict[str, Any]]] = {
    "screenspot-v2": screenspot_v2.summarize,
    "screenspot-pro": screenspot_pro.summarize,
    "agentnetbench": agentnetbench.summarize,
    "androidcontrol": androidcontrol.summarize,
    "mind2web": mind2web.summarize,
    "synthdesk": synthdesk.summarize,
}


def score_sample(
    sample: GroundingSample | AgentNetStep | AndroidControlStep | Mind2WebStep,
    parsed: ParsedOutput | None,
    *,
    family: Family,
    error: str | None = None,
    block_index: int = 0,
    use_edit_distance: bool = True,
) -> ScoreRecord:
    """Score one prediction against one sample (an AgentNetBench *step*, not the episode).

    parsed: the parsed reply, or None when parsing (or generation) failed; `error` then says why (required).
    family: "uitars" or "opencua" (the reference converts each differently).
    block_index: Mind2Web only: the block the final prediction was made on after scrolling.
    use_edit_distance: AgentNetBench compat only: False reproduces a reference run without `editdistance`.
    An AgentNetBench step with `skipped` set gives its skipped record whatever `parsed` is.
    """
    if isinstance(sample, GroundingSample):
        return score_grounding(sample, parsed, family=family, error=error)
    if isinstance(sample, AgentNetStep):
        if sample.skipped is not None:
            return agentnetbench.skipped_step(sample)
        return agentnetbench.score_step(sample, parsed, family=family, error=error,
                                        use_edit_distance=use_edit_distance)
    if isinstance(sample, AndroidControlStep):
        return androidcontrol.score_step(sample, parsed, family=family, error=error)
    if isinstance(sample, Mind2WebStep):
        return mind2web.score_step(sample, parsed, family=family, block_index=block_index, error=error)
    raise TypeError(f"cannot score a {type(sample).__name__}; expected a sample from tasks.load()")


def score_skipped(skipped: SkippedSample) -> ScoreRecord:
    """The record of a sample the loader skipped (missing or unreadable image)."""
    reason = f"{skipped.reason}: {skipped.detail}"
    if skipped.benchmark in ("screenspot-v2", "screenspot-pro"):
        return skipped_grounding(skipped)
    if skipped.benchmark == "androidcontrol":
        return androidcontrol.skipped_step(skipped.sample_id, reason)
    if skipped.benchmark == "mind2web":
        parts = skipped.sample_id.split("/")  # <split>/<annotation_id>/<action_uid>
        split, annotation_id = (parts[0], parts[1]) if len(parts) == 3 else (None, None)
        return mind2web.skipped_step(skipped.sample_id, reason, split=split, annotation_id=annotation_id)
    raise ValueError(
        f"skipped.benchmark={skipped.benchmark!r}: AgentNetBench marks skipped steps on the step "
        "(AgentNetStep.skipped); score those with score_sample"
    )


def summarize(benchmark: str, records: Iterable[ScoreRecord | Mapping[str, Any]]) -> dict[str, Any]:
    """`{"benchmark", "counts", "compat", "fixed", "fixes"}` for one benchmark's score records (models or dicts).

    `fixes` lists the FIXES entries of this benchmark (id, spec, compat, fixed, where) so summary.json documents
    what separates the two variants. AndroidControl records must be in dataset order (see its summarize).
    """
    if benchmark not in SUMMARIZERS:
        raise ValueError(f"benchmark={benchmark!r}; allowed: {', '.join(SUMMARIZERS)}")
    summary = SUMMARIZERS[benchmark](records)
    return {"benchmark": benchmark, **summary, "fixes": [asdict(f) for f in fixes_for(benchmark)]}
