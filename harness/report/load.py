"""What a report reads: the suite's runs joined with their stored records, logs and predictions.

Everything comes from `runs/<suite>/`: results.jsonl (one record per run, the latest wins),
and each run directory's train_log.jsonl and predictions.jsonl. Nothing is recomputed from
a model; a run of the suite file without a record is shown as "not run", and a record whose run
is no longer in the suite file is counted, not shown.

A run decoded by several decoders (`eval.decoders`) is read one decoder at a time:
`RunResult.decoded(name)` is the same run seen through that decoder's scores
(`scores.decoders.<name>`) and predictions (predictions.<name>.jsonl), so every table, test and
figure written for greedy decoding works unchanged on any decoder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from harness.config.settings import GREEDY
from harness.config.suite import Run, Suite
from harness.errors import UserError
from harness.files import LOG_FILE, PREDICTIONS_FILE, decoded_predictions_file
from harness.run.record import FAILED, FINISHED, FLAGGED, RunRecord, checked_scores

__all__ = ["FAILED", "FINISHED", "FLAGGED", "GREEDY", "NOT_RUN", "RunResult", "SuiteResults",
           "TrainLog", "load_results", "read_train_log"]
from harness.run.store import SuiteStore
from harness.scoring import load_predictions

NOT_RUN = "not run"


@dataclass
class TrainLog:
    """The loss lines of a run's train_log.jsonl, its dev evaluations (update -> dev_wer,
    dev_cer), and how many lines could not be read."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    unreadable_lines: int = 0
    last_step: int | None = None
    dev: dict[int, dict[str, float]] = field(default_factory=dict)


@dataclass
class RunResult:
    """One run of the suite and what is stored about it (record None: never recorded)."""

    run: Run
    record: dict | None
    run_dir: Path
    decoder: str = GREEDY  # whose scores and predictions this view reads
    _views: dict = field(default_factory=dict, repr=False, compare=False)

    def decoded(self, name: str) -> RunResult:
        """This run through decoder `name`: its scores are `scores.decoders.<name>` (not scored
        when absent) and its predictions predictions.<name>.jsonl; greedy is the run itself."""
        if name == self.decoder:
            return self
        if name not in self._views:  # one view per decoder: its predictions are read once
            self._views[name] = RunResult(self.run, self.record, self.run_dir, name)
        return self._views[name]

    @property
    def predictions_path(self) -> Path:
        """predictions.jsonl, or predictions.<decoder>.jsonl for a decoder other than greedy."""
        name = PREDICTIONS_FILE if self.decoder == GREEDY else decoded_predictions_file(
            self.decoder)
        return self.run_dir / name

    @cached_property
    def _checked(self) -> tuple[RunRecord, list[str]]:
        record = self.record if self.record is not None else {}
        raw = record.get("scores")
        if self.decoder != GREEDY:
            raw = RunRecord(record).decoders.get(self.decoder) if record else None
        scores, notes = checked_scores(raw, self.predictions_path)
        if self.decoder == GREEDY and not scores:
            return RunRecord(record), notes
        return RunRecord({**record, "scores": scores}), notes

    @property
    def stored(self) -> RunRecord:
        """The record read through RunRecord (an empty failed one when never recorded), its
        scores checked against the predictions on disk (run.record.checked_scores)."""
        return self._checked[0]

    @property
    def score_notes(self) -> list[str]:
        """What checking the stored scores found (rescored rule sets, unchecked scores)."""
        return self._checked[1]

    @property
    def state(self) -> str:
        """finished, flagged (finished with a guard's flag), failed, or not run."""
        return NOT_RUN if self.record is None else self.stored.state

    @property
    def scored(self) -> bool:
        """Whether the run finished and its record holds scores."""
        return self.stored.scored

    def scores(self, rule_set: str) -> dict | None:
        """The record's scores under one rule set, or None."""
        return self.stored.scores(rule_set)

    def rate(self, rule_set: str, metric: str = "wer") -> float | None:
        """WER or CER (a fraction) under one rule set, or None."""
        return self.stored.rate(rule_set, metric)

    def train(self, key: str):
        """A figure of the training summary (steps, train_seconds, ...), or None."""
        return self.stored.train(key)

    @property
    def decoder_entry(self) -> dict | None:
        """How this view's decoder decoded the run (name, kind, beam_width, the chosen alpha and
        beta, lm), as recorded; None for greedy or when not recorded."""
        entry = (self.stored.raw.get("scores") or {}).get("decoder") if self.scored else None
        return entry if isinstance(entry, dict) else None

    @property
    def tuning(self) -> dict | None:
        """The dev-set grid this view's decoder was tuned on (grid of alpha, beta, dev_wer;
        rule_set; dev_utterances), or None (greedy, a beam search without LM)."""
        entry = (self.stored.raw.get("scores") or {}).get("tuning") if self.scored else None
        return entry if isinstance(entry, dict) else None

    @cached_property
    def predictions(self) -> list[dict] | None:
        """The stored test predictions (of this view's decoder), or None when not on disk."""
        path = self.predictions_path
        return load_predictions(path) if path.is_file() else None

    @cached_property
    def train_log(self) -> TrainLog | None:
        """The loss curve from train_log.jsonl, or None when the run never logged."""
        return read_train_log(self.run_dir / LOG_FILE)


@dataclass
class SettingResult:
    """A setting of the suite and its runs, one per training seed in seed order (one run when
    the suite has no `seeds:`); harness.report.replicas summarizes them."""

    name: str
    runs: list[RunResult]

    @property
    def primary(self) -> RunResult:
        """The first seed's run: its id and slug stand for the setting."""
        return self.runs[0]

    @property
    def run(self) -> Run:
        return self.primary.run

    @property
    def scored_runs(self) -> list[RunResult]:
        return [result for result in self.runs if result.scored]

    @property
    def scored(self) -> bool:
        """Whether any of its runs finished with scores."""
        return bool(self.scored_runs)

    @property
    def state(self) -> str:
        """The runs' state when they agree, else a count of each ('2 finished, 1 failed')."""
        states = [result.state for result in self.runs]
        if len(set(states)) == 1:
            return states[0]
        counts = {state: states.count(state) for state in dict.fromkeys(states)}
        return ", ".join(f"{n} {state}" for state, n in counts.items())

    def train(self, key: str):
        """A training figure: the first run's, or the mean over seeds for a number."""
        values = [result.train(key) for result in self.runs]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(self.runs) == 1 or not numbers or isinstance(values[0], int):
            return values[0]
        return sum(numbers) / len(numbers)


@dataclass
class SuiteResults:
    """The runs of a suite in suite order (baseline first) with their stored results."""

    suite: Suite
    store: SuiteStore
    runs: list[RunResult]
    orphan_ids: list[str]
    _views: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def baseline(self) -> RunResult:
        return self.runs[0]

    @cached_property
    def settings(self) -> list[SettingResult]:
        """The suite's settings in suite order, each with its training-seed replicas."""
        by_id = {result.run.id: result for result in self.runs}
        return [SettingResult(name, [by_id[run.id] for run in runs])
                for name, runs in self.suite.settings().items()]

    @property
    def records(self) -> list[dict]:
        """The stored records of the suite's runs, in suite order."""
        return [result.record for result in self.runs if result.record is not None]

    @property
    def scored(self) -> list[RunResult]:
        """Runs that finished with scores, in suite order."""
        return [result for result in self.runs if result.scored]

    @cached_property
    def decoders(self) -> list[str]:
        """Decoder names: greedy, then the baseline's `eval.decoders` in order, then any other
        a record holds; a decoder other than greedy only where some run has its scores."""
        names = [d.name for d in self.suite.baseline.spec.eval.decoders]
        found = [name for result in self.scored for name in result.stored.decoders]
        scored = {name for name in found if any(r.decoded(name).scored for r in self.scored)}
        return [GREEDY] + [name for name in dict.fromkeys(names + found) if name in scored]

    @property
    def decoder(self) -> str:
        """The decoder whose scores these results read (greedy unless made by `decoded`)."""
        return self.runs[0].decoder if self.runs else GREEDY

    def decoded(self, name: str) -> SuiteResults:
        """The suite seen through decoder `name` (RunResult.decoded for every run)."""
        if name == self.decoder:
            return self
        if name not in self._views:
            self._views[name] = SuiteResults(self.suite, self.store,
                                             [r.decoded(name) for r in self.runs],
                                             self.orphan_ids)
        return self._views[name]

    @cached_property
    def rule_sets(self) -> list[str]:
        """Scoring rule sets: the baseline's declared order first, then any others found."""
        names = list(self.suite.baseline.spec.text.scoring)
        for result in self.scored:
            names += list(result.stored.rule_sets)
        found = {name for result in self.scored for name in result.stored.rule_sets}
        return [name for name in dict.fromkeys(names) if name in found]


def load_results(suite: Suite, runs_root: Path) -> SuiteResults:
    """The suite's runs joined with runs/<suite>/results.jsonl; UserError when nothing is stored."""
    store = SuiteStore(Path(runs_root) / suite.name)
    stored = store.records_by_id()
    if not stored:
        raise UserError(f"suite {suite.name!r} has no results yet ({store.results_path} is "
                        f"missing or empty): run `harness run {suite.path}` first")
    ids = {run.id for run in suite.runs}
    if not ids & stored.keys():
        raise UserError(f"{store.results_path} holds {len(stored)} records, none of a run of "
                        f"{suite.path} (the suite file changed since they were run?): run "
                        f"`harness run {suite.path}` first")
    runs = [RunResult(run, stored.get(run.id), store.run_dir(run.id)) for run in suite.runs]
    orphans = sorted(stored.keys() - ids)
    return SuiteResults(suite=suite, store=store, runs=runs, orphan_ids=orphans)


def read_train_log(path: Path) -> TrainLog | None:
    """Loss per logged step; dev-evaluation lines (no loss) are skipped, cut lines counted."""
    if not path.is_file():
        return None
    log = TrainLog()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            log.unreadable_lines += 1  # a line cut by a kill; the ones before it still count
            continue
        if not isinstance(entry, dict):
            log.unreadable_lines += 1
            continue
        step = entry.get("step")
        if isinstance(step, int):
            log.last_step = step
        loss = entry.get("loss")
        if isinstance(step, int) and isinstance(loss, (int, float)):
            log.steps.append(step)
            log.losses.append(float(loss))
        rates = {key: float(entry[key]) for key in ("dev_wer", "dev_cer")
                 if isinstance(entry.get(key), (int, float))}
        if isinstance(step, int) and rates:
            log.dev[step] = rates  # a resumed run's repeat of an update replaces the first
    return log
