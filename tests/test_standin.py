"""`harness standin` at a toy size: it writes a checkpoint the default suite can load."""

from __future__ import annotations

import json

from harness.cli import main
from harness.config.settings import ModelSpec
from harness.model.build import build_model
from harness.run.standin import CARD, SUMMARY


def test_standin_command_builds_a_loadable_checkpoint(tmp_path, capsys):
    """A toy build writes a phone-trained checkpoint, its card and summary, and loads with a
    fresh head like a hub checkpoint."""
    out = tmp_path / "tiny-standin"
    code = main(["standin", "--out", str(out), "--hours", "0.01", "--steps", "3",
                 "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    assert "its held-out test CER" in capsys.readouterr().out
    assert (out / "model.safetensors").stat().st_size > 100_000
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["steps"] == 3 and summary["spec"]["data"]["synth"]["voices"] == "standin"
    assert 0 <= summary["test"]["cer"] and summary["test"]["targets"] == "IPA phones"
    # Trained on phones, not spelling: its vocabulary has IPA symbols and no capital letters.
    vocab = json.loads((out / "vocab.json").read_text())
    symbols = {symbol for symbol in vocab if not symbol.startswith("[")}  # [PAD], [UNK]
    assert {"ə", "ɪ"} <= symbols and not any(symbol.isupper() for symbol in symbols)
    assert "STAND-IN" in (out / CARD).read_text()
    # Loaded like a hub checkpoint, with a fresh head for another vocabulary.
    model = build_model(ModelSpec(name_or_path=str(out)), vocab_size=7, pad_token_id=0)
    assert model.lm_head.out_features == 7


def test_standin_rejects_nonsense_sizes(tmp_path, capsys):
    """Zero updates is a one-line error, exit code 2."""
    assert main(["standin", "--out", str(tmp_path / "x"), "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
