"""Per-utterance edit counts from jiwer's alignment, and the one definition of how we count.

- Texts arrive normalized (by a rule set) and are split into words on any whitespace. The
  characters for CER are those words joined by single spaces: runs of whitespace count as one
  space, leading and trailing whitespace as none; a character is a Unicode code point as the rule
  set leaves it ("café" is 4 characters in NFC, 5 in NFD).
- Per utterance, jiwer's alignment gives hits H, substitutions S, deletions D and insertions I;
  the reference length is N = H + S + D.
- An empty reference has N = 0 and H = S = D = 0; every hypothesis word (character) is an
  insertion. It adds errors to the corpus numerator and nothing to its denominator. jiwer is not
  asked about it (jiwer 4 documents that it rejects empty references), so the rule does not depend
  on the jiwer version.
- An empty hypothesis makes every reference word (character) a deletion.
- A corpus rate is (S + D + I) / N over counts summed across utterances, never a mean of
  per-utterance rates; when N sums to 0 the rate is undefined (None, null in JSON).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import jiwer
import numpy as np

UNITS = ("word", "char")


@dataclass(frozen=True)
class EditCounts:
    """Per-utterance edit counts: four int64 arrays of equal length."""

    hits: np.ndarray
    substitutions: np.ndarray
    deletions: np.ndarray
    insertions: np.ndarray

    @property
    def reference_length(self) -> np.ndarray:
        """N per utterance: H + S + D."""
        return self.hits + self.substitutions + self.deletions

    @property
    def errors(self) -> np.ndarray:
        """S + D + I per utterance."""
        return self.substitutions + self.deletions + self.insertions

    def totals(self, length_key: str) -> dict[str, int]:
        """Summed counts: {'hits', 'substitutions', 'deletions', 'insertions', length_key}."""
        return {
            "hits": int(self.hits.sum()),
            "substitutions": int(self.substitutions.sum()),
            "deletions": int(self.deletions.sum()),
            "insertions": int(self.insertions.sum()),
            length_key: int(self.reference_length.sum()),
        }

    def rate(self) -> float | None:
        """Corpus rate (S + D + I) / N from summed counts; None when N is 0."""
        length = int(self.reference_length.sum())
        return int(self.errors.sum()) / length if length else None

    def select(self, index: np.ndarray) -> EditCounts:
        """The counts of a subset of utterances (an index array or a boolean mask)."""
        return EditCounts(self.hits[index], self.substitutions[index], self.deletions[index],
                          self.insertions[index])


@dataclass(frozen=True)
class Alignment:
    """Counts of every utterance, and jiwer's output for those with a non-empty reference."""

    counts: EditCounts
    tokens_ref: list[list[str]]
    tokens_hyp: list[list[str]]
    chunks: list[list[jiwer.AlignmentChunk]]  # [] for an empty reference (all insertions)


def canonical(text: str) -> str:
    """Whitespace as words see it: ' a\\t b ' -> 'a b'."""
    return " ".join(text.split())


def count_edits(references: Sequence[str], hypotheses: Sequence[str], unit: str) -> EditCounts:
    """Per-utterance H/S/D/I of already-normalized texts; unit is 'word' or 'char'."""
    return align(references, hypotheses, unit).counts


def align(references: Sequence[str], hypotheses: Sequence[str], unit: str) -> Alignment:
    """Align every pair with one jiwer call; count the empty references by our rule."""
    if unit not in UNITS:
        raise ValueError(f"unit must be 'word' or 'char', not {unit!r}")
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    refs = [canonical(t) for t in references]
    hyps = [canonical(t) for t in hypotheses]
    split = str.split if unit == "word" else list
    tokens_ref = [split(t) for t in refs]
    tokens_hyp = [split(t) for t in hyps]
    counts = np.zeros((4, len(refs)), dtype=np.int64)  # rows: hits, subs, deletions, insertions
    chunks: list[list[jiwer.AlignmentChunk]] = [[] for _ in refs]
    aligned = [i for i, t in enumerate(refs) if t]
    for i, t in enumerate(refs):
        if not t:  # the empty-reference rule: everything hypothesized is inserted
            counts[3, i] = len(tokens_hyp[i])
    if aligned:
        process = jiwer.process_words if unit == "word" else jiwer.process_characters
        output = process([refs[i] for i in aligned], [hyps[i] for i in aligned])
        row = {"equal": 0, "substitute": 1, "delete": 2}
        for i, sentence in zip(aligned, output.alignments, strict=True):
            chunks[i] = sentence
            for chunk in sentence:
                if chunk.type == "insert":
                    counts[3, i] += chunk.hyp_end_idx - chunk.hyp_start_idx
                else:
                    counts[row[chunk.type], i] += chunk.ref_end_idx - chunk.ref_start_idx
    return Alignment(EditCounts(*counts), tokens_ref, tokens_hyp, chunks)


def error_tallies(alignment: Alignment) -> tuple[Counter, Counter, Counter]:
    """How often each (ref, hyp) pair was substituted and each token inserted and deleted.

    Token by token: a substitution chunk of 3 words is 3 pairs (rapidfuzz's replace chunks have
    equal lengths on both sides).
    """
    subs, ins, dels = Counter(), Counter(), Counter()
    for ref, hyp, sentence in zip(alignment.tokens_ref, alignment.tokens_hyp, alignment.chunks,
                                  strict=True):
        if not ref:
            ins.update(hyp)
        for c in sentence:
            if c.type == "substitute":
                subs.update(zip(ref[c.ref_start_idx:c.ref_end_idx],
                                hyp[c.hyp_start_idx:c.hyp_end_idx], strict=True))
            elif c.type == "insert":
                ins.update(hyp[c.hyp_start_idx:c.hyp_end_idx])
            elif c.type == "delete":
                dels.update(ref[c.ref_start_idx:c.ref_end_idx])
    return subs, ins, dels
