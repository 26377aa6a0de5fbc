"""`seeds:` -> training-seed replicas of a suite's runs (train.seed), each run its own id.

    seeds: [0, 1, 2]                                   every run, three training seeds
    seeds: {values: [0, 1, 2], axes: [data.labeled]}   the baseline and the runs that change
                                                       only those axes; the others run once
    seeds: {values: [0, 1, 2], axes: []}               the baseline only

A replica is the run with `train.seed` set to one of the values; it keeps the run's changes,
its slug gains `,seed=N` (the first seed's replica keeps the plain slug), and `Run.setting`
names the group it belongs to, which the report and `expect:` average over. The seed the
suite would use anyway (0 unless base sets it) keeps the unreplicated run's id, so adding
`seeds:` retrains nothing already stored. Order: every run's first replica first (the whole
suite once), then the second seed's, ...
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from harness.config.ids import run_id
from harness.config.problems import Problems, check_keys, closest
from harness.config.suite import Run
from harness.config.values import shown

SEED_KEYS = {
    "values": "the training seeds (train.seed) every replicated run is trained with",
    "axes": "replicate only the baseline and the runs that change just these axes",
}
SEED = "train.seed"
MAX_SEEDS = 100  # replicas multiply training time; more than this is a typo


@dataclass(frozen=True)
class SeedPlan:
    """Which seeds, and which runs they replicate (axes None: every run)."""

    values: tuple[int, ...]
    axes: tuple[str, ...] | None = None

    def replicates(self, run: Run) -> bool:
        """Whether `run` is trained once per seed."""
        return self.axes is None or all(key in self.axes for key, _ in run.changes)


def read_seeds(raw: Any, axes: dict, extra_runs: list[dict], problems: Problems,
               base: dict) -> SeedPlan | None:
    """The suite's `seeds:` entry as a SeedPlan; None when absent or wrong (every problem of it
    is added to `problems`)."""
    if raw is None:
        return None
    limit: tuple[str, ...] | None = None
    values, where, readable = raw, ("seeds",), True
    if isinstance(raw, dict):
        misspelt = check_keys(raw, SEED_KEYS, ("seeds",), problems)
        readable = not (set(raw) - set(SEED_KEYS))
        if "values" not in raw:
            if "values" not in misspelt:
                problems.add(("seeds",), "a seeds: mapping needs values:, e.g. "
                                         "seeds: {values: [0, 1, 2], axes: [data.labeled]}")
            return None
        values, where = raw["values"], ("seeds", "values")
        limit, axes_readable = _read_axes(raw.get("axes"), axes, problems)
        readable &= axes_readable
    seeds = _read_values(values, where, problems)
    readable &= seeds is not None
    if SEED in axes:
        readable = False
        problems.add(("axes", SEED), "train.seed is an axis and seeds: replicates over it too; "
                                     "give the seeds once, in seeds:")
    for index, overrides in enumerate(extra_runs):
        if SEED in overrides:
            readable = False
            problems.add(("runs", index, SEED), "seeds: sets train.seed for every replica; "
                                                "leave it out of runs:")
    if isinstance(base.get("train"), dict) and "seed" in base["train"]:
        readable = False
        problems.add(("base", "train", "seed"), "seeds: gives the training seeds; set them "
                                                "there only")
    return SeedPlan(seeds, limit) if readable and seeds is not None else None


def _read_values(values: Any, where: tuple, problems: Problems) -> tuple[int, ...] | None:
    example = "e.g. seeds: [0, 1, 2]"
    if not isinstance(values, list) or not values:
        problems.add(where, f"must be a non-empty list of training seeds, {example}")
        return None
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int) or v < 0]
    if bad:
        problems.add(where, f"{shown(bad[0])} is not a seed: seeds are whole numbers >= 0, "
                            f"{example}")
        return None
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        problems.add(where, f"seed {repeated[0]} is given twice; each seed trains once")
        return None
    if len(values) > MAX_SEEDS:
        problems.add(where, f"{len(values)} seeds: more than {MAX_SEEDS}, the most a suite may "
                            "replicate its runs over")
        return None
    return tuple(values)


def _read_axes(raw: Any, axes: dict, problems: Problems) -> tuple[tuple[str, ...] | None, bool]:
    """(the axes whose runs are replicated, None for every run; whether they read well)."""
    where = ("seeds", "axes")
    if raw is None:
        return None, True  # every run, as a plain list of seeds means
    if not isinstance(raw, list) or not all(isinstance(key, str) for key in raw):
        problems.add(where, "must be a list of the suite's axes, e.g. axes: [data.labeled]")
        return None, False
    unknown = [key for key in raw if key not in axes]
    for key in unknown:
        close = closest(key, list(axes))
        hint = f"did you mean {close!r}?" if close else f"its axes: {', '.join(axes) or 'none'}"
        problems.add(where, f"{shown(key)} is not one of the suite's axes ({hint})")
    if unknown:
        return None, False
    return tuple(raw), True


def replicate(runs: list[Run], plan: SeedPlan | None) -> list[Run]:
    """The runs with their seed replicas, every run's first replica first (see module doc)."""
    if plan is None:
        return runs
    rounds: list[list[Run]] = [[] for _ in plan.values]
    for run in runs:
        seeds = plan.values if plan.replicates(run) else plan.values[:1]
        for index, seed in enumerate(seeds):
            rounds[index].append(_replica(run, seed, index))
    return [run for round_ in rounds for run in round_]


def _replica(run: Run, seed: int, index: int) -> Run:
    spec = run.spec.model_copy(update={"train": run.spec.train.model_copy(update={"seed": seed})})
    slug = run.slug if index == 0 else f"{run.slug},seed={seed}"
    return dataclasses.replace(run, id=run_id(spec), slug=slug, spec=spec, setting=run.slug,
                               data_key="")
