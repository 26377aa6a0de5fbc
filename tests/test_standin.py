"""`harness standin` at a toy size: it writes a checkpoint the default suite can load."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.config.settings import ModelSpec
from harness.model.build import build_model
from harness.run.standin import CARD, SUMMARY, standin_spec


def test_standin_command_builds_a_loadable_checkpoint(tmp_path, capsys):
    """A toy build writes a phone-trained checkpoint, its card and summary, and loads with a
    fresh head like a hub checkpoint; the CER and WER it states are those of the checkpoint it
    wrote, on every utterance of its test split, and the card and printout repeat them."""
    from harness.data.prepare import prepare
    from harness.decode.predict import predict
    from harness.run.execute import load_trained_model
    from harness.scoring import score_predictions

    out = tmp_path / "tiny-standin"
    code = main(["standin", "--out", str(out), "--hours", "0.01", "--steps", "3",
                 "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    printed = capsys.readouterr().out
    assert (out / "model.safetensors").stat().st_size > 100_000
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["steps"] == 3 and summary["spec"]["data"]["synth"]["voices"] == "standin"
    assert summary["test"]["targets"] == "IPA phones"
    test = summary["test"]
    # Test sets are scored as published: every utterance of the prepared test split.
    assert test["utterances"] == summary["data"]["test"]["utterances"] > 0
    # Its stated rates are what the written checkpoint decodes on that split, rescored here
    # (the build's data comes back from the cache; only the decoding is redone).
    prepared = prepare(standin_spec(0.01, 3, 0), tmp_path / "cache")
    model = load_trained_model(out)
    records = predict(model, prepared.processor, prepared.test,
                      summary["spec"]["eval"]["batch_seconds"])
    rescored = score_predictions(records, ["none"], n_boot=1)["rule_sets"]["none"]
    assert len(records) == test["utterances"]
    assert (test["cer"], test["wer"]) == (pytest.approx(rescored["cer"], abs=1e-12),
                                          pytest.approx(rescored["wer"], abs=1e-12))
    numbers = f"CER {test['cer']:.3f}, WER {test['wer']:.3f}"
    assert f"held-out test {numbers}" in printed
    card = (out / CARD).read_text()
    assert "STAND-IN" in card and "- Updates: 3 " in card
    assert f"({test['utterances']} utterances), scored on IPA phones: {numbers}" in card
    # Trained on phones, not spelling: its vocabulary has IPA symbols and no capital letters,
    # and its head has one output per vocabulary entry, as many as the data report states.
    vocab = json.loads((out / "vocab.json").read_text())
    symbols = {symbol for symbol in vocab if not symbol.startswith("[")}  # [PAD], [UNK]
    assert {"ə", "ɪ"} <= symbols and not any(symbol.isupper() for symbol in symbols)
    assert len(vocab) == summary["data"]["vocab_size"] == model.lm_head.out_features
    # Loaded like a hub checkpoint, with a fresh head for another vocabulary.
    model = build_model(ModelSpec(name_or_path=str(out)), vocab_size=7, pad_token_id=0)
    assert model.lm_head.out_features == 7


def test_standin_rejects_nonsense_sizes(tmp_path, capsys):
    """Zero updates is a one-line error, exit code 2."""
    assert main(["standin", "--out", str(tmp_path / "x"), "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
