"""Character vocabulary from training text only, the Wav2Vec2 processor, label codec, CTC decoding.

Ids: `[PAD]` = 0 is the CTC blank, `[UNK]` = 1, the word delimiter `|` = 2, then the training
characters in code-point order, so the same training text always gives the same ids. Test
characters the vocabulary lacks are counted by `oov_audit`, never added (building the vocabulary
from train + test, as the reference notebook does, leaks the test set into the model).

Labels are encoded one character per id, so "hello" keeps both l's; only the CTC decoder of
model outputs collapses repeats, and there a blank frame separates a real double letter.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.errors import UserError

if TYPE_CHECKING:  # transformers is heavy; only make_processor needs it
    from transformers import Wav2Vec2Processor

WORD_DELIMITER = "|"
PAD = "[PAD]"
UNK = "[UNK]"
SPECIAL_TOKENS = (PAD, UNK, WORD_DELIMITER)
# decode_labels skips the HF label-padding value: collators pad label rows with -100.
IGNORE_INDEX = -100

_SPACES = re.compile(" +")


class VocabError(UserError, ValueError):
    """A vocabulary that lacks a special token, repeats an id, or has a non-integer id."""


def build_vocab(train_texts: Iterable[str]) -> dict[str, int]:
    """Token -> id from the characters of TRAINING texts: specials first, then code-point order."""
    chars: set[str] = set()
    for text in train_texts:
        chars.update(text)
    chars -= {" ", WORD_DELIMITER}  # a space is spelled `|`; a literal `|` is read as one too
    vocab = {PAD: 0, UNK: 1, WORD_DELIMITER: 2}
    vocab.update((char, i) for i, char in enumerate(sorted(chars), start=len(vocab)))
    return vocab


def check_vocab(vocab: Mapping[str, int]) -> None:
    """Raise VocabError unless the vocabulary has the three special tokens and unique int ids."""
    missing = [token for token in SPECIAL_TOKENS if token not in vocab]
    if missing:
        raise VocabError(f"vocabulary lacks the special token(s) {', '.join(missing)}")
    bad = {t: i for t, i in vocab.items() if not isinstance(i, int) or isinstance(i, bool) or i < 0}
    if bad:
        raise VocabError(f"vocabulary ids must be integers >= 0: {bad}")
    repeated = [i for i, n in Counter(vocab.values()).items() if n > 1]
    if repeated:
        raise VocabError(f"vocabulary gives the same id to several tokens: ids {sorted(repeated)}")
    long_tokens = [t for t in vocab if len(t) != 1 and t not in SPECIAL_TOKENS]
    if long_tokens:
        raise VocabError(f"vocabulary tokens must be single characters: {long_tokens[:10]}")


def oov_audit(texts: Iterable[str], vocab: Mapping[str, int]) -> dict[str, int]:
    """Characters of `texts` that will not come back from decoding, with counts, most common first.

    That is every character missing from the vocabulary, and a literal `|`, which is read as the
    word delimiter and so comes back as a space.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text)
    missing = {
        char: n for char, n in counts.items()
        if char != " " and (char not in vocab or char == WORD_DELIMITER)
    }
    return dict(sorted(missing.items(), key=lambda item: (-item[1], item[0])))


def encode(text: str, vocab: Mapping[str, int]) -> list[int]:
    """Label ids of a text, one per character: ' ' -> `|`, unknown -> `[UNK]`; never merges repeats.

    Matches `Wav2Vec2CTCTokenizer(text=...).input_ids` except that a literal "[PAD]" or "[UNK]"
    inside the text is spelled out character by character, so a blank never becomes a target.
    """
    check_vocab(vocab)
    delimiter, unk = vocab[WORD_DELIMITER], vocab[UNK]
    return [delimiter if char == " " else vocab.get(char, unk) for char in text]


def decode_labels(ids: Sequence[int] | np.ndarray, vocab: Mapping[str, int]) -> str:
    """Text of label ids, the inverse of `encode`: `|` -> ' ', blanks and -100 padding skipped."""
    table = _id_table(vocab, max_id=max((int(i) for i in ids), default=-1))
    out = []
    for i in ids:
        i = int(i)
        if i == IGNORE_INDEX:
            continue
        if not 0 <= i < len(table) or table[i] is None:
            raise ValueError(f"label id {i} is not in the vocabulary (size {len(vocab)})")
        out.append(table[i])
    return "".join(out)


def ctc_greedy_decode(frame_ids: Sequence[int] | np.ndarray, vocab: Mapping[str, int]) -> str:
    """Text of one utterance's per-frame argmax ids: collapse repeats, drop blanks, `|` -> ' '."""
    ids = np.asarray(frame_ids)
    if ids.ndim != 1:
        raise ValueError(f"frame ids must be one-dimensional, got shape {ids.shape}")
    return ctc_greedy_decode_batch(ids[None, :], np.array([len(ids)]), vocab)[0]


def ctc_greedy_decode_batch(
    argmax: np.ndarray, lengths: np.ndarray | Sequence[int], vocab: Mapping[str, int]
) -> list[str]:
    """Texts of a [B, T] argmax batch, row b read up to lengths[b] frames (vectorized over frames).

    Spaces are collapsed and trimmed; an id outside the vocabulary (a model head larger than the
    vocabulary) reads as `[UNK]`, as the HF tokenizer reads it.
    """
    argmax = np.asarray(argmax)
    if argmax.size == 0:
        argmax = argmax.astype(np.int64)  # np.array([[]]) is float
    if argmax.dtype.kind not in "iu":
        raise ValueError(f"frame ids must be integers, got dtype {argmax.dtype}")
    lengths = np.asarray(lengths, dtype=np.int64)
    if argmax.ndim != 2 or lengths.shape != (argmax.shape[0],):
        raise ValueError(
            f"expected argmax [B, T] and lengths [B], got {argmax.shape} and {lengths.shape}"
        )
    batch, frames = argmax.shape
    if batch == 0:
        return []
    if lengths.min() < 0 or lengths.max() > frames:
        raise ValueError(f"lengths must lie in 0..{frames}, got {lengths.tolist()}")
    if argmax.size and argmax.min() < 0:
        raise ValueError(f"frame ids must be >= 0, got {int(argmax.min())}")
    strings = _id_table(vocab, max_id=int(argmax.max()) if argmax.size else -1, blank="")
    table = np.array([UNK if s is None else s for s in strings], dtype=object)

    # A frame starts a new symbol when it differs from the frame before it (CTC collapse), is
    # not the blank, and lies inside the utterance.
    keep = np.arange(frames)[None, :] < lengths[:, None]
    keep &= argmax != vocab[PAD]
    keep[:, 1:] &= argmax[:, 1:] != argmax[:, :-1]
    rows, cols = np.nonzero(keep)  # row-major, so each row's symbols stay in frame order
    symbols = table[argmax[rows, cols]]
    per_row = np.split(symbols, np.cumsum(np.bincount(rows, minlength=batch))[:-1])
    return [_SPACES.sub(" ", "".join(row)).strip(" ") for row in per_row]


def _id_table(vocab: Mapping[str, int], max_id: int, blank: str = "") -> list[str | None]:
    """Id -> text for decoding: `|` -> ' ', blank -> `blank`, gaps -> None, size > max_id."""
    check_vocab(vocab)
    table: list[str | None] = [None] * (max(max(vocab.values()), max_id) + 1)
    for token, i in vocab.items():
        table[i] = token
    table[vocab[WORD_DELIMITER]] = " "
    table[vocab[PAD]] = blank
    return table


def make_processor(
    vocab: Mapping[str, int],
    sampling_rate: int = 16000,
    do_normalize: bool = True,
    return_attention_mask: bool = False,
) -> Wav2Vec2Processor:
    """A Wav2Vec2Processor: CTC tokenizer over `vocab` (`|`, `[PAD]`, `[UNK]`) + feature extractor.

    `return_attention_mask` is False for group-norm models (wav2vec2-base), which must see
    zero-padded audio without a mask, and True for layer-norm ones (wav2vec2-large-lv60, XLS-R).
    """
    from transformers import (
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2Processor,
    )

    check_vocab(vocab)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = Path(tmp) / "vocab.json"
        vocab_file.write_text(json.dumps(dict(vocab), ensure_ascii=False), encoding="utf-8")
        tokenizer = Wav2Vec2CTCTokenizer(
            str(vocab_file),
            unk_token=UNK,
            pad_token=PAD,
            word_delimiter_token=WORD_DELIMITER,
            # The defaults <s> and </s> are not characters of the corpus; left on, they are
            # appended as tokens 2 past the vocabulary and the CTC head no longer matches it.
            bos_token=None,
            eos_token=None,
            do_lower_case=False,
        )
    if len(tokenizer) != len(vocab):
        raise VocabError(f"tokenizer has {len(tokenizer)} tokens for a {len(vocab)}-token vocab")
    feature_extractor = Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=sampling_rate,
        padding_value=0.0,
        do_normalize=do_normalize,
        return_attention_mask=return_attention_mask,
    )
    return Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer)
