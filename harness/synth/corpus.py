"""The offline synthetic English speech corpus: espeak-ng speakers reading generated sentences.

    build_corpus(Path("corpus"), train_seconds=3600, test_seconds=600)   # or: harness synth

Layout (the contract harness.data.sources reads):

    corpus.json               format, version, seed, voice_pool, requested sizes, per-split
                              utterances/seconds/speakers, speakers, espeak-ng version, fingerprint
    README.md                 the dataset card, with the command that regenerates it
    train.jsonl, test.jsonl, test_held_out_voices.jsonl[, dev.jsonl]
                              {"id", "path" (relative), "text", "speaker", "duration",
                              "phonemes"} per line; phonemes: what espeak-ng says in the
                              speaker's accent, IPA without stress, a space between words
    audio/<split>/<id>.wav    16 kHz mono PCM16

`test` is read by the training speakers and `test_held_out_voices` by speakers never in
`train`; both read the same held-out sentences (sentence k is the same in both), which never
occur in any training split (harness.synth.sentences). A split is the shortest prefix, in id
order, of its utterance sequence that reaches the requested audio time. Utterances are rendered
in parallel, in batches fixed by id, and kept in id order, so the corpus (bytes and all) does not
depend on the worker count or on which batch finishes first.

`dev` (only when asked for, `dev_seconds` > 0): the training speakers reading sentences of the
`test` bucket that no test split reads, for choosing what training must not see (a decoder's
alpha and beta) without ever looking at the test sentences.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import math
import multiprocessing
import os
import random
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from harness.config.durations import format_duration
from harness.errors import UserError
from harness.files import building, locked, read_json, write_json
from harness.synth.sentences import MAX_WORDS, MIN_WORDS, normalized_words, sentence_stream
from harness.synth.voices import (
    POOLS,
    SAMPLE_RATE,
    Speaker,
    check_speakers,
    render_batch,
    require_espeak,
)

# Version 2: the stand-in pool reads only the stand-in lexicon (main corpora are unchanged).
# Version 3: manifests carry each utterance's phonemes (audio unchanged).
FORMAT, VERSION = "harness-synth", 3
CORPUS_FILE = "corpus.json"
SPLITS = ("train", "test", "test_held_out_voices")
DEV_SPLIT = "dev"  # optional: built when dev_seconds > 0
_ID_PREFIX = {"train": "train", "test": "test", "test_held_out_voices": "heldout", "dev": "dev"}
# Before any audio exists, an utterance is guessed at 3 s (the grammar's mean is ~3.5 s at 160 wpm).
_FIRST_GUESS_SECONDS = 3.0
# Ask for 5% more utterances than the running mean predicts: fewer round trips near the end.
_OVERSHOOT = 1.05
# Utterances per batch, fixed: an utterance's audio depends on the batch it is spoken in (espeak
# state carries over within a batch; harness.synth.voices), so batch k is always ids 16k..16k+15.
# 16 spreads the ~5 ms fork per batch over ~90 ms of synthesis.
BATCH = 16


def build_corpus(out: Path, *, train_seconds: float, test_seconds: float, seed: int = 0,
                 voice_pool: str = "main", workers: int | None = None,
                 dev_seconds: float = 0.0) -> dict:
    """Build the corpus into `out` (atomically) and return its corpus.json; reuse a finished one.

    Deterministic for (train_seconds, test_seconds, seed, voice_pool, dev_seconds): the same
    manifests and audio bytes (and so the same fingerprint) on every build, whatever `workers`
    is. A dev split is rendered after the others, so asking for one changes none of them.
    """
    out = Path(out)
    params = _parameters(train_seconds, test_seconds, seed, voice_pool, dev_seconds)
    existing = _existing_corpus(out, params)
    if existing is not None:
        return existing
    espeak_version = require_espeak()
    pool = POOLS[voice_pool]
    check_speakers([*pool.train, *pool.held_out])
    with locked(out):
        existing = _existing_corpus(out, params)  # another process may have built it meanwhile
        if existing is not None:
            return existing
        with building(out) as tmp:
            corpus = _build(tmp, params, espeak_version, _worker_count(workers))
            (tmp / "README.md").write_text(corpus_card(corpus, out), encoding="utf-8")
            write_json(tmp / CORPUS_FILE, corpus)
    return corpus


def _parameters(train_seconds: float, test_seconds: float, seed: int, voice_pool: str,
                dev_seconds: float = 0.0) -> dict:
    if voice_pool not in POOLS:
        raise UserError(f"voice pool {voice_pool!r} is unknown; expected one of {sorted(POOLS)}")
    for name, value in (("train_seconds", train_seconds), ("test_seconds", test_seconds)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise UserError(f"{name} must be a positive number of seconds, got {value!r}")
    if not isinstance(seed, int) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(dev_seconds, (int, float)) and math.isfinite(dev_seconds)
            and dev_seconds >= 0):
        raise UserError(f"dev_seconds must be 0 or a positive number of seconds, got "
                        f"{dev_seconds!r}")
    requested = {"train_seconds": float(train_seconds), "test_seconds": float(test_seconds)}
    if dev_seconds > 0:  # absent otherwise: corpora built before dev splits still match
        requested["dev_seconds"] = float(dev_seconds)
    return {"seed": seed, "voice_pool": voice_pool, "requested": requested}


def _existing_corpus(out: Path, params: dict) -> dict | None:
    """corpus.json of a finished corpus with these parameters; None if `out` is absent or empty."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise UserError(f"{out}: exists and is a file, not a synthetic corpus directory")
    if not (out / CORPUS_FILE).is_file():
        if any(out.iterdir()):
            raise UserError(f"{out}: exists and is not a synthetic corpus (no {CORPUS_FILE}); "
                            "choose another output directory")
        return None
    try:
        corpus = read_json(out / CORPUS_FILE)
        found = {key: corpus[key] for key in ("format", "version", *params)}
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{out / CORPUS_FILE}: not a readable synthetic corpus description "
                        f"({type(error).__name__}: {error})") from error
    wanted = {"format": FORMAT, "version": VERSION, **params}
    if found != wanted:
        differences = ", ".join(f"{key} {found[key]!r} (asked {wanted[key]!r})"
                                for key in wanted if found[key] != wanted[key])
        raise UserError(f"{out}: holds a synthetic corpus built differently: {differences}; "
                        "choose another output directory or delete it")
    splits = SPLITS + ((DEV_SPLIT,) if "dev_seconds" in params["requested"] else ())
    missing = [f"{split}.jsonl" for split in splits if not (out / f"{split}.jsonl").is_file()]
    if missing:
        raise UserError(f"{out}: corpus is incomplete (missing {', '.join(missing)}); delete it")
    return corpus


def _worker_count(workers: int | None) -> int:
    if workers is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if workers < 1:
        raise UserError(f"workers must be at least 1, got {workers}")
    return workers


def _build(root: Path, params: dict, espeak_version: str, workers: int) -> dict:
    """Render every split into `root`, write the manifests, return the corpus description."""
    seed, pool = params["seed"], POOLS[params["voice_pool"]]
    requested = params["requested"]
    # Test sentences come from the `test` bucket, training sentences from the pool's own bucket:
    # disjoint by construction, whatever the seeds (see harness.synth.sentences).
    # Both draw from the pool's lexicon: the stand-in is trained and tested without the words
    # held back for fine-tuning to teach.
    train_texts = sentence_stream(seed, f"{pool.name}/train", pool.name, pool.lexicon)
    test_texts = _Replayable(sentence_stream(seed, f"{pool.name}/test", "test", pool.lexicon))
    plan = {
        "train": (train_texts, pool.train, requested["train_seconds"]),
        "test": (iter(test_texts), pool.train, requested["test_seconds"]),
        "test_held_out_voices": (iter(test_texts), pool.held_out, requested["test_seconds"]),
    }
    read_in_test: set[str] = set()  # filled once the test split is rendered, before dev starts
    if requested.get("dev_seconds"):
        # Sentences of the test bucket (never trained on) from their own stream, less those a
        # test split reads.
        dev_texts = (text for text in sentence_stream(seed, f"{pool.name}/dev", "test",
                                                      pool.lexicon)
                     if normalized_words(text) not in read_in_test)
        plan[DEV_SPLIT] = (dev_texts, pool.train, requested["dev_seconds"])
    splits, hashes = {}, []
    with _executor(workers) as executor:
        for split, (texts, speakers, target) in plan.items():
            (root / "audio" / split).mkdir(parents=True)
            jobs = _jobs(split, texts, _speaker_cycle(speakers, seed, pool.name, split))
            rows = _render_split(executor, workers, jobs, target, root)
            _remove_unkept(root / "audio" / split, {row["id"] for row in rows})
            if split == "test":
                read_in_test.update(normalized_words(row["text"]) for row in rows)
            manifest = "".join(json.dumps({key: row[key] for key in
                                           ("id", "path", "text", "speaker", "duration",
                                            "phonemes")},
                                          ensure_ascii=False) + "\n" for row in rows)
            (root / f"{split}.jsonl").write_text(manifest, encoding="utf-8")
            hashes.append(hashlib.sha256(manifest.encode()).hexdigest())
            hashes += [row["sha256"] for row in rows]
            splits[split] = {
                "utterances": len(rows),
                "seconds": round(sum(row["duration"] for row in rows), 3),
                "speakers": sorted({row["speaker"] for row in rows}),
            }
    _check_held_out(root)
    return {
        "format": FORMAT, "version": VERSION, **params,
        "sample_rate": SAMPLE_RATE,
        "splits": splits,
        "speakers": {speaker.name: {**speaker.describe(), "role": role}
                     for role, group in (("train", pool.train), ("held_out", pool.held_out))
                     for speaker in group},
        "sentences": {"generator": "harness.synth.sentences", "train_bucket": pool.name,
                      "test_bucket": "test", "lexicon": pool.lexicon, "seed": seed},
        "espeak_ng": espeak_version,
        # sha256 over each manifest's bytes followed by its wavs' sha256s, in manifest order.
        "fingerprint": hashlib.sha256("\n".join(hashes).encode()).hexdigest(),
    }


class _Replayable:
    """An iterator that several readers can walk from the start: the test splits share texts."""

    def __init__(self, source: Iterator[str]):
        self._source, self._seen = source, []

    def __iter__(self) -> Iterator[str]:
        index = 0
        while True:
            if index == len(self._seen):
                self._seen.append(next(self._source))
            yield self._seen[index]
            index += 1


def _speaker_cycle(speakers: tuple[Speaker, ...], seed: int, pool: str,
                   split: str) -> Iterator[Speaker]:
    """Speakers in turn (a seeded order), so every prefix of a split is balanced over them."""
    order = list(speakers)
    random.Random(f"harness-speakers/{seed}/{pool}/{split}").shuffle(order)
    index = 0
    while True:
        yield order[index % len(order)]
        index += 1


def _jobs(split: str, texts: Iterator[str], speakers: Iterator[Speaker]) -> Iterator[tuple]:
    for index, (text, speaker) in enumerate(zip(texts, speakers, strict=False)):
        utterance_id = f"{_ID_PREFIX[split]}-{index:06d}"
        yield utterance_id, f"audio/{split}/{utterance_id}.wav", text, speaker


def _render_split(executor, workers: int, jobs: Iterator[tuple], target: float,
                  root: Path) -> list[dict]:
    """Render jobs in parallel batches of BATCH; keep the shortest id-order prefix reaching
    `target` seconds. Batches are submitted only while the running mean duration says more
    audio is needed, so at most a few batches past the target are rendered and then deleted."""
    kept: list[dict] = []
    total = rendered_seconds = 0.0
    rendered = 0
    in_flight: deque = deque()
    pending = 0
    while total < target:
        while len(in_flight) < 2 * workers:  # two batches per worker: none waits for work
            mean = rendered_seconds / rendered if rendered else _FIRST_GUESS_SECONDS
            needed = math.ceil((target - total) / mean * _OVERSHOOT) - pending
            if needed <= 0 and in_flight:
                break
            batch = [job for _, job in zip(range(BATCH), jobs, strict=False)]
            in_flight.append((executor.submit(render_batch, batch, str(root)), batch))
            pending += len(batch)
        future, batch = in_flight.popleft()
        pending -= len(batch)
        results = future.result()
        for job, (_, samples, digest, phonemes) in zip(batch, results, strict=True):
            utterance_id, relative, text, speaker = job
            duration = samples / SAMPLE_RATE
            rendered += 1
            rendered_seconds += duration
            if total < target:
                kept.append({"id": utterance_id, "path": relative, "text": text,
                             "speaker": speaker.name, "duration": duration, "sha256": digest,
                             "phonemes": phonemes})
                total += duration
    for future, _ in in_flight:  # past the target: stop what has not started, let the rest end
        future.cancel()
    concurrent.futures.wait([future for future, _ in in_flight])
    return kept


def _remove_unkept(directory: Path, kept_ids: set[str]) -> None:
    """Delete the wavs rendered past the split's cut (the last batches overshoot a little)."""
    for path in directory.glob("*.wav"):
        if path.stem not in kept_ids:
            path.unlink()


def _check_held_out(root: Path) -> None:
    """Fail loudly if a test sentence reached the training split (the buckets prevent it)."""
    def texts(split: str) -> set[str]:
        with open(root / f"{split}.jsonl", encoding="utf-8") as lines:
            return {normalized_words(json.loads(line)["text"]) for line in lines}
    held_out = texts("test") | texts("test_held_out_voices")
    dev = texts(DEV_SPLIT) if (root / f"{DEV_SPLIT}.jsonl").is_file() else set()
    leaked = texts("train") & (held_out | dev)
    if leaked:
        raise RuntimeError(f"test or dev sentences in the training split: {sorted(leaked)[:3]}")
    if dev & held_out:
        raise RuntimeError(f"test sentences in the dev split: {sorted(dev & held_out)[:3]}")


def _executor(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """Worker processes, started with spawn: they fork a child per batch (voices.render_batch),
    which is only safe from a process without other threads, as a fresh spawned one is; the
    caller may hold torch's threads."""
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def regenerate_command(corpus: dict, out: Path) -> str:
    """The `harness synth` command line that builds this corpus again."""
    requested = corpus["requested"]
    dev = (f"--dev-minutes {_minutes_argument(requested['dev_seconds'])} "
           if requested.get("dev_seconds") else "")
    return (f"harness synth --hours {_hours_argument(requested['train_seconds'])} "
            f"--test-minutes {_minutes_argument(requested['test_seconds'])} {dev}"
            f"--seed {corpus['seed']} --voices {corpus['voice_pool']} --out {out}")


def _hours_argument(seconds: float) -> str:
    return f"{seconds / 3600:g}" if seconds % 3600 == 0 else format_duration(seconds)


def _minutes_argument(seconds: float) -> str:
    return f"{seconds / 60:g}" if seconds % 60 == 0 else format_duration(seconds)


def corpus_card(corpus: dict, out: Path) -> str:
    """README.md of a corpus: what it is, who speaks, sizes, sentences, how to regenerate it."""
    speakers = "\n".join(
        f"| {name} | {info['accent']} | {info['voice']} | {info['variant']} | {info['rate_wpm']} "
        f"| {info['role'].replace('_', '-')} |"
        for name, info in corpus["speakers"].items())
    splits = "\n".join(
        f"| {split} | {info['utterances']} | {info['seconds'] / 60:.1f} | {len(info['speakers'])} |"
        for split, info in corpus["splits"].items())
    pool = corpus["voice_pool"]
    return f"""# Synthetic English speech corpus ({pool} voices, seed {corpus['seed']})

English sentences read by espeak-ng {corpus['espeak_ng']} (formant synthesis), made by
`harness.synth.corpus` for offline runs of the harness. It is not human speech: use it to exercise
the pipeline and to compare settings with each other, not to estimate real-world error rates.

## Speakers
A speaker is an espeak-ng accent voice, a voice variant (pitch and formants) and a speaking rate
in words per minute. Held-out speakers never occur in `train`.

| speaker | accent | voice | variant | words/min | role |
|---|---|---|---|---|---|
{speakers}

## Splits
| split | utterances | minutes | speakers |
|---|---|---|---|
{splits}

Requested: {corpus['requested']['train_seconds']:g} s of training audio, \
{corpus['requested']['test_seconds']:g} s per test split. Each split is the shortest run of
utterances, in id order, that reaches its request; speakers take turns within a split.

- `train`: the training speakers reading training sentences.
- `test`: the training speakers reading held-out sentences.
- `test_held_out_voices`: the held-out speakers reading the same held-out sentences, in the same
  order (sentence k of both test splits is the same), so the two differ only in who speaks.
{_dev_card_line(corpus)}
## Audio and manifests
`audio/<split>/<id>.wav`: 16 kHz mono 16-bit PCM (espeak-ng's 22,050 Hz output resampled with
soxr). `<split>.jsonl`: one `{{"id", "path", "text", "speaker", "duration", "phonemes"}}` per
line, `path` relative to this directory, `duration` in seconds, `phonemes` what espeak-ng says in
the speaker's accent (IPA without stress marks, a space between words). `corpus.json` holds the
same figures and a fingerprint: the sha256 over the manifests and the audio, equal on every
rebuild.

## Sentences
Generated by `harness.synth.sentences`: a small English grammar (statements, negatives and
progressives with contractions, questions, imperatives, possessives, two-clause sentences)
over a built-in word list, {MIN_WORDS}-{MAX_WORDS} words each, covering all 26 letters and the
apostrophe, with ordinary punctuation (`, . ? !`); text is not normalized here. Each sentence
belongs to one of three buckets by the sha256 of its lower-cased words: `test` (10%), `main`
(45%), `standin` (45%). Test splits read only `test` sentences and this corpus trains only on
`{pool}` sentences, so no test sentence of any synthetic corpus, of any seed, occurs in any
training split, and the main and stand-in corpora never share a training sentence. No sentence
repeats within a split. Words: the `{corpus['sentences']['lexicon']}` lexicon (`full`: every
word; `standin`: half of the content words are held back, so that a model trained on the
stand-in corpus has never heard them).

## Regenerate
```
{regenerate_command(corpus, out)}
```
"""


def _dev_card_line(corpus: dict) -> str:
    if DEV_SPLIT not in corpus["splits"]:
        return ""
    return ("- `dev`: the training speakers reading held-out sentences that neither test split "
            "reads (for tuning what training cannot: a decoder's alpha and beta).\n")
