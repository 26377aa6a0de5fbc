"""Named text-normalization rules (small pure `str -> str` functions) and rule sets made of them.

A rule set is applied to transcripts before the vocabulary is built (training targets) and, at
scoring time, to both reference and hypothesis. Every rule's docstring ends with an example,
`Example: 'input' -> 'output'`, which tests/test_normalize.py runs, so the examples cannot rot.
A rule set's `version` hashes the source of its rules (and the versions of the libraries they
call), so a score computed with it names exactly which normalization produced it.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.metadata
import inspect
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.errors import UserError

Rule = Callable[[str], str]

RULES: dict[str, Rule] = {}
# Rules that call a library: its installed version is part of the rule's identity, because our
# source does not change when the library's behaviour does.
_RULE_LIBRARIES: dict[str, tuple[str, ...]] = {}


class UnknownRuleSetError(UserError, ValueError):
    """A rule set (or rule) name that is not registered; the message lists the known names."""


def rule(*libraries: str) -> Callable[[Rule], Rule]:
    """Register a rule under its function name; `libraries` are distributions it calls into."""

    def register(function: Rule) -> Rule:
        RULES[function.__name__] = function
        _RULE_LIBRARIES[function.__name__] = libraries
        return function

    return register


# --- rules ---------------------------------------------------------------------------------------

# The HF "Fine-tune wav2vec2 for English ASR" TIMIT recipe: chars_to_ignore = '[\,\?\.\!\-\;\:\"]'.
BLOG_PUNCTUATION = ',?.!-;:"'
_BLOG_PUNCTUATION_TABLE = str.maketrans("", "", BLOG_PUNCTUATION)
# Typographic quotes and accents that transcribers type for an apostrophe: ’ ‘ ʼ ` ´ ′.
APOSTROPHE_LOOKALIKES = "\u2019\u2018\u02bc\u0060\u00b4\u2032"
_APOSTROPHE_TABLE = str.maketrans(APOSTROPHE_LOOKALIKES, "'" * len(APOSTROPHE_LOOKALIKES))
# Whisper keeps these next to numbers ("3.5%", "$20"); see whisper_normalizer.english.
WHISPER_NUMERIC_SYMBOLS = ".%$¢€£"


@rule()
def lowercase(text: str) -> str:
    """Lower-case every letter (Unicode-aware).

    Example: 'She Had YOUR Suit' -> 'she had your suit'
    """
    return text.lower()


@rule()
def collapse_whitespace(text: str) -> str:
    """Turn every run of whitespace (tabs, newlines, no-break spaces) into one space; trim the ends.

    Example: '  a \\t b\\n\\u00a0c ' -> 'a b c'
    """
    return " ".join(text.split())


@rule()
def remove_blog_punctuation(text: str) -> str:
    """Delete the TIMIT recipe's punctuation , ? . ! - ; : " (apostrophes stay).

    Example: '"Well-known," she said; fine!' -> 'Wellknown she said fine'
    """
    return text.translate(_BLOG_PUNCTUATION_TABLE)


@rule()
def straighten_apostrophes(text: str) -> str:
    """Write typographic apostrophes and quotes (’ ‘ ʼ ` ´ ′) as the ASCII apostrophe.

    Example: 'don\\u2019t' -> "don't"
    """
    return text.translate(_APOSTROPHE_TABLE)


@rule()
def keep_inword_apostrophes(text: str) -> str:
    """Delete apostrophes that do not sit between two letters or digits.

    Example: "'Tis the boys' rock'n'roll ''" -> "Tis the boys rock'n'roll "
    """
    if "'" not in text:
        return text
    out = []
    for i, char in enumerate(text):
        if char == "'" and not (0 < i < len(text) - 1 and _is_word_char(text[i - 1])
                                and _is_word_char(text[i + 1])):
            continue
        out.append(char)
    return "".join(out)


def _is_word_char(char: str) -> bool:
    # A combining mark (category M) belongs to the letter before it: "cafe\u0301's".
    return char.isalnum() or unicodedata.category(char)[0] == "M"


@rule()
def drop_apostrophes(text: str) -> str:
    """Delete every ASCII apostrophe.

    Example: "don't 'quote'" -> 'dont quote'
    """
    return text.replace("'", "")


@rule()
def punctuation_to_space(text: str) -> str:
    """Replace Unicode punctuation and symbols (categories P*, S*) but the apostrophe with a space.

    Example: 'a-b,c(d)&e\\'s' -> "a b c d  e's"
    """
    return "".join(
        " " if char != "'" and unicodedata.category(char)[0] in "PS" else char for char in text
    )


@rule()
def drop_invisible(text: str) -> str:
    """Delete control and format characters (BOM, zero-width space, soft hyphen) except whitespace.

    Example: '\\ufeffa\\u200bb\\u00ad c\\x00' -> 'ab c'
    """
    return "".join(
        char
        for char in text
        if char.isspace() or unicodedata.category(char) not in ("Cc", "Cf")
    )


@rule()
def nfkc(text: str) -> str:
    """Unicode NFKC: compose accents, unfold ligatures and styled letters.

    Example: 'ﬁne ℌe\\u0301' -> 'fine Hé'
    """
    return unicodedata.normalize("NFKC", text)


@rule("whisper-normalizer")
def whisper_english(text: str) -> str:
    """OpenAI Whisper's English normalizer: contractions, numbers as digits, US spelling, no "um".

    One difference: Whisper writes a lone 1 as 'one' for readability; here it stays '1', which
    keeps '$1', '1%' and '10 1' what they were (see _whisper_english).

    Example: "Mr. Smith won't pay twenty-five dollars, hmm" -> 'mister smith will not pay $25'
    """
    return _whisper_english()(text)


@rule("whisper-normalizer")
def whisper_basic(text: str) -> str:
    """OpenAI Whisper's basic normalizer: drop bracketed text, symbols and punctuation to spaces.

    Example: "It's [noise] 25%!" -> 'it s 25 '
    """
    return _whisper_basic()(text)


@rule()
def signs_to_words(text: str) -> str:
    """Spell out a sign written at the start of a number: '-3' -> 'minus 3', '+2' -> 'plus 2'.

    A bare '-' is punctuation to every rule set after it (blog drops it, Whisper makes it a
    space), which would score '-3' and '3' as the same word; 'minus' survives them all (Whisper
    writes 'minus 3' back as '-3').
    Example: 'it is -3.5 or +2, not 5-3' -> 'it is minus 3.5 or plus 2, not 5-3'
    """
    return _SIGNED_NUMBER.sub(lambda m: "plus " if m.group(1) == "+" else "minus ", text)


# A sign (hyphen-minus, U+2212 minus, plus) that begins a word and is followed by a digit: "-3",
# "(+2", but not "5-3" or "a-3".
_SIGNED_NUMBER = re.compile(r"(?<![^\s(\[\"'])([-+\u2212])(?=[0-9])")


@rule()
def split_digits_from_words(text: str) -> str:
    """Put a space between digits and the letters they touch, except a suffix (1st, 1960s).

    Whisper splits them too, but after it has expanded abbreviations, so '$20Mr.' came out as
    '$20 mr', which a second pass expands to '$20 mister'; split first, it is 'mister' at once.
    Example: '$20Mr. 1st 1960s b4 3rd' -> '$20 Mr. 1st 1960s b 4 3rd'
    """
    text = _DIGIT_THEN_LETTER.sub(" ", text)
    return _LETTER_THEN_DIGIT.sub(" ", text)


_DIGIT_THEN_LETTER = re.compile(r"(?<=[0-9])(?=[^\W\d_])(?!(?:st|nd|rd|th|s)\b)", re.IGNORECASE)
_LETTER_THEN_DIGIT = re.compile(r"(?<=[^\W\d_])(?=[0-9])")


@rule()
def split_leading_zeros(text: str) -> str:
    """Write the zeros Whisper puts before a number ('oh twenty' -> '020') as numbers of their own.

    Whisper drops leading zeros from digits it reads ('020' -> '20'), so its own '020' changed on
    a second pass; '0 20' is what it reads back unchanged. Decimals keep their zeros.
    Example: '020 007 0.05 00.5 1020' -> '0 20 0 0 7 0.05 00.5 1020'
    """
    return _LEADING_ZEROS.sub(lambda m: " ".join(m.group(1)) + " ", text)


_LEADING_ZEROS = re.compile(r"(?<![\w.])(0+)(?=[0-9]+\b(?![.,][0-9]))")  # '00.5' is a decimal


@rule("whisper-normalizer")
def whisper_second_pass_fixes(text: str) -> str:
    """Do at once what a second pass of Whisper would still do to its output.

    Whisper joins an ordinal or plural suffix to the digits before it ('0 s' -> '0s'), drops
    a zero fraction ('1.0' -> '1') and its filler words ('um') only when it finds them in its
    input, so its own output ('O S' -> '0 s', '1 point 0' -> '1.0', 'ÙM' -> 'um') changed on a
    second pass; none of it changes a number. The fillers are the package's own pattern.
    Example: '0 s 3 rd $20.0 £5.00 1.05 um' -> '0s 3rd $20 £5 1.05'
    """
    text = _SPACED_SUFFIX.sub(r"\1\2", text)
    text = _ZERO_FRACTION.sub(r"\1", text)
    return " ".join(re.sub(_whisper_english().ignore_patterns, "", text).split())


_SPACED_SUFFIX = re.compile(r"([0-9]) +(st|nd|rd|th|s)\b")
_ZERO_FRACTION = re.compile(r"(?<![0-9.])([0-9]+)\.0+\b")


@rule()
def unattached_numeric_symbols_to_space(text: str) -> str:
    """Replace . $ ¢ € £ not followed by a digit, and % not after one, with a space.

    Whisper's English normalizer does this too, but misses such a symbol at the very end of the
    text ("..." -> "."), so it was not idempotent without this rule.
    Example: '$5 3.5% x. $' -> '$5 3.5% x   '
    """
    return _UNATTACHED_NUMERIC_SYMBOL.sub(" ", text)


_UNATTACHED_NUMERIC_SYMBOL = re.compile(r"[.$¢€£](?![0-9])|(?<![0-9])%")


@functools.lru_cache(maxsize=1)
def _whisper_english() -> Callable[[str], str]:
    from whisper_normalizer.english import EnglishNumberNormalizer, EnglishTextNormalizer

    class DigitOne(EnglishNumberNormalizer):
        """Whisper's number normalizer without its last, cosmetic step (1 -> 'one').

        That step made the normalizer's output something it reads differently: '10 1' came
        out as '10 one', which a second pass reads as 11; '$1' and '1%' came out as 'one', the
        symbol then dropped as unattached. Written '1', every number is left as it was read.
        """

        def postprocess(self, s: str) -> str:
            return re.sub(r"\bone(s?)\b", r"1\1", super().postprocess(s))

    normalizer = EnglishTextNormalizer()  # reads its 1,700-entry spelling table once
    normalizer.standardize_numbers = DigitOne()
    return normalizer


@functools.lru_cache(maxsize=1)
def _whisper_basic() -> Callable[[str], str]:
    from whisper_normalizer.basic import BasicTextNormalizer

    return BasicTextNormalizer()


# --- alphabets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alphabet:
    """The characters a rule set may output: a description and a membership test (`c in a`)."""

    description: str
    test: Callable[[str], bool] = field(compare=False, repr=False)

    def __contains__(self, char: object) -> bool:
        return isinstance(char, str) and len(char) == 1 and self.test(char)


def _lower_visible(char: str) -> bool:
    """Not whitespace (spaces are checked separately) and unchanged by lower-casing."""
    return not char.isspace() and char.lower() == char


def _category(char: str) -> str:
    return unicodedata.category(char)


def _visible(char: str) -> bool:
    """Not a control or format character; unassigned and private-use code points pass."""
    return _category(char) not in ("Cc", "Cf")


ANY = Alphabet("any character", lambda c: True)
BLOG_ALPHABET = Alphabet(
    "lower-case text without , ? . ! - ; : \" and with single spaces only",
    lambda c: c == " " or (_lower_visible(c) and c not in BLOG_PUNCTUATION),
)
KEEP_APOSTROPHES_ALPHABET = Alphabet(
    "the blog alphabet without typographic apostrophes",
    lambda c: c in BLOG_ALPHABET and c not in APOSTROPHE_LOOKALIKES,
)
NO_APOSTROPHES_ALPHABET = Alphabet(
    "the blog alphabet without any apostrophe",
    lambda c: c in KEEP_APOSTROPHES_ALPHABET and c != "'",
)
LIBRISPEECH_ALPHABET = Alphabet(
    "lower-case letters, digits, marks, the apostrophe and single spaces (no punctuation, "
    "symbols, control or format characters)",
    lambda c: c in " '" or (_lower_visible(c) and _category(c)[0] not in "PS" and _visible(c)),
)
WHISPER_ALPHABET = Alphabet(
    "lower-case letters and digits, . % $ ¢ € £ and single spaces (no marks, other punctuation, "
    "symbols, control or format characters)",
    lambda c: c == " "
    or (_lower_visible(c) and _visible(c)
        and (c in WHISPER_NUMERIC_SYMBOLS or _category(c)[0] not in "MPS")),
)
WHISPER_BASIC_ALPHABET = Alphabet(
    "lower-case letters and digits and single spaces (no marks, punctuation, symbols, control or "
    "format characters)",
    lambda c: c == " " or (_lower_visible(c) and _category(c)[0] not in "MPS" and _visible(c)),
)


# --- rule sets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSet:
    """A named, ordered tuple of rules, applied left to right, with its declared output alphabet."""

    name: str
    rules: tuple[str, ...]
    alphabet: Alphabet = ANY
    description: str = ""
    # Whisper's normalizer is not idempotent on its own output in ways that change no number
    # ('dr' -> 'doctor', '$20 dollars' -> '$20'): such a rule set applies its chain again while
    # that changes the text and leaves every number as it was (at most MAX_PASSES times). A pass
    # that would change a number ('10 1' read as 11) is never taken: that is what once made
    # 'room 10 1' score as 'room eleven'.
    repeat_while_numbers_hold: bool = False

    def __post_init__(self) -> None:
        unknown = [name for name in self.rules if name not in RULES]
        if unknown:
            raise UnknownRuleSetError(
                f"rule set {self.name!r} uses unknown rule(s) {', '.join(map(repr, unknown))}; "
                f"known rules: {', '.join(sorted(RULES))}"
            )

    @property
    def version(self) -> str:
        """12 hex chars of sha256 over the name, rule names, rule sources and library versions."""
        return _version(self.name, self.rules, self.repeat_while_numbers_hold)

    def __call__(self, text: str) -> str:
        text = self._pass(text)
        for _ in range(MAX_PASSES if self.repeat_while_numbers_hold else 0):
            again = self._pass(text)
            if again == text or _numbers(again) != _numbers(text):
                break
            text = again
        return text

    def _pass(self, text: str) -> str:
        for name in self.rules:
            text = RULES[name](text)
        return text


MAX_PASSES = 8
_NUMBER = re.compile(r"[-+]?[0-9][0-9,]*(?:\.[0-9]+)?")


def _numbers(text: str) -> list[float]:
    """The numbers in a text, in order, by value ('$20.0 and 020' -> [20.0, 20.0])."""
    return [float(token.replace(",", "")) for token in _NUMBER.findall(text)]


@functools.cache
def _version(name: str, rules: tuple[str, ...], repeat: bool) -> str:
    payload = [name, "repeat_while_numbers_hold" if repeat else "one_pass"] + [
        [rule_name, inspect.getsource(RULES[rule_name]),
         {lib: importlib.metadata.version(lib) for lib in _RULE_LIBRARIES[rule_name]}]
        for rule_name in rules
    ]
    return hashlib.sha256(json.dumps(payload).encode("utf-8")).hexdigest()[:12]


_RULE_SETS: dict[str, RuleSet] = {
    rule_set.name: rule_set
    for rule_set in (
        RuleSet("none", (), ANY, "identity: score the texts exactly as written"),
        RuleSet(
            "blog",
            ("signs_to_words", "remove_blog_punctuation", "lowercase", "collapse_whitespace"),
            BLOG_ALPHABET,
            "the HF TIMIT fine-tuning recipe: drop , ? . ! - ; : \", lower-case",
        ),
        RuleSet(
            "keep_apostrophes",
            ("signs_to_words", "straighten_apostrophes", "remove_blog_punctuation", "lowercase",
             "keep_inword_apostrophes", "collapse_whitespace"),
            KEEP_APOSTROPHES_ALPHABET,
            "blog, but quote marks go and only apostrophes inside words (don't) stay",
        ),
        RuleSet(
            "no_apostrophes",
            ("signs_to_words", "straighten_apostrophes", "remove_blog_punctuation",
             "drop_apostrophes", "lowercase", "collapse_whitespace"),
            NO_APOSTROPHES_ALPHABET,
            "blog without apostrophes: don't -> dont (one character fewer to learn)",
        ),
        RuleSet(
            "librispeech",
            ("nfkc", "drop_invisible", "signs_to_words", "lowercase", "straighten_apostrophes",
             "punctuation_to_space", "keep_inword_apostrophes", "collapse_whitespace"),
            LIBRISPEECH_ALPHABET,
            "LibriSpeech style: lower-case words, in-word apostrophes, punctuation splits words",
        ),
        RuleSet(
            "whisper",
            # NFKC first: Whisper lower-cases before it decomposes, so a styled capital (ℌ)
            # would come out upper-case; the final lower-case and trim make the set idempotent.
            # Apostrophes are straightened before Whisper runs: it expands "it's" to "it is" but
            # turns "it’s" into "it s".
            # One pass of Whisper (its numbers written in digits, '1' included: see
            # _whisper_english); signs_to_words keeps a leading '-' that Whisper would drop, and
            # split_digits_from_words, split_leading_zeros and dropping unattached symbols on both
            # sides ('O%' became 'o', which a second pass reads as 0) give Whisper what it reads
            # back unchanged, so one pass is idempotent.
            ("nfkc", "drop_invisible", "straighten_apostrophes", "signs_to_words",
             "split_digits_from_words", "unattached_numeric_symbols_to_space",
             "whisper_english", "split_leading_zeros",
             "unattached_numeric_symbols_to_space", "lowercase", "collapse_whitespace",
             "whisper_second_pass_fixes"),
            WHISPER_ALPHABET,
            "Whisper's English scoring normalizer: contractions expanded, numbers as digits",
            repeat_while_numbers_hold=True,
        ),
        RuleSet(
            "whisper_basic",
            ("nfkc", "drop_invisible", "signs_to_words", "whisper_basic", "collapse_whitespace"),
            WHISPER_BASIC_ALPHABET,
            "Whisper's basic normalizer: lower-case, symbols and punctuation become spaces",
        ),
    )
}

RULE_SET_NAMES: tuple[str, ...] = tuple(_RULE_SETS)


def get_rule_set(name: str) -> RuleSet:
    """The rule set called `name`; an unknown name raises UnknownRuleSetError listing known ones."""
    try:
        return _RULE_SETS[name]
    except (KeyError, TypeError):
        pass
    close = difflib.get_close_matches(str(name), RULE_SET_NAMES, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownRuleSetError(
        f"unknown text rule set {name!r}{hint}; available: {', '.join(RULE_SET_NAMES)}"
    )


def normalize(text: str, rule_set_name: str) -> str:
    """Normalize one text with the named rule set: ('Hi, you!', 'blog') -> 'hi you'."""
    return get_rule_set(rule_set_name)(text)
