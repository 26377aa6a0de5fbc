"""Expectations checked against a suite's stored results: passed, failed or error, with values.

A side naming several runs must hold for each of them (for relations: each pair of different
runs). A run replicated over training seeds (`seeds:`) is the mean of its replicas.
`significantly` also needs the paired test of the two runs' predictions on the same test
utterances, paired by training seed where both sides have several (the two-level bootstrap of
harness.scoring.seeded; with one seed, the utterance bootstrap), with the baseline's
`eval.bootstrap`, `eval.block` and `eval.bootstrap_seed` as the report's Δ column, to put the
95% interval of left - right wholly on the claimed side of 0. A side with a decoder other than
greedy (`wer.ngram`) reads that decoder's scores (`scores.decoders.<name>`, checked against
predictions.<name>.jsonl) and predictions, so `wer.ngram[baseline] < wer[baseline]
significantly` pairs one run's two decodings of the same test utterances, seed by seed.
An expectation is `failed` when a
value that could be measured breaks it, `error` when nothing breaks it but a run it needs has no
value (not run, failed, not scored).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from pathlib import Path

from harness.config.settings import GREEDY
from harness.errors import UserError
from harness.expect.parse import RATE_METRICS, Number
from harness.expect.resolve import Expectation, RunRef, Side
from harness.files import PREDICTIONS_FILE, decoded_predictions_file
from harness.run.record import RunRecord, checked_scores
from harness.run.store import SuiteStore, suite_store
from harness.scoring import load_predictions
from harness.scoring.paired import LEVEL, Difference, PairedSettings, seed_paired_difference

PASSED, FAILED, ERROR = "passed", "failed", "error"
_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_MAX_REASON_CHARS = 160  # a failed run's reason can be a traceback line; the record has it all


def check_expectations(expectations: Sequence[Expectation], records_by_id: dict, suite,
                       runs_root: Path) -> list[dict]:
    """One row per expectation: {"expectation", "status", "measured"} (status passed/failed/error).

    `records_by_id` are the suite's stored records (SuiteStore.records_by_id); predictions for
    `significantly` are read from runs_root/<suite>/<run id>/predictions.jsonl.
    """
    checker = _Checker(records_by_id, suite, Path(runs_root))
    return [checker.check(expectation) for expectation in expectations]


def format_expectations(rows: Sequence[dict]) -> str:
    """The rows for a terminal: a count line, then each expectation with what was measured."""
    counts = {status: sum(row["status"] == status for row in rows)
              for status in (PASSED, FAILED, ERROR)}
    head = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    lines = [f"expectations: {head or 'none'}"]
    for row in rows:
        mark = row["status"].upper() if row["status"] != PASSED else PASSED
        lines.append(f"  {mark:<7} {row['expectation']}")
        lines.append(f"          {row['measured']}")
    return "\n".join(lines)


class _Checker:
    def __init__(self, records_by_id: dict, suite, runs_root: Path):
        self.store = SuiteStore(runs_root / suite.name)
        self.raw = records_by_id
        self.records: dict[tuple[str, str], RunRecord] = {}
        self.settings = PairedSettings.of(suite.baseline.spec)
        self.predictions: dict[tuple[str, str], list[dict]] = {}
        self.seeded = bool(suite.seeds)
        self.as_percent = False

    def check(self, expectation: Expectation) -> dict:
        comparison = expectation.comparison
        self.as_percent = any(isinstance(side, Number) and side.percent
                              for side in (comparison.left, comparison.right))
        left, right = expectation.left, expectation.right
        if isinstance(left, Side) and isinstance(right, Side):
            broken, missing, shown = self.relation(expectation, left, right)
            label = left.label if left.label == right.label else f"{left.label} vs {right.label}"
        else:
            broken, missing, shown = self.bound(expectation, left, right)
            label = next(side.label for side in (left, right) if isinstance(side, Side))
        measured = f"{label}: " + "; ".join(shown) if shown else label
        if missing:
            measured += ("; " if shown else ": ") + "not measured: " + "; ".join(missing)
        status = FAILED if broken else (ERROR if missing else PASSED)
        return {"expectation": expectation.text, "status": status, "measured": measured}

    def bound(self, expectation: Expectation, left, right) -> tuple[bool, list, list]:
        """A metric of each named run against a number."""
        side = left if isinstance(left, Side) else right
        compare = _COMPARE[expectation.comparison.comparator]
        broken, missing, shown = False, [], []
        for run in side.runs:
            value, why = self.value(side, run)
            if value is None:
                missing.append(f"{run.slug} ({why})")
                continue
            holds = compare(value, right) if side is left else compare(left, value)
            broken |= not holds
            shown.append(f"{run.slug} {self.format(side.metric, value)}"
                         + ("" if holds else " (fails)"))
        return broken, missing, shown

    def relation(self, expectation: Expectation, left: Side, right: Side) -> tuple:
        """The relation on each pair of runs the expectation compares."""
        comparison = expectation.comparison
        compare = _COMPARE[comparison.comparator]
        broken, missing, shown = False, [], []
        for a, b in expectation.pairs:
            (va, why_a), (vb, why_b) = self.value(left, a), self.value(right, b)
            if va is None or vb is None:
                missing += [f"{run.slug} ({why})" for run, v, why
                            in ((a, va, why_a), (b, vb, why_b)) if v is None]
                continue
            holds = compare(va, vb)
            text = (f"{a.slug} {self.format(left.metric, va)} vs "
                    f"{b.slug} {self.format(right.metric, vb)}")
            if a == b:  # one run under two rule sets or metrics
                text = (f"{a.slug} {self.format(left.metric, va)} vs "
                        f"{self.format(right.metric, vb)}")
            if comparison.significantly:
                paired = self.paired(left, right, a, b)
                if isinstance(paired, str):
                    missing.append(f"{a.slug} vs {b.slug} ({paired})")
                    continue
                # paired is a - b: "a < b" needs it below 0 over the whole interval
                clear = (paired.clearly_lower if comparison.comparator.startswith("<")
                         else paired.clearly_higher)
                holds = holds and clear
                # said only where the suite has seeds: there a one-seed test is the exception
                test = ("" if not self.seeded else f" over {paired.seeds} seed pairs and "
                        "utterances" if paired.seeds > 1 else " over utterances (one seed)")
                text += (f", difference {self.format(left.metric, paired.value, 1)}"
                         f" [{self.format(left.metric, paired.low, 1)}, "
                         f"{self.format(left.metric, paired.high, 1)}] at {LEVEL:.0%}{test}")
                text += "" if clear else ", not significant"
            broken |= not holds
            shown.append(text + ("" if holds else " (fails)"))
        return broken, list(dict.fromkeys(missing)), shown

    def value(self, side: Side, run: RunRef) -> tuple[float | None, str | None]:
        """The metric of a setting: the mean over its training-seed replicas' records, or None
        and why not (every replica must have it: a mean of the seeds that happen to be done
        would change as the others finish)."""
        values = []
        for seed, run_id in run.by_seed.items():
            value, why = self.run_value(side, run_id)
            if value is None:
                return None, why if len(run.by_seed) == 1 else f"seed {seed}: {why}"
            values.append(value)
        return sum(values) / len(values), None

    def path(self, run_id: str, decoder: str) -> Path:
        """The run's predictions file of a decoder."""
        name = PREDICTIONS_FILE if decoder == GREEDY else decoded_predictions_file(decoder)
        return self.store.run_dir(run_id) / name

    def record(self, run_id: str, decoder: str) -> RunRecord | None:
        """The run's record with the decoder's scores in place of `scores`, as they hold for
        the decoder's predictions on disk (as the report shows them); None when never run."""
        key = (run_id, decoder)
        if key not in self.records and run_id in self.raw:
            raw = self.raw[run_id]
            scores = raw.get("scores")
            if decoder != GREEDY:
                scores = RunRecord(raw).decoders.get(decoder)
            scores = checked_scores(scores, self.path(run_id, decoder))[0]
            self.records[key] = RunRecord({**raw, "scores": scores})
        return self.records.get(key)

    def run_value(self, side: Side, run_id: str) -> tuple[float | None, str | None]:
        """The metric of one run from its record, or None and why not."""
        record = self.record(run_id, side.decoder)
        if record is None:
            return None, "not run yet"
        if record.status != "finished":
            reason = str(record.reason or "no reason recorded")
            return None, "failed: " + reason[:_MAX_REASON_CHARS]
        if side.metric in RATE_METRICS and side.decoder != GREEDY and not record.scored:
            return None, f"not decoded with {side.decoder}"
        if side.metric in RATE_METRICS:
            if record.scores(side.rule_set) is None:
                return None, f"no scores under {side.rule_set}"
            value = record.rate(side.rule_set, side.metric)
            return (value, None) if value is not None else (None, "undefined: no reference words")
        value = record.train(side.metric)
        return (value, None) if value is not None else (None, f"no {side.metric} recorded")

    def paired(self, left: Side, right: Side, a: RunRef, b: RunRef) -> Difference | str:
        """The paired test of a (decoded as the left side says) against b (as the right side
        says): difference a - b, paired by the training seeds both were run with and by
        utterance, or why there is none. a and b may be one run under two decoders."""
        seeds = [seed for seed in a.by_seed if seed in b.by_seed]
        if not seeds:
            return f"{a.slug} and {b.slug} share no training seed to pair"
        wanted = {(a.by_seed[s], left.decoder) for s in seeds} | {
            (b.by_seed[s], right.decoder) for s in seeds}
        try:
            for run_id, decoder in sorted(wanted):
                if (run_id, decoder) not in self.predictions:
                    path = self.path(run_id, decoder)
                    if not path.is_file():
                        return f"run {run_id} has no {path.name} for the paired test"
                    self.predictions[(run_id, decoder)] = load_predictions(path)
        except UserError as error:
            return f"no paired test: {error}"
        pairs = [(self.predictions[(b.by_seed[s], right.decoder)],
                  self.predictions[(a.by_seed[s], left.decoder)]) for s in seeds]
        paired = seed_paired_difference(pairs, left.rule_set, left.metric, self.settings)
        return paired if paired.tested else str(paired.note)

    def format(self, metric: str, value: float | None, signed: int = 0) -> str:
        if value is None:
            return "n/a"
        sign = "+" if signed else ""
        if metric in RATE_METRICS:
            return f"{100 * value:{sign}.2f}%" if self.as_percent else f"{value:{sign}.4f}"
        if metric == "train_seconds":
            return f"{value:{sign}.1f} s"
        return f"{value:{sign}.4g}"


def check_suite(suite, runs_root: Path) -> list[dict]:
    """The suite's expectations checked against its stored records (empty when it has none)."""
    records = suite_store(suite, runs_root).records_by_id()
    return check_expectations(suite.expectations, records, suite, runs_root)
