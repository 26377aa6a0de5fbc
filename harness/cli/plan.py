"""`harness plan`: the runs a suite expands to, and how many datasets it will prepare."""

from __future__ import annotations

import argparse
from pathlib import Path

from tabulate import tabulate

from harness.config.suite import Suite
from harness.config.values import display_value

HELP = "show the runs a suite expands to and the datasets it needs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `harness plan`."""
    parser.add_argument("suite_file", type=Path, help="the suite YAML file")


def run_plan(args: argparse.Namespace) -> int:
    """Print the plan; a suite with problems raises SpecError (exit 2, every problem listed)."""
    from harness.config.load import load_suite

    print(render_plan(load_suite(args.suite_file)))
    return 0


def plan_rows(suite: Suite) -> list[dict[str, str]]:
    """One row per run: id, slug, what differs from the baseline, its dataset key."""
    rows = []
    for run in suite.runs:
        changes = ", ".join(f"{key}={display_value(value, key)}" for key, value in run.changes)
        rows.append({"run id": run.id, "run": run.slug, "differs from baseline": changes or "-",
                     "dataset": run.data_key})
    return rows


def render_plan(suite: Suite) -> str:
    """The plan as text: a header line, the run table, the count of distinct datasets."""
    datasets = len(suite.data_keys())
    header = (f"suite {suite.name} ({suite.path}): {len(suite.runs)} runs, mode {suite.mode}, "
              f"baseline {suite.baseline.id}")
    table = tabulate(plan_rows(suite), headers="keys", tablefmt="github")
    return f"{header}\n\n{table}\n\n{datasets} distinct prepared dataset(s) needed"
