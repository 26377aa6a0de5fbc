"""train_summary.json: what a finished training run reports, assembled from its typed state."""

from __future__ import annotations

from typing import Any

from harness.train.state import TrainState


def build_summary(state: TrainState, *, batches_per_epoch: int, plan: Any, flags: list,
                  parameters: dict[str, int], weights_sha256: str, dev: dict | None,
                  warmup: int, precision: str, num_processes: int,
                  gradient_checkpointing: bool) -> dict[str, Any]:
    """The summary of a run that trained `state.step` updates.

    `plan` is the sampler's batch plan (repeated and oversized batch counts); `dev` the final
    dev evaluation (None without a dev set).
    """
    sampler = state.sampler
    return {
        "steps": state.step,
        "epochs": sampler["epoch"] + sampler["position"] / max(1, batches_per_epoch),
        "train_seconds": state.train_seconds,
        "audio_seconds_seen": state.audio_seconds,
        "audio_seconds_per_s": state.audio_seconds / state.train_seconds
        if state.train_seconds else 0.0,
        "final_loss": state.final_loss,
        "padding_fraction": 1 - state.audio_seconds / state.padded_seconds
        if state.padded_seconds else 0.0,
        "flags": flags,
        "parameters": parameters,
        "weights_sha256": weights_sha256,
        "dev": dev,
        "warmup_updates": warmup,
        "precision": precision,
        "num_processes": num_processes,
        "gradient_checkpointing": gradient_checkpointing,
        "skipped_updates": state.skipped_updates,
        "resumed_from_step": state.resumed_from_step,
        "repeated_batches": plan.repeated_batches,
        "oversized_batches": plan.oversized,
    }
