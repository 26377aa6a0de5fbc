"""Where prepared data lives, content hashes, and the write-then-rename + lock discipline."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

CACHE_ENV = "HARNESS_CACHE"
DEFAULT_CACHE_DIR = ".harness-cache"


def default_cache_root() -> Path:
    """$HARNESS_CACHE if set, else `.harness-cache/` in the working directory."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


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


def write_json(path: Path, payload: Any) -> None:
    """Pretty, UTF-8 JSON, with a trailing newline."""
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    """The JSON document at `path`."""
    return json.loads(path.read_text(encoding="utf-8"))
