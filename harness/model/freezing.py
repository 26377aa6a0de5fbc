"""Freezing policies: which parameters train at which update (an ablation axis).

- `feature_encoder`: the conv feature encoder never trains (the reference recipe's default).
- `none`: everything trains.
- `encoder_for_steps:N`: only the CTC head (`lm_head`) trains for the first N updates, then
  everything but the feature encoder (fairseq's `freeze_finetune_updates`).
- `layers:K`: the feature encoder and the bottom K transformer layers never train.

`apply_policy` sets `requires_grad` for a given update. A frozen parameter must also have no
gradient when the optimizer steps: AdamW moves a parameter with a zero gradient (weight decay,
and the momentum of earlier updates), but skips one whose `.grad` is None, so
`drop_frozen_grads` clears them before each step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

_POLICY = re.compile(r"^(feature_encoder|none|encoder_for_steps:(\d+)|layers:(\d+))$")


@dataclass(frozen=True)
class FreezePolicy:
    """A parsed `train.freeze` value."""

    kind: str  # feature_encoder | none | encoder_for_steps | layers
    count: int = 0  # N of encoder_for_steps:N, K of layers:K

    @classmethod
    def parse(cls, text: str) -> FreezePolicy:
        """'encoder_for_steps:500' -> FreezePolicy('encoder_for_steps', 500)."""
        match = _POLICY.match(text.strip())
        if not match:
            raise ValueError(
                f"train.freeze: unknown freezing policy {text!r}: use feature_encoder, none, "
                "encoder_for_steps:N or layers:K"
            )
        kind, _, _ = match.group(1).partition(":")
        count = match.group(2) or match.group(3) or "0"
        return cls(kind, int(count))

    def changes_over_time(self) -> bool:
        """Whether the trainable set differs between updates (head-only phase, then more)."""
        return self.kind == "encoder_for_steps" and self.count > 0

    def __str__(self) -> str:
        counted = self.kind in ("encoder_for_steps", "layers")
        return f"{self.kind}:{self.count}" if counted else self.kind


def parts(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The named parts a policy refers to: feature_encoder, layers (a ModuleList), head, base."""
    base = getattr(model, "base_model", None)
    head = getattr(model, "lm_head", None)
    if base is None or base is model or head is None:
        raise TypeError(f"{type(model).__name__} is not a wav2vec2-family CTC model")
    return {
        "base": base,
        "feature_encoder": base.feature_extractor,
        "layers": base.encoder.layers,
        "head": head,
    }


def trainable_mask(model: torch.nn.Module, policy: FreezePolicy, update: int) -> dict[str, bool]:
    """Parameter name -> whether it trains at `update` (0-based count of updates done)."""
    named = parts(model)
    frozen: set[int] = set()
    if policy.kind in ("feature_encoder", "layers", "encoder_for_steps"):
        frozen |= {id(p) for p in named["feature_encoder"].parameters()}
    if policy.kind == "layers":
        layers = named["layers"]
        if policy.count > len(layers):
            raise ValueError(
                f"train.freeze: layers:{policy.count} but the model has {len(layers)} "
                "transformer layers"
            )
        for layer in layers[: policy.count]:
            frozen |= {id(p) for p in layer.parameters()}
    head_only = policy.kind == "encoder_for_steps" and update < policy.count
    head = {id(p) for p in named["head"].parameters()}
    return {
        name: (id(p) in head) if head_only else id(p) not in frozen
        for name, p in model.named_parameters()
    }


def apply_policy(model: torch.nn.Module, policy: FreezePolicy, update: int) -> int:
    """Set requires_grad for `update`; returns the number of trainable parameters."""
    mask = trainable_mask(model, policy, update)
    trainable = 0
    for name, param in model.named_parameters():
        param.requires_grad_(mask[name])
        trainable += param.numel() if mask[name] else 0
    # The conv encoder feeds a requires_grad input to itself when it thinks it trains (for
    # gradient checkpointing); keep that flag in line with its parameters.
    encoder = parts(model)["feature_encoder"]
    if hasattr(encoder, "_requires_grad"):
        encoder._requires_grad = any(p.requires_grad for p in encoder.parameters())
    return trainable


def ever_trainable(model: torch.nn.Module, policy: FreezePolicy) -> list[str]:
    """Names of the parameters that train at some update (what the optimizer must hold)."""
    late = trainable_mask(model, policy, update=policy.count if policy.changes_over_time() else 0)
    early = trainable_mask(model, policy, update=0)
    return [name for name in late if late[name] or early[name]]


def drop_frozen_grads(model: torch.nn.Module) -> None:
    """Clear the gradient of every frozen parameter so AdamW leaves it exactly as it is."""
    for param in model.parameters():
        if not param.requires_grad:
            param.grad = None
