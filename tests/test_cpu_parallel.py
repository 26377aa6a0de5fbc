"""Several runs at once on a CPU (placement cpu_parallel, and what `auto` picks): the cores are
shared out as threads, the workers really overlap, and a run trains, records and scores as it
does one at a time with the same threads."""

from __future__ import annotations

import json
import sys

import pytest

from harness import cli
from harness.config.load import load_suite
from harness.run import placement
from harness.run.placement import auto_placement, cpu_parallel_threads
from harness.run.runner import RunOptions, run_suite
from tests.test_placement import fake_suite_runner
from tests.train_fixtures import tiny_suite

GIB = 2**30


@pytest.mark.parametrize("runs, cores, parallel, threads", [
    (8, 2, 2, [1, 1]),
    (8, 5, 2, [3, 2]),
    (8, 16, 4, [4, 4, 4, 4]),
    (3, 16, 16, [6, 5, 5]),  # never more slots than runs
    (8, 2, 4, [1, 1, 1, 1]),  # more runs at once than cores: one thread each
])
def test_cores_are_shared_out_as_threads(runs, cores, parallel, threads):
    assert cpu_parallel_threads(runs, cores, parallel) == threads


@pytest.mark.parametrize("runs, gpus, cores, audio, memory, expected", [
    (8, [], 2, 9600.0, 20 * GIB, ("cpu_parallel", 2)),  # the default suite on the 2-core box
    (8, [], 16, 9600.0, 5 * GIB, ("cpu_parallel", 2)),  # memory for two runs only
    (8, [], 2, 48.0, 20 * GIB, ("sequential", 1)),  # runs of seconds: workers would not pay
    (1, [], 16, 9600.0, 20 * GIB, ("sequential", 1)),
    (8, [], 1, 9600.0, 20 * GIB, ("sequential", 1)),
    (8, ["0", "1"], 16, 9600.0, 20 * GIB, ("runs_per_gpu", 2)),
    (8, ["0"], 16, 9600.0, 20 * GIB, ("sequential", 1)),
    (8, [], 4, 9600.0, None, ("cpu_parallel", 4)),  # no /proc/meminfo: cores decide
])
def test_auto_placement(runs, gpus, cores, audio, memory, expected):
    assert auto_placement(runs, gpus, cores, audio, memory) == expected


# Each fake run notes its threads, its GPUs and when it ran.
TIMED_WORKER = """\
import json, os, time
run_dir = os.path.join({runs!r}, "tiny-worker", os.environ["HARNESS_CURRENT_RUN"])
started = time.time()
with open(os.path.join(run_dir, "train_log.jsonl"), "a") as log:
    for step in (3, 6):
        time.sleep(0.75)
        log.write(json.dumps({{"step": step, "loss": 1.5, "audio_seconds_per_s": 40.0,
                              "elapsed_s": step * 0.25}}) + "\\n")
        log.flush()
with open(os.path.join(run_dir, "worker_result.json"), "w") as out:
    json.dump({{"train": {{"steps": 6, "threads": os.environ.get("OMP_NUM_THREADS"),
                          "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
                          "span": [started, time.time()]}},
               "scores": None, "timings": {{"train_s": 1.5}}}}, out)
"""


def test_cpu_parallel_runs_workers_at_once_with_their_share_of_the_cores(tmp_path, monkeypatch,
                                                                        capsys):
    runs = tmp_path / "runs"
    suite = fake_suite_runner(monkeypatch, tmp_path / "tiny-worker.yaml", runs)
    monkeypatch.setattr(placement, "worker_command", lambda *args, **kwargs: [
        sys.executable, "-c", TIMED_WORKER.format(runs=str(runs.resolve()))])
    monkeypatch.setattr("harness.run.runner.cpu_cores", lambda: 2)
    outcome = run_suite(suite, RunOptions(runs_root=runs, placement="cpu_parallel",
                                          interactive=False))
    assert [r["status"] for r in outcome.records] == ["finished", "finished"]
    trains = [r["train"] for r in outcome.records]
    assert [t["threads"] for t in trains] == ["1", "1"]
    assert [t["gpus"] for t in trains] == ["", ""]  # a CPU run sees no GPU
    (start_a, end_a), (start_b, end_b) = (t["span"] for t in trains)
    assert max(start_a, start_b) < min(end_a, end_b)  # they overlapped
    # What the workers log reaches the runner's progress lines while they run, run by run.
    err = capsys.readouterr().err
    for slug in ("baseline", "lr=3e-4"):
        assert f"    {slug}: update 6/6, loss 1.500, 40 audio-s/s, ETA 0.0 min" in err


SUITE = tiny_suite("tiny-parallel", "do runs at once train as they do one at a time?",
                   "harness run tiny-parallel.yaml --placement cpu_parallel",
                   axes="axes:\n  train.lr: [1e-3, 3e-4]\n")


def test_runs_at_once_record_what_they_record_one_at_a_time(tmp_path, monkeypatch):
    """Two real tiny runs, 1 thread each, at once; then the same suite one run at a time in
    worker processes of 1 thread: the same weights and the same scores."""
    suite_file = tmp_path / "tiny-parallel.yaml"
    suite_file.write_text(SUITE)
    cache = tmp_path / "cache"
    code = cli.main(["run", str(suite_file), "--runs-dir", str(tmp_path / "at-once"),
                     "--cache-dir", str(cache), "--placement", "cpu_parallel", "--parallel", "2",
                     "--no-report"])
    assert code == 0
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    suite = load_suite(suite_file)
    one_at_a_time = run_suite(suite, RunOptions(runs_root=tmp_path / "alone", cache_root=cache,
                                                run_timeout=600, interactive=False))
    at_once = {json.loads(line)["run_id"]: json.loads(line) for line in
               (tmp_path / "at-once" / "tiny-parallel" / "results.jsonl").read_text().splitlines()}
    assert len(at_once) == 2
    for record in one_at_a_time.records:
        other = at_once[record["run_id"]]
        assert other["status"] == record["status"] == "finished"
        assert other["train"]["cpu_threads"] == record["train"]["cpu_threads"] == 1
        assert other["train"]["weights_sha256"] == record["train"]["weights_sha256"]
        assert other["scores"] == record["scores"]
        assert other["train"]["feature_cache"]["used"] is True


def test_harness_plan_says_how_runs_share_the_cpu(tmp_path, monkeypatch, capsys):
    suite_file = tmp_path / "tiny-parallel.yaml"
    suite_file.write_text(SUITE)
    monkeypatch.setattr(placement, "cpu_cores", lambda: 4)
    assert cli.main(["plan", str(suite_file), "--placement", "cpu_parallel"]) == 0
    assert capsys.readouterr().out.strip().endswith(
        "placement cpu_parallel: 4 runs at once on the CPU, 1/1/1/1 thread(s) each")


def test_cpu_parallel_refuses_several_processes_per_run(tmp_path):
    suite_file = tmp_path / "tiny-parallel.yaml"
    suite_file.write_text(SUITE)
    assert cli.main(["plan", str(suite_file), "--placement", "cpu_parallel",
                     "--processes", "2"]) == 2

