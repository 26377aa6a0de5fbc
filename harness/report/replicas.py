"""A setting's cell over its training seeds: the mean, the spread, the two-level interval.

One seed: the run's stored rate and its stored utterance-bootstrap interval. Several seeds: the
mean of the seeds' rates (each checked against its predictions, harness.run.record), their sd
and min-max, and the interval of harness.scoring.seeded (seeds, then utterances, resampled)
computed from the same predictions, with the suite's bootstrap settings.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import UserError
from harness.report.load import SettingResult, SuiteResults
from harness.scoring import seed_rates
from harness.scoring.paired import PairedSettings


@dataclass(frozen=True)
class Summary:
    """A rate of one setting: mean over its scored seeds, interval, spread."""

    mean: float
    low: float | None
    high: float | None
    per_seed: tuple[float, ...]
    replicas: int  # the setting's runs, scored or not

    @property
    def seeds(self) -> int:
        """How many seeds the mean is over."""
        return len(self.per_seed)

    @property
    def sd(self) -> float | None:
        """Sample standard deviation across seeds; None for one seed."""
        return statistics.stdev(self.per_seed) if self.seeds > 1 else None


def summarize(results: SuiteResults, settings: PairedSettings | None,
              metrics: tuple[str, ...] = ("wer", "cer"),
              rule_sets: Sequence[str] | None = None) -> dict[tuple[str, str, str], Summary]:
    """(setting's first run id, rule set, metric) -> its Summary, for every scored setting,
    under `rule_sets` (default: all of results.rule_sets)."""
    out = {}
    for setting in results.settings:
        for rule_set in results.rule_sets if rule_sets is None else rule_sets:
            for metric in metrics:
                summary = _summary(setting, rule_set, metric, settings)
                if summary is not None:
                    out[(setting.run.id, rule_set, metric)] = summary
    return out


def _summary(setting: SettingResult, rule_set: str, metric: str,
             settings: PairedSettings | None) -> Summary | None:
    runs = [r for r in setting.scored_runs if r.rate(rule_set, metric) is not None]
    if not runs:
        return None
    rates = tuple(r.rate(rule_set, metric) for r in runs)
    if len(runs) == 1:
        low, high = runs[0].stored.interval(rule_set, metric)
        return Summary(rates[0], low, high, rates, len(setting.runs))
    low = high = None
    predictions = [r.predictions for r in runs]
    if settings is not None and all(p is not None for p in predictions):
        try:
            seeded = seed_rates(predictions, rule_set, metric, n_boot=settings.n_boot,
                                seed=settings.seed, block=settings.block, level=settings.level)
            low, high = seeded["interval"]["low"], seeded["interval"]["high"]
        except UserError:
            pass  # different test sets: the mean and spread stand, without an interval
    return Summary(sum(rates) / len(rates), low, high, rates, len(setting.runs))
