"""Audio in, model input out: decode, down-mix, resample, check, normalize.

Decoding goes through soundfile (libsndfile: WAV, FLAC, OGG, MP3, and NIST SPHERE PCM such as
LDC TIMIT's 16 kHz 16-bit .WAV) rather than datasets' Audio feature, which needs torchcodec: here
every undecodable file must become a counted skip with its reason, never an exception in the
middle of a dataset map. The one exception is SPHERE compressed with shorten, which libsndfile
cannot read: a corpus that has one has them all, so it stops preparation with the fix.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

from harness.errors import UserError

# Every wav2vec2-family encoder (base, large, XLS-R, HuBERT) uses the same conv stack: kernels
# 10,3,3,3,3,2,2 and strides 5,2,2,2,2,2,2, i.e. a 400-sample receptive field and one output
# frame per 320 samples. Preparation checks CTC feasibility against it before any model exists.
RECEPTIVE_FIELD = 400
HOP = 320


class AudioError(Exception):
    """An utterance whose audio cannot be used; `reason` is the skip-count key."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class AudioRef:
    """Where an utterance's audio is: encoded bytes, a file path, or an already decoded array."""

    path: str | None = None
    data: bytes | None = None
    array: np.ndarray | None = None
    sampling_rate: int | None = None


def decode(ref: AudioRef) -> tuple[np.ndarray, int]:
    """Samples as float32 [time] or [time, channels], and the file's sampling rate."""
    if ref.array is not None:
        if not ref.sampling_rate:
            raise AudioError("unreadable", "decoded audio without a sampling rate")
        return np.asarray(ref.array, dtype=np.float32), int(ref.sampling_rate)
    if ref.data is None and ref.path is not None and not os.path.exists(ref.path):
        raise AudioError("missing", f"{ref.path}: no such file" + (
            f" (a symlink to {os.readlink(ref.path)!r}, which does not exist)"
            if os.path.islink(ref.path) else ""))
    try:
        source = io.BytesIO(ref.data) if ref.data is not None else ref.path
        if source is None:
            raise AudioError("unreadable", "no audio bytes or path")
        samples, rate = soundfile.read(source, dtype="float32", always_2d=False)
    except AudioError:
        raise
    except Exception as error:  # libsndfile raises several types for corrupt or missing files
        _refuse_compressed_sphere(ref)
        raise AudioError("unreadable", f"{ref.path or 'bytes'}: {error}") from error
    return samples, int(rate)


def _refuse_compressed_sphere(ref: AudioRef) -> None:
    """A UserError for NIST SPHERE whose sample_coding is compressed (shorten, wavpack), e.g.
    `sample_coding -s26 pcm,embedded-shorten-v2.00`; returns for any other file."""
    try:
        if ref.data is not None:
            header = ref.data[:1024]
        else:
            with open(ref.path, "rb") as handle:
                header = handle.read(1024)
    except (OSError, TypeError):
        return
    if not header.startswith(b"NIST_1A"):
        return
    coding = next((line.split()[-1].decode("ascii", "replace") for line in header.splitlines()
                   if line.startswith(b"sample_coding")), "")
    if "embedded-" in coding:
        raise UserError(
            f"{ref.path or 'audio bytes'}: NIST SPHERE compressed as {coding!r}, which libsndfile "
            "cannot decode; convert the corpus to PCM first, e.g. `sph2pipe -f wav IN.WAV "
            "OUT.WAV` for each file (a RIFF WAV under the same name is read as well)"
        )


def to_model_rate(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Mono float32 at `target_rate`; raises AudioError for empty or non-finite audio."""
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)  # down-mix: average the channels
    if samples.size == 0:
        raise AudioError("empty_audio", "zero samples")
    if not np.isfinite(samples).all():
        raise AudioError("non_finite_samples", "NaN or infinite samples")
    if rate != target_rate:
        samples = soxr.resample(samples, rate, target_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(samples, dtype=np.float32)


def is_silent(samples: np.ndarray) -> bool:
    """Whether decoded audio ([time] or [time, channels]) is one value throughout once down-mixed:
    digital silence or a constant offset, nothing to hear. Empty or NaN audio is not silent (it
    has its own skip reason)."""
    mono = samples.mean(axis=1, dtype=np.float32) if samples.ndim == 2 else samples
    return mono.size > 0 and bool(np.all(mono == mono[0]))


def zero_mean_unit_variance(samples: np.ndarray) -> np.ndarray:
    """What Wav2Vec2FeatureExtractor(do_normalize=True) does to one unpadded utterance."""
    return ((samples - samples.mean()) / np.sqrt(samples.var() + 1e-7)).astype(np.float32)


def output_frames(n_samples: int) -> int:
    """CTC output frames a wav2vec2-family encoder gives for `n_samples` input samples."""
    return 0 if n_samples < RECEPTIVE_FIELD else (n_samples - RECEPTIVE_FIELD) // HOP + 1


def ctc_frames_needed(text: str) -> int:
    """Frames CTC needs for a target: one per label plus a blank between repeated labels."""
    return len(text) + sum(a == b for a, b in zip(text, text[1:], strict=False))
