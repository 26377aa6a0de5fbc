"""One interface over where audio comes from: a hub dataset, a local dataset or corpus tree
(harness.data.corpora: TIMIT, LibriSpeech, Libri-light), the synthetic corpus.

A source yields `RawUtterance`s per split and has a cheap `cache_key` (no decoding): a hub
dataset's own fingerprints, or the names, sizes and modification times of local files, so an
edited local corpus is prepared again while an unchanged one is reused. `official_subsets` names
training sets a corpus publishes (Libri-light's 10 min / 1 h / 10 h); most have none.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets

from harness.config.settings import DataSpec
from harness.data.audio import AudioRef
from harness.data.corpora import CORPUS_SCHEMAS, open_corpus
from harness.data.schemas import DIALECT_COLUMN, RawUtterance, column_map, resolve_columns
from harness.errors import UserError
from harness.files import content_hash

MANIFEST_SUFFIXES = (".jsonl", ".csv")


class DatasetSource:
    """Splits held as `datasets.Dataset`s: a hub dataset, save_to_disk output, an audiofolder."""

    def __init__(self, splits: dict[str, datasets.Dataset], spec: DataSpec, description: str,
                 base_dir: Path | None = None, key: Any = None):
        self._splits = splits
        self._columns = column_map(spec.schema_name, spec.columns)
        self.description = description
        self._base_dir = base_dir
        self._key = key

    def split_names(self) -> list[str]:
        return list(self._splits)

    def cache_key(self) -> str:
        fingerprints = {name: getattr(ds, "_fingerprint", None)
                        for name, ds in self._splits.items()}
        return content_hash({"source": self._key, "fingerprints": fingerprints})

    def read(self, split: str) -> Iterator[RawUtterance]:
        dataset = self._splits[split]
        where = f"{self.description} split {split!r}"
        columns = resolve_columns(self._columns, dataset.column_names, where)
        audio_column = columns["audio"]
        if isinstance(dataset.features.get(audio_column), datasets.Audio):
            # Undecoded: bytes/path come through and decoding errors become counted skips.
            dataset = dataset.cast_column(audio_column, datasets.Audio(decode=False))
        dialect = DIALECT_COLUMN if DIALECT_COLUMN in dataset.column_names else None
        wanted = [c for c in dict.fromkeys([*columns.values(), dialect]) if c is not None]
        for index, row in enumerate(dataset.select_columns(wanted)):
            utterance_id = row[columns["id"]] if columns["id"] else f"{split}-{index}"
            yield RawUtterance(
                id=str(utterance_id),
                speaker=None if columns["speaker"] is None or row[columns["speaker"]] is None
                else str(row[columns["speaker"]]),
                text=row[columns["text"]],
                audio=self._audio_ref(row[audio_column]),
                row=f"{where} row {index}",
                dialect_region=None if dialect is None or row[dialect] is None
                else str(row[dialect]),
            )

    def official_subsets(self) -> dict:
        return {}

    def _audio_ref(self, value: Any) -> AudioRef:
        if isinstance(value, dict):
            if value.get("array") is not None:
                return AudioRef(array=value["array"], sampling_rate=value.get("sampling_rate"))
            path = value.get("path")
            return AudioRef(path=self._resolve(path), data=value.get("bytes"))
        return AudioRef(path=self._resolve(value))

    def _resolve(self, path: str | None) -> str | None:
        if path and self._base_dir is not None and not os.path.isabs(path):
            return str(self._base_dir / path)
        return path


class ManifestSource:
    """`{split}.jsonl` / `{split}.csv` manifests of path,text[,speaker][,id] (paths relative to
    the manifest), or one manifest file whose `split` column names each row's split."""

    def __init__(self, files: dict[str, Path], spec: DataSpec, description: str,
                 split_column: bool = False):
        self._files = files
        self._columns = column_map(spec.schema_name, spec.columns)
        self._split_column = split_column
        self.description = description

    def split_names(self) -> list[str]:
        if not self._split_column:
            return list(self._files)
        path = next(iter(self._files.values()))
        return list(dict.fromkeys(str(row.get("split")) for _, row in _manifest_rows(path)))

    def cache_key(self) -> str:
        directories = {path.parent for path in self._files.values()}
        return content_hash({"manifests": sorted(map(str, self._files.values())),
                             "files": [_tree_listing(d) for d in sorted(directories)]})

    def official_subsets(self) -> dict:
        return {}

    def read(self, split: str) -> Iterator[RawUtterance]:
        path = self._files[split] if not self._split_column else next(iter(self._files.values()))
        rows = [(where, row) for where, row in _manifest_rows(path)
                if not self._split_column or str(row.get("split")) == split]
        if not rows:
            return
        columns = resolve_columns(self._columns, list(rows[0][1]), str(path))
        problems = [f"{where}: no {role} field {columns[role]!r}" for where, row in rows
                    for role in ("audio", "text") if columns[role] not in row]
        if problems:
            raise UserError("\n".join(problems[:20]))
        for index, (where, row) in enumerate(rows):
            audio_path = str(row[columns["audio"]])
            if not os.path.isabs(audio_path):
                audio_path = str(path.parent / audio_path)
            speaker = row.get(columns["speaker"]) if columns["speaker"] else None
            yield RawUtterance(
                id=str(row[columns["id"]]) if columns["id"] and row.get(columns["id"]) is not None
                else row[columns["audio"]] or f"{split}-{index}",
                speaker=None if speaker in (None, "") else str(speaker),
                text=row[columns["text"]],
                audio=AudioRef(path=audio_path),
                row=where,
            )


def _manifest_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """(file:line, row) of a JSONL or CSV manifest; a malformed line is a UserError naming it."""
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise UserError(f"{path}:{line_no}: not valid JSON ({error.msg})") from None
                if not isinstance(row, dict):
                    raise UserError(f"{path}:{line_no}: expected a JSON object")
                yield f"{path}:{line_no}", row
    else:
        with path.open(encoding="utf-8", newline="") as handle:
            for line_no, row in enumerate(csv.DictReader(handle), start=2):
                yield f"{path}:{line_no}", row


def _tree_listing(directory: Path) -> list:
    """(relative path, size, mtime) of every file below `directory`: a cheap change detector."""
    listing = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            stat = path.stat()
            listing.append((str(path.relative_to(directory)), stat.st_size, stat.st_mtime_ns))
    return listing


def open_source(spec: DataSpec, cache_root: Path):
    """The source a data section names (the synthetic corpus is built into the cache first)."""
    if spec.source == "hf":
        return _hub_source(spec)
    if spec.source == "synthetic":
        return _synthetic_source(spec, cache_root)
    return _local_source(spec, Path(_expanded(spec.path)))


def _needed_splits(spec: DataSpec) -> list[str]:
    return [s for s in (spec.train_split, spec.test_split, spec.dev_split) if s is not None]


def _hub_source(spec: DataSpec) -> DatasetSource:
    splits = {}
    for split in _needed_splits(spec):
        try:
            splits[split] = datasets.load_dataset(spec.name, spec.config, split=split,
                                                  data_dir=_expanded(spec.data_dir))
        except Exception as error:  # offline, unknown name, missing data_dir: say which
            raise UserError(
                f"data.name {spec.name!r} (config {spec.config!r}, split {split!r}) could not "
                f"be loaded: {type(error).__name__}: {error}"
            ) from error
    # Path columns (TIMIT's `file`) are read relative to the data_dir the dataset was built from.
    return DatasetSource(splits, spec, f"hub dataset {spec.name}",
                         base_dir=Path(_expanded(spec.data_dir)) if spec.data_dir else None,
                         key={"name": spec.name, "config": spec.config, "dir": spec.data_dir})


def _expanded(path: str | None) -> str | None:
    return os.path.expanduser(path) if path else path


def _local_source(spec: DataSpec, path: Path):
    if not path.exists():
        raise UserError(f"data.path {str(path)!r}: no such file or directory")
    if path.is_file():
        if path.suffix not in MANIFEST_SUFFIXES:
            raise UserError(f"data.path {str(path)!r}: a manifest must be .jsonl or .csv")
        return ManifestSource({"*": path}, spec, f"manifest {path}", split_column=True)
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        return _saved_dataset(spec, path)
    if spec.schema_name == "librilight":  # a corpus tree only
        return open_corpus(spec, path)
    manifests = {p.stem: p for p in sorted(path.iterdir())
                 if p.is_file() and p.suffix in MANIFEST_SUFFIXES and not p.name.startswith(".")
                 and not p.stem.startswith("metadata")}
    if manifests:
        return ManifestSource(manifests, spec, f"manifests in {path}")
    folders = _audiofolder_metadata(path)
    if folders:
        return ManifestSource(folders, spec, f"audiofolder {path}")
    if spec.schema_name in CORPUS_SCHEMAS:  # TIMIT or LibriSpeech as distributed
        return open_corpus(spec, path)
    raise UserError(
        f"data.path {str(path)!r}: not a save_to_disk dataset, an audiofolder (metadata.csv/"
        "jsonl), a directory of {split}.jsonl/.csv manifests, or (with data.schema timit, "
        "librispeech or librilight) that corpus's tree as distributed"
    )


def _audiofolder_metadata(path: Path) -> dict[str, Path]:
    """Split -> metadata file of an audiofolder: `<split>/metadata.csv|jsonl` (or one at the
    root, a single train split). Read directly rather than through datasets' audiofolder builder,
    which needs torchcodec to decode and would turn one corrupt file into a failed load."""
    found = {}
    for suffix in MANIFEST_SUFFIXES:
        if (path / f"metadata{suffix}").is_file():
            found.setdefault("train", path / f"metadata{suffix}")
        for metadata in sorted(path.glob(f"*/metadata{suffix}")):
            found.setdefault(metadata.parent.name, metadata)
    return found


def _saved_dataset(spec: DataSpec, path: Path) -> DatasetSource:
    loaded = datasets.load_from_disk(str(path))
    splits = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
    return DatasetSource(splits, spec, f"saved dataset {path}", base_dir=path,
                         key={"path": str(path.resolve()), "files": _tree_listing(path)})


def synthetic_corpus_dir(spec: DataSpec, cache_root: Path) -> Path:
    """Where the synthetic corpus of these settings lives in the cache."""
    from harness.synth.corpus import VERSION as SYNTH_VERSION
    from harness.synth.voices import POOLS

    synth = spec.synth
    pool = POOLS[synth.voices]
    # The pool's speakers are part of the key: editing a pool must not reuse a corpus built
    # with the old speakers.
    key = content_hash({"train": synth.train, "test": synth.test, "seed": synth.seed,
                        "voices": synth.voices, "format": SYNTH_VERSION,
                        "speakers": [s.name for s in (*pool.train, *pool.held_out)]})
    return Path(cache_root) / "synth" / key


def _synthetic_source(spec: DataSpec, cache_root: Path) -> ManifestSource:
    from harness.synth.corpus import build_corpus

    synth = spec.synth
    out = synthetic_corpus_dir(spec, cache_root)
    build_corpus(out, train_seconds=synth.train, test_seconds=synth.test, seed=synth.seed,
                 voice_pool=synth.voices)
    test_file = "test_held_out_voices" if synth.test_voices == "held_out" else "test"
    # The corpus's own split names become the suite's defaults (train/test).
    files = {"train": out / "train.jsonl", "test": out / f"{test_file}.jsonl"}
    return ManifestSource(files, spec, f"synthetic corpus {out}")
