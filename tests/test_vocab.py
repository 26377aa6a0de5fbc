"""Vocabulary, label codec and greedy CTC decoding: round trips, OOV handling, HF consistency."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.text.normalize import RULE_SET_NAMES, get_rule_set
from harness.text.vocab import (
    PAD,
    UNK,
    WORD_DELIMITER,
    VocabError,
    build_vocab,
    ctc_greedy_decode,
    ctc_greedy_decode_batch,
    decode_labels,
    encode,
    make_processor,
    oov_audit,
)
from tests.strategies import ctc_frames, unicode_texts, vocab_and_text

TIMIT_SENTENCE = "She had your dark suit in greasy wash water all year."
ENGLISH_VOCAB = build_vocab(["the quick brown fox jumps over a lazy dog's back"])


def _clean_spaces(text: str) -> str:
    return re.sub(" +", " ", text).strip(" ")


def test_build_vocab_specials_first_then_code_point_order():
    """[PAD]=0 (blank), [UNK]=1, |=2, then training characters sorted; space is not a token."""
    vocab = build_vocab(["ba c", "a|b"])
    assert vocab == {PAD: 0, UNK: 1, WORD_DELIMITER: 2, "a": 3, "b": 4, "c": 5}


@given(texts=st.lists(unicode_texts(), max_size=5), seed=st.randoms())
def test_build_vocab_ignores_text_order(texts, seed):
    """The same training texts in any order give the same vocabulary."""
    shuffled = list(texts)
    seed.shuffle(shuffled)
    assert build_vocab(shuffled) == build_vocab(texts)


def test_vocab_comes_from_training_text_only():
    """A test-only character is reported by the audit, with its count, and not added."""
    vocab = build_vocab(["abc"])
    assert oov_audit(["abd dd", "e|"], vocab) == {"d": 3, "e": 1, "|": 1}
    assert "d" not in vocab


@settings(max_examples=200)
@given(pair=vocab_and_text())
def test_encode_decode_round_trip(pair):
    """decode_labels(encode(text)) == text for any text over the vocabulary, one id per char."""
    vocab, text = pair
    ids = encode(text, vocab)
    assert len(ids) == len(text)
    assert decode_labels(ids, vocab) == text


@pytest.mark.parametrize("text", ["", "hello", "bookkeeper  all", " a "])
def test_repeated_letters_and_empty_text_round_trip(text):
    """Double letters, double spaces and the empty string survive encode -> decode_labels."""
    assert decode_labels(encode(text, ENGLISH_VOCAB), ENGLISH_VOCAB) == text


@settings(max_examples=200)
@given(pair=vocab_and_text())
def test_spaces_and_word_delimiter_map_both_ways(pair):
    """A space encodes to the `|` id and the `|` id decodes to a space, at the same positions."""
    vocab, text = pair
    delimiter = vocab[WORD_DELIMITER]
    ids = encode(text, vocab)
    assert [i for i, t in enumerate(ids) if t == delimiter] == [
        i for i, c in enumerate(text) if c == " "
    ]
    assert decode_labels([delimiter], vocab) == " "


# Written out by hand, not by build_vocab: [PAD] 0, [UNK] 1, | 2, a 3, b 4, c 5.
ABC_VOCAB = {PAD: 0, UNK: 1, WORD_DELIMITER: 2, "a": 3, "b": 4, "c": 5}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cab", [5, 3, 4]),  # all known
        ("abd", [3, 4, 1]),  # d -> [UNK]
        ("a z", [3, 2, 1]),  # space -> |, z -> [UNK]
        ("Ab", [1, 4]),  # case-sensitive: A is not a
        ("é", [1]),  # an accented letter the training text lacks
        ("a|b", [3, 2, 4]),  # a literal | is the delimiter's id
        ("[PAD]", [1, 1, 1, 1, 1]),  # spelled out: [ P A D ] are all unknown, never the blank 0
        ("", []),
    ],
)
def test_out_of_vocabulary_characters_become_unk(text, expected):
    """Each character outside the vocabulary encodes to the [UNK] id, one id per character."""
    assert encode(text, ABC_VOCAB) == expected


def test_audit_counts_the_characters_that_will_not_come_back():
    """The audit counts unknown characters and literal `|`, most common first, ties by char."""
    audit = oov_audit(["abd", "a z", "dd|", "cab"], ABC_VOCAB)
    # d: 1 in "abd" + 2 in "dd|" = 3; z: 1; |: 1 (z 0x7A sorts before | 0x7C); space not counted
    assert list(audit.items()) == [("d", 3), ("z", 1), ("|", 1)]


@settings(max_examples=200)
@given(text=unicode_texts())
def test_any_text_encodes_to_vocabulary_ids_and_never_the_blank(text):
    """Any text encodes without raising, one id per character, each a vocabulary id but [PAD]."""
    ids = encode(text, ENGLISH_VOCAB)
    assert len(ids) == len(text)
    assert set(ids) <= set(ENGLISH_VOCAB.values()) - {ENGLISH_VOCAB[PAD]}


@settings(max_examples=200)
@given(data=st.data())
def test_ctc_frames_decode_back_to_the_label(data):
    """Frames built CTC-style from a label (repeats, blanks between doubles) decode to the label."""
    vocab, text = data.draw(vocab_and_text())
    label = _clean_spaces(text)  # labels are normalized targets: single inner spaces
    frames = data.draw(ctc_frames(encode(label, vocab), blank=vocab[PAD]))
    assert ctc_greedy_decode(frames, vocab) == label


@settings(max_examples=100)
@given(data=st.data())
def test_batch_decode_equals_one_by_one(data):
    """The vectorized batch decoder reads each row up to its length exactly as the single one."""
    vocab, _ = data.draw(vocab_and_text())
    ids = st.integers(0, max(vocab.values()))
    rows = data.draw(st.lists(st.lists(ids, max_size=20), min_size=1, max_size=6))
    width = max(len(r) for r in rows)
    # Padding frames hold arbitrary ids: only `lengths` may decide where a row ends.
    batch = np.array([r + data.draw(st.lists(ids, min_size=width - len(r),
                                              max_size=width - len(r))) for r in rows])
    lengths = np.array([len(r) for r in rows])
    assert ctc_greedy_decode_batch(batch, lengths, vocab) == [
        ctc_greedy_decode(r, vocab) for r in rows
    ]


def test_ctc_decode_collapses_blanks_and_spaces():
    """Repeats merge, a blank splits a double letter, and | runs become one trimmed space."""
    v = ENGLISH_VOCAB
    frames = [v["|"], 0, v["h"], v["e"], v["l"], v["l"], 0, v["l"], v["o"], v["|"], 0, v["|"],
              v["o"], 0, 0, v["|"]]
    assert ctc_greedy_decode(frames, v) == "hello o"
    assert ctc_greedy_decode([], v) == ""
    assert ctc_greedy_decode([0, 0, 0], v) == ""


def test_ids_beyond_the_vocabulary_decode_as_unk():
    """A model head larger than the vocabulary yields [UNK], as the HF tokenizer reads it."""
    big = max(ENGLISH_VOCAB.values()) + 5
    assert ctc_greedy_decode([ENGLISH_VOCAB["a"], big], ENGLISH_VOCAB) == "a" + UNK


def test_batch_decode_rejects_bad_shapes():
    """Mismatched lengths, lengths past the frames, negative or float ids, a 2-D row raise."""
    with pytest.raises(ValueError, match="lengths"):
        ctc_greedy_decode_batch(np.zeros((2, 3), int), np.array([3]), ENGLISH_VOCAB)
    with pytest.raises(ValueError, match="0..3"):
        ctc_greedy_decode_batch(np.zeros((1, 3), int), np.array([4]), ENGLISH_VOCAB)
    with pytest.raises(ValueError, match=">= 0"):
        ctc_greedy_decode_batch(np.full((1, 3), -1), np.array([3]), ENGLISH_VOCAB)
    with pytest.raises(ValueError, match="integers"):
        ctc_greedy_decode([1.0, 2.0], ENGLISH_VOCAB)
    with pytest.raises(ValueError, match="one-dimensional"):
        ctc_greedy_decode(np.zeros((2, 2), int), ENGLISH_VOCAB)
    assert ctc_greedy_decode_batch(np.zeros((0, 4), int), np.zeros(0, int), ENGLISH_VOCAB) == []


def test_decode_labels_skips_label_padding_and_rejects_unknown_ids():
    """-100 (collator padding) and the blank are skipped; an id outside the vocabulary raises."""
    v = ENGLISH_VOCAB
    assert decode_labels([v["a"], -100, 0, v["b"], -100], v) == "ab"
    with pytest.raises(ValueError, match="label id 999"):
        decode_labels([999], v)


@pytest.mark.parametrize(
    ("vocab", "message"),
    [
        ({"a": 0, UNK: 1, WORD_DELIMITER: 2}, r"\[PAD\]"),
        ({PAD: 0, UNK: 1, WORD_DELIMITER: 1}, "same id"),
        ({PAD: 0, UNK: 1, WORD_DELIMITER: 2, "x": "3"}, "integers"),
        ({PAD: 0, UNK: 1, WORD_DELIMITER: 2, "ab": 3}, "single characters"),
    ],
)
def test_broken_vocabularies_are_rejected(vocab, message):
    """A vocabulary without a special token, with a shared or non-int id, or a long token fails."""
    with pytest.raises(VocabError, match=message):
        ctc_greedy_decode([0], vocab)


# --- the HF processor --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(pair=vocab_and_text(), extra=unicode_texts(max_size=8))
def test_encode_matches_hf_tokenizer(pair, extra):
    """encode() gives the same ids as Wav2Vec2CTCTokenizer, OOV characters included."""
    vocab, text = pair
    text = text + " " + extra
    if "[" in text:  # the HF tokenizer reads a literal "[PAD]" as the blank; encode spells it out
        text = text.replace("[", "")
    tokenizer = make_processor(vocab).tokenizer
    assert tokenizer(text=text).input_ids == encode(text, vocab)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_ctc_decode_matches_hf_decode(data):
    """Greedy decoding equals the HF tokenizer's CTC decode after collapsing its spaces."""
    vocab, _ = data.draw(vocab_and_text())
    frames = data.draw(st.lists(st.integers(0, max(vocab.values())), max_size=30))
    tokenizer = make_processor(vocab).tokenizer
    assert ctc_greedy_decode(frames, vocab) == _clean_spaces(tokenizer.decode(frames))


def test_processor_saves_and_reloads(tmp_path):
    """save_pretrained + Wav2Vec2Processor.from_pretrained keep the vocab, blank and settings."""
    from transformers import Wav2Vec2Processor

    vocab = build_vocab(["don't stop"])
    processor = make_processor(vocab, sampling_rate=8000, return_attention_mask=True)
    processor.save_pretrained(tmp_path)
    loaded = Wav2Vec2Processor.from_pretrained(tmp_path)
    assert loaded.tokenizer.get_vocab() == vocab
    assert len(loaded.tokenizer) == len(vocab)  # no <s>, </s> appended past the CTC head
    assert loaded.tokenizer.pad_token_id == 0 and loaded.tokenizer.unk_token == UNK
    assert loaded.tokenizer.word_delimiter_token == WORD_DELIMITER
    assert loaded.feature_extractor.sampling_rate == 8000
    assert loaded.feature_extractor.return_attention_mask is True
    assert loaded.tokenizer(text="don't stop").input_ids == encode("don't stop", vocab)


def test_make_processor_rejects_a_vocab_without_specials():
    """A vocabulary lacking [UNK] cannot become a processor."""
    with pytest.raises(VocabError, match=r"\[UNK\]"):
        make_processor({PAD: 0, WORD_DELIMITER: 1, "a": 2})


# --- the TIMIT sentence under every rule set -------------------------------------------------

CLEAN = "she had your dark suit in greasy wash water all year"
# build_vocab([CLEAN]): | = 2, then a d e g h i k l n o r s t u w y = 3..18
CLEAN_IDS = [14, 7, 5, 2, 7, 3, 4, 2, 18, 12, 16, 13, 2, 4, 3, 13, 9, 2, 14, 16, 8, 15, 2, 8, 11,
             2, 6, 13, 5, 3, 14, 18, 2, 17, 3, 14, 7, 2, 17, 3, 15, 5, 13, 2, 3, 10, 10, 2, 18, 5,
             3, 13]
# build_vocab([TIMIT_SENTENCE]) adds "." = 3 and "S" = 4 before the lower-case letters.
RAW_IDS = [4, 9, 7, 2, 9, 5, 6, 2, 20, 14, 18, 15, 2, 6, 5, 15, 11, 2, 16, 18, 10, 17, 2, 10, 13,
           2, 8, 15, 7, 5, 16, 20, 2, 19, 5, 16, 9, 2, 19, 5, 17, 7, 15, 2, 5, 12, 12, 2, 20, 7,
           5, 15, 3]
TIMIT_EXPECTED = {
    name: (TIMIT_SENTENCE, RAW_IDS) if name == "none" else (CLEAN, CLEAN_IDS)
    for name in RULE_SET_NAMES
}


@pytest.mark.parametrize("name", RULE_SET_NAMES)
def test_timit_sentence_normalized_encoded_decoded(name):
    """The TIMIT sentence normalizes, encodes (keeping 'll') and decodes back under each set."""
    expected_text, expected_ids = TIMIT_EXPECTED[name]
    text = get_rule_set(name)(TIMIT_SENTENCE)
    assert text == expected_text
    vocab = build_vocab([text])
    ids = encode(text, vocab)
    assert ids == expected_ids
    assert decode_labels(ids, vocab) == expected_text
    # The same labels as a model would emit them: each id twice, a blank after each.
    frames = [f for i in ids for f in (i, i, vocab[PAD])]
    assert ctc_greedy_decode(frames, vocab) == expected_text
    # Against the blog vocabulary, the raw sentence's capital S and full stop are the OOV.
    if name == "blog":
        assert oov_audit([TIMIT_SENTENCE], vocab) == {".": 1, "S": 1}
