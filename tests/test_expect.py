"""Expectations: the grammar round-trips and rejects garbage with ParseError only; selectors,
rule sets and relations resolve against a suite; checks give the fixture suite's known numbers."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from unittest import mock

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config.load import load_suite
from harness.config.suite import SpecError
from harness.expect.check import ERROR, FAILED, PASSED, check_expectations, format_expectations
from harness.expect.parse import (
    Comparison,
    MetricRef,
    Number,
    ParseError,
    Selector,
    parse_expression,
)
from harness.expect.resolve import parse_expectations
from harness.run.record import run_record
from harness.run.store import SuiteStore
from harness.scoring import score_run_dir
from tests import report_fixtures as fx
from tests.strategies import comparisons

# --- the grammar -----------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(comparisons())
def test_print_then_parse_gives_the_same_expectation(comparison):
    """parse(print(x)) == x for every expectation, and printing is stable."""
    text = str(comparison)
    assert parse_expression(text) == comparison
    assert str(parse_expression(text)) == text


GRAMMAR_CHARS = "wercaslinfo_ tdgbk[]=*,.<>%0123456789e+-\"\\:?"


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=GRAMMAR_CHARS, max_size=40),
                 st.builds(lambda c, cut: str(c)[:cut], comparisons(), st.integers(0, 60))))
def test_garbage_is_a_parse_error_and_nothing_else(text):
    """Any text either parses (and then round-trips) or raises ParseError, never another error."""
    try:
        comparison = parse_expression(text)
    except ParseError as error:
        assert repr(text) in str(error)
        return
    assert parse_expression(str(comparison)) == comparison


def test_examples_parse_to_what_they_say():
    """Spacing, percent bounds, rule sets and 'significantly' read as written."""
    assert parse_expression(" wer [ labeled = 1h ] <= 25% ") == Comparison(
        MetricRef("wer", None, Selector("settings", (("labeled", "1h"),))), "<=", Number(25, True))
    relation = parse_expression(
        "wer.whisper[labeled=1h,train.lr=3e-4] < wer.whisper[baseline] significantly")
    assert relation.left == MetricRef(
        "wer", "whisper", Selector("settings", (("labeled", "1h"), ("train.lr", "3e-4"))))
    assert relation.right == MetricRef("wer", "whisper", Selector("baseline"))
    assert relation.significantly
    assert str(parse_expression("cer < 0.3")) == "cer[*] < 0.3"
    assert parse_expression("cer < 30%").right.amount == pytest.approx(0.3)
    assert parse_expression('wer[path="a b\\"c"] > 1e-3').left.selector.conditions == (
        ("path", 'a b"c'),)


@pytest.mark.parametrize("text, message", [
    ("wre[baseline] < 0.3", "unknown metric 'wre' (did you mean 'wer'?)"),
    ("wer < 25", "write 25% if you mean percent"),
    ("0.1 < 0.2", "compares two numbers"),
    ("wer[baseline] < 0.3 significantly", "'significantly' compares the wer or cer"),
    ("wer[a=1] < cer[baseline] significantly", "needs the same metric on both sides"),
    ("train_seconds.blog < 3", "has no rule set"),
    ("wer[fast] < 0.3", "unknown run selector 'fast'"),
    ("wer[lr=1,lr=2] < 0.3", "'lr' is given twice"),
    ("wer <", "it ends too early"),
    ("", "it is empty"),
    ("wer[] < 1", "unexpected ']' at column 5"),
    ("wer < 1e999", "too large a number"),
    ("__import__('os').system('x')", "unexpected"),
])
def test_malformed_expectations_say_what_is_wrong(text, message):
    """Each kind of mistake is a ParseError quoting the text and naming the problem."""
    with pytest.raises(ParseError) as error:
        parse_expression(text)
    assert message in str(error.value) and repr(text) in str(error.value)


# --- against a suite: the report fixture (known WERs, a failed and a not-run run) ------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The report fixture suite on disk: (suite, runs root, records by id)."""
    suite, runs_root = fx.build_finished_suite(tmp_path_factory.mktemp("expect"))
    return suite, runs_root, SuiteStore(runs_root / suite.name).records_by_id()


def resolve(suite, *texts):
    """Expectations of the texts against the suite; asserts there are no problems."""
    expectations, problems = parse_expectations(list(texts), suite.runs)
    assert problems == []
    return expectations


def slugs(side) -> list[str]:
    return [run.slug for run in side.runs]


def test_selectors_name_runs_by_their_settings(finished):
    """A selector is a point of the grid: the baseline's values wherever it says nothing."""
    suite = finished[0]
    (one_hour, sixty_minutes, by_path, baseline_value, every_lr, every_run,
     baseline) = resolve(suite, "wer[labeled=1h] < 1", "wer[labeled=60min] < 1",
                         "wer[data.labeled=1h] < 1", "wer[labeled=30min] < 1",
                         "wer[lr=*] < 1", "wer < 1", "wer[baseline] < 1")
    assert slugs(one_hour.left) == slugs(sixty_minutes.left) == slugs(by_path.left) == [
        "labeled=1h"]
    assert slugs(baseline_value.left) == slugs(baseline.left) == ["baseline"]
    assert slugs(every_lr.left) == ["baseline", "lr=3e-4", "lr=3e-3"]
    assert slugs(every_run.left) == [run.slug for run in suite.runs]
    assert slugs(resolve(suite, "wer[lr=0.0003] < 1")[0].left) == ["lr=3e-4"]


def test_a_bare_metric_uses_the_first_scoring_rule_set(finished):
    """wer means wer under the baseline's first text.scoring rule set; wer.whisper names one."""
    suite = finished[0]
    bare, named, loss = resolve(suite, "wer < 1", "wer.whisper < 1", "final_loss < 1")
    assert (bare.left.label, named.left.label, loss.left.label) == (
        "wer.blog", "wer.whisper", "final_loss")


def test_relations_pair_runs_or_compare_run_by_run(finished):
    """Different selectors: every pair of different runs; the same selector: run by run."""
    suite = finished[0]
    across, per_run = resolve(suite, "wer[lr=*] >= wer[baseline]", "cer[*] < wer[*]")
    assert [(a.slug, b.slug) for a, b in across.pairs] == [("lr=3e-4", "baseline"),
                                                           ("lr=3e-3", "baseline")]
    assert [(a.slug, b.slug) for a, b in per_run.pairs] == [(r.slug, r.slug) for r in suite.runs]
    assert {run.slug for run in across.runs} == {"baseline", "lr=3e-4", "lr=3e-3"}


@pytest.mark.parametrize("entry, message", [
    ("wer[labeled=5h] < 0.3", "[labeled=5h] matches no run of the suite (did you mean "
                              "'labeled=1h'?); its runs: baseline, labeled=10min"),
    ("wer[lerning_rate=1e-3] < 0.3", "no setting 'lerning_rate'"),
    ("wer[labeled=100] < 0.3", "data.labeled=100: cannot read '100' as a duration"),
    ("wer.whisper_basic < 0.3", "run 'baseline' is not scored with 'whisper_basic'"),
    ("wer[baseline] < wer[labeled=30min]", "compares each run's wer.blog with itself"),
    ("wer.blog[labeled=1h] < wer.whisper[baseline] significantly",
     "'significantly' needs one rule set on both sides"),
    ("wre < 0.3", "unknown metric 'wre' (did you mean 'wer'?)"),
    (0.3, "an expectation is a string such as"),
])
def test_resolution_problems_name_their_entry(finished, entry, message):
    """Every problem is reported against expect[i], after the valid entries before it."""
    expectations, problems = parse_expectations(["wer < 1", entry], finished[0].runs)
    assert len(expectations) == 1
    assert len(problems) == 1
    key_path, text = problems[0]
    assert key_path == ("expect", 1) and message in text


def test_a_repeated_or_misshapen_expect_section_is_a_problem(finished):
    """A repeated expectation (same meaning, other spelling) and a non-list are reported."""
    runs = finished[0].runs
    _, problems = parse_expectations(["cer < 0.3", "cer[*] < 30e-2"], runs)
    assert problems == [(("expect", 1), "'cer[*] < 0.3' repeats expect[0]")]
    _, problems = parse_expectations("wer < 0.3", runs)
    assert problems[0][0] == ("expect",) and "must be a list" in problems[0][1]
    assert parse_expectations(None, runs) == ([], [])


def rows_of(finished, *texts) -> list[dict]:
    suite, runs_root, records = finished
    return check_expectations(resolve(suite, *texts), records, suite, runs_root)


def test_bounds_report_the_measured_values(finished):
    """The fixture's WERs (1h: 16/384, 10min: 144/384) decide bounds; failures are marked."""
    holds, breaks = rows_of(finished, "wer[labeled=1h] <= 0.05", "wer[labeled=10min] < 30%")
    assert holds == {"expectation": "wer[labeled=1h] <= 0.05", "status": PASSED,
                     "measured": "wer.blog: labeled=1h 0.0417"}
    assert breaks["status"] == FAILED
    assert breaks["measured"] == "wer.blog: labeled=10min 37.50% (fails)"


def test_significantly_needs_the_paired_bootstrap_to_agree(finished):
    """1h vs 10min differ clearly; 1h vs the baseline (same hypotheses) do not."""
    clear, tied = rows_of(finished, "wer[labeled=1h] < wer[labeled=10min] significantly",
                          "wer[labeled=1h] <= wer[baseline] significantly")
    assert clear["status"] == PASSED
    assert "difference -0.3333 [" in clear["measured"] and "at 95%" in clear["measured"]
    assert tied["status"] == FAILED
    assert "difference +0.0000 [+0.0000, +0.0000] at 95%, not significant (fails)" in (
        tied["measured"])


# Two runs (baseline, labeled=1h) on the same 10 utterances of 4 words (40 words), with hand-made
# hypotheses: "miss" substitutes the first word (1 error in 4), "hit" is the reference.
PAIRED_SUITE = dict(fx.SUITE, suite="paired", axes={"data.labeled": ["30min", "1h"]})
PAIRED_REFERENCES = [" ".join(fx.WORDS[(i + k) % len(fx.WORDS)] for k in range(4))
                     for i in range(10)]


def paired_hypothesis(reference: str, outcome: str) -> str:
    """The reference ("hit") or the reference with its first word substituted ("miss")."""
    return reference if outcome == "hit" else "zebra " + reference.split(" ", 1)[1]


def build_paired_suite(directory, plan: dict) -> tuple:
    """PAIRED_SUITE on disk as tests/report_fixtures.py stores a suite, each run's predictions
    "hit" or "miss" per utterance as `plan` says; returns (suite, runs root, records by id)."""
    suite = load_suite(fx.write_suite_file(directory, PAIRED_SUITE))
    runs_root = directory / "runs"
    store = SuiteStore(runs_root / suite.name)
    by_slug = {run.slug: run for run in suite.runs}
    with mock.patch("harness.run.record.hardware", lambda: fx.HARDWARE), \
            mock.patch("harness.run.record.git_state", lambda: fx.GIT):
        for slug, outcomes in plan.items():
            run = by_slug[slug]
            run_dir = store.run_dir(run.id)
            run_dir.mkdir(parents=True)
            lines = [json.dumps({"id": f"utt{i:03d}", "speaker": f"spk{i % 2}", "duration": 2.0,
                                 "reference": ref, "hypothesis": paired_hypothesis(ref, outcome)})
                     for i, (ref, outcome) in enumerate(zip(PAIRED_REFERENCES, outcomes,
                                                            strict=True))]
            (run_dir / "predictions.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
            prepared = SimpleNamespace(fingerprint=run.data_key * 6,
                                       report=fx.data_report(run.spec.data.labeled))
            scores = score_run_dir(run_dir, ["blog", "whisper"], n_boot=200, seed=0)
            store.put(run_record(suite, run, prepared, status="finished", reason=None,
                                 train=fx.train_summary({"train_seconds": 60.0, "speed": 25.0}),
                                 scores=scores, timings={"train_s": 1.0}))
    return suite, runs_root, store.records_by_id()


def test_significantly_fails_when_the_paired_interval_straddles_zero(tmp_path):
    """labeled=1h beats the baseline on 4/40 vs 5/40 words, but it is better on 5 utterances and
    worse on 4 (the resampled difference is (worse - better draws) / 40, mean -0.025, sd ~0.075),
    so the 95% interval holds 0: a point-estimate win is not a significant one."""
    miss, hit = "miss", "hit"
    finished = build_paired_suite(tmp_path, {
        "baseline": [miss] * 5 + [hit] * 4 + [hit],
        "labeled=1h": [hit] * 5 + [miss] * 4 + [hit],
    })
    (row,) = rows_of(finished, "wer[labeled=1h] < wer[baseline] significantly")
    assert row["status"] == FAILED
    measured = row["measured"]
    assert measured.startswith(
        "wer.blog: labeled=1h 0.1000 vs baseline 0.1250, difference -0.0250 [")
    assert measured.endswith("] at 95%, not significant (fails)")
    low, high = map(float, re.search(r"\[(\S+), (\S+)\]", measured).groups())
    assert low < 0 < high


def one_run_better_everywhere(tmp_path) -> tuple:
    """The baseline misses 1 word of 4 on every utterance (10/40), labeled=1h none (0/40)."""
    return build_paired_suite(tmp_path, {"baseline": ["miss"] * 10, "labeled=1h": ["hit"] * 10})


def test_significantly_passes_when_one_run_is_better_on_every_utterance(tmp_path):
    """Every resample gives labeled=1h - baseline = -0.25, so both spellings of the claim pass."""
    better, worse = rows_of(one_run_better_everywhere(tmp_path),
                            "wer[labeled=1h] < wer[baseline] significantly",
                            "wer[baseline] > wer[labeled=1h] significantly")
    assert better == {"expectation": "wer[labeled=1h] < wer[baseline] significantly",
                      "status": PASSED,
                      "measured": "wer.blog: labeled=1h 0.0000 vs baseline 0.2500, difference "
                                  "-0.2500 [-0.2500, -0.2500] at 95%"}
    assert worse["status"] == PASSED
    assert worse["measured"] == ("wer.blog: baseline 0.2500 vs labeled=1h 0.0000, difference "
                                 "+0.2500 [+0.2500, +0.2500] at 95%")


def test_a_significant_difference_on_the_other_side_is_not_significant_for_the_claim(tmp_path):
    """baseline <= labeled=1h has its interval [+0.25, +0.25] wholly on the wrong side of 0: the
    row fails and says the claimed direction is not significant."""
    (reverse,) = rows_of(one_run_better_everywhere(tmp_path),
                         "wer[baseline] <= wer[labeled=1h] significantly")
    assert reverse["status"] == FAILED
    assert reverse["measured"] == ("wer.blog: baseline 0.2500 vs labeled=1h 0.0000, difference "
                                   "+0.2500 [+0.2500, +0.2500] at 95%, not significant (fails)")


def test_runs_without_values_make_an_error_not_a_pass(finished):
    """A failed or never-run run cannot pass an expectation; a measured break still fails it."""
    unmeasured, broken = rows_of(finished, "cer < 0.5", "wer < 0.05")
    assert unmeasured["status"] == ERROR
    assert "not measured: lr=3e-4 (failed: RuntimeError: loss is NaN" in unmeasured["measured"]
    assert "freeze=none (not run yet)" in unmeasured["measured"]
    assert broken["status"] == FAILED
    assert "labeled=10min 0.3750 (fails)" in broken["measured"]


def test_the_same_runs_under_two_rule_sets_compare_run_by_run(finished):
    """cer.blog < wer.blog holds on every run but lr=3e-3 (a deleted word is 1 of 8 words
    and 3 of its 24 characters: equal rates)."""
    (row,) = rows_of(finished, "cer[*] < wer[*]")
    assert row["status"] == FAILED
    assert "baseline 0.0104 vs 0.0417" in row["measured"]
    assert "lr=3e-3 0.0625 vs 0.0625 (fails)" in row["measured"]


def test_format_lists_each_expectation_under_a_count(finished):
    """The terminal text counts statuses and shows each expectation with its values."""
    rows = rows_of(finished, "wer[labeled=1h] <= 0.05", "wer[labeled=10min] < 30%", "cer < 0.5")
    text = format_expectations(rows)
    assert text.splitlines()[0] == "expectations: 1 passed, 1 failed, 1 error"
    assert "  FAILED  wer[labeled=10min] < 30%\n          wer.blog: labeled=10min 37.50% (fails)" \
        in text


# --- in suite files (harness.config.suite calls parse_expectations) ---------------------------


def write_suite(tmp_path, expect) -> object:
    data = dict(fx.SUITE, expect=expect)
    return fx.write_suite_file(tmp_path, data)


def test_a_suite_file_carries_its_expectations(tmp_path):
    """load_suite resolves the expect section in file order."""
    suite = load_suite(write_suite(tmp_path, ["wer[labeled=1h] < wer[labeled=10min]",
                                              "cer < 30%"]))
    assert [e.text for e in suite.expectations] == ["wer[labeled=1h] < wer[labeled=10min]",
                                                    "cer[*] < 30%"]


def test_expectation_problems_are_spec_errors_with_file_and_line(tmp_path):
    """Bad expectations are reported with the rest of the file's problems, before any run."""
    path = write_suite(tmp_path, ["wer < 0.3", "wre < 0.3", "wer[labeled=5h] < 0.3"])
    lines = path.read_text().splitlines()
    with pytest.raises(SpecError) as error:
        load_suite(path)
    first, second = error.value.problems
    assert first.startswith(f"{path}:{lines.index('- wre < 0.3') + 1}: expect[1]: ")
    assert "unknown metric 'wre'" in first
    assert second.startswith(f"{path}:{lines.index('- wer[labeled=5h] < 0.3') + 1}: expect[2]: ")
    assert yaml.safe_load(path.read_text())["expect"][2] == "wer[labeled=5h] < 0.3"
