"""Small corpus trees laid out as distributed: LDC TIMIT, LibriSpeech, Libri-light; in seconds.

Audio is espeak-ng speech of each transcript (TIMIT as NIST SPHERE PCM, the LibriSpeech family as
FLAC), one voice and speed per speaker, so no two speakers' recordings of TIMIT's shared SA
sentences are the same audio. A few clips break a rule on purpose: `long` lasts LONG_SECONDS
(above MAX_SECONDS, the max_seconds the tests set), `short` is 0.3 s under a transcript CTC
cannot fit in its 14 output frames, `corrupt` is not audio, `empty` has the transcript "...".
Every layout below is literal, so tests know their counts.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np
import soundfile

from tests.train_fixtures import espeak, sentences

MAX_SECONDS = 4.0
LONG_SECONDS = 6.0
SHORT_SECONDS = 0.3
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029")

TIMIT_SENTENCES = {
    "SA1": "She had your dark suit in greasy wash water all year.",
    "SA2": "Don't ask me to carry an oily rag like that.",
    "SI648": "A sailboat may have a bone in her teeth.",
    "SX139": "The bungalow was pleasantly situated near the shore.",
    "SX131": "Is this seesaw safe?",
    "SX223": "Cats and dogs each hate the other.",
    "SI1039": "Those musicians harmonize marvelously.",
}
# TRAIN: 7 utterances of 3 speakers in 2 regions; TEST: 3 of 2 speakers. SA1 is read by four.
TIMIT_LAYOUT = {
    "TRAIN": {"DR1": {"FCJF0": ["SA1", "SA2", "SI648"], "MDAB0": ["SA1", "SX139"]},
              "DR2": {"FAEM0": ["SA1", "SX131"]}},
    "TEST": {"DR1": {"FAKS0": ["SA1", "SX223"]}, "DR3": {"MBDG0": ["SI1039"]}},
}

# Kinds of utterance per <speaker>/<chapter>; see the module docstring.
LIBRISPEECH_LAYOUT = {
    "train-clean-100": {("103", "1240"): ["speech"] * 4,
                        ("1034", "121119"): ["speech", "speech", "long", "short"]},
    "dev-clean": {("1272", "128104"): ["speech"] * 5},
    "test-clean": {("1089", "134686"): ["speech"] * 4 + ["long", "short", "corrupt", "empty"]},
    "test-other": {("1688", "142285"): ["speech"] * 2},
}

# Libri-light: one utterance in each 1h/<fold>/<clean|other>, two in 1h/0/clean, three in 9h:
# 10min (1h/0) = 3, 1h (1h/*) = 13, 10h (1h + 9h) = 16 utterances.
LIBRILIGHT_FOLDERS = {**{f"1h/{fold}/{kind}": 2 if (fold, kind) == (0, "clean") else 1
                         for fold in range(6) for kind in ("clean", "other")},
                      "9h/clean": 2, "9h/other": 1}
LIBRILIGHT_EVAL_LAYOUT = {
    "dev-clean": {("2277", "149896"): ["speech"] * 2},
    "test-clean": {("2300", "131720"): ["speech", "speech", "long"]},
    "test-other": {("2609", "156975"): ["speech"] * 2},
}


@functools.cache
def _spoken(text: str, voice: str, speed: int) -> np.ndarray:
    audio = espeak(text, voice, speed)
    audio.setflags(write=False)
    return audio


def speech(text: str, speaker: int, kind: str = "speech") -> np.ndarray:
    """`text` as speaker number `speaker` says it; `long`/`short` fit it to their length."""
    audio = _spoken(text, VOICES[speaker % len(VOICES)], 150 + 10 * (speaker // len(VOICES)))
    if kind == "long":
        pad = int(LONG_SECONDS * 16000) - audio.size
        noise = np.random.default_rng(speaker).normal(0, 1e-3, pad).astype(np.float32)
        return np.concatenate([audio, noise])
    if kind == "short":
        return np.array(audio[: int(SHORT_SECONDS * 16000)])
    return np.array(audio)


def tone(seconds: float = 1.0, pitch: float = 440.0) -> np.ndarray:
    """A sine tone, for trees whose audio no test listens to."""
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)


# TIMIT -----------------------------------------------------------------------------------------


def timit_header(samples: int, utterance: str) -> bytes:
    """The 1024-byte SPHERE header LDC's TIMIT files carry (no sample_coding line)."""
    fields = ["NIST_1A", "   1024", "database_id -s5 TIMIT", "database_version -s3 1.0",
              f"utterance_id -s{len(utterance)} {utterance}", "channel_count -i 1",
              f"sample_count -i {samples}", "sample_rate -i 16000", "sample_min -i -32768",
              "sample_max -i 32767", "sample_n_bytes -i 2", "sample_byte_format -s2 01",
              "sample_sig_bits -i 16", "end_head"]
    return ("\n".join(fields) + "\n").encode().ljust(1024, b" ")


def write_sphere(path: Path, audio: np.ndarray, ldc_header: bool = False) -> None:
    """16 kHz 16-bit PCM NIST SPHERE: soundfile's header, or LDC TIMIT's own (same samples)."""
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
    if ldc_header:
        path.write_bytes(timit_header(pcm.size, path.stem.lower()) + pcm.tobytes())
    else:
        soundfile.write(path, pcm, 16000, format="NIST", subtype="PCM_16")


def timit_tree(directory: Path, lower: bool = False, layout: dict | None = None) -> Path:
    """TIMIT's LDC layout, TRAIN/DR1/FCJF0/SA1.WAV + .TXT (+ .PHN, .WRD), under `directory`.

    `lower` writes the lower-case tree some copies have (train/dr1/fcjf0/sa1.wav) with LDC's own
    SPHERE header; the upper-case tree uses soundfile's header and also holds a RIFF copy
    `SA1.WAV.wav` (as some redistributions add) that the reader must ignore. Both trees hold the
    same samples and transcripts.
    """
    case = str.lower if lower else str
    speaker_number = 0
    for split, regions in (layout or TIMIT_LAYOUT).items():
        for region, speakers in regions.items():
            for speaker, utterances in speakers.items():
                folder = directory / case(split) / case(region) / case(speaker)
                folder.mkdir(parents=True)
                for utterance in utterances:
                    text = TIMIT_SENTENCES[utterance]
                    audio = speech(text.lower(), speaker_number)
                    write_sphere(folder / case(f"{utterance}.WAV"), audio, ldc_header=lower)
                    (folder / case(f"{utterance}.TXT")).write_text(f"0 {audio.size} {text}\n")
                    (folder / case(f"{utterance}.PHN")).write_text(f"0 {audio.size} h#\n")
                    (folder / case(f"{utterance}.WRD")).write_text(f"0 {audio.size} word\n")
                    if not lower and utterance == "SA1":
                        soundfile.write(folder / f"{utterance}.WAV.wav", audio, 16000)
                speaker_number += 1
    return directory


# LibriSpeech and Libri-light -------------------------------------------------------------------


def write_chapter(folder: Path, speaker: str, chapter: str, kinds: list[str],
                  speaker_number: int, seed: int) -> list[str]:
    """<speaker>/<chapter>/<speaker>-<chapter>-<nnnn>.flac + .trans.txt under `folder`; the ids."""
    chapter_dir = folder / speaker / chapter
    chapter_dir.mkdir(parents=True)
    texts = sentences(len(kinds), seed, words=(3, 5))
    lines, ids = [], []
    for number, (kind, text) in enumerate(zip(kinds, texts, strict=True)):
        utterance = f"{speaker}-{chapter}-{number:04d}"
        if kind == "short":
            text = "this transcript is far too long for so short a clip"
        if kind == "corrupt":
            (chapter_dir / f"{utterance}.flac").write_bytes(b"fLaC\x00\x00 not really flac")
        else:
            soundfile.write(chapter_dir / f"{utterance}.flac", speech(text, speaker_number, kind),
                            16000, format="FLAC")
        lines.append(f"{utterance} {'...' if kind == 'empty' else text.upper()}")
        ids.append(utterance)
    (chapter_dir / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return ids


def librispeech_tree(directory: Path, layout: dict | None = None, first_speaker: int = 0
                     ) -> Path:
    """A LibriSpeech/ root (openslr 12 layout) under `directory`, LIBRISPEECH_LAYOUT by default."""
    root = directory / "LibriSpeech"
    speaker_number = first_speaker
    for split, chapters in (layout or LIBRISPEECH_LAYOUT).items():
        for (speaker, chapter), kinds in chapters.items():
            write_chapter(root / split, speaker, chapter, kinds, speaker_number,
                          seed=1000 + speaker_number)
            speaker_number += 1
    return root


def librilight_tree(directory: Path) -> dict[str, list[str]]:
    """`directory`/librispeech_finetuning (LIBRILIGHT_FOLDERS) and `directory`/LibriSpeech (its
    dev and test sets); returns each fine-tuning folder's utterance ids."""
    finetuning = directory / "librispeech_finetuning"
    ids = {}
    for number, (folder, count) in enumerate(LIBRILIGHT_FOLDERS.items()):
        speaker, chapter = str(4000 + number), str(500 + number)
        ids[folder] = write_chapter(finetuning / folder, speaker, chapter, ["speech"] * count,
                                    speaker_number=number, seed=2000 + number)
    (finetuning / "phones").mkdir()  # the phone transcriptions the tarball also holds
    librispeech_tree(directory, LIBRILIGHT_EVAL_LAYOUT, first_speaker=len(LIBRILIGHT_FOLDERS))
    return ids


def copy_tree(source: Path, target: Path) -> Path:
    """A copy of a built tree, for a test to break without touching the shared one."""
    shutil.copytree(source, target)
    return target
