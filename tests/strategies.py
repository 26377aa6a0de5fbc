"""Hypothesis strategies shared by the property tests (one place, per DESIGN.md).

Each module's strategies live in their own section below; add to your section only.
"""

from __future__ import annotations

from hypothesis import strategies as st

from harness.expect.parse import METRICS, RATE_METRICS, Comparison, MetricRef, Number, Selector

# --- spec (suite files) ------------------------------------------------------

# Axis key -> strategy for one value; values are compared after parsing, so each strategy
# draws from a set whose members parse to distinct settings.
AXIS_VALUES = {
    "train.lr": st.sampled_from(["1e-4", "3e-4", "1e-3", "3e-3", 0.01, 0.05]),
    "train.seed": st.integers(min_value=0, max_value=10_000),
    "train.freeze": st.sampled_from(
        ["feature_encoder", "none", "encoder_for_steps:100", "layers:2", "layers:1"]
    ),
    "data.labeled": st.sampled_from(["90s", "10min", "1h", "1h30min", "5h", "2.5h"]),
    "train.weight_decay": st.sampled_from([0.0, 0.005, 0.01, 0.1]),
    "model.mask_time_prob": st.sampled_from([0.0, 0.05, 0.3, 0.65]),
}


@st.composite
def suite_axes(draw, max_axes: int = 3, max_values: int = 3) -> dict:
    """A mapping of 1..max_axes distinct axis keys to 1..max_values distinct values each."""
    keys = draw(st.lists(st.sampled_from(sorted(AXIS_VALUES)), min_size=1, max_size=max_axes,
                         unique=True))
    return {key: draw(st.lists(AXIS_VALUES[key], min_size=1, max_size=max_values, unique=True))
            for key in keys}


def minimal_suite(axes: dict, mode: str = "one_at_a_time") -> dict:
    """A valid suite mapping around the tiny preset with the given axes."""
    return {
        "suite": "prop",
        "mode": mode,
        "base": {
            "data": {"source": "synthetic"},
            "model": {"preset": "tiny"},
            "train": {"lr": "1e-3", "max_steps": 10},
        },
        "axes": axes,
    }

# --- text (normalization, vocabulary, CTC) -------------------------------------

# English transcripts as corpora and decoders write them: mixed case, typographic quotes,
# contractions, numbers as words and digits (Whisper's number rules are the trickiest code
# here), accents composed and decomposed, styled letters, brackets, fillers, odd whitespace.
TEXT_WORDS = [
    "She", "had", "your", "DARK", "suit", "year", "don't", "don\u2019t", "'Tis", "rock'n'roll",
    "boys'", "o'clock", "Mr.", "Dr", "well-known", "café", "Café", "cafe\u0301", "naïve", "Straße",
    "ÉCOLE", "İstanbul", "ΣΟΦΙΑΣ", "日本", "ﬁne", "ℌello", "colour", "uh", "hmm", "[noise]",
    "(laughs)", "twenty", "five", "one", "oh", "hundred", "point", "dollars", "cents", "million",
    "first", "1960s", "3.5%", "$20", "£7", "1,000", "42", "0.5", "1st", "won't", "can't",
]
TEXT_PUNCTUATION = list(",?.!-;:\"'\u2019\u2018`\u00b4()[]&/*#@…—–«»%$")
TEXT_SPACES = [" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u200b", "\ufeff", ""]


@st.composite
def english_texts(draw, max_tokens: int = 12) -> str:
    """Raw English-ish transcript text: words, punctuation, stray characters, irregular spaces."""
    token = st.one_of(
        st.sampled_from(TEXT_WORDS),
        st.sampled_from(TEXT_PUNCTUATION),
        st.characters(exclude_categories=("Cs",)),
    )
    tokens = draw(st.lists(token, max_size=max_tokens))
    text = draw(st.sampled_from(TEXT_SPACES))
    for piece in tokens:
        text += piece + draw(st.sampled_from(TEXT_SPACES))
    return text


def unicode_texts(max_size: int = 40):
    """Any Unicode text (no surrogates): the rule sets must hold their properties on it too."""
    return st.text(max_size=max_size)


# Characters a training transcript may contain, for vocabularies: letters, digits, apostrophe,
# accented and non-Latin letters, punctuation. Not " " (spelled "|") and not "|" itself.
VOCAB_CHARS = st.one_of(
    st.sampled_from(list("abcdefghijklmnopqrstuvwxyz'")),
    st.characters(exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), exclude_characters="|"),
)


@st.composite
def vocab_and_text(draw, max_chars: int = 12, max_len: int = 30) -> tuple[dict, str]:
    """A vocabulary built from drawn training characters, and a text over that vocabulary."""
    from harness.text.vocab import build_vocab

    chars = draw(st.lists(VOCAB_CHARS, min_size=1, max_size=max_chars, unique=True))
    vocab = build_vocab(["".join(chars)])
    text = draw(st.text(alphabet=st.sampled_from(chars + [" "]), max_size=max_len))
    return vocab, text


@st.composite
def ctc_frames(draw, label_ids: list[int], blank: int = 0, max_repeat: int = 3) -> list[int]:
    """Frames a CTC model could emit for `label_ids`: each id repeated, blanks between repeats."""
    frames = [blank] * draw(st.integers(0, max_repeat))
    previous = None
    for label in label_ids:
        gap = draw(st.integers(1 if label == previous else 0, max_repeat))
        frames += [blank] * gap + [label] * draw(st.integers(1, max_repeat))
        previous = label
    return frames + [blank] * draw(st.integers(0, max_repeat))

# --- scoring ---------------------------------------------------------------------

# A small vocabulary so that hypotheses share words with references (hits, substitutions) and
# non-ASCII words are common; "" never appears (a word has at least one character).
# Capitals and punctuation give the normalization rule sets something to do.
SCORING_WORDS = ["the", "cat", "sat", "on", "a", "mat", "café", "naïve", "über", "straße",
                 "日本", "x", "it's", "don't", "The", "CAT,", "well-known", "don\u2019t", "Mr."]
# Word separators as raw decoder or dataset text may hold them; counting sees one space.
SEPARATORS = [" ", " ", " ", "  ", "\t", " \n "]


@st.composite
def transcripts(draw, max_words: int = 8, min_words: int = 0) -> str:
    """A transcript of 0..max_words vocabulary words with irregular whitespace, maybe padded."""
    words = draw(st.lists(st.sampled_from(SCORING_WORDS), min_size=min_words, max_size=max_words))
    text = ""
    for i, word in enumerate(words):
        text += (draw(st.sampled_from(SEPARATORS)) if i else "") + word
    return draw(st.sampled_from(["", " "])) + text + draw(st.sampled_from(["", " ", "\n"]))


@st.composite
def hypotheses_for(draw, reference: str) -> str:
    """A hypothesis for a reference: the same text, an edited copy, or an unrelated transcript."""
    kind = draw(st.sampled_from(["same", "edited", "other"]))
    if kind == "same":
        return reference
    if kind == "other":
        return draw(transcripts())
    words = reference.split()
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["sub", "del", "ins"]))
        at = draw(st.integers(0, len(words)))
        if op == "ins" or not words:
            words.insert(at, draw(st.sampled_from(SCORING_WORDS)))
        elif op == "sub":
            words[min(at, len(words) - 1)] = draw(st.sampled_from(SCORING_WORDS))
        else:
            del words[min(at, len(words) - 1)]
    return " ".join(words)


@st.composite
def prediction_records(draw, min_size: int = 1, max_size: int = 12,
                       nonempty_references: bool = False) -> list[dict]:
    """predictions.jsonl records with unique ids, 1-4 speakers and raw reference/hypothesis."""
    n = draw(st.integers(min_size, max_size))
    records = []
    for i in range(n):
        reference = draw(transcripts(min_words=1 if nonempty_references else 0))
        records.append({
            "id": f"utt{i:03d}",
            "speaker": draw(st.sampled_from(["spk1", "spk2", "spk3", "spk4"])),
            "duration": draw(st.floats(0.1, 30.0)),
            "reference": reference,
            "hypothesis": draw(hypotheses_for(reference)),
        })
    return records


# --- data ------------------------------------------------------------------------

# --- training (batching, freezing, schedules) --------------------------------------

# Utterance durations in seconds as the data pipeline leaves them (0.2 s to 20 s).
utterance_durations = st.lists(
    st.floats(min_value=0.2, max_value=20.0, allow_nan=False, allow_infinity=False),
    min_size=1, max_size=300,
)

# Every train.freeze spelling the settings accept.
freeze_policies = st.one_of(
    st.sampled_from(["feature_encoder", "none"]),
    st.integers(min_value=0, max_value=10_000).map(lambda n: f"encoder_for_steps:{n}"),
    st.integers(min_value=0, max_value=48).map(lambda k: f"layers:{k}"),
)


# --- expectations (harness.expect) -----------------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
SETTINGS = st.lists(NAMES, min_size=1, max_size=3).map(".".join)
VALUES = st.one_of(st.from_regex(r"[A-Za-z0-9_.:+\-;*?/]{1,10}", fullmatch=True),
                   st.text(max_size=10))  # anything else is printed quoted


@st.composite
def selectors(draw) -> Selector:
    """Every run, the baseline, or 1-3 distinct settings with values."""
    kind = draw(st.sampled_from(["every", "baseline", "settings"]))
    if kind != "settings":
        return Selector(kind)
    keys = draw(st.lists(SETTINGS, min_size=1, max_size=3, unique=True))
    return Selector("settings", tuple((key, draw(VALUES)) for key in keys))


@st.composite
def metric_refs(draw, metrics=METRICS) -> MetricRef:
    """A metric (a rule set only on rates) of some runs."""
    metric = draw(st.sampled_from(metrics))
    rule_set = draw(st.none() | NAMES) if metric in RATE_METRICS else None
    return MetricRef(metric, rule_set, draw(selectors()))


@st.composite
def comparisons(draw) -> Comparison:
    """Any expectation the grammar accepts: a bound on a metric, or a relation of two metrics."""
    comparator = draw(st.sampled_from(["<", "<=", ">", ">="]))
    if draw(st.booleans()):
        left = draw(metric_refs())
        significantly = left.metric in RATE_METRICS and draw(st.booleans())
        right = draw(metric_refs(metrics=(left.metric,) if significantly else METRICS))
        return Comparison(left, comparator, right, significantly)
    ref = draw(metric_refs())
    percent = draw(st.booleans())
    limit = 2.0 if ref.metric in RATE_METRICS and not percent else 1e300
    bound = Number(draw(st.floats(min_value=0, max_value=limit)), percent)
    sides = (ref, bound) if draw(st.booleans()) else (bound, ref)
    return Comparison(sides[0], comparator, sides[1])


# --- the sentence generator (harness.synth.sentences) -----------------------------------------

seeds = st.integers(min_value=0, max_value=2**32)
streams = st.sampled_from(["main/train", "main/test", "standin/train", "x"])
buckets = st.sampled_from(["test", "main", "standin"])

# --- hostile YAML (suite files that try to hang or crash `harness plan`) ------------------------

YAML_KEYS = ["suite", "base", "axes", "mode", "runs", "baseline", "extends", "expect", "data",
             "model", "train", "text", "lr", "max_steps", "preset", "source", "labeled", "path",
             "train.lr", "data.labeled", "<<", "trian", "1", "true", "~", "'a b'", '"\\u00e9"']
YAML_SCALARS = ["1e-3", "0.001", "10", "-7", "0", "true", "no", "null", "~", "tiny", "synthetic",
                "10min", "1h", "''", '""', "2024-13-45", "2001-12-14t21:59:43.10-05:00", "0x1F",
                "0o17", "190:20:30", ".inf", "-.nan", "!!binary aGk=", "!!binary not*base64",
                "!!set {a, b}", "!!omap [a, b]", "!!python/object:os.system x", "!!int x",
                "!!float 1e999", "!!str 1", "'a''b'", "@bad", "`tick", "../../evil", "a/b",
                "%TAG", "&", "*", "*undefined", "[", "}", "'unclosed", "\"\\x\""]


@st.composite
def yaml_flow_values(draw, anchors: list[str], depth: int = 3) -> str:
    """One YAML value in flow style: scalars odd and ordinary, anchors and aliases (a cycle
    included), maps with repeated keys, sequences, nesting deeper than any suite needs."""
    import json  # JSON strings are YAML double-quoted scalars

    kinds = ["scalar", "text", "huge", "alias"] + (["seq", "map", "deep"] if depth > 0 else [])
    kind = draw(st.sampled_from(kinds))
    anchor = ""
    if draw(st.integers(0, 2)) == 0:
        name = f"a{len(anchors)}"
        anchor = f"&{name} "
        if draw(st.booleans()):
            anchors.append(name)  # before the children: an alias below it is a cycle
            name = ""
    else:
        name = ""
    if kind == "scalar":
        value = draw(st.sampled_from(YAML_SCALARS))
    elif kind == "text":
        value = json.dumps(draw(st.text(max_size=30)))
    elif kind == "huge":
        piece = draw(st.sampled_from(["x", "9", "ab ", "1:", "\u00e9", "0x"]))
        value = json.dumps(piece * draw(st.integers(1, 60_000)))
        if piece == "9" and draw(st.booleans()):
            value = value.strip('"')  # a bare integer of up to 60,000 digits
    elif kind == "alias":
        value = f"*{draw(st.sampled_from(anchors))}" if anchors else "*nothing"
        if not anchors and draw(st.integers(0, 3)):
            value = draw(st.sampled_from(YAML_SCALARS))
        anchor = ""
    elif kind == "seq":
        items = draw(st.lists(yaml_flow_values(anchors, depth - 1), max_size=4))
        value = "[" + ", ".join(items) + "]"
    elif kind == "map":
        keys = draw(st.lists(st.sampled_from(YAML_KEYS), max_size=4))  # repeats allowed
        values = [draw(yaml_flow_values(anchors, depth - 1)) for _ in keys]
        value = "{" + ", ".join(f"{k}: {v}" for k, v in zip(keys, values, strict=True)) + "}"
    else:
        levels = draw(st.integers(1, 8) if draw(st.integers(0, 3)) else st.integers(28, 400))
        opening, closing = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        value = opening * levels + draw(st.sampled_from(YAML_SCALARS[:12])) + closing * levels
    if name:
        anchors.append(name)
    return anchor + value


def yaml_alias_bomb(width: int, levels: int) -> str:
    """The billion laughs as suite-file lines: level k lists `width` aliases of level k-1."""
    lines = ["lol0: &lol0 [lol, lol]"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*lol{level - 1}"] * width)
        lines.append(f"lol{level}: &lol{level} [{aliases}]")
    return "\n".join(lines)


VALID_SUITE_LINES = ["suite: prop", "mode: one_at_a_time",
                     "base: {model: {preset: tiny}, train: {lr: 1e-3, max_steps: 10}}",
                     "axes: {train.lr: [1e-3, 3e-4]}"]
# The same suite with slots, each filled by its valid value or, now and then, a hostile one.
SUITE_TEMPLATE = ["suite: {}", "mode: {}",
                  "base: {{model: {{preset: {}}}, train: {{lr: {}, max_steps: {}}}{}}}",
                  "axes: {{train.lr: [{}, 3e-4]{}}}"]
SLOT_DEFAULTS = ["prop", "one_at_a_time", "tiny", "1e-3", "10", "", "1e-3", ""]
EXTRA_SLOTS = (5, 7)  # ", key: value" appended inside base: and axes:


@st.composite
def hostile_yaml(draw) -> bytes:
    """The bytes of a would-be suite file: random bytes, random text, or a valid suite with
    hostile values in some of its slots, hostile lines put in (replacing or repeating its
    keys), or an alias bomb beside it."""
    kind = draw(st.sampled_from(["bytes", "text", "suite", "suite", "suite", "bomb"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "text":
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    anchors: list[str] = []
    slots = []
    for index, default in enumerate(SLOT_DEFAULTS):
        if draw(st.integers(0, 3)) > 0:
            slots.append(default)
        elif index in EXTRA_SLOTS:
            key = draw(st.sampled_from(YAML_KEYS))
            slots.append(f", {key}: {draw(yaml_flow_values(anchors))}")
        else:
            slots.append(draw(yaml_flow_values(anchors)))
    template = "\n".join(SUITE_TEMPLATE)
    lines = template.format(*slots).splitlines()
    if kind == "bomb":
        bomb = yaml_alias_bomb(draw(st.integers(2, 12)), draw(st.integers(1, 12)))
        lines.insert(draw(st.integers(0, len(lines))), bomb)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(YAML_KEYS))
        line = f"{key}: {draw(yaml_flow_values(anchors))}"
        lines.insert(draw(st.integers(0, len(lines))), line)
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


# --- spoken numbers ------------------------------------------------------------------

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
# Words that never belong to a number (no "and", "a", "oh", "point": Whisper reads those as
# parts of numbers), placed between the numbers of a text.
NUMBER_FILLERS = ["room", "then", "apples", "is", "the", "cats", "at"]


def spoken(number: int) -> str:
    """An integer below 10,000 in English words: -21 -> 'minus twenty one' (no hyphens)."""
    if number < 0:
        return "minus " + spoken(-number)
    if number < 20:
        return _ONES[number]
    if number < 100:
        return _TENS[number // 10] + ("" if number % 10 == 0 else " " + _ONES[number % 10])
    if number < 1000:
        rest = number % 100
        return _ONES[number // 100] + " hundred" + (" " + spoken(rest) if rest else "")
    rest = number % 1000
    return spoken(number // 1000) + " thousand" + (" " + spoken(rest) if rest else "")


def _groups_text(draw, groups: list[tuple[str, list[int]]]) -> str:
    """Each group is a filler word and one or two numbers side by side; a lone number is
    written in words or digits, two side by side in digits (adjacent spoken numbers are
    ambiguous in speech too: "ten one" is 10 1 or 101)."""
    parts = []
    for filler, numbers in groups:
        in_words = len(numbers) == 1 and draw(st.booleans())
        parts += [filler] + [spoken(n) if in_words else str(n) for n in numbers]
    return " ".join(parts)


@st.composite
def number_text_pairs(draw) -> tuple[str, str]:
    """Two texts with the same words around numbers, whose numbers differ in one place: another
    value, the same value's negation, or one number where the other text has two side by side
    ('room 10 1' against 'room 11')."""
    integers = st.integers(-9999, 9999)
    numbers = st.lists(integers, min_size=1, max_size=2)
    groups = draw(st.lists(st.tuples(st.sampled_from(NUMBER_FILLERS), numbers),
                           min_size=1, max_size=3))
    index = draw(st.integers(0, len(groups) - 1))
    filler, old = groups[index]
    negated = [-n for n in old]
    new = draw(st.one_of(st.just(negated), numbers).filter(lambda new: new != old))
    other = list(groups)
    other[index] = (filler, new)
    return _groups_text(draw, groups), _groups_text(draw, other)


@st.composite
def digit_or_sign_edits(draw) -> tuple[str, str]:
    """A reference with numbers in digits, and a hypothesis that differs in one digit or sign."""
    count = draw(st.integers(1, 3))
    numbers = draw(st.lists(st.integers(-99999, 99999), min_size=count, max_size=count))
    words = [draw(st.sampled_from(NUMBER_FILLERS)) for _ in numbers]
    reference = [str(n) for n in numbers]
    hypothesis = list(reference)
    i = draw(st.integers(0, count - 1))
    digits = [k for k, char in enumerate(reference[i]) if char.isdigit()]
    if numbers[i] != 0 and draw(st.booleans()):
        hypothesis[i] = str(-numbers[i])  # the sign flipped
    else:
        k = draw(st.sampled_from(digits))
        new = draw(st.sampled_from([d for d in "0123456789" if d != reference[i][k]]))
        hypothesis[i] = reference[i][:k] + new + reference[i][k + 1:]

    def text(values: list[str]) -> str:
        return " ".join(f"{word} {value}" for word, value in zip(words, values, strict=True))

    return text(reference), text(hypothesis)
