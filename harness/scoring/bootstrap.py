"""Vectorized bootstrap for error rates that are ratios of summed counts (WER, CER).

An error rate over a set of units (utterances, or speakers as blocks) is sum(errors) / sum(length).
A bootstrap resample draws the units with replacement, so it is fully described by how many times
each unit was drawn. We draw all resamples at once as a (n_boot, n_units) matrix of draw counts;
every resampled rate is then one matrix product, `weights @ counts`, shared by WER and CER and by
every rule set (same seed -> same resamples -> comparable intervals).

Size: 1,000 resamples x 2,620 utterances (LibriSpeech test-clean) = 2.6 M draws, a 21 MB float64
matrix and one BLAS product: milliseconds, against ~2 minutes for re-running jiwer per resample
(see benchmarks/bench_scoring.py).

A resample whose reference length sums to 0 (possible only when units with empty references are
drawn exclusively) has no defined rate; it is left out of the percentiles and counted in
`undefined_resamples`, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Resamples are drawn in chunks of at most this many draws (rows x units) so memory stays bounded
# on large test sets: 8 M draws = 64 MB of float64 weights per chunk.
_MAX_DRAWS_PER_CHUNK = 8_000_000


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval of one error rate."""

    low: float | None
    high: float | None
    level: float
    undefined_resamples: int

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "undefined_resamples": self.undefined_resamples,
        }


def draw_weights(n_units: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_units) float64 matrix: how many times each unit is drawn in each resample.

    Each row sums to n_units (a resample is as large as the sample). Built from uniform indices and
    one `bincount`, which is exact and ~10x faster than `rng.multinomial` row by row.
    """
    if n_units <= 0 or n_boot <= 0:
        return np.zeros((max(n_boot, 0), max(n_units, 0)))
    rows = []
    per_chunk = max(1, _MAX_DRAWS_PER_CHUNK // n_units)
    for start in range(0, n_boot, per_chunk):
        m = min(per_chunk, n_boot - start)
        idx = rng.integers(0, n_units, size=(m, n_units))
        flat = (idx + (np.arange(m) * n_units)[:, None]).ravel()
        rows.append(np.bincount(flat, minlength=m * n_units).reshape(m, n_units))
    return np.concatenate(rows).astype(np.float64)


def resampled_rates(errors: np.ndarray, lengths: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rate of every resample: (weights @ errors) / (weights @ lengths); NaN where the length is 0.

    Counts are integers far below 2**53, so the float64 sums are exact and a resample whose rate
    equals the point estimate gives the identical float.
    """
    stacked = np.stack([errors, lengths], axis=1).astype(np.float64)
    resampled_errors, resampled_lengths = (weights @ stacked).T
    defined = resampled_lengths > 0
    return np.where(defined, resampled_errors / np.where(defined, resampled_lengths, 1.0), np.nan)


def percentile_interval(rates: np.ndarray, level: float = 0.95) -> Interval:
    """Percentile interval of bootstrap rates; NaN (undefined) resamples are counted, not used."""
    defined = rates[~np.isnan(rates)]
    undefined = int(rates.size - defined.size)
    if defined.size == 0:
        return Interval(None, None, level, undefined)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(defined, [tail, 100.0 - tail])
    return Interval(float(low), float(high), level, undefined)


def sum_by_block(values: np.ndarray, block_index: np.ndarray, n_blocks: int) -> np.ndarray:
    """Per-block sums of per-utterance counts (block_index[i] = block of utterance i)."""
    return np.bincount(block_index, weights=values, minlength=n_blocks).astype(np.int64)


@dataclass(frozen=True)
class PairedResult:
    """Paired bootstrap of system b against system a on the same units."""

    difference: float | None
    interval: Interval
    prob_b_better: float
    prob_a_better: float
    n_boot: int

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "difference": self.difference,
            "interval": self.interval.as_dict(),
            "prob_b_better": self.prob_b_better,
            "prob_a_better": self.prob_a_better,
            "n_boot": self.n_boot,
        }


def paired_difference(
    errors_a: np.ndarray,
    lengths_a: np.ndarray,
    errors_b: np.ndarray,
    lengths_b: np.ndarray,
    weights: np.ndarray,
    level: float = 0.95,
) -> PairedResult:
    """Rate difference b - a over shared resamples, its interval, and who is better how often.

    Bisani & Ney (2004), "Bootstrap estimates for confidence intervals in ASR performance
    evaluation": the probability of improvement is the share of resamples in which b has the lower
    error rate. Both systems see the same resampled units, so the utterance difficulty that they
    share cancels and the interval is far narrower than the two single-system intervals suggest.
    Ties (equal rates, e.g. a run against itself) count for neither side.
    """
    len_a, len_b = lengths_a.sum(), lengths_b.sum()
    point = None
    if len_a > 0 and len_b > 0:
        point = float(errors_b.sum() / len_b - errors_a.sum() / len_a)
    rates_a = resampled_rates(errors_a, lengths_a, weights)
    rates_b = resampled_rates(errors_b, lengths_b, weights)
    diffs = rates_b - rates_a  # NaN wherever either side is undefined
    defined = diffs[~np.isnan(diffs)]
    n = max(defined.size, 1)
    return PairedResult(
        difference=point,
        interval=percentile_interval(diffs, level),
        prob_b_better=float(np.count_nonzero(defined < 0) / n),
        prob_a_better=float(np.count_nonzero(defined > 0) / n),
        n_boot=int(weights.shape[0]),
    )
