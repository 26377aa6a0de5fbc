"""Progress a person can follow: suite bar (done/failed/left, ETA) and the current run's steps.

On a terminal, two tqdm bars; elsewhere (CI logs, pipes, a Slurm or Ray job's stdout) one plain
line per event, so logs stay readable, and while a run trains a line at a bounded cadence (every
LINE_EVERY_UPDATES updates or every LINE_EVERY_S seconds, whichever is rarer, and at each dev
evaluation and the last update) with the figures the run bar shows, in this form:

    baseline: update 200/800, loss 0.512, dev CER 0.231, 95 audio-s/s, ETA 4.2 min
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from harness.run.record import RunRecord

# An hour-long run logs ~100 lines at most, and a fast one no more than two a minute.
LINE_EVERY_UPDATES = 50
LINE_EVERY_S = 30.0


def run_figures(figures: dict, total: int | None) -> dict[str, str]:
    """The figures a run shows (bar postfix and log line): loss, last dev CER, audio-s/s, ETA
    (the run's mean seconds per update so far times the updates left)."""
    shown = {}
    if "loss" in figures:
        shown["loss"] = f"{figures['loss']:.3f}"
    if figures.get("dev_cer") is not None:
        shown["dev CER"] = f"{figures['dev_cer']:.3f}"
    if "audio_seconds_per_s" in figures:
        shown["audio-s/s"] = f"{figures['audio_seconds_per_s']:.0f}"
    step, elapsed = figures.get("step"), figures.get("elapsed_s")
    if total and step and elapsed is not None:
        shown["ETA"] = f"{elapsed / step * max(total - step, 0) / 60:.1f} min"
    return shown


class SuiteProgress:
    """Reports a suite's progress to stderr: bars on a terminal, lines otherwise."""

    def __init__(self, suite_name: str, total: int, interactive: bool | None = None,
                 stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.suite_name = suite_name
        self.total = total
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._suite_bar = None
        self._run_bar = None
        self._run: dict = {}  # the current run: slug, total, latest figures, last line's mark
        if self.interactive:
            self._suite_bar = tqdm(total=total, desc=f"suite {suite_name}", unit="run",
                                   position=0, file=self.stream, dynamic_ncols=True)

    def say(self, message: str) -> None:
        """A line of its own (above the bars on a terminal)."""
        if self.interactive:
            tqdm.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def run_started(self, slug: str, run_id: str, total_steps: int | None) -> None:
        """A run begins (or resumes)."""
        left = self.total - self.done - self.failed
        self.say(f"[{self.done + self.failed + 1}/{self.total}] {slug} ({run_id}): training "
                 f"({left} left, {self.failed} failed)")
        self._run = {"slug": slug, "total": total_steps, "figures": {}, "line": None}
        if self.interactive:
            self._run_bar = tqdm(total=total_steps, desc=slug, unit="step", position=1,
                                 leave=False, file=self.stream, dynamic_ncols=True)

    def step(self, update: dict) -> None:
        """A train_log.jsonl record: an update (step, loss, throughput) or a dev evaluation."""
        if not self._run:
            return
        figures, total = self._run["figures"], self._run["total"]
        figures.update({key: value for key, value in update.items()
                        if isinstance(value, (int, float)) and not isinstance(value, bool)})
        shown = run_figures(figures, total)
        if self._run_bar is not None:
            self._run_bar.n = int(figures.get("step", self._run_bar.n))
            self._run_bar.set_postfix(shown, refresh=False)
            self._run_bar.refresh()
        elif "step" in figures and self._line_due(int(figures["step"]), "dev_cer" in update):
            told = f"update {int(figures['step'])}/{total if total else '?'}"
            self.say(f"    {self._run['slug']}: " + ", ".join(
                [told, *(f"{value} {name}" if name == "audio-s/s" else f"{name} {value}"
                         for name, value in shown.items())]))

    def _line_due(self, step: int, dev: bool) -> bool:
        """Off a terminal: at a dev evaluation, the last update, and when both LINE_EVERY_UPDATES
        updates and LINE_EVERY_S seconds have passed since the last line (or the first record)."""
        now = time.monotonic()
        mark = self._run["line"]
        if mark is None:
            self._run["line"] = (step, now)
        due = dev or step == self._run["total"] or (
            mark is not None and step - mark[0] >= LINE_EVERY_UPDATES
            and now - mark[1] >= LINE_EVERY_S)
        if due:
            self._run["line"] = (step, now)
        return due

    def run_finished(self, slug: str, record: dict) -> None:
        """A run ends, finished or failed, with its headline or its reason."""
        self._close_run_bar()
        self._run = {}
        stored = RunRecord(record)
        if stored.status == "finished":
            self.done += 1
            self.say(f"    {slug}: finished, {stored.headline()}")
        else:
            self.failed += 1
            self.say(f"    {slug}: FAILED: {stored.reason}")
        if self._suite_bar is not None:
            self._suite_bar.update(1)
            self._suite_bar.set_postfix(done=self.done, failed=self.failed, refresh=True)
        elif self.done + self.failed < self.total:
            elapsed = time.monotonic() - self.started
            eta = elapsed / (self.done + self.failed) * (self.total - self.done - self.failed)
            self.say(f"    suite {self.suite_name}: {self.done} done, {self.failed} failed, "
                     f"{self.total - self.done - self.failed} left, ETA {eta / 60:.1f} min")

    def close(self) -> None:
        """Remove the bars."""
        self._close_run_bar()
        if self._suite_bar is not None:
            self._suite_bar.close()

    def _close_run_bar(self) -> None:
        if self._run_bar is not None:
            self._run_bar.close()
            self._run_bar = None
