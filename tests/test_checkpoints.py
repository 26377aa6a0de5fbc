"""Checkpoints shaped like the hub's wav2vec2-base load as the run asks: fresh CTC head, the
pretrained weights (old weight-norm names included), activation checkpointing only if asked."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from harness.config.settings import ModelSpec
from harness.model.build import (
    build_model,
    is_activation_checkpointing,
    set_activation_checkpointing,
)
from tests.checkpoint_fixtures import TINY, hub_shaped_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny pretraining checkpoint saved as the hub ships wav2vec2-base."""
    return hub_shaped_checkpoint(tmp_path_factory.mktemp("hub") / "w2v", **TINY)


def test_the_fixture_is_shaped_like_the_hub(checkpoint):
    """Old weight-norm names, no CTC head, gradient_checkpointing true in the config."""
    names = set(load_file(checkpoint / "model.safetensors"))
    assert "wav2vec2.encoder.pos_conv_embed.conv.weight_g" in names
    assert "wav2vec2.encoder.pos_conv_embed.conv.weight_v" in names
    assert not any(name.startswith("lm_head") for name in names)
    assert '"gradient_checkpointing": true' in (checkpoint / "config.json").read_text()


def test_gradient_checkpointing_is_never_taken_from_the_checkpoint_config(checkpoint):
    """The config says true; the run's setting (default off) decides, and on turns it on."""
    model = build_model(ModelSpec(name_or_path=str(checkpoint)), vocab_size=10, pad_token_id=0)
    assert is_activation_checkpointing(model)  # what transformers does with such a config
    assert set_activation_checkpointing(model, False) is False
    assert not is_activation_checkpointing(model)
    assert set_activation_checkpointing(model, True) is True
    assert is_activation_checkpointing(model)


def test_pretrained_weights_load_under_their_old_names(checkpoint):
    """The positional conv's weight_g/weight_v and every encoder weight come from the file, not
    a fresh initialization; only the CTC head is new."""
    stored = load_file(checkpoint / "model.safetensors")
    model = build_model(ModelSpec(name_or_path=str(checkpoint)), vocab_size=10, pad_token_id=0)
    conv = model.wav2vec2.encoder.pos_conv_embed.conv
    assert torch.equal(conv.parametrizations.weight.original0,
                       stored["wav2vec2.encoder.pos_conv_embed.conv.weight_g"])
    assert torch.equal(conv.parametrizations.weight.original1,
                       stored["wav2vec2.encoder.pos_conv_embed.conv.weight_v"])
    state = model.state_dict()
    same = [name for name, tensor in stored.items()
            if name.startswith("wav2vec2.encoder.layers.") and torch.equal(state[name], tensor)]
    assert len(same) == sum(name.startswith("wav2vec2.encoder.layers.") for name in stored)
    assert model.lm_head.out_features == 10


def _suite(tmp_path, name: str, checkpoint, corpus, extra_train: str = "") -> str:
    suite = tmp_path / f"{name}.yaml"
    suite.write_text(f"""\
suite: {name}
base:
  data: {{source: local, path: {corpus}}}
  model: {{name_or_path: {checkpoint}}}
  train: {{max_steps: 2, batch_seconds: 8, log_every: 1{extra_train}}}
  text: {{targets: blog, scoring: [blog]}}
  eval: {{bootstrap: 100}}
""")
    return str(suite)


def _run(suite: str, tmp_path) -> tuple[dict, object]:
    """Run a one-run suite through the CLI; its record and run directory."""
    from harness.cli import main
    from harness.config.load import load_suite
    from harness.run.store import suite_store

    assert main(["run", suite, "--runs-dir", str(tmp_path / "runs"), "--cache-dir",
                 str(tmp_path / "cache"), "--no-report"]) == 0
    loaded = load_suite(suite)
    store = suite_store(loaded, tmp_path / "runs")
    return store.records_by_id()[loaded.baseline.id], store.run_dir(loaded.baseline.id)


@pytest.mark.integration
def test_a_hub_shaped_checkpoint_fine_tunes_through_harness_run(checkpoint, tmp_path):
    """harness run fine-tunes the pretraining checkpoint (fresh CTC head) with activation
    checkpointing off as recorded, keeps model/ and drops the optimizer state unless asked."""
    from tests.data_fixtures import manifest_corpus

    corpus = manifest_corpus(tmp_path)
    dropped, dropped_dir = _run(_suite(tmp_path, "drop", checkpoint, corpus), tmp_path)
    kept, kept_dir = _run(_suite(tmp_path, "keep", checkpoint, corpus,
                                 ", keep_checkpoint: true"), tmp_path)
    for record in (dropped, kept):
        assert record["status"] == "finished", record.get("reason")
        assert record["train"]["steps"] == 2 and record["train"]["gradient_checkpointing"] is False
        assert record["scores"]["rule_sets"]["blog"]["wer"] is not None
    assert (dropped_dir / "model" / "model.safetensors").is_file()
    assert not (dropped_dir / "checkpoint").exists()
    assert (kept_dir / "checkpoint" / "trainer_state.json").is_file()
    # keep_checkpoint changes no result: the two runs trained the same weights
    assert dropped["train"]["weights_sha256"] == kept["train"]["weights_sha256"]
