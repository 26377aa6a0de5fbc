"""Faults that must leave a record and a way out: full disks (injected ENOSPC through
harness/faults.py), an error handler that cannot write its traceback, and the file modes of
atomic writes. Nothing here trains; the runs that do are in tests/test_runner.py.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import pickle
import re
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from harness import faults
from harness.cli import main
from harness.config.load import load_suite
from harness.decode.predict import write_predictions
from harness.errors import UserError
from harness.files import DiskFullError, building, write_json_atomic, write_text_atomic, writing
from harness.run import runner
from harness.run.progress import SuiteProgress
from harness.run.runner import RunOptions, run_suite
from harness.run.store import SuiteStore, suite_store
from tests.train_fixtures import tiny_suite

PREDICTION = {"id": "u1", "speaker": "s1", "duration": 1.5, "reference": "a cat",
              "hypothesis": "a cat"}


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring the old one after it."""
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(old)


@pytest.fixture
def suite(tmp_path):
    """The runner tests' one-run tiny suite, loaded (no data is prepared by loading it)."""
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_suite("tiny", "do faults leave a way out?", "harness run tiny.yaml"))
    return load_suite(path)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(directory: Path) -> list[str]:
    """Temporary files of atomic writes (and build directories) left under `directory`."""
    return sorted(p.name for p in directory.rglob("*") if ".tmp" in p.name)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664),
                                                (0o077, 0o600)],
                         ids=["umask-022", "umask-027", "umask-002", "umask-077"])
def test_atomic_writes_get_the_mode_a_plain_open_would(mask, expected, umask, tmp_path):
    """results.jsonl, predictions.jsonl, JSON and reports are created 0o666 less the umask."""
    umask(mask)
    store = SuiteStore(tmp_path / "runs")
    store.put({"run_id": "a", "status": "finished"})
    write_predictions([PREDICTION], tmp_path / "predictions.jsonl")
    write_json_atomic(tmp_path / "scores.json", {"wer": 0.0})
    write_text_atomic(tmp_path / "reports" / "tiny.md", "# tiny\n")
    with open(tmp_path / "plain.txt", "w") as plain:
        plain.write("x")
    written = [store.results_path, tmp_path / "predictions.jsonl", tmp_path / "scores.json",
               tmp_path / "reports" / "tiny.md", tmp_path / "plain.txt"]
    assert [mode(path) for path in written] == [expected] * 5


def test_a_replaced_file_keeps_its_mode(umask, tmp_path):
    """Rewriting a file a user made 0o600 (or 0o664) keeps that mode, as open('w') would."""
    umask(0o022)
    store = SuiteStore(tmp_path)
    store.put({"run_id": "a", "status": "failed"})
    os.chmod(store.results_path, 0o600)
    store.put({"run_id": "a", "status": "finished"})
    assert mode(store.results_path) == 0o600
    os.chmod(store.results_path, 0o664)
    store.put({"run_id": "b", "status": "finished"})
    assert mode(store.results_path) == 0o664


def test_enospc_in_an_atomic_write_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    """A full disk while rewriting results.jsonl raises one DiskFullError naming the file; the old
    file is intact and no temporary file is left."""
    store = SuiteStore(tmp_path)
    store.put({"run_id": "a", "status": "finished"})
    before = store.results_path.read_bytes()
    monkeypatch.setenv(faults.ENV, "enospc@results")
    with pytest.raises(DiskFullError) as caught:
        store.put({"run_id": "b", "status": "failed"})
    assert str(caught.value) == f"no space left on device while writing {store.results_path}"
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.__suppress_context__  # one line, not a chain of tracebacks
    assert store.results_path.read_bytes() == before
    assert leftovers(tmp_path) == []
    assert str(pickle.loads(pickle.dumps(caught.value))) == str(caught.value)


@pytest.mark.parametrize(("error", "expected"), [
    (OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "disk quota exceeded"),
    (RuntimeError("OSError: [Errno 28] No space left on device"), "no space left on device"),
    (RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)"),
     "no space left on device"),
])
def test_a_full_disk_is_named_however_the_library_says_it(error, expected, tmp_path):
    """An errno, a synth worker's re-raised text or safetensors' message all become
    '<no space...> while writing <path>'."""
    target = tmp_path / "checkpoint.tmp"
    with pytest.raises(DiskFullError) as caught:
        with writing(target):
            raise error
    assert str(caught.value) == f"{expected} while writing {target}"


def test_a_write_that_fails_on_a_disk_with_no_space_left_is_a_full_disk(tmp_path, monkeypatch):
    """torch.save's "unexpected pos" on a file system with 0 bytes left is a full disk; the same
    error with space left, or a ValueError, passes through unchanged."""
    target = tmp_path / "checkpoint.tmp"
    real = os.statvfs(tmp_path)
    fields = {name: getattr(real, name) for name in dir(real) if name.startswith("f_")}

    def full(path):
        return type("StatVfs", (), {**fields, "f_bavail": 0})()

    with pytest.raises(RuntimeError, match="unexpected pos 576 vs 534"):
        with writing(target):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 "
                               "vs 534")
    monkeypatch.setattr(os, "statvfs", full)
    with pytest.raises(DiskFullError, match=f"^no space left on device while writing {target}$"):
        with writing(target):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 "
                               "vs 534")


def test_building_on_a_full_disk_names_the_entry_and_leaves_no_temporary_directory(tmp_path):
    """ENOSPC while a cache entry is built is a DiskFullError naming the entry; its temporary
    sibling is removed and no entry appears."""
    target = tmp_path / "pools" / "abc"
    target.parent.mkdir()
    with pytest.raises(DiskFullError, match=f"^no space left on device while writing {target}$"):
        with building(target) as tmp:
            (tmp / "train.arrow").write_bytes(b"x" * 1000)
            raise faults.disk_full()
    assert list(target.parent.iterdir()) == []


def test_injected_faults_combine_and_stay_with_their_run(monkeypatch):
    """`enospc@spec,enospc@error` fails both writes; HARNESS_INJECT_FAULT_RUN limits them."""
    monkeypatch.setenv(faults.ENV, "enospc@spec,enospc@error")
    for point in ("spec", "error"):
        with pytest.raises(OSError) as caught:
            faults.disk_write(point)
        assert caught.value.errno == errno.ENOSPC and caught.value.filename is None
    faults.disk_write("predictions")  # not asked for: nothing happens
    monkeypatch.setenv(faults.RUN_ENV, "run-a")
    monkeypatch.setenv(faults.CURRENT_RUN_ENV, "run-b")
    faults.disk_write("spec")


def test_error_handler_survives_a_disk_too_full_for_error_txt(suite, tmp_path, monkeypatch):
    """spec.json and error.txt both fail on a full disk: the run still gets a failed record
    naming spec.json, a line says the traceback was not saved, and no file is half written."""
    monkeypatch.setenv(faults.ENV, "enospc@spec,enospc@error")
    monkeypatch.setenv(faults.CURRENT_RUN_ENV, "")  # _execute sets it: restored after the test
    store = suite_store(suite, tmp_path / "runs")
    run_dir = store.run_dir(suite.baseline.id)
    said = io.StringIO()
    progress = SuiteProgress(suite.name, 1, interactive=False, stream=said)
    record = runner._execute(suite, suite.baseline, None, store,
                             RunOptions(runs_root=tmp_path / "runs"), progress)
    assert (record["status"], record["reason"]) == (
        "failed", f"no space left on device while writing {run_dir / 'spec.json'}")
    assert said.getvalue() == (f"    could not save the traceback in {run_dir / 'error.txt'}: "
                               f"no space left on device while writing {run_dir / 'error.txt'}\n")
    assert sorted(p.name for p in run_dir.iterdir()) == []
    store.put(record)
    assert [r["reason"] for r in store.records()] == [record["reason"]]


def test_a_record_that_cannot_be_written_stops_the_suite_with_one_line(suite, tmp_path,
                                                                       monkeypatch):
    """A full disk at results.jsonl is a UserError naming the run and the file; nothing is
    recorded and no temporary file is left, so the run runs again next time."""
    store = suite_store(suite, tmp_path / "runs")
    monkeypatch.setenv(faults.ENV, "enospc@results")
    record = {"run_id": suite.baseline.id, "status": "finished"}
    with pytest.raises(UserError) as caught:
        runner._store_record(store, record, suite.baseline)
    assert str(caught.value) == (
        f"run baseline ({suite.baseline.id}) finished but its record could not be written: "
        f"no space left on device while writing {store.results_path}; free space and run "
        "again (an unrecorded run runs again)")
    assert store.records() == [] and leftovers(tmp_path) == []


def test_harness_run_on_a_full_disk_is_one_line_and_exit_2(suite, tmp_path, monkeypatch,
                                                            capsys):
    """When even the runner's holder note cannot be written, `harness run` prints one error
    line naming it and exits 2, without a traceback."""
    monkeypatch.setenv(faults.ENV, "enospc@runner")
    code = main(["run", str(suite.path), "--runs-dir", str(tmp_path / "runs"), "--cache-dir",
                 str(tmp_path / "cache"), "--reports-dir", str(tmp_path / "reports")])
    holder = tmp_path / "runs" / "tiny" / "runner.json"
    assert (code, capsys.readouterr().err) == (
        2, f"error: no space left on device while writing {holder}; free space and run again\n")
    assert leftovers(tmp_path) == []


# --- full disks, for real: a run and a preparation that train or synthesize ------------------


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    """One prepared-data cache for this module's runs (prepared by the first that needs it)."""
    return tmp_path_factory.mktemp("cache")


@contextlib.contextmanager
def small_disk(directory: Path, size: str):
    """A tmpfs of `size` mounted at `directory` (root in a container may mount one); the test
    is skipped where mounting is not permitted."""
    directory.mkdir(parents=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                           str(directory)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True)


@pytest.mark.integration
def test_injected_full_disk_during_preparation_is_one_line_and_a_rerun_prepares(
        suite, tmp_path, cache_root, monkeypatch, capsys):
    """`harness prepare` with ENOSPC at the first pool row exits 2 with one line naming the
    pool, leaves no temporary pool, and prepares the data once space is back."""
    monkeypatch.setenv(faults.ENV, "enospc@prepare")
    code = main(["prepare", str(suite.path), "--cache-dir", str(cache_root)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert re.fullmatch(rf"error: data {suite.baseline.data_key}: no space left on device while "
                        rf"writing {re.escape(str(cache_root / 'pools'))}/[0-9a-f]{{16}}",
                        err.splitlines()[-1])
    assert leftovers(cache_root / "pools") == []
    monkeypatch.delenv(faults.ENV)
    assert main(["prepare", str(suite.path), "--cache-dir", str(cache_root)]) == 0
    assert "1 dataset(s) prepared, 0 reused, 0 failed" in capsys.readouterr().out


@pytest.mark.integration
def test_preparation_on_a_real_full_disk_is_one_line(suite, tmp_path, capsys):
    """On a 2 MiB tmpfs the synthetic corpus cannot be written: `harness prepare` exits 2 with
    one line naming the corpus entry (it was a RuntimeError traceback), and leaves nothing."""
    with small_disk(tmp_path / "disk", "2m") as disk:
        code = main(["prepare", str(suite.path), "--cache-dir", str(disk / "cache")])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err
        assert re.fullmatch(rf"error: data {suite.baseline.data_key}: no space left on device "
                            rf"while writing {re.escape(str(disk / 'cache' / 'synth'))}/"
                            r"[0-9a-f]{16}", err.splitlines()[-1])
        assert leftovers(disk) == []
        assert [p.name for p in (disk / "cache" / "synth").iterdir()
                if not p.name.endswith(".lock")] == []


@pytest.mark.integration
def test_run_on_a_real_full_disk_is_recorded_and_rerun_failed_completes_with_space(
        suite, tmp_path, cache_root):
    """On an 8 MiB tmpfs the first checkpoint (about 9 MB) does not fit: the run is recorded
    failed naming checkpoint.tmp, which is removed (so the record fits); with the disk grown to
    64 MiB, --rerun-failed finishes the run."""
    with small_disk(tmp_path / "disk", "8m") as disk:
        options = RunOptions(runs_root=disk, cache_root=cache_root, interactive=False)
        [failed] = run_suite(suite, options).records
        store = suite_store(suite, disk)
        run_dir = store.run_dir(suite.baseline.id)
        assert (failed["status"], failed["reason"]) == (
            "failed", f"no space left on device while writing {run_dir / 'checkpoint.tmp'}")
        assert [r["status"] for r in store.records()] == ["failed"]
        assert leftovers(disk) == [] and (run_dir / "error.txt").is_file()
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        [done] = run_suite(suite, replace(options, rerun_failed=True)).records
        assert done["status"] == "finished" and done["train"]["steps"] == 6
        assert [r["status"] for r in store.records()] == ["finished"]
        assert leftovers(disk) == []
