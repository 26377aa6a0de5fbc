"""The `harness` command: parse arguments, call the library, print. No logic lives here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.errors import UserError

# Each subcommand: name -> (help, add_arguments, handler). Handlers import their modules lazily
# so that `harness plan` never pays for importing torch.
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite_file", type=Path, help="the suite YAML file")


def _plan(args: argparse.Namespace) -> int:
    from harness.cli.plan import render_plan
    from harness.config.suite import load_suite

    print(render_plan(load_suite(args.suite_file)))
    return 0


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite_file", type=Path, help="the suite YAML file")
    parser.add_argument("--only", action="append", default=[], metavar="SLUG_OR_ID",
                        help="run only these runs (slug pattern such as 'lr=*', or id prefix); "
                        "repeatable")
    parser.add_argument("--rerun-failed", action="store_true",
                        help="retry runs recorded as failed (finished runs are always skipped)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"),
                        help="where run directories and results.jsonl go (default: runs/)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="prepared-data cache (default: $HARNESS_CACHE or .harness-cache/)")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"),
                        help="where the markdown report and figures go (default: reports/)")
    parser.add_argument("--no-report", action="store_true",
                        help="do not write the markdown report at the end")
    parser.add_argument("--placement", choices=("sequential", "runs_per_gpu", "processes"),
                        default="sequential",
                        help="sequential (in this process), runs_per_gpu (independent runs on "
                        "different GPUs at once) or processes (each run on --processes devices)")
    parser.add_argument("--processes", type=int, default=1,
                        help="processes per run with --placement processes (GPUs, or CPU ranks)")


def _run(args: argparse.Namespace) -> int:
    from harness.config.suite import load_suite
    from harness.run.runner import RunOptions, run_suite

    suite = load_suite(args.suite_file)
    options = RunOptions(runs_root=args.runs_dir, cache_root=args.cache_dir,
                         only=tuple(args.only), rerun_failed=args.rerun_failed,
                         placement=args.placement, processes=args.processes)
    outcome = run_suite(suite, options)
    finished = len(outcome.records) - len(outcome.failed)
    print(f"suite {suite.name}: {finished} finished, {len(outcome.failed)} failed, "
          f"{len(outcome.skipped)} skipped (already recorded); datasets: {outcome.prepared} "
          f"prepared, {outcome.reused} reused; results in {args.runs_dir / suite.name}")
    from harness.expect.check import FAILED, check_suite, format_expectations

    rows = check_suite(suite, args.runs_dir)
    if rows:
        print(format_expectations(rows))
    if not args.no_report:
        from harness.report import write_report

        path = write_report(suite, args.runs_dir, args.reports_dir,
                            command=_command_line(args.argv), expectations=rows or None)
        print(f"report: {path}")
    return 1 if outcome.failed or any(row["status"] == FAILED for row in rows) else 0


def _command_line(argv: Sequence[str]) -> str:
    """The command as the user typed it, for the report header."""
    import shlex

    return "harness " + " ".join(shlex.quote(arg) for arg in argv)


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite_file", type=Path, help="the suite YAML file")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"),
                        help="where the suite's runs live (default: runs/)")


def _status(args: argparse.Namespace) -> int:
    from harness.config.suite import load_suite
    from harness.run.status import render_status
    from harness.run.store import suite_store

    suite = load_suite(args.suite_file)
    print(render_status(suite, suite_store(suite, args.runs_dir)))
    return 0


def _score_command() -> Command:
    from harness.cli import score

    return score.HELP, score.add_arguments, score.run_score


def _prepare_command() -> Command:
    from harness.cli import prepare

    return prepare.HELP, prepare.add_arguments, prepare.run_prepare


def _standin_command() -> Command:
    from harness.cli import standin

    return standin.HELP, standin.add_arguments, standin.run_standin


def _synth_command() -> Command:
    from harness.cli import synth

    return synth.HELP, synth.add_arguments, synth.run_synth


def _report_command() -> Command:
    from harness.cli import report

    return report.HELP, report.add_arguments, report.run_report


COMMANDS: dict[str, Command] = {
    "plan": ("show the runs a suite expands to and the datasets it needs", _plan_arguments, _plan),
    "synth": _synth_command(),
    "prepare": _prepare_command(),
    "run": ("run a suite: prepare, train, evaluate, score, record (skips finished runs)",
            _run_arguments, _run),
    "status": ("each run's state and headline scores", _status_arguments, _status),
    "score": _score_command(),
    "report": _report_command(),
    "standin": _standin_command(),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Ablation harness for CTC fine-tuning of wav2vec2-family speech encoders.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, handler) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; user mistakes exit with code 2 and no traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.handler(args)
    except UserError as error:
        print(f"error: {error}" if "\n" not in str(error) else f"error:\n{error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
