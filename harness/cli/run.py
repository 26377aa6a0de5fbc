"""`harness run FILE`: prepare, train, decode, score and record every run, then check the
suite's expectations and write its report (exit 1 when a run failed or an expectation broke)."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from pathlib import Path

from harness.config.settings import TRACKERS
from harness.run.placement import PLACEMENTS

HELP = "run a suite: prepare, train, evaluate, score, record (skips finished runs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `harness run`."""
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
    parser.add_argument("--placement", choices=PLACEMENTS, default="auto",
                        help="auto (default: cpu_parallel on a CPU when the runs are long "
                        "enough, runs_per_gpu on several GPUs, else sequential), sequential (in "
                        "this process), cpu_parallel (independent runs at once on the CPU, the "
                        "cores shared out as threads), runs_per_gpu (independent runs on "
                        "different GPUs at once) or processes (each run on --processes devices)")
    parser.add_argument("--parallel", type=int, default=None, metavar="K",
                        help="runs at once with --placement cpu_parallel or auto on a CPU "
                        "(default: one per core, within memory)")
    parser.add_argument("--processes", type=int, default=1,
                        help="processes per run with --placement processes (GPUs, or CPU ranks)")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="local (default: runs placed on this machine by --placement) or ray "
                        "(each run a Ray task asking for --processes GPUs on a cluster, in place "
                        "of --placement; needs pip install 'harness[ray]', and the cache and runs "
                        "directories on storage every node mounts)")
    parser.add_argument("--address", default=None, metavar="RAY_ADDRESS",
                        help="the Ray cluster with --executor ray: auto (started with `ray "
                        "start` on this machine), ray://host:10001 or host:6379; default: "
                        "$RAY_ADDRESS, else the cluster started here, else a new local one")
    parser.add_argument("--log-with", action="append", default=[], choices=TRACKERS,
                        metavar="TRACKER",
                        help="also log each run to this experiment tracker (repeatable): "
                        f"{', '.join(TRACKERS)}; adds to the suite's train.log_with and changes "
                        "no run id. TensorBoard: runs/<suite>/tensorboard/<slug>/")
    parser.add_argument("--run-timeout", type=duration, default=None, metavar="DURATION",
                        help="wall-clock limit of one run in a worker process (seconds, or e.g. "
                        "90min, 2h); a run past it is killed and recorded failed. With "
                        "sequential placement every run then trains in a worker. Default: none")


def duration(text: str) -> float:
    """Seconds from `--run-timeout 90`, `90s`, `90min` or `2h`."""
    from harness.config.durations import parse_duration

    try:
        return parse_duration(float(text) if text.replace(".", "", 1).isdigit() else text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run_run(args: argparse.Namespace) -> int:
    """Run the suite, print a summary line and the expectations, write the report."""
    from harness.cli.finish import finish_suite
    from harness.config.load import load_suite
    from harness.errors import UserError
    from harness.expect.check import format_expectations
    from harness.files import disk_full_errno
    from harness.run.runner import RunOptions, run_suite

    suite = tracked(load_suite(args.suite_file), getattr(args, "log_with", ()))
    options = RunOptions(runs_root=args.runs_dir, cache_root=args.cache_dir,
                         only=tuple(args.only), rerun_failed=args.rerun_failed,
                         placement=args.placement, processes=args.processes,
                         parallel=args.parallel,
                         run_timeout=args.run_timeout, executor=args.executor,
                         ray_address=args.address)
    try:
        outcome = run_suite(suite, options)
        print(summary_line(suite.name, outcome, args.runs_dir / suite.name))
        end = finish_suite(suite, args.runs_dir, args.reports_dir,
                           command=command_line(getattr(args, "argv", ())),
                           write=not args.no_report)
    except OSError as error:  # a full disk outside any one run: the lock's note, the report
        if disk_full_errno(error) is None:
            raise
        raise UserError(f"{error}; free space and run again") from None
    if end.rows:
        print(format_expectations(end.rows))
    if end.report_error is not None:
        raise UserError(end.report_error)
    if end.report is not None:
        print(f"report: {end.report}")
    # A failed run skipped this time still fails the suite: the exit code says what status says.
    return end.exit_code(failed_runs=len(outcome.failed) + len(outcome.skipped_failed))


def tracked(suite, names: Sequence[str]):
    """The suite with trackers `names` added to every run's train.log_with (a setting that
    affects no result, so ids stay); refused before anything runs if a package is missing."""
    import dataclasses

    from harness.train.trackers import check_installed

    runs = []
    for run in suite.runs:
        train = run.spec.train
        wanted = tuple(dict.fromkeys((*train.log_with, *names)))
        spec = run.spec.model_copy(update={"train": train.model_copy(update={"log_with": wanted})})
        runs.append(dataclasses.replace(run, spec=spec))
    check_installed({name for run in runs for name in run.spec.train.log_with},
                    where="--log-with / train.log_with")
    return dataclasses.replace(suite, runs=tuple(runs))


def summary_line(name: str, outcome, results: Path) -> str:
    """'suite tiny: 0 finished, 0 failed, 2 skipped (already recorded), 1 failed (recorded
    earlier; --rerun-failed retries); datasets: 0 prepared, 0 reused; results in runs/tiny'."""
    finished = len(outcome.records) - len(outcome.failed)
    earlier = (f", {len(outcome.skipped_failed)} failed (recorded earlier; --rerun-failed "
               "retries)" if outcome.skipped_failed else "")
    return (f"suite {name}: {finished} finished, {len(outcome.failed)} failed, "
            f"{len(outcome.skipped)} skipped (already recorded){earlier}; datasets: "
            f"{outcome.prepared} prepared, {outcome.reused} reused; results in {results}")


def command_line(argv: Sequence[str]) -> str:
    """The command as the user typed it, for the report header."""
    return "harness " + " ".join(shlex.quote(arg) for arg in argv)
