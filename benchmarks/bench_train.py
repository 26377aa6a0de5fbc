"""Training throughput on realistic data: harness against transformers' Trainer, the frozen-feature
cache, and several runs at once on a CPU.

    .venv/bin/python benchmarks/bench_train.py [--epochs 1] [--labeled 1h] [--steps 800]

The corpus is the default suite's labeled subset (ablations/default.yaml, 1 h by default: 1,417
espeak-ng utterances of 0.6-6 s), prepared as `harness run` prepares it (and cached there). Every
contender fine-tunes the default suite's model (the tiny stand-in) with the feature encoder frozen
(the same trainable parameters), AdamW with the same lr, betas, warmup, linear decay and clipping,
for the same epochs, hence the same audio seconds, in batches of the same audio seconds:

- harness at equal computation: harness.train.loop with `train.feature_cache: false`, i.e. the
  feature encoder runs on every batch as in the Trainer (duration-bucketed batches capped at the
  suite's 12 padded seconds);
- harness's default path: the same with the frozen features cached (harness.train.features);
- transformers.Trainer with the reference recipe ("fine-tune wav2vec2 on TIMIT" blog, today's
  API): DataCollatorCTCWithPadding and train_sampling_strategy="group_by_length", with
  utterances per batch set so both take the same number of updates per epoch.

Then suite throughput: a suite of two runs of the default baseline (--steps updates each) through
the runner, one at a time (`--placement sequential`, this process's threads) and at once
(`--placement cpu_parallel`, a share of the cores each), from the same prepared data and feature
cache. Audio-seconds/s is real (unpadded) audio over wall-clock time (training calls: model
built, every update, final save; suites: the whole `run_suite`). It prints the four figures the
training-speed issue asks for, each beside its target, and the padding of each contender.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accelerate.utils import set_seed  # noqa: E402
from transformers import Trainer, TrainingArguments, Wav2Vec2Processor  # noqa: E402

from harness.config.load import load_suite  # noqa: E402
from harness.config.settings import RunSpec  # noqa: E402
from harness.data.batching import DurationBatchSampler  # noqa: E402
from harness.data.cache import default_cache_root  # noqa: E402
from harness.data.prepare import prepare  # noqa: E402
from harness.model.build import build_model  # noqa: E402
from harness.run.runner import RunOptions, run_suite  # noqa: E402
from harness.text.vocab import PAD  # noqa: E402
from harness.train.loop import train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SUITE = ROOT / "ablations" / "default.yaml"
TARGETS = {"equal": 1.1, "default": 1.5, "parallel": 1.25}


def bench_spec(base: RunSpec, labeled: str, epochs: float, feature_cache: bool) -> RunSpec:
    """The default baseline, feature encoder frozen throughout, for `epochs` epochs."""
    payload = base.model_dump(mode="json")
    payload["data"]["labeled"] = labeled
    payload["train"].update({"max_steps": None, "epochs": epochs, "freeze": "feature_encoder",
                             "feature_cache": feature_cache, "eval_every": 0,
                             "checkpoint_every": 0, "precision": "no"})
    return RunSpec.model_validate(payload)


def harness_train(spec: RunSpec, prepared, workdir: Path, name: str) -> dict:
    start = time.perf_counter()
    summary = train(spec, prepared, workdir / name)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "audio": summary["audio_seconds_seen"],
            "padding": summary["padding_fraction"], "updates": summary["steps"],
            "feature_cache": summary["feature_cache"], "loop_seconds": summary["train_seconds"]}


@dataclass
class DataCollatorCTCWithPadding:
    """The reference recipe's collator (current API), counting real and padded audio."""

    processor: Wav2Vec2Processor
    sample_rate: int
    padding: bool | str = True
    audio_samples: int = 0
    padded_samples: int = 0
    batches: list[int] = field(default_factory=list)

    def __call__(self, features: list[dict]) -> dict:
        input_features = [{"input_values": f["input_values"]} for f in features]
        label_features = [{"input_ids": f["labels"]} for f in features]
        batch = self.processor.pad(input_features=input_features, padding=self.padding,
                                   return_tensors="pt")
        labels_batch = self.processor.pad(labels=label_features, padding=self.padding,
                                          return_tensors="pt")
        # replace padding with -100 to ignore loss correctly
        labels = labels_batch["input_ids"].masked_fill(labels_batch.attention_mask.ne(1), -100)
        batch["labels"] = labels
        lengths = [len(f["input_values"]) for f in features]
        self.audio_samples += sum(lengths)
        self.padded_samples += len(lengths) * max(lengths)
        self.batches.append(len(lengths))
        return batch


def trainer_recipe(prepared, spec: RunSpec, batch_size: int, workdir: Path) -> dict:
    """transformers.Trainer with the recipe's collator and length grouping; the same model."""
    settings = spec.train
    # Lengths are preparation (harness reads its precomputed duration column): off the clock.
    dataset = prepared.train.map(lambda row: {"input_length": len(row["input_values"])})
    start = time.perf_counter()
    set_seed(settings.seed)
    model = build_model(spec.model, vocab_size=max(prepared.vocab.values()) + 1,
                        pad_token_id=prepared.vocab[PAD])
    model.freeze_feature_encoder()
    collator = DataCollatorCTCWithPadding(prepared.processor,
                                          prepared.processor.feature_extractor.sampling_rate)
    arguments = TrainingArguments(
        output_dir=str(workdir / "trainer"),
        per_device_train_batch_size=batch_size,
        train_sampling_strategy="group_by_length",
        length_column_name="input_length",
        remove_unused_columns=False,  # keeps input_length for the sampler; the collator picks
        num_train_epochs=settings.epochs,
        learning_rate=settings.lr,
        warmup_steps=settings.warmup_steps,
        lr_scheduler_type="linear",
        weight_decay=settings.weight_decay,
        adam_beta1=settings.adam_betas[0],
        adam_beta2=settings.adam_betas[1],
        adam_epsilon=1e-8,
        max_grad_norm=settings.max_grad_norm,
        logging_steps=settings.log_every,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        seed=settings.seed,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=arguments, data_collator=collator, train_dataset=dataset,
                      processing_class=prepared.processor.feature_extractor)
    trainer.train()
    trainer.save_model(str(workdir / "trainer" / "model"))  # harness's figure includes its save
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "audio": collator.audio_samples / collator.sample_rate,
            "padding": 1 - collator.audio_samples / collator.padded_samples,
            "updates": trainer.state.global_step}


def suite_throughput(steps: int, workdir: Path, cache_root: Path) -> dict[str, dict]:
    """Two runs of the default baseline (lr 1e-3 and 3e-3, `steps` updates) through the runner,
    one at a time and at once."""
    text = DEFAULT_SUITE.read_text().split("\naxes:")[0]
    text = text.replace("synth: {train: 70min", "labeled: 1h\n    synth: {train: 70min")
    text = text.replace("max_steps: 800", f"max_steps: {steps}").replace(
        "eval_every: 200", f"eval_every: {steps}")
    suite_file = workdir / "bench-parallel.yaml"
    suite_file.write_text(text.replace("suite: default", "suite: bench-parallel")
                          + "\naxes:\n  train.lr: [1e-3, 3e-3]\n")
    suite = load_suite(suite_file)
    # The feature cache both placements read, built before either is timed.
    warm = suite_file.with_name("bench-warm.yaml")
    warm.write_text(suite_file.read_text().replace(f"max_steps: {steps}", "max_steps: 1")
                    .replace(f"eval_every: {steps}", "eval_every: 0")
                    .replace("suite: bench-parallel", "suite: bench-warm")
                    .split("\naxes:")[0])
    run_suite(load_suite(warm), RunOptions(runs_root=workdir / "warm", cache_root=cache_root,
                                           placement="sequential", interactive=False))
    results = {}
    for placement in ("sequential", "cpu_parallel"):
        start = time.perf_counter()
        outcome = run_suite(suite, RunOptions(runs_root=workdir / placement,
                                              cache_root=cache_root, placement=placement,
                                              interactive=False))
        seconds = time.perf_counter() - start
        failed = [r["reason"] for r in outcome.records if r["status"] != "finished"]
        if failed:
            raise SystemExit(f"{placement}: a run failed: {failed[0]}")
        audio = sum(r["train"]["audio_seconds_seen"] for r in outcome.records)
        results[placement] = {"seconds": seconds, "audio": audio, "runs": len(outcome.records),
                              "threads": [r["train"]["cpu_threads"] for r in outcome.records]}
    return results


def print_suite_figure(suites: dict[str, dict], steps: int) -> None:
    one, many = suites["sequential"], suites["cpu_parallel"]
    ratio = (many["audio"] / many["seconds"]) / (one["audio"] / one["seconds"])
    print(f"(3) suite of {one['runs']} runs x {steps} updates, at once / one at a time: "
          f"{ratio:.2f}x ({many['audio'] / many['seconds']:.1f} vs "
          f"{one['audio'] / one['seconds']:.1f} audio-s/s, {many['seconds']:.0f} vs "
          f"{one['seconds']:.0f} s; threads per run {many['threads']} vs {one['threads']})   "
          f"{verdict(ratio, TARGETS['parallel'])}")


def rate_in_loop(row: dict) -> float:
    return row["audio"] / row["loop_seconds"]


def verdict(value: float, target: float) -> str:
    return f"target >= {target:g}x: {'met' if value >= target else 'MISSED'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labeled", default="1h", help="the default suite's labeled subset")
    parser.add_argument("--epochs", type=float, default=1.0, help="passes over it per contender")
    parser.add_argument("--steps", type=int, default=800,
                        help="updates of each run of the two-run suite")
    parser.add_argument("--repeats", type=int, default=2,
                        help="attempts per contender; the fastest counts")
    parser.add_argument("--skip-suite", action="store_true", help="leave out figure (3)")
    parser.add_argument("--suite-only", action="store_true", help="figure (3) only")
    args = parser.parse_args()

    cache_root = Path(os.environ.get("HARNESS_CACHE") or ROOT / default_cache_root())
    base = load_suite(DEFAULT_SUITE).baseline.spec
    equal = bench_spec(base, args.labeled, args.epochs, feature_cache=False)
    cached = bench_spec(base, args.labeled, args.epochs, feature_cache=True)
    started = time.perf_counter()
    # No dev set: the Trainer evaluates nothing, so harness's final dev pass stays out of the
    # comparison (its own figure is in every run's train_seconds vs wall time).
    prepared = dataclasses.replace(prepare(equal, cache_root), dev=None)
    durations = np.asarray(prepared.train["duration"])
    per_epoch = len(DurationBatchSampler(durations, equal.train.batch_seconds))
    batch_size = max(1, round(len(durations) / per_epoch))
    print(f"corpus: the default suite's {args.labeled} subset, {len(durations)} utterances, "
          f"{durations.sum() / 60:.1f} min ({durations.min():.1f}-{durations.max():.1f} s; "
          f"ready in {time.perf_counter() - started:.0f} s); model {base.model.name_or_path}, "
          f"feature encoder frozen, {args.epochs:g} epoch(s); {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}")
    print(f"batches: harness <= {equal.train.batch_seconds:g} padded s ({per_epoch} per epoch); "
          f"Trainer {batch_size} utterances ({-(-len(durations) // batch_size)} per epoch)")

    if args.suite_only:
        with tempfile.TemporaryDirectory() as tmp:
            print_suite_figure(suite_throughput(args.steps, Path(tmp), cache_root), args.steps)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # One update builds the feature cache where the cached runs will find it (or finds it):
        # its time is the build's, printed apart, as a suite pays it once per dataset.
        warm = harness_train(cached.model_copy(update={"train": cached.train.model_copy(
            update={"epochs": None, "max_steps": 1})}), prepared, workdir, "warm")
        build_s = warm["feature_cache"]["seconds"] if warm["feature_cache"]["built"] else None
        repeats = {"theirs": [], "equal": [], "cached": []}
        for attempt in range(args.repeats):  # the fastest of each: others' load only slows
            repeats["theirs"].append(trainer_recipe(prepared, equal, batch_size,
                                                    workdir / f"t{attempt}"))
            repeats["equal"].append(harness_train(equal, prepared, workdir, f"equal{attempt}"))
            repeats["cached"].append(harness_train(cached, prepared, workdir, f"cached{attempt}"))
        theirs, mine_equal, mine_cached = (min(repeats[name], key=lambda row: row["seconds"])
                                           for name in ("theirs", "equal", "cached"))
        suites = None if args.skip_suite else suite_throughput(args.steps, workdir, cache_root)

    rows = [("harness, feature encoder live", mine_equal),
            ("harness, cached features (default)", mine_cached),
            ("Trainer + recipe collator", theirs)]
    print(f"{'':36} {'audio s':>8} {'wall s':>7} {'audio-s/s':>9} {'padding':>8} {'updates':>7}")
    for name, row in rows:
        print(f"{name:36} {row['audio']:8.0f} {row['seconds']:7.1f} "
              f"{row['audio'] / row['seconds']:9.1f} {row['padding']:8.1%} {row['updates']:7d}")
    print("wall seconds of each attempt: " + "; ".join(
        f"{name} " + ", ".join(f"{row['seconds']:.1f}" for row in rows_)
        for name, rows_ in repeats.items()))
    build = mine_cached["feature_cache"]
    built = (f"built in {build_s:.1f} s ({mine_cached['audio'] / build_s:.0f} audio-s/s) by a "
             "one-update run first" if build_s is not None else "there already")
    print(f"feature cache: {build.get('bytes', 0) / 2**20:.1f} MiB, {built}; the timed cached "
          "runs read it")

    def rate(row: dict) -> float:
        return row["audio"] / row["seconds"]

    equal_ratio = rate(mine_equal) / rate(theirs)
    default_ratio = rate(mine_cached) / rate(theirs)
    print(f"harness inside its update loop only: live {rate_in_loop(mine_equal):.1f}, cached "
          f"{rate_in_loop(mine_cached):.1f} audio-s/s")
    print(f"(1) harness / Trainer at equal computation: {equal_ratio:.2f}x   "
          f"{verdict(equal_ratio, TARGETS['equal'])}")
    print(f"(2) harness default path / Trainer: {default_ratio:.2f}x   "
          f"{verdict(default_ratio, TARGETS['default'])}")
    if build_s is not None:
        with_build = mine_cached["audio"] / (mine_cached["seconds"] + build_s) / rate(theirs)
        print(f"    with the cache's build counted in this one run (a suite shares it between "
              f"the runs on its data): {with_build:.2f}x")
    if suites is not None:
        print_suite_figure(suites, args.steps)
    print(f"(4) padding: harness {mine_equal['padding']:.1%} (cached path "
          f"{mine_cached['padding']:.1%}), Trainer group_by_length {theirs['padding']:.1%}")


if __name__ == "__main__":
    main()
