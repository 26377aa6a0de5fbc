"""`harness status`: each run's state (finished, failed, interrupted, pending) and headline."""

from __future__ import annotations

import json
from pathlib import Path

from tabulate import tabulate

from harness.config.suite import Suite
from harness.files import LOG_FILE
from harness.run.store import SuiteStore


def run_states(suite: Suite, store: SuiteStore) -> list[dict]:
    """One row per run of the suite, from results.jsonl and the run directories."""
    records = store.run_records()
    rows = []
    for run in suite.runs:
        record = records.get(run.id)
        if record is not None:
            state = record.status
            detail = record.headline() if state == "finished" else record.reason or ""
            if record.flags:
                detail += " [flagged: " + "; ".join(map(_flag_text, record.flags)) + "]"
        else:
            step = last_logged_step(store.run_dir(run.id))
            state = "interrupted" if step is not None else "pending"
            detail = f"last logged step {step}" if step is not None else ""
        rows.append({"run": run.slug, "id": run.id, "state": state, "detail": detail})
    return rows


def last_logged_step(run_dir: Path) -> int | None:
    """The last step in a run's train_log.jsonl, or None if it never logged."""
    log = run_dir / LOG_FILE
    if not log.exists():
        return None
    step = None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            step = json.loads(line).get("step", step)
        except json.JSONDecodeError:
            continue  # a line cut by a kill: the ones before it still count
    return step


def render_status(suite: Suite, store: SuiteStore) -> str:
    """The status table and a one-line count of states."""
    rows = run_states(suite, store)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    summary = ", ".join(f"{count} {state}" for state, count in counts.items())
    table = tabulate(rows, headers="keys", tablefmt="github")
    return f"suite {suite.name} ({store.root}): {summary}\n\n{table}"


def _flag_text(flag) -> str:
    """A guard's flag in one line: its name, not the evidence it carries (that is in the report)."""
    if isinstance(flag, dict):
        return str(flag.get("name", "flag"))
    return str(flag)
