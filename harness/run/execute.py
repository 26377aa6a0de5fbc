"""One run, in this process: train (or resume) -> decode the test set -> score.

Shared by the sequential runner, the worker processes of the GPU placements and the stand-in
build. Training, decoding and torch are imported when a run starts, not when the runner is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from harness import faults
from harness.config.settings import RunSpec
from harness.files import MODEL_DIR, PREDICTIONS_FILE


def train_evaluate_score(spec: RunSpec, prepared, run_dir: Path, timings: dict,
                         on_progress: Callable[[dict], None] | None = None,
                         is_main_process: bool = True) -> dict:
    """Train `spec` (resuming a checkpoint), decode the test set once, score every rule set."""
    from harness.decode.decoders import extra_decoders
    from harness.scoring import score_run_dir
    from harness.train.checkpoint import drop_checkpoint
    from harness.train.loop import train

    started = time.time()
    summary = train(spec, prepared, run_dir, on_progress=on_progress)
    timings["train_s"] = time.time() - started
    if not is_main_process:
        return {"train": summary, "scores": None}
    if not spec.train.keep_checkpoint:
        drop_checkpoint(run_dir)  # model/ holds the final weights; the optimizer state is 2x more
    faults.checkpoint("evaluate")
    started = time.time()
    _decode_test_set(spec, prepared, run_dir)
    timings["evaluate_s"] = time.time() - started
    faults.checkpoint("score")
    started = time.time()
    scores = score_run_dir(run_dir, spec.text.scoring, n_boot=spec.eval.bootstrap,
                           seed=spec.eval.bootstrap_seed, block=spec.eval.block)
    timings["score_s"] = time.time() - started
    if extra_decoders(spec):
        faults.checkpoint("decode")
        started = time.time()
        scores["decoders"] = decode_and_score(spec, run_dir, prepared.cache_root,
                                              lambda: prepared.train["raw_text"])
        timings["decode_s"] = time.time() - started
    return {"train": summary, "scores": scores}


def decode_and_score(spec: RunSpec, run_dir: Path, cache_root: Path, training_texts,
                     decoders=None) -> dict[str, dict]:
    """Each decoder beyond greedy over the stored log-probabilities, scored like greedy:
    decoder name -> its scores (rule sets, intervals) with the decoder's settings, its LM and
    its dev tuning (harness.decode.decoders)."""
    from harness.decode.decoders import decode_stored
    from harness.scoring import score_run_dir

    out = {}
    for name, decoded in decode_stored(spec, run_dir, cache_root, training_texts,
                                       decoders).items():
        scores = score_run_dir(run_dir, spec.text.scoring, n_boot=spec.eval.bootstrap,
                               seed=spec.eval.bootstrap_seed, block=spec.eval.block,
                               decoder=name)
        out[name] = {**scores, **decoded}
    return out


def _decode_test_set(spec: RunSpec, prepared, run_dir: Path) -> None:
    """Write predictions.jsonl (and, for decoders beyond greedy, the test and dev splits'
    log-probabilities) unless they are there already and newer than the trained model."""
    from harness.decode.decoders import extra_decoders, logprobs_paths
    from harness.decode.predict import predict, write_predictions

    predictions = run_dir / PREDICTIONS_FILE
    model_dir = run_dir / MODEL_DIR
    test_outputs, dev_outputs = logprobs_paths(run_dir)
    keep = bool(extra_decoders(spec))
    # alpha and beta are tuned on a dev split only, never on the test utterances the dev
    # curve reads when there is none
    tune_on = dev_outputs if keep and spec.data.dev_split else None
    wanted = [predictions] + ([test_outputs] if keep else []) + ([tune_on] if tune_on else [])
    newest = _newest_mtime(model_dir)
    if all(path.exists() and path.stat().st_mtime >= newest for path in wanted):
        return
    model = load_trained_model(model_dir)
    records = predict(model, prepared.processor, prepared.test,
                      batch_seconds=spec.eval.batch_seconds,
                      logprobs_to=test_outputs if keep else None)
    write_predictions(records, predictions)
    if tune_on is not None:
        predict(model, prepared.processor, prepared.dev, batch_seconds=spec.eval.batch_seconds,
                logprobs_to=tune_on)


def load_trained_model(model_dir: Path):
    """The fine-tuned model a run saved, on the best device here, in eval mode."""
    import torch
    from transformers import AutoModelForCTC

    model = AutoModelForCTC.from_pretrained(model_dir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device).eval()


def _newest_mtime(directory: Path) -> float:
    return max((path.stat().st_mtime for path in directory.rglob("*") if path.is_file()),
               default=0.0)
