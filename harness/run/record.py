"""Self-describing records: spec.json beside each run, one results.jsonl line per run.

A record carries everything needed to trust or reproduce its numbers (lm-evaluation-harness
style): the resolved spec, the run id, the data fingerprint and report summary, versions, git
sha, hardware, timings; nothing is ever parsed back out of a file name.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness import __version__
from harness.config.ids import checkpoint_fingerprint
from harness.config.suite import Run, Suite
from harness.config.values import display_value
from harness.files import write_json_atomic
from harness.run.provenance import git_state, hardware, versions

SCHEMA = 1


def _provenance(suite: Suite, run: Run, prepared) -> dict:
    return {
        "schema": SCHEMA,
        "suite": suite.name,
        "suite_file": str(suite.path),
        "run_id": run.id,
        "slug": run.slug,
        "changes": {key: display_value(value, key) for key, value in run.changes},
        "is_baseline": run.id == suite.baseline.id,
        "spec": run.spec.model_dump(mode="json", by_alias=True),
        "data": _data_summary(run, prepared),
        "checkpoint_sha256": checkpoint_fingerprint(run.spec.model.name_or_path),
        "harness_version": __version__,
        "versions": versions(),
        "git": git_state(),
        "hardware": hardware(),
    }


def write_run_spec(suite: Suite, run: Run, prepared, run_dir: Path) -> None:
    """spec.json: the resolved spec with versions, git sha and data fingerprint."""
    write_json_atomic(Path(run_dir) / "spec.json", _provenance(suite, run, prepared))


def run_record(suite: Suite, run: Run, prepared, *, status: str, reason: str | None,
               train: dict | None, scores: dict | None, timings: dict) -> dict:
    """The results.jsonl record of a finished or failed run."""
    record = _provenance(suite, run, prepared)
    record.update(
        status=status,
        reason=reason,
        flags=list((train or {}).get("flags", [])),
        train=train,
        scores=scores,
        timings={key: round(value, 3) for key, value in timings.items()},
        recorded_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    return record


def _data_summary(run: Run, prepared) -> dict:
    summary: dict = {"key": run.data_key}
    if prepared is None:
        return summary
    summary["fingerprint"] = prepared.fingerprint
    summary["report"] = prepared.report
    return summary
