"""Putting runs on hardware without GPUs: refusals, GPU discovery (faked GPUs, inherited
CUDA_VISIBLE_DEVICES), the worker's command line, the worker job's contract with the runner,
failing, killed and hung workers in a suite (fake workers), and one real run in a worker process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from harness import cli, faults
from harness.config.load import load_suite
from harness.data.prepare import DatasetOutcome
from harness.errors import UserError
from harness.run import placement, record, runner
from harness.run.placement import (
    check_placement,
    gpus_without_torch,
    run_in_subprocesses,
    visible_gpus,
    worker_command,
)
from harness.run.runner import RunOptions, needs_own_process, run_suite, suite_store
from tests.train_fixtures import tiny_suite

# The tiny settings of tests/test_runner.py, one run: 6 updates on 2 min of synthetic audio.
SUITE = tiny_suite("tiny-worker", "does a worker process train and score a run like the runner "
                   "itself?", "harness run tiny-worker.yaml --placement processes --processes 1")


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


def test_visible_gpus_are_the_inherited_cuda_visible_devices(monkeypatch):
    """Under CUDA_VISIBLE_DEVICES=2,3 (two GPUs seen), visible_gpus() is '2', '3': the values a
    child needs to get the same physical GPUs, not '0', '1'."""
    gpus(monkeypatch, 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_gpus() == ["2", "3"]


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


@pytest.mark.parametrize("where, processes, count", [
    ("processes", 2, 0), ("processes", 2, 2), ("runs_per_gpu", 1, 2), ("sequential", 1, 0)])
def test_servable_placements_pass(monkeypatch, where, processes, count):
    """processes on a CPU (gloo ranks) or on as many GPUs, runs_per_gpu with GPUs, and
    sequential are accepted."""
    gpus(monkeypatch, count)
    check_placement(where, processes)  # raises on refusal


@pytest.mark.parametrize("where, processes, count, reason", [
    ("runs_per_gpu", 2, 2, "--placement runs_per_gpu runs each run in one process on one GPU; "
                           "--processes 2 needs --placement processes"),
    ("sequential", 2, 0, "--processes 2 needs --placement processes (sequential runs each run in "
                         "one process)"),
    ("processes", 4, 2, "--processes 4 needs 4 GPUs; 2 visible here (0, 1)"),
])
def test_impossible_combinations_are_refused_with_the_reason(monkeypatch, where, processes,
                                                             count, reason):
    """runs_per_gpu or sequential with --processes 2, and more processes than GPUs, are one-line
    UserErrors."""
    gpus(monkeypatch, count)
    with pytest.raises(UserError) as refused:
        check_placement(where, processes)
    assert str(refused.value) == reason


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


def test_harness_run_refuses_runs_per_gpu_with_two_processes(suite_file, tmp_path, monkeypatch,
                                                            capsys):
    """`harness run --placement runs_per_gpu --processes 2`, even with 2 GPUs, exits 2 with the
    one-line reason before creating the suite directory."""
    gpus(monkeypatch, 2)
    runs = tmp_path / "runs"
    code = cli.main(["run", str(suite_file), "--runs-dir", str(runs), "--no-report",
                     "--placement", "runs_per_gpu", "--processes", "2"])
    assert code == 2
    assert capsys.readouterr().err == ("error: --placement runs_per_gpu runs each run in one "
                                       "process on one GPU; --processes 2 needs --placement "
                                       "processes\n")
    assert not runs.exists()


def test_harness_plan_refuses_the_same_combination(suite_file, capsys):
    """`harness plan --placement runs_per_gpu --processes 2` exits 2 with the reason `harness run`
    gives."""
    assert cli.main(["plan", str(suite_file), "--placement", "runs_per_gpu",
                     "--processes", "2"]) == 2
    assert capsys.readouterr().err == ("error: --placement runs_per_gpu runs each run in one "
                                       "process on one GPU; --processes 2 needs --placement "
                                       "processes\n")


def test_harness_plan_says_where_runs_go_without_importing_torch(suite_file):
    """`harness plan --placement processes --processes 2` on a CPU ends with the placement line
    and never imports torch."""
    script = ("import sys\nfrom harness import cli\n"
              f"code = cli.main(['plan', {str(suite_file)!r}, '--placement', 'processes', "
              "'--processes', '2'])\n"
              "print('torch imported' if 'torch' in sys.modules else 'no torch', code)\n")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # a CPU, even on a GPU machine
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-2:] == ["placement processes: each run as 2 gloo rank(s) on the CPU",
                          "no torch 0"]


@pytest.mark.parametrize("visible, expected", [
    (None, ["0", "1", "2", "3"]), ("2,3", ["2", "3"]), ("1,-1,2", ["1"]), ("", [])])
def test_gpus_without_torch_count_device_files_narrowed_by_cuda_visible_devices(
        tmp_path, monkeypatch, visible, expected):
    """With /dev/nvidia0..3 (and nvidiactl, nvidia-uvm), plan's GPUs are 0..3, or the
    CUDA_VISIBLE_DEVICES entries up to the first empty or negative one."""
    for name in ("nvidia0", "nvidia1", "nvidia2", "nvidia3", "nvidiactl", "nvidia-uvm"):
        (tmp_path / name).touch()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpus_without_torch(tmp_path) == expected


def test_gpus_without_torch_are_none_without_device_files(tmp_path, monkeypatch):
    """Without /dev/nvidiaN files, an inherited CUDA_VISIBLE_DEVICES=0,1 names no GPU."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert gpus_without_torch(tmp_path) == []


@pytest.mark.parametrize("given, seconds", [("90", 90.0), ("90s", 90.0), ("90min", 5400.0),
                                            ("2h", 7200.0)])
def test_run_timeout_reads_seconds_or_durations(given, seconds):
    """`harness run --run-timeout` takes bare seconds or a duration such as 90min or 2h."""
    args = cli.build_parser().parse_args(["run", "suite.yaml", "--run-timeout", given])
    assert args.run_timeout == seconds


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
    start = (f"worker exited with code {code}; " if code else
             "worker exited with code 0 but wrote no worker_result.json; ")
    assert message.startswith(f"{start}last lines of {run_dir / 'worker.log'}: ")
    assert message.endswith(script.split("'")[1])  # the worker's output line


def test_failed_ranks_exception_leads_the_reason(tmp_path, monkeypatch):
    """Under torchrun the rank's exception is far above the launcher's summary: the reason names
    the first one ('[rank1]: OSError: disk full'), skipping torchrun's ChildFailedError."""
    fake_worker(monkeypatch, (
        "print('[rank1]: Traceback (most recent call last):')\n"
        "print('[rank1]: OSError: disk full')\n"
        "print('torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ')\n"
        "print('=' * 60)\n"
        "raise SystemExit(1)\n"))
    options = RunOptions(runs_root=tmp_path / "runs", cache_root=tmp_path / "cache")
    with pytest.raises(placement.WorkerFailed) as failed:
        run_in_subprocesses(FAKE_SUITE, FAKE_RUN, options, {})
    log = tmp_path / "runs" / "tiny" / "ce600c06dc" / "worker.log"
    assert str(failed.value) == (
        f"worker exited with code 1; OSError: disk full; last lines of {log}: [rank1]: Traceback "
        "(most recent call last): | [rank1]: OSError: disk full | "
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:")


# A fake worker for the suite tests below: run `victim` misbehaves as BEHAVIOUR says, every other
# run writes a result the runner records as finished, with the GPU it was given.
FAKE_WORKER = """\
import json, os, signal, subprocess, sys, time
run_dir = os.path.join({runs!r}, "tiny-worker", os.environ["HARNESS_CURRENT_RUN"])
if os.environ["HARNESS_CURRENT_RUN"] == {victim!r}:
    print("the victim starts", flush=True)
    {behaviour}
gpu = os.environ.get("CUDA_VISIBLE_DEVICES")
with open(os.path.join(run_dir, "worker_result.json"), "w") as out:
    json.dump({{"train": {{"steps": 6, "gpu": gpu}}, "scores": None,
               "timings": {{"train_s": 1.0, "evaluate_s": 0.5, "score_s": 0.1}}}}, out)
"""
HANG = """child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    open(os.path.join(run_dir, "grandchild.pid"), "w").write(str(child.pid))
    time.sleep(120)"""


def fake_suite_runner(monkeypatch, suite_file: Path, runs: Path, behaviour: str = "pass"):
    """The tiny suite with two runs whose workers are FAKE_WORKER (the baseline's doing
    `behaviour` first) and whose data is not prepared (a stand-in object): the runner, the
    placement and the subprocesses are real."""
    suite_file.write_text(SUITE + "axes:\n  train.lr: [1e-3, 3e-4]\n")
    suite = load_suite(suite_file)
    script = FAKE_WORKER.format(runs=str(runs.resolve()), victim=suite.baseline.id,
                                behaviour=behaviour)
    fake_worker(monkeypatch, script)
    stand_in = SimpleNamespace(fingerprint="fake", report={})
    monkeypatch.setattr(runner, "prepare_suite", lambda todo, root, on_start: [
        DatasetOutcome(key, stand_in, reused=True)
        for key in dict.fromkeys(run.data_key for run in todo)])
    return suite


def test_runs_per_gpu_puts_runs_on_the_inherited_gpus(suite_file, tmp_path, monkeypatch):
    """With CUDA_VISIBLE_DEVICES=2,3 and two GPUs seen, runs_per_gpu gives its two runs' workers
    CUDA_VISIBLE_DEVICES 2 and 3."""
    gpus(monkeypatch, 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    monkeypatch.setattr(record, "hardware", lambda: {"gpus": "faked"})  # no real GPU to name
    runs = tmp_path / "runs"
    suite = fake_suite_runner(monkeypatch, suite_file, runs)
    outcome = run_suite(suite, RunOptions(runs_root=runs, placement="runs_per_gpu",
                                          interactive=False))
    assert [r["status"] for r in outcome.records] == ["finished", "finished"]
    assert sorted(r["train"]["gpu"] for r in outcome.records) == ["2", "3"]


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.parametrize("behaviour, options, reason", [
    ("raise SystemExit(3)", {"placement": "processes"}, "worker exited with code 3; "),
    ("os.kill(os.getpid(), signal.SIGKILL)", {"placement": "processes"},
     "worker was killed by signal SIGKILL (9); "),
    (HANG, {"run_timeout": 2.0},
     "worker ran past --run-timeout 2s and was killed with its process group; "),
], ids=["exit-code", "signal", "timeout"])
def test_failed_killed_or_hung_worker_is_recorded_and_the_suite_goes_on(
        suite_file, tmp_path, monkeypatch, behaviour, options, reason):
    """A worker that exits 3, dies of SIGKILL or hangs past --run-timeout (sequential placement,
    so in a worker) is recorded failed with that reason; the next run still finishes."""
    runs = tmp_path / "runs"
    suite = fake_suite_runner(monkeypatch, suite_file, runs, behaviour)
    started = time.monotonic()
    outcome = run_suite(suite, RunOptions(runs_root=runs, interactive=False, **options))
    assert time.monotonic() - started < 30
    first, second = outcome.records
    assert (first["run_id"], first["status"]) == (suite.baseline.id, "failed")
    log = runs / "tiny-worker" / first["run_id"] / "worker.log"
    assert first["reason"] == (f"WorkerFailed: {reason}last lines of {log}: "
                               "the victim starts")
    assert (second["status"], second["train"]["steps"]) == ("finished", 6)
    assert set(second["timings"]) == {"train_s", "evaluate_s", "score_s", "total_s"}
    grandchild = runs / "tiny-worker" / first["run_id"] / "grandchild.pid"
    if grandchild.exists():  # the hung worker's own child went with its process group
        pid = int(grandchild.read_text())
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid)


def test_a_worker_exits_soon_after_its_parent_dies(tmp_path):
    """A process that called exit_with_parent, started in a session of its own (as torchrun
    starts ranks), is gone within seconds of its parent's SIGKILL."""
    child = ("from harness.run.worker import exit_with_parent\n"
             "import time\nexit_with_parent(0.1)\ntime.sleep(120)\n")
    parent = ("import os, signal, subprocess, sys\n"
              f"child = subprocess.Popen([sys.executable, '-c', {child!r}], "
              "start_new_session=True)\n"
              "print(child.pid, flush=True)\n"
              "import time; time.sleep(1.0)\n"  # the child is watching by now
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == -signal.SIGKILL
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def test_a_worker_exits_soon_after_the_runner_dies(tmp_path):
    """A process that called exit_with_parent exits within seconds of the death of the runner
    named in HARNESS_RUNNER_PID, though its own parent (torchrun, say) lives on."""
    fake_runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    child = ("from harness.run.worker import exit_with_parent\n"
             "import time\nexit_with_parent(0.1)\ntime.sleep(120)\n")
    worker = subprocess.Popen([sys.executable, "-c", child],
                              env={**os.environ, "HARNESS_RUNNER_PID": str(fake_runner.pid)},
                              cwd=Path(__file__).resolve().parent.parent)
    try:
        time.sleep(1.0)  # the worker is watching by now
        assert worker.poll() is None
        fake_runner.kill()
        fake_runner.wait()
        assert worker.wait(timeout=10) == -signal.SIGKILL
    finally:
        worker.kill()
        fake_runner.kill()


@pytest.mark.parametrize("precisions, current, expected", [
    (["no", "no"], None, [False, False]),
    (["no", "bf16", "no"], None, [False, True, False]),
    (["bf16", "no"], None, [False, True]),
    (["no", "bf16"], "bf16", [True, False]),
    ([], None, []),
])
def test_runs_whose_precision_this_process_cannot_take_go_to_a_worker(precisions, current,
                                                                       expected):
    """needs_own_process keeps this process's precision (else the first run's) in process and
    sends every run with another precision to a worker."""
    assert needs_own_process(precisions, current) == expected


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
    run_dir = store.run_dir(record["run_id"])
    worker_result = json.loads((run_dir / "worker_result.json").read_text())
    assert worker_result["num_processes"] == 1 and worker_result["worker_s"] > 0
    assert (run_dir / "worker.log").exists() and (run_dir / "predictions.jsonl").exists()

    in_process = run_suite(suite, RunOptions(runs_root=tmp_path / "runs", cache_root=cache,
                                             interactive=False))
    [reference] = in_process.records
    assert in_process.reused == 1  # the worker's prepared data, from the same cache
    assert set(record) == set(reference) and set(record["timings"]) == set(reference["timings"])
    assert record["train"]["weights_sha256"] == reference["train"]["weights_sha256"]
    assert record["train"]["final_loss"] == reference["train"]["final_loss"]
    for name in ("blog", "none"):
        ours, theirs = record["scores"]["rule_sets"][name], reference["scores"]["rule_sets"][name]
        assert (ours["words"], ours["chars"]) == (theirs["words"], theirs["chars"]), name
