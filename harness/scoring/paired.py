"""Is run b better than run a? One paired test, shared by the report's Δ column and `expect:`.

A paired bootstrap over the same test utterances, and over training seeds when both settings
were replicated (harness.scoring.seeded), gives b - a with its interval; the difference is
significant when the interval excludes 0, and it shows "b lower than a" only when the whole
interval lies below 0 (an interval that straddles 0 shows nothing, whichever side its point
estimate falls on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import UserError
from harness.scoring.seeded import paired_over_seeds

LEVEL = 0.95


@dataclass(frozen=True)
class PairedSettings:
    """How a suite's paired tests resample: the baseline's `eval.bootstrap`, `eval.block` and
    `eval.bootstrap_seed`, at a 95% level (the single-run intervals use the same; the training
    seed plays no part, so replicas over train.seed draw the same resamples)."""

    n_boot: int
    seed: int
    block: str
    level: float = LEVEL

    @classmethod
    def of(cls, spec) -> PairedSettings:
        """The settings a run spec (harness.config.settings.RunSpec) scores with."""
        return cls(n_boot=spec.eval.bootstrap, seed=spec.eval.bootstrap_seed,
                   block=spec.eval.block)


@dataclass(frozen=True)
class Difference:
    """b - a for one rule set and metric (fractions) with its interval, or why there is none."""

    value: float | None
    low: float | None = None
    high: float | None = None
    prob_better: float | None = None  # P(b has the lower rate) over the resamples
    note: str | None = None
    seeds: int = 1  # training-seed pairs; 1: the utterance bootstrap alone

    @property
    def tested(self) -> bool:
        """Whether a paired test gave an interval."""
        return self.low is not None and self.high is not None

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (either way)."""
        return self.clearly_lower or self.clearly_higher

    @property
    def clearly_lower(self) -> bool:
        """b's rate is below a's over the whole interval: [-0.05, -0.01] yes, [-0.05, 0.01] no."""
        return self.tested and self.high < 0

    @property
    def clearly_higher(self) -> bool:
        """b's rate is above a's over the whole interval: [0.01, 0.05] yes, [-0.01, 0.05] no."""
        return self.tested and self.low > 0


def paired_difference(predictions_a: Sequence[dict], predictions_b: Sequence[dict],
                      rule_set: str, metric: str, settings: PairedSettings) -> Difference:
    """b - a by a paired bootstrap over utterances (one run each)."""
    return seed_paired_difference([(predictions_a, predictions_b)], rule_set, metric, settings)


def seed_paired_difference(pairs: Sequence[tuple[Sequence[dict], Sequence[dict]]],
                           rule_set: str, metric: str, settings: PairedSettings) -> Difference:
    """b - a paired by training seed and by utterance (harness.scoring.seeded); a Difference
    with a note (no interval) when the runs cannot be paired (different test sets, none)."""
    try:
        paired = paired_over_seeds(pairs, rule_set, n_boot=settings.n_boot, seed=settings.seed,
                                   metric=metric, block=settings.block, level=settings.level)
    except UserError as error:
        return Difference(None, note=f"no paired test: {error}")
    interval = paired["interval"]
    return Difference(paired["difference"], interval["low"], interval["high"],
                      paired["prob_b_better"], seeds=paired["seeds"])
