"""The notebook API: results() reads a suite's stored records into one DataFrame row per run,
and run() on a suite whose runs are all recorded trains nothing and returns the same table.

The stored suite is tests/report_fixtures.py's (no training): references of 48 utterances x 8
words = 384 words and, words joined by single spaces, 1,535 characters:
    positions 1, 3, 5 are cat, dog, mat:               48 x 9 = 432 letters
    positions 0, 2, 4, 6, 7 index WORDS (64 letters in all) by (3i + 7k) mod 20; i = 0..39 is
    two full cycles, 2 x 64 x 5 = 640 letters, i = 40..47 add 25 + 26 + 26 + 26 + 24 = 127
    spaces:                                            48 x 7 = 336
    432 + 640 + 127 + 336 = 1,535
blog and whisper both lowercase and drop the full stop, so both score the same edits.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.api import results, run
from tests.report_fixtures import FAILED_REASON, PLAN, build_finished_suite

N_CHARS = 1535
SUITE_ORDER = ["baseline", "labeled=10min", "labeled=1h", "lr=3e-4", "lr=3e-3"]
# Per run: (WER, CER) under either rule set, counted by hand.
RATES = {
    "baseline": (16 / 384, 16 / N_CHARS),  # every 3rd of 48 utts: cat -> bat, 1 word, 1 char
    "labeled=10min": (144 / 384, 240 / N_CHARS),  # 48 x (cat->bat, dog->fog, mat->rug): 3 words,
    #                                                1 + 1 + 3 = 5 chars
    "labeled=1h": (16 / 384, 16 / N_CHARS),  # the baseline's hypotheses
    "lr=3e-3": (24 / 384, 96 / N_CHARS),  # every 2nd utt loses "dog": 1 word, 3 letters + 1 space
}


@pytest.fixture
def stored(tmp_path):
    """The fixture suite stored in reverse suite order, so results.jsonl's order is not the
    suite's."""
    suite, runs_root = build_finished_suite(tmp_path, plan_by_slug=dict(reversed(PLAN.items())))
    return suite, runs_root


def stored_records(runs_root) -> dict[str, dict]:
    """slug -> record, read straight from results.jsonl."""
    lines = (runs_root / "fixture" / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return {record["slug"]: record for record in map(json.loads, lines)}


def test_results_has_one_row_per_stored_run_in_suite_order(stored):
    """results() has one row per stored run, in the suite's order (not the file's); a run with
    no record (freeze=none, interrupted) has no row."""
    suite, runs_root = stored
    assert list(stored_records(runs_root)) == SUITE_ORDER[::-1]  # the file is in reverse
    frame = results(suite.path, runs_root)
    assert list(frame["run"]) == SUITE_ORDER
    assert list(frame["status"]) == ["finished", "finished", "finished", "failed", "finished"]
    assert list(frame["run_id"]) == [run.id for run in suite.runs[:5]]
    assert frame["steps"].tolist() == pytest.approx([100, 100, 100, float("nan"), 100],
                                                    nan_ok=True)
    assert list(frame["audio_seconds_per_s"])[:3] == [25.0, 30.0, 27.5]  # PLAN's speeds


def test_results_carry_each_runs_hand_counted_wer_and_cer(stored):
    """Each finished row has the hand-counted WER and CER of its predictions under both rule
    sets."""
    suite, runs_root = stored
    frame = results(suite.path, runs_root).set_index("run")
    for slug, (wer, cer) in RATES.items():
        for name in ("blog", "whisper"):
            assert frame.loc[slug, f"wer[{name}]"] == pytest.approx(wer), (slug, name)
            assert frame.loc[slug, f"cer[{name}]"] == pytest.approx(cer), (slug, name)


def test_results_intervals_are_the_stored_ones_around_the_rate(stored):
    """Interval columns hold the record's stored 95% bounds, which bracket the rate; a run with
    the same errors in every utterance has the degenerate interval [rate, rate]."""
    suite, runs_root = stored
    frame = results(suite.path, runs_root).set_index("run")
    records = stored_records(runs_root)
    # labeled=10min: 3 of 8 words wrong in every utterance, so every resample has WER 0.375.
    assert frame.loc["labeled=10min", "wer_low[blog]"] == pytest.approx(0.375)
    assert frame.loc["labeled=10min", "wer_high[blog]"] == pytest.approx(0.375)
    for slug in RATES:
        for name in ("blog", "whisper"):
            stored_score = records[slug]["scores"]["rule_sets"][name]
            for metric in ("wer", "cer"):
                low = frame.loc[slug, f"{metric}_low[{name}]"]
                high = frame.loc[slug, f"{metric}_high[{name}]"]
                assert low == stored_score[f"{metric}_interval"]["low"]
                assert high == stored_score[f"{metric}_interval"]["high"]
                assert low <= frame.loc[slug, f"{metric}[{name}]"] <= high
                assert low < high or slug == "labeled=10min"


def test_results_failed_row_has_its_reason_and_no_scores(stored):
    """The failed run's row has status 'failed', the stored reason and empty score columns;
    finished rows have no reason."""
    suite, runs_root = stored
    frame = results(suite.path, runs_root).set_index("run")
    failed = frame.loc["lr=3e-4"]
    assert failed["status"] == "failed" and failed["reason"] == FAILED_REASON
    assert failed[[c for c in frame.columns if c.startswith(("wer", "cer"))]].isna().all()
    assert frame.drop(index="lr=3e-4")["reason"].isna().all()


def test_results_columns_name_each_runs_change(stored):
    """Each changed setting is a column holding the run's value as the suite file writes it,
    empty for runs that keep the baseline's."""
    suite, runs_root = stored
    frame = results(suite.path, runs_root).set_index("run")
    assert frame.loc["labeled=10min", "data.labeled"] == "10min"
    assert frame.loc["labeled=1h", "data.labeled"] == "1h"
    assert frame.loc["lr=3e-4", "train.lr"] == "3e-4"
    assert frame.loc["lr=3e-3", "train.lr"] == "3e-3"
    assert pd.isna(frame.loc["baseline", "data.labeled"])
    assert pd.isna(frame.loc["baseline", "train.lr"])


def test_results_of_a_suite_never_run_is_empty(tmp_path):
    """A suite with no results.jsonl gives a DataFrame with no rows."""
    suite, runs_root = build_finished_suite(tmp_path, plan_by_slug={}, not_run_slug=None)
    assert len(results(suite.path, runs_root)) == 0


def test_run_on_a_fully_recorded_suite_trains_nothing_and_returns_results(tmp_path, capsys):
    """run() on a suite whose every run is recorded (the failed one is not retried) prepares
    and trains nothing, leaves results.jsonl as it was, and returns results()'s table."""
    plan = {**PLAN, "freeze=none": {"errors": "sub_every_3rd", "train_seconds": 90.0,
                                    "speed": 20.0, "at": "2024-05-02T10:00:00+0000"}}
    suite, runs_root = build_finished_suite(tmp_path, plan_by_slug=plan, not_run_slug=None)
    results_file = runs_root / "fixture" / "results.jsonl"
    before = results_file.read_bytes()
    cache = tmp_path / "cache"
    frame = run(suite.path, runs_root, cache_root=cache, interactive=False)
    assert results_file.read_bytes() == before
    assert not cache.exists()
    assert "skipping 6 run(s) already recorded" in capsys.readouterr().err
    assert list(frame["run"]) == [*SUITE_ORDER, "freeze=none"]
    assert frame.loc[5, "wer[blog]"] == pytest.approx(16 / 384)  # the baseline's errors
    pd.testing.assert_frame_equal(frame, results(suite.path, runs_root))
