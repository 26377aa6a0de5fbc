"""Synthetic corpus generation speed: seconds per hour of audio, all cores vs one worker.

    .venv/bin/python benchmarks/bench_synth.py [--hours 1] [--workers N]

Target (issue 4): 5 h of audio in under 2 min on the 2-core dev machine. Both builds make the
same corpus (train --hours, plus 2 x --test-minutes of test audio) into fresh directories, in
the same run; the one-worker build (a pool of one process) is the baseline, and the two
fingerprints must agree. Other processes on the machine slow both; the load average at the
start is printed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from harness.synth.corpus import build_corpus

TARGET_HOURS, TARGET_SECONDS = 5.0, 120.0


def timed_build(out: Path, hours: float, test_minutes: float, workers: int) -> tuple[float, dict]:
    """Wall seconds of one build into a fresh directory, and its corpus.json."""
    start = time.perf_counter()
    corpus = build_corpus(out, train_seconds=hours * 3600, test_seconds=test_minutes * 60,
                          workers=workers)
    return time.perf_counter() - start, corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="training audio (default 1)")
    parser.add_argument("--test-minutes", type=float, default=2.0,
                        help="audio per test split (default 2)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="workers of the parallel build (default: every core)")
    args = parser.parse_args()
    print(f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        rows = []
        for label, workers in ((f"{args.workers} workers", args.workers), ("1 worker", 1)):
            seconds, corpus = timed_build(Path(tmp) / f"w{workers}", args.hours,
                                          args.test_minutes, workers)
            audio_hours = sum(split["seconds"] for split in corpus["splits"].values()) / 3600
            utterances = sum(split["utterances"] for split in corpus["splits"].values())
            rows.append((label, seconds, audio_hours, corpus["fingerprint"]))
            print(f"{label:>10}: {audio_hours * 60:.1f} min of audio ({utterances} utterances) in "
                  f"{seconds:.1f} s = {seconds / audio_hours:.1f} s per hour of audio, "
                  f"{audio_hours * 3600 / seconds:.0f}x real time")
    (_, parallel, hours_p, print_p), (_, serial, hours_s, print_s) = rows
    per_hour_parallel, per_hour_serial = parallel / hours_p, serial / hours_s
    print(f"speed-up of {args.workers} workers over 1: {per_hour_serial / per_hour_parallel:.2f}x"
          f"; same corpus: {print_p == print_s}")
    projected = TARGET_HOURS * per_hour_parallel
    print(f"projected {TARGET_HOURS:g} h of audio: {projected:.0f} s with {args.workers} workers "
          f"(target {TARGET_SECONDS:.0f} s: {'met' if projected < TARGET_SECONDS else 'MISSED'}, "
          f"{TARGET_SECONDS / projected:.2f}x margin); {TARGET_HOURS * per_hour_serial:.0f} s "
          "with 1")


if __name__ == "__main__":
    main()
