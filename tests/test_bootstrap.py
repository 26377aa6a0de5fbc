"""Tests of the vectorized bootstrap (harness.scoring.bootstrap): draws, rates, intervals, pairs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.scoring import bootstrap


def test_draw_weights_are_resamples_of_the_full_size():
    """Each row counts draws of a resample as large as the sample: non-negative integers summing
    to n_units, reproducible from the seed."""
    weights = bootstrap.draw_weights(37, 250, np.random.default_rng(3))
    assert weights.shape == (250, 37)
    assert np.all(weights >= 0) and np.all(weights == np.round(weights))
    assert np.all(weights.sum(axis=1) == 37)
    assert np.array_equal(weights, bootstrap.draw_weights(37, 250, np.random.default_rng(3)))
    assert not np.array_equal(weights, bootstrap.draw_weights(37, 250, np.random.default_rng(4)))


def test_draw_weights_have_multinomial_moments():
    """Draw counts per unit are Binomial(n, 1/n): mean 1 and variance 1 - 1/n (within 3%)."""
    n = 50
    weights = bootstrap.draw_weights(n, 20_000, np.random.default_rng(0))
    assert weights.mean() == pytest.approx(1.0)
    assert weights.var(axis=0).mean() == pytest.approx(1 - 1 / n, rel=0.03)
    # Units are exchangeable: no unit is drawn systematically more often than another.
    assert np.abs(weights.mean(axis=0) - 1).max() < 0.05


def test_draw_weights_in_chunks_match_the_unchunked_shape(monkeypatch):
    """Chunking (bounded memory on large test sets) still yields every row, each summing to n."""
    monkeypatch.setattr(bootstrap, "_MAX_DRAWS_PER_CHUNK", 100)
    weights = bootstrap.draw_weights(30, 17, np.random.default_rng(0))
    assert weights.shape == (17, 30)
    assert np.all(weights.sum(axis=1) == 30)


def test_resampled_rates_equal_ratios_of_resampled_sums():
    """A resample's rate is sum(errors)/sum(length) over the drawn units, repeats included."""
    errors, lengths = np.array([1, 0, 4]), np.array([5, 3, 8])
    weights = np.array([[3.0, 0, 0], [1, 1, 1], [0, 2, 1], [0, 3, 0]])
    rates = bootstrap.resampled_rates(errors, lengths, weights)
    assert rates[:3].tolist() == [3 / 15, 5 / 16, 4 / 14]
    assert rates[3] == 0.0


def test_resamples_without_reference_length_are_undefined_and_counted():
    """A resample that draws only empty-reference units has no rate: NaN, then counted apart."""
    errors, lengths = np.array([2, 1]), np.array([0, 4])
    weights = np.array([[2.0, 0], [1, 1], [0, 2]])
    rates = bootstrap.resampled_rates(errors, lengths, weights)
    assert np.isnan(rates[0]) and rates[1:].tolist() == [3 / 4, 2 / 8]
    interval = bootstrap.percentile_interval(rates)
    assert interval.undefined_resamples == 1
    assert 0.25 <= interval.low <= interval.high <= 0.75


def test_percentile_interval_of_a_known_distribution():
    """The 95% interval of 0, 1, ..., 1000 (/1000) is numpy's 2.5th and 97.5th percentiles."""
    rates = np.arange(1001) / 1000
    interval = bootstrap.percentile_interval(rates, 0.95)
    assert (interval.low, interval.high) == pytest.approx((0.025, 0.975))
    assert bootstrap.percentile_interval(rates, 0.5).as_dict()["low"] == pytest.approx(0.25)


def test_percentile_interval_with_no_defined_resample_is_null():
    """When no resample has a rate, the interval is (None, None), never a made-up number."""
    interval = bootstrap.percentile_interval(np.full(10, np.nan))
    assert interval.as_dict() == {"low": None, "high": None, "level": 0.95,
                                  "undefined_resamples": 10}


def test_sum_by_block_adds_utterances_of_a_speaker():
    """Block sums add the counts of each block's utterances; empty blocks sum to 0."""
    sums = bootstrap.sum_by_block(np.array([1, 2, 3, 4]), np.array([0, 2, 0, 2]), 4)
    assert sums.tolist() == [4, 0, 6, 0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 20)), min_size=1, max_size=30),
       st.integers(0, 2**32 - 1))
def test_paired_difference_of_a_system_with_itself_is_zero(counts, seed):
    """Comparing a system with itself gives difference 0, interval [0, 0], and no winner."""
    errors, lengths = (np.array(c) for c in zip(*counts, strict=True))
    lengths = lengths + (lengths.sum() == 0)  # at least one reference word
    weights = bootstrap.draw_weights(len(counts), 100, np.random.default_rng(seed))
    result = bootstrap.paired_difference(errors, lengths, errors, lengths, weights)
    assert result.difference == 0.0
    assert (result.interval.low, result.interval.high) == (0.0, 0.0)
    assert result.prob_b_better == result.prob_a_better == 0.0


def test_paired_difference_when_b_is_better_on_every_unit():
    """If b makes fewer errors on every unit, b is better in every resample and the interval
    lies below 0."""
    rng = np.random.default_rng(1)
    lengths = rng.integers(5, 30, size=40)
    errors_a = rng.integers(2, 5, size=40)
    errors_b = errors_a - 1
    weights = bootstrap.draw_weights(40, 500, rng)
    result = bootstrap.paired_difference(errors_a, lengths, errors_b, lengths, weights)
    assert result.prob_b_better == 1.0 and result.prob_a_better == 0.0
    assert result.difference == pytest.approx(-40 / lengths.sum())
    assert result.interval.high < 0


def test_paired_interval_is_narrower_than_the_unpaired_spread():
    """Shared utterance difficulty cancels in a paired test: the interval of the difference is
    narrower than either system's own interval when the systems err on the same utterances."""
    rng = np.random.default_rng(2)
    lengths = rng.integers(10, 30, size=300)
    difficulty = rng.uniform(0, 0.6, size=300)  # some utterances are hard for every system
    errors_a = rng.binomial(lengths, difficulty)
    errors_b = np.maximum(errors_a - rng.binomial(1, 0.3, size=300), 0)
    weights = bootstrap.draw_weights(300, 1000, rng)
    paired = bootstrap.paired_difference(errors_a, lengths, errors_b, lengths, weights).interval
    alone = bootstrap.percentile_interval(bootstrap.resampled_rates(errors_a, lengths, weights))
    assert paired.high - paired.low < (alone.high - alone.low) / 2


def test_intervals_cover_the_true_rate_about_95_percent_of_the_time():
    """Calibration: over 300 simulated test sets of 150 utterances with a known 12% error rate,
    the 95% interval contains the true rate in 90-99% of them."""
    rng = np.random.default_rng(7)
    true_rate, covered, trials = 0.12, 0, 300
    for _ in range(trials):
        lengths = rng.integers(3, 40, size=150)
        errors = rng.binomial(lengths, rng.beta(1.2, 1.2 / true_rate - 1.2, size=150))
        weights = bootstrap.draw_weights(150, 400, rng)
        interval = bootstrap.percentile_interval(
            bootstrap.resampled_rates(errors, lengths, weights))
        # The sample's own rate scatters around the population rate (a ratio estimator); what
        # must be covered is the population rate.
        covered += interval.low <= true_rate <= interval.high
    assert 0.90 <= covered / trials <= 0.99
