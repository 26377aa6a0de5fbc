"""Files and content-keyed directories: atomic writes, build-then-rename under a lock, hashes.

Readers see an old file or directory or the new one, never half of it. Used by every stage that
writes (synthesis, preparation, scoring, training, runs, reports), so it sits at the bottom.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

# The files of a run directory (runs/<suite>/<run id>/, DESIGN.md "On disk"), named once here:
# training, decoding, scoring, the runner and the report all read or write them.
SPEC_FILE = "spec.json"  # the resolved spec with provenance (harness.run.record)
LOG_FILE = "train_log.jsonl"  # one line per logged update or dev evaluation
CHECKPOINT_DIR = "checkpoint"  # the latest resumable state (harness.train.checkpoint)
MODEL_DIR = "model"  # the fine-tuned model and processor (save_pretrained)
SUMMARY_FILE = "train_summary.json"  # written last: training finished
PREDICTIONS_FILE = "predictions.jsonl"  # id, speaker, duration, reference, hypothesis
SCORES_FILE = "scores.json"  # harness score's output

def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON through a temporary sibling and os.replace: readers see old or new, never half."""
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write text through a temporary sibling, fsync it, then os.replace it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    """Parse a JSON file written by write_json_atomic."""
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, payload: Any) -> None:
    """Pretty, UTF-8 JSON, with a trailing newline."""
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def content_hash(payload: Any, length: int = 16) -> str:
    """Hex sha256 of canonical JSON: dict order and whitespace never change the hash."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


@contextlib.contextmanager
def locked(target: Path) -> Iterator[None]:
    """Hold `<target>.lock` so two processes never build the same cache entry at once."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.with_name(target.name + ".lock"))):
        yield


@contextlib.contextmanager
def building(target: Path) -> Iterator[Path]:
    """A fresh temporary sibling of `target`, renamed onto it only if the block completes.

    A sibling (same directory, same file system) makes os.replace atomic: readers see either
    no entry or a complete one, never a half-written one. Call it under `locked(target)`.
    """
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if target.exists():  # a stale entry (its key matched but it was unreadable): replace it
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
