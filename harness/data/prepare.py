"""Prepared data for a run: the pool decoded once, a nested labeled subset, processor and report.

Cache layout (under $HARNESS_CACHE or .harness-cache/):

    synth/<key>/                 the synthetic corpus (when the source is synthetic)
    pools/<key>/                 train/test[/dev].arrow, processor/, pool.json: every usable
                                 utterance, keyed by (source fingerprint, splits, targets rule
                                 set + version, sample rate, duration filters, audio normalization)
    prepared/<key>/prepared.json a subset of a pool: the training indices (a prefix of a seeded
                                 order, so subsets nest; or a corpus's official set, Libri-light's
                                 10min/1h/10h), keyed by (pool key, labeled, subset seed,
                                 balancing, test/dev settings)

Only the training split is filtered (durations, CTC feasibility, the labeled subset). The test
split is scored as published: it loses only what cannot be scored (pool.py) and what
`test_max_utterances` cuts, and the data report counts both by reason. The dev split is a
seeded selection of `dev_utterances` (of the test split when there is no dev split).

Entries are written under a lock into a temporary sibling and renamed into place when complete,
so a killed preparation leaves nothing that looks finished; the next preparation removes the
temporary directory it left (harness.data.cache.sweep_stale_builds). A pool built because its
source changed (an edited manifest, a replaced audio file: same data settings, new content)
supersedes the pools of the old content, which no key can reach again: they are removed with the
subsets cut from them, so one dataset keeps one pool however often it is edited.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from harness.config.durations import format_duration
from harness.config.settings import RunSpec
from harness.data.cache import remove_entry, sweep_stale_builds
from harness.data.pool import overlap_problems, speaker_order, write_split
from harness.data.sources import open_source, synthetic_corpus_dir
from harness.errors import UserError
from harness.files import building, content_hash, locked, read_json, write_json
from harness.text.normalize import get_rule_set
from harness.text.vocab import build_vocab, encode, make_processor, oov_audit

# 2: rows carry dialect_region; test and dev splits are no longer filtered by duration or CTC.
POOL_FORMAT = 2
# The dev selection does not move with subset_seed, so dev curves of different subsets compare.
DEV_SEED = 0


@dataclass
class PreparedData:
    """What a run trains and is tested on."""

    dir: Path
    key: str
    fingerprint: str
    train: datasets.Dataset
    dev: datasets.Dataset
    test: datasets.Dataset
    processor: Any
    vocab: dict[str, int]
    report: dict

    @property
    def cache_root(self) -> Path:
        """The cache this dataset was prepared in (<cache>/prepared/<key>/)."""
        return self.dir.parent.parent

    @property
    def features_root(self) -> Path:
        """Where training caches frozen feature-encoder outputs (harness.train.features)."""
        return self.cache_root / "features"


def _pool_settings(spec: RunSpec) -> dict:
    data = spec.data
    targets = get_rule_set(spec.text.targets)
    return {
        "format": POOL_FORMAT,
        "splits": {"train": data.train_split, "test": data.test_split, "dev": data.dev_split},
        "targets": {"name": targets.name, "version": targets.version},
        "sample_rate": data.sample_rate,
        "min_seconds": data.min_seconds,
        "max_seconds": data.max_seconds,
        "normalize_audio": data.normalize_audio,
    }


def _subset_settings(spec: RunSpec) -> dict:
    data = spec.data
    return {"labeled": data.labeled, "subset_seed": data.subset_seed,
            "balance_speakers": data.balance_speakers,
            "test_max_utterances": data.test_max_utterances,
            "dev_utterances": data.dev_utterances, "dev_split": data.dev_split}


# Data settings that only cut a subset out of a pool; all the others pick and decode its source.
_SUBSET_ONLY = ("labeled", "subset_seed", "balance_speakers", "test_max_utterances",
                "dev_utterances")


def _pool_identity(spec: RunSpec) -> str:
    """What a pool is a pool of, whatever its source holds today: two pools that agree on it
    differ only in the source's content, and the newer one supersedes the older."""
    data = {name: value for name, value in spec.data.model_dump(mode="json", by_alias=True).items()
            if name not in _SUBSET_ONLY}
    for name in ("path", "data_dir", "librispeech_path"):
        if data.get(name):
            data[name] = str(Path(os.path.expanduser(data[name])).resolve())
    return content_hash({"data": data, **_pool_settings(spec)})


def _keys(spec: RunSpec, source) -> tuple[str, str]:
    pool_key = content_hash({"source": source.cache_key(), **_pool_settings(spec)})
    return pool_key, content_hash({"pool": pool_key, **_subset_settings(spec)})


def is_prepared(spec: RunSpec, cache_root: Path) -> bool:
    """Whether `prepare` would only load from the cache (nothing decoded or built)."""
    cache_root = Path(cache_root)
    if spec.data.source == "synthetic" and not synthetic_corpus_dir(spec.data, cache_root).exists():
        return False
    pool_key, key = _keys(spec, open_source(spec.data, cache_root))
    return ((cache_root / "pools" / pool_key / "pool.json").exists()
            and (cache_root / "prepared" / key / "prepared.json").exists())


def prepare(spec: RunSpec, cache_root: Path) -> PreparedData:
    """The run's data, from the cache or built (pool once per source+settings, subset per run)."""
    cache_root = Path(cache_root)
    sweep_stale_builds(cache_root)
    source = open_source(spec.data, cache_root)
    pool_key, key = _keys(spec, source)
    pool_dir = cache_root / "pools" / pool_key
    with locked(pool_dir):
        if not (pool_dir / "pool.json").exists():
            with building(pool_dir) as tmp:
                _build_pool(spec, source, tmp, pool_key)
            _remove_superseded(cache_root, pool_key, _pool_identity(spec))
    pool = read_json(pool_dir / "pool.json")
    prepared_dir = cache_root / "prepared" / key
    with locked(prepared_dir):
        if not (prepared_dir / "prepared.json").exists():
            with building(prepared_dir) as tmp:
                write_json(tmp / "prepared.json", _select(spec, pool_dir, pool, key))
    return _load(prepared_dir, pool_dir, pool)


def _remove_superseded(cache_root: Path, pool_key: str, identity: str) -> None:
    """Remove the other pools of this identity (pool.json "identity"; older pools have none and
    are kept) and the prepared subsets cut from them. One being read or built right now (its
    lock held) stays, to go at the next rebuild."""
    removed = set()
    for pool_json in sorted((cache_root / "pools").glob("*/pool.json")):
        if pool_json.parent.name == pool_key:
            continue
        try:
            superseded = read_json(pool_json).get("identity") == identity
        except (OSError, ValueError, AttributeError):
            continue
        if superseded and remove_entry(pool_json.parent):
            removed.add(pool_json.parent.name)
    if not removed:
        return
    for prepared_json in sorted((cache_root / "prepared").glob("*/prepared.json")):
        try:
            orphan = read_json(prepared_json).get("pool_key") in removed
        except (OSError, ValueError, AttributeError):
            continue
        if orphan:
            remove_entry(prepared_json.parent)


@dataclass(frozen=True)
class DatasetOutcome:
    """One distinct dataset of a suite: prepared (or reused from the cache), or why it failed."""

    key: str
    prepared: PreparedData | None
    reused: bool = False
    error: str | None = None


def prepare_suite(runs: Sequence, cache_root: Path,
                  on_start: Callable[[str, bool], None] | None = None) -> list[DatasetOutcome]:
    """Every distinct dataset the runs need (harness.config.suite.Run), once, in first-use order.

    A dataset that cannot be prepared is an outcome with its error, not an exception, so one
    broken dataset fails only the runs that need it. `on_start(key, reused)` is called before
    each dataset is prepared or loaded.
    """
    outcomes = []
    for key in dict.fromkeys(run.data_key for run in runs):
        spec = next(run.spec for run in runs if run.data_key == key)
        try:
            reused = is_prepared(spec, cache_root)
            if on_start is not None:
                on_start(key, reused)
            outcomes.append(DatasetOutcome(key, prepare(spec, cache_root), reused))
        except (UserError, OSError, ValueError) as error:
            outcomes.append(DatasetOutcome(key, None, error=str(error)))
    return outcomes


def _build_pool(spec: RunSpec, source, directory: Path, pool_key: str) -> None:
    data = spec.data
    roles = {"train": data.train_split, "test": data.test_split}
    if data.dev_split:
        roles["dev"] = data.dev_split
    if data.train_split in (data.test_split, data.dev_split):
        raise UserError(f"data.train_split {data.train_split!r} is also the test or dev split: "
                        "evaluation audio must never come from the training pool")
    available = source.split_names()
    missing = [f"data.{role}_split {split!r}" for role, split in roles.items()
               if split not in available]
    if missing:
        raise UserError(f"{source.description}: no split for {', '.join(missing)} "
                        f"(splits: {', '.join(available)})")
    targets = get_rule_set(spec.text.targets)
    tallies, written = {}, 0
    for role, split in roles.items():
        tallies[role] = write_split(source.read(split), directory / f"{role}.arrow", data, targets,
                                    written_before=written, training=role == "train")
        written += tallies[role].utterances
    problems = [p for role in roles if role != "train"
                for p in overlap_problems(tallies["train"], tallies[role], role)]
    if problems:
        raise UserError(f"{source.description}: " + "; ".join(problems))
    for role in ("train", "test"):
        if tallies[role].utterances == 0:
            raise UserError(f"{source.description}: split {roles[role]!r} has no usable "
                            f"utterance (skipped: {dict(tallies[role].skipped)})")
    train_texts = datasets.Dataset.from_file(str(directory / "train.arrow"))["text"]
    vocab = build_vocab(train_texts)  # the pool's alphabet: nested subsets share one label set
    make_processor(vocab, sampling_rate=data.sample_rate,
                   do_normalize=data.normalize_audio).save_pretrained(str(directory / "processor"))
    write_json(directory / "pool.json", {
        "key": pool_key,
        "identity": _pool_identity(spec),  # which older pools this one supersedes
        "source": source.description,
        "settings": _pool_settings(spec),
        "fingerprint": content_hash({role: t.digest.hexdigest() for role, t in tallies.items()},
                                    length=64),
        "splits": {role: tally.summary() for role, tally in tallies.items()},
        "vocab": vocab,
        "official_subsets": source.official_subsets(),
    })


def _select(spec: RunSpec, pool_dir: Path, pool: dict, key: str) -> dict:
    """The labeled subset: the shortest prefix of the seeded order reaching the requested time,
    or the corpus's official set of exactly that much audio (Libri-light)."""
    data = spec.data
    train = datasets.Dataset.from_file(str(pool_dir / "train.arrow"))
    durations = np.asarray(train["duration"], dtype=np.float64)
    speakers = train["speaker"]
    total = float(durations.sum())
    official = _official_subset(data.labeled, pool)
    if data.labeled is None:
        indices = np.arange(len(durations))
    elif official is not None:
        wanted = set(official["ids"])
        indices = np.asarray([i for i, utterance_id in enumerate(train["id"])
                              if utterance_id in wanted], dtype=np.int64)
    else:
        if data.labeled > total + 1e-6:
            raise UserError(
                f"data.labeled asks for {format_duration(data.labeled)} of labeled audio but the "
                f"training pool holds {format_duration(total)} ({len(durations)} usable "
                f"utterances of split {data.train_split!r})"
            )
        order = speaker_order(durations, speakers, data.subset_seed, data.balance_speakers)
        reached = np.cumsum(durations[order]) >= data.labeled - 1e-9
        indices = np.sort(order[: int(np.argmax(reached)) + 1])
    subset_seconds = float(durations[indices].sum())
    return {
        "key": key,
        "pool_key": pool["key"],
        "settings": _subset_settings(spec),
        "train_indices": indices.tolist(),
        "labeled": {
            "requested_seconds": data.labeled,
            "seconds": round(subset_seconds, 3),
            "hours": round(subset_seconds / 3600, 4),
            "utterances": int(len(indices)),
            "speakers": len({speakers[i] for i in indices}),
            **({} if official is None else {
                "official": official["name"], "official_folders": official["folders"],
                "official_utterances": len(official["ids"]),
                # official utterances the training filters skipped (e.g. above max_seconds)
                "official_skipped": len(official["ids"]) - int(len(indices)),
            }),
        },
        "fingerprint": content_hash({"pool": pool["fingerprint"], "train": indices.tolist(),
                                     **_subset_settings(spec)}, length=64),
    }


def _load(prepared_dir: Path, pool_dir: Path, pool: dict) -> PreparedData:
    from transformers import Wav2Vec2Processor

    prepared = read_json(prepared_dir / "prepared.json")
    vocab = pool["vocab"]
    split = {role: _with_labels(datasets.Dataset.from_file(str(pool_dir / f"{role}.arrow")), vocab)
             for role in pool["splits"]}
    settings = prepared["settings"]
    train = split["train"].select(prepared["train_indices"])
    test = split["test"]
    if settings["test_max_utterances"]:
        test = test.select(range(min(len(test), settings["test_max_utterances"])))
    # Monitoring only: from the dev split, else from the test set, never from the training pool.
    dev = split.get("dev", test)
    dev = dev.select(_dev_selection(len(dev), settings["dev_utterances"]))
    report = _report(pool, prepared, train, dev, test, vocab)
    return PreparedData(
        dir=prepared_dir, key=prepared["key"], fingerprint=prepared["fingerprint"],
        train=train, dev=dev, test=test,
        processor=Wav2Vec2Processor.from_pretrained(str(pool_dir / "processor")),
        vocab=vocab, report=report,
    )


def _official_subset(labeled: float | None, pool: dict) -> dict | None:
    """The corpus's official training set of exactly `labeled` seconds, with its name, if any."""
    if labeled is None:
        return None
    return next(({"name": name, **subset}
                 for name, subset in pool.get("official_subsets", {}).items()
                 if abs(subset["seconds"] - labeled) < 1e-6), None)


def _dev_selection(available: int, wanted: int) -> list[int]:
    """`wanted` of `available` dev rows, in their order: a prefix of one seeded permutation, so
    a larger selection holds a smaller one; everything when there are no more."""
    if available <= wanted:
        return list(range(available))
    return sorted(np.random.default_rng(DEV_SEED).permutation(available)[:wanted].tolist())


def _with_labels(dataset: datasets.Dataset, vocab: dict) -> datasets.Dataset:
    # Labels are cheap to recompute from the stored targets; adding the column leaves the
    # memory-mapped audio untouched.
    return dataset.add_column("labels", [encode(text, vocab) for text in dataset["text"]])


def _figures(dataset: datasets.Dataset) -> dict:
    seconds = float(np.sum(dataset["duration"])) if len(dataset) else 0.0
    return {"utterances": len(dataset), "seconds": round(seconds, 3),
            "hours": round(seconds / 3600, 4), "speakers": len(set(dataset["speaker"]))}


def _report(pool: dict, prepared: dict, train, dev, test, vocab: dict) -> dict:
    """The data report stored with every record: sizes, skips by reason, OOV test characters."""
    return {
        "source": pool["source"],
        "pool_key": pool["key"],
        "pool_fingerprint": pool["fingerprint"],
        "targets": pool["settings"]["targets"],
        "pool": {role: {k: v for k, v in figures.items() if k != "skipped_examples"}
                 for role, figures in pool["splits"].items()},
        "skipped_examples": {role: figures["skipped_examples"]
                             for role, figures in pool["splits"].items()
                             if figures["skipped_examples"]},
        "labeled": prepared["labeled"],
        "train": _figures(train), "dev": _figures(dev),
        "test": _test_figures(test, pool["splits"]["test"]),
        "vocab_size": len(vocab),
        "oov_test_characters": oov_audit(test["text"], vocab),
    }


def _test_figures(test, pool_test: dict) -> dict:
    """The scored test set, and what was dropped from the published split, by reason."""
    published = pool_test["utterances"] + pool_test["skipped_total"]
    skipped = dict(pool_test["skipped"])  # unscorable: unreadable, empty transcript, ...
    if len(test) < pool_test["utterances"]:
        skipped["test_max_utterances"] = pool_test["utterances"] - len(test)
    # Silent test utterances are scored as published; the count says how many there were.
    silent = {"silent_kept": pool_test["silent_kept"]} if pool_test.get("silent_kept") else {}
    return {**_figures(test), "published": published, "skipped": dict(sorted(skipped.items())),
            "skipped_total": sum(skipped.values()), **silent}
