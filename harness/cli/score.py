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

from harness.data.cache import default_cache_root
from harness.errors import UserError

HELP = "rescore a run's stored predictions with named text rule sets (writes scores.json)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `harness score`."""
    parser.add_argument("run_dir", type=Path, help="a run directory holding predictions.jsonl")
    parser.add_argument("--text", action="append", default=None, metavar="RULESET",
                        help="normalization rule set to score with; repeat for several "
                        "(with --decoder, default: the run's text.scoring)")
    parser.add_argument("--boot", type=int, default=None, metavar="N",
                        help="bootstrap resamples for the 95%% intervals (default: the run's "
                        "record's, else 1000)")
    parser.add_argument("--block", choices=("utterance", "speaker"), default=None,
                        help="bootstrap unit: utterances, or speakers as blocks (default: the "
                        "record's, else utterance)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the bootstrap resamples (default: the record's, else 0)")
    decoding = parser.add_argument_group(
        "re-decoding", "decode the run's stored log-probabilities again (no model, no training) "
        "with a decoder of its spec's eval.decoders, or a new one, changed by these options")
    decoding.add_argument("--decoder", metavar="NAME", default=None,
                          help="the decoder to (re)run; a name the spec lacks makes a new one "
                          "(kind ngram when --lm-text is given, else beam)")
    decoding.add_argument("--lm-text", default=None, metavar="SOURCE",
                          help="the LM's text: train, synthetic, or a text file")
    decoding.add_argument("--lm-order", type=int, default=None, metavar="N",
                          help="n-gram order (2-5)")
    decoding.add_argument("--lm-arpa", default=None, metavar="FILE",
                          help="a prebuilt ARPA (or KenLM binary) LM instead of --lm-text")
    decoding.add_argument("--alpha", type=float, action="append", default=None,
                          help="LM weight; repeat for a grid tuned on the dev split")
    decoding.add_argument("--beta", type=float, action="append", default=None,
                          help="word insertion bonus; repeat for a grid tuned on the dev split")
    decoding.add_argument("--beam-width", type=int, default=None, metavar="N")
    decoding.add_argument("--cache-dir", type=Path, default=None,
                          help="where LMs (and, for --lm-text train, the prepared data) are "
                          "cached (default: $HARNESS_CACHE or .harness-cache/)")


def run_score(args: argparse.Namespace) -> int:
    """Score, write scores.json and, when the run has a record in its suite's results.jsonl,
    put the rule sets into that record (so the report shows them); print a table."""
    from harness.files import SCORES_FILE
    from harness.run.store import SuiteStore
    from harness.scoring import score_run_dir

    if args.decoder is not None:
        return run_redecode(args)
    if not args.text:
        raise UserError("name a rule set to score with (--text blog), or a decoder to run "
                        "(--decoder NAME)")
    store = SuiteStore(Path(args.run_dir).parent)
    record = store.records_by_id().get(Path(args.run_dir).name)
    boot = bootstrap_settings(args, record, {"n_boot": 1000, "seed": 0, "block": "utterance"})
    scores = score_run_dir(args.run_dir, args.text, **boot)
    print(format_scores(scores))
    print(f"wrote {args.run_dir / SCORES_FILE}")
    if put_into_record(store, Path(args.run_dir), record,
                       lambda stored: merged_record(stored, scores)):
        print(f"updated its record in {store.results_path}: {', '.join(args.text)}")
    return 0


def bootstrap_settings(args: argparse.Namespace, record: dict | None, fallback: dict) -> dict:
    """n_boot, seed and block: the command line's, else the record's (so a rule set or decoder
    added to it shares the others' resamples), else `fallback`."""
    boot = ((record or {}).get("scores") or {}).get("bootstrap") or {}
    given = {"n_boot": args.boot, "seed": args.seed, "block": args.block}
    return {key: value if value is not None else boot.get(key, fallback[key])
            for key, value in given.items()}


def put_into_record(store, run_dir: Path, record: dict | None, update) -> bool:
    """Replace a finished run's record by update(record), under the suite's lock (no runner
    may rewrite results.jsonl meanwhile); False when the run has no finished record."""
    if record is None or record.get("status") != "finished":
        return False
    with store.exclusive():
        store.put(update(store.records_by_id()[run_dir.name]))
    return True


def run_redecode(args: argparse.Namespace) -> int:
    """Decode the stored log-probabilities with one decoder, score it, put it in the record."""
    from harness.decode.decoders import redecode_spec
    from harness.run.execute import decode_and_score
    from harness.run.store import SuiteStore

    run_dir = Path(args.run_dir)
    spec, decoder = redecode_spec(run_dir, args.decoder, text=args.text, lm_text=args.lm_text,
                                  lm_order=args.lm_order, lm_arpa=args.lm_arpa,
                                  alpha=args.alpha, beta=args.beta, beam_width=args.beam_width)
    store = SuiteStore(run_dir.parent)
    record = store.records_by_id().get(run_dir.name)
    boot = bootstrap_settings(args, record, {"n_boot": spec.eval.bootstrap,
                                             "seed": spec.eval.bootstrap_seed,
                                             "block": spec.eval.block})
    spec = spec.model_copy(update={"eval": spec.eval.model_copy(update={
        "bootstrap": boot["n_boot"], "bootstrap_seed": boot["seed"], "block": boot["block"]})})
    cache_root = args.cache_dir or default_cache_root()

    def training_texts():
        from harness.data.prepare import prepare

        return prepare(spec, cache_root).train["raw_text"]

    decoded = decode_and_score(spec, run_dir, cache_root, training_texts, [decoder])
    scores = decoded[decoder.name]
    print(format_scores(scores))
    print(describe_decoding(scores))
    print(f"wrote {run_dir / scores['predictions']['file']}")
    if put_into_record(store, run_dir, record,
                       lambda stored: with_decoder(stored, decoder.name, scores)):
        print(f"updated its record in {store.results_path}: decoder {decoder.name}")
    return 0


def describe_decoding(scores: dict) -> str:
    """'decoder ngram (ngram, beam 32): alpha 0.5, beta 1.0 of 12 tried on 64 dev utterances'"""
    decoder, tuning, lm = scores["decoder"], scores.get("tuning"), scores.get("lm")
    text = f"decoder {decoder['name']} ({decoder['kind']}, beam {decoder['beam_width']})"
    if lm:
        text += f", {lm['order'] or '?'}-gram LM of {lm['source']}"
    if tuning:
        text += f": alpha {tuning['alpha']:g}, beta {tuning['beta']:g}"
        if tuning["grid"]:
            text += (f", the best of {len(tuning['grid'])} on {tuning['dev_utterances']} dev "
                     f"utterances under {tuning['rule_set']}")
    return text + f"; {scores['decode_s']:.1f} s"


def with_decoder(record: dict, name: str, scores: dict) -> dict:
    """The record with one decoder's scores put in (replacing a same-named one)."""
    old = dict(record.get("scores") or {})
    decoders = dict(old.get("decoders") or {})
    decoders[name] = scores
    return {**record, "scores": {**old, "decoders": decoders}}


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
