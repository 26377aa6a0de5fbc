"""Putting runs on hardware: which placements this machine can serve, and worker jobs.

`processes`: each run is one torchrun job of N processes (N GPUs through accelerate's DDP, or N
gloo ranks on a CPU — `accelerate launch --cpu --num_processes 2` ran a single process here,
torchrun gives MULTI_CPU). `runs_per_gpu`: independent runs at the same time, one worker process
each, pinned with CUDA_VISIBLE_DEVICES to one of the GPUs this process was given (see
runner.run_suite). `sequential` runs in the runner's process, except runs that need a process of
their own (runner.needs_own_process) and runs under a --run-timeout. `cpu_parallel`: independent
runs at the same time on a CPU, one worker process each with its share of the cores as threads
(OMP_NUM_THREADS), since two runs of one thread each train more audio per second than one run
of two threads. `auto` picks one of these once the data is prepared (auto_placement).

A worker job starts in a process group of its own; one that exits non-zero, dies of a signal,
writes no result or runs past its timeout raises WorkerFailed, and its whole group is stopped
(torchrun forwards SIGTERM to its ranks, which also exit when their parent dies: worker.py).
This module imports no torch at import time: `harness plan` checks placements with it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from harness import faults
from harness.config.durations import format_duration
from harness.config.suite import Run, Suite
from harness.data.cache import default_cache_root
from harness.errors import UserError
from harness.files import LOG_FILE, read_json
from harness.run.worker import RESULT, RUNNER_PID_ENV

# After SIGTERM, how long a worker's group gets before SIGKILL: a direct worker dies at once,
# torchrun forwards the signal to its ranks (whose own escalation takes up to 30 s; a rank still
# alive after torchrun is killed exits with its parent).
KILL_GRACE_S = 10.0
POLL_S = 0.2
LOG_TAIL_LINES = 5
# --placement auto on a CPU: runs go in parallel when each trains on at least this much audio
# (what the tiny preset trains on in about half a minute on one core), so a worker's start-up
# (a few seconds of imports and data loading) is small beside it.
PARALLEL_MIN_AUDIO_S = 3000.0
CPU_RUN_MEMORY_BYTES = 2 << 30  # memory set aside per parallel CPU run (a tiny run takes ~0.8 GB)
THREAD_ENVS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
PLACEMENTS = ("auto", "sequential", "cpu_parallel", "runs_per_gpu", "processes")
# An exception line of a traceback, as a rank prints it under torchrun ("[rank1]: OSError: ...").
_ERROR_LINE = re.compile(r"^(?:\[rank\d+\]:\s*)?([A-Za-z_][\w.]*(?:Error|Exception|Failed)\b.*)$")


class WorkerFailed(RuntimeError):
    """A worker job that exited non-zero, died of a signal, timed out or wrote no result.
    `killed`: by a signal (the OOM killer, a preempted node), so worth another try, unlike an
    error exit, which would fail again (the Ray executor retries those)."""

    def __init__(self, message: str, *, killed: bool = False):
        super().__init__(message)
        self.killed = killed


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
                        stop: threading.Event | None = None,
                        threads: int | None = None,
                        on_record: Callable[[dict], None] | None = None) -> dict:
    """Run one run as a worker job and return what its main process wrote.

    `options.run_timeout` (seconds, or None) bounds the job's wall-clock time; `stop`, when set
    by another thread, stops the job and raises KeyboardInterrupt (Ctrl-C in runs_per_gpu).
    `on_record` gets each train_log.jsonl record the job writes while it runs (the runner's
    progress display for a run it does not train itself).
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
    if threads is not None:  # a cpu_parallel run: its share of the cores, and no GPU
        env.update({name: str(threads) for name in THREAD_ENVS})
        env["CUDA_VISIBLE_DEVICES"] = ""
    log_path = run_dir / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = worker_command(suite, run, runs_root, cache_root, options.processes)
    timeout = getattr(options, "run_timeout", None)
    follow = LogFollower(run_dir / LOG_FILE, on_record) if on_record else None
    with open(log_path, "ab") as log:
        # A group of its own, so that a timeout stops torchrun and whatever else the job started.
        child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            in_time = _wait(child, timeout, stop, follow)
        finally:
            _stop_group(child)
            if follow is not None:
                follow.poll()  # what it wrote just before it exited
    log_text = log_path.read_text(errors="replace")
    tail = f"last lines of {log_path}: {_log_tail(log_text)}"
    if not in_time:
        raise WorkerFailed(f"worker ran past --run-timeout {format_duration(timeout)} and was "
                           f"killed with its process group; {tail}")
    code = child.returncode
    if code < 0:
        raise WorkerFailed(f"worker was killed by signal {_signal_name(-code)}; {tail}",
                           killed=True)
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
          stop: threading.Event | None, follow: LogFollower | None = None) -> bool:
    """Wait for the worker to exit (not reaping it); False when it ran past `timeout`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not _exited(child):
        if follow is not None:
            follow.poll()
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


class LogFollower:
    """Hands on the records appended to a run's train_log.jsonl since it was made: complete
    lines only (a line being written waits for the next poll); a log cut back by a resume
    (train.checkpoint drops lines past the checkpoint) is followed from its new end."""

    def __init__(self, path: Path, on_record: Callable[[dict], None]):
        self.path = path
        self.on_record = on_record
        self.position = path.stat().st_size if path.exists() else 0

    def poll(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size < self.position:
            self.position = size
        if size == self.position:
            return
        with open(self.path, "rb") as handle:
            handle.seek(self.position)
            chunk = handle.read(size - self.position)
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self.position += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # not ours to judge here: the run's own reader reports a bad line
            if isinstance(record, dict):
                self.on_record(record)


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


def cpu_cores() -> int:
    """The cores this process may run on (its affinity: a Slurm or taskset share, not all)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo; None where there is none (macOS)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_parallel_threads(runs: int, cores: int, parallel: int) -> list[int]:
    """Threads of each of `parallel` runs at once on `cores` cores: the cores shared out, every
    run at least one (5 cores, 2 runs -> [3, 2]); never more runs at once than there are runs."""
    slots = max(1, min(parallel, runs))
    return [cores // slots + (1 if index < cores % slots else 0) if cores >= slots else 1
            for index in range(slots)]


def auto_placement(runs: int, gpus: list[str], cores: int, audio_per_run_s: float,
                   memory_bytes: int | None) -> tuple[str, int]:
    """(placement, runs at once) for `--placement auto`.

    GPUs: runs_per_gpu on two or more, else sequential. A CPU: cpu_parallel with one run per core
    (one thread each) when there are two runs or more and each trains long enough to pay for its
    worker's start (imports and data loading, a few seconds), capped by memory; else sequential.
    """
    if gpus:
        return ("runs_per_gpu", len(gpus)) if len(gpus) > 1 and runs > 1 else ("sequential", 1)
    if runs < 2 or cores < 2 or audio_per_run_s < PARALLEL_MIN_AUDIO_S:
        return "sequential", 1
    by_memory = runs if memory_bytes is None else max(1, memory_bytes // CPU_RUN_MEMORY_BYTES)
    parallel = int(min(runs, cores, by_memory))
    return ("cpu_parallel", parallel) if parallel > 1 else ("sequential", 1)


def check_placement(placement: str, processes: int, gpus: list[str] | None = None) -> None:
    """Refuse, in one line, a placement and --processes that cannot run here; `gpus` are the
    visible GPUs (visible_gpus() when None)."""
    if processes < 1:
        raise UserError(f"--processes must be at least 1, got {processes}")
    if placement == "sequential" and processes > 1:
        raise UserError(f"--processes {processes} needs --placement processes (sequential runs "
                        "each run in one process)")
    if placement in ("cpu_parallel", "auto") and processes > 1:
        raise UserError(f"--placement {placement} runs each run in one process; "
                        f"--processes {processes} needs --placement processes")
    if placement == "runs_per_gpu" and processes > 1:
        raise UserError(f"--placement runs_per_gpu runs each run in one process on one GPU; "
                        f"--processes {processes} needs --placement processes")
    if placement in ("sequential", "cpu_parallel", "auto"):
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


def describe_placement(placement: str, processes: int, gpus: list[str],
                       parallel: int = 1) -> str:
    """One line: where the runs of a suite will go, e.g. 'runs_per_gpu: one run at a time on
    each of GPUs 2, 3'."""
    if placement == "runs_per_gpu":
        return f"placement runs_per_gpu: one run at a time on each of GPUs {', '.join(gpus)}"
    if placement == "processes" and gpus:
        return (f"placement processes: each run in {processes} process(es) on GPUs "
                f"{', '.join(gpus[:processes])}")
    if placement == "processes":
        return f"placement processes: each run as {processes} gloo rank(s) on the CPU"
    if placement == "cpu_parallel":
        threads = cpu_parallel_threads(parallel, cpu_cores(), parallel)  # parallel: resolved
        return (f"placement cpu_parallel: {len(threads)} runs at once on the CPU, "
                f"{'/'.join(map(str, threads))} thread(s) each")
    if placement == "auto":
        return ("placement auto: cpu_parallel on a CPU when runs are long enough, runs_per_gpu "
                "on several GPUs, else sequential (decided once the data is prepared)")
    return "placement sequential: one run after another in this process"
