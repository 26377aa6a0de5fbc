"""Corpus trees as they are distributed: LDC TIMIT, LibriSpeech (openslr 12), Libri-light's
`librispeech_finetuning`. Read from disk directly: datasets >= 4 runs no loading scripts.

Each split a run needs is indexed once per source, in one pass: directory listings (names, sizes
and modification times; no audio file is opened) and each transcript file read once. The index
is the cache key, so an edited transcript or a replaced file prepares again while an unchanged
tree is reused, and it is checked before anything is decoded: a flac without its transcript
line, a line without its flac, an empty or unknown split is a UserError naming the file, line
or split, never a silent drop.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.config.settings import DataSpec
from harness.data.audio import AudioRef
from harness.data.schemas import RawUtterance
from harness.errors import UserError

CORPUS_SCHEMAS = ("timit", "librispeech", "librilight")
# Libri-light's official limited-resource training sets (Kahn et al., 2020), as wav2vec 2.0
# fine-tunes on them: `data.labeled` of exactly this much audio selects these folders.
LIBRILIGHT_SUBSETS = {
    "10min": (600.0, ("1h/0",)),
    "1h": (3600.0, tuple(f"1h/{fold}" for fold in range(6))),
    "10h": (36000.0, (*(f"1h/{fold}" for fold in range(6)), "9h")),
}
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class IndexedSplit:
    """One split's utterances in a fixed order, and a digest of everything that keys the cache."""

    utterances: list[RawUtterance]
    digest: str
    folders: list[str]  # per utterance: the folder group it came from (Libri-light: "1h/0")


class CorpusSource:
    """Splits of a corpus tree (split name -> a function indexing it), indexed on first use."""

    def __init__(self, kind: str, description: str,
                 splits: dict[str, Callable[[list[str]], list[tuple[RawUtterance, str, str]]]],
                 needed: dict[str, str], hint: str = ""):
        self.kind = kind
        self.description = description
        self._splits = splits
        self._needed = needed  # setting name -> split, e.g. data.test_split -> test-clean
        self._hint = hint
        self._index: dict[str, IndexedSplit] = {}

    def split_names(self) -> list[str]:
        return list(self._splits)

    def cache_key(self) -> str:
        """The index of the needed splits: ids, speakers, transcripts, file sizes and mtimes."""
        unknown = [f"{setting} {split!r}" for setting, split in self._needed.items()
                   if split not in self._splits]
        if unknown:
            raise UserError(f"{self.description}: no split for {', '.join(unknown)} (splits: "
                            f"{', '.join(self._splits) or 'none'}){self._hint}")
        digest = hashlib.sha256(f"{self.kind}\n".encode())
        for split in dict.fromkeys(self._needed.values()):
            digest.update(f"{split}\t{self._split(split).digest}\n".encode())
        return digest.hexdigest()[:16]

    def read(self, split: str) -> Iterator[RawUtterance]:
        yield from self._split(split).utterances

    def official_subsets(self) -> dict[str, dict]:
        """Libri-light's official training sets: name -> {seconds, folders, ids}; else none."""
        if self.kind != "librilight" or "train" not in self._needed.values():
            return {}
        indexed = self._split("train")
        return {name: {"seconds": seconds, "folders": list(folders),
                       "ids": [u.id for u, folder in zip(indexed.utterances, indexed.folders,
                                                         strict=True) if folder in folders]}
                for name, (seconds, folders) in LIBRILIGHT_SUBSETS.items()}

    def _split(self, split: str) -> IndexedSplit:
        if split not in self._index:
            problems: list[str] = []
            rows = self._splits[split](problems)
            if not rows and not problems:
                problems.append(f"split {split!r} holds no utterance")
            if problems:
                more = len(problems) - MAX_PROBLEMS
                raise UserError(f"{self.description}, split {split!r}:\n  "
                                + "\n  ".join(problems[:MAX_PROBLEMS])
                                + (f"\n  ... and {more} more" if more > 0 else ""))
            digest = hashlib.sha256()
            for utterance, _, stamp in rows:
                digest.update(f"{utterance.id}\t{utterance.speaker}\t{utterance.dialect_region}"
                              f"\t{utterance.text}\t{stamp}\n".encode())
            self._index[split] = IndexedSplit([u for u, _, _ in rows], digest.hexdigest(),
                                              [folder for _, folder, _ in rows])
        return self._index[split]


def open_corpus(spec: DataSpec, path: Path) -> CorpusSource:
    """The corpus tree of `data.schema` at `path` (timit, librispeech or librilight)."""
    needed = {f"data.{role}_split": split for role, split in
              (("train", spec.train_split), ("test", spec.test_split), ("dev", spec.dev_split))
              if split is not None}
    if spec.schema_name == "timit":
        return _timit(path, needed)
    if spec.schema_name == "librispeech":
        return _librispeech(path, needed)
    return _librilight(path, spec.librispeech_path, needed)


# TIMIT ----------------------------------------------------------------------------------------


def _timit(path: Path, needed: dict[str, str]) -> CorpusSource:
    splits = {folder.name.lower(): folder for folder in _subdirs(path)
              if folder.name.upper() in ("TRAIN", "TEST")}
    if not splits:
        inner = [f"{folder}" for folder in _subdirs(path)
                 if any(sub.name.upper() == "TRAIN" for sub in _subdirs(folder))]
        raise UserError(
            f"data.path {str(path)!r} (schema timit): no TRAIN/ or TEST/ folder; data.path is "
            "the TIMIT root holding TRAIN/DR1..DR8/<speaker>/<utt>.WAV"
            + (f" (did you mean {inner[0]!r}?)" if inner else ""))
    return CorpusSource("timit", f"TIMIT tree {path}",
                        {name: _timit_reader(folder) for name, folder in sorted(splits.items())},
                        needed)


def _timit_reader(folder: Path):
    def index(problems: list[str]) -> list[tuple[RawUtterance, str, str]]:
        rows = []
        for region in _subdirs(folder):
            for speaker in _subdirs(region):
                rows += _timit_speaker(region.name.upper(), speaker, problems)
        if not rows and not problems:
            problems.append(f"{folder}: no <region>/<speaker>/<utt>.WAV with its <utt>.TXT")
        return rows
    return index


def _timit_speaker(region: str, folder: Path, problems: list[str]) -> list:
    audio, texts = {}, {}
    for entry in os.scandir(folder):
        stem, _, suffix = entry.name.partition(".")
        # Only NAME.WAV: the RIFF copies some redistributions add (SA1.WAV.wav) are skipped.
        if suffix.lower() == "wav":
            audio[stem.upper()] = entry
        elif suffix.lower() == "txt":
            texts[stem.upper()] = entry
    rows = []
    speaker = folder.name.upper()
    for stem in sorted(audio.keys() | texts.keys()):
        if stem not in texts:
            problems.append(f"{audio[stem].path}: no transcript {stem}.TXT beside it")
            continue
        if stem not in audio:
            problems.append(f"{texts[stem].path}: a transcript without its audio {stem}.WAV")
            continue
        text = _timit_text(Path(texts[stem].path), problems)
        stat = _stat(audio[stem], problems)
        if stat is None:
            continue
        rows.append((RawUtterance(id=f"{region}/{speaker}/{stem}", speaker=speaker, text=text,
                                  audio=AudioRef(path=audio[stem].path), row=audio[stem].path,
                                  dialect_region=region),
                     region, f"{stat.st_size}\t{stat.st_mtime_ns}"))
    return rows


def _timit_text(path: Path, problems: list[str]) -> str | None:
    """The sentence of a TIMIT .TXT: `0 46797 She had your dark suit in greasy wash water all
    year.` -> `She had your dark suit in greasy wash water all year.`"""
    lines = _lines(path, problems)
    first = next((line for _, line in lines if line.strip()), "")
    parts = first.split(maxsplit=2)
    if len(parts) < 3 or not (parts[0].isdigit() and parts[1].isdigit()):
        problems.append(f"{path}:1: expected 'START END sentence', got {first.strip()!r}")
        return None
    return parts[2].strip()


# LibriSpeech and Libri-light -------------------------------------------------------------------


def _librispeech(path: Path, needed: dict[str, str]) -> CorpusSource:
    root = _librispeech_root(path)
    return CorpusSource("librispeech", f"LibriSpeech tree {root}",
                        {folder.name: _librispeech_reader([(folder, folder.name)])
                         for folder in _subdirs(root)},
                        needed, hint="; split names are the folder names, e.g. test-clean")


def _librispeech_root(path: Path) -> Path:
    """`path`, or the LibriSpeech/ folder inside it (what the openslr tarballs extract)."""
    inner = path / "LibriSpeech"
    return inner if inner.is_dir() else path


def _librilight(path: Path, librispeech_path: str | None, needed: dict[str, str]
                ) -> CorpusSource:
    finetuning = path if (path / "1h").is_dir() else path / "librispeech_finetuning"
    folders = [(finetuning / "1h" / str(fold) / kind, f"1h/{fold}")
               for fold in range(6) for kind in ("clean", "other")]
    folders += [(finetuning / "9h" / kind, "9h") for kind in ("clean", "other")]
    missing = [str(folder) for folder, _ in folders if not folder.is_dir()]
    if missing:
        raise UserError(f"data.path {str(path)!r} (schema librilight): not Libri-light's "
                        f"librispeech_finetuning folder; missing {', '.join(missing[:4])}"
                        + (f" and {len(missing) - 4} more" if len(missing) > 4 else ""))
    evaluation = (Path(os.path.expanduser(librispeech_path)) if librispeech_path
                  else finetuning.parent / "LibriSpeech")
    splits = {"train": _librispeech_reader(folders)}
    if evaluation.is_dir():
        splits.update({folder.name: _librispeech_reader([(folder, folder.name)])
                       for folder in _subdirs(_librispeech_root(evaluation))})
    hint = (f"; dev and test splits are LibriSpeech's folders, read from {evaluation}"
            + ("" if evaluation.is_dir() else " (not found: set data.librispeech_path to the "
               "LibriSpeech root holding dev-clean/, test-clean/, ...)"))
    return CorpusSource("librilight", f"Libri-light tree {finetuning}", splits, needed, hint)


def _librispeech_reader(folders: list[tuple[Path, str]]):
    """Index LibriSpeech-layout folders (<speaker>/<chapter>/<id>.flac + trans.txt) in order."""
    def index(problems: list[str]) -> list[tuple[RawUtterance, str, str]]:
        rows = []
        for folder, group in folders:
            before = len(rows)
            for speaker in _subdirs(folder):
                for chapter in _subdirs(speaker):
                    rows += _librispeech_chapter(chapter, group, problems)
            if len(rows) == before and not problems:
                problems.append(f"{folder}: no <speaker>/<chapter>/<id>.flac with its "
                                "<speaker>-<chapter>.trans.txt")
        return rows
    return index


def _librispeech_chapter(folder: Path, group: str, problems: list[str]) -> list:
    flacs, transcripts = {}, []
    for entry in os.scandir(folder):
        if entry.name.startswith("."):  # e.g. macOS's ._<id>.flac
            continue
        if entry.name.endswith(".flac"):
            flacs[entry.name[: -len(".flac")]] = entry
        elif entry.name.endswith(".trans.txt"):
            transcripts.append(Path(entry.path))
    expected = folder / f"{folder.parent.name}-{folder.name}.trans.txt"
    texts: dict[str, str] = {}
    for transcript in sorted(transcripts):
        for line_no, line in _lines(transcript, problems):
            if not line.strip():
                continue
            utterance_id, _, text = line.strip().partition(" ")
            where = f"{transcript}:{line_no}"
            if utterance_id in texts:
                problems.append(f"{where}: {utterance_id} is transcribed twice")
            elif utterance_id not in flacs:
                problems.append(f"{where}: a transcript of {utterance_id} but no "
                                f"{utterance_id}.flac in {folder}")
            else:
                texts[utterance_id] = text.strip()
    rows = []
    speaker = folder.parent.name
    for stem in sorted(flacs):
        if stem not in texts:
            problems.append(f"{flacs[stem].path}: no line {stem!r} in {expected}"
                            + ("" if expected.exists() else " (no such file)"))
            continue
        stat = _stat(flacs[stem], problems)
        if stat is None:
            continue
        rows.append((RawUtterance(id=stem, speaker=speaker, text=texts[stem],
                                  audio=AudioRef(path=flacs[stem].path), row=flacs[stem].path),
                     group, f"{group}\t{stat.st_size}\t{stat.st_mtime_ns}"))
    return rows


# Shared ----------------------------------------------------------------------------------------


def _subdirs(folder: Path) -> list[Path]:
    """Visible sub-folders in upper-cased name order, so an upper- and a lower-case tree agree."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return sorted((Path(entry.path) for entry in entries
                   if entry.is_dir() and not entry.name.startswith(".")),
                  key=lambda p: p.name.upper())


def _stat(entry: os.DirEntry, problems: list[str]) -> os.stat_result | None:
    """An audio file's size and mtime for the index; a dangling symlink is a problem naming it."""
    try:
        return entry.stat()
    except OSError as error:
        problems.append(f"{entry.path}: a dangling symlink to {os.readlink(entry.path)!r}"
                        if entry.is_symlink() else f"{entry.path}: cannot be read ({error})")
        return None


def _lines(path: Path, problems: list[str]) -> list[tuple[int, str]]:
    """(line number, line) of a transcript file; an unreadable one is a problem naming it."""
    try:
        with path.open(encoding="utf-8") as handle:
            return list(enumerate(handle, start=1))
    except (OSError, UnicodeDecodeError) as error:
        problems.append(f"{path}: cannot be read as UTF-8 text ({error})")
        return []
