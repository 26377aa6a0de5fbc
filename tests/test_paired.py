"""The shared paired test (harness.scoring.paired): which side of 0 an interval shows, and
paired_difference on hand-written predictions with known differences."""

from __future__ import annotations

import pytest

from harness.scoring.paired import Difference, PairedSettings, paired_difference

SETTINGS = PairedSettings(n_boot=200, seed=0, block="utterance")


def record(i, reference, hypothesis):
    """A prediction record like predictions.jsonl holds (id, speaker, duration, texts)."""
    return {"id": f"u{i}", "speaker": "spk1", "duration": 1.0, "reference": reference,
            "hypothesis": hypothesis}


# 4 words per utterance; run a substitutes one word in each, run b gets every word right.
REFERENCES = ["the cat sat down", "a dog ran far", "big blue sky above", "old tree fell over"]
ONE_ERROR_EACH = ["the bat sat down", "a fog ran far", "big blue ski above", "old tree fell rover"]


def one_error_each() -> list[dict]:
    """Run a: one substituted word in each of the 4 utterances (4 errors in 16 words)."""
    return [record(i, ref, hyp)
            for i, (ref, hyp) in enumerate(zip(REFERENCES, ONE_ERROR_EACH, strict=True))]


def all_right() -> list[dict]:
    """Run b: every hypothesis is its reference."""
    return [record(i, ref, ref) for i, ref in enumerate(REFERENCES)]


def shows(difference: Difference) -> tuple[bool, bool, bool, bool]:
    """(tested, clearly_lower, clearly_higher, significant) of a difference."""
    return (difference.tested, difference.clearly_lower, difference.clearly_higher,
            difference.significant)


def test_an_interval_wholly_below_zero_is_clearly_lower():
    """[-0.05, -0.01] shows b lower than a, significantly, and not higher."""
    assert shows(Difference(-0.03, -0.05, -0.01)) == (True, True, False, True)


def test_an_interval_straddling_zero_shows_nothing():
    """[-0.05, +0.01] is neither lower nor higher nor significant, though its point is below 0."""
    assert shows(Difference(-0.02, -0.05, 0.01)) == (True, False, False, False)


def test_an_interval_straddling_zero_above_its_point_shows_nothing():
    """[-0.01, +0.05] is neither lower nor higher nor significant, though its point is above 0."""
    assert shows(Difference(0.02, -0.01, 0.05)) == (True, False, False, False)


def test_an_interval_wholly_above_zero_is_clearly_higher():
    """[+0.01, +0.05] shows b higher than a, significantly, and not lower."""
    assert shows(Difference(0.03, 0.01, 0.05)) == (True, False, True, True)


def test_an_interval_touching_zero_is_not_significant():
    """[-0.05, 0] and [0, +0.05] include 0, so neither shows a side."""
    assert shows(Difference(-0.02, -0.05, 0.0)) == (True, False, False, False)
    assert shows(Difference(0.02, 0.0, 0.05)) == (True, False, False, False)


def test_an_untested_difference_shows_nothing():
    """A Difference without an interval is untested and neither lower, higher nor significant."""
    assert shows(Difference(None, note="no paired test: why")) == (False, False, False, False)
    assert shows(Difference(-0.5)) == (False, False, False, False)


def test_a_run_better_on_every_utterance_is_clearly_lower():
    """a: 1 error in 4 words on every utterance, b: none; every resample gives b - a = -1/4,
    so the difference and both ends of its interval are exactly -0.25."""
    a, b = one_error_each(), all_right()
    difference = paired_difference(a, b, "blog", "wer", SETTINGS)
    assert (difference.value, difference.low, difference.high) == (-0.25, -0.25, -0.25)
    assert difference.prob_better == 1.0
    assert shows(difference) == (True, True, False, True)
    reverse = paired_difference(b, a, "blog", "wer", SETTINGS)
    assert (reverse.value, reverse.low, reverse.high) == (0.25, 0.25, 0.25)
    assert shows(reverse) == (True, False, True, True)


def test_runs_on_different_utterances_have_no_paired_test():
    """Different ids give no value and no interval, and a note saying there is no paired test."""
    a = all_right()
    b = [{**r, "id": f"v{i}"} for i, r in enumerate(all_right())]
    difference = paired_difference(a, b, "blog", "wer", SETTINGS)
    assert difference.value is None and not difference.tested
    assert difference.note.startswith("no paired test")
    assert "not decoded on the same test set" in difference.note


@pytest.mark.parametrize("metric, expected", [("wer", -4 / 16), ("cer", -4 / 65)])
def test_the_metric_decides_what_is_differenced(metric, expected):
    """WER differs by 4 substituted words of 16; CER by 4 of the 65 reference characters, spaces
    included (16 + 13 + 18 + 18): 'cat'->'bat', 'dog'->'fog', 'sky'->'ski' and 'over'->'rover'
    are 1 character edit each."""
    a, b = one_error_each(), all_right()
    assert paired_difference(a, b, "blog", metric, SETTINGS).value == pytest.approx(expected)
