"""Each run against the baseline: paired bootstrap of the rate difference on the same test set.

The test reuses the baseline's bootstrap settings (resamples, seed, unit, level) from its stored
scores, so the difference intervals match the single-run intervals printed beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UserError
from harness.report.load import RunResult, SuiteResults
from harness.scoring import paired_bootstrap


@dataclass(frozen=True)
class Difference:
    """Run minus baseline for one rule set and metric (fractions), or why there is none."""

    value: float | None
    low: float | None = None
    high: float | None = None
    prob_better: float | None = None
    note: str | None = None

    @property
    def significant(self) -> bool:
        """True when the interval of the difference excludes 0."""
        if self.low is None or self.high is None:
            return False
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class PairedSettings:
    """How the paired tests resample: the baseline's scoring settings."""

    n_boot: int
    seed: int
    block: str
    level: float


def paired_settings(results: SuiteResults) -> PairedSettings | None:
    """The baseline's bootstrap settings, or None when the baseline has no scores."""
    baseline = results.baseline
    if not baseline.scored:
        return None
    boot = baseline.record["scores"].get("bootstrap", {})
    return PairedSettings(n_boot=int(boot.get("n_boot", 1000)), seed=int(boot.get("seed", 0)),
                          block=str(boot.get("block", "utterance")),
                          level=float(boot.get("level", 0.95)))


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
    try:
        paired = paired_bootstrap(baseline.predictions, run.predictions, rule_set,
                                  n_boot=settings.n_boot, seed=settings.seed, metric=metric,
                                  block=settings.block, level=settings.level)
    except UserError as error:  # e.g. different test sets: the difference stands untested
        return Difference(point, note=f"no paired test: {error}")
    interval = paired["interval"]
    return Difference(paired["difference"], interval["low"], interval["high"],
                      paired["prob_b_better"])
