"""The results store: atomic records, no duplicates, one runner per suite directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from harness.errors import UserError
from harness.run.store import HOLDER, SuiteStore


def test_put_replaces_a_run_and_keeps_the_others(tmp_path):
    """Putting a record twice for one run id keeps one record; other runs stay in order."""
    store = SuiteStore(tmp_path)
    store.put({"run_id": "a", "status": "failed"})
    store.put({"run_id": "b", "status": "finished"})
    store.put({"run_id": "a", "status": "finished"})
    assert [(r["run_id"], r["status"]) for r in store.records()] == [("b", "finished"),
                                                                     ("a", "finished")]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_corrupt_results_line_is_named(tmp_path):
    """A results.jsonl line that is not JSON is an error naming the file and line."""
    (tmp_path / "results.jsonl").write_text('{"run_id": "a"}\n{"run_id": \n')
    with pytest.raises(UserError, match=r"results.jsonl:2: not a JSON record"):
        SuiteStore(tmp_path).records()


def test_second_runner_is_refused_with_the_holder(tmp_path):
    """While one runner holds the directory, a second gets a UserError naming the holder."""
    store = SuiteStore(tmp_path)
    with store.exclusive():
        holder = json.loads((tmp_path / HOLDER).read_text())
        with pytest.raises(UserError) as caught:
            with SuiteStore(tmp_path).exclusive():
                pass
        assert f"pid {holder['pid']}" in str(caught.value) and "in use" in str(caught.value)
    with store.exclusive():  # released on exit: usable again
        pass


def test_lock_of_a_killed_runner_is_stale(tmp_path):
    """A runner killed with SIGKILL leaves no lock that blocks the next one."""
    script = textwrap.dedent(f"""
        import time
        from harness.run.store import SuiteStore
        with SuiteStore({str(tmp_path)!r}).exclusive():
            print("held", flush=True)
            time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"pid {child.pid}"):
            with SuiteStore(tmp_path).exclusive():
                pass
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    deadline = time.time() + 5
    while True:
        try:
            with SuiteStore(tmp_path).exclusive():
                break
        except UserError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def test_status_names_a_flag_without_dumping_its_evidence():
    from harness.run.status import _flag_text

    flag = {"name": "empty_hypotheses", "examples": [{"hypothesis": "", "reference": "a b"}]}
    assert _flag_text(flag) == "empty_hypotheses"
    assert _flag_text("legacy text flag") == "legacy text flag"
