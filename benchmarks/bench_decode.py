"""Test-set decoding speed: exact batching (harness.decode.predict.predict) vs one utterance
at a time.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_decode.py [--minutes 10] [--model tiny]
        [--batch-seconds 30 120] [--device cpu|cuda]

Input: ~10 min of seeded noise in TIMIT-like lengths (1.5-5 s) through a randomly initialized
model (`tiny`/`small` presets, or `base` = wav2vec2-base's sizes). Prints audio seconds decoded per
second for
- one at a time: each utterance through the model alone (the definition of the right answer),
- predict at each --batch-seconds (the exact mode decoding_mode picks for the model),
- naive padding at the largest cap (zero padding, no mask, plain group norm), for what exactness
  costs; its hypotheses differ from the right ones, and the share that differs is printed,
with ratios to one at a time measured in the same run, and checks that predict's hypotheses
equal the one-at-a-time ones.
"""

from __future__ import annotations

import argparse
import time

import datasets
import numpy as np
import torch
from transformers import AutoModelForCTC, Wav2Vec2Config

from harness.config.settings import ModelSpec
from harness.data.batching import collate
from harness.decode.predict import decoding_mode, plan_batches, predict
from harness.model.build import PRESETS, build_model
from harness.text.vocab import (
    PAD,
    build_vocab,
    ctc_greedy_decode,
    ctc_greedy_decode_batch,
    make_processor,
)

RATE = 16000
VOCAB = build_vocab(["abcdefghijklmnopqrstuvwxyz'"])


def make_model(name: str, device: str) -> torch.nn.Module:
    """A seeded random CTC model: a harness preset, or wav2vec2-base's sizes (`base`)."""
    torch.manual_seed(0)
    if name in PRESETS:
        model = build_model(ModelSpec(preset=name), len(VOCAB), VOCAB[PAD])
    else:  # Wav2Vec2Config's defaults are wav2vec2-base: 512-channel group-norm conv, 12 x 768
        config = Wav2Vec2Config(vocab_size=len(VOCAB), pad_token_id=VOCAB[PAD])
        model = AutoModelForCTC.from_config(config)
    with torch.no_grad():  # a wider head than 0.02: hypotheses that vary from frame to frame
        model.lm_head.weight.normal_(std=0.5)
    return model.to(device).eval()


def make_test_set(minutes: float, seed: int = 0) -> datasets.Dataset:
    """Unit-variance noise utterances of 1.5-5 s (uniform) adding up to about `minutes`."""
    rng = np.random.default_rng(seed)
    lengths: list[int] = []
    while sum(lengths) < minutes * 60 * RATE:
        lengths.append(int(rng.uniform(1.5, 5.0) * RATE))
    audio = [rng.standard_normal(n).astype(np.float32) for n in lengths]
    return datasets.Dataset.from_dict({
        "id": [f"utt{i:04d}" for i in range(len(audio))],
        "speaker": [f"spk{i % 20}" for i in range(len(audio))],
        "duration": [n / RATE for n in lengths],
        "raw_text": [""] * len(audio), "text": [""] * len(audio), "input_values": audio,
        "labels": [[]] * len(audio),
    })


def one_at_a_time(model: torch.nn.Module, dataset: datasets.Dataset) -> list[str]:
    """Each utterance through the model alone: no padding, nothing to mask."""
    device = next(model.parameters()).device
    texts = []
    with torch.inference_mode():
        for row in dataset.with_format("numpy", columns=["input_values"]):
            logits = model(input_values=torch.from_numpy(row["input_values"])[None].to(device))
            texts.append(ctc_greedy_decode(logits.logits[0].argmax(-1).cpu().numpy(), VOCAB))
    return texts


def naive_padding(model: torch.nn.Module, dataset: datasets.Dataset, batch_seconds: float
                  ) -> list[str]:
    """Length-sorted batches zero-padded with no mask: fast, but not what the model says alone."""
    device = next(model.parameters()).device
    audio = dataset.with_format("numpy", columns=["input_values"])
    lengths = np.array([len(a) for a in audio["input_values"]])
    texts = [""] * len(dataset)
    with torch.inference_mode():
        for batch in plan_batches(lengths, RATE, batch_seconds):
            waves = list(audio[batch]["input_values"])
            inputs = collate(waves, None, attention_mask=False)["input_values"].to(device)
            ids = model(input_values=inputs).logits.argmax(-1).cpu().numpy()
            frames = model._get_feat_extract_output_lengths(torch.tensor(lengths[batch]))
            for index, text in zip(batch, ctc_greedy_decode_batch(ids, frames.numpy(), VOCAB),
                                   strict=True):
                texts[index] = text
    return texts


def best_times(strategies: dict, rounds: int) -> tuple[dict, dict]:
    """Fastest of `rounds` timed calls per strategy, and each one's result.

    Rounds interleave the strategies (after one warm-up call each), so load from other processes
    on a shared machine falls on all of them alike rather than on whichever ran last.
    """
    results = {name: function() for name, function in strategies.items()}
    best = dict.fromkeys(strategies, float("inf"))
    for _ in range(rounds):
        for name, function in strategies.items():
            start = time.perf_counter()
            results[name] = function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--model", choices=(*PRESETS, "base"), default="tiny")
    parser.add_argument("--batch-seconds", type=float, nargs="+", default=[30.0, 120.0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds")
    args = parser.parse_args()

    model, dataset = make_model(args.model, args.device), make_test_set(args.minutes)
    audio_seconds = float(np.sum(dataset["duration"]))
    processor = make_processor(VOCAB)
    print(f"{len(dataset)} utterances, {audio_seconds / 60:.1f} min of audio; model {args.model} "
          f"({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters), decoding mode "
          f"{decoding_mode(model)}; device {args.device}, {torch.get_num_threads()} threads")

    cap = max(args.batch_seconds)
    strategies = {"one at a time": lambda: one_at_a_time(model, dataset)}
    caps = {"one at a time": None}  # None: batches of one
    for each in args.batch_seconds:
        name = f"predict, {each:g} s batches"
        strategies[name] = \
            lambda each=each: [r["hypothesis"] for r in predict(model, processor, dataset, each)]
        caps[name] = each
    naive = f"naive padding, {cap:g} s"
    strategies[naive], caps[naive] = (lambda: naive_padding(model, dataset, cap)), cap
    seconds, texts = best_times(strategies, args.repeat)

    alone, alone_s = texts["one at a time"], seconds["one at a time"]
    lengths = np.array([round(d * RATE) for d in dataset["duration"]])
    rows = []
    for name, batch_cap in caps.items():
        batches = ([[i] for i in range(len(dataset))] if batch_cap is None
                   else plan_batches(lengths, RATE, batch_cap))
        padded = sum(len(b) * lengths[b].max() for b in batches) / RATE
        same = sum(t == a for t, a in zip(texts[name], alone, strict=True))
        check = ("reference" if batch_cap is None else f"{same}/{len(alone)} equal"
                 if name != naive else f"{len(alone) - same}/{len(alone)} DIFFER")
        rows.append((name, seconds[name], len(batches), 1 - audio_seconds / padded, check))

    print(f"\n{'strategy':<28}{'seconds':>9}{'audio-s/s':>11}{'x alone':>9}{'batches':>9}"
          f"{'padding':>9}  hypotheses")
    for name, seconds, n_batches, padding, check in rows:
        print(f"{name:<28}{seconds:>9.2f}{audio_seconds / seconds:>11.1f}"
              f"{alone_s / seconds:>9.2f}{n_batches:>9}{padding:>9.1%}  {check}")
    equal_only = plan_batches(lengths, RATE, cap, equal_lengths_only=True)
    print(f"\n(batching only equal lengths, the other exact option, makes {len(equal_only)} "
          f"batches of {len(dataset)} utterances here: one at a time)")


if __name__ == "__main__":
    main()
