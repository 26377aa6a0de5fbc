"""`harness score RUN_DIR --text ...` end to end: predictions.jsonl -> scores.json, exit codes.

Runs through harness.cli, as the console script does.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from harness import cli
from harness.config.settings import ModelSpec
from harness.decode.predict import predict, write_predictions
from harness.model.build import build_model
from harness.text.normalize import get_rule_set, normalize
from harness.text.vocab import PAD, build_vocab, make_processor

# Hand-counted: blog keeps "don't" and accents, whisper expands "don't" and strips accents.
#   blog:    the cat sat | don't stop  | naïve café   -> H 2+1+0, S 1+1+2, I 0+1+0, N 3+2+2 = 7
#   whisper: the cat sat | do not stop | naive cafe   -> H 2+3+2, S 1,     I 0,     N 3+3+2 = 8
RECORDS = [
    {"id": "u1", "speaker": "s1", "duration": 1.5, "reference": "The cat sat.",
     "hypothesis": "the bat sat"},
    {"id": "u2", "speaker": "s2", "duration": 1.0, "reference": "Don't stop!",
     "hypothesis": "do not stop"},
    {"id": "u3", "speaker": "s1", "duration": 2.0, "reference": "Naïve café",
     "hypothesis": "naive cafe"},
]


def score(run_dir, *args: str) -> int:
    return cli.main(["score", str(run_dir), *args])


def read_scores(run_dir) -> dict:
    return json.loads((run_dir / "scores.json").read_text(encoding="utf-8"))


def test_harness_score_writes_counts_intervals_and_rule_set_versions(tmp_path, capsys):
    """`harness score RUN --text blog --text whisper` exits 0, prints both rule sets and writes
    scores.json with the hand-counted edits, the rates, 95% intervals around them, each rule
    set's name and version, and the hash of the predictions it scored."""
    run_dir = tmp_path / "run"
    write_predictions(RECORDS, run_dir / "predictions.jsonl")
    assert score(run_dir, "--text", "blog", "--text", "whisper", "--boot", "200") == 0
    out, err = capsys.readouterr()
    assert err == "" and f"wrote {run_dir / 'scores.json'}" in out
    assert {line.split()[0] for line in out.splitlines()} >= {"blog", "whisper"}

    scores = read_scores(run_dir)
    assert (scores["n_utterances"], scores["n_speakers"], scores["audio_seconds"]) == (3, 2, 4.5)
    assert scores["bootstrap"]["n_boot"] == 200 and scores["bootstrap"]["level"] == 0.95
    blog, whisper = scores["rule_sets"]["blog"], scores["rule_sets"]["whisper"]
    assert blog["words"] == {"hits": 3, "substitutions": 4, "deletions": 0, "insertions": 1,
                             "reference_words": 7}
    assert whisper["words"] == {"hits": 7, "substitutions": 1, "deletions": 0, "insertions": 0,
                                "reference_words": 8}
    assert blog["wer"] == pytest.approx(5 / 7) and whisper["wer"] == pytest.approx(1 / 8)
    for name, entry in scores["rule_sets"].items():
        assert entry["name"] == name and entry["version"] == get_rule_set(name).version
        for metric in ("wer", "cer"):
            interval = entry[f"{metric}_interval"]
            assert interval["low"] <= entry[metric] <= interval["high"]
            assert interval["level"] == 0.95
    digest = hashlib.sha256((run_dir / "predictions.jsonl").read_bytes()).hexdigest()
    assert scores["predictions"] == {"file": "predictions.jsonl", "n_records": 3,
                                     "sha256": digest}


# Hand-written as predict writes them; hypotheses as a CTC model emits them (u4: all blanks).
#   blog (words)     ref                  hyp              H  S  D  I  N
#     u1             the cat sat          the cat sat      3  0  0  0  3
#     u2             a red dog ran far    a red fog ran    3  1  1  0  5   dog->fog, far lost
#     u3             go                   go go now        1  0  0  2  1
#     u4             blue sky             (empty)          0  0  2  0  2
#                                                          7  1  3  2 11   WER 6/11
#   blog (chars, spaces count)
#     u1             11 chars, all hits                   11  0  0  0 11
#     u2             17 chars; d->f, " far" lost          12  1  4  0 17
#     u3             2 chars; " go now" inserted           2  0  0  7  2
#     u4             8 chars, all lost                     0  0  8  0  8
#                                                         25  1 12  7 38   CER 20/38 = 10/19
#   none (words as written: "The" != "the", "sat." != "sat")
#     u1             The cat sat.         the cat sat      1  2  0  0  3
#     u2             A red dog ran far.   a red fog ran    2  2  1  0  5   A, dog -> S; far. lost
#     u3             Go!                  go go now        0  1  0  2  1
#     u4             Blue sky.            (empty)          0  0  2  0  2
#                                                          3  5  3  2 11   WER 10/11
HAND_WRITTEN = """\
{"id": "u1", "speaker": "a", "duration": 1.5, "reference": "The cat sat.", "hypothesis": "the cat sat"}
{"id": "u2", "speaker": "a", "duration": 2.25, "reference": "A red dog ran far.", "hypothesis": "a red fog ran"}
{"id": "u3", "speaker": "b", "duration": 0.75, "reference": "Go!", "hypothesis": "go go now"}
{"id": "u4", "speaker": "b", "duration": 1.0, "reference": "Blue sky.", "hypothesis": ""}
"""  # noqa: E501


def test_harness_score_counts_hand_written_edits_of_every_kind(tmp_path, capsys):
    """On a hand-written predictions.jsonl, `harness score` finds exactly the hand-counted hits,
    substitutions, deletions and insertions per rule set, corpus WER/CER from the summed counts
    (not a mean of utterance rates), per-speaker rates, and prints them."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "predictions.jsonl").write_text(HAND_WRITTEN, encoding="utf-8")
    assert score(run_dir, "--text", "blog", "--text", "none", "--boot", "50") == 0
    out, _ = capsys.readouterr()
    scores = read_scores(run_dir)
    # 1.5 + 2.25 + 0.75 + 1.0 = 5.5 s
    assert (scores["n_utterances"], scores["n_speakers"], scores["audio_seconds"]) == (4, 2, 5.5)
    blog, none = scores["rule_sets"]["blog"], scores["rule_sets"]["none"]
    assert blog["words"] == {"hits": 7, "substitutions": 1, "deletions": 3, "insertions": 2,
                             "reference_words": 11}
    assert blog["chars"] == {"hits": 25, "substitutions": 1, "deletions": 12, "insertions": 7,
                             "reference_chars": 38}
    assert none["words"] == {"hits": 3, "substitutions": 5, "deletions": 3, "insertions": 2,
                             "reference_words": 11}
    # Corpus rates; the mean of u1..u4's WERs would be (0 + 2/5 + 2 + 1) / 4 = 0.85.
    assert blog["wer"] == pytest.approx(6 / 11) and blog["cer"] == pytest.approx(10 / 19)
    assert none["wer"] == pytest.approx(10 / 11)
    # Speaker a: (0 + 2) / (3 + 5) = 0.25; speaker b: (2 + 2) / (1 + 2) = 4/3, above 1.
    assert [(s["speaker"], s["n_utterances"], s["wer"]) for s in blog["per_speaker"]] == [
        ("a", 2, pytest.approx(0.25)), ("b", 2, pytest.approx(4 / 3))]
    # Printed row: rule set, version, WER % (6/11 = 54.55), CI, CER % (10/19 = 52.63), CI,
    # S, D, I, N words.
    blog_row = next(line.split() for line in out.splitlines() if line.startswith("blog "))
    assert blog_row[2] == "54.55" and blog_row[4] == "52.63"
    assert blog_row[6:] == ["1", "3", "2", "11"]
    none_row = next(line.split() for line in out.splitlines() if line.startswith("none "))
    assert none_row[2] == "90.91" and none_row[6:] == ["5", "3", "2", "11"]  # 10/11 = 90.91 %


def test_harness_score_on_a_decoded_run_dir(tmp_path, capsys):
    """Predictions decoded by predict (tiny preset, noise audio) score end to end: the raw
    references and durations predict writes are what is scored: the hand-counted reference words
    and characters of each rule set, whatever the untrained model emits."""
    import datasets

    vocab = build_vocab(["the cat sat on a mat"])
    torch.manual_seed(0)
    model = build_model(ModelSpec(preset="tiny"), vocab_size=len(vocab), pad_token_id=vocab[PAD])
    rng = np.random.default_rng(0)
    audio = [rng.standard_normal(n).astype(np.float32) for n in (16000, 24000, 12345)]
    references = ["The cat sat.", "On a mat!", "Don't."]
    dataset = datasets.Dataset.from_dict({
        "id": ["a", "b", "c"], "speaker": ["s1", "s2", "s1"],
        "duration": [len(a) / 16000 for a in audio], "raw_text": references,
        "text": [normalize(r, "blog") for r in references], "input_values": audio,
        "labels": [[3]] * 3,
    })
    run_dir = tmp_path / "run"
    write_predictions(predict(model, make_processor(vocab), dataset), run_dir / "predictions.jsonl")
    assert score(run_dir, "--text", "blog", "--text", "whisper", "--boot", "50") == 0
    capsys.readouterr()
    scores = read_scores(run_dir)
    # (16000 + 24000 + 12345) samples / 16000 Hz = 3.2715625 s
    assert (scores["n_utterances"], scores["n_speakers"]) == (3, 2)
    assert scores["audio_seconds"] == pytest.approx(3.2715625)
    # blog:    "the cat sat" | "on a mat" | "don't"  -> 3 + 3 + 1 = 7 words, 11 + 8 + 5 = 24 chars
    # whisper: "the cat sat" | "on a mat" | "do not" -> 3 + 3 + 2 = 8 words, 11 + 8 + 6 = 25 chars
    for name, n_words, n_chars in (("blog", 7, 24), ("whisper", 8, 25)):
        entry = scores["rule_sets"][name]
        assert entry["words"]["reference_words"] == n_words, name
        assert entry["chars"]["reference_chars"] == n_chars, name


@pytest.mark.parametrize("case", ["missing run dir", "no predictions", "unknown rule set",
                                  "bad line"])
def test_harness_score_mistakes_exit_2_with_one_clear_message(tmp_path, capsys, case):
    """A missing run directory, a run without predictions, an unknown rule set or a malformed
    predictions line: exit code 2, a message naming the problem on stderr, no traceback, and no
    scores.json written."""
    run_dir = tmp_path / "run"
    text = "blog"
    if case != "missing run dir":
        run_dir.mkdir()
    if case in ("unknown rule set", "bad line"):
        write_predictions(RECORDS, run_dir / "predictions.jsonl")
    if case == "unknown rule set":
        text = "whispr"
    if case == "bad line":
        with (run_dir / "predictions.jsonl").open("a", encoding="utf-8") as handle:
            handle.write('{"id": "u4"\n')
    assert score(run_dir, "--text", text) == 2
    out, err = capsys.readouterr()
    expected = {
        "missing run dir": f"error: {run_dir}: no such run directory",
        "no predictions": f"error: {run_dir}: no predictions.jsonl in it",
        "unknown rule set": "error: unknown text rule set 'whispr' (did you mean 'whisper'?)",
        "bad line": f"error: {run_dir / 'predictions.jsonl'}:4: not valid JSON",
    }[case]
    assert err.startswith(expected), err
    assert "Traceback" not in err and out == ""
    assert not (run_dir / "scores.json").exists()
