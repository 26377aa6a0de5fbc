"""`harness score RUN_DIR --text RULESET [--text ...]`: rescore stored predictions, no retraining.

Wiring: `add_score_command(subparsers)` adds the subcommand to an argparse parser; or use
HELP, add_arguments and run_score as a (help, add_arguments, handler) entry of harness.cli.COMMANDS.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "rescore a run's stored predictions with named text rule sets (writes scores.json)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `harness score`."""
    parser.add_argument("run_dir", type=Path, help="a run directory holding predictions.jsonl")
    parser.add_argument("--text", action="append", required=True, metavar="RULESET",
                        help="normalization rule set to score with; repeat for several")
    parser.add_argument("--boot", type=int, default=1000, metavar="N",
                        help="bootstrap resamples for the 95%% intervals (default 1000)")
    parser.add_argument("--block", choices=("utterance", "speaker"), default="utterance",
                        help="bootstrap unit: utterances, or speakers as blocks")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples")


def run_score(args: argparse.Namespace) -> int:
    """Score, write scores.json, print a table; user mistakes surface as UserError."""
    from harness.files import SCORES_FILE
    from harness.scoring import score_run_dir

    scores = score_run_dir(args.run_dir, args.text, n_boot=args.boot, seed=args.seed,
                           block=args.block)
    print(format_scores(scores))
    print(f"wrote {args.run_dir / SCORES_FILE}")
    return 0


def add_score_command(subparsers) -> argparse.ArgumentParser:
    """Add `score` to an argparse subparsers object; the handler is set as `handler`."""
    parser = subparsers.add_parser("score", help=HELP, description=HELP)
    add_arguments(parser)
    parser.set_defaults(handler=run_score)
    return parser


def format_scores(scores: dict) -> str:
    """A small table: one row per rule set, rates in percent with their intervals and counts."""
    from tabulate import tabulate

    rows = []
    for entry in scores["rule_sets"].values():
        w = entry["words"]
        rows.append([
            entry["name"], entry["version"],
            _percent(entry["wer"]), _range(entry["wer_interval"]),
            _percent(entry["cer"]), _range(entry["cer_interval"]),
            w["substitutions"], w["deletions"], w["insertions"], w["reference_words"],
        ])
    boot = scores["bootstrap"]
    level = f"{boot['level']:.0%}"
    headers = ["rule set", "version", "WER %", f"WER {level} CI", "CER %", f"CER {level} CI",
               "S", "D", "I", "N words"]
    caption = (f"{scores['n_utterances']} utterances, {scores['n_speakers']} speakers, "
               f"{scores['audio_seconds'] / 60:.1f} min of audio; intervals: {boot['n_boot']} "
               f"resamples of {boot['block']}s")
    return tabulate(rows, headers=headers, disable_numparse=True) + "\n" + caption


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.2f}"


def _range(interval: dict) -> str:
    if interval["low"] is None:
        return "n/a"
    return f"{100 * interval['low']:.2f}-{100 * interval['high']:.2f}"
