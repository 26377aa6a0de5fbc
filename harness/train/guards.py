"""The guards that stop or flag a run (dev-set figures come from harness.train.dev).

- A non-finite loss stops the run: `TrainingFailed` names the update (with ctc_zero_infinity on,
  an impossible alignment costs 0, so NaN/inf means the weights or activations blew up).
- Collapse to blank: CTC fine-tuning first learns to emit only blanks (the loss falls from ~3x
  to ~1x the label entropy without reading the audio) and a failed run stays there: WER 1.0,
  every hypothesis empty. If >= 90% of dev hypotheses are empty at the final evaluation after
  warmup, the run is flagged with the evidence; flagged, not failed, since a longer run may leave
  the plateau and the user decides.
"""

from __future__ import annotations

from typing import Any

import numpy as np

EMPTY_SHARE_FLAG = 0.9


class TrainingFailed(Exception):
    """Training cannot go on (e.g. a non-finite loss); the message names the update."""

    def __init__(self, reason: str, step: int | None = None):
        self.reason = reason
        self.step = step
        super().__init__(reason)


def check_finite(loss: float, step: int) -> None:
    """Stop the run if the loss of update `step` is NaN or infinite."""
    if not np.isfinite(loss):
        raise TrainingFailed(
            f"non-finite training loss ({loss}) at update {step}: the weights or activations "
            "overflowed; try a lower train.lr, a smaller train.max_grad_norm or precision: no",
            step,
        )


def collapse_flag(evaluation: dict[str, Any], step: int, warmup: int) -> dict[str, Any] | None:
    """A flag with the evidence if, after warmup, nearly all dev hypotheses are empty."""
    share = evaluation.get("empty_share")
    if share is None or step <= warmup or share < EMPTY_SHARE_FLAG:
        return None
    blank = evaluation.get("blank_share")
    return {
        "name": "empty_hypotheses",
        "message": (
            f"{share:.0%} of dev hypotheses are empty at update {step} (after {warmup} warmup "
            f"updates; {blank:.1%} of frames decode to blank): the model is stuck on the CTC "
            "blank plateau; train longer, raise train.lr, or lower model.mask_time_prob"
        ),
        "step": step,
        "empty_share": share,
        "blank_share": blank,
        "examples": evaluation.get("examples", []),
    }
