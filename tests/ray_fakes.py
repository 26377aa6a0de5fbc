"""A fake worker job for the Ray tests, installed in every Ray worker process of the test
cluster (ray.init(runtime_env={"worker_process_setup_hook": ...}), tests/test_ray.py).

A monkeypatch in the test process cannot reach a task's process, so the hook wraps
placement.worker_command there: where the runs directory holds FAKE_WORKER_FILE, a run's worker
job is that script (given its run directory); elsewhere it is the real worker.

The hook also leaves SIGINT ignored in the Ray worker, as a cluster started from a background job
(`pytest ... &` in a non-interactive shell, where SIGINT is ignored and children inherit that)
has it: the Ctrl-C test then checks that a cancel still stops a task whichever way pytest started.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

FAKE_WORKER_FILE = "fake_worker.py"


def install_fake_worker() -> None:
    """Wrap placement.worker_command in this (Ray worker) process, and ignore SIGINT there."""
    from harness.run import placement

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    real = placement.worker_command

    def command(suite, run, runs_root, cache_root, processes):
        fake = Path(runs_root) / FAKE_WORKER_FILE
        if fake.exists():
            return [sys.executable, str(fake), str(Path(runs_root) / suite.name / run.id)]
        return real(suite, run, runs_root, cache_root, processes)

    placement.worker_command = command
