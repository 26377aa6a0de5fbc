"""Fine-tune one run: an explicit accelerate loop, resumable, with logs, dev checks and guards.

    train(spec, prepared, run_dir)  ->  run_dir/train_log.jsonl, checkpoint/, model/  ->  summary

One update = `grad_accum` duration-bucketed batches per process (DDP averages across processes),
AdamW, gradient clipping, then the lr schedule. The same code runs on one CPU, one GPU (bf16 or
fp16 autocast) and several processes (`torchrun`/`accelerate launch`): every rank walks its own
share of the same global batch list, so no dataloader is handed to accelerate to re-shard.

A run directory that holds a checkpoint resumes from it: weights, optimizer, scheduler, sampler
position and every RNG are restored, and log lines written after the checkpoint are dropped, so
the resumed run continues exactly as if it had never stopped. Its checksums are verified first:
a corrupt checkpoint is named in the log and the summary, and the run falls back to the
previous one or starts from scratch (harness.train.checkpoint.resume). One that holds
train_summary.json (written last, after model/) trained to the end: train returns that summary
and touches nothing.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import datasets
import numpy as np
import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.utils import gather_object, set_seed

from harness import faults
from harness.config.settings import RunSpec, TrainSpec
from harness.data.batching import DurationBatchSampler, collate, pad_labels
from harness.errors import UserError
from harness.files import LOG_FILE, MODEL_DIR, SUMMARY_FILE, write_json_atomic, writing
from harness.model.build import (
    build_model,
    is_activation_checkpointing,
    parameter_counts,
    set_activation_checkpointing,
    weights_digest,
)
from harness.model.dropout import use_uniform_mask_dropout
from harness.model.freezing import FreezePolicy, apply_policy, drop_frozen_grads, ever_trainable
from harness.text.vocab import PAD, check_vocab
from harness.train.checkpoint import (
    STATE_FILE,
    find_checkpoint,
    rejected_checkpoints,
    resume,
    save_checkpoint,
)
from harness.train.dev import dev_evaluate
from harness.train.features import FeatureStore, features_given, open_for_run
from harness.train.guards import TrainingFailed, check_finite, collapse_flag
from harness.train.schedule import make_scheduler, warmup_updates
from harness.train.state import TrainState
from harness.train.summary import build_summary
from harness.train.trackers import start_trackers, with_trackers

__all__ = ["TrainingFailed", "train", "resolve_precision"]

REQUIRED_COLUMNS = ("duration", "input_values", "labels")


class Prepared(Protocol):
    """What training reads of `harness.data.prepare.PreparedData`."""

    train: datasets.Dataset
    dev: datasets.Dataset | None
    processor: Any
    vocab: dict[str, int]


@dataclass
class Session:
    """Everything the loop touches, built once by `_setup`."""

    spec: TrainSpec
    accelerator: Accelerator
    model: torch.nn.Module
    optimizer: Any
    scheduler: Any
    sampler: DurationBatchSampler
    policy: FreezePolicy
    rows: datasets.Dataset
    durations: np.ndarray
    total: int
    warmup: int
    run_dir: Path
    prepared: Prepared
    use_mask: bool
    state: TrainState
    features: FeatureStore | None = None  # cached frozen feature-encoder outputs (features.py)
    feature_cache: dict | None = None  # what the summary says about it


def train(spec: RunSpec, prepared: Prepared, run_dir: Path,
          on_progress: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Fine-tune `spec`'s model on `prepared.train` (resuming run_dir/checkpoint); a summary."""
    run_dir = Path(run_dir)
    finished = run_dir / SUMMARY_FILE
    if finished.is_file() and (run_dir / MODEL_DIR).is_dir():
        # Trained before: a second final dev pass would append to the log and rewrite model/
        # (making the test predictions look stale).
        return json.loads(finished.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    session = _setup(spec, prepared, run_dir)
    # Every train_log.jsonl record (train and dev) goes to the progress display and trackers.
    trackers = start_trackers(spec, run_dir, session.accelerator.is_main_process)
    report = with_trackers(on_progress or (lambda record: None), trackers)
    try:
        _loop(session, report)
        return _finish(session, report)
    finally:
        if trackers is not None:
            trackers.finish()


def resolve_precision(precision: str) -> str:
    """auto -> bf16 on GPUs that have it, fp16 on other GPUs, no on CPU."""
    cuda = torch.cuda.is_available()
    if precision == "auto":
        if not cuda:
            return "no"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and not cuda:
        raise UserError("train.precision: fp16 needs a CUDA GPU; use bf16 or no on CPU")
    return precision


def _setup(spec: RunSpec, prepared: Prepared, run_dir: Path) -> Session:
    settings = spec.train
    _check_prepared(prepared)
    set_seed(settings.seed)
    # Ids run 0..max without gaps in harness.text.vocab; max + 1 also covers a vocabulary with gaps.
    model = build_model(spec.model, vocab_size=max(prepared.vocab.values()) + 1,
                        pad_token_id=prepared.vocab[PAD])
    set_activation_checkpointing(model, settings.gradient_checkpointing)
    if not torch.cuda.is_available():
        use_uniform_mask_dropout(model)  # cheaper masks on a CPU (harness/model/dropout.py)
    policy = FreezePolicy.parse(settings.freeze)
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision=resolve_precision(settings.precision),
        step_scheduler_with_optimizer=False,  # our schedule counts updates of one rank
        kwargs_handlers=[DistributedDataParallelKwargs(
            find_unused_parameters=_some_parameters_unused(model.config, policy))],
    )
    # DDP registers the parameters that require gradients when it wraps the model: that must be
    # every parameter that ever trains; the policy of update 0 is applied after wrapping.
    trainable = set(ever_trainable(model, policy))
    for name, param in model.named_parameters():
        param.requires_grad_(name in trainable)
    optimizer = torch.optim.AdamW(
        _decay_groups(model, settings.weight_decay), lr=settings.lr,
        betas=tuple(settings.adam_betas), eps=1e-8,
        fused=True,  # one kernel for all parameters: a third of the per-tensor loop's time
    )
    durations = np.asarray(prepared.train["duration"], dtype=np.float64)
    sampler = DurationBatchSampler(
        durations, settings.batch_seconds, max_batch_size=settings.max_batch_size,
        seed=settings.seed, num_replicas=accelerator.num_processes,
        rank=accelerator.process_index,
    )
    total = settings.max_steps or max(1, math.ceil(settings.epochs * len(sampler)
                                                   / settings.grad_accum))
    scheduler = make_scheduler(optimizer, settings, total)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    features, feature_cache = open_for_run(
        accelerator.unwrap_model(model), settings, prepared, run_dir, accelerator)
    state = TrainState(sampler=sampler.state_dict())
    saved = resume(accelerator, run_dir)  # verified by checksum; log lines past it dropped
    if saved is not None:
        state = TrainState.from_json(saved)
        sampler.load_state_dict(state.sampler)
        state.resumed_from_step = state.step
    session = Session(
        spec=settings, accelerator=accelerator, model=model, optimizer=optimizer,
        scheduler=scheduler, sampler=sampler, policy=policy,
        rows=prepared.train.with_format(
            "numpy", columns=["labels"] if features else ["input_values", "labels"]),
        durations=durations, total=total, warmup=warmup_updates(settings, total),
        run_dir=run_dir, prepared=prepared,
        use_mask=bool(getattr(prepared.processor.feature_extractor, "return_attention_mask",
                              True)),
        state=state, features=features, feature_cache=feature_cache,
    )
    apply_policy(_unwrapped(session), policy, state.step)
    return session


def _some_parameters_unused(config: Any, policy: FreezePolicy) -> bool:
    """Whether DDP must look for parameters without gradients (an extra graph walk per update).

    The head-only phase of encoder_for_steps, layerdrop, and the mask embedding when time
    masking is off leave parameters out of some backward passes.
    """
    masking = getattr(config, "apply_spec_augment", True) and getattr(config, "mask_time_prob", 0)
    return policy.changes_over_time() or getattr(config, "layerdrop", 0.0) > 0 or not masking


def _loop(session: Session, report: Callable[[dict], None]) -> None:
    s, state, accelerator = session.spec, session.state, session.accelerator
    session.model.train()
    batches = _batch_stream(session)
    started = time.perf_counter() - state.elapsed_s
    while state.step < session.total:
        tick = time.perf_counter()
        loss, audio, padded = _update(session, [next(batches) for _ in range(s.grad_accum)])
        state.step += 1
        step = state.step
        if faults.poison_loss("train", step):
            loss = float("nan")
        check_finite(loss, step)
        drop_frozen_grads(_unwrapped(session))
        grad_norm = accelerator.clip_grad_norm_(session.model.parameters(), s.max_grad_norm)
        session.optimizer.step()
        state.skipped_updates += bool(session.optimizer.step_was_skipped)
        session.scheduler.step()
        session.optimizer.zero_grad(set_to_none=True)
        if session.policy.changes_over_time() and step == session.policy.count:
            apply_policy(_unwrapped(session), session.policy, step)  # head-only phase is over
        seconds = time.perf_counter() - tick
        state.account(loss, float(grad_norm), audio, padded, seconds)
        state.elapsed_s = time.perf_counter() - started
        faults.checkpoint("train", step)
        if step % s.log_every == 0 or step == session.total:
            _log(session, report)
        if s.eval_every and step % s.eval_every == 0 and step < session.total:
            _evaluate(session, report)
        if s.checkpoint_every and step % s.checkpoint_every == 0 and step < session.total:
            _checkpoint(session)
        state.elapsed_s = time.perf_counter() - started


def _update(session: Session, chunk: list[list[int]]) -> tuple[float, float, float]:
    """Forward/backward over `chunk` (gradients synchronized on the last batch only)."""
    accelerator, model = session.accelerator, session.model
    totals = torch.zeros(3, dtype=torch.float64)
    for position, indices in enumerate(chunk):
        batch = _fetch(session, indices)
        last = position == len(chunk) - 1
        with nullcontext() if last else accelerator.no_sync(model), \
                features_given(_unwrapped(session)) if session.features else nullcontext():
            loss = model(**batch).loss
            accelerator.backward(loss / len(chunk))
        durations = session.durations[indices]
        totals += torch.tensor([loss.item() / len(chunk), durations.sum(),
                                len(indices) * durations.max()], dtype=torch.float64)
    # One collective per update: mean loss over ranks, audio of all ranks.
    totals = accelerator.reduce(totals.to(accelerator.device), reduction="sum").cpu()
    loss, audio, padded = totals.tolist()
    return loss / accelerator.num_processes, audio, padded


def _fetch(session: Session, indices: list[int]) -> dict[str, torch.Tensor]:
    rows = session.rows[indices]
    if session.features is not None:
        batch = {**session.features.batch(indices), "labels": pad_labels(list(rows["labels"]))}
    else:
        batch = collate(list(rows["input_values"]), list(rows["labels"]),
                        attention_mask=session.use_mask)
    return {key: value.to(session.accelerator.device) for key, value in batch.items()}


def _batch_stream(session: Session) -> Iterator[list[int]]:
    """This rank's batches from the sampler's position on, epoch after epoch."""
    while True:
        yield from session.sampler
        session.sampler.next_epoch()


def _log(session: Session, report: Callable[[dict], None]) -> None:
    state = session.state
    means = state.take_window().means()
    record = {"step": state.step, "loss": means["loss"], "lr": session.scheduler.get_last_lr()[0],
              "grad_norm": means["grad_norm"], "audio_seconds_per_s": means["audio_seconds_per_s"],
              "padding_fraction": means["padding_fraction"], "elapsed_s": state.elapsed_s}
    _append_log(session, record, report)


def _append_log(session: Session, record: dict, report: Callable[[dict], None]) -> None:
    if not session.accelerator.is_main_process:
        return
    with open(session.run_dir / LOG_FILE, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    report(record)


def _evaluate(session: Session, report: Callable[[dict], None]) -> dict[str, Any] | None:
    """Dev CER/WER, blank and empty shares on the main process; None without a dev set."""
    accelerator, dev = session.accelerator, getattr(session.prepared, "dev", None)
    result = None
    if accelerator.is_main_process and dev is not None and len(dev) > 0:
        result = dev_evaluate(
            _unwrapped(session), session.prepared.processor, dev,
            batch_seconds=session.spec.batch_seconds, autocast=accelerator.autocast,
        )
        record = {"step": session.state.step,
                  **{k: v for k, v in result.items() if k != "examples"}}
        _append_log(session, record, report)
    accelerator.wait_for_everyone()
    return result


def _checkpoint(session: Session) -> None:
    session.state.sampler = session.sampler.state_dict()
    save_checkpoint(session.accelerator, session.run_dir, session.state.to_json())


def _finish(session: Session, report: Callable[[dict], None]) -> dict[str, Any]:
    accelerator, state = session.accelerator, session.state
    final = find_checkpoint(session.run_dir)
    if final is None or json.loads((final / STATE_FILE).read_text())["step"] != state.step:
        _checkpoint(session)
    evaluation = _evaluate(session, report)
    flag = collapse_flag(evaluation, state.step, session.warmup) if evaluation else None
    summary = build_summary(
        state, batches_per_epoch=len(session.sampler), plan=session.sampler.plan(),
        flags=[flag] if flag else [], parameters=parameter_counts(_unwrapped(session)),
        weights_sha256=_agreed_digest(session), dev=evaluation, warmup=session.warmup,
        precision=accelerator.mixed_precision, num_processes=accelerator.num_processes,
        gradient_checkpointing=is_activation_checkpointing(_unwrapped(session)),
    )
    # Checkpoints found corrupt on the way (and what the run did instead), named in the record.
    summary["checkpoint_problems"] = rejected_checkpoints(session.run_dir / LOG_FILE)
    summary["feature_cache"] = session.feature_cache
    summary["cpu_threads"] = torch.get_num_threads()  # float sums follow the thread count
    if accelerator.is_main_process:
        _save_model(session)
        write_json_atomic(session.run_dir / SUMMARY_FILE, summary)  # last: the run is done
    accelerator.wait_for_everyone()
    return summary


def _agreed_digest(session: Session) -> str:
    """SHA-256 of the final weights; with several processes, every rank must hold the same."""
    mine = weights_digest(_unwrapped(session))
    if session.accelerator.num_processes > 1:
        digests = gather_object([mine])
        if len(set(digests)) > 1:
            raise TrainingFailed(
                f"processes ended with different weights ({len(set(digests))} distinct of "
                f"{len(digests)}): gradients were not synchronized", session.state.step)
    return mine


def _save_model(session: Session) -> None:
    """run_dir/model/: the fine-tuned model and processor (save_pretrained), swapped in whole."""
    final = session.run_dir / MODEL_DIR
    tmp = session.run_dir / (MODEL_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with writing(tmp):
            _unwrapped(session).save_pretrained(tmp, safe_serialization=True)
            session.prepared.processor.save_pretrained(tmp)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk must not stay full
        raise


def _decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: matrices decay; biases, norm scales and 1-D embeddings do not."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": rest, "weight_decay": 0.0}]


def _unwrapped(session: Session) -> torch.nn.Module:
    return session.accelerator.unwrap_model(session.model)


def _check_prepared(prepared: Prepared) -> None:
    train_set = getattr(prepared, "train", None)
    if train_set is None or len(train_set) == 0:
        raise UserError("prepared data has no training utterances (data.labeled too small?)")
    missing = [c for c in REQUIRED_COLUMNS if c not in train_set.column_names]
    if missing:
        raise UserError(f"prepared training data lacks columns {missing}")
    check_vocab(prepared.vocab)  # names a missing [PAD] (the CTC blank), [UNK] or |
