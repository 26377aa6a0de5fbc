"""What a suite is once read: its runs (id, slug, changes, frozen spec), baseline first.

`harness.config.load.load_suite` reads a suite file into a Suite; `expand` turns its axes into
runs, `problems` collects what is wrong with it (file, line, dotted key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config.ids import data_key
from harness.config.settings import RunSpec
from harness.config.values import shown
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
    "seeds": "training seeds to replicate runs over: [0, 1, 2], or {values: [...], axes: [...]} "
             "for the baseline and the runs of those axes only (see harness.config.seeds)",
}
MODES = ("one_at_a_time", "grid")
# The name is a file name (runs/<suite>/, reports/<suite>.md): no '/', no '..', no leading '.'.
SUITE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


def suite_name_problem(name: Any) -> str | None:
    """What is wrong with a suite name, or None: it must be usable as one file name."""
    if name is None or (isinstance(name, str) and not name.strip()):
        return "required: a name for the suite, e.g. suite: default"
    if not isinstance(name, str):
        return f"{shown(name)} is not text: a suite name is a file name, e.g. suite: lr-sweep"
    if not SUITE_NAME.fullmatch(name) or ".." in name:
        return (f"{shown(name)} cannot name a file: use up to 100 letters, digits, '-', '_' "
                "and '.' (not first, never '..'), e.g. suite: lr-sweep (it names runs/<suite>/ "
                "and reports/<suite>.md)")
    return None


@dataclass(frozen=True)
class Run:
    """One run of a suite: its id, its readable slug, what differs from the baseline, its spec,
    and its data key: a hash of everything that decides the prepared dataset (shared by runs
    that agree), taken, like the id, before relative data paths are joined to the suite's
    directory (harness.config.paths). `setting` is the slug its training-seed replicas share
    (harness.config.seeds); a run without replicas is its own setting."""

    id: str
    slug: str
    changes: tuple[tuple[str, Any], ...]
    spec: RunSpec
    data_key: str = field(default="")
    setting: str = field(default="")

    def __post_init__(self) -> None:
        if not self.data_key:
            object.__setattr__(self, "data_key", data_key(self.spec))
        if not self.setting:
            object.__setattr__(self, "setting", self.slug)


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
    seeds: tuple[int, ...] = ()  # the `seeds:` values; () when runs are not replicated

    @property
    def baseline(self) -> Run:
        """The run every other run is compared with (its first training seed)."""
        return self.runs[0]

    def settings(self) -> dict[str, list[Run]]:
        """Setting slug -> its runs (one per training seed, in seed order), in suite order."""
        groups: dict[str, list[Run]] = {}
        for run in self.runs:
            groups.setdefault(run.setting, []).append(run)
        return groups

    def data_keys(self) -> list[str]:
        """Distinct prepared datasets the suite needs, in first-use order."""
        return list(dict.fromkeys(run.data_key for run in self.runs))


class SpecError(UserError):
    """All problems found in one suite file."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))
