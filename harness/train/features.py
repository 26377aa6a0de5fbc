"""Frozen feature-encoder outputs, computed once per utterance and trained on from a cache.

When a run's conv feature encoder never trains (every `train.freeze` policy but `none`), its
output for an utterance is the same at every update, yet the live path recomputes it for every
batch. With `train.feature_cache` on, training computes it once per training utterance,
unpadded (so a group norm's statistics cover the utterance's own frames only, as decoding's
already do: harness.decode.predict), stores it on disk and trains everything after the feature
encoder on it: feature projection, SpecAugment, the transformer, the head and the CTC loss run
exactly as on audio, through the model's own forward (`features_given` makes the feature encoder
pass its input through), so what a step computes on an unpadded batch is what it computes on the
audio (tests/test_features.py).

The cache is keyed by content: the feature encoder's weights and config, the prepared dataset
and the stored dtype; runs that agree on them (the default suite's runs of one labeled size)
share one. Size: channels x frames; a wav2vec2-base layout (512 channels, 50 frames/s) costs
368.6 MB per hour of audio in float32 and 184.3 MB in float16 (stored when training in mixed
precision); the tiny preset (64 channels) 46.1 MB per hour in float32. `FEATURE_CACHE_LIMIT_ENV`
(GiB, default 16) bounds all caches together: before one is built, the least recently used are
removed until it fits; one larger than the bound alone is not built, and the run trains on audio,
saying so in its summary.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from harness.data.cache import remove_entry
from harness.decode.predict import sample_lengths
from harness.files import building, content_hash, locked, write_json
from harness.model.build import weights_digest

FEATURES_FORMAT = 1  # bump when what is stored, or how it is computed, changes
FEATURE_CACHE_LIMIT_ENV = "HARNESS_FEATURE_CACHE_GB"
DEFAULT_LIMIT_GB = 16.0
META_FILE = "features.json"
VALUES_FILE = "values.npy"  # (total frames, channels): every utterance's frames, in row order
OFFSETS_FILE = "offsets.npy"  # (utterances + 1,): utterance i is values[offsets[i]:offsets[i+1]]
SAMPLES_FILE = "samples.npy"  # (utterances,): audio samples of each utterance


@dataclass(frozen=True)
class FeatureStore:
    """A built cache: memory-mapped frames with their offsets and audio lengths."""

    dir: Path
    values: np.ndarray
    offsets: np.ndarray
    samples: np.ndarray

    @classmethod
    def open(cls, directory: Path) -> FeatureStore:
        return cls(directory, np.load(directory / VALUES_FILE, mmap_mode="r"),
                   np.load(directory / OFFSETS_FILE), np.load(directory / SAMPLES_FILE))

    @property
    def channels(self) -> int:
        return int(self.values.shape[1])

    def batch(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """What the model's forward takes for these utterances: zero-padded features as
        `input_values` (batch, channels, frames), which the pass-through feature encoder hands
        on, and the sample-level `attention_mask` from which the model derives frame lengths."""
        frames = [int(self.offsets[i + 1] - self.offsets[i]) for i in indices]
        padded = np.zeros((len(indices), max(frames), self.channels), dtype=self.values.dtype)
        for row, (index, count) in enumerate(zip(indices, frames, strict=True)):
            start = int(self.offsets[index])
            padded[row, :count] = self.values[start:start + count]
        samples = torch.from_numpy(self.samples[list(indices)])
        mask = torch.arange(int(samples.max()))[None, :] < samples[:, None]
        return {"input_values": torch.from_numpy(padded).transpose(1, 2),
                "attention_mask": mask.long()}


def encoder_of(model: torch.nn.Module) -> torch.nn.Module:
    """The conv feature encoder of a wav2vec2-family model (wav2vec2, HuBERT, WavLM, data2vec)."""
    return model.base_model.feature_extractor


@contextmanager
def features_given(model: torch.nn.Module) -> Iterator[None]:
    """Inside the block the model's feature encoder returns its input unchanged, so the model's
    forward takes precomputed features (batch, channels, frames) as `input_values`."""
    encoder = encoder_of(model)
    encoder.forward = _pass_through  # an instance attribute shadows the class's forward
    try:
        yield
    finally:
        del encoder.forward


def _pass_through(features: torch.Tensor) -> torch.Tensor:
    return features


def cache_key(model: torch.nn.Module, data_key: str, dtype: np.dtype) -> str:
    """Content key: the feature encoder's weights and layout, the prepared data, the dtype."""
    config = model.config
    layout = {name: getattr(config, name, None) for name in
              ("conv_dim", "conv_kernel", "conv_stride", "conv_bias", "feat_extract_norm",
               "feat_extract_activation")}
    return content_hash({"format": FEATURES_FORMAT, "weights": weights_digest(encoder_of(model)),
                         "layout": json.loads(json.dumps(layout)), "data": data_key,
                         "dtype": np.dtype(dtype).name}, length=16)


def cache_bytes(model: torch.nn.Module, total_samples: int, dtype: np.dtype) -> int:
    """What the cache of `total_samples` of audio takes on disk."""
    frames = int(model._get_feat_extract_output_lengths(torch.tensor(total_samples)))
    return frames * int(model.config.conv_dim[-1]) * np.dtype(dtype).itemsize


def limit_bytes() -> int:
    return int(float(os.environ.get(FEATURE_CACHE_LIMIT_ENV, DEFAULT_LIMIT_GB)) * 2**30)


def open_for_run(model: torch.nn.Module, settings, prepared, run_dir: Path,
                 accelerator) -> tuple[FeatureStore | None, dict]:
    """The run's feature cache, or None with the reason; and what its summary records.

    Used when `train.feature_cache` is on and the feature encoder never trains under the run's
    policy (the caller has set requires_grad for every update's trainable set already).
    """
    if not settings.feature_cache:
        return None, {"used": False, "reason": "train.feature_cache is off"}
    if any(param.requires_grad for param in encoder_of(model).parameters()):
        return None, {"used": False, "reason": f"the feature encoder trains "
                                                f"(train.freeze {settings.freeze})"}
    dtype = np.dtype(np.float32 if accelerator.mixed_precision == "no" else np.float16)
    samples = sample_lengths(prepared.train)
    size = cache_bytes(model, int(samples.sum()), dtype)
    if size > limit_bytes():
        limit = f"{FEATURE_CACHE_LIMIT_ENV}={limit_bytes() / 2**30:g}"
        return None, {"used": False, "reason": f"it would take {size / 2**30:.1f} GiB, over "
                                                f"{limit}"}
    data_key = getattr(prepared, "key", None) or prepared.train._fingerprint
    root = getattr(prepared, "features_root", None) or run_dir / "features"
    target = Path(root) / cache_key(model, data_key, dtype)
    started = time.perf_counter()
    built = not (target / META_FILE).is_file()
    store = build_or_open(model, prepared.train, samples, target, dtype, accelerator.device,
                          accelerator.autocast)
    return store, {"used": True, "dir": str(target), "bytes": size, "dtype": dtype.name,
                   "built": built, "seconds": round(time.perf_counter() - started, 2)}


def build_or_open(model: torch.nn.Module, dataset, samples: np.ndarray, target: Path,
                  dtype: np.dtype, device: torch.device, autocast=None) -> FeatureStore:
    """The cache at `target`, computed (under its lock, built aside and renamed in) if absent.

    `dataset`: the prepared training split (its `input_values`, in row order; `samples` their
    lengths); `autocast`: the mixed-precision context training runs in, so the cached features
    are what the live path's feature encoder gives.
    """
    with locked(target):
        if not (target / META_FILE).is_file():
            make_room(target.parent, cache_bytes(model, int(samples.sum()), dtype), target)
            with building(target) as tmp:
                _compute(model, dataset, samples, tmp, dtype, device, autocast)
        os.utime(target / META_FILE)  # last used: what make_room keeps longest
        return FeatureStore.open(target)


def make_room(root: Path, needed: int, keep: Path) -> list[Path]:
    """Remove the least recently used caches under `root` until `needed` more bytes fit within
    the limit (limit_bytes); one being built or read under its lock right now stays. Returns
    what it removed."""
    entries = sorted((meta.stat().st_mtime, meta.parent) for meta in root.glob(f"*/{META_FILE}")
                     if meta.parent != keep)
    used = sum(_bytes_under(entry) for _, entry in entries)
    removed = []
    for _, entry in entries:
        if used + needed <= limit_bytes():
            break
        size = _bytes_under(entry)
        if remove_entry(entry):
            used -= size
            removed.append(entry)
    return removed


def _bytes_under(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.iterdir() if path.is_file())


def _compute(model: torch.nn.Module, dataset, samples: np.ndarray, directory: Path,
             dtype: np.dtype, device: torch.device, autocast) -> None:
    encoder = encoder_of(model)
    frames = model._get_feat_extract_output_lengths(torch.from_numpy(samples)).numpy()
    offsets = np.concatenate([[0], np.cumsum(frames)]).astype(np.int64)
    channels = int(model.config.conv_dim[-1])
    values = np.lib.format.open_memmap(directory / VALUES_FILE, mode="w+", dtype=dtype,
                                       shape=(int(offsets[-1]), channels))
    rows = dataset.with_format("numpy", columns=["input_values"])
    was_training = encoder.training
    encoder.eval()  # no dropout or batch statistics in a conv feature encoder; eval all the same
    try:
        with torch.no_grad(), (autocast() if autocast is not None else _nothing()):
            for index in range(len(samples)):
                wave = torch.as_tensor(rows[index]["input_values"], dtype=torch.float32,
                                       device=device)
                out = encoder(wave[None])[0].transpose(0, 1)  # (frames, channels)
                if out.shape[0] != frames[index]:
                    raise RuntimeError(f"feature encoder gave {out.shape[0]} frames for utterance "
                                       f"{index}, its output lengths say {frames[index]}")
                values[offsets[index]:offsets[index + 1]] = out.float().cpu().numpy()
    finally:
        encoder.train(was_training)
    values.flush()
    del values
    np.save(directory / OFFSETS_FILE, offsets)
    np.save(directory / SAMPLES_FILE, samples)
    write_json(directory / META_FILE, {"format": FEATURES_FORMAT, "utterances": len(samples),
                                       "frames": int(offsets[-1]), "channels": channels,
                                       "dtype": dtype.name})


@contextmanager
def _nothing() -> Iterator[None]:
    yield
