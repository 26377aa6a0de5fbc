"""Dev-set figures during training: CER, WER, the blank share of frames, the empty share, examples.

Decoded by the same loop as the test set (harness.decode.predict.decode_dataset), so each
hypothesis is what the model says for the utterance alone and a dev CER logged during training
is comparable with the test CER.
"""

from __future__ import annotations

from typing import Any

import torch

from harness.decode.predict import decode_dataset
from harness.scoring.counts import count_edits

EXAMPLES = 3


def dev_evaluate(model: torch.nn.Module, processor, dataset, *, batch_seconds: float,
                 autocast=None) -> dict[str, Any]:
    """Greedy CTC decoding of `dataset`: CER, WER, blank share of frames, empty share, examples.

    The model stays where it is (batches follow its parameters); `autocast` is training's
    mixed-precision context, if any.
    """
    if len(dataset) == 0:
        return {"dev_utterances": 0}
    decoded = decode_dataset(model, processor, dataset, batch_seconds, autocast=autocast)
    references = list(dataset["text"])
    ordered = [hypothesis.strip() for hypothesis in decoded.hypotheses]
    return {
        "dev_utterances": len(references),
        "dev_cer": count_edits(references, ordered, "char").rate(),
        "dev_wer": count_edits(references, ordered, "word").rate(),
        "blank_share": decoded.blank_frames / decoded.frames if decoded.frames else None,
        "empty_share": sum(1 for h in ordered if not h) / len(ordered),
        "examples": [{"reference": r, "hypothesis": h}
                     for r, h in list(zip(references, ordered, strict=True))[:EXAMPLES]],
    }
