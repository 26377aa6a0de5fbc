"""Scores of a run: per rule set WER/CER with counts and intervals, top errors (paired tests and
training-seed replicas: harness.scoring.seeded).

Texts are normalized with a named rule set at scoring time (so a normalization ablation is a
rescore, not a retrain), aligned once, and everything after that is array math over the
per-utterance counts. How edits are counted is defined in `harness.scoring.counts`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.errors import UserError
from harness.files import (
    PREDICTIONS_FILE,
    SCORES_FILE,
    decoded_predictions_file,
    write_json_atomic,
)
from harness.scoring import bootstrap
from harness.scoring.counts import EditCounts, align, count_edits, error_tallies
from harness.scoring.records import check_records, load_predictions

BLOCKS = ("utterance", "speaker")
METRICS = ("wer", "cer")


def get_rule_set(name: str):
    """The named normalization rule set; an unknown name is a UserError listing the known ones."""
    from harness.text.normalize import get_rule_set as lookup

    try:
        return lookup(name)
    except (KeyError, ValueError) as error:
        message = str(error.args[0]) if error.args else f"unknown rule set {name!r}"
        raise UserError(message) from None


def _normalized(records: Sequence[dict], rule_set) -> tuple[list[str], list[str]]:
    return ([rule_set(r["reference"]) for r in records],
            [rule_set(r["hypothesis"]) for r in records])


def _rule_sets(rule_set_names: Sequence[str]) -> list:
    names = [rule_set_names] if isinstance(rule_set_names, str) else list(rule_set_names)
    if not names:
        raise UserError("name at least one text rule set to score with (e.g. --text blog)")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"rule set given more than once: {', '.join(repeated)}")
    return [get_rule_set(name) for name in names]  # unknown names fail before any work


def _check_bootstrap(n_boot: int, level: float) -> None:
    if n_boot < 1:
        raise UserError(f"bootstrap resamples must be at least 1, not {n_boot}")
    if not 0 < level < 1:
        raise UserError(f"interval level must be between 0 and 1, not {level}")


def _group(records: Sequence[dict]) -> tuple[np.ndarray, list]:
    """Speaker index of each utterance, and the speakers sorted (None last)."""
    speakers = sorted({r["speaker"] for r in records}, key=lambda s: (s is None, str(s)))
    position = {s: k for k, s in enumerate(speakers)}
    return np.array([position[r["speaker"]] for r in records], dtype=np.int64), speakers


def _units(records: Sequence[dict], block: str) -> tuple[np.ndarray, int]:
    """Bootstrap unit of each utterance (itself, or its speaker) and the number of units."""
    if block not in BLOCKS:
        raise UserError(f"block must be one of {', '.join(BLOCKS)}, not {block!r}")
    if block == "utterance":
        return np.arange(len(records)), len(records)
    missing = [r["id"] for r in records if r["speaker"] is None]
    if missing:
        raise UserError(f"block 'speaker' needs a speaker on every utterance; {len(missing)} "
                        f"have none (first: {missing[0]!r})")
    index, speakers = _group(records)
    return index, len(speakers)


def _interval(counts: EditCounts, units: tuple[np.ndarray, int], weights, level) -> dict:
    index, n_units = units
    errors = bootstrap.sum_by_block(counts.errors, index, n_units)
    lengths = bootstrap.sum_by_block(counts.reference_length, index, n_units)
    rates = bootstrap.resampled_rates(errors, lengths, weights)
    return bootstrap.percentile_interval(rates, level).as_dict()


def _per_speaker(records: Sequence[dict], words: EditCounts, chars: EditCounts) -> list[dict]:
    index, speakers = _group(records)
    rows = []
    for k, speaker in enumerate(speakers):
        w, c = words.select(index == k), chars.select(index == k)
        rows.append({"speaker": speaker, "n_utterances": int(np.count_nonzero(index == k)),
                     "wer": w.rate(), "cer": c.rate(),
                     "words": w.totals("reference_words"), "chars": c.totals("reference_chars")})
    return rows


def score_predictions(
    records: Sequence[dict],
    rule_set_names: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    block: str = "utterance",
    level: float = 0.95,
) -> dict:
    """WER and CER with summed counts, bootstrap intervals and per-speaker figures, per rule set.

    Intervals are percentile bootstrap intervals over utterances, or over speakers as blocks
    (block='speaker': utterances of one speaker are not independent). Every rule set, and WER and
    CER alike, use the same resamples (same seed). The result is JSON-serializable:

        {"n_utterances", "n_speakers", "audio_seconds",
         "bootstrap": {"n_boot", "seed", "block", "n_units", "level"},
         "rule_sets": {name: {"name", "version", "wer", "cer", "n_utterances",
                              "words": {"hits", "substitutions", "deletions", "insertions",
                                        "reference_words"},
                              "chars": {..., "reference_chars"},
                              "wer_interval": {"low", "high", "level", "undefined_resamples"},
                              "cer_interval": {...},
                              "per_speaker": [{"speaker", "n_utterances", "wer", "cer",
                                               "words", "chars"}, ...]}}}

    Rates are fractions (0.083, not 8.3) and null where the references hold no word.
    """
    check_records(records)
    if not records:
        raise UserError("no predictions to score: the run has 0 utterances")
    rule_sets = _rule_sets(rule_set_names)
    _check_bootstrap(n_boot, level)
    units = _units(records, block)
    weights = bootstrap.draw_weights(units[1], n_boot, np.random.default_rng(seed))
    scores = {}
    for rule_set in rule_sets:
        refs, hyps = _normalized(records, rule_set)
        words, chars = count_edits(refs, hyps, "word"), count_edits(refs, hyps, "char")
        scores[rule_set.name] = {
            "name": rule_set.name,
            "version": rule_set.version,
            "wer": words.rate(),
            "cer": chars.rate(),
            "words": words.totals("reference_words"),
            "chars": chars.totals("reference_chars"),
            "n_utterances": len(records),
            "wer_interval": _interval(words, units, weights, level),
            "cer_interval": _interval(chars, units, weights, level),
            "per_speaker": _per_speaker(records, words, chars),
        }
    return {
        "n_utterances": len(records),
        "n_speakers": len({r["speaker"] for r in records}),
        "audio_seconds": float(sum(r["duration"] for r in records)),
        "bootstrap": {"n_boot": n_boot, "seed": seed, "block": block, "n_units": units[1],
                      "level": level},
        "rule_sets": scores,
    }


def top_errors(records: Sequence[dict], rule_set_name: str, k: int = 10) -> dict:
    """The k most frequent word substitutions (ref -> hyp), insertions and deletions.

    Counted word by word from jiwer's alignment; ties are broken alphabetically, so the lists do
    not depend on utterance order. `totals` are the run's summed word counts, for scale.
    """
    check_records(records)
    rule_set = get_rule_set(rule_set_name)
    alignment = align(*_normalized(records, rule_set), "word")
    subs, ins, dels = error_tallies(alignment)

    def most(counter: Counter) -> list:
        return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:k]

    return {
        "rule_set": {"name": rule_set.name, "version": rule_set.version},
        "substitutions": [{"reference": r, "hypothesis": h, "count": n}
                          for (r, h), n in most(subs)],
        "insertions": [{"word": w, "count": n} for w, n in most(ins)],
        "deletions": [{"word": w, "count": n} for w, n in most(dels)],
        "totals": alignment.counts.totals("reference_words"),
    }


def score_run_dir(
    run_dir: Path,
    rule_set_names: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    block: str = "utterance",
    level: float = 0.95,
    top_k: int = 10,
    decoder: str = "greedy",
) -> dict:
    """Score run_dir/predictions.jsonl, write run_dir/scores.json atomically, return the scores;
    for another `decoder`, its predictions.<decoder>.jsonl into scores.<decoder>.json.

    Besides score_predictions' figures, each rule set gets its `top_errors` and the scores record
    the sha256 of the predictions they were computed from.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    greedy = decoder == "greedy"
    path = run_dir / (PREDICTIONS_FILE if greedy else decoded_predictions_file(decoder))
    if not path.is_file():
        raise UserError(f"{run_dir}: no {path.name} in it (has the run been decoded?)")
    data = path.read_bytes()
    records = load_predictions(path)
    scores = score_predictions(records, rule_set_names, n_boot, seed, block, level)
    sha = hashlib.sha256(data).hexdigest()
    for name, entry in scores["rule_sets"].items():
        errors = top_errors(records, name, top_k)
        entry["top_errors"] = {key: errors[key] for key in ("substitutions", "insertions",
                                                            "deletions")}
        # per rule set: a later `harness score` can add rule sets to a record from new predictions
        entry["predictions_sha256"] = sha
    scores["predictions"] = {"file": path.name, "n_records": len(records), "sha256": sha}
    write_json_atomic(run_dir / (SCORES_FILE if greedy else f"scores.{decoder}.json"), scores)
    return scores
