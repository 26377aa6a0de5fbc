"""Fault injection for the reliability tests: real SIGKILLs and non-finite losses, on request.

Set HARNESS_INJECT_FAULT to `<fault>@<point>[:<step>]`, e.g. `sigkill@train:12` (the process
kills itself with SIGKILL when training reaches update 12), `sigkill@prepare`, `sigkill@score`,
or `nan@train:5` (the loss of update 5 becomes NaN). HARNESS_INJECT_FAULT_RUN=<run id> limits
the fault to that run (the runner names the run being executed in HARNESS_CURRENT_RUN). Unset,
every check is a dictionary lookup. Only tests set them; a user never needs to.
"""

from __future__ import annotations

import os
import signal

ENV = "HARNESS_INJECT_FAULT"
RUN_ENV = "HARNESS_INJECT_FAULT_RUN"
CURRENT_RUN_ENV = "HARNESS_CURRENT_RUN"


def _requested() -> tuple[str, str, int | None] | None:
    value = os.environ.get(ENV)
    if not value:
        return None
    only_run = os.environ.get(RUN_ENV)
    if only_run and os.environ.get(CURRENT_RUN_ENV) != only_run:
        return None
    fault, _, where = value.partition("@")
    point, _, step = where.partition(":")
    return fault, point, int(step) if step else None


def _matches(point: str, step: int | None) -> str | None:
    requested = _requested()
    if requested is None:
        return None
    fault, wanted_point, wanted_step = requested
    if wanted_point != point or (wanted_step is not None and wanted_step != step):
        return None
    return fault


def checkpoint(point: str, step: int | None = None) -> None:
    """Kill this process with SIGKILL if the test asked for it at this point (and step)."""
    if _matches(point, step) == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)


def poison_loss(point: str, step: int) -> bool:
    """Whether the test asked for a non-finite loss at this point and step."""
    return _matches(point, step) == "nan"
