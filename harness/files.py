"""Files and content-keyed directories: atomic writes, build-then-rename under a lock, hashes.

Readers see an old file or directory or the new one, never half of it. Used by every stage that
writes (synthesis, preparation, scoring, training, runs, reports), so it sits at the bottom.
A write that fails for want of space raises DiskFullError, naming what was being written, and leaves
no temporary file or directory behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness import faults

# The files of a run directory (runs/<suite>/<run id>/, DESIGN.md "On disk"), named once here:
# training, decoding, scoring, the runner and the report all read or write them.
SPEC_FILE = "spec.json"  # the resolved spec with provenance (harness.run.record)
LOG_FILE = "train_log.jsonl"  # one line per logged update or dev evaluation
CHECKPOINT_DIR = "checkpoint"  # the latest resumable state (harness.train.checkpoint)
MODEL_DIR = "model"  # the fine-tuned model and processor (save_pretrained)
SUMMARY_FILE = "train_summary.json"  # written last: training finished
PREDICTIONS_FILE = "predictions.jsonl"  # id, speaker, duration, reference, hypothesis
SCORES_FILE = "scores.json"  # harness score's output
LOGPROBS_DIR = "logprobs"  # test.npz, dev.npz: CTC log-probabilities, float16 (harness.decode)


def decoded_predictions_file(decoder: str) -> str:
    """predictions.jsonl of a decoder other than greedy: predictions.<decoder>.jsonl."""
    return f"predictions.{decoder}.jsonl"

# ENOSPC: the file system is full; EDQUOT: this user's quota on it is.
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# How libraries that turn the errno into text (safetensors, a synth worker) still say it.
DISK_FULL_TEXTS = (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT))
# torch.save says neither ("unexpected pos 576 vs 534"): a write that failed on a file system
# with less than this left to us (or no inode) failed for want of space.
FULL_BELOW_BYTES = 1 << 20


class DiskFullError(OSError):
    """A write failed for want of space: "no space left on device while writing <path>"."""

    def __init__(self, path: Path | str, code: int = errno.ENOSPC):
        super().__init__(code, os.strerror(code), str(path))

    def __str__(self) -> str:
        return f"{self.strerror[:1].lower()}{self.strerror[1:]} while writing {self.filename}"

    def __reduce__(self):  # pickles (worker processes, thread pools) with its path and errno
        return type(self), (self.filename, self.errno)


def disk_full_errno(error: BaseException | None) -> int | None:
    """ENOSPC or EDQUOT when `error` (or an error it was raised from) says the disk is full."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return error.errno
        text = str(error)
        for code, words in zip(DISK_FULL_ERRNOS, DISK_FULL_TEXTS, strict=True):
            if words in text:
                return code
        error = error.__cause__ or error.__context__
    return None


def out_of_space(path: Path | str) -> bool:
    """Whether the file system holding `path` (or its nearest existing parent) has under 1 MiB
    or no inode left for this user."""
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        fs = os.statvfs(where)
    except OSError:
        return False
    return fs.f_bavail * fs.f_frsize < FULL_BELOW_BYTES or (fs.f_files > 0 and fs.f_favail == 0)


@contextlib.contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn a full disk inside the block into one DiskFullError naming `path` (no chained
    tracebacks: a full disk fails the write, then the close that flushes it; each adds one)."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:
        code = disk_full_errno(error) or (errno.ENOSPC if out_of_space(path) else None)
        if code is None:
            raise
        raise DiskFullError(path, code) from None


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON through a temporary sibling and os.replace: readers see old or new, never half."""
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write text through a temporary sibling, fsync it, then os.replace it into place.

    The file gets the mode a plain open() would give it: 0o666 less the umask for a new file
    (tempfile.mkstemp's 0o600 would hide results and reports from the rest of a group), the
    old file's mode for a replaced one. Fault point: the file's stem (`enospc@predictions`).
    """
    path = Path(path)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with contextlib.suppress(FileNotFoundError):
                os.fchmod(handle, stat.S_IMODE(path.stat().st_mode))
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                faults.disk_write(path.stem)  # after a partial write: the temp file must go
                os.fsync(out.fileno())
            os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
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
    no entry or a complete one, never a half-written one. Call it under `locked(target)`. A full
    disk inside the block is a DiskFullError naming `target`; the temporary sibling is removed.
    """
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with writing(target):
            tmp.mkdir(parents=True)
            yield tmp
            if target.exists():  # a stale entry (its key matched but was unreadable): replace it
                shutil.rmtree(target)
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
