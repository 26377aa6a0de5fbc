"""Decoders beyond greedy (harness.decode): beam search with and without an n-gram LM over stored
log-probabilities, the LM's text and its leak check, the ARPA cache, the settings that declare
them, and a tiny run decoded at the end of training and re-decoded by `harness score`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from harness.config.settings import DecoderSpec, EvalSpec, LMSpec, RunSpec
from harness.decode.beam import BeamSearch, pyctcdecode_labels, tune
from harness.decode.lm import build_arpa, lm_lines
from harness.decode.logprobs import LogProbs
from harness.errors import UserError
from harness.text.vocab import PAD, UNK, WORD_DELIMITER

LABELS = [PAD, UNK, WORD_DELIMITER, "'", *"abcdefghijklmnopqrstuvwxyz"]
INDEX = {token: k for k, token in enumerate(LABELS)}


def peaked(frames: list[dict[str, float]], floor: float = 1e-4) -> np.ndarray:
    """[T, V] log-probabilities: each frame's named tokens get their probability, the rest share
    `floor`; a frame {"a": 1.0} is all but certainly `a`."""
    matrix = np.full((len(frames), len(LABELS)), floor)
    for t, frame in enumerate(frames):
        for token, p in frame.items():
            matrix[t, INDEX[token]] = p
    matrix /= matrix.sum(axis=1, keepdims=True)
    return np.log(matrix).astype(np.float16)


def spelled(text: str) -> list[dict[str, float]]:
    """One dominant frame per character, a blank between repeated letters, | for spaces."""
    frames, previous = [], None
    for char in text:
        token = WORD_DELIMITER if char == " " else char
        if token == previous:
            frames.append({PAD: 1.0})
        frames.append({token: 1.0})
        previous = token
    return frames


def outputs(*matrices: np.ndarray, references: list[str] | None = None) -> LogProbs:
    records = [{"id": f"u{k}", "speaker": "s", "duration": 1.0,
                "reference": (references or [""] * len(matrices))[k]}
               for k in range(len(matrices))]
    return LogProbs(LABELS, records, list(matrices))


def test_pyctcdecode_reads_blank_as_empty_and_the_delimiter_as_a_space():
    labels = pyctcdecode_labels(LABELS)
    assert labels[:4] == ["", "⁇", " ", "'"] and labels[4:] == list("abcdefghijklmnopqrstuvwxyz")


def test_beam_search_without_an_lm_equals_greedy_where_one_path_dominates():
    """Frames that are certain leave the beam search one path: greedy's."""
    texts = ["the cat sat", "zoe's jazz", "a  book", "keep off"]
    stored = outputs(*(peaked(spelled(t)) for t in texts))
    assert stored.greedy() == ["the cat sat", "zoe's jazz", "a book", "keep off"]
    assert BeamSearch(LABELS).decode(stored, beam_width=8) == stored.greedy()


def test_beam_search_adds_the_paths_greedy_splits():
    """Greedy takes the best frame each time; the beam sums paths. 'a' at 0.4 twice then blank
    beats 'b' at 0.45 in one frame: greedy reads 'b' in frame 2, the beam the likelier 'a'."""
    frames = [{"a": 0.6, "b": 0.4}, {"a": 0.35, "b": 0.45, PAD: 0.2}, {PAD: 1.0}]
    stored = outputs(peaked(frames))
    assert stored.greedy() == ["ab"]
    # P("a") = .6*.35 + .6*.2 + ... > P("ab") = .6*.45: the prefix beam search adds them up
    assert BeamSearch(LABELS).decode(stored, beam_width=16) == ["a"]


@pytest.fixture(scope="module")
def cat_lm(tmp_path_factory):
    """A 3-gram LM that has only ever read about a cat, never a kat."""
    cache = tmp_path_factory.mktemp("lm-cache")
    lines = ["the cat sat", "a cat ran", "the cat is here", "my cat sat here"] * 5
    arpa, info = build_arpa(lines, 3, cache, source="a test's sentences")
    return cache, lines, arpa, info


def test_with_a_tiny_lm_the_beam_prefers_the_word_the_lm_knows(cat_lm):
    """'k' slightly above 'c' in the first frame: without an LM the beam spells 'kat'; with an
    LM that knows 'cat' (and never saw 'kat') it spells 'cat'."""
    _, _, arpa, _ = cat_lm
    frames = [{"k": 0.5, "c": 0.45}, *spelled("at")[0:], {WORD_DELIMITER: 1.0},
              *spelled("sat")]
    stored = outputs(peaked(frames))
    assert BeamSearch(LABELS).decode(stored, beam_width=16) == ["kat sat"]
    assert BeamSearch(LABELS, arpa).decode(stored, 16, alpha=1.0, beta=0.0) == ["cat sat"]


def test_the_arpa_file_is_built_once_per_text_and_order(cat_lm):
    cache, lines, arpa, info = cat_lm
    assert arpa.read_text().startswith("\n\\data\\") or "\\data\\" in arpa.read_text()[:20]
    assert info["order"] == 3 and info["sentences"] == 20 and info["words"] == 70
    built = arpa.stat().st_mtime_ns
    again, info_again = build_arpa(lines, 3, cache, source="a test's sentences")
    assert again == arpa and arpa.stat().st_mtime_ns == built and info_again == info
    other, _ = build_arpa(lines, 2, cache, source="a test's sentences")
    assert other != arpa and "3-grams" not in other.read_text()


def test_the_lm_text_is_normalized_with_the_targets_rule_set(tmp_path):
    text = tmp_path / "lm.txt"
    text.write_text("The CAT, sat!\n\n  Zoe's jazz.\n", encoding="utf-8")
    lines, source = lm_lines(LMSpec(text=str(text)), targets="blog", training_texts=list,
                             held_out=["A dog ran."])
    assert lines == ["the cat sat", "zoe's jazz"] and str(text) in source


def test_an_lm_text_holding_a_test_sentence_is_refused(tmp_path):
    text = tmp_path / "lm.txt"
    text.write_text("a dog ran\nthe cat sat\nthe CAT sat.\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"contains 1 of the run's test or dev sentences "
                       r"\(first: 'the cat sat'\)"):
        lm_lines(LMSpec(text=str(text)), targets="blog", training_texts=list,
                 held_out=["The cat sat!", "Nobody said this."])
    with pytest.raises(UserError, match="contains 1"):
        lm_lines(LMSpec(text="train"), targets="blog",
                 training_texts=lambda: ["A dog ran.", "The cat sat."], held_out=["the cat sat"])


def test_the_synthetic_lm_text_shares_no_sentence_with_the_corpus_buckets():
    from harness.synth.sentences import normalized_words, sentence_bucket

    lines, _ = lm_lines(LMSpec(text="synthetic", sentences=300), targets="blog",
                        training_texts=list, held_out=[])
    assert len(lines) == 300 and {sentence_bucket(line) for line in lines} == {"standin"}
    assert len({normalized_words(line) for line in lines}) == 300


def test_a_bad_lm_text_file_is_named(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        lm_lines(LMSpec(text=str(tmp_path / "nope.txt")), targets="blog", training_texts=list,
                 held_out=[])
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nbad \xff byte\n")
    with pytest.raises(UserError, match=r"bad.txt:2: not UTF-8"):
        lm_lines(LMSpec(text=str(bad)), targets="blog", training_texts=list, held_out=[])


def test_tuning_picks_the_grid_point_with_the_lowest_dev_wer(cat_lm):
    """On dev, 'k' leads in the first frame and the reference says cat: alpha 0 reads kat (WER
    1/2), a weight on the LM reads cat (WER 0); the grid keeps each point's dev WER."""
    _, _, arpa, _ = cat_lm
    frames = [{"k": 0.5, "c": 0.45}, *spelled("at"), {WORD_DELIMITER: 1.0}, *spelled("sat")]
    dev = outputs(peaked(frames), references=["the cat sat"][0:1])
    dev.records[0]["reference"] = "cat sat"
    decoder = DecoderSpec(name="lm", lm=LMSpec(text="train"), alpha=[0.0, 1.0], beta=[0.0])
    choice = tune(BeamSearch(LABELS, arpa), dev, decoder, "blog")
    assert [(row["alpha"], row["dev_wer"]) for row in choice["grid"]] == [(0.0, 0.5), (1.0, 0.0)]
    assert (choice["alpha"], choice["beta"], choice["dev_utterances"]) == (1.0, 0.0, 1)


def test_stored_log_probabilities_round_trip(tmp_path):
    stored = outputs(peaked(spelled("hi")), peaked(spelled("a b")), references=["Hi", "a b"])
    stored.save(tmp_path / "test.npz")
    back = LogProbs.load(tmp_path / "test.npz")
    assert back.labels == LABELS and back.records == stored.records
    assert all(np.array_equal(a, b) and b.dtype == np.float16
               for a, b in zip(stored.matrices, back.matrices, strict=True))
    with pytest.raises(UserError, match="no stored log-probabilities"):
        LogProbs.load(tmp_path / "dev.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a log-probability file"):
        LogProbs.load(tmp_path / "junk.npz")


# --- settings --------------------------------------------------------------------------------


def test_decoders_read_naturally_and_greedy_is_always_first():
    spec = EvalSpec(decoders=["beam", {"name": "ngram", "lm": {"text": "synthetic"},
                                       "alpha": 0.5, "beta": 1.5}])
    assert [(d.name, d.kind) for d in spec.decoders] == [
        ("greedy", "greedy"), ("beam", "beam"), ("ngram", "ngram")]
    assert spec.decoder("ngram").grid == [(0.5, 1.5)] and spec.decoder("beam").grid == []
    assert spec.decoder("ngram").lm == LMSpec(text="synthetic", order=4, sentences=20000)


@pytest.mark.parametrize(("decoders", "message"), [
    ([{"name": "blog"}], "a text rule set's name"),
    ([{"name": "4gram", "lm": {"text": "train"}}], "starting with a letter"),
    ([{"name": "lm", "kind": "ngram"}], "kind ngram needs lm"),
    ([{"name": "b", "kind": "beam", "lm": {"text": "train"}}], "lm is for kind ngram"),
    ([{"name": "lm", "lm": {"text": "train", "order": 6}}], "less than or equal to 5"),
    ([{"name": "lm", "lm": {"text": "train", "order": 1}}], "greater than or equal to 2"),
    (["beam", "beam"], "given more than once: beam"),
    ([{"name": "lm", "lm": {"text": "train"}, "alpha": -1, "beta": 0}], "must be >= 0"),
])
def test_bad_decoder_settings_are_refused(decoders, message):
    with pytest.raises(ValidationError, match=message):
        EvalSpec(decoders=decoders)


def test_tuning_without_a_dev_split_is_refused_before_anything_trains():
    """Without data.dev_split the dev set is a selection of the test split: a grid tuned on it
    would be tuned on test."""
    base = {"model": {"preset": "tiny"}, "train": {"max_steps": 1}}
    grid = {"decoders": [{"name": "lm", "lm": {"text": "train"}}]}
    with pytest.raises(ValidationError, match="data.dev_split is not set"):
        RunSpec.model_validate({**base, "eval": grid})
    fixed = {"decoders": [{"name": "lm", "lm": {"text": "train"}, "alpha": 0.5, "beta": 1}]}
    assert RunSpec.model_validate({**base, "eval": fixed}).eval.decoder("lm").grid == [(0.5, 1)]
    tuned = RunSpec.model_validate({**base, "data": {"dev_split": "dev"}, "eval": grid})
    assert len(tuned.eval.decoder("lm").grid) == 12


def test_decoders_stay_out_of_run_ids():
    from harness.config.settings import result_fields

    base = {"model": {"preset": "tiny"}, "train": {"max_steps": 1}}
    plain = RunSpec.model_validate(base)
    decoded = RunSpec.model_validate({**base, "eval": {"decoders": ["beam"]}})
    assert result_fields(plain) == result_fields(decoded)


# --- a tiny run, decoded at the end of training and again from its stored outputs ------------

SUITE = """\
# Question: does an LM decode a tiny run?
# Command:  harness run tiny.yaml
suite: tinylm
mode: one_at_a_time
base:
  data:
    source: local
    schema: librispeech
    path: ls
    train_split: train-clean-100
    test_split: test-clean
    dev_split: dev-clean
    max_seconds: 20
  model: {name_or_path: "standin:tiny"}
  train: {lr: 1e-6, max_steps: 2, warmup_steps: 1, batch_seconds: 16, log_every: 1}
  text: {targets: blog, scoring: [blog]}
  eval:
    bootstrap: 100
    decoders:
      - beam
      - {name: ngram, lm: {text: lm.txt, order: 2}, alpha: [0.5, 2.0], beta: [1.0]}
"""
# A LibriSpeech-shaped tree (tests/corpus_fixtures.py) for its dev-clean split, which tuning
# needs; the LM text is a file beside the suite, read from the suite's directory. lr 1e-6
# keeps the fresh head near its random start, so hypotheses are not all blank.
LM_TEXT = "the quick brown fox jumps\nover the lazy dog\na cat sat on the mat\n" * 3


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from harness.cli import main
    from harness.config.load import load_suite
    from tests.corpus_fixtures import librispeech_tree

    root = tmp_path_factory.mktemp("decoders")
    librispeech_tree(root / "ls")
    (root / "lm.txt").write_text(LM_TEXT)
    suite_file = root / "tiny.yaml"
    suite_file.write_text(SUITE)
    args = ["--runs-dir", str(root / "runs"), "--cache-dir", str(root / "cache")]
    assert main(["run", str(suite_file), *args, "--reports-dir", str(root / "reports")]) == 0
    suite = load_suite(suite_file)
    run_dir = root / "runs" / "tinylm" / suite.baseline.id
    record = [json.loads(line) for line in
              (root / "runs" / "tinylm" / "results.jsonl").read_text().splitlines()][-1]
    return root, run_dir, record


@pytest.mark.integration
def test_a_run_decodes_with_each_decoder_from_one_forward_pass(tiny_run):
    from harness.scoring import load_predictions

    _, run_dir, record = tiny_run
    assert record["status"] == "finished", record["reason"]
    test = LogProbs.load(run_dir / "logprobs" / "test.npz")
    greedy = load_predictions(run_dir / "predictions.jsonl")
    assert [r["id"] for r in test.records] == [r["id"] for r in greedy]
    # the stored outputs are the model's log-softmax, to float16's precision (its argmax can
    # differ where two tokens are within that precision: this nearly untrained head has many)
    import torch
    from transformers import AutoModelForCTC

    from harness.config.load import load_suite
    from harness.data.prepare import prepare

    root = run_dir.parent.parent.parent
    spec = load_suite(root / "tiny.yaml").baseline.spec
    audio = prepare(spec, root / "cache").test.with_format("numpy", columns=["input_values"])
    model = AutoModelForCTC.from_pretrained(run_dir / "model").eval()
    with torch.inference_mode():
        for k in range(2):
            x = torch.tensor(audio[k]["input_values"])[None]
            expected = torch.log_softmax(model(x).logits[0].float(), -1).numpy()
            assert test.matrices[k].dtype == np.float16
            assert np.allclose(test.matrices[k].astype(np.float32), expected, atol=2e-2)
    decoders = record["scores"]["decoders"]
    assert list(decoders) == ["beam", "ngram"]
    for name in decoders:
        decoded = load_predictions(run_dir / f"predictions.{name}.jsonl")
        assert [r["reference"] for r in decoded] == [r["reference"] for r in greedy]
        assert decoders[name]["rule_sets"]["blog"]["n_utterances"] == len(greedy)
    lm = decoders["ngram"]
    assert lm["lm"]["order"] == 2 and lm["lm"]["sentences"] == 9
    assert [(p["alpha"], p["beta"]) for p in lm["tuning"]["grid"]] == [(0.5, 1.0), (2.0, 1.0)]
    assert lm["tuning"]["dev_utterances"] == 5 and lm["decoder"]["alpha"] in (0.5, 2.0)
    assert (run_dir / "logprobs" / "dev.npz").is_file()
    best = min(lm["tuning"]["grid"], key=lambda p: p["dev_wer"])
    assert lm["decoder"]["alpha"] == best["alpha"]


@pytest.mark.integration
def test_rescoring_the_stored_outputs_equals_decoding_at_the_end_of_training(tiny_run, capsys):
    from harness.cli import main

    root, run_dir, record = tiny_run
    decoded = (run_dir / "predictions.ngram.jsonl").read_bytes()
    (run_dir / "model").rename(run_dir / "model.away")  # no model is needed
    try:
        assert main(["score", str(run_dir), "--decoder", "ngram", "--cache-dir",
                     str(root / "cache")]) == 0
        assert (run_dir / "predictions.ngram.jsonl").read_bytes() == decoded
        stored = [json.loads(line) for line in
                  (root / "runs" / "tinylm" / "results.jsonl").read_text().splitlines()][-1]
        assert stored["scores"]["decoders"]["ngram"]["rule_sets"]["blog"]["wer"] == \
            record["scores"]["decoders"]["ngram"]["rule_sets"]["blog"]["wer"]
        # another LM: a new decoder in the record, the others kept
        other = root / "other.txt"
        other.write_text("a dog ran home\nthe bird sang\n")
        assert main(["score", str(run_dir), "--decoder", "lm1", "--lm-text", str(other),
                     "--lm-order", "3", "--alpha", "0.5", "--beta", "0", "--cache-dir",
                     str(root / "cache")]) == 0
        out = capsys.readouterr().out
        assert f"decoder lm1 (ngram, beam 32), 3-gram LM of the text file {other}" in out
        # a prebuilt LM file (here the ngram decoder's, from the cache) decodes as that one did
        arpa = root / "cache" / "lm" / record["scores"]["decoders"]["ngram"]["lm"]["key"] / \
            "lm.arpa"
        chosen = record["scores"]["decoders"]["ngram"]["decoder"]
        assert main(["score", str(run_dir), "--decoder", "given", "--lm-arpa", str(arpa),
                     "--alpha", str(chosen["alpha"]), "--beta", str(chosen["beta"]),
                     "--cache-dir", str(root / "cache")]) == 0
        assert "2-gram LM of the prebuilt LM" in capsys.readouterr().out
        assert (run_dir / "predictions.given.jsonl").read_bytes() == decoded
        assert main(["score", str(run_dir), "--decoder", "lm2", "--lm-text", "synthetic",
                     "--cache-dir", str(root / "cache")]) == 2
        assert "this run's data is local" in capsys.readouterr().err
        stored = [json.loads(line) for line in
                  (root / "runs" / "tinylm" / "results.jsonl").read_text().splitlines()][-1]
        assert sorted(stored["scores"]["decoders"]) == ["beam", "given", "lm1", "ngram"]
    finally:
        (run_dir / "model.away").rename(run_dir / "model")


@pytest.mark.integration
def test_redecoding_refuses_what_it_cannot_do(tiny_run, capsys):
    from harness.cli import main

    root, run_dir, _ = tiny_run
    cache = ["--cache-dir", str(root / "cache")]
    assert main(["score", str(run_dir), "--decoder", "greedy", *cache]) == 2
    assert "rescore it with --text" in capsys.readouterr().err
    assert main(["score", str(run_dir), "--decoder", "lm9", "--lm-text", "train",
                 "--lm-order", "9", *cache]) == 2
    assert "less than or equal to 5" in capsys.readouterr().err
    assert main(["score", str(root), "--decoder", "ngram", *cache]) == 2
    assert "no spec.json" in capsys.readouterr().err


def test_a_prebuilt_lm_is_described_by_its_hash_and_counts_and_decodes(cat_lm):
    """lm.arpa: LibriSpeech's 4-gram, say; here the cat LM's file taken as given."""
    import hashlib

    from harness.decode.lm import prebuilt

    _, _, arpa, _ = cat_lm
    path, info = prebuilt(arpa)
    assert path == arpa and info["sha256"] == hashlib.sha256(arpa.read_bytes()).hexdigest()
    assert info["order"] == 3 and set(info["ngrams"]) == {1, 2, 3}
    assert info["leak_check"].startswith("not possible")
    with pytest.raises(UserError, match="does not exist"):
        prebuilt(arpa.with_name("missing.arpa"))
    with pytest.raises(ValidationError, match="takes no order"):
        LMSpec(arpa=str(arpa), order=3)


def test_synthetic_lm_text_on_other_data_is_refused_before_anything_trains():
    spec = {"model": {"preset": "tiny"}, "train": {"max_steps": 1},
            "data": {"source": "local", "path": "corpus"},
            "eval": {"decoders": [{"name": "lm", "lm": {"text": "synthetic"}, "alpha": 0.5,
                                   "beta": 1}]}}
    with pytest.raises(ValidationError, match="this run's data is local: use train or a text"):
        RunSpec.model_validate(spec)
