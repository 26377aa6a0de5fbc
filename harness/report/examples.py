"""The best run up close: its most frequent word errors and a few aligned test utterances."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.report.load import RunResult, SuiteResults
from harness.scoring.counts import align
from harness.text.normalize import get_rule_set

KIND_ORDER = {"substitution": 0, "deletion": 1, "insertion": 2}


def best_run(results: SuiteResults, rule_set: str) -> RunResult | None:
    """The scored run with the lowest WER under `rule_set` (the first in suite order on ties)."""
    rated = [(result.rate(rule_set), index, result) for index, result in enumerate(results.runs)
             if result.rate(rule_set) is not None]
    return min(rated, key=lambda item: item[:2])[2] if rated else None


def top_errors_table(result: RunResult, rule_set: str, k: int = 10) -> pd.DataFrame:
    """The k most frequent word errors of all kinds, from the record's stored top errors."""
    stored = (result.scores(rule_set) or {}).get("top_errors") or {}
    rows = [{"kind": "substitution", "reference": item["reference"],
             "hypothesis": item["hypothesis"], "count": item["count"]}
            for item in stored.get("substitutions", [])]
    rows += [{"kind": "deletion", "reference": item["word"], "hypothesis": "",
              "count": item["count"]} for item in stored.get("deletions", [])]
    rows += [{"kind": "insertion", "reference": "", "hypothesis": item["word"],
              "count": item["count"]} for item in stored.get("insertions", [])]
    rows.sort(key=lambda row: (-row["count"], KIND_ORDER[row["kind"]], row["reference"],
                               row["hypothesis"]))
    frame = pd.DataFrame(rows[:k], columns=["kind", "reference", "hypothesis", "count"])
    return frame.astype(str)


@dataclass(frozen=True)
class Example:
    """One test utterance: raw texts, its alignment as three text lines, and its word counts."""

    id: str
    speaker: str | None
    duration: float
    reference: str
    hypothesis: str
    aligned: str
    errors: int
    words: int


def examples(result: RunResult, rule_set: str, n: int = 5) -> list[Example]:
    """Up to n utterances with word errors, evenly spaced from the worst per-utterance WER down.

    Utterances without errors are used only when fewer than n have errors.
    """
    records = result.predictions
    if not records:
        return []
    normalize = get_rule_set(rule_set)
    refs = [normalize(r["reference"]) for r in records]
    hyps = [normalize(r["hypothesis"]) for r in records]
    alignment = align(refs, hyps, "word")
    errors, lengths = alignment.counts.errors, alignment.counts.reference_length

    def badness(i: int) -> tuple:
        rate = errors[i] / lengths[i] if lengths[i] else float("inf")  # all insertions
        return (-rate, -int(errors[i]), str(records[i]["id"]))

    with_errors = sorted((i for i in range(len(records)) if errors[i]), key=badness)
    chosen = _spread(with_errors, n)
    if len(chosen) < n:
        clean = sorted((i for i in range(len(records)) if not errors[i]),
                       key=lambda i: str(records[i]["id"]))
        chosen += clean[: n - len(chosen)]
    return [Example(id=str(records[i]["id"]), speaker=records[i].get("speaker"),
                    duration=float(records[i]["duration"]),
                    reference=records[i]["reference"], hypothesis=records[i]["hypothesis"],
                    aligned=aligned_lines(alignment.tokens_ref[i], alignment.tokens_hyp[i],
                                          alignment.chunks[i]),
                    errors=int(errors[i]), words=int(lengths[i]))
            for i in chosen]


def _spread(items: list[int], n: int) -> list[int]:
    """n items at evenly spaced positions (first and last included), or all of them."""
    if len(items) <= n:
        return list(items)
    positions = sorted({round(k * (len(items) - 1) / (n - 1)) for k in range(n)})
    return [items[p] for p in positions]


def aligned_lines(ref: list[str], hyp: list[str], chunks) -> str:
    """REF/HYP/edit lines with words in columns: S substituted, D deleted, I inserted, *** gap."""
    pairs: list[tuple[str, str, str]] = []
    if not ref:
        pairs = [("", word, "I") for word in hyp]
    for chunk in chunks:
        r = ref[chunk.ref_start_idx:chunk.ref_end_idx]
        h = hyp[chunk.hyp_start_idx:chunk.hyp_end_idx]
        if chunk.type == "equal":
            pairs += [(a, b, "") for a, b in zip(r, h, strict=True)]
        elif chunk.type == "substitute":
            pairs += [(a, b, "S") for a, b in zip(r, h, strict=True)]
        elif chunk.type == "delete":
            pairs += [(a, "", "D") for a in r]
        else:
            pairs += [("", b, "I") for b in h]
    columns = [[a or "*" * len(b), b or "*" * len(a), mark] for a, b, mark in pairs]
    widths = [max(len(a), len(b), 1) for a, b, _ in columns]
    lines = []
    for row, label in enumerate(("REF:", "HYP:", "    ")):
        cells = [column[row].ljust(width) for column, width in zip(columns, widths, strict=True)]
        lines.append(" ".join([label, *cells]).rstrip())
    return "\n".join(lines)
