"""Suite progress as a person reads it: one plain line per event off a terminal, bars on one;
and the headline (RunRecord.headline) it prints for a finished run."""

from __future__ import annotations

import io
from types import SimpleNamespace

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


def test_say_prints_one_line_and_step_prints_nothing_off_a_terminal():
    """Off a terminal, say() writes its message as one line and step() writes nothing."""
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
    bars = [progress._suite_bar, progress._run_bar]
    assert all(bar in tqdm._instances for bar in bars)
    progress.close()
    assert not any(bar in tqdm._instances for bar in bars)
