"""model.init: random trains a checkpoint's architecture from random weights (from scratch)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from harness.config.ids import run_id
from harness.config.settings import ModelSpec, RunSpec
from harness.model.build import build_model


def test_random_init_keeps_the_architecture_and_none_of_the_weights(tmp_path):
    """Same parameter names and shapes as the checkpoint; no encoder weight is the checkpoint's."""
    torch.manual_seed(0)
    build_model(ModelSpec(preset="tiny"), vocab_size=20, pad_token_id=0).save_pretrained(
        tmp_path / "ckpt")
    saved = load_file(tmp_path / "ckpt" / "model.safetensors")
    torch.manual_seed(1)
    scratch = build_model(ModelSpec(name_or_path=str(tmp_path / "ckpt"), init="random"), 20, 0)
    params = dict(scratch.named_parameters())
    assert set(params) == set(saved)
    assert all(params[name].shape == saved[name].shape for name in saved)
    random_weights = [name for name in saved if name.endswith("weight") and "norm" not in name
                      and "lm_head" not in name]
    assert random_weights and not any(torch.equal(params[name], saved[name])
                                      for name in random_weights)


def test_random_init_is_refused_for_a_preset_and_absent_from_ids_at_its_default():
    """A preset is random already; init: pretrained (the default) leaves run ids as they were."""
    with pytest.raises(ValueError, match="model.init: random needs model.name_or_path"):
        ModelSpec(preset="tiny", init="random")
    base = {"model": {"name_or_path": "facebook/wav2vec2-base"}, "train": {"max_steps": 1}}
    plain = RunSpec.model_validate(base)
    explicit = RunSpec.model_validate({**base, "model": {**base["model"], "init": "pretrained"}})
    scratch = RunSpec.model_validate({**base, "model": {**base["model"], "init": "random"}})
    assert run_id(plain) == run_id(explicit) != run_id(scratch)
