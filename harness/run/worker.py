"""A run in its own process(es): `python -m harness.run.worker SUITE RUN_ID --runs-root R ...`.

The runner starts it once per run under torchrun (several processes, one per GPU, or gloo ranks
on a CPU) or alone (on one GPU, or for a run that needs a process of its own). Every process
trains; only the main one decodes, scores and writes worker_result.json, which the runner, holding
the suite lock, turns into the results record. Every worker process exits when its parent (the
runner, or torchrun, which starts each rank in a session of its own) or the runner dies, so none
trains on as an orphan beside the next runner of the same suite.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from harness.files import write_json_atomic

RESULT = "worker_result.json"
RUNNER_PID_ENV = "HARNESS_RUNNER_PID"  # set by run.placement for every process of a worker job


def main(argv: list[str] | None = None) -> int:
    """Prepare (from the cache), train, evaluate and score one run of a suite."""
    parser = argparse.ArgumentParser(prog="python -m harness.run.worker")
    parser.add_argument("suite_file", type=Path)
    parser.add_argument("run_id")
    parser.add_argument("--runs-root", type=Path, required=True)
    parser.add_argument("--cache-root", type=Path, required=True)
    args = parser.parse_args(argv)
    exit_with_parent()

    import torch
    from accelerate import PartialState

    from harness.config.load import load_suite
    from harness.data.prepare import prepare
    from harness.errors import UserError
    from harness.run.execute import train_evaluate_score

    suite = load_suite(args.suite_file)
    run = next((run for run in suite.runs if run.id == args.run_id), None)
    if run is None:
        raise UserError(f"run {args.run_id} is not in {args.suite_file} (edited since the "
                        "runner read it?)")
    run_dir = args.runs_root / suite.name / run.id
    # Under torchrun without CUDA only cpu=True makes the processes gloo ranks (MULTI_CPU); without
    # it each believes it is rank 0 of 1. This state is shared with the Accelerator of the loop.
    state = PartialState(cpu=not torch.cuda.is_available())
    prepared = prepare(run.spec, args.cache_root)
    timings: dict[str, float] = {}
    started = time.time()
    results = train_evaluate_score(run.spec, prepared, run_dir, timings,
                                   is_main_process=state.is_main_process)
    if state.is_main_process:
        # `timings` holds the keys an in-process run records; the job's own time stays here.
        write_json_atomic(run_dir / RESULT, {**results, "timings": timings,
                                             "worker_s": time.time() - started,
                                             "num_processes": state.num_processes})
    return 0


def exit_with_parent(period_s: float = 1.0) -> None:
    """SIGKILL this process soon after the process that started it exits (it is re-parented),
    or the runner named in $HARNESS_RUNNER_PID does (a SIGKILLed runner leaves torchrun behind)."""
    parent = os.getppid()
    runner = int(os.environ.get(RUNNER_PID_ENV) or 0)

    def watch() -> None:
        while True:
            time.sleep(period_s)
            if os.getppid() != parent or (runner and not _alive(runner)):
                os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    if Path("/proc/self/stat").exists():
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
    try:  # no /proc (macOS): existence only
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


if __name__ == "__main__":
    sys.exit(main())
