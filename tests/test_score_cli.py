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


def test_harness_score_on_a_decoded_run_dir(tmp_path, capsys):
    """Predictions decoded by predict (tiny preset, noise audio) score end to end: every
    reference word is counted once (hits + substitutions + deletions = N words)."""
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
    assert scores["n_utterances"] == 3
    assert scores["audio_seconds"] == pytest.approx((16000 + 24000 + 12345) / 16000)
    for name, entry in scores["rule_sets"].items():
        words = entry["words"]
        expected = sum(len(normalize(r, name).split()) for r in references)
        assert words["reference_words"] == expected
        assert words["hits"] + words["substitutions"] + words["deletions"] == expected


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
