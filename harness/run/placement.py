"""Putting runs on hardware: which placements this machine can serve, and worker jobs.

`processes`: each run is one torchrun job of N processes (N GPUs through accelerate's DDP, or N
gloo ranks on a CPU — `accelerate launch --cpu --num_processes 2` ran a single process here,
torchrun gives MULTI_CPU). `runs_per_gpu`: independent runs at the same time, one worker process
each, pinned with CUDA_VISIBLE_DEVICES to one of the GPUs this process was given (see
runner.run_suite). `sequential` runs in the runner's process, except runs that need a process of
their own (runner.needs_own_process) and runs under a --run-timeout.

A worker job starts in a process group of its own; one that exits non-zero, dies of a signal,
writes no result or runs past its timeout raises WorkerFailed, and its whole group is stopped
(torchrun forwards SIGTERM to its ranks, which also exit when their parent dies: worker.py).
This module imports no torch at import time: `harness plan` checks placements with it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import faults
from harness.config.durations import format_duration
from harness.config.suite import Run, Suite
from harness.data.cache import default_cache_root
from harness.errors import UserError
from harness.files import read_json
from harness.run.worker import RESULT, RUNNER_PID_ENV

# After SIGTERM, how long a worker's group gets before SIGKILL: a direct worker dies at once,
# torchrun forwards the signal to its ranks (whose own escalation takes up to 30 s; a rank still
# alive after torchrun is killed exits with its parent).
KILL_GRACE_S = 10.0
POLL_S = 0.2
LOG_TAIL_LINES = 5
# An exception line of a traceback, as a rank prints it under torchrun ("[rank1]: OSError: ...").
_ERROR_LINE = re.compile(r"^(?:\[rank\d+\]:\s*)?([A-Za-z_][\w.]*(?:Error|Exception|Failed)\b.*)$")


class WorkerFailed(RuntimeError):
    """A worker job that exited non-zero, died of a signal, timed out or wrote no result."""


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
                        device: str | None = None,
                        stop: threading.Event | None = None) -> dict:
    """Run one run as a worker job and return what its main process wrote.

    `options.run_timeout` (seconds, or None) bounds the job's wall-clock time; `stop`, when set
    by another thread, stops the job and raises KeyboardInterrupt (Ctrl-C in runs_per_gpu).
    """
    runs_root = Path(options.runs_root).resolve()
    cache_root = Path(options.cache_root or default_cache_root()).resolve()
    run_dir = runs_root / suite.name / run.id
    (run_dir / RESULT).unlink(missing_ok=True)
    env = dict(os.environ)
    env[faults.CURRENT_RUN_ENV] = run.id  # per process: threads of runs_per_gpu share os.environ
    env[RUNNER_PID_ENV] = str(os.getpid())
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = device
    log_path = run_dir / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = worker_command(suite, run, runs_root, cache_root, options.processes)
    timeout = getattr(options, "run_timeout", None)
    with open(log_path, "ab") as log:
        # A group of its own, so that a timeout stops torchrun and whatever else the job started.
        child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            in_time = _wait(child, timeout, stop)
        finally:
            _stop_group(child)
    log_text = log_path.read_text(errors="replace")
    tail = f"last lines of {log_path}: {_log_tail(log_text)}"
    if not in_time:
        raise WorkerFailed(f"worker ran past --run-timeout {format_duration(timeout)} and was "
                           f"killed with its process group; {tail}")
    code = child.returncode
    if code < 0:
        raise WorkerFailed(f"worker was killed by signal {_signal_name(-code)}; {tail}")
    error = _first_error(log_text)  # not above: a timeout's or signal's traceback is our doing
    tail = f"{error}; {tail}" if error else tail
    if code != 0:
        raise WorkerFailed(f"worker exited with code {code}; {tail}")
    if not (run_dir / RESULT).exists():
        raise WorkerFailed(f"worker exited with code 0 but wrote no {RESULT}; {tail}")
    result = read_json(run_dir / RESULT)
    timings.update(result.get("timings", {}))
    return result


def _wait(child: subprocess.Popen, timeout: float | None,
          stop: threading.Event | None) -> bool:
    """Wait for the worker to exit (not reaping it); False when it ran past `timeout`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not _exited(child):
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def _exited(child: subprocess.Popen) -> bool:
    """Whether the worker has exited, leaving it unreaped: while its pid is a zombie, no other
    process can take that number as its group id, so killing the group hits only the job."""
    try:
        return os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): gone either way
        return True


def _stop_group(child: subprocess.Popen) -> None:
    """SIGTERM the worker's process group, SIGKILL what is left after the grace, reap."""
    try:
        if not _exited(child):
            _signal_group(child.pid, signal.SIGTERM)
            deadline = time.monotonic() + KILL_GRACE_S
            while not _exited(child) and time.monotonic() < deadline:
                time.sleep(POLL_S)
    finally:  # a second Ctrl-C during the grace still kills the group
        _signal_group(child.pid, signal.SIGKILL)  # the leader, and anything it left behind
        child.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is empty already (a zombie leader does not count)


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} ({number})"
    except ValueError:
        return str(number)


def _first_error(log_text: str) -> str | None:
    """The first exception a process of the job raised (torchrun's own ChildFailedError, which
    only says that one did, is skipped): 'OSError: ...' buried above torchrun's summary."""
    for line in log_text.splitlines():
        found = _ERROR_LINE.match(line.rstrip())
        if found and "ChildFailedError" not in found.group(1):
            return found.group(1)[:300]
    return None


def _log_tail(log_text: str) -> str:
    """The worker log's last lines, without torchrun's ===== rules."""
    lines = [line.rstrip() for line in log_text.strip().splitlines() if line.strip().strip("=-")]
    return " | ".join(lines[-LOG_TAIL_LINES:])


# --- which placements this machine can serve -----------------------------------------------

def visible_gpus() -> list[str]:
    """The GPUs this process was given, as CUDA_VISIBLE_DEVICES values for a child process.

    Under an inherited CUDA_VISIBLE_DEVICES=2,3 (a Slurm job's GPUs), the child of the first is
    given "2", not "0": the values are the parent's own entries.
    """
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return gpu_values(os.environ.get("CUDA_VISIBLE_DEVICES"), count)


def gpu_values(cuda_visible_devices: str | None, count: int) -> list[str]:
    """The CUDA_VISIBLE_DEVICES value of each of `count` visible GPUs: '2,3' -> ['2', '3'];
    unset -> ['0', '1', ...]; entries are kept as written (UUIDs and MIG names too)."""
    if cuda_visible_devices is None:
        return [str(index) for index in range(count)]
    entries = [entry.strip() for entry in cuda_visible_devices.split(",")]
    return entries[:count]  # CUDA ignores entries after an invalid one; torch counted the rest


def gpus_without_torch(dev: Path = Path("/dev")) -> list[str]:
    """The GPUs as `harness plan` sees them without importing torch: one per /dev/nvidiaN,
    narrowed by CUDA_VISIBLE_DEVICES (entries up to the first empty or negative one)."""
    count = len([path for path in dev.glob("nvidia*") if path.name[6:].isdigit()])
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return gpu_values(None, count)
    entries = []
    for entry in (entry.strip() for entry in visible.split(",")):
        if not entry or entry.startswith("-"):
            break
        entries.append(entry)
    return entries[:count]


def check_placement(placement: str, processes: int, gpus: list[str] | None = None) -> None:
    """Refuse, in one line, a placement and --processes that cannot run here; `gpus` are the
    visible GPUs (visible_gpus() when None)."""
    if processes < 1:
        raise UserError(f"--processes must be at least 1, got {processes}")
    if placement == "sequential" and processes > 1:
        raise UserError(f"--processes {processes} needs --placement processes (sequential runs "
                        "each run in one process)")
    if placement == "runs_per_gpu" and processes > 1:
        raise UserError(f"--placement runs_per_gpu runs each run in one process on one GPU; "
                        f"--processes {processes} needs --placement processes")
    if placement == "sequential":
        return
    gpus = visible_gpus() if gpus is None else gpus
    if placement == "runs_per_gpu" and not gpus:
        raise UserError("placement runs_per_gpu needs GPUs; none are visible here "
                        "(use sequential on a CPU)")
    if placement == "processes" and gpus and processes > len(gpus):
        raise UserError(f"--processes {processes} needs {processes} GPUs; {len(gpus)} "
                        f"visible here ({', '.join(gpus)})")


def check_precisions(runs, gpus: list[str]) -> None:
    """Refuse fp16 where no GPU is visible: autocast to fp16 needs CUDA (bf16 and no run on a
    CPU). All offending runs are named at once, before anything runs."""
    if gpus:
        return
    fp16 = [run.slug for run in runs if run.spec.train.precision == "fp16"]
    if fp16:
        raise UserError(f"train.precision fp16 needs a CUDA GPU and none is visible here (runs: "
                        f"{', '.join(fp16)}); use bf16 or no on a CPU, or auto")


def describe_placement(placement: str, processes: int, gpus: list[str]) -> str:
    """One line: where the runs of a suite will go, e.g. 'runs_per_gpu: one run at a time on
    each of GPUs 2, 3'."""
    if placement == "runs_per_gpu":
        return f"placement runs_per_gpu: one run at a time on each of GPUs {', '.join(gpus)}"
    if placement == "processes" and gpus:
        return (f"placement processes: each run in {processes} process(es) on GPUs "
                f"{', '.join(gpus[:processes])}")
    if placement == "processes":
        return f"placement processes: each run as {processes} gloo rank(s) on the CPU"
    return "placement sequential: one run after another in this process"
