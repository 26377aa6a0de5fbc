"""`harness report FILE`: render a suite's stored results as reports/<suite>.md with figures."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "render a suite's results as markdown tables and figures (reports/<suite>.md)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `harness report`."""
    parser.add_argument("suite_file", type=Path, help="the suite YAML file")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"),
                        help="where the suite's runs and results.jsonl live (default: runs/)")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"),
                        help="where the markdown report and figures go (default: reports/)")


def run_report(args: argparse.Namespace) -> int:
    """Write the report and print its path; a suite without results is a UserError."""
    from harness.cli.finish import finish_suite
    from harness.config.load import load_suite
    from harness.errors import UserError

    end = finish_suite(load_suite(args.suite_file), args.runs_dir, args.reports_dir)
    if end.report_error is not None:
        raise UserError(end.report_error)
    print(end.report)
    return 0
