"""Executes a suite: plan -> prepare (each dataset once) -> per run: train -> evaluate -> score
-> record.

Finished runs are skipped (same run id), interrupted runs resume from their checkpoint, a run
that raises (or whose worker process fails, dies or runs past --run-timeout) is recorded as failed
with its reason and the suite goes on, Ctrl-C stops cleanly. A run in a worker process is
recorded exactly like one in this process. A full disk fails the run naming what it was writing;
if even its record cannot be written, the suite stops with that one line (the run, unrecorded,
runs again next time).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import queue
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness import faults
from harness.config.suite import Run, Suite
from harness.data.cache import default_cache_root
from harness.data.prepare import prepare_suite
from harness.errors import UserError
from harness.files import DiskFullError, disk_full_errno, write_text_atomic
from harness.run.execute import train_evaluate_score
from harness.run.placement import (
    PLACEMENTS,
    auto_placement,
    available_memory_bytes,
    check_placement,
    check_precisions,
    cpu_cores,
    cpu_parallel_threads,
    describe_placement,
    run_in_subprocesses,
    visible_gpus,
)
from harness.run.progress import SuiteProgress
from harness.run.record import run_record, write_run_spec
from harness.run.store import SuiteStore, suite_store

ERROR_FILE = "error.txt"  # the traceback of a failed run, beside its other files
EXECUTORS = ("local", "ray")  # where runs execute: placed on this machine, or Ray tasks


@dataclass(frozen=True)
class RunOptions:
    """How `harness run` executes a suite."""

    runs_root: Path = Path("runs")
    cache_root: Path | None = None
    only: tuple[str, ...] = ()
    rerun_failed: bool = False
    placement: str = "sequential"
    processes: int = 1
    parallel: int | None = None  # cpu_parallel: runs at once (None: one per core)
    interactive: bool | None = None
    run_timeout: float | None = None  # seconds a worker run may take; None: no limit
    executor: str = "local"  # "ray": runs are Ray tasks (run/ray_executor.py), not placed here
    ray_address: str | None = None  # ray.init(address=...): "auto", "ray://host:10001", None


@dataclass
class SuiteOutcome:
    """What a `harness run` did: the records of the selected runs and what it skipped."""

    records: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    skipped_failed: list[str] = field(default_factory=list)  # skipped, recorded failed earlier
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
    if options.executor not in EXECUTORS:
        raise UserError(f"unknown executor {options.executor!r}: use {', '.join(EXECUTORS)}")
    if options.executor == "ray":  # the cluster's GPUs count, not this machine's
        from harness.run.ray_executor import import_ray

        import_ray()
        check_placement("processes", options.processes, gpus=[])
    else:
        check_placement(options.placement, options.processes)
        check_precisions(select_runs(suite, options.only), visible_gpus())
    if options.run_timeout is not None and options.run_timeout <= 0:
        raise UserError(f"--run-timeout must be positive, got {options.run_timeout:g} s")
    if any(decoder.kind != "greedy" for run in select_runs(suite, options.only)
           for decoder in run.spec.eval.decoders):
        from harness.decode.lm import check_installed

        check_installed()  # before anything trains, not after the first run has
    store = suite_store(suite, options.runs_root)
    outcome = SuiteOutcome()
    with store.exclusive():
        stored = store.records_by_id()
        todo = []
        for run in select_runs(suite, options.only):
            status = stored.get(run.id, {}).get("status")
            if status == "finished" or (status == "failed" and not options.rerun_failed):
                outcome.skipped.append(run.slug)
                if status == "failed":
                    outcome.skipped_failed.append(run.slug)
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
            record_lock = threading.Lock()

            def keep(run: Run, record: dict) -> None:  # the one writer of results.jsonl
                with record_lock:
                    _store_record(store, record, run)
                    outcome.records.append(record)
                    progress.run_finished(run.slug, record)

            if options.executor == "ray":
                from harness.run.ray_executor import run_on_ray

                for run in (run for run in todo if run.data_key in failures):
                    keep(run, _failed_record(suite, run, failures[run.data_key], None, {}))
                run_on_ray(suite, [run for run in todo if run.data_key not in failures],
                           prepared, store, options, progress, keep)
                return outcome
            options = _resolve_placement(options, todo, prepared)
            if options.placement in ("cpu_parallel", "runs_per_gpu") and len(todo) > 1:
                progress.say(describe_placement(options.placement, options.processes,
                                                visible_gpus(), _slots_wanted(options, todo)))
            in_worker = _runs_in_workers(todo, options)

            def execute(run: Run, slot: Slot = None,
                        stop: threading.Event | None = None) -> None:
                device, threads = slot if slot is not None else (None, None)
                if run.data_key in failures:
                    record = _failed_record(suite, run, failures[run.data_key], None, {})
                else:
                    record = _execute(suite, run, prepared[run.data_key], store, options,
                                      progress, device, in_worker=run.id in in_worker,
                                      stop=stop, threads=threads)
                keep(run, record)

            if options.placement == "runs_per_gpu":
                _on_free_slots([(gpu, None) for gpu in visible_gpus()], todo, execute)
            elif options.placement == "cpu_parallel":
                threads = cpu_parallel_threads(len(todo), cpu_cores(),
                                               _slots_wanted(options, todo))
                _on_free_slots([(None, count) for count in threads], todo, execute)
            else:
                for run in todo:
                    execute(run)
        finally:
            progress.close()
    return outcome


# Where a worker runs: (CUDA_VISIBLE_DEVICES value, None) on a GPU, (None, threads) on a CPU.
Slot = tuple[str | None, int | None] | None


def _resolve_placement(options: RunOptions, todo: list[Run], prepared: dict) -> RunOptions:
    """`auto` made concrete for these runs on this machine (placement.auto_placement)."""
    if options.placement != "auto":
        return options
    audio = max((_audio_per_run(run, prepared.get(run.data_key)) for run in todo), default=0.0)
    placement, parallel = auto_placement(len(todo), visible_gpus(), cpu_cores(), audio,
                                         available_memory_bytes())
    return dataclasses.replace(options, placement=placement,
                               parallel=options.parallel or parallel)


def _slots_wanted(options: RunOptions, todo: list[Run]) -> int:
    """Runs at once under cpu_parallel: --parallel, else one per core; never more than runs."""
    return min(len(todo), options.parallel or cpu_cores())


def _audio_per_run(run: Run, prepared) -> float:
    """Audio seconds a run trains on: updates x padded seconds per update, or epochs x pool."""
    train = run.spec.train
    if train.max_steps is not None:
        return train.max_steps * train.grad_accum * train.batch_seconds
    if prepared is None:
        return 0.0
    return (train.epochs or 0) * float(sum(prepared.train["duration"]))


def _on_free_slots(slots: list[Slot], todo: list[Run], execute) -> None:
    """Independent runs at the same time, one worker process in each slot: on each GPU this
    process was given (CUDA_VISIBLE_DEVICES=2,3 -> the workers get "2" and "3"), or with a share
    of the CPU's cores."""
    free: queue.Queue[Slot] = queue.Queue()
    for slot in slots:
        free.put(slot)
    stop = threading.Event()  # Ctrl-C reaches this thread only: it stops the others' workers

    def on_a_free_slot(run: Run) -> None:
        slot = free.get()
        try:
            execute(run, slot, stop)
        finally:
            free.put(slot)

    pool = ThreadPoolExecutor(max_workers=free.qsize())
    try:
        for future in [pool.submit(on_a_free_slot, run) for run in todo]:
            future.result()
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _runs_in_workers(todo: list[Run], options: RunOptions) -> set[str]:
    """Ids of the runs of a sequential suite that train in a worker process: all of them under a
    --run-timeout (a run in this process cannot be stopped), else those needs_own_process picks."""
    if options.placement != "sequential" or not todo:
        return set()
    if options.run_timeout is not None:
        return {run.id for run in todo}
    precisions = [_resolved_precision(run.spec.train.precision) for run in todo]
    own = needs_own_process(precisions, _process_precision())
    return {run.id for run, alone in zip(todo, own, strict=True) if alone}


def needs_own_process(precisions: Sequence[str], current: str | None) -> list[bool]:
    """Which runs must train in a worker: accelerate fixes mixed precision once per process, so
    this process keeps `current` (before any run, the first run's) and runs with another go to a
    worker: ['no', 'bf16', 'no'] with None -> [False, True, False]."""
    home = current if current is not None else next(iter(precisions), None)
    return [precision != home for precision in precisions]


def _resolved_precision(precision: str) -> str:
    """train.precision as accelerate will get it here (auto -> no on a CPU)."""
    from harness.train.loop import resolve_precision

    try:
        return resolve_precision(precision)
    except UserError:
        return precision  # fp16 on a CPU: its run fails with that reason, wherever it runs


def _process_precision() -> str | None:
    """The mixed precision accelerate has fixed in this process; None before any Accelerator."""
    from accelerate.state import AcceleratorState

    return AcceleratorState._shared_state.get("_mixed_precision")


def _release_gpu_memory() -> None:
    """Hand back the GPU memory torch's allocator holds for runs done in this process."""
    import gc
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        gc.collect()
        torch.cuda.empty_cache()


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
             progress: SuiteProgress, device: str | None = None, *, in_worker: bool = False,
             stop: threading.Event | None = None, threads: int | None = None) -> dict:
    """Train, evaluate, score and describe one run; a raised error becomes a failed record."""
    run_dir = store.run_dir(run.id)
    os.environ[faults.CURRENT_RUN_ENV] = run.id  # inherited by worker processes too
    timings: dict[str, float] = {}
    started = time.time()
    try:
        write_run_spec(suite, run, prepared, run_dir)
        progress.run_started(run.slug, run.id, run.spec.train.max_steps)
        if options.placement == "sequential" and not in_worker:
            results = train_evaluate_score(run.spec, prepared, run_dir, timings, progress.step)
        else:
            if options.placement == "sequential":
                _release_gpu_memory()  # what earlier runs here cached, for the worker to use
            results = run_in_subprocesses(
                suite, run, options, timings, device, stop, threads,
                on_record=lambda record: progress.step(record, slug=run.slug))
    except KeyboardInterrupt:
        raise
    except Exception as error:  # a failed run is recorded, the suite goes on
        _write_error_file(run_dir, traceback.format_exc(), progress)
        return _failed_record(suite, run, failure_reason(error, run_dir), prepared, timings)
    timings["total_s"] = time.time() - started
    return run_record(suite, run, prepared, status="finished", reason=None,
                      train=results["train"], scores=results["scores"], timings=timings)


def failure_reason(error: Exception, run_dir: Path) -> str:
    """The one-line reason a failed record gives: "no space left on device while writing
    <path>" for a full disk (the path the run was writing, else its directory), else
    "<ErrorType>: <message>"."""
    if isinstance(error, DiskFullError):
        return str(error)
    described = f"{type(error).__name__}: {error}"
    code = disk_full_errno(error)
    if code is not None:  # a full disk that no writer of ours named
        return f"{DiskFullError(run_dir, code)} ({described})"
    return described


def _write_error_file(run_dir: Path, text: str, progress: SuiteProgress) -> None:
    """The traceback beside the run; a disk too full for it costs this file, never the record."""
    try:
        write_text_atomic(run_dir / ERROR_FILE, text)
    except OSError as error:
        progress.say(f"    could not save the traceback in {run_dir / ERROR_FILE}: {error}")


def _store_record(store: SuiteStore, record: dict, run: Run) -> None:
    """Put a run's record; one that cannot be written stops the suite with a one-line error
    (the next run could not be recorded either), and the run, unrecorded, runs again."""
    try:
        store.put(record)
    except OSError as error:
        raise UserError(f"run {run.slug} ({run.id}) {record['status']} but its record could not "
                        f"be written: {error}; free space and run again (an unrecorded run "
                        "runs again)") from None


def _failed_record(suite: Suite, run: Run, reason: str, prepared, timings: dict) -> dict:
    return run_record(suite, run, prepared, status="failed", reason=reason, train=None,
                      scores=None, timings=timings)
