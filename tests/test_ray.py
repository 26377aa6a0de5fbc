"""`harness run --executor ray` on a local Ray cluster with fake GPUs (ray.init(num_gpus=4) on a
CPU): real tiny runs record what the local executor records; runs of 2 GPUs are packed two at a
time; killed workers and lost Ray workers are retried, then recorded failed, and the suite goes
on; a node that cannot see the cache says so; without ray, a clear UserError."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import cli
from harness.config.load import load_suite
from harness.data.prepare import DatasetOutcome
from harness.errors import UserError
from harness.run import ray_executor, runner
from harness.run.placement import KILL_GRACE_S
from harness.run.ray_executor import MAX_RETRIES, interruptible_by_cancel, task_resources
from harness.run.runner import RunOptions, run_suite
from tests.ray_fakes import FAKE_WORKER_FILE
from tests.test_placement import _alive
from tests.train_fixtures import tiny_suite

ROOT = Path(__file__).resolve().parents[1]
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="ray is not installed (pip install 'harness[ray]')")


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster of 2 CPUs and 4 fake GPUs, started once (~7 s); its worker
    processes get the fake worker hook (tests/ray_fakes.py)."""
    import ray

    ray.init(num_cpus=2, num_gpus=4, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)},
                          "worker_process_setup_hook": "tests.ray_fakes.install_fake_worker"})
    yield ray
    ray.shutdown()


# Each fake run counts its attempts, notes its GPUs and when it ran; run `victim` first does
# `behaviour` (with `attempt`, 1 on the first try, in scope).
FAKE_WORKER = """\
import json, os, signal, sys, time
run_dir = sys.argv[1]
count = os.path.join(run_dir, "attempts")
attempt = int(open(count).read()) + 1 if os.path.exists(count) else 1
open(count, "w").write(str(attempt))
if os.path.basename(run_dir) == {victim!r}:
    {behaviour}
started = time.time()
time.sleep(1.0)
with open(os.path.join(run_dir, "worker_result.json"), "w") as out:
    json.dump({{"train": {{"steps": 6, "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
                          "span": [started, time.time()], "attempt": attempt}},
               "scores": None, "timings": {{"train_s": 1.0}}}}, out)
"""
FAKE_SUITE = tiny_suite("tiny-ray-fake", "do runs go to Ray as tasks?", "harness run x.yaml",
                        axes="axes:\n  train.lr: [1e-3, 3e-4, 1e-4, 3e-3]\n")


def fake_ray_suite(tmp_path: Path, monkeypatch, behaviour: str = "pass",
                   data_dir: Path | None = None):
    """The 4-run suite with FAKE_WORKER as every run's worker job and a stand-in for its
    prepared data (data_dir: where the tasks look for it)."""
    suite_file = tmp_path / "tiny-ray-fake.yaml"
    suite_file.write_text(FAKE_SUITE)
    suite = load_suite(suite_file)
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / FAKE_WORKER_FILE).write_text(
        FAKE_WORKER.format(victim=suite.baseline.id, behaviour=behaviour))
    stand_in = SimpleNamespace(fingerprint="fake", report={}, dir=data_dir or tmp_path)
    monkeypatch.setattr(runner, "prepare_suite", lambda todo, root, on_start: [
        DatasetOutcome(key, stand_in, reused=True)
        for key in dict.fromkeys(run.data_key for run in todo)])
    return suite, runs


def by_slug(outcome) -> dict[str, dict]:
    return {record["slug"]: record for record in outcome.records}


@needs_ray
def test_runs_of_two_gpus_are_packed_two_at_a_time_on_four(ray_cluster, tmp_path, monkeypatch):
    """--processes 2 on 4 fake GPUs: every task gets 2 GPUs of its own, two run at once on
    disjoint pairs, and a rerun skips every finished run."""
    suite, runs = fake_ray_suite(tmp_path, monkeypatch)
    options = RunOptions(runs_root=runs, executor="ray", processes=2, interactive=False)
    outcome = run_suite(suite, options)
    assert [r["status"] for r in outcome.records] == ["finished"] * 4
    trains = [r["train"] for r in outcome.records]
    for train in trains:
        assert len(train["gpus"].split(",")) == 2
    overlapping = [(a, b) for i, a in enumerate(trains) for b in trains[i + 1:]
                   if max(a["span"][0], b["span"][0]) < min(a["span"][1], b["span"][1])]
    assert overlapping  # two at a time, not one after another
    for a, b in overlapping:
        assert not set(a["gpus"].split(",")) & set(b["gpus"].split(","))
    assert sorted({gpu for t in trains for gpu in t["gpus"].split(",")}) == ["0", "1", "2", "3"]
    lines = (runs / suite.name / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4  # the driver wrote each record once
    again = run_suite(suite, options)
    assert again.records == [] and len(again.skipped) == 4


@needs_ray
@pytest.mark.parametrize("behaviour, status, attempts", [
    # the worker SIGKILLed once (the OOM killer): retried, resumes, finishes
    ("if attempt == 1: os.kill(os.getpid(), signal.SIGKILL)", "finished", 2),
    # the Ray worker running the task lost once (as with a node going away): Ray retries it
    ("if attempt == 1: os.kill(os.getppid(), signal.SIGKILL); os._exit(0)", "finished", 2),
    # killed every time: retried MAX_RETRIES times, then recorded failed
    ("os.kill(os.getpid(), signal.SIGKILL)", "failed", 1 + MAX_RETRIES),
    # an error exit would fail again: recorded failed at once, with its first error
    ("print('ValueError: loss is NaN', flush=True); sys.exit(3)", "failed", 1),
])
def test_killed_workers_are_retried_then_recorded_and_the_suite_goes_on(
        ray_cluster, tmp_path, monkeypatch, behaviour, status, attempts):
    suite, runs = fake_ray_suite(tmp_path, monkeypatch, behaviour)
    outcome = run_suite(suite, RunOptions(runs_root=runs, executor="ray", interactive=False))
    records = by_slug(outcome)
    baseline = records.pop("baseline")
    assert baseline["status"] == status
    assert (runs / suite.name / suite.baseline.id / "attempts").read_text() == str(attempts)
    assert [r["status"] for r in records.values()] == ["finished"] * 3
    if "SIGKILL" in behaviour and status == "failed":
        assert baseline["reason"].startswith("WorkerKilled: worker was killed by signal "
                                             "SIGKILL (9); last lines of ")
        assert baseline["reason"].endswith(f"(on Ray, after {MAX_RETRIES} retries)")
    elif status == "failed":
        assert baseline["reason"].startswith("worker exited with code 3; ValueError: loss is NaN")
    stored = [json.loads(line)["status"] for line in
              (runs / suite.name / "results.jsonl").read_text().splitlines()]
    assert sorted(stored) == sorted([status] + ["finished"] * 3)


@needs_ray
def test_a_node_that_cannot_see_the_cache_fails_the_run_with_that_reason(
        ray_cluster, tmp_path, monkeypatch):
    unmounted = tmp_path / "not-mounted" / "cache" / "data"
    suite, runs = fake_ray_suite(tmp_path, monkeypatch, data_dir=unmounted)
    outcome = run_suite(suite, RunOptions(runs_root=runs, executor="ray", interactive=False))
    assert [r["status"] for r in outcome.records] == ["failed"] * 4
    reason = outcome.records[0]["reason"]
    assert f"cannot see the prepared data {unmounted} (prepared or written by the driver)" in reason
    assert "--cache-dir" in reason
    assert not (runs / suite.name / suite.baseline.id / "attempts").exists()  # no worker ran


@needs_ray
def test_ctrl_c_on_the_driver_cancels_the_tasks_and_stops_their_workers(
        ray_cluster, tmp_path, monkeypatch):
    """SIGINT while the baseline's worker hangs: its task is cancelled and the worker's process
    group stopped, though the Ray workers ignore SIGINT (tests/ray_fakes.py: as when the cluster
    is started from a background job); the hung run is unrecorded (it runs again next time)."""
    suite, runs = fake_ray_suite(tmp_path, monkeypatch, (
        "open(os.path.join(run_dir, 'pid'), 'w').write(str(os.getpid())); time.sleep(120)"))
    pid_file = runs / suite.name / suite.baseline.id / "pid"
    # Ctrl-C as Python delivers it by default, also where pytest itself started with SIGINT
    # ignored (a background job) and so has no handler for it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(5.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_suite(suite, RunOptions(runs_root=runs, executor="ray", interactive=False))
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    # The task stops its worker's group (SIGTERM, then SIGKILL after placement.KILL_GRACE_S);
    # the driver waits for that before it raises, a moment more for the process to be gone.
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid)
    results = runs / suite.name / "results.jsonl"
    recorded = results.read_text() if results.exists() else ""
    assert suite.baseline.id not in recorded


def test_a_task_puts_back_python_s_sigint_handler_for_ray_cancel(monkeypatch):
    """ray.cancel interrupts a task through _thread.interrupt_main, a no-op while SIGINT is
    ignored (inherited from a background job) or left at SIG_DFL."""
    for inherited in (signal.SIG_IGN, signal.SIG_DFL):
        previous = signal.signal(signal.SIGINT, inherited)
        try:
            interruptible_by_cancel()
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        finally:
            signal.signal(signal.SIGINT, previous)


def test_a_task_still_running_after_the_grace_is_force_cancelled():
    """Ctrl-C: every task is cancelled; those that have not stopped after their worker's grace
    (a task Ray cannot interrupt) are cancelled with force, and waited for again."""
    calls = []
    fake_ray = SimpleNamespace(
        cancel=lambda ref, force=False: calls.append(("cancel", ref, force)),
        wait=lambda refs, num_returns, timeout: (calls.append(("wait", list(refs), timeout))
                                                 or (refs[:1], refs[1:])))
    ray_executor._cancel(fake_ray, ["stopped", "stuck"])
    assert calls == [("cancel", "stopped", False), ("cancel", "stuck", False),
                     ("wait", ["stopped", "stuck"], KILL_GRACE_S + ray_executor.CANCEL_SLACK_S),
                     ("cancel", "stuck", True),
                     ("wait", ["stuck"], ray_executor.CANCEL_SLACK_S)]


REAL_SUITE = tiny_suite("tiny-ray", "does a Ray task train and score a run as the runner does?",
                        "harness run tiny-ray.yaml --executor ray",
                        axes="axes:\n  train.lr: [1e-3, 3e-4, 3e-3]\n")


@needs_ray
def test_ray_tasks_record_the_scores_of_the_local_executor(ray_cluster, tmp_path, monkeypatch):
    """Three real tiny runs as Ray tasks (one fake GPU and one CPU thread each), then the same
    suite locally, one run at a time in workers of one thread: the same weights and scores."""
    suite_file = tmp_path / "tiny-ray.yaml"
    suite_file.write_text(REAL_SUITE)
    cache = tmp_path / "cache"
    assert cli.main(["run", str(suite_file), "--executor", "ray", "--runs-dir",
                     str(tmp_path / "ray"), "--cache-dir", str(cache), "--no-report"]) == 0
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    local = run_suite(load_suite(suite_file), RunOptions(
        runs_root=tmp_path / "local", cache_root=cache, run_timeout=600, interactive=False))
    on_ray = {json.loads(line)["run_id"]: json.loads(line) for line in
              (tmp_path / "ray" / "tiny-ray" / "results.jsonl").read_text().splitlines()}
    assert len(on_ray) == len(local.records) == 3
    for record in local.records:
        other = on_ray[record["run_id"]]
        assert other["status"] == record["status"] == "finished"
        assert other["train"]["cpu_threads"] == record["train"]["cpu_threads"] == 1
        assert other["train"]["weights_sha256"] == record["train"]["weights_sha256"]
        assert other["scores"] == record["scores"]


def test_without_ray_the_executor_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    suite_file = tmp_path / "tiny-ray.yaml"
    suite_file.write_text(REAL_SUITE)
    assert cli.main(["run", str(suite_file), "--executor", "ray", "--runs-dir",
                     str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --executor ray needs Ray: pip install 'harness[ray]'")
    assert not (tmp_path / "runs").exists()  # refused before anything ran


@pytest.mark.parametrize("processes, nodes, wanted", [
    (1, [{"CPU": 16, "GPU": 8}], {"num_gpus": 1, "num_cpus": 1}),
    (4, [{"CPU": 8, "GPU": 2}, {"CPU": 8, "GPU": 4}], {"num_gpus": 4, "num_cpus": 1}),
    (2, [{"CPU": 8}], {"num_gpus": 0, "num_cpus": 2}),  # a cluster without GPUs
])
def test_a_task_asks_for_a_gpu_per_process(processes, nodes, wanted):
    assert task_resources(processes, nodes) == wanted


@pytest.mark.parametrize("processes, nodes, message", [
    (8, [{"CPU": 8, "GPU": 4}, {"CPU": 8, "GPU": 4}],
     "--processes 8 needs 8 GPUs on one node; the largest node of this Ray cluster has 4"),
    (4, [{"CPU": 2}], "--processes 4 needs 4 CPUs on one node; the largest node of this Ray "
                      "cluster has 2 (and no GPU)"),
])
def test_a_run_no_node_can_hold_is_refused_not_left_pending(processes, nodes, message):
    with pytest.raises(UserError) as refused:
        task_resources(processes, nodes)
    assert str(refused.value) == message
