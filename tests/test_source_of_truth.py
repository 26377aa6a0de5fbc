"""One source of truth: every number a report or an expectation shows is the stored score of
the predictions on disk under today's rule set, or is recomputed from them and says so."""

from __future__ import annotations

import json

from harness.cli import main
from harness.expect.check import FAILED, PASSED, check_suite
from harness.report.render import write_report
from harness.run.store import SuiteStore
from tests import report_fixtures as fx
from tests.test_seeds import row_of

SUITE = {**fx.SUITE, "expect": ["wer[baseline] < 4.2%"]}


def build(tmp_path):
    suite, runs_root = fx.build_finished_suite(tmp_path, SUITE)
    by_slug = {run.slug: run for run in suite.runs}
    return suite, runs_root, SuiteStore(runs_root / suite.name), by_slug


def table_rows(table: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in table.splitlines() if line.startswith("|")]


def results_table(text: str) -> str:
    return text.split("## Results", 1)[1].split("##", 1)[0]


def test_a_prediction_changed_after_scoring_cannot_show_its_stale_number(tmp_path):
    """Baseline scored at 16/384 = 4.17%; one more wrong word in predictions.jsonl makes it
    17/384 = 4.43%, and the report shows 4.43 beside a Δ of labeled=1h that agrees (-0.26)."""
    suite, runs_root, store, runs = build(tmp_path)
    path = store.run_dir(runs["baseline"].id) / "predictions.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[1])  # utt001: right in every word (only every 3rd has an error)
    assert first["id"] == "utt001"
    first["hypothesis"] = "xxx " + first["hypothesis"].split(" ", 1)[1]
    lines[1] = json.dumps(first)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = write_report(suite, runs_root, tmp_path / "reports").read_text(encoding="utf-8")
    table = results_table(text)
    header = row_of(table, "labeled")
    wer, delta = header.index("WER % blog"), header.index("Δ WER blog")
    baseline = next(row for row in (row_of(table, "30min"),) if row[delta] == "baseline")
    assert baseline[wer].startswith("4.43 [")
    assert row_of(table, "1h")[delta].startswith("**-0.26** [")
    assert "4.17" not in baseline[wer]
    assert "baseline: blog: predictions.jsonl changed since it was scored: rescored" in text
    rows = {row["expectation"]: row for row in check_suite(suite, runs_root)}
    assert rows["wer[baseline] < 4.2%"]["status"] == FAILED
    assert "baseline 4.43%" in rows["wer[baseline] < 4.2%"]["measured"]


def test_unchanged_predictions_keep_their_stored_scores(tmp_path):
    """Nothing changed: the stored 4.17% stands, nothing is rescored, the expectation holds."""
    suite, runs_root, _, _ = build(tmp_path)
    text = write_report(suite, runs_root, tmp_path / "reports").read_text(encoding="utf-8")
    assert "rescored" not in text
    assert check_suite(suite, runs_root)[0]["status"] == PASSED


def test_a_rule_set_changed_since_scoring_is_rescored_and_named(tmp_path):
    """A stored version that is not today's rule set's is recomputed, and the report says so."""
    suite, runs_root, store, runs = build(tmp_path)
    record = store.records_by_id()[runs["lr=3e-3"].id]
    record["scores"]["rule_sets"]["whisper"]["version"] = "0123456789ab"
    record["scores"]["rule_sets"]["whisper"]["wer"] = 0.5  # what that older rule set gave
    store.put(record)
    text = write_report(suite, runs_root, tmp_path / "reports").read_text(encoding="utf-8")
    assert ("lr=3e-3: whisper: the rule set changed since it was scored (version 0123456789ab"
            in text)
    header = row_of(results_table(text), "labeled")
    row = next(cells for cells in table_rows(results_table(text))
               if cells[header.index("lr")] == "3e-3")
    assert row[header.index("WER % whisper")].startswith("6.25 [")  # 24/384, not 50.00


def test_harness_score_puts_a_new_rule_set_into_the_report(tmp_path, capsys):
    """Rescoring a run with librispeech adds it to the run's record, so the report has its
    column (the baseline, 16 errors in 384 words under every rule set here: 4.17)."""
    suite, runs_root, store, runs = build(tmp_path)
    run_dir = store.run_dir(runs["baseline"].id)
    assert main(["score", str(run_dir), "--text", "librispeech"]) == 0
    assert "updated its record" in capsys.readouterr().out
    record = store.records_by_id()[runs["baseline"].id]
    assert set(record["scores"]["rule_sets"]) == {"blog", "whisper", "librispeech"}
    assert record["scores"]["bootstrap"]["n_boot"] == 200  # the record's resamples, kept
    text = write_report(suite, runs_root, tmp_path / "reports").read_text(encoding="utf-8")
    table = results_table(text)
    header = row_of(table, "labeled")
    assert "WER % librispeech" in header
    baseline = next(line for line in table.splitlines() if "| baseline" in line)
    cells = [cell.strip() for cell in baseline.strip().strip("|").split("|")]
    assert cells[header.index("WER % librispeech")].startswith("4.17 [")
