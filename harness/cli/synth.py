"""`harness synth --hours H --out DIR`: build the synthetic English corpus (harness.synth.corpus).

Wiring: HELP, add_arguments and run_synth are a (help, add_arguments, handler) entry of
harness.cli.COMMANDS.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from harness.config.durations import parse_duration

HELP = "build the synthetic English speech corpus (espeak-ng voices, generated sentences)"


def _seconds(unit_seconds: float, unit: str):
    """An argparse type: a bare number in `unit`, or a duration such as 1h30min or 90s."""
    def parse(text: str) -> float:
        try:
            number = float(text)
        except ValueError:
            number = None
        try:
            if number is not None and not (math.isfinite(number) and number > 0):
                raise ValueError(f"must be a positive number, got {text!r}")
            return parse_duration(text if number is None else number * unit_seconds)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{error} (a bare number is {unit})") from None
    parse.__name__ = f"duration in {unit}"  # argparse names the type in its error messages
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `harness synth`."""
    parser.add_argument("--hours", type=_seconds(3600, "hours"), required=True, metavar="H",
                        help="training audio: hours (2.5) or a duration (1h30min, 20min)")
    parser.add_argument("--out", type=Path, required=True, help="corpus directory to write")
    parser.add_argument("--test-minutes", type=_seconds(60, "minutes"), default=600.0,
                        metavar="M", help="audio per test split: minutes or a duration "
                        "(default 10)")
    parser.add_argument("--dev-minutes", type=_seconds(60, "minutes"), default=0.0,
                        metavar="M", help="audio time of a dev split (held-out sentences no test "
                        "split reads; default: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of sentences and speaker turns "
                        "(default 0)")
    parser.add_argument("--voices", choices=("main", "standin"), default="main",
                        help="voice pool: main (the suites' speakers) or standin (disjoint "
                        "voices and sentences, for the stand-in checkpoint)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="processes rendering audio (default: every core)")


def run_synth(args: argparse.Namespace) -> int:
    """Build (or reuse) the corpus, then print its splits and how long it took."""
    from harness.synth.corpus import build_corpus

    reused = (args.out / "corpus.json").is_file()
    started = time.perf_counter()
    corpus = build_corpus(args.out, train_seconds=args.hours, test_seconds=args.test_minutes,
                          dev_seconds=args.dev_minutes,
                          seed=args.seed, voice_pool=args.voices, workers=args.workers)
    print(format_summary(corpus, args.out, time.perf_counter() - started, reused))
    return 0


def format_summary(corpus: dict, out: Path, seconds: float, reused: bool = False) -> str:
    """One line per split, then where the corpus is and how long building it took."""
    from tabulate import tabulate

    rows = [[split, info["utterances"], f"{info['seconds'] / 60:.1f}", len(info["speakers"])]
            for split, info in corpus["splits"].items()]
    table = tabulate(rows, headers=["split", "utterances", "minutes", "speakers"],
                     disable_numparse=True)
    return (f"{table}\n{out}: {corpus['voice_pool']} voices, seed {corpus['seed']}, "
            f"espeak-ng {corpus['espeak_ng']}, fingerprint {corpus['fingerprint'][:12]}; "
            + ("reused, nothing rendered" if reused else f"built in {seconds:.1f} s"))
