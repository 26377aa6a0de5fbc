"""One interface over where audio comes from: a hub dataset, a local dataset or corpus tree
(harness.data.corpora: TIMIT, LibriSpeech, Libri-light), the synthetic corpus.

A source yields `RawUtterance`s per split and has a cheap `cache_key` (no decoding): a hub
dataset's own fingerprints, or the names, sizes and modification times of local files, so an
edited local corpus is prepared again while an unchanged one is reused. `official_subsets` names
training sets a corpus publishes (Libri-light's 10 min / 1 h / 10 h); most have none.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets

from harness.config.settings import DataSpec
from harness.data.audio import AudioRef
from harness.data.corpora import CORPUS_SCHEMAS, open_corpus
from harness.data.manifests import problem_list, read_manifest
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
    the manifest), or one manifest file whose `split` column names each row's split.

    The cache key is the manifests and the audio files their rows name (names, sizes and
    modification times), so a runs/ or reports/ folder beside them never prepares again. The
    synthetic corpus (`tree_key=True`) keeps its original key, the listing of its cache
    directory, which nothing but the corpus builder writes into: its pools stay valid.
    """

    def __init__(self, files: dict[str, Path], spec: DataSpec, description: str,
                 split_column: bool = False, tree_key: bool = False):
        self._files = files
        self._columns = column_map(spec.schema_name, spec.columns)
        self._split_column = split_column
        self._tree_key = tree_key
        self._needed = _needed_splits(spec)  # only these are read, so only these key the cache
        self.description = description
        self._manifests: dict[Path, list[tuple[str, dict]]] = {}
        self._utterances: dict[str, list[RawUtterance]] = {}

    def split_names(self) -> list[str]:
        if not self._split_column:
            return list(self._files)
        path = next(iter(self._files.values()))
        return list(dict.fromkeys(str(row.get("split")) for _, row in self._rows(path)))

    def cache_key(self) -> str:
        if self._tree_key:
            directories = {path.parent for path in self._files.values()}
            return content_hash({"manifests": sorted(map(str, self._files.values())),
                                 "files": [_tree_listing(d) for d in sorted(directories)]})
        # A split that is not there keys nothing: preparation stops on it, naming the splits.
        splits = [split for split in self._needed if split in self.split_names()]
        manifests = sorted({self._manifest(split) for split in splits})
        audio = sorted({utterance.audio.path for split in splits
                        for utterance in self._split(split)})
        return content_hash({"manifests": [(str(path), _stamp(path)) for path in manifests],
                             "audio": [(path, _stamp(Path(path))) for path in audio]})

    def official_subsets(self) -> dict:
        return {}

    def read(self, split: str) -> Iterator[RawUtterance]:
        yield from self._split(split)

    def _manifest(self, split: str) -> Path:
        return self._files[split] if not self._split_column else next(iter(self._files.values()))

    def _rows(self, path: Path) -> list[tuple[str, dict]]:
        if path not in self._manifests:
            self._manifests[path] = read_manifest(path)
        return self._manifests[path]

    def _split(self, split: str) -> list[RawUtterance]:
        """The split's rows as utterances; every malformed row of it is one UserError."""
        if split in self._utterances:
            return self._utterances[split]
        path = self._manifest(split)
        rows = [(where, row) for where, row in self._rows(path)
                if not self._split_column or str(row.get("split")) == split]
        utterances: list[RawUtterance] = []
        if rows:
            columns = resolve_columns(self._columns, list(rows[0][1]), str(path))
            problems = [problem for where, row in rows for problem in _row_problems(where, row,
                                                                                     columns)]
            if problems:
                raise UserError(problem_list(problems))
            utterances = [_utterance(where, row, columns, path, split, index)
                          for index, (where, row) in enumerate(rows)]
        self._utterances[split] = utterances
        return utterances


def _row_problems(where: str, row: dict, columns: dict) -> list[str]:
    """What makes a manifest row unusable as written: a missing field, an audio path that is
    not a path (`"path": null` is not a file named None), a transcript that is not text."""
    problems = [f"{where}: no {role} field {columns[role]!r}" for role in ("audio", "text")
                if columns[role] not in row]
    audio = row.get(columns["audio"])
    if columns["audio"] in row and not (isinstance(audio, str) and audio.strip()):
        problems.append(f"{where}: {columns['audio']} must be an audio file path, got {audio!r}")
    text = row.get(columns["text"])
    # null is a missing transcript (a counted skip); 123 or true is a mistake in the manifest.
    if text is not None and not isinstance(text, str):
        problems.append(f"{where}: {columns['text']} must be a string, got {text!r}")
    return problems


def _utterance(where: str, row: dict, columns: dict, manifest: Path, split: str,
               index: int) -> RawUtterance:
    audio_path = row[columns["audio"]]
    if not os.path.isabs(audio_path):
        audio_path = str(manifest.parent / audio_path)
    speaker = row.get(columns["speaker"]) if columns["speaker"] else None
    return RawUtterance(
        id=str(row[columns["id"]]) if columns["id"] and row.get(columns["id"]) is not None
        else row[columns["audio"]] or f"{split}-{index}",
        speaker=None if speaker in (None, "") else str(speaker),
        text=row[columns["text"]],
        audio=AudioRef(path=audio_path),
        row=where,
    )


def _stamp(path: Path) -> tuple[int, int] | None:
    """(size, mtime) of a file, None when it is absent (preparation counts it `missing`)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _tree_listing(directory: Path) -> list:
    """(relative path, size, mtime) of every file below `directory`: a cheap change detector.
    A dangling symlink has no content to detect a change in: it is left out."""
    listing = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
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
    dev = {"dev": synth.dev} if synth.dev else {}  # absent at 0: earlier corpora keep their key
    key = content_hash({"train": synth.train, "test": synth.test, "seed": synth.seed,
                        "voices": synth.voices, "format": SYNTH_VERSION,
                        "speakers": [s.name for s in (*pool.train, *pool.held_out)], **dev})
    return Path(cache_root) / "synth" / key


def _synthetic_source(spec: DataSpec, cache_root: Path) -> ManifestSource:
    from harness.synth.corpus import build_corpus

    synth = spec.synth
    out = synthetic_corpus_dir(spec, cache_root)
    build_corpus(out, train_seconds=synth.train, test_seconds=synth.test, seed=synth.seed,
                 voice_pool=synth.voices, dev_seconds=synth.dev)
    test_file = "test_held_out_voices" if synth.test_voices == "held_out" else "test"
    # The corpus's own split names become the suite's defaults (train/test).
    files = {"train": out / "train.jsonl", "test": out / f"{test_file}.jsonl"}
    if synth.dev:
        files["dev"] = out / "dev.jsonl"
    return ManifestSource(files, spec, f"synthetic corpus {out}", tree_key=True)
