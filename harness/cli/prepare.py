"""`harness prepare FILE`: prepare every distinct dataset a suite needs, once, before any run."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HELP = "prepare (decode, filter, subset, cache) every dataset a suite needs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `harness prepare`."""
    parser.add_argument("suite_file", type=Path, help="the suite YAML file")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="prepared-data cache (default: $HARNESS_CACHE or .harness-cache/)")


def run_prepare(args: argparse.Namespace) -> int:
    """Prepare, then print one line per dataset: size, skips, and whether it was reused."""
    from harness.config.load import load_suite
    from harness.data.cache import default_cache_root
    from harness.data.prepare import prepare_suite
    from harness.errors import UserError

    suite = load_suite(args.suite_file)
    cache_root = args.cache_dir or default_cache_root()
    started = time.time()
    done = prepare_suite(suite.runs, cache_root)
    for outcome in done:
        if outcome.error is None:
            print(describe(outcome.key, outcome.prepared.report, outcome.reused))
    built = sum(not outcome.reused for outcome in done if outcome.error is None)
    failed = [outcome for outcome in done if outcome.error is not None]
    print(f"suite {suite.name}: {built} dataset(s) prepared, "
          f"{len(done) - built - len(failed)} reused, {len(failed)} failed in "
          f"{time.time() - started:.1f}s, cache {cache_root}")
    if failed:
        raise UserError("\n".join(f"data {outcome.key}: {outcome.error}" for outcome in failed))
    return 0


def describe(data_key: str, report: dict, reused: bool) -> str:
    """One line about a prepared dataset, as `harness prepare` prints it: sizes, then what each
    split lost, reason by reason (the test split's drops include test_max_utterances)."""
    labeled, test = report["labeled"], report["test"]
    losses = {role: figures.get("skipped", {}) for role, figures in report["pool"].items()}
    losses["test"] = test.get("skipped", losses.get("test", {}))
    parts = [f"{role} ({_reasons(skipped)})" for role, skipped in losses.items()]
    silent = f", {test['silent_kept']} silent kept" if test.get("silent_kept") else ""
    return (f"data {data_key}: train {labeled['hours'] * 60:.1f} min / {labeled['utterances']} "
            f"utt / {labeled['speakers']} spk, test {test['utterances']} utt{silent}; skipped "
            f"{', '.join(parts)}; {'reused' if reused else 'prepared'}")


def _reasons(skipped: dict) -> str:
    """`empty_transcript 1, unreadable 2`, or `none`."""
    return ", ".join(f"{reason} {count}" for reason, count in sorted(skipped.items())) or "none"
