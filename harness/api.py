"""A Python API for notebooks: run a suite and get its results as a pandas DataFrame.

    from harness.api import run, results
    df = run("ablations/default.yaml")          # trains what is not finished yet
    df = results("ablations/default.yaml")      # only reads results.jsonl
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.config.load import load_suite
from harness.run.record import RunRecord
from harness.run.runner import RunOptions, run_suite
from harness.run.store import suite_store


def run(suite_file: str | Path, runs_root: str | Path = "runs", **options) -> pd.DataFrame:
    """Execute a suite (skipping finished runs) and return results() for it."""
    suite = load_suite(suite_file)
    run_suite(suite, RunOptions(runs_root=Path(runs_root), **options))
    return results(suite_file, runs_root)


def results(suite_file: str | Path, runs_root: str | Path = "runs") -> pd.DataFrame:
    """One row per stored run: slug, status, changes, WER/CER (+ 95% interval) per rule set,
    and each other decoder's WER/CER per rule set as `wer[<rule set>.<decoder>]`."""
    suite = load_suite(suite_file)
    records = suite_store(suite, Path(runs_root)).run_records()
    rows = []
    for run in suite.runs:
        record = records.get(run.id)
        if record is None:
            continue
        row = {"run": run.slug, "run_id": run.id, "status": record.status,
               "reason": record.reason, **record.raw.get("changes", {})}
        for name in record.rule_sets:
            for metric in ("wer", "cer"):
                row[f"{metric}[{name}]"] = record.rate(name, metric)
                row[f"{metric}_low[{name}]"], row[f"{metric}_high[{name}]"] = \
                    record.interval(name, metric)
        for decoder, scores in record.decoders.items():  # eval.decoders other than greedy
            decoded = RunRecord({**record.raw, "scores": scores})
            for name in decoded.rule_sets:
                for metric in ("wer", "cer"):
                    row[f"{metric}[{name}.{decoder}]"] = decoded.rate(name, metric)
        row["steps"] = record.train("steps")
        row["audio_seconds_per_s"] = record.train("audio_seconds_per_s")
        rows.append(row)
    return pd.DataFrame(rows)
