"""Rates and paired differences over training-seed replicas: a two-level bootstrap.

A setting trained with k seeds has k predictions of the same test set. Its rate is the mean of
the k corpus rates; its interval resamples both sources of noise (Bouthillier et al. 2021,
"Accounting for variance in machine learning benchmarks"): each resample draws k seeds with
replacement, then the test units (utterances or speakers) with replacement, and averages the
drawn seeds' rates on the drawn units. A difference b - a pairs replicas by seed (b's seed s
against a's seed s: same initialization of what they share, same batch order) and by unit.

With one seed there is nothing to draw at the first level: the resamples are exactly the
utterance bootstrap's (the units are drawn first, from the same generator), so a single-run
suite's paired tests are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.errors import UserError
from harness.scoring import bootstrap
from harness.scoring.counts import canonical, count_edits
from harness.scoring.records import check_records
from harness.scoring.score import METRICS, _check_bootstrap, _normalized, _units, get_rule_set


def _per_seed_sums(replicas: Sequence[Sequence[dict]], rule_set, metric: str,
                   units: tuple[np.ndarray, int]) -> tuple[np.ndarray, np.ndarray]:
    """(k, n_units) errors and reference lengths of each replica, summed per unit."""
    unit = "word" if metric == "wer" else "char"
    index, n_units = units
    errors, lengths = [], []
    for records in replicas:
        counts = count_edits(*_normalized(records, rule_set), unit)
        errors.append(bootstrap.sum_by_block(counts.errors, index, n_units))
        lengths.append(bootstrap.sum_by_block(counts.reference_length, index, n_units))
    return np.array(errors, dtype=np.float64), np.array(lengths, dtype=np.float64)


def _matched(replicas: Sequence[Sequence[dict]], rule_set, names: Sequence[str]) -> list[list]:
    """Every replica's records in the first one's utterance order, all on one test set."""
    for records, name in zip(replicas, names, strict=True):
        check_records(records, name)
    first = replicas[0]
    if not first:
        raise UserError("no predictions to compare: the runs have 0 utterances")
    matched = [list(first)] + [_match(first, records) for records in replicas[1:]]
    references = [canonical(text) for text in _normalized(first, rule_set)[0]]
    for records, name in zip(matched[1:], names[1:], strict=True):
        differing = [r["id"] for r, ref, text in zip(records, references,
                                                     _normalized(records, rule_set)[0],
                                                     strict=True) if canonical(text) != ref]
        if differing:
            raise UserError(
                f"the two runs have different references for {len(differing)} utterances "
                f"after '{rule_set.name}' normalization (first: {differing[0]!r}); not the "
                f"same test set ({name})")
    return matched


def _match(records_a: Sequence[dict], records_b: Sequence[dict]) -> list[dict]:
    """records_b in records_a's order; an error naming the difference if the id sets differ."""
    by_id = {str(r["id"]): r for r in records_b}
    ids_a = [str(r["id"]) for r in records_a]
    only_a, only_b = sorted(set(ids_a) - by_id.keys()), sorted(by_id.keys() - set(ids_a))
    if only_a or only_b:
        first_a = f" (first: {only_a[0]!r})" if only_a else ""
        first_b = f" (first: {only_b[0]!r})" if only_b else ""
        raise UserError("the two runs were not decoded on the same test set: "
                        f"{len(only_a)} ids only in run a{first_a}, "
                        f"{len(only_b)} only in run b{first_b}")
    return [by_id[i] for i in ids_a]


def _draws(n_units: int, n_seeds: int, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit weights (n_boot, n_units), then seed weights (n_boot, k) from the same generator;
    with one seed its weight is 1 and nothing more is drawn (the utterance bootstrap's draws)."""
    rng = np.random.default_rng(seed)
    units = bootstrap.draw_weights(n_units, n_boot, rng)
    seeds = (bootstrap.draw_weights(n_seeds, n_boot, rng) if n_seeds > 1
             else np.ones((n_boot, 1)))
    return units, seeds


def _rates(errors: np.ndarray, lengths: np.ndarray, unit_weights: np.ndarray) -> np.ndarray:
    """(n_boot, k) rate of each replica under each resample of units; NaN where undefined."""
    resampled_errors, resampled_lengths = unit_weights @ errors.T, unit_weights @ lengths.T
    defined = resampled_lengths > 0
    return np.where(defined, resampled_errors / np.where(defined, resampled_lengths, 1.0), np.nan)


def _seed_mean(per_seed: np.ndarray, seed_weights: np.ndarray) -> np.ndarray:
    """Mean over the drawn seeds (weights count how often each seed was drawn)."""
    return (per_seed * seed_weights).sum(axis=1) / seed_weights.sum(axis=1)


def _mean_rate(errors: np.ndarray, lengths: np.ndarray) -> float | None:
    """Mean over replicas of their corpus rates; None when one of them has no reference."""
    totals = lengths.sum(axis=1)
    return float(np.mean(errors.sum(axis=1) / totals)) if (totals > 0).all() else None


def seed_rates(replicas: Sequence[Sequence[dict]], rule_set_name: str, metric: str = "wer",
               n_boot: int = 1000, seed: int = 0, block: str = "utterance",
               level: float = 0.95) -> dict:
    """Mean rate over replicas (one per training seed), its spread, its two-level interval.

        {"mean", "sd" (None for one seed), "min", "max", "per_seed": [rate, ...], "seeds": k,
         "interval": {"low", "high", "level", "undefined_resamples"}}
    """
    if metric not in METRICS:
        raise UserError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    _check_bootstrap(n_boot, level)
    rule_set = get_rule_set(rule_set_name)
    matched = _matched(replicas, rule_set, [f"seed {i}" for i in range(len(replicas))])
    units = _units(matched[0], block)
    errors, lengths = _per_seed_sums(matched, rule_set, metric, units)
    if not (lengths.sum(axis=1) > 0).all():
        raise UserError(f"no reference {'words' if metric == 'wer' else 'characters'} under "
                        f"{rule_set.name}: the rate is undefined")
    per_seed = errors.sum(axis=1) / lengths.sum(axis=1)
    unit_weights, seed_weights = _draws(units[1], len(matched), n_boot, seed)
    resampled = _seed_mean(_rates(errors, lengths, unit_weights), seed_weights)
    return {"mean": float(per_seed.mean()),
            "sd": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else None,
            "min": float(per_seed.min()), "max": float(per_seed.max()),
            "per_seed": [float(rate) for rate in per_seed], "seeds": len(matched),
            "interval": bootstrap.percentile_interval(resampled, level).as_dict()}


def paired_over_seeds(pairs: Sequence[tuple[Sequence[dict], Sequence[dict]]],
                      rule_set_name: str, n_boot: int = 1000, seed: int = 0,
                      metric: str = "wer", block: str = "utterance", level: float = 0.95) -> dict:
    """b - a over replica pairs (a's and b's run with the same training seed), paired by unit.

    The difference is the mean over seeds of b's rate minus a's; its interval and the
    probability that b is better (Bisani & Ney 2004; ties count for neither) come from the
    two-level resamples. One pair is the classic paired bootstrap over utterances.
    """
    if metric not in METRICS:
        raise UserError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    if not pairs:
        raise UserError("no replica pairs to compare")
    rule_set = get_rule_set(rule_set_name)
    _check_bootstrap(n_boot, level)
    names = [f"run {side}" + (f" (seed pair {i})" if len(pairs) > 1 else "")
             for i in range(len(pairs)) for side in "ab"]
    flat = _matched([records for pair in pairs for records in pair], rule_set, names)
    units = _units(flat[0], block)
    errors, lengths = _per_seed_sums(flat, rule_set, metric, units)
    unit_weights, seed_weights = _draws(units[1], len(pairs), n_boot, seed)
    rates = _rates(errors, lengths, unit_weights)
    diffs = _seed_mean(rates[:, 1::2] - rates[:, 0::2], seed_weights)  # NaN: either undefined
    rate_a, rate_b = _mean_rate(errors[0::2], lengths[0::2]), _mean_rate(errors[1::2],
                                                                          lengths[1::2])
    point = None if rate_a is None or rate_b is None else rate_b - rate_a
    defined = diffs[~np.isnan(diffs)]
    n = max(defined.size, 1)
    return {"rule_set": {"name": rule_set.name, "version": rule_set.version}, "metric": metric,
            "a": rate_a, "b": rate_b, "difference": point,
            "interval": bootstrap.percentile_interval(diffs, level).as_dict(),
            "prob_b_better": float(np.count_nonzero(defined < 0) / n),
            "prob_a_better": float(np.count_nonzero(defined > 0) / n),
            "n_boot": int(n_boot), "seed": seed, "block": block, "seeds": len(pairs),
            "n_utterances": len(flat[0])}


def paired_bootstrap(records_a: Sequence[dict], records_b: Sequence[dict], rule_set_name: str,
                     n_boot: int = 1000, seed: int = 0, metric: str = "wer",
                     block: str = "utterance", level: float = 0.95) -> dict:
    """Paired bootstrap of run b against run a on the same test set (utterances matched by id).

    Returns the rate difference b - a, its percentile interval, and the probability that b is
    better (lower rate) than a over the resamples (Bisani & Ney, 2004); ties count for neither.
    A run against itself gives difference 0, interval [0, 0] and both probabilities 0.
    """
    return paired_over_seeds([(records_a, records_b)], rule_set_name, n_boot, seed, metric,
                             block, level)
