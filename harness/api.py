"""A Python API for notebooks: run a suite and get its results as a pandas DataFrame.

    from harness.api import run, results
    df = run("ablations/default.yaml")          # trains what is not finished yet
    df = results("ablations/default.yaml")      # only reads results.jsonl
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.config.suite import load_suite
from harness.run.runner import RunOptions, run_suite
from harness.run.store import suite_store


def run(suite_file: str | Path, runs_root: str | Path = "runs", **options) -> pd.DataFrame:
    """Execute a suite (skipping finished runs) and return results() for it."""
    suite = load_suite(suite_file)
    run_suite(suite, RunOptions(runs_root=Path(runs_root), **options))
    return results(suite_file, runs_root)


def results(suite_file: str | Path, runs_root: str | Path = "runs") -> pd.DataFrame:
    """One row per stored run: slug, status, changes, WER/CER (+ 95% interval) per rule set."""
    suite = load_suite(suite_file)
    records = suite_store(suite, Path(runs_root)).records_by_id()
    rows = []
    for run in suite.runs:
        record = records.get(run.id)
        if record is None:
            continue
        row = {"run": run.slug, "run_id": run.id, "status": record["status"],
               "reason": record.get("reason"), **record.get("changes", {})}
        for name, score in ((record.get("scores") or {}).get("rule_sets") or {}).items():
            for metric in ("wer", "cer"):
                row[f"{metric}[{name}]"] = score[metric]
                interval = score.get(f"{metric}_interval") or {}
                row[f"{metric}_low[{name}]"] = interval.get("low")
                row[f"{metric}_high[{name}]"] = interval.get("high")
        train = record.get("train") or {}
        row["steps"] = train.get("steps")
        row["audio_seconds_per_s"] = train.get("audio_seconds_per_s")
        rows.append(row)
    return pd.DataFrame(rows)
