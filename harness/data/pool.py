"""The decoded pool: every usable utterance of a source's splits, at the model's rate, once.

Each row is checked in the order a user would want to hear about it (transcript, duplicates,
decoding, silence, length, CTC feasibility); a row that fails is skipped and its reason counted,
with a few examples, in the pool's report. The training filters (`silent`: every sample the same
value, `min_seconds`, `max_seconds`, CTC feasibility) apply to the training split only: test and
dev sets are scored as published, and lose only what cannot be scored at all (no transcript or
an empty one after normalization, audio that is `missing` or cannot be decoded or is shorter
than the encoder's receptive field, a repeated id); the silent utterances they keep are counted
(`silent_kept`).
Subsets of any size are later cut from this pool without decoding anything again.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
from datasets.arrow_writer import ArrowWriter

from harness import faults
from harness.config.settings import DataSpec
from harness.data.audio import (
    RECEPTIVE_FIELD,
    AudioError,
    ctc_frames_needed,
    decode,
    is_silent,
    output_frames,
    to_model_rate,
    zero_mean_unit_variance,
)
from harness.data.schemas import RawUtterance
from harness.text.normalize import RuleSet

FEATURES = datasets.Features({
    "id": datasets.Value("string"),
    "speaker": datasets.Value("string"),
    "dialect_region": datasets.Value("string"),  # TIMIT's DR1..DR8; empty for other corpora
    "duration": datasets.Value("float64"),
    "raw_text": datasets.Value("string"),
    "text": datasets.Value("string"),
    "audio_sha1": datasets.Value("string"),
    "input_values": datasets.List(datasets.Value("float32")),
})
EXAMPLES_PER_REASON = 5


@dataclass
class SplitTally:
    """What happened to one split's rows: kept figures, skips by reason, a content digest."""

    utterances: int = 0
    seconds: float = 0.0
    speakers: set = field(default_factory=set)
    skipped: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=lambda: defaultdict(list))
    ids: set = field(default_factory=set)
    hashes: dict = field(default_factory=dict)  # audio sha1 -> id
    silent_kept: int = 0  # silent utterances of a test or dev split, kept as published
    digest: object = field(default_factory=hashlib.sha256)

    def skip(self, utterance: RawUtterance, reason: str, detail: str = "") -> None:
        self.skipped[reason] += 1
        if len(self.examples[reason]) < EXAMPLES_PER_REASON:
            self.examples[reason].append({"id": utterance.id, "row": utterance.row,
                                          "detail": detail})

    def summary(self) -> dict:
        return {
            "utterances": self.utterances,
            "seconds": round(self.seconds, 3),
            "hours": round(self.seconds / 3600, 4),
            "speakers": len(self.speakers),
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_total": sum(self.skipped.values()),
            "skipped_examples": {k: v for k, v in sorted(self.examples.items())},
            # only when there are some: a pool without any reads as it always has
            **({"silent_kept": self.silent_kept} if self.silent_kept else {}),
        }


def write_split(utterances, path: Path, spec: DataSpec, targets: RuleSet,
                written_before: int = 0, training: bool = True) -> SplitTally:
    """Decode, check and write one split's usable rows to an Arrow file; return its tally.

    `training=False` (test, dev) keeps every row that can be scored: no duration or CTC filter.
    """
    tally = SplitTally()
    with ArrowWriter(features=FEATURES, path=str(path)) as writer:
        for utterance in utterances:
            row = _checked_row(utterance, spec, targets, tally, training)
            if row is None:
                continue
            writer.write(row)
            tally.utterances += 1
            tally.seconds += row["duration"]
            tally.speakers.add(row["speaker"])
            tally.ids.add(row["id"])
            tally.hashes.setdefault(row["audio_sha1"], row["id"])
            tally.digest.update(f"{row['id']}\t{row['text']}\t{row['audio_sha1']}\n".encode())
            # Tests kill preparation mid-way here to prove a half-written pool is never used.
            faults.checkpoint("prepare", written_before + tally.utterances)
        writer.finalize()
    return tally


def _checked_row(utterance: RawUtterance, spec: DataSpec, targets: RuleSet,
                 tally: SplitTally, training: bool) -> dict | None:
    raw_text = utterance.text
    if not isinstance(raw_text, str):
        tally.skip(utterance, "missing_transcript", f"transcript is {raw_text!r}")
        return None
    text = targets(raw_text)
    if not text.strip():
        tally.skip(utterance, "empty_transcript", f"{raw_text!r} is empty after {targets.name}")
        return None
    if utterance.id in tally.ids:
        tally.skip(utterance, "duplicate_id", f"id {utterance.id!r} already in this split")
        return None
    try:
        samples, rate = decode(utterance.audio)
        silent = is_silent(samples)  # before resampling, whose edges ring on a constant
        samples = to_model_rate(samples, rate, spec.sample_rate)
    except AudioError as error:
        tally.skip(utterance, error.reason, str(error))
        return None
    duration = samples.size / spec.sample_rate
    if samples.size < RECEPTIVE_FIELD:  # no output frame: not even a test set can use it
        tally.skip(utterance, "shorter_than_receptive_field",
                   f"{samples.size} samples < {RECEPTIVE_FIELD}")
        return None
    if silent and training:  # nothing to learn a transcript from
        tally.skip(utterance, "silent", f"{duration:.2f}s with every sample the same value")
        return None
    if silent:
        tally.silent_kept += 1
    if training and (skip := _training_filter(text, samples.size, duration, spec)):
        tally.skip(utterance, *skip)
        return None
    audio_sha1 = hashlib.sha1(samples.tobytes()).hexdigest()
    if spec.normalize_audio:
        samples = zero_mean_unit_variance(samples)
    return {
        "id": utterance.id, "speaker": utterance.speaker,
        "dialect_region": utterance.dialect_region, "duration": duration,
        "raw_text": raw_text, "text": text, "audio_sha1": audio_sha1,
        "input_values": samples,
    }


def _training_filter(text: str, n_samples: int, duration: float,
                     spec: DataSpec) -> tuple[str, str] | None:
    """(reason, detail) when a training utterance is outside the length limits or too short
    for its CTC target, else None."""
    if duration < spec.min_seconds:
        return "below_min_seconds", f"{duration:.2f}s < {spec.min_seconds}s"
    if duration > spec.max_seconds:
        return "above_max_seconds", f"{duration:.2f}s > {spec.max_seconds}s"
    if ctc_frames_needed(text) > output_frames(n_samples):
        return ("ctc_infeasible",
                f"{ctc_frames_needed(text)} frames needed, {output_frames(n_samples)} given")
    return None


def overlap_problems(train: SplitTally, other: SplitTally, name: str) -> list[str]:
    """Ways an evaluation split leaks into the training pool: shared ids or identical audio."""
    problems = []
    shared_ids = sorted(train.ids & other.ids)
    if shared_ids:
        problems.append(f"{len(shared_ids)} utterance id(s) are in both the training pool and "
                        f"the {name} split, e.g. {shared_ids[:3]}")
    shared_audio = sorted(set(train.hashes) & set(other.hashes))
    if shared_audio:
        examples = [(train.hashes[h], other.hashes[h]) for h in shared_audio[:3]]
        problems.append(f"{len(shared_audio)} {name} utterance(s) have the same audio as "
                        f"training utterances (train id, {name} id): {examples}")
    return problems


def speaker_order(durations: np.ndarray, speakers: list, seed: int, balance: bool) -> np.ndarray:
    """The seeded order whose prefixes are the nested labeled subsets.

    With `balance`, speakers take turns (each in its own seeded order), so a small prefix holds
    as many speakers as it can rather than whoever the shuffle put first.
    """
    order = np.random.default_rng(seed).permutation(len(durations))
    if not balance:
        return order
    queues: dict = {}
    for index in order:
        queues.setdefault(speakers[index], []).append(int(index))
    interleaved, depth = [], 0
    while len(interleaved) < len(order):
        interleaved += [q[depth] for q in queues.values() if depth < len(q)]
        depth += 1
    return np.asarray(interleaved, dtype=np.int64)
