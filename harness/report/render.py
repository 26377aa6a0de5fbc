"""Assemble reports/<suite>.md from the suite's stored results, with figures in reports/<suite>/.

The output depends only on the stored files: the date is the newest record's, not the clock,
so regenerating a report of unchanged results changes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from harness.config.suite import Suite
from harness.files import write_text_atomic
from harness.report import data as data_section
from harness.report.compare import differences, paired_settings
from harness.report.decoders import decoder_columns, decoder_notes, decoders_section
from harness.report.examples import best_run, examples, top_errors_table
from harness.report.figures import write_figures
from harness.report.load import FAILED, FLAGGED, NOT_RUN, SuiteResults, load_results
from harness.report.replicas import summarize
from harness.report.tables import (
    axis_tables,
    expectations_table,
    main_table,
    markdown_table,
    percent,
    status_table,
)
from harness.run.provenance import describe_hardware
from harness.standins import resolve_model_name


def write_report(suite: Suite, runs_root: Path, reports_root: Path, command: str | None = None,
                 expectations: list[dict] | None = None) -> Path:
    """Write reports_root/<suite>.md and its figures in reports_root/<suite>/; return the md path.

    Reads runs_root/<suite>/ only (results.jsonl, train logs, predictions); raises UserError when
    the suite has no results yet. `command` overrides the suite file's `# Command:` line;
    `expectations` (rows of expectation, status, measured) adds an Expectations section.
    """
    results = load_results(suite, Path(runs_root))
    reports_root = Path(reports_root)
    figures = write_figures(results, reports_root / suite.name)
    text = render(results, figures, command=command, expectations=expectations)
    path = reports_root / f"{suite.name}.md"
    write_text_atomic(path, text)
    return path


def render(results: SuiteResults, figures: Sequence, command: str | None = None,
           expectations: list[dict] | None = None) -> str:
    """The whole markdown document."""
    wer_diffs = differences(results, "wer")
    summaries = summarize(results, paired_settings(results))
    decoders = decoder_columns(results)
    parts = [header(results, command), main_section(results, wer_diffs, summaries, decoders)]
    if expectations is not None:
        parts.append(expectations_section(expectations))
    parts.append(status_section(results))
    parts.append(decoders_section(results, summaries, decoders))
    if results.suite.mode == "one_at_a_time":
        parts.append(axis_section(results, wer_diffs, summaries, decoders))
    parts += [figures_section(results.suite.name, figures), data_block(results),
              best_run_section(results)]
    return "\n\n".join(part.strip() for part in parts if part.strip()) + "\n"


def results_table(results: SuiteResults) -> str:
    """The main table alone (markdown), as the report has it: Δ and the cells over seeds."""
    diffs = differences(results, "wer")
    return markdown_table(main_table(results, diffs, summarize(results, paired_settings(results)),
                                     decoder_columns(results)))


# --- header ----------------------------------------------------------------------------------


def header(results: SuiteResults, command: str | None) -> str:
    """Title, question, and where every number comes from."""
    suite, records = results.suite, results.records
    counts = Counter(result.state for result in results.runs)
    states = ", ".join(f"{counts[s]} {s}" for s in ("finished", FLAGGED, FAILED, NOT_RUN)
                       if counts[s])
    lines = [
        f"# Suite `{suite.name}`",
        "",
        f"**Question:** {suite.question or '(the suite file states none)'}",
        "",
        f"- Command: `{command or suite.command or f'harness run {suite.path}'}`",
        f"- Suite file: `{suite.path}` ({suite.mode}, {len(suite.runs)} runs: {states})",
        f"- Date: {_date(records)} (the newest record)",
        f"- Harness: {_tally(records, _harness_version)}",
        f"- Hardware: {_tally(records, _hardware)}",
        f"- Model: {_model(results)}",
        f"- Data: {_data_source(results)}",
    ]
    if results.orphan_ids:
        lines.append(f"- Not shown: {len(results.orphan_ids)} stored records of runs no longer in "
                     f"the suite file ({', '.join(results.orphan_ids)})")
    return "\n".join(lines)


def _date(records: list[dict]) -> str:
    stamps = []
    for record in records:
        stamp = record.get("recorded_at")
        try:
            stamps.append(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z"))
        except (TypeError, ValueError):
            continue
    if not stamps:
        return "unknown (no record carries a time)"
    return max(stamps).strftime("%Y-%m-%d %H:%M %z")


def _harness_version(record: dict) -> str:
    git = record.get("git") or {}
    sha = git.get("sha")
    where = f"git {sha[:10]}" if sha else "no git checkout"
    if git.get("dirty"):
        where += " with uncommitted changes"
    return f"{record.get('harness_version', '?')}, {where}"


def _hardware(record: dict) -> str:
    info = record.get("hardware")
    return describe_hardware(info) if isinstance(info, dict) and info else "not recorded"


def _tally(records: list[dict], describe) -> str:
    """One value if all records agree, else each value with its number of runs."""
    counts = Counter(describe(record) for record in records)
    if len(counts) == 1:
        return next(iter(counts))
    return "; ".join(f"{value} ({n} runs)" for value, n in sorted(counts.items()))


def _model(results: SuiteResults) -> str:
    def describe(spec) -> str:
        model = spec.model
        if not model.name_or_path:
            return f"preset `{model.preset}` (built from a config, randomly initialized)"
        if model.init == "random":
            return f"`{model.name_or_path}`'s architecture from random weights (model.init: random)"
        return f"`{model.name_or_path}`" + _standin_note(model.name_or_path)

    baseline = describe(results.suite.baseline.spec)
    others = sorted({describe(run.spec) for run in results.suite.runs} - {baseline})
    return baseline + (f"; other runs: {', '.join(others)}" if others else "")


def _standin_note(name_or_path: str) -> str:
    """What a local checkpoint built by `harness standin` is, from its own standin.json."""
    summary_file = Path(resolve_model_name(name_or_path)).expanduser() / "standin.json"
    if not summary_file.is_file():
        return ""
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    test = summary.get("test", {})
    return (f" — a STAND-IN for a pretrained encoder: {summary.get('what', '')}; "
            f"{summary.get('steps')} updates, CER {test.get('cer', float('nan')):.3f} "
            f"{_standin_targets(test)}on its own held-out sentences; rebuilt by "
            f"`{summary.get('command', 'harness standin')}`")


def _standin_targets(test: dict) -> str:
    """'over IPA phones ' when the stand-in was scored on something other than its spelling."""
    return f"over {test['targets']} " if test.get("targets") else ""


def _data_source(results: SuiteResults) -> str:
    baseline = results.baseline
    report = ((baseline.record or {}).get("data") or {}).get("report")
    if isinstance(report, dict) and report.get("source"):
        return str(report["source"])
    data = baseline.run.spec.data
    if data.source == "hf":
        return f"hub dataset `{data.name}`" + (f" ({data.config})" if data.config else "")
    if data.source == "local":
        return f"local dataset `{data.path}`"
    synth = data.synth
    return (f"synthetic espeak-ng corpus (seed {synth.seed}, {synth.train:g} s train pool, "
            f"{synth.test:g} s test)")


# --- sections --------------------------------------------------------------------------------


def main_section(results: SuiteResults, diffs: dict, summaries: dict,
                 decoders: Sequence = ()) -> str:
    """The one table with every setting (its training seeds in one row); `decoders`
    (harness.report.decoders.decoder_columns) add a WER and Δ column each."""
    settings = paired_settings(results)
    notes = [
        "WER and CER in percent, corpus-level ((S + D + I) / N over summed counts), each with "
        "its 95% bootstrap interval in brackets; a column per scoring rule set.",
    ]
    if results.suite.seeds:
        notes.append(seeds_note(results, settings))
    if settings is not None:
        notes.append(
            f"Δ: run minus baseline in percentage points, with the {settings.level:.0%} interval "
            f"of a paired bootstrap on the same test utterances ({settings.n_boot} resamples of "
            f"{settings.block}s, bootstrap seed {settings.seed})"
            + (", paired by training seed as well where both settings have several "
               "(the two-level test); with one seed in common, the utterance bootstrap alone"
               if results.suite.seeds else "")
            + "; `*` marks a difference whose interval excludes 0.")
        one_seed = sorted({results_slug(results, run_id) for (run_id, _), diff in diffs.items()
                           if diff.tested and diff.seeds == 1})
        if results.suite.seeds and one_seed:
            notes.append("One training seed in common with the baseline, so Δ and `*` cover "
                         "test-set sampling only (the utterance bootstrap): "
                         + ", ".join(one_seed) + ".")
    else:
        notes.append("Δ: no differences, the baseline has no scores.")
    notes += decoder_notes(results, list(decoders))
    notes.append("Bold: the best value of its column (lowest WER, CER, Δ and training time; "
                 "highest audio seconds per second). Training time is the time spent in "
                 "training updates; audio s/s is training audio processed per second.")
    untested = sorted({f"{results_slug(results, run_id)}: {diff.note}"
                       for (run_id, _), diff in diffs.items()
                       if diff.note and settings is not None}
                      | {f"{results_slug(results, run_id)} ({decoder.name}): {diff.note}"
                         for decoder in decoders for (run_id, _), diff in decoder.diffs.items()
                         if diff.note and settings is not None})
    if untested:
        notes.append("Not tested: " + "; ".join(untested) + ".")
    rescored = [f"{result.run.slug}: {note}" for view in [results] + [
                    d.results for d in decoders] for result in view.runs
                for note in result.score_notes]
    if rescored:
        notes.append("Scores checked against the predictions on disk (sha256 and rule-set "
                     "version) and recomputed where they no longer held: "
                     + "; ".join(rescored) + ".")
    return "\n\n".join(["## Results",
                        markdown_table(main_table(results, diffs, summaries, decoders))]
                       + ["\n".join(f"- {note}" for note in notes)])


def seeds_note(results: SuiteResults, settings) -> str:
    """How the cells of a suite with `seeds:` read."""
    seeds = ", ".join(str(seed) for seed in results.suite.seeds)
    level = f"{settings.level:.0%}" if settings is not None else "95%"
    return (f"Training seeds (train.seed) {seeds}: a setting's cell is the mean over its seeds, "
            "± the standard deviation across seeds and (their min-max), then the "
            f"{level} interval of a two-level bootstrap (seeds resampled, then test "
            "utterances); a setting run with one seed shows that run's utterance-bootstrap "
            "interval.")


def results_slug(results: SuiteResults, run_id: str) -> str:
    """The setting name of a run id (the run's slug without the seed)."""
    return next((r.run.setting for r in results.runs if r.run.id == run_id), run_id)


def expectations_section(expectations: list[dict]) -> str:
    """What the suite was expected to show, and whether it did."""
    if not expectations:
        return "## Expectations\n\nNo expectations were given."
    return "## Expectations\n\n" + markdown_table(expectations_table(expectations))


def status_section(results: SuiteResults) -> str:
    """Runs that failed, were flagged by a guard, or have no record yet."""
    table = status_table(results)
    if table.empty:
        return "## Failed and flagged runs\n\nNone: every run of the suite finished unflagged."
    return "## Failed and flagged runs\n\n" + markdown_table(table)


def axis_section(results: SuiteResults, diffs: dict, summaries: dict,
                 decoders: Sequence = ()) -> str:
    """one_at_a_time: a small table per axis, the baseline and that axis's variants."""
    tables = axis_tables(results, diffs, summaries, decoders)
    if not tables:
        return ""
    parts = ["## One axis at a time"]
    for key, table in tables:
        parts += [f"### `{key}`", markdown_table(table)]
    return "\n\n".join(parts)


def figures_section(suite_name: str, figures: Sequence) -> str:
    """The figures, linked relative to the markdown file so they render on GitHub."""
    if not figures:
        return ""
    parts = ["## Figures"]
    for figure in figures:
        link = f"{quote(suite_name)}/{figure.name}"
        parts += [f"### {figure.title}", f"![{figure.title}]({link})", figure.caption]
    return "\n\n".join(parts)


def data_block(results: SuiteResults) -> str:
    """Per prepared dataset: sources, sizes, skipped utterances, OOV test characters."""
    sets = data_section.datasets(results)
    parts = ["## Data", f"{len(sets)} prepared dataset(s), from the data reports stored with "
             "the records (the dataset is the run's data key).",
             markdown_table(data_section.overview_table(sets))]
    splits = data_section.splits_table(sets)
    if not splits.empty:
        parts.append(markdown_table(splits))
    skipped = data_section.skipped_table(sets)
    parts.append("Skipped utterances by reason:\n\n" + markdown_table(skipped) if not skipped.empty
                 else "No utterance was skipped.")
    return "\n\n".join(parts)


def best_run_section(results: SuiteResults) -> str:
    """The best run's most frequent word errors and a few aligned test utterances."""
    if not results.rule_sets:
        return ""
    rule_set = results.rule_sets[0]
    best = best_run(results, rule_set)
    if best is None:
        return ""
    parts = [f"## Best run: {best.run.slug}",
             f"Lowest WER under `{rule_set}`: {percent(best.rate(rule_set))}% "
             f"(run `{best.run.id}`). Errors and alignments are of texts normalized with "
             f"`{rule_set}`."]
    errors = top_errors_table(best, rule_set)
    parts += ["### Most frequent word errors",
              markdown_table(errors) if not errors.empty else "No word errors."]
    chosen = examples(best, rule_set)
    if chosen:
        parts += ["### Example utterances",
                  "Utterances with errors, evenly spaced from the highest per-utterance WER "
                  "down (raw texts, then the alignment: S substitution, D deletion, "
                  "I insertion)."]
        for example in chosen:
            speaker = f", speaker {example.speaker}" if example.speaker is not None else ""
            parts.append(
                f"`{example.id}`{speaker}, {example.duration:.1f} s, word errors: "
                f"{example.errors} of {example.words}\n\n```text\nreference:  {example.reference}\n"
                f"hypothesis: {example.hypothesis}\n\n{example.aligned}\n```")
    elif best.predictions is None:
        parts.append(f"No examples: {best.run_dir / 'predictions.jsonl'} is missing.")
    return "\n\n".join(parts)
