"""Scoring speed at LibriSpeech test-clean's size: WER + CER + 1,000-resample bootstrap intervals.

    .venv/bin/python benchmarks/bench_scoring.py [--utterances 2620] [--words 20] [--boot 1000]

Target (issue 6): under 1 s on the 2-core dev machine. The figure is also given as a ratio to the
naive way, measured in the same run: re-running jiwer's corpus WER and CER on every resample
(timed on a few resamples and extrapolated to --boot), and a Python-loop bootstrap over the same
per-utterance counts (what vectorization alone buys).
"""

from __future__ import annotations

import argparse
import random
import string
import time

import jiwer
import numpy as np

from harness.scoring import bootstrap, count_edits, score_predictions
from harness.scoring.counts import canonical

WORD_ERROR_RATE = 0.10  # a fine-tuned wav2vec2-base on test-clean is at 6-12% WER


def synthetic_predictions(n_utterances: int, n_words: int, seed: int = 0) -> list[dict]:
    """Records of n_words-word references with about 10% word errors, 40 speakers."""
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9)))
                  for _ in range(5000)]
    records = []
    for i in range(n_utterances):
        reference = [rng.choice(vocabulary) for _ in range(n_words)]
        hypothesis = []
        for word in reference:
            roll = rng.random()
            if roll < WORD_ERROR_RATE / 2:  # half of the errors are substitutions
                hypothesis.append(rng.choice(vocabulary))
            elif roll < WORD_ERROR_RATE * 3 / 4:  # a quarter deletions
                continue
            elif roll < WORD_ERROR_RATE:  # a quarter insertions
                hypothesis += [word, rng.choice(vocabulary)]
            else:
                hypothesis.append(word)
        records.append({"id": f"utt{i:05d}", "speaker": f"spk{i % 40:02d}",
                        "duration": 0.35 * n_words, "reference": " ".join(reference),
                        "hypothesis": " ".join(hypothesis)})
    return records


def best_of(repeat: int, function) -> tuple[float, object]:
    """The fastest of `repeat` timed calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def naive_jiwer_bootstrap(refs, hyps, n_resamples: int, seed: int = 0) -> float:
    """Seconds for n_resamples of: draw utterances, jiwer.wer and jiwer.cer on the resample."""
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(n_resamples):
        idx = rng.integers(0, len(refs), len(refs))
        jiwer.wer([refs[i] for i in idx], [hyps[i] for i in idx])
        jiwer.cer([refs[i] for i in idx], [hyps[i] for i in idx])
    return time.perf_counter() - start


def python_loop_bootstrap(errors, lengths, n_resamples: int, seed: int = 0) -> float:
    """Seconds for n_resamples of a Python-loop bootstrap over per-utterance counts (WER only)."""
    rng = random.Random(seed)
    errors, lengths, n = errors.tolist(), lengths.tolist(), len(errors)
    start = time.perf_counter()
    rates = []
    for _ in range(n_resamples):
        e = t = 0
        for _ in range(n):
            i = rng.randrange(n)
            e += errors[i]
            t += lengths[i]
        rates.append(e / t)
    sorted(rates)
    return time.perf_counter() - start


def main() -> None:
    """Time the harness's scoring and the two baselines; print seconds and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=2620, help="test set size")
    parser.add_argument("--words", type=int, default=20, help="words per reference")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (best is kept)")
    parser.add_argument("--naive-resamples", type=int, default=5,
                        help="resamples actually run for the jiwer baseline (then extrapolated)")
    args = parser.parse_args()

    records = synthetic_predictions(args.utterances, args.words)
    refs = [canonical(r["reference"]) for r in records]
    hyps = [canonical(r["hypothesis"]) for r in records]

    seconds, scores = best_of(args.repeat, lambda: score_predictions(records, ["blog"],
                                                                     n_boot=args.boot))
    entry = scores["rule_sets"]["blog"]
    align_s, words = best_of(args.repeat, lambda: count_edits(refs, hyps, "word"))
    align_c, _ = best_of(args.repeat, lambda: count_edits(refs, hyps, "char"))

    chars = count_edits(refs, hyps, "char")

    def vectorized_intervals():
        weights = bootstrap.draw_weights(len(refs), args.boot, np.random.default_rng(0))
        return [bootstrap.percentile_interval(bootstrap.resampled_rates(
            c.errors, c.reference_length, weights)) for c in (words, chars)]

    boot_s, _ = best_of(args.repeat, vectorized_intervals)
    naive_each = naive_jiwer_bootstrap(refs, hyps, args.naive_resamples) / args.naive_resamples
    naive = naive_each * args.boot + align_s + align_c  # + the point estimates themselves
    loop_n = max(1, min(args.boot, 20))
    loop = python_loop_bootstrap(words.errors, words.reference_length, loop_n) / loop_n
    loop_boot = 2 * loop * args.boot  # WER and CER
    loop_total = loop_boot + align_s + align_c

    print(f"{args.utterances} utterances x {args.words} words, {args.boot} resamples, "
          f"rule set blog ({scores['n_speakers']} speakers)")
    print(f"  WER {entry['wer']:.4f} [{entry['wer_interval']['low']:.4f}, "
          f"{entry['wer_interval']['high']:.4f}]   CER {entry['cer']:.4f} "
          f"[{entry['cer_interval']['low']:.4f}, {entry['cer_interval']['high']:.4f}]")
    print(f"  harness score_predictions (normalize, align words+chars, 2 intervals, "
          f"per speaker): {seconds:.3f} s   target < 1 s: {'met' if seconds < 1 else 'MISSED'}")
    print(f"    of which jiwer alignment: words {align_s:.3f} s, characters {align_c:.3f} s; "
          f"the two bootstrap intervals: {boot_s:.3f} s")
    print(f"  naive: jiwer.wer + jiwer.cer on every resample: {naive:.1f} s "
          f"(extrapolated from {args.naive_resamples} resamples)   ratio {naive / seconds:.0f}x")
    print(f"  Python-loop bootstrap over the same counts: {loop_total:.1f} s "
          f"(extrapolated from {loop_n} resamples)   ratio {loop_total / seconds:.0f}x; "
          f"bootstrap alone {loop_boot:.1f} s vs {boot_s:.3f} s, ratio {loop_boot / boot_s:.0f}x")


if __name__ == "__main__":
    main()
