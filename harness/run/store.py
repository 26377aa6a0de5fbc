"""Results on disk: atomic writes, one record per run, one runner per suite directory.

    runs/<suite>/results.jsonl     one self-describing record per finished or failed run
    runs/<suite>/<run_id>/         spec.json, train_log.jsonl, checkpoint/, predictions.jsonl, ...
    runs/<suite>/.runner.lock      held (flock) by the one runner working on the directory
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from harness.errors import UserError
from harness.files import read_json, write_json_atomic, write_text_atomic
from harness.run.record import RunRecord

RESULTS = "results.jsonl"
LOCK = ".runner.lock"
HOLDER = "runner.json"


class SuiteStore:
    """The directory of one suite's runs and its results file."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def run_dir(self, run_id: str) -> Path:
        """Where one run keeps its spec, logs, checkpoint and predictions."""
        return self.root / run_id

    @property
    def results_path(self) -> Path:
        return self.root / RESULTS

    def records(self) -> list[dict]:
        """All stored records, in the order they were first written."""
        if not self.results_path.exists():
            return []
        records = []
        for number, line in enumerate(self.results_path.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                where = f"{self.results_path}:{number}"
                raise UserError(f"{where}: not a JSON record ({error})") from None
        return records

    def records_by_id(self) -> dict[str, dict]:
        """The stored record of each run id."""
        return {record["run_id"]: record for record in self.records()}

    def run_records(self) -> dict[str, RunRecord]:
        """The stored record of each run id, read through RunRecord."""
        return {record["run_id"]: RunRecord(record) for record in self.records()}

    def put(self, record: dict) -> None:
        """Store a run's record, replacing an older one of the same run id, atomically.

        The whole file is rewritten through os.replace: a crash leaves the old file or the new
        one, never half a record, and a run id never appears twice. Files stay small (one line
        of a few kB per run), so rewriting costs nothing next to a training run.
        """
        kept = [old for old in self.records() if old["run_id"] != record["run_id"]]
        lines = [json.dumps(item, sort_keys=True, default=str) for item in kept + [record]]
        write_text_atomic(self.results_path, "\n".join(lines) + "\n")

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the suite directory for one runner; a second one gets a UserError naming us.

        The lock is an flock: the kernel drops it when its process dies, so a runner killed
        with SIGKILL leaves no stale lock behind (only a stale holder note, overwritten).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.root / LOCK, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise UserError(f"{self.root} is in use by another runner: {self._holder()}") from None
        try:
            write_json_atomic(self.root / HOLDER, {"pid": os.getpid(), "host": socket.gethostname(),
                                                   "since": time.strftime("%Y-%m-%d %H:%M:%S")})
            yield
        finally:
            (self.root / HOLDER).unlink(missing_ok=True)
            lock.release()

    def _holder(self) -> str:
        try:
            holder = read_json(self.root / HOLDER)
        except (OSError, ValueError):
            return "holder unknown (it is starting or stopping)"
        return f"harness run, pid {holder['pid']} on {holder['host']}, since {holder['since']}"


def suite_store(suite, runs_root: Path) -> SuiteStore:
    """The store of a suite (anything with a `name`) under `runs_root`: runs_root/<suite name>."""
    return SuiteStore(Path(runs_root) / suite.name)
