"""`harness score RUN_DIR --text RULESET [--text ...]`: rescore stored predictions, no retraining.

The scores go to RUN_DIR/scores.json and, for a run of a suite (RUN_DIR is runs/<suite>/<run
id>/ with a finished record), into its results.jsonl record, so `harness report` shows the new
rule set; scores of other rule sets stay, each checked against the predictions by the report.

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
    parser.add_argument("--boot", type=int, default=None, metavar="N",
                        help="bootstrap resamples for the 95%% intervals (default: the run's "
                        "record's, else 1000)")
    parser.add_argument("--block", choices=("utterance", "speaker"), default=None,
                        help="bootstrap unit: utterances, or speakers as blocks (default: the "
                        "record's, else utterance)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the bootstrap resamples (default: the record's, else 0)")


def run_score(args: argparse.Namespace) -> int:
    """Score, write scores.json and, when the run has a record in its suite's results.jsonl,
    put the rule sets into that record (so the report shows them); print a table."""
    from harness.files import SCORES_FILE
    from harness.run.store import SuiteStore
    from harness.scoring import score_run_dir

    store = SuiteStore(Path(args.run_dir).parent)
    record = store.records_by_id().get(Path(args.run_dir).name)
    boot = ((record or {}).get("scores") or {}).get("bootstrap") or {}
    # The record's resamples by default: a rule set added to it shares the others' draws.
    n_boot = args.boot if args.boot is not None else boot.get("n_boot", 1000)
    seed = args.seed if args.seed is not None else boot.get("seed", 0)
    block = args.block if args.block is not None else boot.get("block", "utterance")
    scores = score_run_dir(args.run_dir, args.text, n_boot=n_boot, seed=seed, block=block)
    print(format_scores(scores))
    print(f"wrote {args.run_dir / SCORES_FILE}")
    if record is not None and record.get("status") == "finished":
        with store.exclusive():  # no runner may rewrite results.jsonl meanwhile
            record = store.records_by_id()[Path(args.run_dir).name]
            store.put(merged_record(record, scores))
        print(f"updated its record in {store.results_path}: {', '.join(args.text)}")
    return 0


def merged_record(record: dict, scores: dict) -> dict:
    """The record with the rescored rule sets put in (replacing same-named ones); the others
    keep their scores, each naming the predictions it was computed from."""
    old = dict(record.get("scores") or {})
    rule_sets = dict(old.get("rule_sets") or {})
    rule_sets.update(scores["rule_sets"])
    merged = {**old, **{key: value for key, value in scores.items() if key != "rule_sets"}}
    return {**record, "scores": {**merged, "rule_sets": rule_sets}}


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
