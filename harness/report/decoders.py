"""Decoders in the report: each decoder's columns, what each decoder is, and a Decoders section.

A run's test set is decoded by every decoder of `eval.decoders` from the same stored CTC
outputs (harness/decode/), so a decoder is an ablation axis that costs no training. Each
decoder other than greedy is read through `SuiteResults.decoded(name)`, and its numbers come
from the machinery greedy uses (replicas.summarize, compare.differences), so a `*` means the
same thing in every column. Its LM weight and word bonus were chosen on the dev set: the report
says which values and from how large a grid, since a number tuned on test would not be a
result.
"""

from __future__ import annotations

import pandas as pd

from harness.config.settings import GREEDY
from harness.report.compare import differences, paired_settings, setting_difference
from harness.report.load import SuiteResults
from harness.report.replicas import summarize
from harness.report.tables import (
    DecoderColumns,
    interval_text,
    markdown_table,
    percent,
    spread_text,
)

_LM_TEXTS = {"train": "the run's training transcripts",
             "synthetic": "synthetic sentences of the corpus grammar that no split uses"}


def decoder_columns(results: SuiteResults) -> list[DecoderColumns]:
    """Each decoder other than greedy with its summaries and Δ to the baseline (same decoder),
    under the first rule set only (the columns the main table adds)."""
    if not results.rule_sets:
        return []
    first = results.rule_sets[:1]
    settings = paired_settings(results)
    out = []
    for name in results.decoders[1:]:
        view = results.decoded(name)
        out.append(DecoderColumns(name, view, summarize(view, settings, rule_sets=first),
                                  differences(view, "wer", rule_sets=first)))
    return out


def _spec_entry(results: SuiteResults, name: str) -> dict:
    """What the decoder is: the baseline spec's DecoderSpec, else the first record's entry."""
    spec = results.suite.baseline.spec.eval.decoder(name)
    if spec is not None:
        return spec.model_dump(mode="json")
    return next((entry for r in results.scored if (entry := r.decoded(name).decoder_entry)),
                {"name": name})


def what(results: SuiteResults, name: str) -> str:
    """'prefix beam search (width 32) with a 4-gram LM of the run's training transcripts'."""
    if name == GREEDY:
        return "greedy (the most likely token per frame)"
    entry = _spec_entry(results, name)
    kind, width = entry.get("kind"), entry.get("beam_width")
    beam = f"prefix beam search (width {width})" if width else "prefix beam search"
    lm = entry.get("lm")
    if kind != "ngram" or not isinstance(lm, dict):
        return f"{beam}, no LM" if kind == "beam" else f"{kind or 'unknown'} decoder"
    text = str(lm.get("text", "?"))
    source = _LM_TEXTS.get(text, f"the text file `{text}`")
    if text == "synthetic" and lm.get("sentences"):
        source += f" ({lm['sentences']} sentences)"
    return f"{beam} with a {lm.get('order', '?')}-gram LM of {source}"


def chosen(results: SuiteResults, name: str) -> str:
    """The LM weight and word bonus the baseline chose on dev, and from how many pairs."""
    baseline = results.baseline.decoded(name)
    entry, tuning = baseline.decoder_entry or {}, baseline.tuning
    if entry.get("kind") != "ngram" and not tuning:
        return ""
    if not tuning or not tuning.get("grid"):
        return (f" α (LM weight) {_number(entry.get('alpha'))}, β (word bonus) "
                f"{_number(entry.get('beta'))}, not tuned (a grid of one pair)")
    grid = tuning["grid"]
    on = f", dev WER under {tuning['rule_set']}" if tuning.get("rule_set") else ""
    dev = (f", {tuning['dev_utterances']} dev utterances" if tuning.get("dev_utterances")
           else "")
    picks = {(e.get("alpha"), e.get("beta")) for r in results.scored
             if (e := r.decoded(name).decoder_entry)}
    own = "" if len(picks) <= 1 else (f"; every run chooses its own on its own dev set "
                                      f"({len(picks)} different pairs chosen)")
    return (f" α (LM weight) {_number(entry.get('alpha'))} and β (word bonus) "
            f"{_number(entry.get('beta'))} chosen for the baseline from a grid of {len(grid)} "
            f"(α, β) pairs{on}{dev}; tuned on the dev set only, never on test{own}")


def _number(value) -> str:
    return "?" if not isinstance(value, (int, float)) else f"{value:g}"


def decoder_notes(results: SuiteResults, decoders: list[DecoderColumns]) -> list[str]:
    """One note per decoder for the main table: what it is, what was chosen on dev."""
    if not decoders:
        return []
    rule_set = results.rule_sets[0]
    notes = [f"Columns `WER % {rule_set} <decoder>` and `Δ WER {rule_set} <decoder>`: the "
             "test set decoded by another decoder of `eval.decoders` from the same stored CTC "
             "outputs, scored under the first rule set; Δ is the run minus the baseline, both "
             "decoded by it, with the same paired test. The other columns are greedy decoding."]
    for decoder in decoders:
        notes.append(f"Decoder `{decoder.name}`: {what(results, decoder.name)}."
                     + (f"{chosen(results, decoder.name)}." if chosen(results, decoder.name)
                        else ""))
    return notes


def decoders_section(results: SuiteResults, summaries: dict,
                     decoders: list[DecoderColumns]) -> str:
    """The baseline under each decoder (WER, CER, Δ to greedy on the same runs) and the dev
    grid each tuned decoder chose its α and β from."""
    if not decoders or not results.rule_sets:
        return ""
    rule_set = results.rule_sets[0]
    base_id = results.baseline.run.id
    settings = paired_settings(results)
    greedy_setting = results.settings[0]
    rows = []
    for name, cells, setting in [(GREEDY, summaries, greedy_setting)] + [
            (d.name, d.summaries, d.results.settings[0]) for d in decoders]:
        row = {"decoder": name, "what": what(results, name)}
        for metric in ("wer", "cer"):
            summary = cells.get((base_id, rule_set, metric))
            row[f"{metric.upper()} % {rule_set}"] = "" if summary is None else (
                percent(summary.mean) + spread_text(summary)
                + interval_text(summary.low, summary.high))
        row[f"Δ WER {rule_set} to greedy"] = "" if name == GREEDY else _delta(
            setting_difference(greedy_setting, setting, rule_set, "wer", settings))
        rows.append(row)
    parts = ["## Decoders",
             f"The baseline's test set under each decoder, scored under `{rule_set}`. Δ to "
             "greedy: the decoder minus greedy decoding of the same run(s), paired by utterance"
             + (" and training seed" if results.suite.seeds else "")
             + " (the report's paired bootstrap); `*` marks an interval that excludes 0.",
             markdown_table(pd.DataFrame(rows))]
    for decoder in decoders:
        grid = tuning_table(results, decoder.name)
        if grid is not None:
            parts += [f"### `{decoder.name}`: dev-set tuning of the baseline",
                      "Each (α, β) pair decoded the dev set; the pair with the lowest dev WER "
                      "(bold) decoded the test set.", markdown_table(grid)]
    return "\n\n".join(parts)


def _delta(diff) -> str:
    if diff.value is None:
        return "n/a" + (f" ({diff.note})" if diff.note else "")
    return (f"{100 * diff.value:+.2f}" + interval_text(diff.low, diff.high)
            + (" *" if diff.significant else ""))


def tuning_table(results: SuiteResults, name: str) -> pd.DataFrame | None:
    """alpha, beta, dev WER % of the baseline's grid, the chosen pair in bold; None if untuned."""
    baseline = results.baseline.decoded(name)
    tuning, entry = baseline.tuning, baseline.decoder_entry or {}
    if not tuning or not tuning.get("grid"):
        return None
    rows = []
    for point in tuning["grid"]:
        picked = (point.get("alpha"), point.get("beta")) == (entry.get("alpha"),
                                                              entry.get("beta"))
        cells = [_number(point.get("alpha")), _number(point.get("beta")),
                 percent(point.get("dev_wer"))]
        rows.append([f"**{cell}**" if picked else cell for cell in cells])
    return pd.DataFrame(rows, columns=["α", "β", "dev WER %"])
