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
    from harness.config.suite import load_suite
    from harness.data.cache import default_cache_root
    from harness.data.prepare import prepare_suite

    suite = load_suite(args.suite_file)
    cache_root = args.cache_dir or default_cache_root()
    started = time.time()
    done = prepare_suite(suite, cache_root)
    for data_key, prepared, reused in done:
        print(describe(data_key, prepared.report, reused))
    built = sum(not reused for _, _, reused in done)
    print(f"suite {suite.name}: {built} dataset(s) prepared, {len(done) - built} reused in "
          f"{time.time() - started:.1f}s, cache {cache_root}")
    return 0


def describe(data_key: str, report: dict, reused: bool) -> str:
    """One line about a prepared dataset, as `harness prepare` and `harness run` print it."""
    labeled, test = report["labeled"], report["test"]
    skipped = {role: figures["skipped_total"] for role, figures in report["pool"].items()}
    return (f"data {data_key}: train {labeled['hours'] * 60:.1f} min / {labeled['utterances']} "
            f"utt / {labeled['speakers']} spk, test {test['utterances']} utt; skipped "
            f"{skipped}; {'reused' if reused else 'prepared'}")
