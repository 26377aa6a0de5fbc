"""Batched greedy CTC decoding of a test set -> predictions.jsonl (raw, un-normalized texts).

    records = predict(model, processor, prepared.test, batch_seconds=120)
    write_predictions(records, run_dir / "predictions.jsonl")

Batching must not change a hypothesis: each one equals what the model gives for that utterance
decoded alone. Zero padding breaks that in two places, and `decoding_mode` picks how to avoid
both for the model at hand:

- The group norm of a wav2vec2-base-style feature encoder (first conv layer, one group per
  channel) takes its mean and variance over time, so the zeros of a padded utterance pull its
  statistics and change every frame, not only the padded ones. The `tiny` preset, randomly
  initialized, on noise: padding a 1 s clip to 3 s moves its logits by up to 0.6 (their spread
  is 0.25) and changes the argmax of 35% of its frames (tests/test_evaluate.py shows it).
- The transformer attends to padded frames unless it is given an attention mask.

`masked_group_norm` (wav2vec2-base, HuBERT-base, WavLM-base): pad, pass an attention mask, and
replace that one group norm's output by the same normalization over each utterance's own frames.
The convolutions after it are local and unpadded, so an output frame inside the utterance
(`_get_feat_extract_output_lengths`) sees only its own audio; the encoder zeroes padded frames
(what the positional convolution sees past the end of an utterance alone) and masks them out of
attention. So the batch computes per utterance what the model computes alone, at batched speed;
what is left is the rounding of batched matrix products (logits within 1e-6 on the tiny
preset, HuBERT and WavLM alike). Batching only utterances of identical length would be exact
too, but test utterances almost never share a length to the sample: that is one at a time.
`attention_mask` (layer-norm feature encoders: wav2vec2-large-lv60, XLS-R, HuBERT-large): the
conv layers normalize each frame on its own, so the attention mask alone suffices.
`equal_lengths` (anything else): batches hold only utterances of one length, i.e. no padding.
That covers models with an adapter (its strided convs read encoder outputs at padded frames) and
data2vec-audio, whose positional embedding stacks 5 convs: the second reads what the first wrote
at padded frames where, alone, it reads zeros (logits near the end move by up to 0.6).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import torch

from harness.data.batching import collate, cut_batches
from harness.decode.logprobs import LogProbs
from harness.files import write_text_atomic
from harness.scoring.records import check_records
from harness.text.vocab import PAD, ctc_greedy_decode_batch

MASKED_GROUP_NORM = "masked_group_norm"
ATTENTION_MASK = "attention_mask"
EQUAL_LENGTHS = "equal_lengths"

# Families whose encoder zeroes padded frames, masks attention and has one positional conv, as
# read in modeling_{wav2vec2,hubert,wavlm}.py of transformers 5.x (and tested).
MASKABLE_FAMILIES = frozenset({"wav2vec2", "hubert", "wavlm"})
COLUMNS = ("id", "speaker", "duration", "raw_text", "input_values")


def predict(model: torch.nn.Module, processor, dataset, batch_seconds: float = 120.0,
            logprobs_to: Path | None = None) -> list[dict]:
    """Greedy CTC hypotheses of `dataset`, in its order, each equal to decoding it alone.

    Returns {"id", "speaker", "duration", "reference", "hypothesis"} per utterance, with the raw
    transcript as reference (scoring normalizes both sides later). Batches are cut from the
    length-sorted utterances with at most `batch_seconds` of padded audio; a longer utterance is
    decoded alone. Runs on the model's device, in eval mode (its mode is restored afterwards).
    With `logprobs_to`, the same forward passes also store every utterance's CTC
    log-probabilities there (harness.decode.logprobs), for the beam and LM decoders.
    """
    missing = [name for name in COLUMNS if name not in dataset.column_names]
    if missing:
        raise ValueError(f"the test set lacks the column(s) {', '.join(missing)}")
    if not batch_seconds > 0:
        raise ValueError(f"eval.batch_seconds must be positive, got {batch_seconds}")
    if len(dataset) == 0:
        return []
    decoded = decode_dataset(model, processor, dataset, batch_seconds,
                             keep_logprobs=logprobs_to is not None)
    rows = dataset.select_columns(["id", "speaker", "duration", "raw_text"]).to_list()
    records = [
        {"id": row["id"], "speaker": row["speaker"], "duration": float(row["duration"]),
         "reference": row["raw_text"], "hypothesis": hypothesis}
        for row, hypothesis in zip(rows, decoded.hypotheses, strict=True)
    ]
    if logprobs_to is not None:
        vocab = processor.tokenizer.get_vocab()
        labels = sorted(vocab, key=vocab.get)
        LogProbs(labels, records, decoded.logprobs).save(logprobs_to)
    return records


def decoding_mode(model: torch.nn.Module) -> str:
    """How `predict` batches `model` exactly: MASKED_GROUP_NORM, ATTENTION_MASK or EQUAL_LENGTHS."""
    config = model.config
    if config.model_type not in MASKABLE_FAMILIES or getattr(config, "add_adapter", False):
        return EQUAL_LENGTHS
    encoder = model.base_model.feature_extractor
    group_norms = [m for m in encoder.modules() if isinstance(m, torch.nn.GroupNorm)]
    if not group_norms:
        return ATTENTION_MASK
    if group_norms == [getattr(encoder.conv_layers[0], "layer_norm", None)]:
        return MASKED_GROUP_NORM
    return EQUAL_LENGTHS


def sample_lengths(dataset) -> np.ndarray:
    """Samples per utterance, read from the Arrow list lengths (no audio is copied)."""
    parts = [
        pc.list_value_length(table.column("input_values")).to_numpy(zero_copy_only=False)
        for table in dataset.with_format("arrow", columns=["input_values"]).iter(batch_size=1000)
    ]
    return np.concatenate(parts).astype(np.int64)


def plan_batches(lengths: np.ndarray, sampling_rate: int, batch_seconds: float,
                 equal_lengths_only: bool = False) -> list[list[int]]:
    """Indices of each batch: longest utterances first, padded audio <= batch_seconds.

    Longest first, so a batch that does not fit in GPU memory fails at the start, not the end.
    With `equal_lengths_only`, a batch holds utterances of one length in samples (no padding).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    seconds = lengths / sampling_rate
    if not equal_lengths_only:
        return cut_batches(seconds, order, batch_seconds)
    starts = np.flatnonzero(np.diff(lengths[order])) + 1  # where the length changes
    return [batch for run in np.split(order, starts)
            for batch in cut_batches(seconds, run, batch_seconds)]


@dataclass(frozen=True)
class Decoded:
    """Greedy hypotheses of a dataset in its order, and how many frames decoded to blank."""

    hypotheses: list[str]
    blank_frames: int
    frames: int
    logprobs: list[np.ndarray] | None = None  # [frames, V] float16 per utterance, when kept


def decode_dataset(model: torch.nn.Module, processor, dataset, batch_seconds: float,
                   autocast: Callable[[], AbstractContextManager] | None = None,
                   keep_logprobs: bool = False) -> Decoded:
    """The one decoding loop, for the test set after training and the dev set during it.

    Batches as `plan_batches` cuts them, each decoded the exact way `decoding_mode` picks; in
    eval mode without gradients (the model's mode is restored afterwards); under `autocast`
    when given (training's mixed precision). A progress bar shows on a terminal only.
    """
    from tqdm import tqdm

    mode = decoding_mode(model)
    batches = plan_batches(sample_lengths(dataset), processor.feature_extractor.sampling_rate,
                           batch_seconds, equal_lengths_only=mode == EQUAL_LENGTHS)
    vocab = processor.tokenizer.get_vocab()
    pad_id = vocab[PAD]
    audio = dataset.with_format("numpy", columns=["input_values"])
    hypotheses: list[str] = [""] * len(dataset)
    logprobs: list = [None] * len(dataset)
    blank = frames = 0
    was_training = model.training
    model.eval()
    bar = tqdm(total=len(dataset), desc="decoding", unit="utt", leave=False, file=sys.stderr,
               disable=not sys.stderr.isatty())
    try:
        with torch.inference_mode():
            for indices in batches:
                waveforms = list(audio[indices]["input_values"])
                with autocast() if autocast is not None else nullcontext():
                    ids, lengths, logits = frame_outputs(model, mode, waveforms)
                if keep_logprobs:
                    scores = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
                    for row, index in enumerate(indices):
                        logprobs[index] = scores[row, :lengths[row]].astype(np.float16)
                for row, length in enumerate(lengths):
                    blank += int((ids[row, :length] == pad_id).sum())
                    frames += int(length)
                texts = ctc_greedy_decode_batch(ids, lengths, vocab)
                for index, text in zip(indices, texts, strict=True):
                    hypotheses[index] = text
                bar.update(len(indices))
    finally:
        bar.close()
        model.train(was_training)
    return Decoded(hypotheses, blank, frames, logprobs if keep_logprobs else None)


def decode_batch(model: torch.nn.Module, mode: str, waveforms: Sequence[np.ndarray],
                 vocab: dict[str, int]) -> list[str]:
    """Hypotheses of one batch of normalized 16 kHz waveforms, decoded the `mode` way."""
    ids, frames, _ = frame_outputs(model, mode, waveforms)
    return ctc_greedy_decode_batch(ids, frames, vocab)


def frame_outputs(model: torch.nn.Module, mode: str, waveforms: Sequence[np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """The argmax token of every frame of one batch (rows padded), each utterance's frame
    count, and the logits [B, T, V]; each row's first `frames` frames are what the model gives
    that utterance alone."""
    parameter = next(model.parameters())
    lengths = torch.tensor([len(w) for w in waveforms])
    batch = collate(list(waveforms), None, attention_mask=mode != EQUAL_LENGTHS)
    inputs = {key: value.to(parameter.device) for key, value in batch.items()}
    inputs["input_values"] = inputs["input_values"].to(parameter.dtype)
    exact_norm = group_norm_per_utterance(model, lengths) if mode == MASKED_GROUP_NORM \
        else nullcontext()
    with exact_norm:
        logits = model(**inputs).logits
    frames = model._get_feat_extract_output_lengths(lengths).long()
    return logits.argmax(dim=-1).cpu().numpy(), frames.numpy(), logits


@contextmanager
def group_norm_per_utterance(model: torch.nn.Module, sample_lengths: torch.Tensor
                             ) -> Iterator[None]:
    """Within the block, the first conv layer's group norm uses each utterance's frames only."""
    layer = model.base_model.feature_extractor.conv_layers[0]
    kernel, stride = layer.conv.kernel_size[0], layer.conv.stride[0]
    frames = torch.div(sample_lengths - kernel, stride, rounding_mode="floor") + 1
    original = layer.layer_norm
    # Swapped in for the block and put back whatever happens (a forward hook would also run the
    # padded GroupNorm only to discard it: +6% of the tiny preset's decoding time).
    layer.layer_norm = _GroupNormOverFrames(original, frames.tolist())
    try:
        yield
    finally:
        layer.layer_norm = original


class _GroupNormOverFrames(torch.nn.Module):
    """`norm` with each row's statistics over its first frames[b] steps (see masked_group_norm)."""

    def __init__(self, norm: torch.nn.GroupNorm, frames: Sequence[int]):
        super().__init__()
        self.norm = norm
        self.frames = frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return masked_group_norm(x, self.frames, self.norm)


def masked_group_norm(x: torch.Tensor, frames: Sequence[int], norm: torch.nn.GroupNorm
                      ) -> torch.Tensor:
    """`norm` of x [B, C, T] with row b normalized over its first frames[b] steps only.

    Each row's own steps go through `norm` by themselves, so they come out bit-identical to the
    utterance decoded alone, in the time one GroupNorm over the batch takes (24 x 4 s: 0.10 s;
    masked sums over the padded batch took 0.6 s). Steps past frames[b] are zeros, and no
    output frame inside the utterance reads them.
    """
    out = torch.zeros_like(x)
    for row, steps in enumerate(frames):
        out[row, :, :steps] = norm(x[row : row + 1, :, :steps])[0]
    return out


def write_predictions(records: Sequence[dict], path: Path) -> None:
    """Write records as predictions.jsonl (one UTF-8 JSON object per line), atomically.

    The records are checked first (fields and types as harness.scoring reads them), so a bad
    record never reaches the disk.
    """
    path = Path(path)
    check_records(records, str(path))
    write_text_atomic(path, "".join(json.dumps(record, ensure_ascii=False) + "\n"
                                    for record in records))
