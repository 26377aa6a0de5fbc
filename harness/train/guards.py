"""Dev-set monitoring during training, and the guards that stop or flag a run.

- A non-finite loss stops the run: `TrainingFailed` names the update (with ctc_zero_infinity on,
  an impossible alignment costs 0, so NaN/inf means the weights or activations blew up).
- Collapse to blank: CTC fine-tuning first learns to emit only blanks (the loss falls from ~3x
  to ~1x the label entropy without reading the audio) and a failed run stays there: WER 1.0,
  every hypothesis empty. If >= 90% of dev hypotheses are empty at the final evaluation after
  warmup, the run is flagged with the evidence; flagged, not failed, since a longer run may leave
  the plateau and the user decides.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from harness.decode.predict import (
    EQUAL_LENGTHS,
    decoding_mode,
    frame_ids,
    plan_batches,
    sample_lengths,
)
from harness.scoring.counts import count_edits
from harness.text.vocab import PAD, ctc_greedy_decode_batch

EMPTY_SHARE_FLAG = 0.9
EXAMPLES = 3


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


@torch.no_grad()
def dev_evaluate(model: torch.nn.Module, processor, dataset, *, batch_seconds: float,
                 device: torch.device, autocast=None) -> dict[str, Any]:
    """Greedy CTC decoding of `dataset`: CER, WER, blank share of frames, empty share, examples.

    Batched the way test decoding is (harness.decode.predict): each hypothesis is what the model
    says for the utterance alone, so a dev CER logged during training is comparable with the
    test CER. `device` is where the model already is (the batches follow its parameters).
    """
    if len(dataset) == 0:
        return {"dev_utterances": 0}
    was_training = model.training
    model.eval()
    mode = decoding_mode(model)
    batches = plan_batches(sample_lengths(dataset), processor.feature_extractor.sampling_rate,
                           batch_seconds, equal_lengths_only=mode == EQUAL_LENGTHS)
    rows = dataset.with_format("numpy", columns=["input_values"])
    vocab = processor.tokenizer.get_vocab()
    pad_id = vocab[PAD]
    hypotheses: dict[int, str] = {}
    blank = frames = 0
    try:
        for batch_indices in batches:
            waveforms = list(rows[batch_indices]["input_values"])
            with autocast() if autocast is not None else nullcontext():
                ids, lengths = frame_ids(model, mode, waveforms)
            for row, length in enumerate(lengths):
                blank += int((ids[row, :length] == pad_id).sum())
                frames += int(length)
            texts = ctc_greedy_decode_batch(ids, lengths, vocab)
            hypotheses.update(zip(batch_indices, texts, strict=True))
    finally:
        model.train(was_training)
    references = list(dataset["text"])
    ordered = [hypotheses[i].strip() for i in range(len(references))]
    return {
        "dev_utterances": len(references),
        "dev_cer": count_edits(references, ordered, "char").rate(),
        "dev_wer": count_edits(references, ordered, "word").rate(),
        "blank_share": blank / frames if frames else None,
        "empty_share": sum(1 for h in ordered if not h) / len(ordered),
        "examples": [{"reference": r, "hypothesis": h}
                     for r, h in list(zip(references, ordered, strict=True))[:EXAMPLES]],
    }


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
