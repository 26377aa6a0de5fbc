"""Per-utterance edit counts from jiwer's alignment, and the one definition of how we count.

- Texts arrive normalized (by a rule set) and are split into words on any whitespace. The
  characters for CER are those words joined by single spaces: runs of whitespace count as one
  space, leading and trailing whitespace as none; a character is a Unicode code point as the rule
  set leaves it ("café" is 4 characters in NFC, 5 in NFD).
- Per utterance, the errors E = S + D + I are the edit distance (jiwer's, which WER has always
  been). Of the alignments with E errors, the one counted is the one NIST sclite reports, which
  weighs a substitution 4 and an insertion or deletion 3 (SCTK src/sclite/net_dp.c): the one with
  the fewest substitutions. "a b" against "b c" is one deletion and one insertion, as sclite
  says, not jiwer's two substitutions. The split follows from two numbers, E and the fewest
  substitutions S, since D - I is the length difference: every such alignment (sclite's tie
  breaking included) has the same S, D and I. Where sclite's weights prefer an alignment with
  more errors (rare: 'b c c a a' against 'a a b b b', sclite 3 D + 3 I, the distance 5), the
  counts keep the edit distance, so WER is unchanged. Hits H = N - S - D, with the reference
  length N. jiwer's alignment itself still lists which words (characters) were confused.
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
from rapidfuzz.distance import Levenshtein

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
        for i, sentence in zip(aligned, output.alignments, strict=True):
            errors = sum(max(c.ref_end_idx - c.ref_start_idx, c.hyp_end_idx - c.hyp_start_idx)
                         for c in sentence if c.type != "equal")
            counts[:, i] = sclite_split(tokens_ref[i], tokens_hyp[i], errors)
            jiwer_subs = sum(c.ref_end_idx - c.ref_start_idx for c in sentence
                             if c.type == "substitute")
            # jiwer's alignment where it splits the errors as sclite does (almost always);
            # sclite's own where not, so the aligned lines show what is counted
            chunks[i] = (sentence if jiwer_subs == counts[1, i]
                         else sclite_alignment(tokens_ref[i], tokens_hyp[i]))
    return Alignment(EditCounts(*counts), tokens_ref, tokens_hyp, chunks)


def sclite_alignment(ref: list[str], hyp: list[str]) -> list[jiwer.AlignmentChunk]:
    """The alignment with the fewest errors and, among those, the fewest substitutions, with
    sclite's preference on a tie (substitution or match, then deletion, then insertion: the
    order of calculate_internal_cells in SCTK's net_dp.c), as jiwer chunks. Pure Python, so it
    is only asked for the few utterances where jiwer's split differs."""
    n, m = len(ref), len(hyp)
    cost = [[(0, 0)] * (m + 1) for _ in range(n + 1)]
    move = [[""] * (m + 1) for _ in range(n + 1)]
    for j in range(1, m + 1):
        cost[0][j], move[0][j] = (j, 0), "insert"
    for i in range(1, n + 1):
        cost[i][0], move[i][0] = (i, 0), "delete"
        for j in range(1, m + 1):
            e, s = cost[i - 1][j - 1]
            diagonal = (e, s) if ref[i - 1] == hyp[j - 1] else (e + 1, s + 1)
            delete = (cost[i - 1][j][0] + 1, cost[i - 1][j][1])
            insert = (cost[i][j - 1][0] + 1, cost[i][j - 1][1])
            if diagonal <= delete and diagonal <= insert:
                cost[i][j], move[i][j] = diagonal, "diagonal"
            elif delete < insert:
                cost[i][j], move[i][j] = delete, "delete"
            else:
                cost[i][j], move[i][j] = insert, "insert"
    ops = []
    i, j = n, m
    while i > 0 or j > 0:
        step = move[i][j]
        if step == "diagonal":
            i, j = i - 1, j - 1
            ops.append(("equal" if ref[i] == hyp[j] else "substitute", i, j))
        elif step == "delete":
            i -= 1
            ops.append(("delete", i, j))
        else:
            j -= 1
            ops.append(("insert", i, j))
    chunks: list[jiwer.AlignmentChunk] = []
    for kind, i, j in reversed(ops):
        di, dj = (0 if kind == "insert" else 1), (0 if kind == "delete" else 1)
        last = chunks[-1] if chunks else None
        if last is not None and last.type == kind:
            chunks[-1] = jiwer.AlignmentChunk(kind, last.ref_start_idx, i + di,
                                              last.hyp_start_idx, j + dj)
        else:
            chunks.append(jiwer.AlignmentChunk(kind, i, i + di, j, j + dj))
    return chunks


def sclite_split(ref: list[str], hyp: list[str], errors: int) -> tuple[int, int, int, int]:
    """(H, S, D, I) of the alignment with `errors` errors (the edit distance) and the fewest
    substitutions: sclite's split (see the module docstring).

    Levenshtein with insertion and deletion cost K and substitution cost K + 1 (K above any
    count) is K * errors + substitutions at its minimum: one call of rapidfuzz's C code.
    """
    k = len(ref) + len(hyp) + 1
    cost = Levenshtein.distance(ref, hyp, weights=(k, k, k + 1))
    fewest_errors, substitutions = divmod(cost, k)
    assert fewest_errors == errors, (ref, hyp, fewest_errors, errors)  # one edit distance
    indels = errors - substitutions
    deletions = (indels + len(ref) - len(hyp)) // 2
    insertions = indels - deletions
    return len(ref) - substitutions - deletions, substitutions, deletions, insertions


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
