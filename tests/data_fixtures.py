"""Local corpora in the column layouts of TIMIT, Common Voice and our manifests, built in seconds.

Each corpus has espeak-ng speech plus the bad rows a real corpus has: a corrupt file, an empty
transcript, a clip shorter than wav2vec2's receptive field, and (Common Voice) 48 kHz stereo.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import datasets
import numpy as np
import soundfile
import soxr

from harness.config.settings import RunSpec
from tests.train_fixtures import espeak, sentences

TRAIN_SENTENCES = 24
TEST_SENTENCES = 4
CSV_HEADER = ("path", "text", "speaker", "id")


def spec_for(data: dict, targets: str = "blog") -> RunSpec:
    """A one-step tiny-model run spec around a `data` section."""
    return RunSpec.model_validate({
        "data": data, "model": {"preset": "tiny"}, "train": {"max_steps": 1},
        "text": {"targets": targets},
    })


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


def copy_corpus(source: Path, target: Path) -> Path:
    """A copy of a corpus folder (modification times kept), to break without rebuilding it."""
    shutil.copytree(source, target, copy_function=shutil.copy2)
    return target


def manifests_to_csv(corpus: Path, bom: bool = False) -> Path:
    """Replace a manifest_corpus's {split}.jsonl by {split}.csv (header path,text,speaker,id,
    one row per line, so row i of a split is on line i + 2); `bom` starts each with a UTF-8 BOM
    as Excel's "CSV UTF-8" does."""
    for manifest in sorted(corpus.glob("*.jsonl")):
        rows = [json.loads(line) for line in manifest.read_text().splitlines()]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        writer.writerows([row[column] for column in CSV_HEADER] for row in rows)
        prefix = "\ufeff" if bom else ""
        manifest.with_suffix(".csv").write_text(prefix + buffer.getvalue(), encoding="utf-8")
        manifest.unlink()
    return corpus


def set_line(manifest: Path, line_no: int, text: str) -> None:
    """Replace line `line_no` (1-based) of a manifest with `text`."""
    lines = manifest.read_text(encoding="utf-8").splitlines()
    lines[line_no - 1] = text
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")


def append_rows(manifest: Path, rows: list[dict]) -> None:
    """Append JSONL rows, written as given (nulls and numbers included)."""
    with manifest.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)


def add_clip(corpus: Path, split: str, name: str, audio: np.ndarray, text: str) -> Path:
    """Write `audio` (16 kHz) as audio/<name>.wav and append its row to <split>.jsonl."""
    path = corpus / "audio" / f"{name}.wav"
    soundfile.write(path, audio, 16000)
    append_rows(corpus / f"{split}.jsonl", [{"path": f"audio/{name}.wav", "text": text,
                                              "speaker": "s0", "id": name}])
    return path


def silence(seconds: float = 1.0, level: float = 0.0) -> np.ndarray:
    """`seconds` of 16 kHz audio holding one value: digital silence, or a constant offset."""
    return np.full(int(seconds * 16000), level, dtype=np.float32)


def dangling_symlink(path: Path, target: str = "nowhere.wav") -> Path:
    """Make `path` (replacing any file there) a symlink to a `target` that does not exist."""
    path.unlink(missing_ok=True)
    os.symlink(target, path)
    return path
