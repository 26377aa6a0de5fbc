"""Each run against the baseline: the paired test of harness.scoring.paired on the same test set.

The settings (resamples, seed, unit, level) are the baseline spec's, as for `expect:` and for the
single-run intervals printed beside them, so a `*` here and a `significantly` there agree.
"""

from __future__ import annotations

import dataclasses

from harness.report.load import RunResult, SuiteResults
from harness.scoring.paired import Difference, PairedSettings, paired_difference

__all__ = ["Difference", "differences", "paired_settings"]


def paired_settings(results: SuiteResults) -> PairedSettings | None:
    """The baseline's paired-test settings, or None when the baseline has no scores."""
    if not results.baseline.scored:
        return None
    return PairedSettings.of(results.suite.baseline.spec)


def differences(results: SuiteResults, metric: str = "wer") -> dict[tuple[str, str], Difference]:
    """(run id, rule set) -> difference to the baseline, for every scored non-baseline run."""
    settings = paired_settings(results)
    baseline = results.baseline
    out: dict[tuple[str, str], Difference] = {}
    for result in results.scored:
        if result is baseline:
            continue
        for rule_set in results.rule_sets:
            out[(result.run.id, rule_set)] = _difference(baseline, result, rule_set, metric,
                                                         settings)
    return out


def _difference(baseline: RunResult, run: RunResult, rule_set: str, metric: str,
                settings: PairedSettings | None) -> Difference:
    rate_a, rate_b = baseline.rate(rule_set, metric), run.rate(rule_set, metric)
    if settings is None:
        return Difference(None, note="the baseline has no scores")
    if rate_a is None or rate_b is None:
        return Difference(None, note=f"no {metric.upper()} under {rule_set} for both runs")
    point = rate_b - rate_a
    if baseline.predictions is None or run.predictions is None:
        return Difference(point, note="predictions.jsonl missing, no paired test")
    paired = paired_difference(baseline.predictions, run.predictions, rule_set, metric, settings)
    # e.g. different test sets: the difference of the stored rates stands, untested
    return paired if paired.tested else dataclasses.replace(paired, value=point)
