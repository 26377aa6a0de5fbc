"""Putting runs on hardware without GPUs: refusals, GPU discovery, the worker's command line,
the worker job's contract with the runner, and one real run trained in a worker process."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from harness import cli, faults
from harness.config.load import load_suite
from harness.errors import UserError
from harness.run import placement
from harness.run.placement import (
    check_placement,
    run_in_subprocesses,
    visible_gpus,
    worker_command,
)
from harness.run.runner import RunOptions, run_suite, suite_store

# The tiny settings of tests/test_runner.py, one run: 6 updates on 2 min of synthetic audio.
SUITE = """\
# Question: does a worker process train and score a run like the runner itself?
# Command:  harness run tiny-worker.yaml --placement processes --processes 1
suite: tiny-worker
mode: one_at_a_time
base:
  data:
    source: synthetic
    synth: {train: 2min, test: 20s, seed: 0}
    dev_utterances: 4
  model: {preset: tiny}
  train: {lr: 1e-3, max_steps: 6, warmup_steps: 2, batch_seconds: 16, checkpoint_every: 3,
          log_every: 1}
  text: {targets: blog, scoring: [blog, none]}
  eval: {bootstrap: 100}
"""


def gpus(monkeypatch, count: int) -> None:
    """Make torch report this many CUDA devices (0: CUDA unavailable)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


@pytest.fixture
def suite_file(tmp_path) -> Path:
    path = tmp_path / "tiny-worker.yaml"
    path.write_text(SUITE)
    return path


def test_visible_gpus_lists_each_device_index(monkeypatch):
    """With 3 CUDA devices, visible_gpus() is their CUDA_VISIBLE_DEVICES values '0', '1', '2'."""
    gpus(monkeypatch, 3)
    assert visible_gpus() == ["0", "1", "2"]


def test_visible_gpus_is_empty_when_cuda_is_unavailable(monkeypatch):
    """Without CUDA, visible_gpus() is empty even if device_count() would say otherwise."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert visible_gpus() == []


def test_runs_per_gpu_is_refused_without_gpus(monkeypatch):
    """runs_per_gpu on a machine with no GPU is a UserError that points to sequential."""
    gpus(monkeypatch, 0)
    with pytest.raises(UserError) as refused:
        check_placement("runs_per_gpu", 1)
    assert str(refused.value) == ("placement runs_per_gpu needs GPUs; none are visible here "
                                  "(use sequential on a CPU)")


@pytest.mark.parametrize("processes", [0, -1])
def test_fewer_than_one_process_is_refused(monkeypatch, processes):
    """--processes below 1 is a UserError naming the value given."""
    gpus(monkeypatch, 0)
    with pytest.raises(UserError) as refused:
        check_placement("processes", processes)
    assert str(refused.value) == f"--processes must be at least 1, got {processes}"


@pytest.mark.parametrize("where, count", [("processes", 0), ("runs_per_gpu", 2)])
def test_servable_placements_pass(monkeypatch, where, count):
    """processes on a CPU (gloo ranks) and runs_per_gpu with GPUs are accepted."""
    gpus(monkeypatch, count)
    check_placement(where, 2)  # raises on refusal


def test_harness_run_refuses_a_placement_before_touching_the_runs_dir(suite_file, tmp_path,
                                                                      monkeypatch, capsys):
    """`harness run --placement runs_per_gpu` on a CPU exits 2 with the reason and creates no
    suite directory."""
    gpus(monkeypatch, 0)
    runs = tmp_path / "runs"
    code = cli.main(["run", str(suite_file), "--runs-dir", str(runs), "--no-report",
                     "--placement", "runs_per_gpu"])
    assert code == 2
    assert capsys.readouterr().err == ("error: placement runs_per_gpu needs GPUs; none are "
                                       "visible here (use sequential on a CPU)\n")
    assert not runs.exists()


def test_worker_command_of_one_process_runs_the_worker_module():
    """With one process the worker runs directly: python -m harness.run.worker SUITE RUN_ID with
    the runs and cache roots."""
    suite, run = SimpleNamespace(path=Path("/suites/tiny.yaml")), SimpleNamespace(id="ce600c06dc")
    command = worker_command(suite, run, Path("/r/runs"), Path("/r/cache"), processes=1)
    assert command == [sys.executable, "-m", "harness.run.worker", "/suites/tiny.yaml",
                       "ce600c06dc", "--runs-root", "/r/runs", "--cache-root", "/r/cache"]


def test_worker_command_of_several_processes_goes_through_torchrun():
    """With N > 1 processes the same worker arguments run under torchrun, standalone, N per
    node."""
    suite, run = SimpleNamespace(path=Path("/suites/tiny.yaml")), SimpleNamespace(id="ce600c06dc")
    command = worker_command(suite, run, Path("/r/runs"), Path("/r/cache"), processes=4)
    assert command == [sys.executable, "-m", "torch.distributed.run", "--standalone",
                       "--nproc_per_node=4", "-m", "harness.run.worker", "/suites/tiny.yaml",
                       "ce600c06dc", "--runs-root", "/r/runs", "--cache-root", "/r/cache"]


def fake_worker(monkeypatch, script: str) -> None:
    """Replace the worker job with `python -c script`."""
    monkeypatch.setattr(placement, "worker_command",
                        lambda *args, **kwargs: [sys.executable, "-c", script])


FAKE_SUITE, FAKE_RUN = SimpleNamespace(name="tiny"), SimpleNamespace(id="ce600c06dc")


def test_worker_result_comes_back_with_its_timings_and_environment(tmp_path, monkeypatch):
    """run_in_subprocesses returns what the worker wrote, merges its timings, and starts it with
    the run's id and the GPU it was given in its environment."""
    run_dir = tmp_path / "runs" / "tiny" / "ce600c06dc"
    fake_worker(monkeypatch, (
        "import json, os\n"
        f"open({str(run_dir / 'worker_result.json')!r}, 'w').write(json.dumps("
        "{'timings': {'train_s': 2.5}, 'run': os.environ['" + faults.CURRENT_RUN_ENV + "'], "
        "'gpu': os.environ['CUDA_VISIBLE_DEVICES']}))\n"
    ))
    timings = {"prepare_s": 1.0}
    options = RunOptions(runs_root=tmp_path / "runs", cache_root=tmp_path / "cache")
    result = run_in_subprocesses(FAKE_SUITE, FAKE_RUN, options, timings, device="3")
    assert result == {"timings": {"train_s": 2.5}, "run": "ce600c06dc", "gpu": "3"}
    assert timings == {"prepare_s": 1.0, "train_s": 2.5}


@pytest.mark.parametrize("script, code", [
    ("print('loss is NaN'); raise SystemExit(3)", 3),
    ("print('exited without writing a result')", 0),  # a stale result must not be read back
])
def test_failed_worker_raises_with_its_exit_code_and_log_tail(tmp_path, monkeypatch, script,
                                                              code):
    """A worker that exits non-zero, or exits 0 without writing its result (a stale result from
    an earlier attempt does not count), raises with the exit code and the log's last lines."""
    run_dir = tmp_path / "runs" / "tiny" / "ce600c06dc"
    run_dir.mkdir(parents=True)
    (run_dir / "worker_result.json").write_text(json.dumps({"timings": {}, "stale": True}))
    fake_worker(monkeypatch, script)
    options = RunOptions(runs_root=tmp_path / "runs", cache_root=tmp_path / "cache")
    with pytest.raises(RuntimeError) as failed:
        run_in_subprocesses(FAKE_SUITE, FAKE_RUN, options, {})
    message = str(failed.value)
    assert message.startswith(f"worker exited with code {code}; last lines of "
                              f"{run_dir / 'worker.log'}: ")
    assert message.endswith(script.split("'")[1])  # the worker's output line


@pytest.mark.integration
def test_worker_process_trains_the_run_the_runner_would(suite_file, tmp_path):
    """`harness run --placement processes --processes 1` trains the run in a worker process and
    records it finished and scored, with the same weights and scores as the in-process runner."""
    cache = tmp_path / "cache"
    code = cli.main(["run", str(suite_file), "--runs-dir", str(tmp_path / "worker-runs"),
                     "--cache-dir", str(cache), "--no-report", "--placement", "processes",
                     "--processes", "1"])
    assert code == 0
    suite = load_suite(suite_file)
    store = suite_store(suite, tmp_path / "worker-runs")
    [record] = store.records()
    assert record["status"] == "finished" and record["reason"] is None
    assert record["train"]["steps"] == 6
    assert set(record["scores"]["rule_sets"]) == {"blog", "none"}
    assert "worker_s" in record["timings"]  # only the worker job measures this
    run_dir = store.run_dir(record["run_id"])
    worker_result = json.loads((run_dir / "worker_result.json").read_text())
    assert worker_result["num_processes"] == 1
    assert (run_dir / "worker.log").exists() and (run_dir / "predictions.jsonl").exists()

    in_process = run_suite(suite, RunOptions(runs_root=tmp_path / "runs", cache_root=cache,
                                             interactive=False))
    [reference] = in_process.records
    assert in_process.reused == 1  # the worker's prepared data, from the same cache
    assert record["train"]["weights_sha256"] == reference["train"]["weights_sha256"]
    assert record["train"]["final_loss"] == reference["train"]["final_loss"]
    for name in ("blog", "none"):
        ours, theirs = record["scores"]["rule_sets"][name], reference["scores"]["rule_sets"][name]
        assert (ours["words"], ours["chars"]) == (theirs["words"], theirs["chars"]), name
