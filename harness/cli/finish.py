"""After a suite's runs: check its expectations, write its report. One flow, used by
`harness run`, `harness report` and the pytest plugin, so the three cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UserError
from harness.expect.check import FAILED, check_suite
from harness.report import write_report


@dataclass
class SuiteEnd:
    """What the end of a suite found: expectation rows, and the report written (or why not)."""

    rows: list[dict] = field(default_factory=list)
    report: Path | None = None
    report_error: str | None = None

    @property
    def expectations_failed(self) -> bool:
        """Whether a measured value broke an expectation."""
        return any(row["status"] == FAILED for row in self.rows)

    def exit_code(self, failed_runs: int = 0) -> int:
        """1 when a run failed or an expectation was broken, else 0."""
        return 1 if failed_runs or self.expectations_failed else 0


def finish_suite(suite, runs_root: Path, reports_root: Path, *, command: str | None = None,
                 write: bool = True) -> SuiteEnd:
    """Check the suite's expectations against its stored results, then write its report
    (unless `write` is False). A report that cannot be written (no results yet) is recorded in
    `report_error`; the caller decides whether that is an error."""
    end = SuiteEnd(rows=check_suite(suite, Path(runs_root)))
    if not write:
        return end
    try:
        end.report = write_report(suite, Path(runs_root), Path(reports_root), command=command,
                                  expectations=end.rows or None)
    except UserError as error:
        end.report_error = str(error)
    return end
