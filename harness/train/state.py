"""What training counts as it goes, typed: saved in every checkpoint, restored on resume.

`TrainState` is the part of a run that is not tensors: the update count, the sampler's position,
running totals for the summary, and the `Window` of sums since the last log line. It travels as
JSON in checkpoint/trainer_state.json (harness.train.checkpoint), with the same keys as before
it had a type, so older checkpoints still resume.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Window:
    """Sums over the updates since the last log line; a log line reports their means."""

    updates: int = 0
    loss: float = 0.0
    grad_norm: float = 0.0  # non-finite norms (an fp16 overflow, skipped update) count as 0
    audio: float = 0.0  # seconds of audio in the batches
    padded: float = 0.0  # seconds including padding (batch size x longest utterance)
    seconds: float = 0.0  # wall time in updates

    def add(self, loss: float, grad_norm: float, audio: float, padded: float,
            seconds: float) -> None:
        """One update's figures."""
        self.updates += 1
        self.loss += loss
        self.grad_norm += grad_norm if math.isfinite(grad_norm) else 0.0
        self.audio += audio
        self.padded += padded
        self.seconds += seconds

    def means(self) -> dict[str, float]:
        """Loss, grad norm, audio-s/s and padding fraction over the window."""
        updates = max(1, self.updates)
        return {
            "loss": self.loss / updates,
            "grad_norm": self.grad_norm / updates,
            "audio_seconds_per_s": self.audio / self.seconds if self.seconds else 0.0,
            "padding_fraction": 1 - self.audio / self.padded if self.padded else 0.0,
        }


@dataclass
class TrainState:
    """A run's counters; `step` is the number of updates done."""

    sampler: dict[str, Any]  # DurationBatchSampler.state_dict(): epoch, position, seed
    step: int = 0
    audio_seconds: float = 0.0
    padded_seconds: float = 0.0
    train_seconds: float = 0.0  # wall time inside updates
    elapsed_s: float = 0.0  # wall time of the loop, evaluations and checkpoints included
    final_loss: float | None = None
    skipped_updates: int = 0  # the grad scaler skipped the optimizer step (fp16 overflow)
    resumed_from_step: int | None = None
    window: Window = field(default_factory=Window)

    def account(self, loss: float, grad_norm: float, audio: float, padded: float,
                seconds: float) -> None:
        """Add one update to the window and the run's totals."""
        self.window.add(loss, grad_norm, audio, padded, seconds)
        self.audio_seconds += audio
        self.padded_seconds += padded
        self.train_seconds += seconds
        self.final_loss = loss

    def take_window(self) -> Window:
        """The window so far; a fresh one starts."""
        window, self.window = self.window, Window()
        return window

    def to_json(self) -> dict[str, Any]:
        """The trainer_state.json payload."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> TrainState:
        """A state saved by to_json (unknown keys are an error: a checkpoint of another code)."""
        payload = dict(payload)
        window = Window(**payload.pop("window", {}))
        return cls(**payload, window=window)
