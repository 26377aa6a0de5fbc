"""Progress a person can follow: suite bar (done/failed/left, ETA) and the current run's steps.

On a terminal, two tqdm bars; elsewhere (CI logs, pipes, a Slurm or Ray job's stdout) one plain
line per event, so logs stay readable, and while a run trains a line at a bounded cadence (every
LINE_EVERY_UPDATES updates or every LINE_EVERY_S seconds, whichever is rarer, and at each dev
evaluation and the last update) with the figures the run bar shows, in this form:

    baseline: update 200/800, loss 0.512, dev CER 0.231, 95 audio-s/s, ETA 4.2 min
"""

from __future__ import annotations

import sys
import threading
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
    """Reports a suite's progress to stderr: bars on a terminal, lines otherwise.

    Several runs may train at once (cpu_parallel, runs_per_gpu: their workers' records come in
    from other threads), each with its own bar or lines, named by its slug.
    """

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
        # Runs training now, by slug: total, latest figures, last line's mark, bar.
        self._runs: dict[str, dict] = {}
        self._lock = threading.RLock()
        if self.interactive:
            self._suite_bar = tqdm(total=total, desc=f"suite {suite_name}", unit="run",
                                   position=0, file=self.stream, dynamic_ncols=True)

    def say(self, message: str) -> None:
        """A line of its own (above the bars on a terminal)."""
        with self._lock:
            if self.interactive:
                tqdm.write(message, file=self.stream)
            else:
                print(message, file=self.stream, flush=True)

    def run_started(self, slug: str, run_id: str, total_steps: int | None) -> None:
        """A run begins (or resumes)."""
        with self._lock:
            started = self.done + self.failed + len(self._runs) + 1
            left = self.total - self.done - self.failed
            self.say(f"[{started}/{self.total}] {slug} ({run_id}): training "
                     f"({left} left, {self.failed} failed)")
            bar = None
            if self.interactive:
                bar = tqdm(total=total_steps, desc=slug, unit="step",
                           position=1 + len(self._runs), leave=False, file=self.stream,
                           dynamic_ncols=True)
            self._runs[slug] = {"total": total_steps, "figures": {}, "line": None, "bar": bar}

    def step(self, update: dict, slug: str | None = None) -> None:
        """A train_log.jsonl record of run `slug` (default: the run started last): an update
        (step, loss, throughput) or a dev evaluation."""
        with self._lock:
            if slug is None:
                slug = next(reversed(self._runs), None)
            run = self._runs.get(slug)
            if run is None:
                return
            figures, total = run["figures"], run["total"]
            figures.update({key: value for key, value in update.items()
                            if isinstance(value, (int, float)) and not isinstance(value, bool)})
            shown = run_figures(figures, total)
            if run["bar"] is not None:
                run["bar"].n = int(figures.get("step", run["bar"].n))
                run["bar"].set_postfix(shown, refresh=False)
                run["bar"].refresh()
            elif "step" in figures and _line_due(run, int(figures["step"]), "dev_cer" in update):
                told = f"update {int(figures['step'])}/{total if total else '?'}"
                self.say(f"    {slug}: " + ", ".join(
                    [told, *(f"{value} {name}" if name == "audio-s/s" else f"{name} {value}"
                             for name, value in shown.items())]))

    def run_finished(self, slug: str, record: dict) -> None:
        """A run ends, finished or failed, with its headline or its reason."""
        with self._lock:
            self._close_bar(slug)
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
        with self._lock:
            for slug in list(self._runs):
                self._close_bar(slug)
            if self._suite_bar is not None:
                self._suite_bar.close()

    def _close_bar(self, slug: str) -> None:
        run = self._runs.pop(slug, None)
        if run is not None and run["bar"] is not None:
            run["bar"].close()


def _line_due(run: dict, step: int, dev: bool) -> bool:
    """Off a terminal: at a dev evaluation, the last update, and when both LINE_EVERY_UPDATES
    updates and LINE_EVERY_S seconds have passed since the run's last line (or first record)."""
    now = time.monotonic()
    mark = run["line"]
    if mark is None:
        run["line"] = (step, now)
    due = dev or step == run["total"] or (
        mark is not None and step - mark[0] >= LINE_EVERY_UPDATES
        and now - mark[1] >= LINE_EVERY_S)
    if due:
        run["line"] = (step, now)
    return due
