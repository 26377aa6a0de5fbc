"""Learning-rate schedules as multipliers of the peak lr (LambdaLR: its state is one integer).

- linear: 0 -> 1 over `warmup_steps`, then 1 -> 0 linearly at the last update (as transformers'
  `get_linear_schedule_with_warmup`, the reference recipe's).
- constant: 0 -> 1 over `warmup_steps`, then 1.
- tri_stage (fairseq's wav2vec2 fine-tuning): `stage_ratios` split the updates into warmup
  (linear from 0.01 to 1), hold (1) and decay (exponential from 1 to `final_lr_scale`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.optim.lr_scheduler import LambdaLR

from harness.config.settings import TrainSpec

# fairseq's tri_stage starts at init_lr_scale x peak (0.01 in the wav2vec2 configs), not at 0.
TRI_STAGE_INIT_SCALE = 0.01


def warmup_updates(spec: TrainSpec, total: int) -> int:
    """Updates spent warming up: warmup_steps, or the first stage of tri_stage."""
    if spec.schedule == "tri_stage":
        return int(round(spec.stage_ratios[0] * total))
    return min(spec.warmup_steps, total)


def lr_multiplier(spec: TrainSpec, total: int) -> Callable[[int], float]:
    """Update index (0-based, the update about to happen) -> share of the peak lr."""
    if total < 1:
        raise ValueError("a schedule needs at least one update")
    if spec.schedule == "tri_stage":
        return _tri_stage(spec, total)
    warmup = warmup_updates(spec, total)

    def linear(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    def constant(step: int) -> float:
        return step / max(1, warmup) if step < warmup else 1.0

    return linear if spec.schedule == "linear" else constant


def _tri_stage(spec: TrainSpec, total: int) -> Callable[[int], float]:
    ratios = spec.stage_ratios
    if any(r < 0 for r in ratios) or not math.isclose(sum(ratios), 1.0, abs_tol=1e-6):
        raise ValueError(f"train.stage_ratios must be three shares summing to 1, got {ratios}")
    warmup = int(round(ratios[0] * total))
    hold = int(round(ratios[1] * total))
    decay = max(1, total - warmup - hold)
    final = max(spec.final_lr_scale, 1e-12)  # log of 0 below; a 0 scale decays to ~0
    decay_rate = -math.log(final) / decay

    def tri_stage(step: int) -> float:
        if step < warmup:
            return TRI_STAGE_INIT_SCALE + (1 - TRI_STAGE_INIT_SCALE) * step / warmup
        if step < warmup + hold:
            return 1.0
        return math.exp(-decay_rate * min(step - warmup - hold, decay))

    return tri_stage


def make_scheduler(optimizer: torch.optim.Optimizer, spec: TrainSpec, total: int) -> LambdaLR:
    """The run's schedule over `total` updates."""
    return LambdaLR(optimizer, lr_multiplier(spec, total))
