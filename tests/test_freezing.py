"""Freezing policies: parsing, who trains at which update, AdamW leaving frozen weights alone."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given

from harness.config.settings import ModelSpec, TrainSpec
from harness.model.build import build_model
from harness.model.freezing import (
    FreezePolicy,
    apply_policy,
    drop_frozen_grads,
    ever_trainable,
    parts,
    trainable_mask,
)
from tests.strategies import freeze_policies

VOCAB = 12


@pytest.fixture(scope="module")
def model():
    """A tiny preset model (4 transformer layers)."""
    torch.manual_seed(0)
    return build_model(ModelSpec(preset="tiny"), VOCAB, 0)


def _names(model, part: str) -> set[str]:
    ids = {id(p) for p in parts(model)[part].parameters()}
    return {name for name, p in model.named_parameters() if id(p) in ids}


@given(freeze_policies)
def test_policy_text_round_trips_and_the_settings_accept_it(text):
    """Every policy the settings accept parses, and prints back as the same text."""
    assert str(FreezePolicy.parse(text)) == text
    assert TrainSpec(max_steps=1, freeze=text).freeze == text


@pytest.mark.parametrize("text", ["encoder", "layers:", "layers:-1", "none:3", "Feature_encoder"])
def test_unknown_policies_are_errors_naming_the_setting(text):
    """A misspelled policy is a ValueError naming train.freeze and the accepted forms."""
    with pytest.raises(ValueError, match=r"train\.freeze: unknown freezing policy"):
        FreezePolicy.parse(text)


def test_feature_encoder_policy_freezes_only_the_conv_encoder(model):
    """feature_encoder: exactly the conv feature encoder is frozen, at every update."""
    conv = _names(model, "feature_encoder")
    for update in (0, 10_000):
        mask = trainable_mask(model, FreezePolicy.parse("feature_encoder"), update)
        assert {n for n, t in mask.items() if not t} == conv


def test_none_policy_trains_everything(model):
    """none: no parameter is frozen."""
    assert all(trainable_mask(model, FreezePolicy.parse("none"), 0).values())


def test_layers_policy_freezes_the_bottom_k_layers(model):
    """layers:2 freezes the conv encoder and transformer layers 0 and 1, not 2 and 3."""
    mask = trainable_mask(model, FreezePolicy.parse("layers:2"), 0)
    frozen = {n for n, t in mask.items() if not t}
    bottom = {id(p) for layer in parts(model)["layers"][:2] for p in layer.parameters()}
    expected = _names(model, "feature_encoder")
    expected |= {n for n, p in model.named_parameters() if id(p) in bottom}
    assert frozen == expected
    assert any(n.startswith("wav2vec2.encoder.layers.2.") for n, t in mask.items() if t)
    assert not any(n.startswith("wav2vec2.encoder.layers.1.") for n, t in mask.items() if t)


def test_layers_beyond_the_model_are_an_error(model):
    """layers:K with K above the model's layer count says how many layers there are."""
    with pytest.raises(ValueError, match="layers:5 but the model has 4 transformer layers"):
        trainable_mask(model, FreezePolicy.parse("layers:5"), 0)


def test_encoder_for_steps_trains_the_head_then_all_but_the_conv_encoder(model):
    """encoder_for_steps:3: only lm_head for updates 0-2; from update 3, as feature_encoder."""
    policy = FreezePolicy.parse("encoder_for_steps:3")
    head = _names(model, "head")
    assert head == {"lm_head.weight", "lm_head.bias"}
    for update in (0, 2):
        mask = trainable_mask(model, policy, update)
        assert {n for n, t in mask.items() if t} == head
    later = trainable_mask(model, policy, 3)
    assert later == trainable_mask(model, FreezePolicy.parse("feature_encoder"), 0)
    assert set(ever_trainable(model, policy)) == {n for n, t in later.items() if t}


def test_apply_policy_sets_requires_grad_and_counts(model):
    """apply_policy leaves requires_grad as the mask says and returns the trainable count."""
    policy = FreezePolicy.parse("encoder_for_steps:5")
    count = apply_policy(model, policy, 0)
    assert count == VOCAB * 128 + VOCAB
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["lm_head.weight",
                                                                           "lm_head.bias"]
    assert parts(model)["feature_encoder"]._requires_grad is False
    apply_policy(model, FreezePolicy.parse("none"), 0)
    assert parts(model)["feature_encoder"]._requires_grad is True


def test_models_other_than_ctc_are_refused():
    """A module without a base model and lm_head is not something a policy can apply to."""
    with pytest.raises(TypeError, match="not a wav2vec2-family CTC model"):
        parts(torch.nn.Linear(2, 2))


def _train_steps(model, policy_text: str, steps: int, zero_grads: bool) -> None:
    """A few AdamW updates with weight decay on random audio, applying the policy each update."""
    policy = FreezePolicy.parse(policy_text)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    generator = torch.Generator().manual_seed(0)
    for update in range(steps):
        apply_policy(model, policy, update)
        audio = torch.randn(2, 8000, generator=generator)
        labels = torch.randint(3, VOCAB, (2, 5), generator=generator)
        model(input_values=audio, labels=labels).loss.backward()
        drop_frozen_grads(model)
        optimizer.step()
        # zero_grad(set_to_none=False) leaves zero tensors that AdamW would decay and move with.
        optimizer.zero_grad(set_to_none=not zero_grads)


@pytest.mark.parametrize("policy", ["feature_encoder", "layers:2", "encoder_for_steps:3"])
def test_frozen_parameters_stay_bit_identical_under_adamw(policy):
    """After AdamW updates with weight decay, every parameter frozen throughout is unchanged."""
    torch.manual_seed(0)
    model = build_model(ModelSpec(preset="tiny", mask_time_prob=0.0), VOCAB, 0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    frozen_throughout = {n for n, t in trainable_mask(model, FreezePolicy.parse(policy), 0).items()
                         if not t}
    frozen_throughout -= set(ever_trainable(model, FreezePolicy.parse(policy)))
    _train_steps(model, policy, steps=4, zero_grads=True)
    after = dict(model.named_parameters())
    assert frozen_throughout
    for name in frozen_throughout:
        assert torch.equal(before[name], after[name]), name
    assert not torch.equal(before["lm_head.weight"], after["lm_head.weight"])
    if policy == "encoder_for_steps:3":  # the encoder trained in update 3 only
        name = "wav2vec2.encoder.layers.0.feed_forward.output_dense.weight"
        assert not torch.equal(before[name], after[name])


def test_zero_gradients_alone_would_move_frozen_parameters():
    """Why drop_frozen_grads exists: AdamW decays a parameter whose gradient is zero, not None."""
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.AdamW([weight], lr=0.1, weight_decay=0.1)
    weight.grad = torch.zeros(3)
    optimizer.step()
    assert not torch.equal(weight.detach(), torch.ones(3))
