"""Putting runs on hardware: worker processes for one run on several devices.

`processes`: each run is one torchrun job of N processes (N GPUs through accelerate's DDP, or N
gloo ranks on a CPU — `accelerate launch --cpu --num_processes 2` ran a single process here,
torchrun gives MULTI_CPU). `runs_per_gpu`: independent runs at the same time, one process each,
pinned with CUDA_VISIBLE_DEVICES (see runner.run_suite).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness import faults
from harness.config.suite import Run, Suite
from harness.data.cache import default_cache_root
from harness.errors import UserError
from harness.files import read_json
from harness.run.worker import RESULT


def worker_command(suite: Suite, run: Run, runs_root: Path, cache_root: Path,
                   processes: int) -> list[str]:
    """The command line of one run's worker job."""
    args = ["-m", "harness.run.worker", str(suite.path), run.id, "--runs-root", str(runs_root),
            "--cache-root", str(cache_root)]
    if processes <= 1:
        return [sys.executable, *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={processes}", *args]


def run_in_subprocesses(suite: Suite, run: Run, options, timings: dict,
                        device: str | None = None) -> dict:
    """Run one run as a worker job and return what its main process wrote."""
    runs_root = Path(options.runs_root).resolve()
    cache_root = Path(options.cache_root or default_cache_root()).resolve()
    run_dir = runs_root / suite.name / run.id
    (run_dir / RESULT).unlink(missing_ok=True)
    env = dict(os.environ)
    env[faults.CURRENT_RUN_ENV] = run.id  # per process: threads of runs_per_gpu share os.environ
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = device
    log_path = run_dir / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = worker_command(suite, run, runs_root, cache_root, options.processes)
    with open(log_path, "ab") as log:
        done = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0 or not (run_dir / RESULT).exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"worker exited with code {done.returncode}; last lines of "
                           f"{log_path}: " + " | ".join(tail))
    result = read_json(run_dir / RESULT)
    timings.update(result.get("timings", {}))
    return result


def visible_gpus() -> list[str]:
    """GPU indices this machine offers, as CUDA_VISIBLE_DEVICES values."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return [str(index) for index in range(count)]


def check_placement(placement: str, processes: int) -> None:
    """Refuse placements this machine cannot serve, with the reason."""
    if placement == "runs_per_gpu" and len(visible_gpus()) < 1:
        raise UserError("placement runs_per_gpu needs GPUs; none are visible here "
                        "(use sequential on a CPU)")
    if processes < 1:
        raise UserError(f"--processes must be at least 1, got {processes}")
