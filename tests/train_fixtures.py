"""Small PreparedData-like inputs for the training tests: espeak-ng sentences or synthetic tones.

The real `harness.data.prepare.PreparedData` comes from the data pipeline; these fixtures build
the same shape (train/dev/test datasets with id, speaker, duration, text, raw_text,
input_values, labels; a Wav2Vec2Processor; a vocab with [PAD] = 0) without it, in a second.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import soundfile
import soxr
from transformers import Wav2Vec2Processor

from harness.text.vocab import build_vocab, encode
from harness.text.vocab import make_processor as vocab_processor

SAMPLE_RATE = 16000
WORDS = (
    "the a red blue green cat dog sun moon tree house small big run jump sit see go "
    "one two three four five bird fish boat car road hill day night cold warm"
).split()
VOICES = ("en-us", "en-gb", "en-us+f3")


@dataclass
class FakePrepared:
    """The fields of PreparedData the training loop reads."""

    dir: Path
    fingerprint: str
    train: datasets.Dataset
    dev: datasets.Dataset
    test: datasets.Dataset
    processor: Wav2Vec2Processor
    vocab: dict[str, int]
    report: dict = field(default_factory=dict)


def make_processor(texts: list[str], attention_mask: bool = False
                   ) -> tuple[Wav2Vec2Processor, dict[str, int]]:
    """The real vocabulary of `texts` ([PAD] = 0, [UNK], `|`) and processor (harness.text.vocab)."""
    vocab = build_vocab(texts)
    return vocab_processor(vocab, return_attention_mask=attention_mask), vocab


def espeak(text: str, voice: str = "en-us", speed: int = 175) -> np.ndarray:
    """`text` spoken by espeak-ng, resampled to 16 kHz, float32."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        check=True, capture_output=True,
    ).stdout
    audio, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    return soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)


def sentences(count: int, seed: int, words: tuple[int, int] = (2, 6)) -> list[str]:
    """`count` random sentences of WORDS."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(words[0], words[1] + 1)))
            for _ in range(count)]


def tone(text: str, rng: np.random.Generator) -> np.ndarray:
    """A synthetic 'utterance': one 0.15 s tone per character, pitch by letter, plus noise."""
    pieces = []
    for char in text:
        pitch = 200.0 + 40.0 * (ord(char) % 32)
        t = np.arange(int(0.15 * SAMPLE_RATE)) / SAMPLE_RATE
        pieces.append(np.sin(2 * np.pi * pitch * t) * (0.0 if char == " " else 0.5))
    audio = np.concatenate(pieces) + 0.01 * rng.standard_normal(sum(len(p) for p in pieces))
    return audio.astype(np.float32)


def _normalized(audio: np.ndarray) -> np.ndarray:
    return ((audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)).astype(np.float32)


def make_split(texts: list[str], processor: Wav2Vec2Processor, kind: str, seed: int,
               prefix: str) -> datasets.Dataset:
    """A dataset with the PreparedData columns; audio from espeak-ng or tones."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in
                             ("id", "speaker", "duration", "text", "raw_text", "input_values",
                              "labels")}
    for i, text in enumerate(texts):
        voice = VOICES[i % len(VOICES)]
        audio = espeak(text, voice, speed=int(rng.integers(150, 200))) if kind == "espeak" \
            else tone(text, rng)
        rows["id"].append(f"{prefix}-{i:05d}")
        rows["speaker"].append(voice)
        rows["duration"].append(len(audio) / SAMPLE_RATE)
        rows["text"].append(text)
        rows["raw_text"].append(text.capitalize() + ".")
        rows["input_values"].append(_normalized(audio))
        rows["labels"].append(encode(text, processor.tokenizer.get_vocab()))
    features = datasets.Features({
        "id": datasets.Value("string"), "speaker": datasets.Value("string"),
        "duration": datasets.Value("float64"), "text": datasets.Value("string"),
        "raw_text": datasets.Value("string"),
        "input_values": datasets.Sequence(datasets.Value("float32")),
        "labels": datasets.Sequence(datasets.Value("int64")),
    })
    return datasets.Dataset.from_dict(rows, features=features)


def make_prepared(directory: Path, *, train: int = 48, dev: int = 8, test: int = 8,
                  kind: str = "espeak", seed: int = 0, attention_mask: bool = False
                  ) -> FakePrepared:
    """A PreparedData-like bundle of `train`/`dev`/`test` utterances (espeak or tone audio)."""
    texts = sentences(train + dev + test, seed)
    processor, vocab = make_processor(texts[:train], attention_mask)
    return FakePrepared(
        dir=directory,
        fingerprint=f"fake-{kind}-{seed}-{train}-{dev}-{test}",
        train=make_split(texts[:train], processor, kind, seed, "train"),
        dev=make_split(texts[train:train + dev], processor, kind, seed + 1, "dev"),
        test=make_split(texts[train + dev:], processor, kind, seed + 2, "test"),
        processor=processor,
        vocab=vocab,
    )


def save_prepared(prepared: FakePrepared, directory: Path) -> Path:
    """Write a FakePrepared to disk (datasets + processor + vocab) for a subprocess to load."""
    directory.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        getattr(prepared, split).save_to_disk(str(directory / split))
    prepared.processor.save_pretrained(str(directory / "processor"))
    (directory / "vocab.json").write_text(json.dumps(prepared.vocab))
    return directory


def load_prepared(directory: Path) -> FakePrepared:
    """The FakePrepared that save_prepared wrote."""
    return FakePrepared(
        dir=directory,
        fingerprint=directory.name,
        train=datasets.load_from_disk(str(directory / "train")),
        dev=datasets.load_from_disk(str(directory / "dev")),
        test=datasets.load_from_disk(str(directory / "test")),
        processor=Wav2Vec2Processor.from_pretrained(str(directory / "processor")),
        vocab=json.loads((directory / "vocab.json").read_text()),
    )


def main(argv: list[str]) -> None:
    """`python tests/train_fixtures.py PREPARED_DIR RUN_DIR SPEC_JSON [OUT_JSON]`: train, dump.

    Used by the kill/resume and multi-process tests (under torchrun every rank runs it). Each
    rank writes OUT_JSON.rank<r>: its summary (with its weights' digest) and its batches.
    """
    import os

    from harness.config.settings import RunSpec
    from harness.train.loop import train

    prepared = load_prepared(Path(argv[0]))
    spec = RunSpec.model_validate(json.loads(argv[2]))
    summary = train(spec, prepared, Path(argv[1]))
    if len(argv) > 3:
        from harness.data.batching import DurationBatchSampler

        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
        sampler = DurationBatchSampler(
            prepared.train["duration"], spec.train.batch_seconds, seed=spec.train.seed,
            num_replicas=world, rank=rank, max_batch_size=spec.train.max_batch_size,
        )
        Path(f"{argv[3]}.rank{rank}").write_text(json.dumps({
            "summary": summary, "rank": rank, "world": world,
            "batches": sampler.plan(0).batches,
        }, default=str))


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main(sys.argv[1:])


# The runner tests' tiny run: 6 updates of the tiny preset on 2 min of synthetic audio.
TINY_BASE = """\
base:
  data:
    source: synthetic
    synth: {train: 2min, test: 20s, seed: 0}
    dev_utterances: 4
  model: {preset: tiny}
  train: {lr: 1e-3, max_steps: 6, warmup_steps: 2, batch_seconds: 16, checkpoint_every: 3,
          log_every: 1}
  text: {targets: blog, scoring: [blog, none]}
  eval: {bootstrap: 100}
"""


def tiny_suite(name: str, question: str, command: str, axes: str = "") -> str:
    """A suite file of the tiny run (TINY_BASE), with its header, name and optional axes."""
    return (f"# Question: {question}\n# Command:  {command}\nsuite: {name}\n"
            f"mode: one_at_a_time\n{TINY_BASE}{axes}")
