"""`expect:` with decoders: wer.ngram and wer.blog.ngram parse, resolve against eval.decoders,
and are checked against each decoder's scores and predictions, `significantly` pairing one
run's two decodings utterance by utterance.

The suite is tests/test_report_decoders.py's (baseline: greedy 10/40 misses, ngram 2/40;
labeled=1h: greedy misses utt 0-3, ngram utt 2-4).
"""

from __future__ import annotations

import re

import pytest

from harness.expect.check import ERROR, FAILED, PASSED, check_expectations
from harness.expect.parse import MetricRef, ParseError, parse_expression
from harness.expect.resolve import parse_expectations
from tests.test_report_decoders import PLAN, build_decoder_suite


@pytest.mark.parametrize("text, rule_set, decoder", [
    ("wer.ngram[baseline] < 0.3", None, "ngram"),
    ("wer.blog.ngram[baseline] < 0.3", "blog", "ngram"),
    ("wer.whisper[baseline] < 0.3", "whisper", None),
    ("cer.greedy[baseline] < 0.3", None, "greedy"),
])
def test_a_single_name_is_a_rule_set_if_it_is_one_else_a_decoder(text, rule_set, decoder):
    """wer.<rule set>, wer.<decoder> and wer.<rule set>.<decoder> read as they say, and print
    back as written."""
    left = parse_expression(text).left
    assert (left.rule_set, left.decoder) == (rule_set, decoder)
    assert str(parse_expression(text)) == text


def test_a_metric_ref_built_with_a_decoder_name_means_the_decoder():
    """MetricRef('wer', 'ngram') is what `wer.ngram` parses to, so printing round-trips."""
    assert MetricRef("wer", "ngram") == MetricRef("wer", None, decoder="ngram")
    assert parse_expression(str(MetricRef("wer", "ngram")) + " < 1").left == MetricRef(
        "wer", "ngram")


@pytest.mark.parametrize("text, message", [
    ("wer.ngram.blog < 0.3", "write the rule set first, then the decoder: wer.blog.ngram"),
    ("final_loss.ngram < 0.3", "final_loss is a training figure and has no rule set or decoder"),
    ("wer.a.b.c < 0.3", "unexpected"),
])
def test_malformed_decoder_metrics_are_parse_errors(text, message):
    """A decoder before its rule set, a decoder on a training figure, three names: each says."""
    with pytest.raises(ParseError) as error:
        parse_expression(text)
    assert message in str(error.value)


@pytest.fixture(scope="module")
def decoded(tmp_path_factory):
    """The decoder suite on disk: (suite, runs root, records by id)."""
    return build_decoder_suite(tmp_path_factory.mktemp("expect_decoders"))


def resolve(suite, *texts):
    expectations, problems = parse_expectations(list(texts), suite.runs)
    assert problems == []
    return expectations


def rows_of(finished, *texts) -> list[dict]:
    suite, runs_root, records = finished
    return check_expectations(resolve(suite, *texts), records, suite, runs_root)


@pytest.mark.parametrize("entry, message", [
    ("wer.lm4[baseline] < 0.3", "'lm4' is no decoder of the baseline's eval.decoders "
                                "(greedy, ngram), nor a text rule set (none, blog,"),
    ("wer.ngrm[baseline] < 0.3", "(did you mean 'ngram'?)"),
    ("wer.blog.beam[baseline] < 0.3", "'beam' is no decoder of the baseline's eval.decoders "
                                      "(greedy, ngram)"),
    ("wer.ngram[baseline] < wer.ngram[labeled=30min]",
     "compares each run's wer.blog.ngram with itself"),
    ("wer.whisper.ngram[baseline] < wer.ngram[baseline] significantly",
     "'significantly' needs one rule set on both sides"),
])
def test_unknown_decoders_and_meaningless_relations_are_problems(decoded, entry, message):
    """An unknown decoder names the known ones; a decoder compared with itself is refused."""
    expectations, problems = parse_expectations(["wer < 1", entry], decoded[0].runs)
    assert len(expectations) == 1 and len(problems) == 1
    assert problems[0][0] == ("expect", 1) and message in problems[0][1], problems[0][1]


def test_a_decoder_side_resolves_with_its_label(decoded):
    """wer.ngram is wer.blog.ngram (the first rule set); the same run under two decoders pairs
    with itself."""
    (across,) = resolve(decoded[0], "wer.ngram[baseline] < wer[baseline]")
    assert (across.left.label, across.left.decoder) == ("wer.blog.ngram", "ngram")
    assert (across.right.label, across.right.decoder) == ("wer.blog", "greedy")
    assert [(a.slug, b.slug) for a, b in across.pairs] == [("baseline", "baseline")]


def test_bounds_read_the_decoders_scores(decoded):
    """ngram: baseline 2/40, 1h 3/40 (greedy 10/40 and 4/40 would break both bounds)."""
    (row,) = rows_of(decoded, "wer.ngram <= 0.075")
    assert row == {"expectation": "wer.ngram[*] <= 0.075", "status": PASSED,
                   "measured": "wer.blog.ngram: baseline 0.0500; labeled=1h 0.0750"}
    (greedy,) = rows_of(decoded, "wer <= 0.075")
    assert greedy["status"] == FAILED


def test_significantly_across_decoders_passes_when_the_lm_helps_every_utterance_it_changes(
        decoded):
    """Baseline: ngram is right on 8 utterances greedy misses, wrong on none: -0.2000, the
    interval below 0; the claim the other way round fails."""
    better, worse = rows_of(decoded, "wer.ngram[baseline] < wer[baseline] significantly",
                            "wer[baseline] < wer.ngram[baseline] significantly")
    assert better["status"] == PASSED
    assert better["measured"].startswith("wer.blog.ngram vs wer.blog: baseline 0.0500 vs "
                                         "0.2500, difference -0.2000 [")
    low, high = map(float, re.search(r"\[(\S+), (\S+)\]", better["measured"]).groups())
    assert low <= -0.15 and high < 0
    assert worse["status"] == FAILED and worse["measured"].endswith("not significant (fails)")


def test_significantly_across_decoders_fails_when_the_changes_go_both_ways(decoded):
    """labeled=1h: ngram fixes utt 0 and 1 but breaks utt 4 (3/40 vs 4/40): the point favours
    ngram, the paired interval holds 0, so the claim fails as not significant."""
    (row,) = rows_of(decoded, "wer.ngram[labeled=1h] < wer[labeled=1h] significantly")
    assert row["status"] == FAILED
    assert row["measured"].startswith("wer.blog.ngram vs wer.blog: labeled=1h 0.0750 vs "
                                      "0.1000, difference -0.0250 [")
    assert row["measured"].endswith("not significant (fails)")
    low, high = map(float, re.search(r"\[(\S+), (\S+)\]", row["measured"]).groups())
    assert low < 0 < high


def test_significantly_between_runs_under_one_decoder(decoded):
    """ngram: 1h 3/40 vs baseline 2/40, each better on some utterances: not significant."""
    (row,) = rows_of(decoded, "wer.ngram[labeled=1h] < wer.ngram[baseline] significantly")
    assert row["status"] == FAILED
    assert row["measured"].startswith("wer.blog.ngram: labeled=1h 0.0750 vs baseline 0.0500")


def test_a_run_not_decoded_by_the_decoder_is_an_error(tmp_path):
    """labeled=1h without ngram scores: its wer.ngram is not measured, so no pass."""
    plan = {"baseline": PLAN["baseline"], "labeled=1h": {**PLAN["labeled=1h"], "ngram": None}}
    finished = build_decoder_suite(tmp_path, plan)
    bound, paired = rows_of(finished, "wer.ngram < 0.5",
                            "wer.ngram[labeled=1h] < wer[labeled=1h] significantly")
    assert bound["status"] == ERROR
    assert bound["measured"] == ("wer.blog.ngram: baseline 0.0500; not measured: labeled=1h "
                                 "(not decoded with ngram)")
    assert paired["status"] == ERROR and "(not decoded with ngram)" in paired["measured"]


def test_with_seeds_significantly_across_decoders_pairs_each_seed(tmp_path):
    """Both seeds of the baseline: ngram 2/40 vs greedy 10/40; the test runs over 2 seed pairs
    and the utterances, and passes."""
    from tests.test_report_decoders import SEEDED, SEEDED_PLAN

    finished = build_decoder_suite(tmp_path, SEEDED_PLAN, SEEDED)
    (row,) = rows_of(finished, "wer.ngram[baseline] < wer[baseline] significantly")
    assert row["status"] == PASSED
    assert row["measured"].startswith("wer.blog.ngram vs wer.blog: baseline 0.0500 vs 0.2500, "
                                      "difference -0.2000 [")
    assert row["measured"].endswith("at 95% over 2 seed pairs and utterances")
