"""harness.decode.predict: batched CTC decoding equals decoding each utterance alone;
predictions.jsonl.

Models are randomly initialized from configs (seeded) and fed seeded noise, so every hypothesis
is deterministic. The CTC head is widened (std 0.5 instead of 0.02) so that the argmax moves from
frame to frame (non-trivial hypotheses) and logit gaps dwarf float rounding (~1e-6).
"""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import (
    AutoModelForCTC,
    Data2VecAudioConfig,
    HubertConfig,
    Wav2Vec2Config,
    WavLMConfig,
)

from harness.config.settings import ModelSpec
from harness.data.batching import collate
from harness.decode.predict import (
    ATTENTION_MASK,
    EQUAL_LENGTHS,
    MASKED_GROUP_NORM,
    decoding_mode,
    masked_group_norm,
    plan_batches,
    predict,
    write_predictions,
)
from harness.errors import UserError
from harness.model.build import PRESETS, build_model
from harness.scoring.records import load_predictions
from harness.text.vocab import PAD, build_vocab, ctc_greedy_decode, make_processor

RATE = 16000
VOCAB = build_vocab(["the quick brown fox jumps over a lazy dog's back"])
# Distinct lengths from 0.4 s to 2.5 s, plus two of the same length (equal_lengths batches them).
LENGTHS = (16000, 40000, 6400, 23456, 16001, 30000, 16000, 9999)


def widen_head(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Give the CTC head weights of std 0.5 (seeded): varied argmax, wide logit gaps."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        head = model.lm_head.weight
        head.copy_(torch.randn(head.shape, generator=generator) * 0.5)
    return model.eval()


def tiny_preset() -> torch.nn.Module:
    """The harness's `tiny` preset (group-norm conv, wav2vec2-base layout) as runs build it."""
    torch.manual_seed(0)
    spec = ModelSpec(preset="tiny")
    return widen_head(build_model(spec, vocab_size=len(VOCAB), pad_token_id=VOCAB[PAD]))


def tiny_family(config_class, **overrides) -> torch.nn.Module:
    """A randomly initialized CTC model of `config_class` in the tiny preset's sizes."""
    torch.manual_seed(0)
    config = config_class(**{**PRESETS["tiny"], "vocab_size": len(VOCAB),
                             "pad_token_id": VOCAB[PAD], **overrides})
    return widen_head(AutoModelForCTC.from_config(config))


def layer_norm_model() -> torch.nn.Module:
    """wav2vec2-large-lv60 style: layer-norm conv layers, stable layer norm encoder."""
    return tiny_family(Wav2Vec2Config, feat_extract_norm="layer", do_stable_layer_norm=True)


def waveforms(lengths=LENGTHS, seed: int = 0) -> list[np.ndarray]:
    """Unit-variance noise of the given lengths in samples (normalized like the processor does)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(np.float32) for n in lengths]


def make_test_set(audio: list[np.ndarray], speakers=None) -> datasets.Dataset:
    """A prepared-test-set-shaped dataset: raw references differ from the normalized text."""
    n = len(audio)
    return datasets.Dataset.from_dict({
        "id": [f"utt{i}" for i in range(n)],
        "speaker": list(speakers) if speakers is not None else [f"spk{i % 3}" for i in range(n)],
        "duration": [len(a) / RATE for a in audio],
        "raw_text": [f"Utterance #{i}, Naïve!" for i in range(n)],
        "text": [f"utterance {i} naïve" for i in range(n)],
        "input_values": audio,
        "labels": [[3, 4]] * n,
    })


def decode_alone(model: torch.nn.Module, audio: list[np.ndarray]) -> list[str]:
    """Each utterance through the model by itself (batch of one, no padding, no mask)."""
    with torch.inference_mode():
        return [ctc_greedy_decode(model(input_values=torch.from_numpy(a)[None]).logits[0]
                                  .argmax(-1).numpy(), VOCAB) for a in audio]


def processor(attention_mask: bool = False):
    return make_processor(VOCAB, return_attention_mask=attention_mask)


def assert_non_trivial(hypotheses: list[str]) -> None:
    """The model reads its input: no empty hypothesis, and no two alike."""
    assert all(len(h) >= 3 for h in hypotheses), hypotheses
    assert len(set(hypotheses)) == len(hypotheses), hypotheses


# --- exactness ---------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_seconds", [1000.0, 6.0])
def test_group_norm_model_batched_equals_each_utterance_alone(batch_seconds):
    """The tiny preset (wav2vec2-base style: group norm over time, no attention mask in its
    processor) decodes a padded batch of varied lengths exactly as it decodes each one alone."""
    model, audio = tiny_preset(), waveforms()
    assert decoding_mode(model) == MASKED_GROUP_NORM
    alone = decode_alone(model, audio)
    assert_non_trivial(alone)
    records = predict(model, processor(), make_test_set(audio), batch_seconds=batch_seconds)
    assert [r["hypothesis"] for r in records] == alone


@pytest.mark.parametrize("build", [tiny_preset, layer_norm_model], ids=["group", "layer"])
def test_naive_zero_padding_changes_the_output(build):
    """Padding with zeros (no mask, plain group norm) changes what a shorter utterance decodes
    to, so the exactness tests above would catch a predict that pads naively."""
    model, audio = build(), waveforms()
    alone = decode_alone(model, audio)
    with torch.inference_mode():
        logits = model(**collate(audio, None, attention_mask=False)).logits
    lengths = model._get_feat_extract_output_lengths(torch.tensor(LENGTHS)).tolist()
    padded = [ctc_greedy_decode(logits[i, :n].argmax(-1).numpy(), VOCAB)
              for i, n in enumerate(lengths)]
    longest = int(np.argmax(LENGTHS))
    changed = [i for i in range(len(audio)) if padded[i] != alone[i]]
    assert changed and longest not in changed  # the longest one has no padding
    assert len(changed) >= len(audio) // 2


def test_layer_norm_model_batched_equals_each_utterance_alone():
    """A layer-norm conv model decodes a padded batch with an attention mask exactly as it
    decodes each utterance alone."""
    model, audio = layer_norm_model(), waveforms()
    assert decoding_mode(model) == ATTENTION_MASK
    alone = decode_alone(model, audio)
    assert_non_trivial(alone)
    records = predict(model, processor(attention_mask=True), make_test_set(audio),
                      batch_seconds=6.0)
    assert [r["hypothesis"] for r in records] == alone


FAMILIES = {
    "hubert": (lambda: tiny_family(HubertConfig), MASKED_GROUP_NORM),
    "wavlm": (lambda: tiny_family(WavLMConfig), MASKED_GROUP_NORM),
    "hubert-large-style": (lambda: tiny_family(HubertConfig, feat_extract_norm="layer",
                                               do_stable_layer_norm=True), ATTENTION_MASK),
    # data2vec-audio's real layout: 5 stacked positional convs of kernel 19 (the tiny preset's
    # num_conv_pos_embeddings means 128 layers to data2vec).
    "data2vec-audio": (lambda: tiny_family(Data2VecAudioConfig, num_conv_pos_embeddings=5,
                                           conv_pos_kernel_size=19), EQUAL_LENGTHS),
    "wav2vec2+adapter": (lambda: tiny_family(Wav2Vec2Config, add_adapter=True,
                                             num_adapter_layers=1, output_hidden_size=128),
                         EQUAL_LENGTHS),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_other_families_batched_equal_each_utterance_alone(family):
    """HuBERT, WavLM, data2vec-audio and adapter models pick a mode under which batched
    decoding equals decoding alone."""
    build, mode = FAMILIES[family]
    model, audio = build(), waveforms()
    assert decoding_mode(model) == mode
    alone = decode_alone(model, audio)
    assert_non_trivial(alone)
    records = predict(model, processor(), make_test_set(audio), batch_seconds=1000.0)
    assert [r["hypothesis"] for r in records] == alone


def test_an_attention_mask_alone_is_not_exact_for_data2vec_audio():
    """Why data2vec-audio decodes in equal-length batches: with padding and a mask, its stacked
    positional convs read padded frames, and hypotheses change."""
    model, audio = FAMILIES["data2vec-audio"][0](), waveforms()
    with torch.inference_mode():
        logits = model(**collate(audio, None, attention_mask=True)).logits
    lengths = model._get_feat_extract_output_lengths(torch.tensor(LENGTHS)).tolist()
    masked = [ctc_greedy_decode(logits[i, :n].argmax(-1).numpy(), VOCAB)
              for i, n in enumerate(lengths)]
    assert masked != decode_alone(model, audio)


def test_batch_seconds_below_the_longest_utterance_decodes_it_alone():
    """A cap of 1 s still decodes the 2.5 s utterance (alone), and every hypothesis is exact."""
    model, audio = tiny_preset(), waveforms()
    records = predict(model, processor(), make_test_set(audio), batch_seconds=1.0)
    assert [r["hypothesis"] for r in records] == decode_alone(model, audio)


# --- records -------------------------------------------------------------------------------------


def test_records_follow_the_dataset_order_with_raw_references():
    """Records come in the dataset's order (not the length order of the batches), with the raw
    transcript as reference and the dataset's speaker and duration."""
    audio = waveforms()
    dataset = make_test_set(audio, speakers=["a", "b", "c", "a", "b", "c", "a", "b"])
    records = predict(tiny_preset(), processor(), dataset, batch_seconds=3.0)
    assert [r["id"] for r in records] == dataset["id"][:]
    assert [r["reference"] for r in records] == dataset["raw_text"][:]
    assert records[1]["reference"] == "Utterance #1, Naïve!"
    assert [r["speaker"] for r in records] == ["a", "b", "c", "a", "b", "c", "a", "b"]
    assert [r["duration"] for r in records] == [n / RATE for n in LENGTHS]
    assert all(set(r) == {"id", "speaker", "duration", "reference", "hypothesis"}
               for r in records)


def test_empty_dataset_gives_no_records():
    """An empty test set decodes to [] without calling the model."""
    empty = make_test_set(waveforms()).select([])
    assert predict(tiny_preset(), processor(), empty) == []


def test_predict_restores_the_model():
    """predict leaves the model as it found it: training mode back on, the original GroupNorm in
    place, also when the forward pass fails."""
    model = tiny_preset().train()
    layer = model.wav2vec2.feature_extractor.conv_layers[0]
    norm = layer.layer_norm
    predict(model, processor(), make_test_set(waveforms(LENGTHS[:3])))
    assert model.training and layer.layer_norm is norm

    def fail(*_):
        raise RuntimeError("boom")

    handle = model.lm_head.register_forward_hook(fail)
    with pytest.raises(RuntimeError, match="boom"):
        predict(model, processor(), make_test_set(waveforms(LENGTHS[:3])))
    handle.remove()
    assert model.training and layer.layer_norm is norm


def test_predict_rejects_a_dataset_without_audio_and_a_non_positive_cap():
    """Missing columns and batch_seconds <= 0 are named."""
    dataset = make_test_set(waveforms(LENGTHS[:2]))
    with pytest.raises(ValueError, match="raw_text"):
        predict(tiny_preset(), processor(), dataset.remove_columns("raw_text"))
    with pytest.raises(ValueError, match="batch_seconds must be positive"):
        predict(tiny_preset(), processor(), dataset, batch_seconds=0)


# --- pieces ------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(400, 80_000), min_size=1, max_size=40),
       cap=st.floats(0.1, 30.0), equal_only=st.booleans())
def test_plan_batches_covers_each_utterance_once_within_the_cap(lengths, cap, equal_only):
    """Every utterance is in exactly one batch; a batch of several keeps its padded seconds
    within the cap; batches run longest first; equal_lengths batches hold one length."""
    batches = plan_batches(np.array(lengths), RATE, cap, equal_lengths_only=equal_only)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) == 1 or len(batch) * longest / RATE <= cap
        if equal_only:
            assert len({lengths[i] for i in batch}) == 1
    firsts = [lengths[batch[0]] for batch in batches]
    assert firsts == sorted(firsts, reverse=True)


@settings(max_examples=30, deadline=None)
@given(groups=st.sampled_from([1, 2, 8]), steps=st.lists(st.integers(2, 30), min_size=1,
                                                          max_size=4), seed=st.integers(0, 99))
def test_masked_group_norm_equals_group_norm_of_each_row_alone(groups, steps, seed):
    """Row b of masked_group_norm over a zero-padded batch equals torch's GroupNorm of that
    row's first frames[b] steps alone."""
    generator = torch.Generator().manual_seed(seed)
    norm = torch.nn.GroupNorm(groups, 8)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(8, generator=generator))
        norm.bias.copy_(torch.randn(8, generator=generator))
    rows = [torch.randn(8, n, generator=generator) * 3 + 1 for n in steps]
    padded = torch.zeros(len(rows), 8, max(steps))
    for b, row in enumerate(rows):
        padded[b, :, : steps[b]] = row
    with torch.no_grad():
        out = masked_group_norm(padded, steps, norm)
        for b, row in enumerate(rows):
            torch.testing.assert_close(out[b, :, : steps[b]], norm(row[None])[0],
                                       rtol=1e-6, atol=1e-6)
            assert not out[b, :, steps[b]:].any()  # padding stays zero


# --- predictions.jsonl -------------------------------------------------------------------------


def test_write_predictions_round_trips_through_load_predictions(tmp_path):
    """What write_predictions writes, load_predictions reads back unchanged (non-ASCII as UTF-8
    characters, speaker null, an empty hypothesis), atomically (no temporary file left)."""
    records = [
        {"id": "a", "speaker": "s1", "duration": 1.25, "reference": "Naïve café — «ok»",
         "hypothesis": "naive cafe"},
        {"id": "b", "speaker": None, "duration": 0.5, "reference": "日本語", "hypothesis": ""},
    ]
    path = tmp_path / "run" / "predictions.jsonl"
    write_predictions(records, path)
    assert load_predictions(path) == records
    text = path.read_text(encoding="utf-8")
    assert "Naïve café" in text and len(text.splitlines()) == 2
    assert [json.loads(line) for line in text.splitlines()] == records
    assert [p.name for p in path.parent.iterdir()] == ["predictions.jsonl"]


def test_write_predictions_of_predict_round_trips(tmp_path):
    """Records from predict on the tiny preset are written and read back as they were."""
    records = predict(tiny_preset(), processor(), make_test_set(waveforms(LENGTHS[:4])))
    write_predictions(records, tmp_path / "predictions.jsonl")
    assert load_predictions(tmp_path / "predictions.jsonl") == records


def test_write_predictions_refuses_bad_records_and_keeps_the_old_file(tmp_path):
    """A record without a hypothesis is a UserError naming it; the file on disk is untouched."""
    path = tmp_path / "predictions.jsonl"
    good = {"id": "a", "speaker": "s", "duration": 1.0, "reference": "x", "hypothesis": "x"}
    write_predictions([good], path)
    bad = {key: value for key, value in good.items() if key != "hypothesis"}
    with pytest.raises(UserError, match=r"predictions.jsonl\[1\]: missing field 'hypothesis'"):
        write_predictions([good, {**bad, "id": "b"}], path)
    assert load_predictions(path) == [good]
