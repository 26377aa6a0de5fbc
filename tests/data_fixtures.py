"""Local corpora in the column layouts of TIMIT, Common Voice and our manifests, built in seconds.

Each corpus has espeak-ng speech plus the bad rows a real corpus has: a corrupt file, an empty
transcript, a clip shorter than wav2vec2's receptive field, and (Common Voice) 48 kHz stereo.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import datasets
import numpy as np
import soundfile
import soxr

from tests.train_fixtures import espeak, sentences

TRAIN_SENTENCES = 24
TEST_SENTENCES = 4


def wav_bytes(audio: np.ndarray, rate: int, fmt: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format=fmt)
    return buffer.getvalue()


def _speech(seed: int, count: int, start: int = 0) -> list[tuple[str, np.ndarray]]:
    texts = sentences(count + start, seed, words=(5, 9))[start:]
    voices = ("en-us", "en-gb", "en-us+f3", "en-gb-scotland")
    return [(text, espeak(text, voices[i % len(voices)])) for i, text in enumerate(texts)]


def timit_like(directory: Path) -> Path:
    """A save_to_disk DatasetDict with timit_asr's columns (audio as embedded 16 kHz WAV bytes)."""
    splits = {}
    for split, count, start in (("train", TRAIN_SENTENCES, 0), ("test", TEST_SENTENCES, 100)):
        rows = {k: [] for k in ("file", "audio", "text", "speaker_id", "id", "dialect_region")}
        for i, (text, audio) in enumerate(_speech(1, count, start)):
            name = f"{split}/DR1/SPK{i % 4}/SX{i}.WAV"
            rows["file"].append(name)
            rows["audio"].append({"bytes": wav_bytes(audio, 16000), "path": name})
            rows["text"].append(text.upper() + ".")
            rows["speaker_id"].append(f"SPK{i % 4}" if split == "train" else f"TST{i % 2}")
            rows["id"].append(f"SX{i}")  # TIMIT's id is the sentence id: not unique
            rows["dialect_region"].append("DR1")
        if split == "train":
            _add_bad_rows(rows, "text", ("file", "id"))
        splits[split] = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio())
    path = directory / "timit"
    datasets.DatasetDict(splits).save_to_disk(str(path))
    return path


def _add_bad_rows(rows: dict, text_column: str, id_columns: tuple[str, ...]) -> None:
    """A corrupt file, an empty transcript and a too-short clip, in any schema."""
    speech = espeak("hello world")
    bad = [("corrupt", b"RIFF\x00\x00not really a wave file", "hello world"),
           ("empty", wav_bytes(speech, 16000), "  ...  "),
           ("short", wav_bytes(np.zeros(200, np.float32) + 0.1, 16000), "a")]
    for name, payload, text in bad:
        for column, values in rows.items():
            if column == "audio":
                values.append({"bytes": payload, "path": f"{name}.wav"})
            elif column == text_column:
                values.append(text)
            elif column in id_columns:
                values.append(f"bad/{name}.wav")
            else:
                values.append(values[-1])  # any valid value of the column's type


def common_voice_like(directory: Path) -> Path:
    """A save_to_disk DatasetDict with Common Voice's columns; audio is 48 kHz (one stereo)."""
    splits = {}
    for split, count, start in (("train", TRAIN_SENTENCES, 0), ("test", TEST_SENTENCES, 100)):
        rows = {k: [] for k in ("client_id", "path", "audio", "sentence", "up_votes")}
        for i, (text, audio) in enumerate(_speech(2, count, start)):
            audio48 = soxr.resample(audio, 16000, 48000).astype(np.float32)
            if split == "train" and i == 0:
                audio48 = np.stack([audio48, 0.5 * audio48], axis=1)  # stereo
            name = f"common_voice_en_{split}_{i}.wav"
            rows["client_id"].append(f"client{i % 3}" if split == "train" else f"tclient{i}")
            rows["path"].append(name)
            rows["audio"].append({"bytes": wav_bytes(audio48, 48000), "path": name})
            rows["sentence"].append(text.capitalize() + "!")
            rows["up_votes"].append(2)
        if split == "train":
            _add_bad_rows(rows, "sentence", ("path",))
        splits[split] = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio())
    path = directory / "common_voice"
    datasets.DatasetDict(splits).save_to_disk(str(path))
    return path


def manifest_corpus(directory: Path, test_from_train: int | None = None) -> Path:
    """train.jsonl/test.jsonl manifests of path,text,speaker next to WAV files.

    `test_from_train=i` copies training utterance i into the test set (a leak to be caught).
    """
    path = directory / "manifests"
    (path / "audio").mkdir(parents=True)
    for split, count, start in (("train", 8, 0), ("test", 3, 100)):
        lines = []
        for i, (text, audio) in enumerate(_speech(3, count, start)):
            name = f"audio/{split}-{i}.wav"
            soundfile.write(path / name, audio, 16000)
            lines.append({"path": name, "text": text, "speaker": f"s{i % 2}",
                          "id": f"{split}-{i}"})
        if split == "test" and test_from_train is not None:
            lines.append({"path": f"audio/train-{test_from_train}.wav", "text": "copied",
                          "speaker": "s0", "id": "leaked"})
        (path / f"{split}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def librispeech_audiofolder(directory: Path) -> Path:
    """An audiofolder (train/, test/ with metadata.csv) carrying librispeech_asr's columns."""
    path = directory / "librispeech"
    for split, count, start in (("train", 6, 0), ("test", 2, 100)):
        (path / split).mkdir(parents=True)
        lines = ["file_name,text,speaker_id,chapter_id,id"]
        for i, (text, audio) in enumerate(_speech(4, count, start)):
            utterance = f"{100 + i % 2}-7-{split}{i:04d}"
            soundfile.write(path / split / f"{utterance}.flac", audio, 16000)
            lines.append(f"{utterance}.flac,{text.upper()},{100 + i % 2},7,{utterance}")
        (path / split / "metadata.csv").write_text("\n".join(lines) + "\n")
    return path
