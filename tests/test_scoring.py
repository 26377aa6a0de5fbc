"""Tests of scoring: edit counts, corpus WER/CER, intervals, paired tests, top errors, run dirs."""

from __future__ import annotations

import json
import unicodedata

import jiwer
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import UserError
from harness.scoring import (
    count_edits,
    load_predictions,
    paired_bootstrap,
    score_predictions,
    score_run_dir,
    top_errors,
)
from harness.scoring.counts import canonical
from harness.text.normalize import RULE_SET_NAMES, get_rule_set
from tests.strategies import prediction_records, transcripts

PROPERTY = settings(max_examples=60, deadline=None)


def record(i, reference, hypothesis, speaker="spk1", duration=1.0):
    """A prediction record with a numbered id."""
    return {"id": f"u{i}", "speaker": speaker, "duration": duration, "reference": reference,
            "hypothesis": hypothesis}


def records_of(*pairs, speaker="spk1"):
    """Records from (reference, hypothesis) pairs."""
    return [record(i, ref, hyp, speaker) for i, (ref, hyp) in enumerate(pairs)]


def counts(ref, hyp, unit="word"):
    """Summed counts of one pair, keyed like scores.json."""
    return count_edits([ref], [hyp], unit).totals("n")


# --- properties ---------------------------------------------------------------------------------


@PROPERTY
@given(prediction_records(), st.sampled_from(["none", "blog"]))
def test_wer_of_a_text_against_itself_is_zero(records, rule_set):
    """Scoring hypotheses identical to their references gives WER = CER = 0 and no edits."""
    for r in records:
        r["hypothesis"] = r["reference"]
    scores = score_predictions(records, [rule_set], n_boot=20)["rule_sets"][rule_set]
    for rate, unit in (("wer", "words"), ("cer", "chars")):
        length = scores[unit]["reference_words" if unit == "words" else "reference_chars"]
        assert scores[rate] == (0.0 if length else None)
        assert scores[unit]["substitutions"] == scores[unit]["deletions"] == 0
        assert scores[unit]["insertions"] == 0


@PROPERTY
@given(prediction_records(nonempty_references=True))
def test_errors_and_lengths_equal_jiwers_and_the_split_has_the_fewest_substitutions(records):
    """Per utterance and summed: N and S + D + I equal jiwer's (WER is the edit distance); the
    split is sclite's, so S is at most jiwer's, and D - I is the length difference."""
    refs = [canonical(r["reference"]) for r in records]
    hyps = [canonical(r["hypothesis"]) for r in records]
    for unit, process in (("word", jiwer.process_words), ("char", jiwer.process_characters)):
        ours = count_edits([r["reference"] for r in records],
                           [r["hypothesis"] for r in records], unit)
        corpus = process(refs, hyps)
        totals = ours.totals("n")
        assert totals["n"] == corpus.hits + corpus.substitutions + corpus.deletions
        assert (totals["substitutions"] + totals["deletions"] + totals["insertions"]
                == corpus.substitutions + corpus.deletions + corpus.insertions)
        for i, (ref, hyp) in enumerate(zip(refs, hyps, strict=True)):
            alone = process(ref, hyp)
            assert ours.errors[i] == alone.substitutions + alone.deletions + alone.insertions
            assert ours.substitutions[i] <= alone.substitutions
            split = str.split if unit == "word" else list
            assert ours.deletions[i] - ours.insertions[i] == len(split(ref)) - len(split(hyp))


@pytest.mark.parametrize(
    ("reference", "hypothesis", "unit", "counts", "jiwer_counts"),
    [
        # Each an alignment where sclite (substitution 4, insertion and deletion 3) and jiwer
        # (every edit 1) split the same number of errors differently; H, S, D, I by hand.
        ("a b", "b c", "word", (1, 0, 1, 1), (0, 2, 0, 0)),
        ("the cat sat", "cat sat on", "word", (2, 0, 1, 1), None),
        ("x a b", "a b y", "word", (2, 0, 1, 1), None),
        ("ab", "bc", "char", (1, 0, 1, 1), (0, 2, 0, 0)),
    ],
)
def test_substitutions_deletions_insertions_split_as_sclite_does(reference, hypothesis, unit,
                                                                 counts, jiwer_counts):
    """Where the conventions differ, the counts are sclite's: 'a b' -> 'b c' is a deletion and
    an insertion around a hit (weight 6), not two substitutions (weight 8)."""
    ours = count_edits([reference], [hypothesis], unit)
    assert (int(ours.hits[0]), int(ours.substitutions[0]), int(ours.deletions[0]),
            int(ours.insertions[0])) == counts
    if jiwer_counts is not None:  # the convention it replaces, so the case really differs
        process = jiwer.process_words if unit == "word" else jiwer.process_characters
        out = process(reference, hypothesis)
        assert (out.hits, out.substitutions, out.deletions, out.insertions) == jiwer_counts


def test_the_alignment_shown_is_the_one_counted():
    """Where jiwer's split is not sclite's, the chunks are sclite's: delete a, keep b, insert c."""
    from harness.scoring.counts import align

    chunks = align(["a b"], ["b c"], "word").chunks[0]
    assert [(c.type, c.ref_start_idx, c.ref_end_idx, c.hyp_start_idx, c.hyp_end_idx)
            for c in chunks] == [("delete", 0, 1, 0, 0), ("equal", 1, 2, 0, 1),
                                 ("insert", 2, 2, 1, 2)]


@PROPERTY
@given(prediction_records(min_size=2), st.randoms(use_true_random=False))
def test_wer_and_cer_do_not_depend_on_utterance_order(records, random):
    """Shuffling the utterances changes no rate, count or per-speaker figure."""
    shuffled = records[:]
    random.shuffle(shuffled)
    keys = ("wer", "cer", "words", "chars", "per_speaker")
    before = score_predictions(records, ["blog"], n_boot=10)["rule_sets"]["blog"]
    after = score_predictions(shuffled, ["blog"], n_boot=10)["rule_sets"]["blog"]
    assert {k: before[k] for k in keys} == {k: after[k] for k in keys}
    assert top_errors(records, "blog") == top_errors(shuffled, "blog")


@PROPERTY
@given(st.lists(st.tuples(transcripts(), transcripts()), min_size=1, max_size=10))
def test_hits_substitutions_deletions_add_up_to_the_reference_length(pairs):
    """Per utterance, H + S + D is the reference's length and H + S + I the hypothesis' length,
    in words and in characters."""
    refs, hyps = [p[0] for p in pairs], [p[1] for p in pairs]
    for unit, length in (("word", lambda t: len(t.split())), ("char", lambda t: len(canonical(t)))):
        c = count_edits(refs, hyps, unit)
        assert (c.hits + c.substitutions + c.deletions).tolist() == [length(t) for t in refs]
        assert (c.hits + c.substitutions + c.insertions).tolist() == [length(t) for t in hyps]


@PROPERTY
@given(prediction_records(), st.sampled_from(["utterance", "speaker"]),
       st.integers(0, 2**32 - 1))
def test_bootstrap_interval_contains_the_point_estimate(records, block, seed):
    """The 95% interval of WER and of CER contains the corpus rate itself."""
    scores = score_predictions(records, ["none"], n_boot=200, seed=seed, block=block)
    entry = scores["rule_sets"]["none"]
    for rate in ("wer", "cer"):
        interval = entry[f"{rate}_interval"]
        if entry[rate] is None:
            assert interval["low"] is None and interval["undefined_resamples"] == 200
        else:
            assert interval["low"] <= entry[rate] <= interval["high"]


@PROPERTY
@given(prediction_records(), st.sampled_from(["wer", "cer"]), st.randoms(use_true_random=False))
def test_paired_test_of_a_run_against_itself_gives_zero(records, metric, random):
    """A run compared with itself (in any order) differs by 0 with interval [0, 0] and no
    winner."""
    shuffled = records[:]
    random.shuffle(shuffled)
    result = paired_bootstrap(records, shuffled, "blog", n_boot=100, metric=metric)
    if result["a"] is None:
        assert result["difference"] is None
        return
    assert result["difference"] == 0.0
    assert (result["interval"]["low"], result["interval"]["high"]) == (0.0, 0.0)
    assert result["prob_b_better"] == result["prob_a_better"] == 0.0


@PROPERTY
@given(prediction_records(), st.sampled_from(RULE_SET_NAMES))
def test_scoring_with_a_rule_set_equals_scoring_prenormalized_text_with_none(records, name):
    """Normalizing inside scoring is the same as normalizing first and scoring with `none`: the
    rule set is applied to reference and hypothesis alike, and nothing else is."""
    rule_set = get_rule_set(name)
    normalized = [{**r, "reference": rule_set(r["reference"]),
                   "hypothesis": rule_set(r["hypothesis"])} for r in records]
    inside = score_predictions(records, [name], n_boot=50)["rule_sets"][name]
    outside = score_predictions(normalized, ["none"], n_boot=50)["rule_sets"]["none"]
    for key in ("name", "version"):
        inside.pop(key), outside.pop(key)
    assert inside == outside


# --- hand-checked examples ------------------------------------------------------------------------


def test_substitution_and_insertion_by_hand():
    """'the cat sat' -> 'the bat sat down': words H2 S1 I1 of 3; characters H10 S1 I5 of 11."""
    assert counts("the cat sat", "the bat sat down") == {
        "hits": 2, "substitutions": 1, "deletions": 0, "insertions": 1, "n": 3}
    assert counts("the cat sat", "the bat sat down", "char") == {
        "hits": 10, "substitutions": 1, "deletions": 0, "insertions": 5, "n": 11}


def test_empty_hypothesis_deletes_every_reference_word():
    """An empty hypothesis scores every reference word (and character, spaces included) as a
    deletion: WER = CER = 1."""
    assert counts("a b c", "") == {"hits": 0, "substitutions": 0, "deletions": 3,
                                   "insertions": 0, "n": 3}
    assert counts("a b c", "  ", "char")["deletions"] == 5
    scores = score_predictions(records_of(("a b c", "")), ["none"], n_boot=10)
    assert scores["rule_sets"]["none"]["wer"] == scores["rule_sets"]["none"]["cer"] == 1.0


def test_empty_reference_counts_every_hypothesis_word_as_an_insertion():
    """An empty reference has length 0 and every hypothesis word (character) is inserted."""
    assert counts("", "uh huh") == {"hits": 0, "substitutions": 0, "deletions": 0,
                                    "insertions": 2, "n": 0}
    assert counts(" \t", "uh huh", "char") == {"hits": 0, "substitutions": 0, "deletions": 0,
                                               "insertions": 6, "n": 0}
    assert counts("", "") == {"hits": 0, "substitutions": 0, "deletions": 0, "insertions": 0,
                              "n": 0}


def test_empty_reference_adds_to_the_corpus_numerator_only():
    """Corpus WER is summed errors over summed length: an empty-reference utterance with one
    inserted word raises 1 error in 10 to 2 in 10; the mean of utterance rates would say 0.5."""
    pairs = [("yes", "no"), ("one two three four five six seven eight nine",) * 2]
    assert score_predictions(records_of(*pairs), ["none"], n_boot=10)[
        "rule_sets"]["none"]["wer"] == pytest.approx(0.1)
    scores = score_predictions(records_of(*pairs, ("", "uh")), ["none"], n_boot=10)
    entry = scores["rule_sets"]["none"]
    assert entry["wer"] == pytest.approx(0.2)
    assert entry["words"] == {"hits": 9, "substitutions": 1, "deletions": 0, "insertions": 1,
                              "reference_words": 10}


def test_a_corpus_of_only_empty_references_has_no_rate():
    """With no reference word at all, WER and its interval are null, and every resample is
    counted as undefined."""
    entry = score_predictions(records_of(("", "uh"), ("", "")), ["none"], n_boot=30)[
        "rule_sets"]["none"]
    assert entry["wer"] is None and entry["cer"] is None
    assert entry["words"]["insertions"] == 1
    assert entry["wer_interval"] == {"low": None, "high": None, "level": 0.95,
                                     "undefined_resamples": 30}
    json.dumps(entry)  # null, not NaN: valid JSON


def test_non_ascii_text_is_counted_in_code_points():
    """Accented letters and CJK count as one character each; 'naïve café' -> 'naive cafe' is
    2 word and 2 character substitutions of 10 characters."""
    assert counts("naïve café", "naive cafe") == {"hits": 0, "substitutions": 2, "deletions": 0,
                                                  "insertions": 0, "n": 2}
    assert counts("naïve café", "naive cafe", "char") == {
        "hits": 8, "substitutions": 2, "deletions": 0, "insertions": 0, "n": 10}
    assert counts("日本 über", "日本 uber", "char") == {
        "hits": 6, "substitutions": 1, "deletions": 0, "insertions": 0, "n": 7}


def test_decomposed_accents_need_a_normalizing_rule_set():
    """NFC 'café' against NFD 'café' is a word error under `none` (the decomposed é is 2 code
    points) and no error under `librispeech`, which applies NFKC."""
    nfd = unicodedata.normalize("NFD", "café au lait")
    records = records_of(("café au lait", nfd))
    scores = score_predictions(records, ["none", "librispeech"], n_boot=10)["rule_sets"]
    assert scores["none"]["words"]["substitutions"] == 1
    assert scores["none"]["chars"] == {"hits": 11, "substitutions": 1, "deletions": 0,
                                       "insertions": 1, "reference_chars": 12}
    assert scores["librispeech"]["wer"] == scores["librispeech"]["cer"] == 0.0


def test_whitespace_runs_count_as_one_space():
    """Tabs, newlines and repeated or edge spaces are not errors: words split on any whitespace
    and characters see single spaces."""
    assert counts("  a\tb \n c ", "a b c") == {"hits": 3, "substitutions": 0, "deletions": 0,
                                              "insertions": 0, "n": 3}
    assert counts("  a\tb \n c ", "a b c", "char")["hits"] == 5


def test_every_score_names_its_rule_set_and_version():
    """Each rule set is scored separately and carries its name and version hash."""
    records = records_of(("Hello, World!", "hello world"))
    scores = score_predictions(records, ["none", "blog"], n_boot=10)
    assert list(scores["rule_sets"]) == ["none", "blog"]
    assert scores["rule_sets"]["none"]["wer"] == 1.0
    assert scores["rule_sets"]["blog"]["wer"] == 0.0
    assert scores["rule_sets"]["blog"]["version"] == get_rule_set("blog").version
    assert scores["n_utterances"] == 1 and scores["audio_seconds"] == 1.0


def test_per_speaker_figures_sum_to_the_corpus():
    """Per-speaker counts are each speaker's own and add up to the corpus counts."""
    records = [record(0, "a b", "a c", "s2"), record(1, "a b c d", "a b c d", "s1"),
               record(2, "x", "", "s2")]
    entry = score_predictions(records, ["none"], n_boot=10)["rule_sets"]["none"]
    s1, s2 = entry["per_speaker"]
    assert (s1["speaker"], s1["n_utterances"], s1["wer"]) == ("s1", 1, 0.0)
    assert (s2["speaker"], s2["n_utterances"], s2["wer"]) == ("s2", 2, 2 / 3)
    for key in entry["words"]:
        assert s1["words"][key] + s2["words"][key] == entry["words"][key]


def test_speaker_blocks_resample_speakers():
    """With block='speaker' the bootstrap units are the speakers, and the interval is wider when
    speakers differ than when utterances are resampled one by one."""
    records = []
    for s in range(8):  # 8 speakers of 10 utterances; speaker s gets s of every 8 words wrong
        for u in range(10):
            ref = "a b c d e f g h"
            hyp = " ".join(["z"] * s + ref.split()[s:])
            records.append(record(10 * s + u, ref, hyp, f"spk{s}"))
    by_speaker = score_predictions(records, ["none"], n_boot=400, block="speaker")
    by_utterance = score_predictions(records, ["none"], n_boot=400)
    assert by_speaker["bootstrap"]["n_units"] == 8
    assert by_utterance["bootstrap"]["n_units"] == 80

    def width(scores):
        interval = scores["rule_sets"]["none"]["wer_interval"]
        return interval["high"] - interval["low"]

    assert width(by_speaker) > 1.5 * width(by_utterance)


def test_paired_bootstrap_finds_the_better_run():
    """When run b fixes an error in every utterance of run a, b is better in every resample and
    the difference is minus the fixed share of words."""
    a = records_of(*[("the cat sat on the mat", "the bat sat on a mat")] * 20)
    b = records_of(*[("the cat sat on the mat", "the cat sat on a mat")] * 20)
    result = paired_bootstrap(a, b, "none", n_boot=200)
    assert result["a"] == pytest.approx(2 / 6) and result["b"] == pytest.approx(1 / 6)
    assert result["difference"] == pytest.approx(-1 / 6)
    assert result["prob_b_better"] == 1.0 and result["prob_a_better"] == 0.0
    assert result["interval"]["high"] < 0
    reverse = paired_bootstrap(b, a, "none", n_boot=200)
    assert reverse["prob_a_better"] == 1.0 and reverse["difference"] == pytest.approx(1 / 6)


def test_top_errors_by_hand():
    """Substitutions are counted word pair by word pair, insertions include the hypothesis of an
    empty reference, ties are sorted alphabetically, and k limits each list."""
    records = records_of(("the cat sat on the mat", "the bat sat on a mat"), ("the cat", "the bat"),
                         ("x y", "p q"), ("a b", "a b c"), ("", "uh"), ("go now", "go"))
    errors = top_errors(records, "none", k=3)
    assert errors["substitutions"] == [
        {"reference": "cat", "hypothesis": "bat", "count": 2},
        {"reference": "the", "hypothesis": "a", "count": 1},
        {"reference": "x", "hypothesis": "p", "count": 1},
    ]
    assert errors["insertions"] == [{"word": "c", "count": 1}, {"word": "uh", "count": 1}]
    assert errors["deletions"] == [{"word": "now", "count": 1}]
    assert errors["totals"]["substitutions"] == 5
    assert errors["rule_set"]["name"] == "none"


# --- mistakes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: score_predictions(r, ["blgo"]), "unknown text rule set 'blgo'"),
        (lambda r: score_predictions(r, []), "at least one text rule set"),
        (lambda r: score_predictions([], ["blog"]), "0 utterances"),
        (lambda r: score_predictions(r, ["blog", "blog"]), "more than once: blog"),
        (lambda r: score_predictions(r, ["blog"], n_boot=0), "at least 1"),
        (lambda r: score_predictions(r, ["blog"], block="spk"), "block must be one of"),
        (lambda r: score_predictions(r + r[:1], ["blog"]), "1 utterance ids occur more than once"),
        (lambda r: paired_bootstrap(r, r, "blog", metric="mer"), "metric must be one of"),
        (lambda r: paired_bootstrap(r, r[1:], "blog"), "1 ids only in run a (first: 'u0')"),
        (lambda r: paired_bootstrap(r, [{**r[0], "reference": "other"}, *r[1:]], "blog"),
         "different references for 1 utterances"),
    ],
)
def test_mistakes_are_user_errors_that_say_what_is_wrong(call, message):
    """Unknown or repeated rule sets, bad options, duplicate ids and mismatched runs are
    UserErrors whose message names the problem."""
    records = records_of(("a b", "a b"), ("c", "d"))
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(records)


def test_bad_records_are_all_reported_with_their_position():
    """Every malformed record is listed at once, each with its index and field."""
    records = [record(0, "a", "a"), {"id": "u1", "speaker": "s", "duration": 1.0,
                                     "reference": "a"},
               {**record(2, "a", None), "duration": -1}]
    with pytest.raises(UserError) as error:
        score_predictions(records, ["none"])
    assert str(error.value).splitlines() == [
        "records[1]: missing field 'hypothesis'",
        "records[2]: field 'hypothesis' must be a string, got None",
        "records[2]: field 'duration' must be seconds >= 0, got -1",
    ]


def test_speaker_blocks_need_speakers():
    """block='speaker' on utterances without a speaker is an error, not one big block."""
    records = [record(0, "a", "a", None), record(1, "b", "b", "s1")]
    with pytest.raises(UserError, match="1 have none \\(first: 'u0'\\)"):
        score_predictions(records, ["none"], block="speaker")
    assert score_predictions(records, ["none"], n_boot=5)["n_speakers"] == 2


# --- files ----------------------------------------------------------------------------------------


def write_predictions(run_dir, records, extra_lines=()):
    """Write records (and raw extra lines) as run_dir/predictions.jsonl."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in records] + list(extra_lines)
    (run_dir / "predictions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_load_predictions_reports_every_bad_line(tmp_path):
    """Invalid JSON and missing fields are reported with file:line; blank lines are not records."""
    path = tmp_path / "run" / "predictions.jsonl"
    write_predictions(tmp_path / "run", [record(0, "a", "a")],
                      ["", "{not json", json.dumps({"id": "u2", "speaker": "s"})])
    with pytest.raises(UserError) as error:
        load_predictions(path)
    assert str(error.value).splitlines() == [
        f"{path}:3: not valid JSON (Expecting property name enclosed in double quotes)",
        f"{path}:4: missing field 'duration'",
        f"{path}:4: missing field 'reference'",
        f"{path}:4: missing field 'hypothesis'",
    ]


def test_score_run_dir_writes_the_scores_it_returns(tmp_path):
    """scores.json holds exactly the returned scores, with counts, intervals, top errors and the
    predictions' hash; no temporary file is left behind."""
    run_dir = tmp_path / "run"
    write_predictions(run_dir, records_of(("the cat sat", "the bat sat"), ("naïve", "naive")))
    scores = score_run_dir(run_dir, ["blog", "whisper_basic"], n_boot=50)
    assert json.loads((run_dir / "scores.json").read_text(encoding="utf-8")) == scores
    assert sorted(p.name for p in run_dir.iterdir()) == ["predictions.jsonl", "scores.json"]
    blog = scores["rule_sets"]["blog"]
    assert blog["wer"] == pytest.approx(2 / 4)
    assert blog["top_errors"]["substitutions"][0] == {"reference": "cat", "hypothesis": "bat",
                                                      "count": 1}
    assert scores["predictions"]["n_records"] == 2 and len(scores["predictions"]["sha256"]) == 64


@pytest.mark.parametrize("missing", ["dir", "file"])
def test_score_run_dir_without_predictions_is_a_user_error(tmp_path, missing):
    """A missing run directory or predictions file is a one-line UserError naming the path."""
    if missing == "file":
        (tmp_path / "run").mkdir()
    with pytest.raises(UserError, match="no such run directory" if missing == "dir" else
                       "no predictions.jsonl"):
        score_run_dir(tmp_path / "run", ["blog"])


# --- command line ---------------------------------------------------------------------------------


def score_parser():
    """An argparse parser with only `harness score` on it."""
    import argparse

    from harness.cli.score import add_score_command

    parser = argparse.ArgumentParser(prog="harness")
    add_score_command(parser.add_subparsers(dest="command", required=True))
    return parser


def test_score_command_prints_a_table_and_writes_scores(tmp_path, capsys):
    """`harness score RUN_DIR --text blog --text none --boot 50` prints one row per rule set with
    WER and its interval in percent, and writes scores.json."""
    run_dir = tmp_path / "run"
    write_predictions(run_dir, records_of(("The cat sat.", "the bat sat"), ("a b", "a b")))
    args = score_parser().parse_args(["score", str(run_dir), "--text", "blog", "--text", "none",
                                      "--boot", "50", "--block", "speaker"])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert rows["blog"][2] == "20.00" and rows["none"][2] == "60.00"  # 1 of 5 words, 3 of 5
    assert f"wrote {run_dir / 'scores.json'}" in out
    scores = json.loads((run_dir / "scores.json").read_text(encoding="utf-8"))
    assert scores["bootstrap"] == {"n_boot": 50, "seed": 0, "block": "speaker", "n_units": 1,
                                   "level": 0.95}


def test_score_command_mistakes_raise_user_errors(tmp_path):
    """A missing run directory or an unknown rule set reaches the CLI as a UserError (which
    harness.cli turns into one line and exit code 2)."""
    parser = score_parser()
    args = parser.parse_args(["score", str(tmp_path / "nope"), "--text", "blog"])
    with pytest.raises(UserError, match="no such run directory"):
        args.handler(args)
    write_predictions(tmp_path / "run", records_of(("a", "a")))
    args = parser.parse_args(["score", str(tmp_path / "run"), "--text", "blgo"])
    with pytest.raises(UserError, match="did you mean 'blog'"):
        args.handler(args)


def test_harness_score_exits_with_code_2_on_a_missing_run(tmp_path, capsys):
    """Through the console entry point, a missing run directory is one line on stderr and exit
    code 2, no traceback."""
    from harness import cli

    assert cli.main(["score", str(tmp_path / "nope"), "--text", "blog"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {tmp_path / 'nope'}: no such run directory"
