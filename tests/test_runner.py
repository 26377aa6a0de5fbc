"""The suite runner with real processes: records, skips, failures, kills, a second runner, two
gloo ranks per run (--placement processes), a suite whose runs differ in precision, full disks
at a checkpoint or the predictions, a corrupt checkpoint, and the exit code of a rerun.

Every test trains the tiny preset for a handful of updates on a few minutes of synthetic audio,
sharing one prepared-data cache, so the whole file takes about two or three minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness import faults
from harness.cli import main
from harness.config.load import load_suite
from harness.run.record import run_record
from harness.run.runner import RunOptions, run_suite
from harness.run.status import render_status
from harness.run.store import suite_store
from tests.train_fixtures import tiny_suite

pytestmark = pytest.mark.integration

SUITE = tiny_suite("tiny", "does the runner keep its promises?", "harness run tiny.yaml",
                   axes="axes:\n  train.lr: [1e-3, 3e-4]\n")
ONE_RUN = SUITE.replace("axes:\n  train.lr: [1e-3, 3e-4]\n", "")


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    """One prepared-data cache for the whole module (prepared by the first test that runs)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def suite_file(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SUITE)
    return path


def harness_run(suite_file: Path, runs: Path, cache: Path, *extra: str, env: dict | None = None,
                wait: bool = True):
    """`harness run` in a child process (a real process that can be killed)."""
    command = [sys.executable, "-m", "harness.cli", "run", str(suite_file), "--runs-dir",
               str(runs), "--cache-dir", str(cache), "--reports-dir", str(runs / "reports"),
               *extra]
    child_env = {**os.environ, **(env or {})}
    if not wait:
        return subprocess.Popen(command, env=child_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=600)


def score_table(records: list[dict]) -> dict:
    """run id -> (rule set -> (wer, cer)) of finished records."""
    return {r["run_id"]: {name: (s["wer"], s["cer"])
                          for name, s in r["scores"]["rule_sets"].items()}
            for r in records if r["status"] == "finished"}


def test_run_records_every_run_and_skips_them_next_time(suite_file, tmp_path, cache_root):
    """A run leaves one finished record per run, status agrees, and a rerun trains nothing."""
    suite = load_suite(suite_file)
    options = RunOptions(runs_root=tmp_path / "runs", cache_root=cache_root, interactive=False)
    outcome = run_suite(suite, options)
    assert [r["status"] for r in outcome.records] == ["finished", "finished"]
    store = suite_store(suite, tmp_path / "runs")
    records = store.records()
    assert [r["run_id"] for r in records] == [run.id for run in suite.runs]
    for record in records:
        assert set(record["scores"]["rule_sets"]) == {"blog", "none"}
        assert record["versions"]["torch"] and record["data"]["fingerprint"]
        assert record["train"]["steps"] == 6
        run_dir = store.run_dir(record["run_id"])
        for name in ("spec.json", "train_log.jsonl", "predictions.jsonl", "scores.json"):
            assert (run_dir / name).exists(), name
    status = render_status(suite, store)
    assert "2 finished" in status and all(run.slug in status for run in suite.runs)

    logs = {run.id: (store.run_dir(run.id) / "train_log.jsonl").read_bytes() for run in suite.runs}
    again = run_suite(suite, options)
    assert again.records == [] and again.skipped == ["baseline", "lr=3e-4"]
    assert again.prepared == 0
    assert logs == {run.id: (store.run_dir(run.id) / "train_log.jsonl").read_bytes()
                    for run in suite.runs}


def test_failed_run_is_recorded_and_the_suite_goes_on(suite_file, tmp_path, cache_root,
                                                      monkeypatch):
    """A non-finite loss in one run records it as failed with its reason; the other finishes."""
    suite = load_suite(suite_file)
    victim = suite.runs[1]
    monkeypatch.setenv(faults.ENV, "nan@train:2")
    monkeypatch.setenv(faults.RUN_ENV, victim.id)
    options = RunOptions(runs_root=tmp_path / "runs", cache_root=cache_root, interactive=False)
    outcome = run_suite(suite, options)
    by_id = {r["run_id"]: r for r in outcome.records}
    assert by_id[suite.baseline.id]["status"] == "finished"
    assert by_id[victim.id]["status"] == "failed"
    assert "non-finite" in by_id[victim.id]["reason"]
    assert (tmp_path / "runs" / "tiny" / victim.id / "error.txt").exists()

    monkeypatch.delenv(faults.ENV)
    assert run_suite(suite, options).records == []  # failed runs are not retried by default
    retried = run_suite(suite, RunOptions(runs_root=tmp_path / "runs", cache_root=cache_root,
                                          rerun_failed=True, interactive=False))
    assert [r["status"] for r in retried.records] == ["finished"]
    assert len(suite_store(suite, tmp_path / "runs").records()) == 2


def test_unreadable_dataset_fails_only_its_runs(tmp_path, cache_root):
    """A run whose dataset cannot be read is recorded as failed; the others finish."""
    text = SUITE.replace("axes:\n  train.lr: [1e-3, 3e-4]\n",
                         f"runs:\n  - {{data.source: local, data.path: {tmp_path / 'missing'}}}\n")
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    suite = load_suite(path)
    outcome = run_suite(suite, RunOptions(runs_root=tmp_path / "runs", cache_root=cache_root,
                                          interactive=False))
    statuses = {r["slug"]: r["status"] for r in outcome.records}
    assert statuses["baseline"] == "finished"
    failed = [r for r in outcome.records if r["status"] == "failed"]
    assert len(failed) == 1 and "data preparation failed" in failed[0]["reason"]


@pytest.mark.parametrize("point", ["prepare", "train:4", "score"])
def test_sigkill_then_rerun_completes_with_the_same_scores(point, suite_file, tmp_path,
                                                           cache_root, tmp_path_factory):
    """Killed with SIGKILL at a point, a rerun completes with one record per run and the scores
    of an uninterrupted run."""
    cache = tmp_path / "fresh-cache" if point == "prepare" else cache_root
    reference_runs = tmp_path_factory.getbasetemp() / "reference-runs"
    if not (reference_runs / "tiny" / "results.jsonl").exists():
        done = harness_run(suite_file, reference_runs, cache_root)
        assert done.returncode == 0, done.stderr
    killed = harness_run(suite_file, tmp_path / "runs", cache,
                         env={faults.ENV: f"sigkill@{point}"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = harness_run(suite_file, tmp_path / "runs", cache)
    assert rerun.returncode == 0, rerun.stderr
    assert "report: " in rerun.stdout
    assert "| lr" in (tmp_path / "runs" / "reports" / "tiny.md").read_text()
    records = [json.loads(line) for line in
               (tmp_path / "runs" / "tiny" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["run_id"] for r in records) == sorted({r["run_id"] for r in records})
    assert len(records) == 2
    reference = [json.loads(line) for line in
                 (reference_runs / "tiny" / "results.jsonl").read_text().splitlines()]
    assert score_table(records) == score_table(reference)


def test_second_runner_refuses_and_nothing_is_lost(suite_file, tmp_path, cache_root):
    """Of two runners on one directory, one works and one refuses naming it; both runs land."""
    first = harness_run(suite_file, tmp_path / "runs", cache_root, wait=False)
    holder = tmp_path / "runs" / "tiny" / "runner.json"
    deadline = time.time() + 120
    while not holder.exists():
        assert first.poll() is None, first.communicate()
        assert time.time() < deadline
        time.sleep(0.05)
    second = harness_run(suite_file, tmp_path / "runs", cache_root)
    assert second.returncode == 2
    assert f"in use by another runner: harness run, pid {first.pid}" in second.stderr
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    records = (tmp_path / "runs" / "tiny" / "results.jsonl").read_text().splitlines()
    assert len(records) == 2


def test_two_gloo_ranks_train_one_run_on_a_cpu(suite_file, tmp_path, cache_root):
    """`harness run --placement processes --processes 2` on a CPU trains the run as two gloo ranks
    that agree on the weights: finished, scored, num_processes 2, one log line per step."""
    suite_file.write_text(SUITE.replace("axes:\n  train.lr: [1e-3, 3e-4]\n", ""))
    done = harness_run(suite_file, tmp_path / "runs", cache_root, "--no-report",
                       "--placement", "processes", "--processes", "2",
                       env={"CUDA_VISIBLE_DEVICES": ""})  # a CPU, even on a GPU machine
    assert done.returncode == 0, done.stderr
    suite = load_suite(suite_file)
    store = suite_store(suite, tmp_path / "runs")
    [record] = store.records()
    assert (record["status"], record["reason"]) == ("finished", None)
    assert record["train"]["num_processes"] == 2
    assert len(record["train"]["weights_sha256"]) == 64  # the loop checked both ranks agree
    assert set(record["scores"]["rule_sets"]) == {"blog", "none"}
    run_dir = store.run_dir(record["run_id"])
    lines = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "loss" in line] == [1, 2, 3, 4, 5, 6]
    log = (run_dir / "worker.log").read_text()
    assert "SafetensorError" not in log and "Traceback" not in log


def test_runs_that_differ_in_precision_all_finish(tmp_path, cache_root):
    """A sequential suite of a `no` and a `bf16` run finishes both, the second precision in a
    worker process, with records of the same shape."""
    path = tmp_path / "precision.yaml"
    path.write_text(SUITE.replace("log_every: 1}", 'log_every: 1, precision: "no"}').replace(
        "train.lr: [1e-3, 3e-4]", 'train.precision: ["no", bf16]'))
    suite = load_suite(path)
    outcome = run_suite(suite, RunOptions(runs_root=tmp_path / "runs", cache_root=cache_root,
                                          interactive=False))
    no, bf16 = outcome.records
    assert [(r["status"], r["train"]["precision"]) for r in outcome.records] == [
        ("finished", "no"), ("finished", "bf16")]
    assert set(no) == set(bf16) and set(no["train"]) == set(bf16["train"])
    assert set(no["timings"]) == set(bf16["timings"]) == {"train_s", "evaluate_s", "score_s",
                                                         "total_s"}
    store = suite_store(suite, tmp_path / "runs")
    in_workers = [(store.run_dir(r["run_id"]) / "worker.log").exists() for r in outcome.records]
    assert sorted(in_workers) == [False, True]  # one precision here, the other in a worker


def one_run_suite(tmp_path: Path):
    """The tiny suite with its baseline only, written and loaded."""
    path = tmp_path / "one.yaml"
    path.write_text(ONE_RUN)
    return load_suite(path)


def logged_steps(run_dir: Path) -> list[int]:
    """The steps of the update lines of a run's train log."""
    lines = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    return [line["step"] for line in lines if "loss" in line]


@pytest.mark.parametrize(("point", "written"), [("checkpoint:3", "checkpoint.tmp"),
                                                ("predictions", "predictions.jsonl")])
def test_full_disk_fails_the_run_naming_the_file_and_rerun_failed_completes(
        point, written, tmp_path, cache_root, monkeypatch):
    """ENOSPC while writing the first checkpoint or the predictions: a failed record naming the
    file, no partial file left; once space is back, --rerun-failed finishes the run, each update
    logged once."""
    suite = one_run_suite(tmp_path)
    options = RunOptions(runs_root=tmp_path / "runs", cache_root=cache_root, interactive=False)
    monkeypatch.setenv(faults.ENV, f"enospc@{point}")
    [failed] = run_suite(suite, options).records
    store = suite_store(suite, tmp_path / "runs")
    run_dir = store.run_dir(suite.baseline.id)
    assert (failed["status"], failed["reason"]) == (
        "failed", f"no space left on device while writing {run_dir / written}")
    assert (run_dir / "error.txt").is_file()
    assert [p.name for p in (tmp_path / "runs").rglob("*") if ".tmp" in p.name] == []
    assert not (run_dir / written).exists()

    monkeypatch.delenv(faults.ENV)
    [done] = run_suite(suite, replace(options, rerun_failed=True)).records
    assert (done["status"], done["train"]["steps"]) == ("finished", 6)
    assert [r["status"] for r in store.records()] == ["finished"]
    assert logged_steps(run_dir) == [1, 2, 3, 4, 5, 6]


def test_corrupt_checkpoint_of_a_failed_run_is_named_and_rerun_failed_finishes(
        tmp_path, cache_root, monkeypatch):
    """A run failed after its checkpoint of update 3; 64 bytes of that checkpoint's weights are
    then overwritten (same size). --rerun-failed detects it by checksum, names the file in the
    record and the log, restarts from scratch and finishes."""
    suite = one_run_suite(tmp_path)
    options = RunOptions(runs_root=tmp_path / "runs", cache_root=cache_root, interactive=False)
    monkeypatch.setenv(faults.ENV, "nan@train:5")
    [failed] = run_suite(suite, options).records
    assert failed["status"] == "failed" and "non-finite" in failed["reason"]
    run_dir = suite_store(suite, tmp_path / "runs").run_dir(suite.baseline.id)
    weights = run_dir / "checkpoint" / "model.safetensors"
    size = weights.stat().st_size
    with open(weights, "r+b") as handle:
        handle.seek(size // 2)
        chunk = handle.read(64)
        handle.seek(size // 2)
        handle.write(bytes(byte ^ 0xFF for byte in chunk))
    assert weights.stat().st_size == size

    monkeypatch.delenv(faults.ENV)
    [done] = run_suite(suite, replace(options, rerun_failed=True)).records
    assert done["status"] == "finished" and done["train"]["resumed_from_step"] is None
    [problem] = done["train"]["checkpoint_problems"]
    assert problem.startswith(f"{weights} is corrupt: its sha256 ")
    assert problem.endswith(" recorded when it was saved; restarted from scratch")
    events = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()
              if '"event"' in line]
    assert [(e["event"], e["checkpoint"], e["then"]) for e in events] == [
        ("checkpoint_rejected", str(run_dir / "checkpoint"), "restarted from scratch")]
    assert logged_steps(run_dir) == [1, 2, 3, 4, 5, 6]


def test_rerun_with_a_failed_run_recorded_exits_1_and_says_so(tmp_path, capsys):
    """`harness run` on a suite whose one run is recorded failed skips it, says '1 failed
    (recorded earlier; --rerun-failed retries)' and exits 1, as status shows the failure."""
    suite = one_run_suite(tmp_path)
    runs = tmp_path / "runs"
    store = suite_store(suite, runs)
    store.put(run_record(suite, suite.baseline, None, status="failed",
                         reason="TrainingFailed: non-finite training loss (nan) at update 5",
                         train=None, scores=None, timings={}))
    code = main(["run", str(suite.path), "--runs-dir", str(runs), "--cache-dir",
                 str(tmp_path / "cache"), "--reports-dir", str(tmp_path / "reports")])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0] == (f"suite tiny: 0 finished, 0 failed, 1 skipped (already recorded), 1 failed "
                      f"(recorded earlier; --rerun-failed retries); datasets: 0 prepared, 0 "
                      f"reused; results in {runs / 'tiny'}")
    assert "suite tiny" in render_status(suite, store) and ": 1 failed" in render_status(
        suite, store)
