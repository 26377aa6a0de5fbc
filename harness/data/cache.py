"""Where prepared data and synthetic corpora live: $HARNESS_CACHE, else .harness-cache/.

Entries are content-keyed directories built with harness.files.building under harness.files.locked:
`<folder>/<key>/`, its lock `<folder>/<key>.lock`, and while it is being built
`<folder>/.<key>.tmp-<id>/`. A kill -9 mid-build leaves that temporary directory behind;
`sweep_stale_builds` removes it at the next preparation, once the entry's lock shows that nobody
is building it any more.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

CACHE_ENV = "HARNESS_CACHE"
DEFAULT_CACHE_DIR = ".harness-cache"
# The cache folders whose entries are built through harness.files.building.
ENTRY_FOLDERS = ("synth", "pools", "prepared", "features")  # features: harness.train.features
TMP_MARK = ".tmp-"


def default_cache_root() -> Path:
    """$HARNESS_CACHE if set, else `.harness-cache/` in the working directory."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


@contextlib.contextmanager
def unless_locked(target: Path) -> Iterator[bool]:
    """Hold `<target>.lock` (harness.files.locked's lock) if nobody else does: yields True, or
    False at once when another process holds it. Never waits, so it cannot deadlock with a
    process that holds the other entry's lock and wants this one."""
    lock = FileLock(str(target.with_name(target.name + ".lock")), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def remove_entry(target: Path) -> bool:
    """Delete a cache entry unless it is being built or replaced right now; whether it went."""
    with unless_locked(target) as held:
        if held:
            shutil.rmtree(target, ignore_errors=True)
        return held and not target.exists()


def sweep_stale_builds(cache_root: Path) -> list[Path]:
    """Remove the temporary directories of builds that were killed: a `.<key>.tmp-<id>` whose
    `<key>.lock` nobody holds is older than any build in progress. Returns what it removed."""
    removed = []
    for folder in ENTRY_FOLDERS:
        try:
            entries = list(os.scandir(Path(cache_root) / folder))
        except OSError:
            continue
        for entry in entries:
            if not (entry.name.startswith(".") and TMP_MARK in entry.name and entry.is_dir()):
                continue
            target = Path(entry.path).with_name(entry.name[1:].rsplit(TMP_MARK, 1)[0])
            with unless_locked(target) as held:
                if held:
                    shutil.rmtree(entry.path, ignore_errors=True)
                    removed.append(Path(entry.path))
    return removed
