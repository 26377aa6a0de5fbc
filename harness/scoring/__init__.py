"""Scoring of stored predictions: WER/CER from summed edit counts, intervals, paired tests.

    score_predictions(records, ["blog"])        -> per rule set: wer, cer, counts, intervals
    paired_bootstrap(records_a, records_b, "blog") -> difference b - a, interval, P(b better)
    seed_rates([records_seed0, ...], "blog")    -> mean over seeds, sd, min-max, two-level CI
    paired_over_seeds([(a0, b0), (a1, b1)], "blog") -> b - a paired by seed and by utterance
    paired_difference(a, b, "blog", "wer", settings) -> Difference, the one significance rule
    top_errors(records, "blog")                 -> most frequent substitutions/insertions/deletions
    score_run_dir(run_dir, ["blog"])            -> the above for run_dir/predictions.jsonl,
                                                   written to run_dir/scores.json

WER and CER are corpus-level, (S + D + I) / N over summed counts. An empty reference counts as
N = 0 with every hypothesis word (character) an insertion; the full rules are in `counts`.

Modules: `counts` (how edits are counted), `bootstrap` (vectorized resampling), `records`
(reading predictions.jsonl), `score` (single-run scores), `seeded` (paired tests and training-seed
replicas: the two-level bootstrap), `paired` (the significance rule the report and `expect:`
share).
"""

from harness.scoring.counts import EditCounts, count_edits
from harness.scoring.paired import Difference, PairedSettings, paired_difference
from harness.scoring.records import load_predictions
from harness.scoring.score import (
    score_predictions,
    score_run_dir,
    top_errors,
)
from harness.scoring.seeded import paired_bootstrap, paired_over_seeds, seed_rates

__all__ = [
    "Difference",
    "EditCounts",
    "PairedSettings",
    "count_edits",
    "load_predictions",
    "paired_bootstrap",
    "paired_difference",
    "paired_over_seeds",
    "score_predictions",
    "score_run_dir",
    "seed_rates",
    "top_errors",
]
