"""Progress a person can follow: suite bar (done/failed/left, ETA) and the current run's steps.

On a terminal, two tqdm bars; elsewhere (CI logs, pipes) one plain line per event, so logs stay
readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from harness.run.record import RunRecord


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
        if self.interactive:
            self._run_bar = tqdm(total=total_steps, desc=slug, unit="step", position=1,
                                 leave=False, file=self.stream, dynamic_ncols=True)

    def step(self, update: dict) -> None:
        """A training update: step, loss, throughput."""
        if self._run_bar is None:
            return
        self._run_bar.n = int(update.get("step", self._run_bar.n))
        postfix = {}
        if "loss" in update:
            postfix["loss"] = f"{update['loss']:.3f}"
        if "audio_seconds_per_s" in update:
            postfix["audio-s/s"] = f"{update['audio_seconds_per_s']:.0f}"
        self._run_bar.set_postfix(postfix, refresh=False)
        self._run_bar.refresh()

    def run_finished(self, slug: str, record: dict) -> None:
        """A run ends, finished or failed, with its headline or its reason."""
        self._close_run_bar()
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
