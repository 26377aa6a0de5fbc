"""Fault injection for the reliability tests: real SIGKILLs, full disks and non-finite losses.

Set HARNESS_INJECT_FAULT to `<fault>@<point>[:<step>]`:

- `sigkill@train:12`: the process kills itself with SIGKILL when training reaches update 12;
  also `sigkill@prepare`, `sigkill@evaluate`, `sigkill@score`.
- `enospc@<point>`: a write at that point fails as on a full disk (OSError ENOSPC, which names
  no file, as a real write(2) does): `enospc@prepare` (a row of a data pool),
  `enospc@checkpoint[:<step>]` (the training state, after accelerate wrote part of it), and every
  atomic file write, named by the file's stem: `enospc@predictions`, `enospc@results`,
  `enospc@scores`, `enospc@spec`, `enospc@<suite>` (the report), ...
- `nan@train:5`: the loss of update 5 becomes NaN.

Several faults, comma-separated (`enospc@spec,enospc@error`), act each at its own point (a full
disk fails every write). HARNESS_INJECT_FAULT_RUN=<run id> limits them to that run (the runner
names the run being executed in HARNESS_CURRENT_RUN). Unset, every check is a dictionary
lookup. Only tests set them; a user never needs to.
"""

from __future__ import annotations

import errno
import os
import signal

ENV = "HARNESS_INJECT_FAULT"
RUN_ENV = "HARNESS_INJECT_FAULT_RUN"
CURRENT_RUN_ENV = "HARNESS_CURRENT_RUN"


def _requested() -> list[tuple[str, str, int | None]]:
    value = os.environ.get(ENV)
    if not value:
        return []
    only_run = os.environ.get(RUN_ENV)
    if only_run and os.environ.get(CURRENT_RUN_ENV) != only_run:
        return []
    requested = []
    for item in value.split(","):
        fault, _, where = item.strip().partition("@")
        point, _, step = where.partition(":")
        requested.append((fault, point, int(step) if step else None))
    return requested


def _matches(point: str, step: int | None) -> str | None:
    for fault, wanted_point, wanted_step in _requested():
        if wanted_point == point and (wanted_step is None or wanted_step == step):
            return fault
    return None


def checkpoint(point: str, step: int | None = None) -> None:
    """Kill this process with SIGKILL, or fail a write as a full disk would, if the test asked
    for it at this point (and step)."""
    fault = _matches(point, step)
    if fault == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "enospc":
        raise disk_full()


def disk_write(point: str, step: int | None = None) -> None:
    """Fail the write at this point (and step) with ENOSPC if the test asked for it."""
    if _matches(point, step) == "enospc":
        raise disk_full()


def disk_full() -> OSError:
    """The error a write(2) on a full disk raises in Python: errno ENOSPC, no file name."""
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def poison_loss(point: str, step: int) -> bool:
    """Whether the test asked for a non-finite loss at this point and step."""
    return _matches(point, step) == "nan"
