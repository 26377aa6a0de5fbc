"""Executes a suite: plan -> prepare (each dataset once) -> per run: train -> evaluate -> score
-> record.

Finished runs are skipped (same run id), interrupted runs resume from their checkpoint, a run
that raises is recorded as failed with its reason and the suite goes on, Ctrl-C stops cleanly.
"""

from __future__ import annotations

import fnmatch
import os
import queue
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness import faults
from harness.config.suite import Run, Suite
from harness.data.cache import default_cache_root
from harness.data.prepare import prepare_suite
from harness.errors import UserError
from harness.run.execute import train_evaluate_score
from harness.run.placement import check_placement, run_in_subprocesses, visible_gpus
from harness.run.progress import SuiteProgress
from harness.run.record import run_record, write_run_spec
from harness.run.store import SuiteStore, suite_store

PLACEMENTS = ("sequential", "runs_per_gpu", "processes")


@dataclass(frozen=True)
class RunOptions:
    """How `harness run` executes a suite."""

    runs_root: Path = Path("runs")
    cache_root: Path | None = None
    only: tuple[str, ...] = ()
    rerun_failed: bool = False
    placement: str = "sequential"
    processes: int = 1
    interactive: bool | None = None


@dataclass
class SuiteOutcome:
    """What a `harness run` did: the records of the selected runs and what it skipped."""

    records: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    prepared: int = 0
    reused: int = 0

    @property
    def failed(self) -> list[dict]:
        return [record for record in self.records if record["status"] != "finished"]


def select_runs(suite: Suite, only: tuple[str, ...]) -> list[Run]:
    """Runs whose id or slug matches one of the patterns (fnmatch); all runs when none given."""
    if not only:
        return list(suite.runs)
    chosen = []
    for pattern in only:
        matched = [run for run in suite.runs
                   if fnmatch.fnmatchcase(run.slug, pattern) or run.id.startswith(pattern)]
        if not matched:
            slugs = ", ".join(run.slug for run in suite.runs)
            raise UserError(f"--only {pattern!r} matches no run of {suite.name} ({slugs})")
        chosen += [run for run in matched if run not in chosen]
    return [run for run in suite.runs if run in chosen]


def run_suite(suite: Suite, options: RunOptions = RunOptions()) -> SuiteOutcome:
    """Execute the selected runs of a suite under the suite directory's lock."""
    if options.placement not in PLACEMENTS:
        raise UserError(f"unknown placement {options.placement!r}: use {', '.join(PLACEMENTS)}")
    if options.placement != "sequential":
        check_placement(options.placement, options.processes)
    store = suite_store(suite, options.runs_root)
    outcome = SuiteOutcome()
    with store.exclusive():
        stored = store.records_by_id()
        todo = []
        for run in select_runs(suite, options.only):
            status = stored.get(run.id, {}).get("status")
            if status == "finished" or (status == "failed" and not options.rerun_failed):
                outcome.skipped.append(run.slug)
            else:
                todo.append(run)
        progress = SuiteProgress(suite.name, len(todo), interactive=options.interactive)
        if not progress.interactive:
            _quiet_library_progress_bars()
        try:
            if outcome.skipped:
                progress.say(f"skipping {len(outcome.skipped)} run(s) already recorded "
                             f"({', '.join(outcome.skipped)}); --rerun-failed retries failed ones")
            prepared, failures = _prepare(suite, todo, options, outcome, progress)

            def execute(run: Run, device: str | None = None) -> None:
                if run.data_key in failures:
                    record = _failed_record(suite, run, failures[run.data_key], None, {})
                else:
                    record = _execute(suite, run, prepared[run.data_key], store, options,
                                      progress, device)
                with record_lock:
                    store.put(record)
                    outcome.records.append(record)
                    progress.run_finished(run.slug, record)

            record_lock = threading.Lock()
            if options.placement == "runs_per_gpu":
                _on_free_gpus(todo, execute)
            else:
                for run in todo:
                    execute(run)
        finally:
            progress.close()
    return outcome


def _on_free_gpus(todo: list[Run], execute) -> None:
    """Independent runs at the same time, one worker process per GPU."""
    free: queue.Queue[str] = queue.Queue()
    for gpu in visible_gpus():
        free.put(gpu)

    def on_a_free_gpu(run: Run) -> None:
        gpu = free.get()
        try:
            execute(run, gpu)
        finally:
            free.put(gpu)

    with ThreadPoolExecutor(max_workers=free.qsize()) as pool:
        for future in [pool.submit(on_a_free_gpu, run) for run in todo]:
            future.result()


def _quiet_library_progress_bars() -> None:
    """Off a terminal, transformers' and datasets' progress bars only clutter CI logs."""
    import datasets
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def _prepare(suite: Suite, todo: list[Run], options: RunOptions, outcome: SuiteOutcome,
             progress: SuiteProgress) -> tuple[dict, dict]:
    """Prepare each distinct dataset the runs need, once; a failure fails only its runs."""

    def starting(key: str, reused: bool) -> None:
        progress.say(f"data {key}: {'reusing the cache' if reused else 'preparing'}")

    cache_root = Path(options.cache_root or default_cache_root())
    prepared, failures = {}, {}
    for done in prepare_suite(todo, cache_root, on_start=starting):
        if done.error is not None:
            failures[done.key] = f"data preparation failed: {done.error}"
            progress.say(f"data {done.key}: FAILED: {done.error}")
            continue
        prepared[done.key] = done.prepared
        outcome.reused += done.reused
        outcome.prepared += not done.reused
    return prepared, failures


def _execute(suite: Suite, run: Run, prepared, store: SuiteStore, options: RunOptions,
             progress: SuiteProgress, device: str | None = None) -> dict:
    """Train, evaluate, score and describe one run; a raised error becomes a failed record."""
    run_dir = store.run_dir(run.id)
    os.environ[faults.CURRENT_RUN_ENV] = run.id  # inherited by worker processes too
    timings: dict[str, float] = {}
    started = time.time()
    try:
        write_run_spec(suite, run, prepared, run_dir)
        progress.run_started(run.slug, run.id, run.spec.train.max_steps)
        if options.placement == "sequential":
            results = train_evaluate_score(run.spec, prepared, run_dir, timings, progress.step)
        else:
            results = run_in_subprocesses(suite, run, options, timings, device)
    except KeyboardInterrupt:
        raise
    except Exception as error:  # a failed run is recorded, the suite goes on
        (run_dir / "error.txt").parent.mkdir(parents=True, exist_ok=True)
        (run_dir / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        return _failed_record(suite, run, f"{type(error).__name__}: {error}", prepared, timings)
    timings["total_s"] = time.time() - started
    return run_record(suite, run, prepared, status="finished", reason=None,
                      train=results["train"], scores=results["scores"], timings=timings)


def _failed_record(suite: Suite, run: Run, reason: str, prepared, timings: dict) -> dict:
    return run_record(suite, run, prepared, status="failed", reason=reason, train=None,
                      scores=None, timings=timings)
