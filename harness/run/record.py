"""Self-describing records: spec.json beside each run, one results.jsonl line per run, and
`RunRecord`, the one reader of a stored record.

A record carries everything needed to trust or reproduce its numbers (lm-evaluation-harness
style): the resolved spec, the run id, the data fingerprint and report summary, versions, git
sha, hardware, timings; nothing is ever parsed back out of a file name.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from harness import __version__
from harness.config.ids import checkpoint_fingerprint
from harness.config.suite import Run, Suite
from harness.config.values import display_value
from harness.files import SPEC_FILE, write_json_atomic
from harness.run.provenance import git_state, hardware, versions
from harness.scoring import load_predictions, score_predictions
from harness.text.normalize import RULE_SET_NAMES, get_rule_set

SCHEMA = 1


def _provenance(suite: Suite, run: Run, prepared) -> dict:
    return {
        "schema": SCHEMA,
        "suite": suite.name,
        "suite_file": str(suite.path),
        "run_id": run.id,
        "slug": run.slug,
        "changes": {key: display_value(value, key) for key, value in run.changes},
        "is_baseline": run.id == suite.baseline.id,
        "spec": run.spec.model_dump(mode="json", by_alias=True),
        "data": _data_summary(run, prepared),
        "checkpoint_sha256": checkpoint_fingerprint(run.spec.model.name_or_path),
        "harness_version": __version__,
        "versions": versions(),
        "git": git_state(),
        "hardware": hardware(),
    }


def write_run_spec(suite: Suite, run: Run, prepared, run_dir: Path) -> None:
    """spec.json: the resolved spec with versions, git sha and data fingerprint."""
    write_json_atomic(Path(run_dir) / SPEC_FILE, _provenance(suite, run, prepared))


def run_record(suite: Suite, run: Run, prepared, *, status: str, reason: str | None,
               train: dict | None, scores: dict | None, timings: dict) -> dict:
    """The results.jsonl record of a finished or failed run."""
    record = _provenance(suite, run, prepared)
    record.update(
        status=status,
        reason=reason,
        flags=list((train or {}).get("flags", [])),
        train=train,
        scores=scores,
        timings={key: round(value, 3) for key, value in timings.items()},
        recorded_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    return record


def _data_summary(run: Run, prepared) -> dict:
    summary: dict = {"key": run.data_key}
    if prepared is None:
        return summary
    summary["fingerprint"] = prepared.fingerprint
    summary["report"] = prepared.report
    return summary


# --- reading ---------------------------------------------------------------------------------

FINISHED, FLAGGED, FAILED = "finished", "flagged", "failed"


@dataclass(frozen=True)
class RunRecord:
    """A stored record read back: every consumer (report, status, progress, expect, api) asks
    this view instead of walking `record["scores"]["rule_sets"]` itself."""

    raw: dict

    @property
    def run_id(self) -> str:
        return self.raw["run_id"]

    @property
    def status(self) -> str:
        """'finished' or 'failed', as recorded."""
        return self.raw.get("status", FAILED)

    @property
    def reason(self) -> str | None:
        """Why a failed run failed."""
        return self.raw.get("reason")

    @property
    def flags(self) -> list:
        """The training guards' flags (dicts with name, message and evidence)."""
        return list(self.raw.get("flags") or [])

    @property
    def state(self) -> str:
        """finished, flagged (finished with a guard's flag) or failed."""
        if self.status != FINISHED:
            return FAILED
        return FLAGGED if self.flags else FINISHED

    @property
    def scored(self) -> bool:
        """Whether the run finished and its record holds scores."""
        return self.status == FINISHED and bool(self.raw.get("scores"))

    @property
    def rule_sets(self) -> dict[str, dict]:
        """Scores per rule set name, in the order they were scored ({} when unscored)."""
        if not self.scored:
            return {}
        return dict(self.raw["scores"].get("rule_sets") or {})

    @property
    def decoders(self) -> dict[str, dict]:
        """Scores of each decoder other than greedy (`scores.decoders`, shaped like `scores`
        itself, with `decoder` and `tuning`), by name; {} when unscored or never decoded."""
        if not self.scored:
            return {}
        found = self.raw["scores"].get("decoders") or {}
        return {name: entry for name, entry in found.items() if isinstance(entry, dict)}

    def scores(self, rule_set: str) -> dict | None:
        """The scores under one rule set (wer, cer, counts, intervals), or None."""
        return self.rule_sets.get(rule_set)

    def rate(self, rule_set: str, metric: str = "wer") -> float | None:
        """WER or CER (a fraction) under one rule set; None when unscored or undefined."""
        entry = self.scores(rule_set)
        return None if entry is None else entry.get(metric)

    def interval(self, rule_set: str, metric: str = "wer") -> tuple[float | None, float | None]:
        """The (low, high) bootstrap interval of a rate, (None, None) when there is none."""
        interval = (self.scores(rule_set) or {}).get(f"{metric}_interval") or {}
        return interval.get("low"), interval.get("high")

    def train(self, key: str):
        """A figure of the training summary (steps, final_loss, train_seconds, ...), or None."""
        return (self.raw.get("train") or {}).get(key)

    def headline(self) -> str:
        """'WER 0.231 CER 0.082 (blog)' under the first rule set scored."""
        if not self.rule_sets:
            return "no scores"
        name, score = next(iter(self.rule_sets.items()))
        return f"WER {_rate(score['wer'])} CER {_rate(score['cer'])} ({name})"


def _rate(value: float | None) -> str:
    # None: every reference normalized to nothing, so the rate is undefined.
    return "n/a" if value is None else f"{value:.3f}"


# --- one source of truth ---------------------------------------------------------------------


def predictions_sha256(scores: dict, rule_set: str) -> str | None:
    """The sha256 of the predictions a rule set's scores were computed from (None: unknown)."""
    entry = (scores.get("rule_sets") or {}).get(rule_set) or {}
    return entry.get("predictions_sha256") or (scores.get("predictions") or {}).get("sha256")


def checked_scores(scores: dict | None, predictions: Path) -> tuple[dict | None, list[str]]:
    """A record's scores as they hold for the run's predictions today, and what was redone.

    A rule set's stored scores stand when the predictions they were computed from (sha256) are
    the ones on disk and the rule set's version is today's; otherwise they are recomputed from
    predictions.jsonl (with the record's bootstrap settings) and a note says why, so no number
    shown can be one the predictions no longer give. A rule set that no longer exists is
    dropped, with a note; without predictions.jsonl nothing can be checked, which a note says.
    """
    if not scores or not scores.get("rule_sets"):
        return scores, []
    if not predictions.is_file():
        return scores, [f"{predictions.name} is missing: stored scores shown unchecked"]
    sha = hashlib.sha256(predictions.read_bytes()).hexdigest()
    notes, stale = [], []
    kept = {}
    for name, entry in scores["rule_sets"].items():
        if name not in RULE_SET_NAMES:
            notes.append(f"rule set {name!r} no longer exists: its stored scores are not shown")
            continue
        kept[name] = entry
        if predictions_sha256(scores, name) != sha:
            stale.append(name)
            notes.append(f"{name}: {predictions.name} changed since it was scored: rescored")
        elif entry.get("version") != get_rule_set(name).version:
            stale.append(name)
            notes.append(f"{name}: the rule set changed since it was scored (version "
                         f"{entry.get('version')} -> {get_rule_set(name).version}): rescored")
    out = {**scores, "rule_sets": kept}
    if stale:
        boot = scores.get("bootstrap") or {}
        fresh = score_predictions(load_predictions(predictions), stale,
                                  n_boot=boot.get("n_boot", 1000), seed=boot.get("seed", 0),
                                  block=boot.get("block", "utterance"),
                                  level=boot.get("level", 0.95))
        for name in stale:
            kept[name] = {**fresh["rule_sets"][name], "predictions_sha256": sha}
    return out, notes
