"""A finished suite on disk without training: real predictions, real scores, real records.

The suite (one_at_a_time, 6 runs) is built so its report has known numbers:

    run             state      test WER (blog)                       why
    baseline        finished   16 / 384 = 4.17 %                     1 substitution in every 3rd utt
    labeled=10min   finished   144 / 384 = 37.50 %                   3 substitutions in every utt
    labeled=1h      finished   4.17 %, same hypotheses as baseline   difference exactly 0
    lr=3e-4         failed     -                                     FAILED_REASON
    lr=3e-3         flagged    24 / 384 = 6.25 %                     1 deletion in every 2nd utt
    freeze=none     not run    -                                     train log up to step 20

Predictions are scored by harness.scoring.score_run_dir and records are made by
harness.run.record.run_record, so the report reads exactly what `harness run` stores.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import yaml

from harness.config.load import load_suite
from harness.config.suite import Suite
from harness.run.record import run_record
from harness.run.store import SuiteStore
from harness.scoring import score_run_dir

N_UTTERANCES, WORDS_PER_UTTERANCE, N_SPEAKERS = 48, 8, 6
N_WORDS = N_UTTERANCES * WORDS_PER_UTTERANCE  # 384
WORDS = ("the", "cat", "sat", "on", "a", "red", "mat", "dog", "ran", "far", "big", "blue",
         "sky", "old", "tree", "fish", "swam", "deep", "cold", "lake")
SUBSTITUTE = {"cat": "bat", "mat": "rug", "dog": "fog", "red": "bed", "sky": "ski"}
FAILED_REASON = "RuntimeError: loss is NaN at update 40 | grad norm inf"
FLAG = {"name": "empty_hypotheses", "message": "90% of dev hypotheses are empty at update 100",
        "step": 100, "empty_share": 0.9, "blank_share": 0.99, "examples": []}
HARDWARE = {"platform": "Linux-fixture", "cpu_count": 16,
            "gpus": [{"name": "NVIDIA H100 80GB HBM3", "memory_gib": 79.2}]}
GIT = {"sha": "0123456789abcdef0123456789abcdef01234567", "dirty": True}
QUESTION = "does labeled audio help the fixture model, and what do lr and freezing change?"
COMMAND = "harness run fixture.yaml"
SUITE = {
    "suite": "fixture",
    "mode": "one_at_a_time",
    "base": {
        "data": {"source": "synthetic", "labeled": "30min"},
        "model": {"preset": "tiny"},
        "train": {"lr": 1e-3, "max_steps": 100},
        "text": {"targets": "blog", "scoring": ["blog", "whisper"]},
        "eval": {"bootstrap": 200},
    },
    "axes": {
        "data.labeled": ["30min", "10min", "1h"],
        "train.lr": ["1e-3", "3e-4", "3e-3"],
        "train.freeze": ["feature_encoder", "none"],
    },
}
# Per slug: how hypotheses differ from references, training summary figures, record time.
PLAN = {
    "baseline": {"errors": "sub_every_3rd", "train_seconds": 120.0, "speed": 25.0,
                 "at": "2024-05-01T10:00:00+0000"},
    "labeled=10min": {"errors": "sub3_every", "train_seconds": 60.0, "speed": 30.0,
                      "at": "2024-05-01T10:05:00+0000"},
    "labeled=1h": {"errors": "sub_every_3rd", "train_seconds": 240.0, "speed": 27.5,
                   "at": "2024-05-01T10:10:00+0000"},
    "lr=3e-4": {"failed": True, "at": "2024-05-01T10:12:00+0000"},
    "lr=3e-3": {"errors": "del_every_2nd", "train_seconds": 120.0, "speed": 25.0,
                "flags": [FLAG], "at": "2024-05-02T09:30:00+0000"},
}
NOT_RUN_SLUG, NOT_RUN_LAST_STEP = "freeze=none", 20
EXPECTED_WER = {"baseline": 16 / N_WORDS, "labeled=10min": 144 / N_WORDS,
                "labeled=1h": 16 / N_WORDS, "lr=3e-3": 24 / N_WORDS}


def data_report(labeled_seconds: float) -> dict:
    """The data report harness.data.prepare stores, for a labeled subset of the given size."""
    seconds = labeled_seconds + 3.2  # the shortest prefix of whole utterances passes the target
    utterances = int(labeled_seconds // 5.13)
    labeled = {"utterances": utterances, "seconds": seconds, "hours": round(seconds / 3600, 4),
               "speakers": 6}
    return {
        "source": "synthetic espeak-ng corpus (fixture)",
        "pool_key": "pool0123",
        "pool_fingerprint": "ab" * 32,
        "targets": {"name": "blog", "version": "v1234"},
        "pool": {
            "train": {"utterances": 1400, "seconds": 7200.0, "hours": 2.0, "speakers": 6,
                      "skipped": {"empty_transcript": 2, "shorter_than_receptive_field": 3},
                      "skipped_total": 5},
            "test": {"utterances": 48, "seconds": 300.0, "hours": 0.0833, "speakers": 6,
                     "skipped": {}, "skipped_total": 0},
        },
        "skipped_examples": {"train": {"empty_transcript": [{"id": "u9", "row": 9,
                                                             "detail": "'' is empty"}]}},
        "labeled": {"requested_seconds": labeled_seconds, **labeled},
        "train": labeled,
        "dev": {"utterances": 16, "seconds": 100.0, "hours": 0.0278, "speakers": 6},
        "test": {"utterances": 48, "seconds": 300.0, "hours": 0.0833, "speakers": 6},
        "vocab_size": 30,
        "oov_test_characters": {"é": 2},
    }


def references() -> list[str]:
    """Raw references: capitalized with a full stop, 8 words each (blog lowercases, drops '.')."""
    out = []
    for i in range(N_UTTERANCES):
        words = [WORDS[(i * 3 + k * 7) % len(WORDS)] for k in range(WORDS_PER_UTTERANCE)]
        words[1] = "cat"  # every utterance has substitutable words at positions 1, 3, 5
        words[3] = "dog"
        words[5] = "mat"
        out.append(" ".join(words).capitalize() + ".")
    return out


def hypothesis(reference: str, index: int, errors: str) -> str:
    """The reference (normalized as a CTC model would emit it) with planned errors."""
    words = reference.lower().rstrip(".").split()
    every = {"sub_every_2nd": 2, "sub_every_3rd": 3, "sub_every_4th": 4}
    if errors in every and index % every[errors] == 0:  # 24, 16 or 12 substitutions in 384
        words[1] = SUBSTITUTE[words[1]]
    elif errors == "sub3_every":
        for k in (1, 3, 5):
            words[k] = SUBSTITUTE[words[k]]
    elif errors == "del_every_2nd" and index % 2 == 0:
        del words[3]
    return " ".join(words)


def write_predictions(run_dir: Path, errors: str) -> None:
    """predictions.jsonl of one run (ids, speakers and durations shared by all runs)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, ref in enumerate(references()):
        lines.append(json.dumps({"id": f"utt{i:03d}", "speaker": f"spk{i % N_SPEAKERS}",
                                 "duration": 6.25, "reference": ref,
                                 "hypothesis": hypothesis(ref, i, errors)}))
    (run_dir / "predictions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_train_log(run_dir: Path, last_step: int, scale: float) -> None:
    """A train_log.jsonl like harness.train.loop writes: a loss line every 10 steps, a dev line."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"step": step, "loss": scale * math.exp(-step / 40) + 0.5, "lr": 1e-3,
                         "grad_norm": 1.0, "audio_seconds_per_s": 25.0,
                         "padding_fraction": 0.1, "elapsed_s": step * 1.2})
             for step in range(10, last_step + 1, 10)]
    lines.append(json.dumps({"step": last_step, "dev_utterances": 16, "cer": 0.1,
                             "wer": 0.2, "blank_share": 0.5, "empty_share": 0.0}))
    (run_dir / "train_log.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def train_summary(plan: dict) -> dict:
    """The training summary of harness.train.loop._finish, with the planned figures."""
    return {"steps": 100, "epochs": 3.2, "train_seconds": plan["train_seconds"],
            "audio_seconds_seen": plan["train_seconds"] * plan["speed"],
            "audio_seconds_per_s": plan["speed"], "final_loss": 0.6,
            "padding_fraction": 0.1, "flags": plan.get("flags", []),
            "parameters": {"total": 1000, "trainable": 900}, "weights_sha256": "cd" * 32,
            "dev": {"dev_utterances": 16, "cer": 0.1, "wer": 0.2}, "warmup_updates": 10,
            "precision": "no", "num_processes": 1, "skipped_updates": 0,
            "resumed_from_step": None, "repeated_batches": 0, "oversized_batches": 0}


def write_suite_file(directory: Path, suite: dict = SUITE) -> Path:
    """The suite YAML with its Question/Command header."""
    path = directory / f"{suite['suite']}.yaml"
    path.write_text(f"# Question: {QUESTION}\n# Command:  {COMMAND}\n"
                    + yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def build_finished_suite(directory: Path, suite_data: dict = SUITE, plan_by_slug: dict = PLAN,
                         not_run_slug: str | None = NOT_RUN_SLUG) -> tuple[Suite, Path]:
    """Write the suite file and runs/<suite>/ with every planned run; return (suite, runs root).

    Runs of the suite missing from `plan_by_slug` get no record; `not_run_slug` gets a train
    log (an interrupted run).
    """
    suite = load_suite(write_suite_file(directory, suite_data))
    runs_root = directory / "runs"
    store = SuiteStore(runs_root / suite.name)
    by_slug = {run.slug: run for run in suite.runs}
    assert set(plan_by_slug) <= set(by_slug), sorted(by_slug)
    with mock.patch("harness.run.record.hardware", lambda: HARDWARE), \
            mock.patch("harness.run.record.git_state", lambda: GIT):
        for slug, plan in plan_by_slug.items():
            run = by_slug[slug]
            run_dir = store.run_dir(run.id)
            timings = {"train_s": 1.0}
            prepared = SimpleNamespace(fingerprint=run.data_key * 6,
                                       report=data_report(run.spec.data.labeled))
            if plan.get("failed"):
                write_train_log(run_dir, 40, scale=90.0)
                record = run_record(suite, run, prepared, status="failed",
                                    reason=FAILED_REASON, train=None, scores=None,
                                    timings=timings)
            else:
                write_train_log(run_dir, 100, scale=100.0 + len(slug))
                write_predictions(run_dir, plan["errors"])
                scores = score_run_dir(run_dir, ["blog", "whisper"], n_boot=200, seed=0)
                record = run_record(suite, run, prepared, status="finished", reason=None,
                                    train=train_summary(plan), scores=scores, timings=timings)
            record["recorded_at"] = plan["at"]
            store.put(record)
    if not_run_slug is not None:
        write_train_log(store.run_dir(by_slug[not_run_slug].id), NOT_RUN_LAST_STEP, scale=95.0)
    return suite, runs_root
