"""Text normalization: rule examples, rule-set properties (hypothesis), versions, unknown names."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import UserError
from harness.text.normalize import (
    RULE_SET_NAMES,
    RULES,
    RuleSet,
    UnknownRuleSetError,
    get_rule_set,
    normalize,
)
from tests.strategies import english_texts, unicode_texts

# Every rule set but the identity promises clean spacing.
CLEANING = [name for name in RULE_SET_NAMES if name != "none"]
_EXAMPLE = re.compile(r"Example: (.+) -> (.+)$")
raw_texts = st.one_of(english_texts(), unicode_texts())


def _example(name: str) -> tuple[str, str]:
    line = RULES[name].__doc__.strip().splitlines()[-1].strip()
    match = _EXAMPLE.match(line)
    assert match, f"rule {name} has no 'Example: input -> output' line"
    return ast.literal_eval(match.group(1)), ast.literal_eval(match.group(2))


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_docstring_example_holds(name):
    """Each rule turns the input of its docstring example into exactly the example's output."""
    text, expected = _example(name)
    assert RULES[name](text) == expected


@pytest.mark.parametrize("name", RULE_SET_NAMES)
@settings(max_examples=300, deadline=None)
@given(text=raw_texts)
def test_rule_sets_are_idempotent(name, text):
    """Normalizing twice gives the same text as normalizing once."""
    rule_set = get_rule_set(name)
    once = rule_set(text)
    assert rule_set(once) == once


@pytest.mark.parametrize("name", CLEANING)
@settings(max_examples=300, deadline=None)
@given(text=raw_texts)
def test_output_has_single_spaces_only(name, text):
    """Output has no leading, trailing or double spaces and no other whitespace."""
    out = get_rule_set(name)(text)
    assert out == out.strip(" ")
    assert "  " not in out
    assert all(char == " " or not char.isspace() for char in out)


@pytest.mark.parametrize("name", RULE_SET_NAMES)
@settings(max_examples=300, deadline=None)
@given(text=raw_texts)
def test_output_stays_in_declared_alphabet(name, text):
    """Every output character belongs to the alphabet the rule set declares."""
    rule_set = get_rule_set(name)
    out = rule_set(text)
    strays = sorted({char for char in out if char not in rule_set.alphabet})
    assert not strays, f"{name} emitted {strays!r}, outside: {rule_set.alphabet.description}"


@settings(max_examples=200, deadline=None)
@given(text=raw_texts)
def test_librispeech_apostrophes_sit_inside_words(text):
    """Under librispeech every apostrophe has a letter or digit on both sides."""
    out = get_rule_set("librispeech")(text)
    for i, char in enumerate(out):
        if char == "'":
            assert 0 < i < len(out) - 1 and out[i - 1] != " " and out[i + 1].isalnum()


TIMIT_SENTENCE = "She had your dark suit in greasy wash water all year."


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("none", "  Don\u2019t STOP,  now! ", "  Don\u2019t STOP,  now! "),
        ("blog", "\"Don't\" - well-known; 'quoted'?", "don't wellknown 'quoted'"),
        ("blog", "Don\u2019t (stop) & go", "don\u2019t (stop) & go"),
        ("keep_apostrophes", "'Tis the boys' \u2018well-known\u2019 don\u2019t",
         "tis the boys wellknown don't"),
        ("no_apostrophes", "Don\u2019t 'quote' it!", "dont quote it"),
        ("librispeech", "Well-known, the boys' \u201cDON\u2019T\u201d (sure) & ok.",
         "well known the boys don't sure ok"),
        ("librispeech", "Caf\u00e9 cafe\u0301 \ufb01ne\u200b!", "caf\u00e9 caf\u00e9 fine"),
        ("whisper", "Mr. Smith won't pay twenty-five dollars.", "mister smith will not pay $25"),
        ("whisper", "One hundred and one, uh, colours", "101 colors"),
        ("whisper", "\u210cello [noise] (laughs) it\u2019s 3.5%", "hello it is 3.5%"),
        ("whisper_basic", "It's [noise] twenty-five $!", "it s twenty five"),
    ],
)
def test_rule_set_examples(name, text, expected):
    """Each rule set gives the documented output on a hand-checked input."""
    assert get_rule_set(name)(text) == expected
    assert normalize(text, name) == expected


def test_timit_sentence_under_every_rule_set():
    """The TIMIT sentence loses only its full stop and capital under every cleaning rule set."""
    expected = {name: "she had your dark suit in greasy wash water all year" for name in CLEANING}
    expected["none"] = TIMIT_SENTENCE
    assert {name: get_rule_set(name)(TIMIT_SENTENCE) for name in RULE_SET_NAMES} == expected


def test_unknown_rule_set_lists_names_and_suggests():
    """An unknown rule set name is a UserError and ValueError naming the closest and all names."""
    with pytest.raises(UnknownRuleSetError) as caught:
        get_rule_set("librispeach")
    message = str(caught.value)
    assert "'librispeach'" in message and "did you mean 'librispeech'" in message
    assert all(name in message for name in RULE_SET_NAMES)
    assert isinstance(caught.value, UserError) and isinstance(caught.value, ValueError)


def test_unknown_rule_inside_a_rule_set_is_an_error():
    """A rule set made of an unregistered rule fails on creation, listing the known rules."""
    with pytest.raises(UnknownRuleSetError, match="lowercase"):
        RuleSet("mine", ("lowercase", "lower_case"))


def test_versions_are_short_distinct_hex():
    """Versions are 12 hex characters and differ between rule sets."""
    versions = [get_rule_set(name).version for name in RULE_SET_NAMES]
    assert all(re.fullmatch(r"[0-9a-f]{12}", v) for v in versions)
    assert len(set(versions)) == len(versions)


def test_version_depends_on_rules_and_name():
    """Changing the rules or the name of a rule set changes its version."""
    base = RuleSet("x", ("lowercase", "collapse_whitespace"))
    assert RuleSet("x", ("lowercase", "collapse_whitespace")).version == base.version
    assert RuleSet("x", ("collapse_whitespace", "lowercase")).version != base.version
    assert RuleSet("y", ("lowercase", "collapse_whitespace")).version != base.version


def test_versions_are_stable_across_processes():
    """A fresh interpreter (another hash seed) computes the same versions."""
    code = (
        "from harness.text.normalize import RULE_SET_NAMES, get_rule_set;"
        "print(' '.join(get_rule_set(n).version for n in RULE_SET_NAMES))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout.split()
    assert out == [get_rule_set(name).version for name in RULE_SET_NAMES]
