"""Scoring of stored predictions: WER/CER from summed edit counts, intervals, paired tests.

    score_predictions(records, ["blog"])        -> per rule set: wer, cer, counts, intervals
    paired_bootstrap(records_a, records_b, "blog") -> difference b - a, interval, P(b better)
    paired_difference(a, b, "blog", "wer", settings) -> Difference, the one significance rule
    top_errors(records, "blog")                 -> most frequent substitutions/insertions/deletions
    score_run_dir(run_dir, ["blog"])            -> the above for run_dir/predictions.jsonl,
                                                   written to run_dir/scores.json

WER and CER are corpus-level, (S + D + I) / N over summed counts. An empty reference counts as
N = 0 with every hypothesis word (character) an insertion; the full rules are in `counts`.

Modules: `counts` (how edits are counted), `bootstrap` (vectorized resampling), `records`
(reading predictions.jsonl), `score` (the functions above), `paired` (the paired test that the
report and `expect:` share).
"""

from harness.scoring.counts import EditCounts, count_edits
from harness.scoring.paired import Difference, PairedSettings, paired_difference
from harness.scoring.records import load_predictions
from harness.scoring.score import (
    paired_bootstrap,
    score_predictions,
    score_run_dir,
    top_errors,
)

__all__ = [
    "Difference",
    "EditCounts",
    "PairedSettings",
    "count_edits",
    "load_predictions",
    "paired_bootstrap",
    "paired_difference",
    "score_predictions",
    "score_run_dir",
    "top_errors",
]
