"""`harness run --executor ray`: each run of a suite as a Ray task on the user's cluster.

Ray does the scheduling (the project's rule: past one machine, an existing engine, never a
home-made scheduler). A task asks for the GPUs its run needs (`--processes`, 1 by default; CPUs
on a cluster without GPUs) and starts the same worker job the local placements start
(placement.run_in_subprocesses: one worker process, or torchrun for several), with the
CUDA_VISIBLE_DEVICES Ray gave it. Data is prepared on the driver, once per dataset, into the
cache every node must see (shared storage); the runs directory and the suite file too.

Only the driver writes: a task returns the worker's result, and the runner records it under the
suite lock it holds. A task whose worker is killed (OOM killer, preemption) or whose Ray worker
or node dies is retried up to MAX_RETRIES times, resuming from the run's checkpoint; after that,
or for a worker that exits with an error (a retry would fail the same way), the run is recorded
failed with the reason. Ctrl-C cancels every task not yet done: a running task gets
KeyboardInterrupt and stops its worker's process group; one that does not stop within the grace
is force-cancelled (its Ray worker killed; the worker job exits with its parent, worker.py).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from harness.config.suite import Run, Suite
from harness.data.cache import default_cache_root
from harness.errors import UserError
from harness.files import LOG_FILE
from harness.run.placement import (
    KILL_GRACE_S,
    THREAD_ENVS,
    LogFollower,
    WorkerFailed,
    run_in_subprocesses,
)
from harness.run.progress import SuiteProgress
from harness.run.record import run_record, write_run_spec

MAX_RETRIES = 2  # attempts after the first, for a killed worker or a lost Ray worker or node
POLL_S = 0.5  # how often the driver shows the progress of the runs in flight
CANCEL_SLACK_S = 5.0  # past a cancelled task's own stop (KILL_GRACE_S) before it is forced
INSTALL_HINT = "--executor ray needs Ray: pip install 'harness[ray]'"


class WorkerKilled(RuntimeError):
    """A run's worker job killed by a signal: the one task error Ray retries."""


def import_ray():
    """The ray module, or a UserError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return ray


def run_on_ray(suite: Suite, runs: list[Run], prepared: dict, store, options,
               progress: SuiteProgress, record: Callable[[Run, dict], None]) -> None:
    """Run `runs` as Ray tasks (connecting to `options.ray_address` unless this process is
    connected already) and hand each one's record to `record` as it completes."""
    ray = import_ray()
    if not runs:
        return
    if not ray.is_initialized():
        try:
            ray.init(address=options.ray_address, log_to_driver=False)
        except ConnectionError as error:  # no cluster at that address
            where = options.ray_address or "$RAY_ADDRESS or this machine"
            raise UserError(f"--executor ray could not reach a Ray cluster at {where}: "
                            f"{' '.join(str(error).split())[:300]}") from None
    resources = task_resources(options.processes, _alive_node_resources(ray))
    progress.say(f"executor ray: {len(runs)} run(s) as tasks of {_describe(resources)} each "
                 f"on {_describe(ray.cluster_resources())}")
    # A task runs on another machine: every path it is given must mean the same there.
    options = dataclasses.replace(options, runs_root=Path(options.runs_root).resolve(),
                                  cache_root=Path(options.cache_root
                                                  or default_cache_root()).resolve())
    task_suite = dataclasses.replace(suite, path=Path(suite.path).resolve())
    remote = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=[WorkerKilled])(run_task)
    in_flight: dict = {}  # ObjectRef -> (run, follower of its train_log.jsonl)
    for run in runs:
        run_dir = store.run_dir(run.id)
        write_run_spec(suite, run, prepared[run.data_key], run_dir)
        progress.run_started(run.slug, run.id, run.spec.train.max_steps)
        ref = remote.options(**resources, name=f"harness {suite.name} {run.slug}").remote(
            task_suite, run, options, str(prepared[run.data_key].dir), resources["num_cpus"])
        follower = LogFollower(run_dir / LOG_FILE,
                               lambda update, slug=run.slug: progress.step(update, slug=slug))
        in_flight[ref] = (run, follower)
    try:
        while in_flight:
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_S)
            for _, follower in in_flight.values():
                follower.poll()  # the runs directory is shared: the driver reads their logs
            for ref in done:
                run, _ = in_flight.pop(ref)
                record(run, _record(ray, ref, suite, run, prepared[run.data_key]))
    except KeyboardInterrupt:
        _cancel(ray, list(in_flight))
        raise


def task_resources(processes: int, nodes: list[dict]) -> dict:
    """What one run's task asks Ray for: a GPU per process where the cluster has GPUs (and a
    CPU for its data loading), else a CPU per process. A run that no single node can hold is
    refused here, since Ray would keep its task pending forever."""
    gpus = max((node.get("GPU", 0) for node in nodes), default=0)
    cpus = max((node.get("CPU", 0) for node in nodes), default=0)
    if gpus:
        if processes > gpus:
            raise UserError(f"--processes {processes} needs {processes} GPUs on one node; the "
                            f"largest node of this Ray cluster has {gpus:g}")
        return {"num_gpus": processes, "num_cpus": 1}
    if processes > cpus:
        raise UserError(f"--processes {processes} needs {processes} CPUs on one node; the "
                        f"largest node of this Ray cluster has {cpus:g} (and no GPU)")
    return {"num_gpus": 0, "num_cpus": processes}


def run_task(suite: Suite, run: Run, options, data_dir: str, cpus: int) -> dict:
    """The body of a run's Ray task: {"result": what the worker wrote} or {"failed": reason}.

    A killed worker raises WorkerKilled, which Ray retries (the worker resumes from the run's
    checkpoint); any other failure is returned, since the same inputs would fail again."""
    interruptible_by_cancel()
    unseen = unseen_paths(suite, options, data_dir)
    if unseen:
        return {"failed": f"node {socket.gethostname()} cannot see {unseen} (prepared or written "
                          "by the driver): put the cache (--cache-dir), the runs directory "
                          "(--runs-dir) and the suite file on storage every Ray node mounts"}
    # The worker trains with the cores Ray reserved for this task, not all the node's: tasks
    # packed on one node would otherwise oversubscribe it (Ray leaves OMP_NUM_THREADS alone).
    os.environ.update({name: str(cpus) for name in THREAD_ENVS})
    timings: dict[str, float] = {}
    try:
        result = run_in_subprocesses(suite, run, options, timings)
    except WorkerFailed as error:
        if error.killed:
            raise WorkerKilled(str(error)) from None
        return {"failed": str(error), "timings": timings}
    return {"result": result, "timings": timings, "node": socket.gethostname(),
            "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}


def interruptible_by_cancel() -> None:
    """Let ray.cancel interrupt this task. Ray delivers a cancel as KeyboardInterrupt through
    _thread.interrupt_main, which does nothing while SIGINT has no Python handler: in a Ray worker
    of a cluster started from a process that ignored SIGINT (a background job, `cmd &`, of a
    non-interactive shell), since an ignored signal stays ignored across fork and exec and Python
    then installs no handler of its own. Python's default handler is put back."""
    if threading.current_thread() is not threading.main_thread():
        return  # a threaded actor: signal.signal is for the main thread only
    if not callable(signal.getsignal(signal.SIGINT)):  # SIG_IGN, SIG_DFL or not Python's
        signal.signal(signal.SIGINT, signal.default_int_handler)


def unseen_paths(suite: Suite, options, data_dir: str) -> str | None:
    """The first of the paths a worker reads that this node cannot see, named; None if all."""
    wanted = [("the prepared data", Path(data_dir)), ("the suite file", Path(suite.path)),
              ("the runs directory", Path(options.runs_root))]
    for what, path in wanted:
        if not path.exists():
            return f"{what} {path}"
    return None


def _record(ray, ref, suite: Suite, run: Run, prepared) -> dict:
    """The results record of a completed task, finished or failed with its reason."""
    try:
        outcome = ray.get(ref)
    except Exception as error:  # retries spent, the task cancelled, or a Ray worker lost
        return run_record(suite, run, prepared, status="failed", reason=ray_reason(error),
                          train=None, scores=None, timings={})
    if "failed" in outcome:
        return run_record(suite, run, prepared, status="failed", reason=outcome["failed"],
                          train=None, scores=None, timings=outcome.get("timings", {}))
    result = outcome["result"]
    return run_record(suite, run, prepared, status="finished", reason=None,
                      train=result["train"], scores=result["scores"],
                      timings=outcome["timings"])


def ray_reason(error: Exception) -> str:
    """One line for a task that Ray gave up on: the worker's own failure for a task error
    ('WorkerKilled: worker was killed by signal SIGKILL (9); ...'), else Ray's message."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, Exception):
        described = f"{type(cause).__name__}: {cause}"
    else:
        described = f"{type(error).__name__}: {' '.join(str(error).split())}"
    return f"{described[:600]} (on Ray, after {MAX_RETRIES} retries)"


def _cancel(ray, refs: list) -> None:
    """Cancel unfinished tasks: a queued one never starts, a running one gets KeyboardInterrupt,
    which stops its worker's process group (placement.run_in_subprocesses, SIGTERM then SIGKILL
    after KILL_GRACE_S). A task still running after that is force-cancelled: Ray kills its Ray
    worker, and the worker job, left without its parent, kills itself (worker.exit_with_parent)."""
    for ref in refs:
        ray.cancel(ref)
    if not refs:
        return
    _, running = ray.wait(refs, num_returns=len(refs), timeout=KILL_GRACE_S + CANCEL_SLACK_S)
    for ref in running:
        ray.cancel(ref, force=True)
    if running:
        ray.wait(running, num_returns=len(running), timeout=CANCEL_SLACK_S)


def _alive_node_resources(ray) -> list[dict]:
    return [node["Resources"] for node in ray.nodes() if node.get("Alive")]


def _describe(resources: dict) -> str:
    """'1 GPU, 1 CPU' from Ray's resource names (either spelling), zero counts left out."""
    names = {"num_gpus": "GPU", "GPU": "GPU", "num_cpus": "CPU", "CPU": "CPU"}
    parts = [f"{count:g} {names[key]}" for key, count in resources.items()
             if key in names and count]
    return ", ".join(parts) or "no resources"

