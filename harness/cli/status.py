"""`harness status FILE`: each run's state (finished, failed, interrupted, pending) and headline."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "each run's state and headline scores"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `harness status`."""
    parser.add_argument("suite_file", type=Path, help="the suite YAML file")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"),
                        help="where the suite's runs live (default: runs/)")


def run_status(args: argparse.Namespace) -> int:
    """Print the status table of the suite's runs."""
    from harness.config.load import load_suite
    from harness.run.status import render_status
    from harness.run.store import suite_store

    suite = load_suite(args.suite_file)
    print(render_status(suite, suite_store(suite, args.runs_dir)))
    return 0
