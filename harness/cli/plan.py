"""`harness plan`: the runs a suite expands to, and how many datasets it will prepare; with
--placement/--processes, whether `harness run` could place them here (GPUs counted without torch:
/dev/nvidiaN narrowed by CUDA_VISIBLE_DEVICES)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tabulate import tabulate

from harness.config.suite import Suite
from harness.config.values import display_value
from harness.run.placement import PLACEMENTS

HELP = "show the runs a suite expands to and the datasets it needs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `harness plan`."""
    parser.add_argument("suite_file", type=Path, help="the suite YAML file")
    parser.add_argument("--placement", choices=PLACEMENTS,
                        default=None,
                        help="check this placement as `harness run` would here, and say where "
                        "the runs would go")
    parser.add_argument("--processes", type=int, default=None,
                        help="processes per run, checked with --placement")


def run_plan(args: argparse.Namespace) -> int:
    """Print the plan; a suite with problems raises SpecError (exit 2, every problem listed), a
    placement this machine cannot serve a UserError (exit 2, the reason)."""
    from harness.config.load import load_suite
    from harness.run.placement import (
        check_placement,
        check_precisions,
        cpu_cores,
        describe_placement,
        gpus_without_torch,
    )

    placement_line = None
    gpus = gpus_without_torch()
    if args.placement is not None or args.processes is not None:
        placement = args.placement or "sequential"
        processes = 1 if args.processes is None else args.processes
        check_placement(placement, processes, gpus)
        placement_line = describe_placement(placement, processes, gpus, parallel=cpu_cores())
    suite = load_suite(args.suite_file)
    check_precisions(suite.runs, gpus)
    plan = render_plan(suite)
    print(plan if placement_line is None else f"{plan}\n{placement_line}")
    return 0


def plan_rows(suite: Suite) -> list[dict[str, str]]:
    """One row per run: id, slug, what differs from the baseline, its dataset key."""
    rows = []
    for run in suite.runs:
        changes = ", ".join(f"{key}={display_value(value, key)}" for key, value in run.changes)
        row = {"run id": run.id, "run": run.slug, "differs from baseline": changes or "-"}
        if suite.seeds:
            row["train.seed"] = str(run.spec.train.seed)
        rows.append({**row, "dataset": run.data_key})
    return rows


def render_plan(suite: Suite) -> str:
    """The plan as text: a header line, the run table, the count of distinct datasets."""
    datasets = len(suite.data_keys())
    header = (f"suite {suite.name} ({suite.path}): {len(suite.runs)} runs, mode {suite.mode}, "
              f"baseline {suite.baseline.id}")
    if suite.seeds:
        replicated = sum(len(runs) > 1 for runs in suite.settings().values())
        header += (f"; {len(suite.settings())} settings, {replicated} of them replicated over "
                   f"training seeds {', '.join(map(str, suite.seeds))}")
    table = tabulate(plan_rows(suite), headers="keys", tablefmt="github")
    return f"{header}\n\n{table}\n\n{datasets} distinct prepared dataset(s) needed"
