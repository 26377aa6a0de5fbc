"""A suite's axes -> its runs: one change at a time from the baseline, or every combination.

In `one_at_a_time` mode the baseline takes each axis's first value (or the value `baseline:`
names) and every other value is tried alone; in `grid` mode every combination runs. Explicit
`runs` (dotted setting -> value, applied to the baseline) are added. A run's slug names what
differs from the baseline; two spellings of the same settings are one run.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
from typing import Any

from harness.config.ids import run_id
from harness.config.problems import Problems, dotted, validation_problems
from harness.config.settings import field_paths
from harness.config.suite import Run
from harness.config.values import display_value, shown


def read_axes(axes: Any, problems: Problems) -> dict[str, list]:
    if not isinstance(axes, dict):
        problems.add(("axes",), "must map dotted settings (e.g. train.lr) to lists of values")
        return {}
    known = field_paths()
    valid: dict[str, list] = {}
    for key, values in axes.items():
        if key not in known:
            problems.add(("axes", key), _unknown_setting_message(str(key), known))
        elif not isinstance(values, list):
            problems.add(("axes", key), "must be a list of values, e.g. [1e-4, 3e-4]")
        elif not values:
            problems.add(("axes", key), "an axis needs at least one value")
        elif (known[key].json_schema_extra or {}).get("affects_results") is False:
            problems.add(("axes", key), "does not change results, so it cannot be an axis")
        else:
            valid[key] = values
    return valid


def _unknown_setting_message(key: str, known: dict) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"no such setting {shown(key)}{hint}"


def read_baseline(
    baseline: Any, axes: dict[str, list], problems: Problems, unread: set = frozenset()
) -> dict[str, Any]:
    """The axis values the baseline takes; entries for `unread` axes (already reported as
    misspelt or invalid) are skipped, not reported again."""
    if not isinstance(baseline, dict):
        problems.add(("baseline",), "must map axis names to the value the baseline uses")
        return {}
    chosen = {}
    for key, value in baseline.items():
        if key in unread:
            continue
        if key not in axes:
            problems.add(("baseline", key), f"{shown(key)} is not one of the axes")
        elif value not in axes[key]:
            problems.add(("baseline", key),
                         f"{shown(value)} is not among the axis values {shown(axes[key])}")
        else:
            chosen[key] = value
    return chosen


def read_extra_runs(runs: Any, problems: Problems) -> list[dict[str, Any]]:
    if not isinstance(runs, list):
        problems.add(("runs",), "must be a list of maps (dotted setting -> value)")
        return []
    known = field_paths()
    extra = []
    for index, overrides in enumerate(runs):
        if not isinstance(overrides, dict) or not overrides:
            problems.add(("runs", index), "each run is a non-empty map of dotted setting -> value")
            continue
        bad = [key for key in overrides if key not in known]
        for key in bad:
            problems.add(("runs", index, key), _unknown_setting_message(str(key), known))
        if not bad:
            extra.append(dict(overrides))
    return extra


# Planning validates and hashes every run (~0.5 ms each on a laptop core): 10,000 runs take a few
# seconds; a grid of three 100-value axes (a million runs) would take the better part of an hour.
MAX_RUNS = 10_000


def check_run_count(axes: dict[str, list], mode: str, extra_runs: list, problems: Problems) -> None:
    """A suite of more than MAX_RUNS runs is a mistake (a grid where one_at_a_time was meant)."""
    if mode == "grid":
        count = math.prod(len(values) for values in axes.values())
    else:
        count = 1 + sum(len(values) - 1 for values in axes.values())
    count += len(extra_runs)
    if count > MAX_RUNS:
        problems.add(("axes",), f"{count:,} runs: more than {MAX_RUNS:,}, the most a suite may "
                                "have (a grid multiplies its axes' lengths)")


def expand(axes: dict[str, list], mode: str, chosen: dict[str, Any]) -> list[dict[str, Any]]:
    """Override maps, baseline first: one change at a time, or every combination."""
    baseline = {key: chosen.get(key, values[0]) for key, values in axes.items()}
    if mode == "grid":
        products = itertools.product(*axes.values())
        combos = [dict(zip(axes, values, strict=True)) for values in products]
        combos.sort(key=lambda combo: combo != baseline)  # stable: baseline first
        return combos
    combos = [baseline]
    for key, values in axes.items():
        combos += [{**baseline, key: value} for value in values if value != baseline[key]]
    return combos


def build_runs(
    base: dict, combos: list[dict], axes: dict[str, list], chosen: dict, problems: Problems
) -> list[Run]:
    baseline_combo = combos[0] if axes else {}
    leaf_counts = _leaf_counts(list(axes) + [key for combo in combos for key in combo])
    runs: list[Run] = []
    by_id: dict[str, Run] = {}
    for combo in combos:
        full = {**baseline_combo, **combo}
        changes = tuple(
            (key, value)
            for key, value in full.items()
            if key not in baseline_combo or baseline_combo[key] != value
        )
        slug = (
            ",".join(
                f"{_label(key, leaf_counts)}={display_value(value, key)}" for key, value in changes
            )
            or "baseline"
        )
        spec, errors = validation_problems(with_overrides(base, full))
        for loc, message in errors:
            problems.add(("runs",), f"run {slug}: {dotted(loc)}: {message}")
        if spec is None:
            continue
        run = Run(id=run_id(spec), slug=slug, changes=changes, spec=spec)
        if run.id in by_id:
            if by_id[run.id].slug != slug:
                problems.add(
                    ("axes",),
                    f"runs {by_id[run.id].slug!r} and {slug!r} are the same "
                    "settings written two ways; give each value once",
                )
            continue
        by_id[run.id] = run
        runs.append(run)
    return runs


def _leaf_counts(keys: list[str]) -> dict[str, int]:
    leaves: dict[str, set] = {}
    for key in keys:
        leaves.setdefault(key.rsplit(".", 1)[-1], set()).add(key)
    return {leaf: len(full) for leaf, full in leaves.items()}


def _label(key: str, leaf_counts: dict[str, int]) -> str:
    leaf = key.rsplit(".", 1)[-1]
    return leaf if leaf_counts.get(leaf, 0) <= 1 else key


def with_overrides(base: dict, overrides: dict[str, Any]) -> dict:
    """A deep copy of base with dotted overrides set."""
    out = copy.deepcopy(base)
    for setting, value in overrides.items():
        node = out
        *parents, leaf = setting.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = copy.deepcopy(value)
    return out
