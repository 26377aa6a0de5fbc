"""What a suite is once read: its runs (id, slug, changes, frozen spec), baseline first.

`harness.config.load.load_suite` reads a suite file into a Suite; `expand` turns its axes into
runs, `problems` collects what is wrong with it (file, line, dotted key).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.ids import data_key
from harness.config.settings import RunSpec
from harness.errors import UserError

SUITE_KEYS = {
    "suite": "the suite's name (reports/<suite>.md, runs/<suite>/)",
    "question": "the question the suite answers (default: the header's '# Question:' line)",
    "extends": "a suite file (relative path) whose settings this one starts from",
    "mode": "one_at_a_time (baseline + one change at a time) or grid (every combination)",
    "base": "the run spec every run starts from",
    "axes": "dotted setting -> list of values to try; the first value is the baseline's",
    "baseline": "dotted setting -> the axis value the baseline uses (default: the first)",
    "runs": "extra runs: each a map of dotted setting -> value, applied to the baseline",
    "expect": "what the results must show, e.g. - wer[labeled=1h] <= 0.25 (see harness.expect)",
}
MODES = ("one_at_a_time", "grid")


@dataclass(frozen=True)
class Run:
    """One run of a suite: its id, its readable slug, what differs from the baseline, its spec."""

    id: str
    slug: str
    changes: tuple[tuple[str, Any], ...]
    spec: RunSpec

    @property
    def data_key(self) -> str:
        """Hash of everything that decides the prepared dataset (shared by runs that agree)."""
        return data_key(self.spec)


@dataclass(frozen=True)
class Suite:
    """A validated suite: its runs (baseline first) and where it came from."""

    name: str
    path: Path
    question: str | None
    command: str | None
    mode: str
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    runs: tuple[Run, ...]
    expectations: tuple = ()  # harness.expect.Expectation, in file order

    @property
    def baseline(self) -> Run:
        """The run every other run is compared with."""
        return self.runs[0]

    def data_keys(self) -> list[str]:
        """Distinct prepared datasets the suite needs, in first-use order."""
        return list(dict.fromkeys(run.data_key for run in self.runs))


class SpecError(UserError):
    """All problems found in one suite file."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))
