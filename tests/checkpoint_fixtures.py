"""Checkpoints saved the way the hub ships facebook/wav2vec2-base, built locally from a config.

The hub's wav2vec2-base is a *pretraining* model (Wav2Vec2ForPreTraining: no CTC head, a
quantizer and project_q/project_hid that fine-tuning drops), its config carries
`"gradient_checkpointing": true`, and its positional convolution's weight norm is stored under
the old names `weight_g` / `weight_v` (torch's weight_norm before parametrizations).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

# The parametrization names save_pretrained writes today -> the names in the hub's 2020 file.
NEW_TO_OLD = {"parametrizations.weight.original0": "weight_g",
              "parametrizations.weight.original1": "weight_v"}

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 64, "conv_dim": (32,) * 7, "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 4, "codevector_dim": 32, "proj_codevector_dim": 32,
        "num_codevectors_per_group": 8}


def hub_shaped_checkpoint(directory: Path, seed: int = 0, **config: object) -> Path:
    """Save a Wav2Vec2ForPreTraining built from Wav2Vec2Config(**config) as the hub has it."""
    torch.manual_seed(seed)
    model = Wav2Vec2ForPreTraining(Wav2Vec2Config(**config))
    model.save_pretrained(directory, safe_serialization=True)
    weights = directory / "model.safetensors"
    tensors = load_file(weights)
    renamed = {}
    for name, tensor in tensors.items():
        for new, old in NEW_TO_OLD.items():
            name = name.replace(new, old)
        renamed[name] = tensor
    save_file(renamed, weights, metadata={"format": "pt"})
    config_path = directory / "config.json"
    saved = json.loads(config_path.read_text())
    saved["gradient_checkpointing"] = True
    saved["architectures"] = ["Wav2Vec2ForPreTraining"]
    config_path.write_text(json.dumps(saved, indent=2))
    return directory
