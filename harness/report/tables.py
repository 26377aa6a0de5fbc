"""The report's run tables: pandas frames of formatted cells, rendered by tabulate (GitHub).

A table is a list of `Column`s applied to runs. A column that has a best value (lowest error,
fastest) marks it in bold in every row that reaches it, comparing the numbers as printed, so
two values that read the same are both marked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.config.durations import format_duration, parse_duration
from harness.config.settings import field_paths
from harness.config.suite import Run, Suite
from harness.config.values import display_value
from harness.report.compare import Difference
from harness.report.load import FAILED, FLAGGED, NOT_RUN, RunResult, SettingResult, SuiteResults

MAX_REASON_CHARS = 400  # a traceback-sized reason is cut here; error.txt keeps the whole of it


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table; cell text is kept as is, pipes and newlines escaped."""
    def clean(value: Any) -> str:
        return " ".join(str(value).split("\n")).replace("|", "\\|")

    frame = frame.rename(columns={c: clean(c) for c in frame.columns}).map(clean)
    return frame.to_markdown(index=False, tablefmt="github", disable_numparse=True)


def percent(rate: float | None) -> str:
    """0.03125 -> '3.12'; None -> 'n/a'."""
    return "n/a" if rate is None else f"{100 * rate:.2f}"


def interval_text(low: float | None, high: float | None) -> str:
    """' [1.90, 4.60]' in percent, or '' when the interval is undefined."""
    if low is None or high is None:
        return ""
    return f" [{100 * low:.2f}, {100 * high:.2f}]"


@dataclass(frozen=True)
class Cell:
    """A cell: the number that may be marked best (as printed), and the text after it."""

    point: str
    rest: str = ""
    rank: float | None = None  # None: not compared for best


@dataclass(frozen=True)
class Column:
    """A table column: header, the cell of a run, and whether lower or higher is best."""

    header: str
    cell: Callable[[RunResult | SettingResult], Cell]
    best: str | None = None  # "min", "max" or None


def run_table(runs: Sequence[RunResult | SettingResult],
              columns: Sequence[Column]) -> pd.DataFrame:
    """One row per run (or setting); the best value of each ranked column in bold."""
    data = {}
    for column in columns:
        cells = [column.cell(run) for run in runs]
        ranks = [cell.rank for cell in cells if cell.rank is not None]
        best = None
        if column.best and len(ranks) > 1:
            best = min(ranks) if column.best == "min" else max(ranks)
        data[column.header] = [
            (f"**{cell.point}**" if best is not None and cell.rank == best else cell.point)
            + cell.rest
            for cell in cells
        ]
    return pd.DataFrame(data, columns=[column.header for column in columns])


# --- columns ---------------------------------------------------------------------------------


def varying_keys(suite: Suite) -> list[str]:
    """Settings that differ between runs: axes with several values, then keys of extra runs."""
    keys = [key for key, values in suite.axes if len(values) > 1]
    keys += [key for run in suite.runs for key, _ in run.changes]
    return list(dict.fromkeys(keys))


def setting_texts(suite: Suite, key: str) -> dict[str, str]:
    """Run id -> the setting's value as the suite file writes it ('10min', '3e-4', 'all')."""
    baseline_text = _baseline_text(suite, key)
    texts = {}
    for run in suite.runs:
        changes = dict(run.changes)
        texts[run.id] = (display_value(changes[key], key) if key in changes
                         else baseline_text or spec_text(run, key))
    return texts


def _baseline_text(suite: Suite, key: str) -> str | None:
    """The axis value the baseline uses: the one no run lists as a change."""
    values = dict(suite.axes).get(key)
    if not values:
        return None
    changed = {display_value(value, key) for run in suite.runs
               for name, value in run.changes if name == key}
    left = list(dict.fromkeys(text for value in values
                              if (text := display_value(value, key)) not in changed))
    return left[0] if len(left) == 1 else None


def spec_text(run: Run, key: str) -> str:
    """A setting read from the validated spec; durations as '30min', labeled None as 'all'."""
    value: Any = run.spec
    for part in key.split("."):
        value = getattr(value, "schema_name" if part == "schema" else part)
    info = field_paths().get(key)
    parsers = {parse_duration.__name__, "_labeled_duration"}
    if isinstance(value, float) and info is not None and any(
            getattr(getattr(meta, "func", None), "__name__", None) in parsers
            for meta in info.metadata):
        return format_duration(value)
    return display_value(value, key)


def setting_column(suite: Suite, key: str) -> Column:
    """The value of one varying setting, labeled by its last part when that is unambiguous."""
    texts = setting_texts(suite, key)
    leaves = [k.rsplit(".", 1)[-1] for k in varying_keys(suite)]
    leaf = key.rsplit(".", 1)[-1]
    header = leaf if leaves.count(leaf) == 1 else key
    return Column(header, lambda result: Cell(texts[result.run.id]))


def status_column() -> Column:
    """finished, flagged, failed or not run."""
    return Column("status", lambda result: Cell(result.state))


def rate_column(rule_set: str, metric: str, summaries: dict, decoder: str | None = None) -> Column:
    """WER or CER in percent with its 95% interval; over several seeds the mean, ± the sd
    across seeds and the seeds' min-max, then the two-level interval. With `decoder`, the
    header names it (the cells must then be of that decoder's view, see DecoderColumns)."""
    def cell(result) -> Cell:
        summary = summaries.get((result.run.id, rule_set, metric))
        if summary is None:
            return Cell("n/a" if result.scored and rule_set in result.primary.stored.rule_sets
                        else "")
        point = percent(summary.mean)
        return Cell(point, spread_text(summary) + interval_text(summary.low, summary.high),
                    float(point))

    return Column(f"{metric.upper()} % {rule_set}" + (f" {decoder}" if decoder else ""), cell,
                  best="min")


def spread_text(summary) -> str:
    """' ±1.20 (70.90-73.40)' over several seeds, with '3 of 4 seeds' when some are missing."""
    if summary.seeds < 2:
        return "" if summary.replicas < 2 else f" (1 of {summary.replicas} seeds)"
    lowest, highest = min(summary.per_seed), max(summary.per_seed)
    text = f" ±{100 * summary.sd:.2f} ({100 * lowest:.2f}-{100 * highest:.2f})"
    if summary.seeds < summary.replicas:
        text += f" ({summary.seeds} of {summary.replicas} seeds)"
    return text


def difference_column(rule_set: str, metric: str, baseline_id: str,
                      diffs: dict[tuple[str, str], Difference],
                      decoder: str | None = None) -> Column:
    """Run minus baseline in percentage points, its paired interval, `*` when it excludes 0
    (with `decoder`: both under that decoder, and the header names it)."""
    def cell(result) -> Cell:
        if result.run.id == baseline_id:
            return Cell("baseline" if result.scored else "")
        diff = diffs.get((result.run.id, rule_set))
        if diff is None or diff.value is None:
            return Cell("" if diff is None else "n/a")
        point = f"{100 * diff.value:+.2f}"
        mark = " *" if diff.significant else ""
        return Cell(point, interval_text(diff.low, diff.high) + mark, float(point))

    return Column(f"Δ {metric.upper()} {rule_set}" + (f" {decoder}" if decoder else ""), cell,
                  best="min")


@dataclass(frozen=True)
class DecoderColumns:
    """What a decoder other than greedy adds to a table: its view of the suite
    (SuiteResults.decoded), that view's summaries and Δ to the baseline under the same decoder
    (harness.report.decoders.decoder_columns computes them), for the first rule set."""

    name: str
    results: SuiteResults
    summaries: dict
    diffs: dict

    def columns(self, rule_set: str) -> list[Column]:
        """WER and Δ WER under `rule_set`, each cell read from this decoder's view of the row."""
        settings = {setting.run.id: setting for setting in self.results.settings}
        baseline_id = self.results.baseline.run.id
        return [_through(settings, column) for column in (
            rate_column(rule_set, "wer", self.summaries, self.name),
            difference_column(rule_set, "wer", baseline_id, self.diffs, self.name))]


def _through(settings: dict[str, SettingResult], column: Column) -> Column:
    """The column with each row (a greedy setting) swapped for the same setting of a view."""
    return Column(column.header, lambda result: column.cell(settings[result.run.id]),
                  column.best)


def train_columns(runs: Sequence[SettingResult]) -> list[Column]:
    """Steps, training time (in minutes or hours, whichever reads better) and audio-s/s; for a
    setting over several seeds, the mean time and throughput."""
    seconds = [s for run in runs if isinstance(s := run.train("train_seconds"), (int, float))]
    hours = bool(seconds) and max(seconds) >= 2 * 3600
    unit, scale = ("h", 3600) if hours else ("min", 60)

    def steps(result) -> Cell:
        value = result.train("steps")
        return Cell("" if value is None else str(value))

    def train_time(result) -> Cell:
        value = result.train("train_seconds")
        if not isinstance(value, (int, float)):
            return Cell("")
        text = f"{value / scale:.1f}"
        return Cell(text, rank=float(text))

    def throughput(result) -> Cell:
        value = result.train("audio_seconds_per_s")
        if not isinstance(value, (int, float)):
            return Cell("")
        text = f"{value:.1f}"
        return Cell(text, rank=float(text))

    return [Column("steps", steps), Column(f"train {unit}", train_time, best="min"),
            Column("audio s/s", throughput, best="max")]


def score_columns(results: SuiteResults, diffs: dict, summaries: dict,
                  metrics: Sequence[str] = ("wer", "cer"),
                  decoders: Sequence[DecoderColumns] = ()) -> list[Column]:
    """Per rule set: WER, Δ WER to the baseline, CER (greedy decoding); then per other decoder
    its WER and Δ WER under the first rule set only, which keeps a table of 3 rule sets and 2
    decoders at 13 score columns rather than 27."""
    columns = []
    for rule_set in results.rule_sets:
        columns.append(rate_column(rule_set, "wer", summaries))
        columns.append(difference_column(rule_set, "wer", results.baseline.run.id, diffs))
        if "cer" in metrics:
            columns.append(rate_column(rule_set, "cer", summaries))
    if results.rule_sets:
        for decoder in decoders:
            columns += decoder.columns(results.rule_sets[0])
    return columns


# --- tables ----------------------------------------------------------------------------------


def main_table(results: SuiteResults, diffs: dict, summaries: dict,
               decoders: Sequence[DecoderColumns] = ()) -> pd.DataFrame:
    """Every setting of the suite (its seeds in one row): varying settings, status, scores,
    Δ to baseline (each decoder's too), training."""
    suite = results.suite
    settings = [setting_column(suite, key) for key in varying_keys(suite)]
    if not settings:
        settings = [Column("run", lambda result: Cell(result.run.slug))]
    seeds = [Column("seeds", lambda result: Cell(str(len(result.runs))))] if suite.seeds else []
    columns = settings + seeds + [status_column()] \
        + score_columns(results, diffs, summaries, decoders=decoders) \
        + train_columns(results.settings)
    return run_table(results.settings, columns)


def axis_tables(results: SuiteResults, diffs: dict, summaries: dict,
                decoders: Sequence[DecoderColumns] = ()) -> list[tuple[str, pd.DataFrame]]:
    """one_at_a_time: per axis, the baseline and the settings that change only that axis
    (WER and Δ per rule set, and each other decoder's under the first)."""
    suite = results.suite
    tables = []
    for key, values in suite.axes:
        if len(values) < 2:
            continue
        rows = [result for result in results.settings
                if result.run.id == suite.baseline.id
                or [name for name, _ in result.run.changes] == [key]]
        columns = [setting_column(suite, key), status_column()] + score_columns(
            results, diffs, summaries, metrics=("wer",), decoders=decoders)
        tables.append((key, run_table(rows, columns)))
    return tables


def status_table(results: SuiteResults) -> pd.DataFrame:
    """Runs that did not finish cleanly (failed, flagged, not run), each with its reason."""
    rows = []
    for result in results.runs:
        if result.state not in (FAILED, FLAGGED, NOT_RUN):
            continue
        rows.append({"run": result.run.slug, "id": result.run.id, "status": result.state,
                     "reason": _reason(result)})
    return pd.DataFrame(rows, columns=["run", "id", "status", "reason"])


def _reason(result: RunResult) -> str:
    if result.state == NOT_RUN:
        log = result.train_log
        if log is not None and log.last_step is not None:
            return f"no record in results.jsonl; interrupted after step {log.last_step}"
        return "no record in results.jsonl"
    if result.state == FLAGGED:
        return "; ".join(_flag_text(flag) for flag in result.record["flags"])
    reason = str(result.record.get("reason") or "no reason recorded")
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS] + f"… (whole text in {result.run_dir / 'error.txt'})"
    return reason


def _flag_text(flag: Any) -> str:
    if isinstance(flag, dict):
        name, message = flag.get("name"), flag.get("message")
        return f"{name}: {message}" if name and message else str(message or name or flag)
    return str(flag)


def expectations_table(expectations: Sequence[dict]) -> pd.DataFrame:
    """Rows of {expectation, status, measured}, as given."""
    columns = ["expectation", "status", "measured"]
    return pd.DataFrame([{key: row.get(key, "") for key in columns} for row in expectations],
                        columns=columns)
