"""Suite progress as a person reads it: one plain line per event off a terminal, bars on one;
and the headline (RunRecord.headline) it prints for a finished run."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from tqdm import tqdm

from harness.run import progress as progress_module
from harness.run.progress import SuiteProgress
from harness.run.record import RunRecord

FAILED_REASON = "RuntimeError: loss is NaN at update 40"


def finished(rule_sets: dict | None) -> dict:
    """A finished record with these rule-set scores (None: no scores at all)."""
    return {"status": "finished", "reason": None,
            "scores": None if rule_sets is None else {"rule_sets": rule_sets}}


FAILED = {"status": "failed", "reason": FAILED_REASON, "scores": None}
# 0.2314 -> "0.231", 0.0816 -> "0.082": three decimals, rounded, no ties.
SCORED = finished({"blog": {"wer": 0.2314, "cer": 0.0816},
                   "whisper": {"wer": 0.1, "cer": 0.05}})


def headline(record: dict) -> str:
    return RunRecord(record).headline()


def clock(monkeypatch, *readings: float) -> None:
    """Make progress's time.monotonic return these readings, in order, one per call."""
    values = iter(readings)
    monkeypatch.setattr(progress_module, "time", SimpleNamespace(monotonic=lambda: next(values)))


def plain(suite: str = "fixture", total: int = 3) -> tuple[SuiteProgress, io.StringIO]:
    stream = io.StringIO()
    return SuiteProgress(suite, total, interactive=False, stream=stream), stream


def test_headline_names_the_first_rule_set_with_three_decimals():
    """headline() shows WER and CER of the first rule set, rounded to 3 decimals, and its name."""
    assert headline(SCORED) == "WER 0.231 CER 0.082 (blog)"


def test_headline_without_scores_says_so():
    """A record with no scores, or an empty rule_sets, reads 'no scores'."""
    assert headline(finished(None)) == "no scores"
    assert headline(finished({})) == "no scores"
    assert headline(FAILED) == "no scores"


def test_headline_of_an_undefined_rate_is_n_a():
    """A rate of None (every reference normalized to nothing) reads 'n/a', not a number."""
    record = finished({"none": {"wer": None, "cer": 0.5}})
    assert headline(record) == "WER n/a CER 0.500 (none)"


def test_run_started_line_counts_position_left_and_failed(monkeypatch):
    """Off a terminal, run_started prints '[k/total] slug (id): training (left, failed)'."""
    clock(monkeypatch, 0.0, 10.0)
    progress, stream = plain(total=3)
    progress.run_started("baseline", "a1b2c3", 100)
    progress.run_finished("baseline", FAILED)
    progress.run_started("lr=3e-4", "d4e5f6", 100)
    lines = stream.getvalue().splitlines()
    # Second run: 0 done + 1 failed + 1 = position 2; 3 - 0 - 1 = 2 left (this one included).
    assert lines[0] == "[1/3] baseline (a1b2c3): training (3 left, 0 failed)"
    assert lines[-1] == "[2/3] lr=3e-4 (d4e5f6): training (2 left, 1 failed)"


def test_run_finished_lines_and_suite_eta(monkeypatch):
    """Off a terminal, a finished run prints its headline, a failed one its reason, and while
    runs are left the suite line gives done, failed, left and the ETA from the mean run time."""
    # Started at 100 s; the first run ends at 190 s, the second at 220 s.
    clock(monkeypatch, 100.0, 190.0, 220.0)
    progress, stream = plain(total=3)
    progress.run_finished("baseline", SCORED)
    progress.run_finished("lr=3e-4", FAILED)
    progress.run_finished("lr=3e-3", finished(None))  # the last: no ETA line, no clock reading
    assert stream.getvalue().splitlines() == [
        "    baseline: finished, WER 0.231 CER 0.082 (blog)",
        # 90 s for 1 run, 2 left: 90 / 1 * 2 = 180 s = 3.0 min
        "    suite fixture: 1 done, 0 failed, 2 left, ETA 3.0 min",
        f"    lr=3e-4: FAILED: {FAILED_REASON}",
        # 120 s for 2 runs, 1 left: 120 / 2 * 1 = 60 s = 1.0 min
        "    suite fixture: 1 done, 1 failed, 1 left, ETA 1.0 min",
        "    lr=3e-3: finished, no scores",
    ]
    assert (progress.done, progress.failed) == (2, 1)


def test_say_prints_one_line_and_an_early_step_prints_nothing_off_a_terminal():
    """Off a terminal, say() writes its message as one line and a step before the line cadence
    (50 updates and 30 s) writes nothing."""
    progress, stream = plain()
    progress.run_started("baseline", "a1b2c3", 10)
    before = stream.getvalue()
    progress.step({"step": 3, "loss": 1.5, "audio_seconds_per_s": 20.0})
    assert stream.getvalue() == before
    progress.say("data 0123abcd: preparing")
    assert stream.getvalue() == before + "data 0123abcd: preparing\n"
    progress.close()
    assert stream.getvalue() == before + "data 0123abcd: preparing\n"


def test_interactive_bars_show_steps_and_close_removes_them():
    """On a terminal, step() shows the update and loss on the run bar, run_finished counts the
    run on the suite bar, and close() leaves no live bar behind."""
    stream = io.StringIO()
    progress = SuiteProgress("fixture", 2, interactive=True, stream=stream)
    progress.run_started("baseline", "a1b2c3", 10)
    progress.step({"step": 4, "loss": 1.23456, "audio_seconds_per_s": 25.4})
    progress.step({"loss": 1.0})  # no step: the bar keeps 4
    assert "4/10" in stream.getvalue() and "loss=1.235" in stream.getvalue()
    assert "audio-s/s=25" in stream.getvalue()
    progress.run_finished("baseline", SCORED)
    assert "baseline: finished, WER 0.231 CER 0.082 (blog)\n" in stream.getvalue()
    assert "1/2" in stream.getvalue() and "done=1, failed=0" in stream.getvalue()
    progress.run_started("lr=3e-4", "d4e5f6", None)  # unknown length: a counter, no total
    progress.step({"step": 2})
    bars = [progress._suite_bar, progress._runs["lr=3e-4"]["bar"]]
    assert all(bar in tqdm._instances for bar in bars)
    progress.close()
    assert not any(bar in tqdm._instances for bar in bars)


def _train_record(step: int, seconds_per_update: float) -> dict:
    return {"step": step, "loss": 2.0, "lr": 1e-3, "grad_norm": 1.0,
            "audio_seconds_per_s": 50.0, "elapsed_s": step * seconds_per_update}


def test_off_a_terminal_a_run_prints_a_line_every_50_updates_when_updates_are_slow(monkeypatch):
    """At 1 s per update, 50 updates (50 s) is the rarer cadence: lines at updates 60 and 150
    (50 after the first record and after the last line), at the dev evaluation, and at the last
    update, each with update/total, loss, last dev CER, audio-s/s and the run's ETA."""
    steps = list(range(10, 201, 10))
    # The clock reads the update number in seconds: once at start, then once per record (the
    # dev record at update 100 comes right after that update's own record).
    readings = [0.0] + [float(step) for step in steps[:10]] + [100.0] + \
        [float(step) for step in steps[10:]]
    clock(monkeypatch, *readings)
    progress, stream = plain(total=1)
    progress.run_started("baseline", "a1b2c3", 200)
    for step in steps:
        progress.step(_train_record(step, 1.0))
        if step == 100:
            progress.step({"step": 100, "dev_utterances": 8, "dev_cer": 0.25, "dev_wer": 0.5,
                           "blank_share": 0.4, "empty_share": 0.0})
    lines = stream.getvalue().splitlines()[1:]
    # ETA = elapsed / update x updates left: 60 s / 60 x 140 = 140 s = 2.3 min; 100 x 1 s = 1.7
    # min; 50 s = 0.8 min; none left at 200.
    assert lines == [
        "    baseline: update 60/200, loss 2.000, 50 audio-s/s, ETA 2.3 min",
        "    baseline: update 100/200, loss 2.000, dev CER 0.250, 50 audio-s/s, ETA 1.7 min",
        "    baseline: update 150/200, loss 2.000, dev CER 0.250, 50 audio-s/s, ETA 0.8 min",
        "    baseline: update 200/200, loss 2.000, dev CER 0.250, 50 audio-s/s, ETA 0.0 min",
    ]


def test_off_a_terminal_fast_updates_print_a_line_every_30_seconds():
    """At 0.1 s per update, 30 s (300 updates) is the rarer cadence: between the first record
    (update 10, 1 s) and update 400, one line only, at update 310 (31 s)."""
    stream = io.StringIO()
    now = {"t": 0.0}
    progress = SuiteProgress("fixture", 1, interactive=False, stream=stream)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(progress_module, "time", SimpleNamespace(monotonic=lambda: now["t"]))
        progress.run_started("lr=3e-4", "d4e5f6", 1000)
        for step in range(10, 401, 10):
            now["t"] = step * 0.1
            progress.step(_train_record(step, 0.1))
    lines = stream.getvalue().splitlines()[1:]
    assert [line.split(",")[0] for line in lines] == ["    lr=3e-4: update 310/1000"]


def test_the_terminal_bar_shows_the_same_figures_as_the_log_line():
    """On a terminal the run bar's postfix carries loss, the last dev CER, audio-s/s and ETA."""
    stream = io.StringIO()
    progress = SuiteProgress("fixture", 1, interactive=True, stream=stream)
    progress.run_started("baseline", "a1b2c3", 200)
    progress.step(_train_record(100, 1.0))
    progress.step({"step": 100, "dev_utterances": 8, "dev_cer": 0.25, "dev_wer": 0.5})
    shown = stream.getvalue()
    progress.close()
    assert "100/200" in shown
    assert "loss=2.000, dev CER=0.250, audio-s/s=50, ETA=1.7 min" in shown


def test_runs_training_at_once_each_get_their_lines_named_by_slug():
    """Two runs at once (cpu_parallel): each record goes to its run's figures and cadence, and
    the started count covers the runs still training."""
    stream = io.StringIO()
    progress = SuiteProgress("fixture", 3, interactive=False, stream=stream)
    progress.run_started("baseline", "a1b2c3", 10)
    progress.run_started("lr=3e-4", "d4e5f6", 10)
    progress.step({**_train_record(10, 1.0), "loss": 0.5}, slug="baseline")
    progress.step({"step": 3, "dev_cer": 0.4}, slug="lr=3e-4")
    progress.run_finished("baseline", SCORED)
    progress.step({"step": 5, "dev_cer": 0.3}, slug="baseline")  # finished: ignored
    lines = stream.getvalue().splitlines()
    assert lines[:2] == ["[1/3] baseline (a1b2c3): training (3 left, 0 failed)",
                         "[2/3] lr=3e-4 (d4e5f6): training (3 left, 0 failed)"]
    assert "    baseline: update 10/10, loss 0.500, 50 audio-s/s, ETA 0.0 min" in lines
    assert "    lr=3e-4: update 3/10, dev CER 0.400" in lines
    assert not any("dev CER 0.300" in line for line in lines)
