"""No rule set makes a wrong number right: numbers that differ stay different after scoring."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from harness.scoring.counts import count_edits
from harness.text.normalize import RULE_SET_NAMES, get_rule_set
from tests.strategies import digit_or_sign_edits, number_text_pairs, spoken


def test_spoken_numbers_are_written_as_english():
    """The test's own number speller (checked by hand) says what the texts mean."""
    assert spoken(-21) == "minus twenty one"
    assert spoken(1010) == "one thousand ten"
    assert spoken(305) == "three hundred five"


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [
        # Each of these scored WER 0 when the whisper chain was repeated to a fixed point.
        ("Room eleven", "room 10 1"),
        ("thirty one", "3 1"),
        ("minus three", "3"),
        ("it costs $21", "it costs $20 1"),
        ("it is -3 now", "it is 3 now"),
    ],
)
@pytest.mark.parametrize("name", RULE_SET_NAMES)
def test_known_merges_stay_errors(name, reference, hypothesis):
    """Numbers that earlier normalization merged or whose sign it dropped remain word errors."""
    rule_set = get_rule_set(name)
    counts = count_edits([rule_set(reference)], [rule_set(hypothesis)], "word")
    assert counts.errors.sum() >= 1


def test_whisper_keeps_adjacent_numbers_apart_in_one_pass():
    """whisper: '10 1' stays two numbers and the sign of 'minus three' stays (hand-read)."""
    whisper = get_rule_set("whisper")
    assert whisper("room 10 1") == "room 10 1"
    assert whisper("Room eleven") == "room 11"
    assert whisper("minus three") == "-3"
    assert whisper("-3") == "-3"
    assert whisper("$20 1") == "$20 1"


def every_rule_set(pairs):
    """A property over every rule set, 300 drawn text pairs each."""
    def decorate(test):
        test = given(pair=pairs)(settings(max_examples=300, deadline=None)(test))
        return pytest.mark.parametrize("name", RULE_SET_NAMES)(test)
    return decorate


@every_rule_set(number_text_pairs())
def test_different_spoken_numbers_never_normalize_equal(name, pair):
    """Two texts whose numbers differ (in words or digits, signed) differ after normalization."""
    rule_set = get_rule_set(name)
    a, b = pair
    assert rule_set(a) != rule_set(b), (a, b)


@every_rule_set(number_text_pairs())
def test_number_texts_normalize_idempotently(name, pair):
    """Normalizing a text full of numbers twice gives what normalizing once gives."""
    rule_set = get_rule_set(name)
    for text in pair:
        once = rule_set(text)
        assert rule_set(once) == once, text


@every_rule_set(digit_or_sign_edits())
def test_a_wrong_digit_or_sign_is_never_scored_right(name, pair):
    """A hypothesis one digit or one sign off its reference keeps at least its one word error."""
    rule_set = get_rule_set(name)
    reference, hypothesis = pair
    counts = count_edits([rule_set(reference)], [rule_set(hypothesis)], "word")
    assert counts.errors.sum() >= 1, (rule_set(reference), rule_set(hypothesis))
