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
    return {"train": summary, "scores": scores}


def _decode_test_set(spec: RunSpec, prepared, run_dir: Path) -> None:
    """Write predictions.jsonl unless it is already there and newer than the trained model."""
    from harness.decode.predict import predict, write_predictions

    predictions = run_dir / PREDICTIONS_FILE
    model_dir = run_dir / MODEL_DIR
    if predictions.exists() and predictions.stat().st_mtime >= _newest_mtime(model_dir):
        return
    model = load_trained_model(model_dir)
    records = predict(model, prepared.processor, prepared.test,
                      batch_seconds=spec.eval.batch_seconds)
    write_predictions(records, predictions)


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
