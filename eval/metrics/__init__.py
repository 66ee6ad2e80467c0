"""Metrics of the five benchmarks (and synthdesk, the project's own), each in two variants from the same predictions.

"compat" reproduces the reference harness (SalesforceAIResearch/GUI-KV @ b301d41) formulas and conversions, bugs
included; "fixed" corrects the bugs of spec-benchmarks.md §8.1, each one listed in `FIXES`. Scorers take a sample
from `tasks.load(...)` and a parsed reply (`actions.ParsedOutput`, or None plus the error text when the reply could
not be parsed: the model's mistakes are data and score 0) and return a frozen score record; summarisers turn the
records (or their JSON dicts) into `{"counts", "compat", "fixed"}` with the per-category breakdowns.
No torch here: everything is plain Python on points, boxes and strings.
"""

from eval.metrics.agentnetbench import AgentNetScore
from eval.metrics.androidcontrol import AndroidControlScore
from eval.metrics.common import FAMILIES, VARIANTS, Family, ScoreRecord, Status, Variant, point_in_box
from eval.metrics.dispatch import RECORD_TYPES, SUMMARIZERS, score_sample, score_skipped, summarize
from eval.metrics.fixes import FIXES, Fix, fixes_for
from eval.metrics.grounding import GroundingScore
from eval.metrics.mind2web import Mind2WebScore
from eval.metrics.synthdesk import SynthdeskScore

__all__ = [
    "FAMILIES", "FIXES", "RECORD_TYPES", "SUMMARIZERS", "VARIANTS", "AgentNetScore", "AndroidControlScore", "Family",
    "Fix", "GroundingScore", "Mind2WebScore", "ScoreRecord", "Status", "Variant", "fixes_for", "point_in_box",
    "SynthdeskScore", "score_sample", "score_skipped", "summarize",
]
