"""A run in its own process(es): `python -m harness.run.worker SUITE RUN_ID --runs-root R ...`.

The runner starts it once per run under torchrun (several processes, one per GPU, or gloo ranks
on a CPU) or alone on one GPU. The main process writes worker_result.json; the runner, which
holds the suite lock, turns it into the results record.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness.files import write_json_atomic

RESULT = "worker_result.json"


def main(argv: list[str] | None = None) -> int:
    """Prepare (from the cache), train, evaluate and score one run of a suite."""
    parser = argparse.ArgumentParser(prog="python -m harness.run.worker")
    parser.add_argument("suite_file", type=Path)
    parser.add_argument("run_id")
    parser.add_argument("--runs-root", type=Path, required=True)
    parser.add_argument("--cache-root", type=Path, required=True)
    args = parser.parse_args(argv)

    from accelerate import PartialState

    from harness.config.load import load_suite
    from harness.data.prepare import prepare
    from harness.run.execute import train_evaluate_score

    suite = load_suite(args.suite_file)
    run = next(run for run in suite.runs if run.id == args.run_id)
    run_dir = args.runs_root / suite.name / run.id
    state = PartialState()
    prepared = prepare(run.spec, args.cache_root)
    timings: dict[str, float] = {}
    started = time.time()
    results = train_evaluate_score(run.spec, prepared, run_dir, timings,
                                   is_main_process=state.is_main_process)
    timings["worker_s"] = time.time() - started
    if state.is_main_process:
        write_json_atomic(run_dir / RESULT, {**results, "timings": timings,
                                             "num_processes": state.num_processes})
    return 0


if __name__ == "__main__":
    sys.exit(main())
