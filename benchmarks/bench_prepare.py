"""Preparation reuse: a suite of 12 runs over 3 labeled sizes prepares 3 datasets, once.

    .venv/bin/python benchmarks/bench_prepare.py [--train 30min] [--keep DIR]

A grid of 3 labeled sizes x 2 learning rates x 2 freezing policies (12 runs) on the synthetic
corpus is prepared twice with a fresh cache: the first `harness prepare` builds the corpus, one
decoded pool and 3 subsets; the second finds all 3 in the cache. Prints both counts and times and
their ratio (target, issue 4: the second prepares none).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.config.load import load_suite
from harness.data.prepare import prepare_suite

SUITE = """\
suite: bench-prepare
mode: grid
base:
  data: {{source: synthetic, synth: {{train: {train}, test: 2min, seed: 7}}}}
  model: {{preset: tiny}}
  train: {{max_steps: 10}}
axes:
  data.labeled: [2min, 5min, 10min]
  train.lr: [1e-3, 3e-4]
  train.freeze: [feature_encoder, none]
"""


def prepare_all(suite, cache: Path) -> tuple[int, int, float]:
    """(prepared, reused, seconds) for every distinct dataset of the suite."""
    started = time.perf_counter()
    done = prepare_suite(suite.runs, cache)
    failed = [outcome.error for outcome in done if outcome.error is not None]
    if failed:
        raise SystemExit(f"preparation failed: {failed}")
    built = sum(not outcome.reused for outcome in done)
    return built, len(done) - built, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default="15min", help="synthetic training pool (default 15min)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the cache here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        suite_file = root / "bench-prepare.yaml"
        root.mkdir(parents=True, exist_ok=True)
        suite_file.write_text(SUITE.format(train=args.train))
        suite = load_suite(suite_file)
        cache = root / "cache"
        first = prepare_all(suite, cache)
        second = prepare_all(suite, cache)
    print(f"suite: {len(suite.runs)} runs, {len(suite.data_keys())} distinct datasets")
    print(f"first invocation : {first[0]} prepared, {first[1]} reused, {first[2]:7.2f} s "
          "(corpus synthesis + one decoded pool + subsets)")
    print(f"second invocation: {second[0]} prepared, {second[1]} reused, {second[2]:7.2f} s")
    print(f"ratio first/second: {first[2] / second[2]:.1f}x; target: second prepares none -> "
          f"{'met' if second[0] == 0 else 'MISSED'}")


if __name__ == "__main__":
    main()
