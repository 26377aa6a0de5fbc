"""Loading a checkpoint for fine-tuning says what is expected in one line of ours (the fresh
CTC head) instead of transformers' LOAD REPORT table, and still warns about anything else."""

from __future__ import annotations

import logging

import torch
from safetensors.torch import load_file, save_file
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

from harness.config.settings import ModelSpec
from harness.model.build import build_model
from tests.checkpoint_fixtures import TINY, hub_shaped_checkpoint

CTC_TINY = {key: value for key, value in TINY.items() if "codevector" not in key}


def _ctc_checkpoint(directory, vocab_size):
    torch.manual_seed(0)
    Wav2Vec2ForCTC(Wav2Vec2Config(vocab_size=vocab_size, **CTC_TINY)).save_pretrained(directory)
    return directory


def test_a_head_of_another_size_is_one_line_not_a_table(tmp_path, capfd, caplog):
    """A CTC checkpoint with a 52-output head, loaded for 30 symbols: one line names both sizes;
    no LOAD REPORT, no MISMATCH row, no warning."""
    directory = _ctc_checkpoint(tmp_path / "ckpt", vocab_size=52)
    with caplog.at_level(logging.WARNING):
        model = build_model(ModelSpec(name_or_path=str(directory)), vocab_size=30, pad_token_id=0)
    err = capfd.readouterr().err
    assert model.lm_head.out_features == 30
    assert "new CTC head: 30 outputs, checkpoint had 52" in err
    assert "LOAD REPORT" not in err and "MISMATCH" not in err
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_hub_pretraining_layout_loads_quietly(tmp_path, capfd, caplog):
    """facebook/wav2vec2-base's layout (no CTC head, a quantizer and projections): the line says
    the head is new and the pretraining objective's 7 weights were dropped; nothing warns."""
    directory = hub_shaped_checkpoint(tmp_path / "hub", **TINY)
    with caplog.at_level(logging.WARNING):
        build_model(ModelSpec(name_or_path=str(directory)), vocab_size=30, pad_token_id=0)
    err = capfd.readouterr().err
    assert "new CTC head: 30 outputs, checkpoint had none; 7 weights of the pretraining " \
           "objective dropped" in err
    assert "LOAD REPORT" not in err
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_other_unexpected_or_missing_weights_still_warn(tmp_path, capfd, caplog):
    """A weight the model does not have, and an encoder weight the checkpoint lacks, are each
    named in a warning: only the head and the pretraining objective are expected."""
    directory = _ctc_checkpoint(tmp_path / "ckpt", vocab_size=30)
    weights = directory / "model.safetensors"
    tensors = load_file(weights)
    tensors["wav2vec2.stray.weight"] = torch.zeros(3)
    del tensors["wav2vec2.encoder.layer_norm.weight"]
    save_file(tensors, weights, metadata={"format": "pt"})
    with caplog.at_level(logging.WARNING, logger="harness.model.build"):
        build_model(ModelSpec(name_or_path=str(directory)), vocab_size=30, pad_token_id=0)
    warned = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "1 weights unexpected: wav2vec2.stray.weight" in warned
    assert "1 weights missing: wav2vec2.encoder.layer_norm.weight" in warned
    assert "checkpoint's own (same size) re-initialized" in capfd.readouterr().err
