"""The frozen-feature cache (harness.train.features): training on cached features computes what
training on audio computes, and the cache is keyed, reused and bounded."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from harness.config.settings import RunSpec
from harness.data.batching import collate
from harness.model.build import build_model
from harness.text.vocab import PAD
from harness.train.features import (
    FEATURE_CACHE_LIMIT_ENV,
    FeatureStore,
    build_or_open,
    cache_bytes,
    cache_key,
    features_given,
    open_for_run,
)
from harness.train.loop import train
from tests.train_fixtures import make_prepared

pytestmark = pytest.mark.integration

SAMPLES = 16000  # one second at 16 kHz: every utterance of the equal-length set is this long


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared(tmp_path_factory.mktemp("prepared"), train=24, dev=4, test=2,
                         kind="tone", attention_mask=True)


@pytest.fixture(scope="module")
def equal_lengths(prepared):
    """The training split with every utterance cut or zero-extended to SAMPLES samples, so a
    batch of any of them has no padding."""
    def fixed(row):
        values = np.zeros(SAMPLES, dtype=np.float32)
        audio = np.asarray(row["input_values"], dtype=np.float32)[:SAMPLES]
        values[:len(audio)] = audio
        return {"input_values": values, "duration": SAMPLES / 16000}

    train_set = prepared.train.map(fixed)
    return SimpleNamespace(train=train_set, dev=prepared.dev, test=prepared.test,
                           processor=prepared.processor, vocab=prepared.vocab,
                           dir=prepared.dir, fingerprint="equal-lengths")


def tiny_model(prepared, seed: int = 0):
    torch.manual_seed(seed)
    spec = RunSpec.model_validate({"model": {"preset": "tiny"}, "train": {"max_steps": 1}})
    model = build_model(spec.model, vocab_size=max(prepared.vocab.values()) + 1,
                        pad_token_id=prepared.vocab[PAD])
    for param in model.base_model.feature_extractor.parameters():
        param.requires_grad_(False)
    return model


def store_for(model, dataset, directory) -> FeatureStore:
    samples = np.asarray([len(v) for v in dataset["input_values"]], dtype=np.int64)
    return build_or_open(model, dataset, samples, directory, np.dtype(np.float32),
                         torch.device("cpu"))


def loss_and_grads(model, batch, seed: int):
    """One training-mode forward/backward with dropout and SpecAugment seeded alike."""
    model.train()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    np.random.seed(seed)  # transformers draws SpecAugment's time masks with numpy
    loss = model(**batch).loss
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return loss.item(), grads


def test_a_step_on_cached_features_equals_one_on_audio_for_an_unpadded_batch(
        equal_lengths, tmp_path):
    model = tiny_model(equal_lengths)
    store = store_for(model, equal_lengths.train, tmp_path / "features")
    indices = [0, 3, 5, 8]
    rows = equal_lengths.train.with_format("numpy")[indices]
    audio_batch = collate(list(rows["input_values"]), list(rows["labels"]), attention_mask=True)
    cached_batch = {**store.batch(indices), "labels": audio_batch["labels"]}

    audio_loss, audio_grads = loss_and_grads(model, audio_batch, seed=7)
    with features_given(model):
        cached_loss, cached_grads = loss_and_grads(model, cached_batch, seed=7)

    assert cached_loss == pytest.approx(audio_loss, rel=1e-5)
    assert set(cached_grads) == set(audio_grads)
    assert len(audio_grads) > 10  # everything after the frozen feature encoder has a gradient
    for name, grad in audio_grads.items():
        torch.testing.assert_close(cached_grads[name], grad, rtol=1e-4, atol=1e-6,
                                   msg=f"gradient of {name}")
    # Outside the block the model reads audio again.
    again, _ = loss_and_grads(model, audio_batch, seed=7)
    assert again == audio_loss


def test_cached_frames_are_the_feature_encoder_output_of_each_utterance_alone(prepared, tmp_path):
    model = tiny_model(prepared)
    store = store_for(model, prepared.train, tmp_path / "features")
    rows = prepared.train.with_format("numpy")
    for index in (0, 7, 23):
        wave = torch.from_numpy(rows[index]["input_values"])[None]
        with torch.no_grad():
            alone = model.base_model.feature_extractor(wave)[0].T.numpy()
        start, end = store.offsets[index], store.offsets[index + 1]
        np.testing.assert_array_equal(store.values[start:end], alone)
    batch = store.batch([0, 7])
    frames = [int(store.offsets[i + 1] - store.offsets[i]) for i in (0, 7)]
    assert batch["input_values"].shape == (2, 64, max(frames))
    assert batch["attention_mask"].sum(-1).tolist() == [len(rows[0]["input_values"]),
                                                        len(rows[7]["input_values"])]


def test_training_on_cached_features_follows_training_on_audio_when_nothing_is_padded(
        equal_lengths, tmp_path):
    """Same updates, same seeds: with no padding the two paths log the same losses."""
    def run(feature_cache: bool) -> tuple[list[float], dict]:
        spec = RunSpec.model_validate({
            "model": {"preset": "tiny"},
            "train": {"max_steps": 6, "lr": 1e-3, "batch_seconds": 4, "log_every": 1,
                      "checkpoint_every": 0, "precision": "no", "freeze": "feature_encoder",
                      "feature_cache": feature_cache}})
        run_dir = tmp_path / f"cache-{feature_cache}"
        summary = train(spec, equal_lengths, run_dir)
        lines = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().split("\n")
                 if line]
        return [line["loss"] for line in lines if "loss" in line], summary

    audio_losses, audio_summary = run(False)
    cached_losses, cached_summary = run(True)
    assert audio_summary["feature_cache"] == {"used": False,
                                              "reason": "train.feature_cache is off"}
    assert cached_summary["feature_cache"]["used"] is True
    assert len(cached_losses) == len(audio_losses) == 6
    np.testing.assert_allclose(cached_losses, audio_losses, rtol=1e-4)


def test_a_run_whose_feature_encoder_trains_reads_audio(prepared, tmp_path):
    spec = RunSpec.model_validate({"model": {"preset": "tiny"},
                                   "train": {"max_steps": 1, "freeze": "none",
                                             "checkpoint_every": 0}})
    summary = train(spec, prepared, tmp_path / "run")
    assert summary["feature_cache"] == {
        "used": False, "reason": "the feature encoder trains (train.freeze none)"}


def test_the_cache_is_reused_for_the_same_weights_and_data_and_rebuilt_for_others(
        prepared, tmp_path):
    spec = RunSpec.model_validate({"model": {"preset": "tiny"}, "train": {"max_steps": 1}})
    accelerator = SimpleNamespace(mixed_precision="no", device=torch.device("cpu"),
                                  autocast=None)
    first = open_for_run(tiny_model(prepared, 0), spec.train, prepared, tmp_path, accelerator)
    second = open_for_run(tiny_model(prepared, 0), spec.train, prepared, tmp_path, accelerator)
    other = open_for_run(tiny_model(prepared, 1), spec.train, prepared, tmp_path, accelerator)
    assert first[1]["built"] is True and second[1]["built"] is False
    assert first[1]["dir"] == second[1]["dir"] != other[1]["dir"]
    assert other[1]["built"] is True
    # Same weights, other data: another entry.
    trimmed = SimpleNamespace(**{**vars(prepared), "train": prepared.train.select(range(10))})
    assert (cache_key(tiny_model(prepared), trimmed.train._fingerprint, np.float32)
            != cache_key(tiny_model(prepared), prepared.train._fingerprint, np.float32))


def test_a_cache_over_its_limit_is_not_built_and_the_run_says_why(prepared, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setenv(FEATURE_CACHE_LIMIT_ENV, "0.0001")  # 0.1 MiB
    spec = RunSpec.model_validate({"model": {"preset": "tiny"}, "train": {"max_steps": 1}})
    accelerator = SimpleNamespace(mixed_precision="no", device=torch.device("cpu"),
                                  autocast=None)
    store, info = open_for_run(tiny_model(prepared), spec.train, prepared, tmp_path, accelerator)
    assert store is None and info["used"] is False
    assert FEATURE_CACHE_LIMIT_ENV in info["reason"]
    assert not (tmp_path / "features").exists()


def test_stated_sizes_of_an_hour_of_audio():
    """wav2vec2-base's layout: 512 channels x 50 frames/s; 3600 s -> 179,999 frames (the conv
    stack's receptive field takes 400 samples, 320 per frame after it)."""
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC
    model = Wav2Vec2ForCTC(Wav2Vec2Config(num_hidden_layers=1, hidden_size=32,
                                          num_attention_heads=2, intermediate_size=32))
    hour = 3600 * 16000
    assert cache_bytes(model, hour, np.float32) == 179_999 * 512 * 4
    assert cache_bytes(model, hour, np.float16) == 179_999 * 512 * 2



def test_old_caches_make_room_for_a_new_one_within_the_limit(prepared, tmp_path, monkeypatch):
    """Three caches of ~0.73 MiB each under a 2 MiB bound: building the third removes the least
    recently used (the first, unless it was read since)."""
    model_a, model_b, model_c = (tiny_model(prepared, seed) for seed in (0, 1, 2))
    root = tmp_path / "features"

    def build(model, name):
        return store_for(model, prepared.train, root / name)

    size = cache_bytes(model_a, int(sum(len(v) for v in prepared.train["input_values"])),
                       np.float32)
    assert 0.6 * 2**20 < size < 0.9 * 2**20
    monkeypatch.setenv(FEATURE_CACHE_LIMIT_ENV, str(2.0 / 1024))  # 2 MiB
    build(model_a, "a")
    build(model_b, "b")
    build(model_a, "a")  # read again: now b is the least recently used
    build(model_c, "c")
    assert sorted(path.name for path in root.iterdir() if path.is_dir()) == ["a", "c"]
