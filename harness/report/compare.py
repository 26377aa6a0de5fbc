"""Each setting against the baseline: the paired test of harness.scoring.paired, by training
seed and by utterance on the same test set.

The settings (resamples, seed, unit, level) are the baseline spec's, as for `expect:` and for the
single-run intervals printed beside them, so a `*` here and a `significantly` there agree. Two
settings are paired on the training seeds both have scored; with one such seed the test is the
utterance bootstrap alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from harness.report.load import SettingResult, SuiteResults
from harness.scoring.paired import Difference, PairedSettings, seed_paired_difference

__all__ = ["Difference", "differences", "paired_settings", "setting_difference"]


def paired_settings(results: SuiteResults) -> PairedSettings | None:
    """The baseline's paired-test settings, or None when the baseline has no scores."""
    if not results.baseline.scored:
        return None
    return PairedSettings.of(results.suite.baseline.spec)


def differences(results: SuiteResults, metric: str = "wer",
                rule_sets: Sequence[str] | None = None) -> dict[tuple[str, str], Difference]:
    """(setting's first run id, rule set) -> difference to the baseline, for every scored
    setting but the baseline, under `rule_sets` (default: all of results.rule_sets). On a
    decoder's view (SuiteResults.decoded) both sides are that decoder's."""
    settings = paired_settings(results)
    baseline = results.settings[0]
    out: dict[tuple[str, str], Difference] = {}
    for setting in results.settings[1:]:
        if not setting.scored:
            continue
        for rule_set in results.rule_sets if rule_sets is None else rule_sets:
            out[(setting.run.id, rule_set)] = setting_difference(baseline, setting, rule_set,
                                                                 metric, settings)
    return out


def _by_seed(setting: SettingResult, rule_set: str, metric: str) -> dict:
    return {result.run.spec.train.seed: result for result in setting.scored_runs
            if result.rate(rule_set, metric) is not None}


def setting_difference(baseline: SettingResult, setting: SettingResult, rule_set: str,
                       metric: str, settings: PairedSettings | None) -> Difference:
    """setting - baseline, paired by the training seeds both scored and by utterance; the two
    may be one setting seen through two decoders (SuiteResults.decoded)."""
    if settings is None:
        return Difference(None, note="the baseline has no scores")
    a, b = _by_seed(baseline, rule_set, metric), _by_seed(setting, rule_set, metric)
    seeds = [seed for seed in a if seed in b]
    if not seeds:
        why = "no training seed scored for both" if a and b else "not scored for both"
        return Difference(None, note=f"no {metric.upper()} under {rule_set}: {why}")
    point = (sum(b[s].rate(rule_set, metric) - a[s].rate(rule_set, metric) for s in seeds)
             / len(seeds))
    if any(r.predictions is None for s in seeds for r in (a[s], b[s])):
        return Difference(point, note=f"{_missing(a, b, seeds)} missing, no paired test",
                          seeds=len(seeds))
    pairs = [(a[s].predictions, b[s].predictions) for s in seeds]
    paired = seed_paired_difference(pairs, rule_set, metric, settings)
    # e.g. different test sets: the difference of the stored rates stands, untested
    return paired if paired.tested else dataclasses.replace(paired, value=point,
                                                            seeds=len(seeds))


def _missing(a: dict, b: dict, seeds: list) -> str:
    """The name of the predictions file that is missing (predictions.<decoder>.jsonl)."""
    return next(r.predictions_path.name for s in seeds for r in (a[s], b[s])
                if r.predictions is None)
