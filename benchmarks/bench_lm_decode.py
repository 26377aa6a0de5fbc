"""Decoding throughput of a finished run's test set: greedy vs beam search vs beam search + LM,
and the share of a suite's time the LM decoder adds.

    .venv/bin/python benchmarks/bench_lm_decode.py [--suite ablations/default.yaml]
        [--runs-dir runs] [--cache-dir .harness-cache] [--beam-width 32] [--repeats 3]

Reads the suite's baseline run (run `harness run` first): its stored test log-probabilities
(logprobs/test.npz) and its model. Prints utterances per second for
- greedy with the forward pass (what the run's test decoding does: harness.decode.predict),
- greedy from the stored log-probabilities (argmax only),
- beam search without an LM (pyctcdecode), and with the suite's LM decoder (its ARPA file from
  the cache, its alpha and beta), each from the stored log-probabilities,
- building that LM's ARPA file from nothing (a fresh cache), and loading it,
with ratios to greedy-with-forward measured in the same run (best of --repeats each). Then, from
the suite's results.jsonl, the LM decoding's share of every run's recorded time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from harness.config.load import load_suite
from harness.data.prepare import prepare
from harness.decode.beam import BeamSearch
from harness.decode.decoders import logprobs_paths
from harness.decode.lm import build_arpa, lm_lines
from harness.decode.logprobs import LogProbs
from harness.decode.predict import predict
from harness.files import MODEL_DIR
from harness.run.execute import load_trained_model


def best_time(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=Path("ablations/default.yaml"))
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--cache-dir", type=Path, default=Path(".harness-cache"))
    parser.add_argument("--beam-width", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    suite = load_suite(args.suite)
    spec = suite.baseline.spec
    lm_decoder = next((d for d in spec.eval.decoders if d.kind == "ngram"), None)
    if lm_decoder is None:
        raise SystemExit(f"{args.suite}: the baseline has no ngram decoder to measure")
    width = args.beam_width or lm_decoder.beam_width
    run_dir = args.runs_dir / suite.name / suite.baseline.id
    test = LogProbs.load(logprobs_paths(run_dir)[0])
    n = len(test.records)
    prepared = prepare(spec, args.cache_dir)
    model = load_trained_model(run_dir / MODEL_DIR)

    figures = {}
    figures["greedy, with the forward pass"] = best_time(
        lambda: predict(model, prepared.processor, prepared.test, spec.eval.batch_seconds),
        args.repeats)
    figures["greedy, stored log-probs"] = best_time(test.greedy, args.repeats)
    plain = BeamSearch(test.labels)
    figures[f"beam {width}, no LM"] = best_time(lambda: plain.decode(test, width), args.repeats)

    held_out = [r["reference"] for r in test.records]
    lines, source = lm_lines(lm_decoder.lm, targets=spec.text.targets, training_texts=lambda:
                             prepared.train["raw_text"], held_out=held_out,
                             synth_seed=spec.data.synth.seed)
    with tempfile.TemporaryDirectory() as fresh:
        started = time.perf_counter()
        build_arpa(lines, lm_decoder.lm.order, Path(fresh), source)
        build_s = time.perf_counter() - started
    arpa, info = build_arpa(lines, lm_decoder.lm.order, args.cache_dir, source)
    started = time.perf_counter()
    with_lm = BeamSearch(test.labels, arpa)
    load_s = time.perf_counter() - started
    record = _baseline_record(args.runs_dir / suite.name, suite.baseline.id)
    chosen = ((record or {}).get("scores", {}).get("decoders", {}).get(lm_decoder.name, {})
              .get("decoder") or {})
    alpha, beta = chosen.get("alpha", lm_decoder.alpha[0]), chosen.get("beta", lm_decoder.beta[0])
    figures[f"beam {width} + {lm_decoder.lm.order}-gram LM"] = best_time(
        lambda: with_lm.decode(test, width, alpha, beta), args.repeats)

    base = figures["greedy, with the forward pass"]
    print(f"test set of {suite.name}'s baseline ({suite.baseline.id}): {n} utterances, "
          f"{sum(r['duration'] for r in test.records) / 60:.1f} min of audio; best of "
          f"{args.repeats}")
    print(f"{'decoder':40s} {'utt/s':>9s} {'vs greedy+forward':>18s}")
    for name, seconds in figures.items():
        print(f"{name:40s} {n / seconds:9.1f} {base / seconds:17.2f}x")
    print(f"LM ({info['sentences']} sentences, {info['words']} words, order "
          f"{info['order']}): built in {build_s:.2f} s, loaded in {load_s:.2f} s")
    _suite_share(args.runs_dir / suite.name / "results.jsonl")


def _baseline_record(suite_dir: Path, run_id: str) -> dict | None:
    path = suite_dir / "results.jsonl"
    if not path.is_file():
        return None
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return next((r for r in reversed(records) if r.get("run_id") == run_id), None)


def _suite_share(results: Path) -> None:
    """LM decoding's share of the recorded time (train + evaluate + score + decode) per run."""
    if not results.is_file():
        return
    latest = {}
    for line in results.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            latest[record["run_id"]] = record
    timings = [r.get("timings") or {} for r in latest.values() if r.get("status") == "finished"]
    timed = [t for t in timings if "decode_s" in t]
    if not timed:
        print("no run of the suite recorded a decode_s (decoded before decoders were timed)")
        return
    decode = sum(t["decode_s"] for t in timed)
    total = sum(t.get(k, 0.0) for t in timed for k in ("train_s", "evaluate_s", "score_s",
                                                         "decode_s"))
    print(f"suite: {len(timed)} runs; decoders beyond greedy took {decode:.1f} s of "
          f"{total:.1f} s recorded ({100 * decode / total:.1f}%), {decode / len(timed):.1f} s "
          "a run")


if __name__ == "__main__":
    main()
