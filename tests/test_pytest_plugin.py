"""The pytest plugin, through pytest's own pytester: suite files collect as runs and
expectations, train through the real runner, and obey -k, -x, --lf and -n like tests do.

A tiny suite (the tiny preset, 5 updates, 2 minutes of synthetic audio) shares one prepared-data
cache across the module: about a minute on 2 cores, most of it preparing the data once.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import faults
from harness.config.load import load_suite
from harness.run.store import SuiteStore

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration

SUITE = """\
# Question: does the plugin run a suite like tests?
# Command:  pytest tiny.yaml
suite: tiny
mode: one_at_a_time
base:
  data:
    source: synthetic
    synth: {train: 2min, test: 20s, seed: 0}
    dev_utterances: 4
  model: {preset: tiny}
  train: {lr: 1e-3, max_steps: 5, warmup_steps: 2, batch_seconds: 16, log_every: 1}
  text: {targets: blog, scoring: [blog, whisper]}
  eval: {bootstrap: 100}
axes:
  train.lr: [1e-3, 3e-4]
"""
# A 5-update model cannot delete more than everything, and no WER is below 0.
EXPECT = """\
expect:
  - cer <= 100%
  - wer[baseline] < 0%
"""


@pytest.fixture(scope="module", autouse=True)
def pipeline_imported():
    """pytester's in-process sessions unload the modules they import, and torch or datasets
    (pyarrow types) cannot be imported twice in one process, and a re-imported
    concurrent.futures.process no longer pickles its own worker function for spawned processes:
    import the pipeline once here."""
    import concurrent.futures.process  # noqa: F401  (synthesis pickles its worker function)

    import harness.data.prepare  # noqa: F401
    import harness.decode.predict  # noqa: F401
    import harness.report  # noqa: F401
    import harness.run.execute  # noqa: F401
    import harness.synth.corpus  # noqa: F401
    import harness.train.loop  # noqa: F401


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    """One prepared-data cache for the module (prepared by the first test that trains)."""
    return tmp_path_factory.mktemp("cache")


def suite_file(pytester: pytest.Pytester, with_expectations: bool = True) -> Path:
    return pytester.makefile(".yaml", tiny=SUITE + (EXPECT if with_expectations else ""))


def run(pytester: pytest.Pytester, path: Path, cache_root: Path, *args: str):
    """pytest on the suite file, with runs, cache and reports in the test's directories."""
    # --opt=value: a bare existing path among the arguments would move pytest's rootdir
    return pytester.runpytest(path.name, f"--runs-dir={pytester.path / 'runs'}",
                              f"--cache-dir={cache_root}",
                              f"--reports-dir={pytester.path / 'reports'}", *args)


def records(pytester: pytest.Pytester) -> dict[str, dict]:
    """slug -> stored record of the tiny suite."""
    stored = SuiteStore(pytester.path / "runs" / "tiny").records_by_id()
    return {record["slug"]: record for record in stored.values()}


def test_runs_and_expectations_are_items_with_readable_ids(pytester, cache_root):
    """Each run is an item named by its slug, then each expectation by its text; nothing runs."""
    path = suite_file(pytester)
    result = run(pytester, path, cache_root, "--collect-only", "-q")
    assert result.ret == 0
    ids = [line for line in result.stdout.lines if line.startswith("tiny.yaml::")]
    assert ids == ["tiny.yaml::baseline", "tiny.yaml::lr=3e-4", "tiny.yaml::cer[*] <= 100%",
                   "tiny.yaml::wer[baseline] < 0%"]
    assert not (pytester.path / "runs").exists() and not (pytester.path / "reports").exists()


def test_a_suite_trains_checks_and_reports_then_trains_nothing_again(pytester, cache_root):
    """Runs pass, the impossible expectation fails with its measured value, the report and the
    terminal summary show the table; a second session retrains nothing and says the same."""
    path = suite_file(pytester)
    first = run(pytester, path, cache_root, "-v")
    first.assert_outcomes(passed=3, failed=1)
    out = first.stdout.str()
    assert re.search(r"expectation failed: wer\[baseline\] < 0%\nmeasured: wer\.blog: "
                     r"baseline \d+\.\d\d% \(fails\)", out)
    assert "tiny.yaml::cer[*] <= 100% PASSED" in out
    assert "suite tiny" in out and "| lr " in out and "expectations: 1 passed, 1 failed" in out
    report = (pytester.path / "reports" / "tiny.md").read_text(encoding="utf-8")
    assert "## Expectations" in report and "wer[baseline] < 0%" in report
    stored = records(pytester)
    assert {slug: record["status"] for slug, record in stored.items()} == {
        "baseline": "finished", "lr=3e-4": "finished"}

    second = run(pytester, path, cache_root, "-v")
    second.assert_outcomes(passed=3, failed=1)
    assert records(pytester) == stored  # not one record rewritten: nothing trained again


def test_k_selects_runs_by_slug(pytester, cache_root):
    """-k lr=3e-4 (pytest's -k has no '=') trains that run only; the others stay unrun."""
    path = suite_file(pytester, with_expectations=False)
    result = run(pytester, path, cache_root, "-k", "lr=3e-4")
    result.assert_outcomes(passed=1, deselected=1)
    assert set(records(pytester)) == {"lr=3e-4"}


def test_x_stops_at_a_failed_run_and_lf_retrains_it(pytester, cache_root, monkeypatch):
    """A run whose loss turns NaN fails with its reason; -x trains nothing after it; --lf
    selects it alone and retrains it (a recorded failure is otherwise not retried)."""
    path = suite_file(pytester, with_expectations=False)
    baseline = load_suite(path).baseline
    monkeypatch.setenv(faults.ENV, "nan@train:2")
    monkeypatch.setenv(faults.RUN_ENV, baseline.id)
    first = run(pytester, path, cache_root, "-x")
    first.assert_outcomes(failed=1)
    assert f"run baseline ({baseline.id}) failed" in first.stdout.str()
    assert {slug: r["status"] for slug, r in records(pytester).items()} == {"baseline": "failed"}

    monkeypatch.delenv(faults.ENV)
    again = run(pytester, path, cache_root, "--lf")
    again.assert_outcomes(passed=1, deselected=1)
    assert {slug: r["status"] for slug, r in records(pytester).items()} == {
        "baseline": "finished"}


def test_xdist_is_refused_with_the_reason(pytester, cache_root):
    """-n would run a suite's runs in parallel processes; it is refused before anything runs."""
    pytest.importorskip("xdist")
    path = suite_file(pytester)
    result = run(pytester, path, cache_root, "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "suite files cannot run under pytest-xdist (-n)" in result.stderr.str()
    assert not (pytester.path / "runs").exists()


def test_spec_errors_are_collection_errors_without_a_traceback(pytester, cache_root):
    """A suite file with a mistake fails collection with the spec's message, file and line."""
    path = pytester.makefile(".yaml", bad=SUITE.replace("train.lr:", "train.lerning_rate:"))
    result = run(pytester, path, cache_root, "--collect-only")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    assert "no such setting 'train.lerning_rate'" in out and "Traceback" not in out


def test_other_yaml_files_and_ordinary_tests_collect_as_before(pytester):
    """Only YAML files with a top-level `suite:` key are collected; tests are unchanged."""
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    pytester.makefile(".yaml", data="name: not a suite\nnested:\n  suite: inner\n")
    pytester.makefile(".yml", config="suites: [a, b]\n")
    with_plugin = pytester.runpytest("--collect-only", "-q")
    without = pytester.runpytest("--collect-only", "-q", "-p", "no:harness")
    assert with_plugin.ret == without.ret == 0
    assert [line for line in with_plugin.stdout.lines if "::" in line] == [
        "test_plain.py::test_one"]
    assert [line for line in without.stdout.lines if "::" in line] == ["test_plain.py::test_one"]
