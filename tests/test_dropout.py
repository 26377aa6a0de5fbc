"""UniformMaskDropout (harness/model/dropout.py): nn.Dropout's contract with cheaper CPU masks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.config.settings import ModelSpec
from harness.model.build import build_model
from harness.model.dropout import UniformMaskDropout, use_uniform_mask_dropout


def test_keeps_each_element_with_probability_one_minus_p_scaled_by_its_inverse():
    torch.manual_seed(0)
    dropout = UniformMaskDropout(0.1).train()
    hidden = torch.full((1000, 1000), 2.0)
    out = dropout(hidden)
    kept = out != 0
    # 10^6 draws: the kept share's standard deviation is 0.0003.
    assert kept.float().mean().item() == pytest.approx(0.9, abs=0.002)
    assert torch.all(out[kept] == torch.tensor(2.0 / 0.9))


def test_is_the_identity_in_eval_mode_and_at_p_zero():
    hidden = torch.randn(4, 7)
    assert torch.equal(UniformMaskDropout(0.3).eval()(hidden), hidden)
    assert torch.equal(UniformMaskDropout(0.0).train()(hidden), hidden)


def test_gradient_flows_through_the_kept_elements_only():
    torch.manual_seed(1)
    hidden = torch.ones(50, 50, requires_grad=True)
    out = UniformMaskDropout(0.5).train()(hidden)
    out.sum().backward()
    assert torch.equal(hidden.grad, (out != 0).float() * 2.0)


def test_every_dropout_module_of_a_wav2vec2_model_is_replaced():
    model = build_model(ModelSpec(preset="tiny"), vocab_size=8, pad_token_id=0)
    # 4 layers x (after attention, inside and after the feed-forward) + after the positional
    # conv + after the feature projection + before the head; attention's own is functional.
    assert use_uniform_mask_dropout(model) == 15
    assert not any(type(module) is nn.Dropout for module in model.modules())
    assert sum(isinstance(m, UniformMaskDropout) for m in model.modules()) == 15


def test_refuses_a_probability_outside_zero_to_one():
    with pytest.raises(ValueError, match="dropout probability"):
        UniformMaskDropout(1.0)
