"""The CTC model a run fine-tunes: a named wav2vec2-family checkpoint, or a small preset.

`build_model` gives every run a fresh CTC head sized to the run's vocabulary, with
`pad_token_id` = `[PAD]` (the CTC blank), mean CTC loss and `ctc_zero_infinity` on, and applies
the masking/dropout overrides of the run's `model` section when they are set.

Presets (built from a `Wav2Vec2Config`, same code path as a checkpoint once saved):

- `tiny`: conv feature encoder of 7 layers x 64 channels with group norm (the wav2vec2-base
  layout, 320x downsampling, 20 ms frames), 4 transformer layers of width 128 (4 heads, FFN 512).
  1.04M parameters with a 32-symbol head: the smallest that leaves the CTC all-blank plateau
  from random weights on about an hour of espeak audio (README.md, "The presets").
- `small`: 7 x 256 conv channels, 6 layers of width 256 (4 heads, FFN 1024): 5.6M parameters,
  for longer CPU runs or a quick GPU run.
- `base`: `Wav2Vec2Config()` as it is, the layout of facebook/wav2vec2-base (7 x 512 conv
  channels, 12 layers of width 768, 95M parameters), from random weights: what the GPU check
  (benchmarks/gpu_check.py) measures throughput on without the hub.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCTC, PreTrainedModel, Wav2Vec2Config

from harness.config.settings import ModelSpec
from harness.errors import UserError
from harness.standins import resolve_model_name

# The base layout's conv stack (kernel 10/3/3/3/3/2/2, stride 5/2/2/2/2/2/2 = 320 samples per
# frame); only the channel count shrinks, so frame rate and receptive field match wav2vec2-base.
_BASE_CONV = {"conv_kernel": (10, 3, 3, 3, 3, 2, 2), "conv_stride": (5, 2, 2, 2, 2, 2, 2)}

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        **_BASE_CONV,
        "conv_dim": (64,) * 7,
        "feat_extract_norm": "group",
        "hidden_size": 128,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "intermediate_size": 512,
        # A 128-tap positional conv over 20 ms frames sees 2.56 s, as in base.
        "num_conv_pos_embeddings": 128,
        "num_conv_pos_embedding_groups": 16,
        # Four layers leave nothing to drop; layerdrop would also make DDP see unused layers.
        "layerdrop": 0.0,
    },
    "small": {
        **_BASE_CONV,
        "conv_dim": (256,) * 7,
        "feat_extract_norm": "group",
        "hidden_size": 256,
        "num_hidden_layers": 6,
        "num_attention_heads": 4,
        "intermediate_size": 1024,
        "num_conv_pos_embeddings": 128,
        "num_conv_pos_embedding_groups": 16,
        "layerdrop": 0.0,
    },
    "base": {},  # Wav2Vec2Config's defaults are wav2vec2-base's layout
}

# Every *ForCTC class of the wav2vec2 family names its head so (see reset_head).
HEAD_PREFIX = "lm_head."
# Wav2Vec2ForPreTraining's contrastive objective (a hub checkpoint such as facebook/wav2vec2-base):
# CTC fine-tuning has no use for it, so leaving it behind is expected, not a problem.
PRETRAINING_ONLY = ("quantizer.", "project_q.", "project_hid.")

_log = logging.getLogger(__name__)

# ModelSpec field -> config attribute; applied only when the spec sets a value (not None).
_OVERRIDES = (
    "mask_time_prob",
    "mask_time_length",
    "mask_feature_prob",
    "mask_feature_length",
    "layerdrop",
    "hidden_dropout",
    "activation_dropout",
    "attention_dropout",
    "feat_proj_dropout",
    "final_dropout",
)


def build_model(spec: ModelSpec, vocab_size: int, pad_token_id: int) -> PreTrainedModel:
    """A CTC model with a fresh head of `vocab_size` outputs, from a checkpoint or a preset."""
    if vocab_size < 2 or not 0 <= pad_token_id < vocab_size:
        raise ValueError(f"bad vocabulary: size {vocab_size}, [PAD] id {pad_token_id}")
    ctc = {
        "vocab_size": vocab_size,
        "pad_token_id": pad_token_id,
        "ctc_loss_reduction": "mean",
        "ctc_zero_infinity": True,
        **config_overrides(spec),
    }
    if spec.preset is not None:
        config = Wav2Vec2Config(**{**PRESETS[spec.preset], **ctc})
        return AutoModelForCTC.from_config(config)
    assert spec.name_or_path is not None  # ModelSpec guarantees exactly one source
    return _from_checkpoint(spec.name_or_path, ctc, random_init=spec.init == "random")


def config_overrides(spec: ModelSpec) -> dict[str, Any]:
    """The masking/dropout settings the spec sets, as config attributes."""
    return {name: getattr(spec, name) for name in _OVERRIDES if getattr(spec, name) is not None}


def _from_checkpoint(name: str, ctc: dict[str, Any], random_init: bool = False) -> PreTrainedModel:
    where = f"model.name_or_path {name!r}"
    name_or_path = resolve_model_name(name)  # 'standin:tiny' -> the copy inside the package
    # "facebook/wav2vec2-base" is a hub id; "/data/ckpt", "./ckpt" and "~/ckpt" are paths.
    looks_local = name_or_path.startswith(("/", ".", "~")) or os.path.exists(name_or_path)
    if looks_local and not Path(name_or_path).expanduser().is_dir():
        raise UserError(f"{where}: no such directory")
    try:
        config = AutoConfig.from_pretrained(os.path.expanduser(name_or_path), **ctc)
    except (OSError, ValueError) as error:
        raise UserError(f"{where}: cannot read its config ({_first_line(error)})") from error
    if random_init:  # model.init: random, the from-scratch baseline: same layout, no weights
        return AutoModelForCTC.from_config(config)
    try:
        # A checkpoint that already has a CTC head for another vocabulary: the mismatched head
        # is dropped here and re-initialized below.
        with _without_load_report():
            model, info = AutoModelForCTC.from_pretrained(
                os.path.expanduser(name_or_path), config=config, ignore_mismatched_sizes=True,
                output_loading_info=True,
            )
    except (OSError, ValueError, KeyError) as error:
        raise UserError(
            f"{where}: cannot load it as a CTC model ({_first_line(error)}); "
            "expected a wav2vec2-family checkpoint (wav2vec2, HuBERT, WavLM, data2vec-audio)"
        ) from error
    report_loading(info, name, ctc["vocab_size"])
    reset_head(model)
    return model


def report_loading(info: dict[str, Any], name_or_path: str, vocab_size: int) -> None:
    """One line for the fresh CTC head (expected: the run's own vocabulary); a warning naming
    any other weight the checkpoint lacked, had in excess, or held in another shape."""
    head = [key for key in info["missing_keys"] if key.startswith(HEAD_PREFIX)]
    mismatched = {key: shape for key, shape, _ in info["mismatched_keys"]}
    if f"{HEAD_PREFIX}weight" in mismatched:
        had = f"checkpoint had {mismatched[f'{HEAD_PREFIX}weight'][0]}"
    else:
        had = "checkpoint had none" if head else "checkpoint's own (same size) re-initialized"
    dropped = [key for key in info["unexpected_keys"] if key.startswith(PRETRAINING_ONLY)]
    note = f"; {len(dropped)} weights of the pretraining objective dropped" if dropped else ""
    print(f"new CTC head: {vocab_size} outputs, {had}{note}", file=sys.stderr, flush=True)
    problems = {
        "missing": sorted(k for k in info["missing_keys"] if not k.startswith(HEAD_PREFIX)),
        "unexpected": sorted(set(info["unexpected_keys"]) - set(dropped)),
        "in another shape": sorted(k for k in mismatched if not k.startswith(HEAD_PREFIX)),
    }
    for kind, keys in problems.items():
        if keys:
            shown = ", ".join(keys[:8]) + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
            _log.warning("model.name_or_path %r: %d weights %s: %s", name_or_path, len(keys),
                         kind, shown)


@contextmanager
def _without_load_report() -> Iterator[None]:
    """Drop transformers' LOAD REPORT table (a warning of transformers.modeling_utils, 5.x):
    `report_loading` says the same, without calling the expected fresh head a MISMATCH."""
    target = logging.getLogger("transformers.modeling_utils")

    def keep(record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in str(record.msg)

    target.addFilter(keep)
    try:
        yield
    finally:
        target.removeFilter(keep)


def reset_head(model: PreTrainedModel) -> None:
    """Re-initialize the CTC head, so a checkpoint's own head (same size, other symbols) is gone."""
    head = model.lm_head  # every *ForCTC class of the wav2vec2 family names its head so
    std = getattr(model.config, "initializer_range", 0.02)
    with torch.no_grad():
        head.weight.normal_(mean=0.0, std=std)
        if head.bias is not None:
            head.bias.zero_()


def set_activation_checkpointing(model: PreTrainedModel, enabled: bool) -> bool:
    """Turn activation (gradient) checkpointing on or off, whatever the checkpoint's config said.

    A config saved with `"gradient_checkpointing": true` (facebook/wav2vec2-base's) makes
    transformers turn it on at load; the run's `train.gradient_checkpointing` decides instead.
    Returns whether it is on.
    """
    if enabled:
        enable = getattr(model, "activation_checkpointing_enable", None) \
            or model.gradient_checkpointing_enable
        enable()
    else:
        disable = getattr(model, "activation_checkpointing_disable", None) \
            or model.gradient_checkpointing_disable
        disable()
    return is_activation_checkpointing(model)


def is_activation_checkpointing(model: PreTrainedModel) -> bool:
    """Whether any layer recomputes its activations in the backward pass."""
    check = getattr(type(model), "is_activation_checkpointing", None)  # transformers >= 5.2x
    return bool(model.is_activation_checkpointing if check is not None
                else model.is_gradient_checkpointing)


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 over a module's state dict: each tensor's name and raw bytes, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Total parameters and those that currently require gradients."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
