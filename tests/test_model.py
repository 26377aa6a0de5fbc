"""Models: presets, checkpoints loaded by name_or_path with a fresh CTC head, overrides, errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoModelForCTC,
    BertConfig,
    BertModel,
    HubertConfig,
    HubertModel,
    WavLMConfig,
    WavLMModel,
)

from harness.config.settings import ModelSpec
from harness.errors import UserError
from harness.model.build import PRESETS, build_model, parameter_counts
from harness.model.freezing import FreezePolicy, apply_policy


def test_tiny_preset_has_the_documented_shape():
    """tiny: ~1.0M parameters, 64-channel group-norm convs, 4 x 128 transformer, CTC settings."""
    model = build_model(ModelSpec(preset="tiny"), vocab_size=30, pad_token_id=0)
    config = model.config
    assert 0.95e6 < parameter_counts(model)["total"] < 1.05e6
    assert tuple(config.conv_dim) == (64,) * 7
    assert config.feat_extract_norm == "group"
    assert (config.hidden_size, config.num_hidden_layers) == (128, 4)
    assert model.lm_head.out_features == 30
    assert (config.pad_token_id, config.ctc_loss_reduction, config.ctc_zero_infinity) == (
        0, "mean", True)


def test_small_preset_is_bigger_and_builds():
    """small builds with the same CTC settings and more parameters than tiny."""
    small = build_model(ModelSpec(preset="small"), vocab_size=30, pad_token_id=0)
    assert parameter_counts(small)["total"] > 5e6
    assert small.config.ctc_loss_reduction == "mean"


def test_overrides_apply_only_when_set():
    """Masking/dropout settings override the config; None keeps the model's own value."""
    spec = ModelSpec(preset="tiny", mask_time_prob=0.3, mask_time_length=4, hidden_dropout=0.0,
                     final_dropout=None, layerdrop=None)
    config = build_model(spec, 10, 0).config
    assert (config.mask_time_prob, config.mask_time_length, config.hidden_dropout) == (0.3, 4, 0.0)
    assert config.final_dropout == 0.1  # Wav2Vec2Config's default, untouched
    assert config.layerdrop == PRESETS["tiny"]["layerdrop"]


def test_bad_vocabulary_sizes_are_refused():
    """A head needs at least two outputs and the blank must be one of them."""
    with pytest.raises(ValueError, match="bad vocabulary"):
        build_model(ModelSpec(preset="tiny"), vocab_size=5, pad_token_id=5)


def test_saved_preset_loads_through_name_or_path_with_a_fresh_head(tmp_path):
    """A saved preset loads like a hub checkpoint: same encoder, head resized and re-initialized."""
    torch.manual_seed(0)
    saved = build_model(ModelSpec(preset="tiny"), vocab_size=20, pad_token_id=0)
    saved.save_pretrained(tmp_path / "ckpt")
    torch.manual_seed(1)
    spec = ModelSpec(name_or_path=str(tmp_path / "ckpt"), mask_time_prob=0.2)
    loaded = build_model(spec, vocab_size=33, pad_token_id=0)
    weights = load_file(tmp_path / "ckpt" / "model.safetensors")
    for name, param in loaded.named_parameters():
        if name.startswith("lm_head"):
            continue
        assert torch.equal(param, weights[name]), name
    assert loaded.lm_head.out_features == 33
    assert loaded.config.mask_time_prob == 0.2 and loaded.config.vocab_size == 33


def test_a_same_size_head_is_reinitialized_not_reused(tmp_path):
    """A checkpoint's own head for another alphabet of the same size is not kept."""
    saved = build_model(ModelSpec(preset="tiny"), vocab_size=20, pad_token_id=0)
    with torch.no_grad():
        saved.lm_head.weight.fill_(3.0)
    saved.save_pretrained(tmp_path / "ckpt")
    loaded = build_model(ModelSpec(name_or_path=str(tmp_path / "ckpt")), 20, 0)
    assert not torch.equal(loaded.lm_head.weight, saved.lm_head.weight)
    assert loaded.lm_head.weight.std() < 0.1 and torch.all(loaded.lm_head.bias == 0)


@pytest.mark.parametrize("config_class, model_class", [(HubertConfig, HubertModel),
                                                       (WavLMConfig, WavLMModel)])
def test_other_wav2vec2_family_encoders_load_and_freeze(tmp_path, config_class, model_class):
    """A headless HuBERT/WavLM checkpoint (as pretrained ones ship) becomes a CTC model."""
    shape = {k: v for k, v in PRESETS["tiny"].items()}
    encoder = model_class(config_class(**shape))
    encoder.save_pretrained(tmp_path / "enc")
    model = build_model(ModelSpec(name_or_path=str(tmp_path / "enc")), 16, 0)
    assert type(model).__name__.endswith("ForCTC") and model.lm_head.out_features == 16
    assert apply_policy(model, FreezePolicy.parse("layers:1"), 0) < parameter_counts(model)["total"]
    out = model(torch.randn(1, 16000), labels=torch.tensor([[3, 4, 5]]))
    assert torch.isfinite(out.loss)


def test_a_missing_directory_is_a_user_error(tmp_path):
    """A local path that does not exist is reported with the setting's name."""
    with pytest.raises(UserError, match=r"model.name_or_path .*no such directory"):
        build_model(ModelSpec(name_or_path=str(tmp_path / "nope")), 10, 0)


def test_an_unreachable_hub_id_is_a_user_error(monkeypatch):
    """A hub id that cannot be fetched (offline here) is a UserError naming it, not a traceback."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="'no-such-org/no-such-model': cannot read its config"):
        build_model(ModelSpec(name_or_path="no-such-org/no-such-model"), 10, 0)


def test_a_directory_without_a_config_is_a_user_error(tmp_path):
    """A directory that is not a checkpoint says its config cannot be read."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="cannot read its config"):
        build_model(ModelSpec(name_or_path=str(tmp_path / "empty")), 10, 0)


def test_a_text_model_is_not_a_speech_encoder(tmp_path):
    """A checkpoint of a model family without a CTC class is refused with a clear reason."""
    BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(tmp_path / "bert")
    with pytest.raises(UserError, match="wav2vec2-family"):
        build_model(ModelSpec(name_or_path=str(tmp_path / "bert")), 10, 0)


def test_saved_run_model_reloads_with_auto_classes(tmp_path):
    """What build_model returns round-trips through save_pretrained/AutoModelForCTC unchanged."""
    model = build_model(ModelSpec(preset="tiny"), 12, 0)
    model.save_pretrained(tmp_path / "m")
    again = AutoModelForCTC.from_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["vocab_size"] == 12
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name
