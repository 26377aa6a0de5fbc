"""pytest plugin: suite files are collected like test files (registered as entry point `harness`).

    pytest ablations/smoke.yaml                  every run, then every expectation
    pytest ablations/ -k "lr=3e-4"               the runs (and expectations) whose id says so
    pytest ablations/smoke.yaml -x / --lf        stop at the first failure / retry what failed

Each run of a suite file is an item whose id is the run's slug (`smoke.yaml::lr=3e-4`); it
passes when the run finishes and fails with the run's reason when it fails. Runs go through
`harness.run.runner.run_suite`, one at a time, so a finished run is never trained again and an
interrupted one resumes. Each expectation of the file's `expect:` list is an item named by its
text; it reads the stored results of the runs it names, and is skipped when one of them has no
result and was not selected. At the end the suite's markdown report is written and the terminal
summary shows its main table and the expectations.

Only `.yaml`/`.yml` files with a top-level `suite:` key are collected, so ordinary test runs
are untouched. `-k` accepts slugs as written (`-k lr=3e-4`, `-k "labeled=1h,lr=3e-4"`): pytest's
keyword grammar has no `=` or `,`, so both are read as `:` for suite items. pytest-xdist (`-n`)
is refused: a suite's runs share one lock and training already uses every core (for runs on
several GPUs at once, `harness run --placement runs_per_gpu`).
"""

from __future__ import annotations

import re
import shlex
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_SUITE_KEY = re.compile(rb"^suite[ \t]*:", re.MULTILINE)
_SNIFF_BYTES = 65536  # a suite file names itself near the top; never read a big data file
_XDIST_REFUSAL = ("suite files cannot run under pytest-xdist (-n): the runs of a suite share "
                  "one lock and each training run already uses every core; drop -n (for runs on "
                  "several GPUs at once use `harness run --placement runs_per_gpu`)")


class HarnessFlagWarning(UserWarning):
    """A run finished but a training guard flagged it (e.g. it collapsed to blank output)."""


@dataclass
class _SuiteEntry:
    """One collected suite file: the suite, whether any of its items ran, what the end found."""

    suite: object
    touched: bool = False
    rows: list[dict] = field(default_factory=list)
    report: str | None = None
    table: str | None = None


@dataclass
class _Session:
    """The plugin's state for one pytest session."""

    runs_root: Path
    cache_root: Path | None
    reports_root: Path
    rerun_failed: bool
    write_report: bool
    suites: dict[Path, _SuiteEntry] = field(default_factory=dict)
    selected: set[str] = field(default_factory=set)


_SESSION = pytest.StashKey[_Session]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "harness suite files (YAML)")
    group.addoption("--runs-dir", default="runs", metavar="DIR",
                    help="where suite runs and results.jsonl live (default: runs/)")
    group.addoption("--cache-dir", default=None, metavar="DIR",
                    help="prepared-data cache (default: $HARNESS_CACHE or .harness-cache/)")
    group.addoption("--reports-dir", default="reports", metavar="DIR",
                    help="where suite reports are written at the end (default: reports/)")
    group.addoption("--rerun-failed", action="store_true",
                    help="retrain runs recorded as failed (--lf implies it)")
    group.addoption("--no-report", action="store_true",
                    help="do not write the suite reports at the end of the session")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "suite_run: a run of a harness suite file")
    config.addinivalue_line("markers", "expectation: an expectation of a harness suite file")
    if _uses_xdist(config) and any(_is_suite_file(Path(str(arg).split("::")[0]))
                                   for arg in config.args):
        raise pytest.UsageError(_XDIST_REFUSAL)
    here = config.invocation_params.dir
    cache = config.getoption("cache_dir")
    config.stash[_SESSION] = _Session(
        runs_root=here / config.getoption("runs_dir"),
        cache_root=here / cache if cache else None,
        reports_root=here / config.getoption("reports_dir"),
        rerun_failed=bool(config.getoption("rerun_failed") or config.getoption("lf", False)),
        write_report=not config.getoption("no_report"),
    )


def _uses_xdist(config: pytest.Config) -> bool:
    workers = getattr(config.option, "numprocesses", None)
    return hasattr(config, "workerinput") or bool(workers and workers != "0")


def _is_suite_file(path: Path) -> bool:
    """A YAML file with a top-level `suite:` key."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        with path.open("rb") as handle:
            return bool(_SUITE_KEY.search(handle.read(_SNIFF_BYTES)))
    except OSError:
        return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix in (".yaml", ".yml") and _is_suite_file(file_path):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


def keyword_form(text: str) -> str:
    """A slug as pytest's -k grammar can say it: 'labeled=1h,lr=3e-4' -> 'labeled:1h:lr:3e-4'."""
    return text.replace("=", ":").replace(",", ":")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Before pytest's -k filter: let '-k lr=3e-4' mean the run, not a syntax error."""
    expression = config.option.keyword
    if expression and any(isinstance(item, _SuiteItem) for item in items):
        config.option.keyword = keyword_form(expression)


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash[_SESSION]
    state.selected = {item.run.id for item in session.items if isinstance(item, RunItem)}


class SuiteFile(pytest.File):
    """A suite file: its runs (baseline first), then its expectations."""

    def collect(self):
        from harness.config.load import load_suite
        from harness.errors import UserError

        if hasattr(self.config, "workerinput"):
            raise self.CollectError(_XDIST_REFUSAL)
        try:
            suite = load_suite(self.path)
        except UserError as error:
            raise self.CollectError(str(error)) from None
        entry = _SuiteEntry(suite)
        self.config.stash[_SESSION].suites[self.path] = entry
        for run in suite.runs:
            yield RunItem.from_parent(self, name=run.slug, entry=entry, run=run)
        for expectation in getattr(suite, "expectations", ()):
            yield ExpectationItem.from_parent(self, name=expectation.text, entry=entry,
                                              expectation=expectation)


class _Failure(Exception):
    """A run or an expectation that did not hold; the message is the whole report."""


class _SuiteItem(pytest.Item):
    def __init__(self, *, entry: _SuiteEntry, **kwargs):
        super().__init__(**kwargs)
        self.entry = entry
        self.extra_keyword_matches.add(keyword_form(self.name))

    @property
    def state(self) -> _Session:
        return self.config.stash[_SESSION]

    def setup(self) -> None:
        self.entry.touched = True

    def repr_failure(self, excinfo, style=None):
        from harness.errors import UserError

        if isinstance(excinfo.value, (_Failure, UserError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)


class RunItem(_SuiteItem):
    """One run: trained, decoded and scored unless the suite's results already hold it."""

    def __init__(self, *, run, **kwargs):
        super().__init__(**kwargs)
        self.run = run
        self.add_marker("suite_run")

    def runtest(self) -> None:
        from harness.run.runner import RunOptions, run_suite
        from harness.run.store import suite_store

        state, suite = self.state, self.entry.suite
        options = RunOptions(runs_root=state.runs_root, cache_root=state.cache_root,
                             only=(self.run.id,), rerun_failed=state.rerun_failed,
                             interactive=False)
        outcome = run_suite(suite, options)
        record = suite_store(suite, state.runs_root).records_by_id().get(self.run.id)
        if record is None:
            raise _Failure(f"run {self.run.slug} ({self.run.id}) left no record")
        if record["status"] != "finished":
            earlier = (" (recorded earlier; --rerun-failed or --lf retrains it)"
                       if self.run.slug in outcome.skipped else "")
            raise _Failure(f"run {self.run.slug} ({self.run.id}) failed{earlier}: "
                           f"{record.get('reason')}\n"
                           f"details: {suite_store(suite, state.runs_root).run_dir(self.run.id)}")
        for flag in record.get("flags") or []:
            message = flag.get("message", flag) if isinstance(flag, dict) else flag
            warnings.warn(HarnessFlagWarning(f"run {self.run.slug}: {message}"), stacklevel=1)

    def reportinfo(self):
        return self.path, None, f"run {self.run.slug} ({self.run.id})"


class ExpectationItem(_SuiteItem):
    """One expectation, checked against the stored results of the runs it names."""

    def __init__(self, *, expectation, **kwargs):
        super().__init__(**kwargs)
        self.expectation = expectation
        self.add_marker("expectation")

    def runtest(self) -> None:
        from harness.expect.check import ERROR, PASSED, check_expectations
        from harness.run.store import suite_store

        state, suite = self.state, self.entry.suite
        records = suite_store(suite, state.runs_root).records_by_id()
        row = check_expectations([self.expectation], records, suite, state.runs_root)[0]
        if row["status"] == PASSED:
            return
        unavailable = [run.slug for run in self.expectation.runs
                       if run.id not in records and run.id not in state.selected]
        if row["status"] == ERROR and unavailable:
            pytest.skip(f"needs runs that have no result and were not selected: "
                        f"{', '.join(unavailable)}")
        raise _Failure(f"expectation {row['status']}: {row['expectation']}\n"
                       f"measured: {row['measured']}")

    def reportinfo(self):
        return self.path, None, f"expect[{self.expectation.index}]: {self.expectation.text}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Check every expectation of each suite that ran and write its report."""
    state = session.config.stash.get(_SESSION, None)
    if state is None or session.config.option.collectonly:
        return
    for entry in state.suites.values():
        if entry.touched:
            _finish_suite(entry, state, session.config)


def _finish_suite(entry: _SuiteEntry, state: _Session, config: pytest.Config) -> None:
    from harness.cli.finish import finish_suite

    command = "pytest " + " ".join(shlex.quote(arg) for arg in config.invocation_params.args)
    end = finish_suite(entry.suite, state.runs_root, state.reports_root, command=command,
                       write=state.write_report)
    entry.rows = end.rows
    entry.table = _main_table(entry.suite, state.runs_root)
    if end.report is not None:
        entry.report = str(end.report)
    elif end.report_error is not None:
        entry.report = f"not written: {end.report_error}"


def _main_table(suite, runs_root: Path) -> str:
    """The report's main table (markdown), or why there is none yet."""
    from harness.errors import UserError
    from harness.report.load import load_results
    from harness.report.render import results_table

    try:
        results = load_results(suite, runs_root)
    except UserError as error:
        return str(error)
    return results_table(results)


def pytest_terminal_summary(terminalreporter) -> None:
    state = terminalreporter.config.stash.get(_SESSION, None)
    if state is None:
        return
    from harness.expect.check import format_expectations

    for entry in state.suites.values():
        if entry.table is None:
            continue
        terminalreporter.section(f"suite {entry.suite.name}")
        terminalreporter.write_line(entry.table)
        if entry.rows:
            terminalreporter.write_line("")
            terminalreporter.write_line(format_expectations(entry.rows))
        if entry.report:
            terminalreporter.write_line(f"\nreport: {entry.report}")
