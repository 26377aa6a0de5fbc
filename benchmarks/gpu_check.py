"""GPU check: the base architecture through `harness run` on synthetic audio, no hub, no dataset.

    .venv/bin/python benchmarks/gpu_check.py [--out gpu_check.json]   # a GPU machine, < 8 min
    .venv/bin/python benchmarks/gpu_check.py --smoke                  # any CPU: the same steps
                                                                      # at toy size, in ~2 min

What it runs, each through the `harness` command as a user would:
1. A suite of the `base` preset (wav2vec2-base's layout, 95M parameters, random weights; the
   feature encoder frozen as in the blog recipe) on a synthetic espeak-ng corpus, one run per
   precision (`bf16`, `fp16`: process-global in accelerate, so each runs in its own process) and
   a second batch size. From each record: training audio-hours per GPU-hour (audio seconds per
   wall second of the updates), decoding throughput (test audio seconds per second), and model
   FLOP utilization: FLOPs of one update (forward + backward, counted by
   torch.utils.flop_counter on the same model and batch shape) x updates per second / the GPU's
   dense peak (H100/H200: 989 TFLOP/s bf16 and fp16; A100: 312; other GPUs: --peak-tflops).
2. `--placement runs_per_gpu` with two runs on the one GPU: both must finish, one after the
   other (the sum of their run times fits in the command's wall time). On a CPU it must be
   refused (exit 2) with a reason.
The figures go to stdout as a table and to --out as JSON. WER is not a target here (random
weights, a few hundred updates): the check is that the GPU path trains, decodes and records.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

# Dense tensor-core peaks (NVIDIA datasheets, without sparsity), TFLOP/s for bf16 and fp16.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}

FULL = {"preset": "base", "train": "20min", "test": "3min", "steps": 150, "warmup": 15,
        "precisions": ["bf16", "fp16"], "batch_seconds": [100, 200], "eval_batch": 400}
SMOKE = {"preset": "tiny", "train": "2min", "test": "20s", "steps": 3, "warmup": 1,
         "precisions": ["no"], "batch_seconds": [8, 16], "eval_batch": 60}


def suite_text(name: str, size: dict, axes: str) -> str:
    return f"""\
suite: {name}
mode: one_at_a_time
base:
  data: {{source: synthetic, synth: {{train: {size['train']}, test: {size['test']}, seed: 3}}}}
  model: {{preset: {size['preset']}}}
  train: {{lr: 5e-5, max_steps: {size['steps']}, warmup_steps: {size['warmup']},
          batch_seconds: {size['batch_seconds'][0]}, freeze: feature_encoder,
          precision: {json.dumps(size['precisions'][0])}, log_every: 10, checkpoint_every: 0}}
  text: {{targets: blog, scoring: [blog]}}
  eval: {{batch_seconds: {size['eval_batch']}, bootstrap: 100}}
axes:
{axes}"""


def harness(*args: str) -> tuple[int, float, str]:
    """Run the harness command; exit code, wall seconds, its output."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True)
    return done.returncode, time.perf_counter() - started, done.stdout + done.stderr


def records(runs: Path, suite: str) -> list[dict]:
    path = runs / suite / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def flops_per_update(preset: str, batch_seconds: float, device: str, precision: str) -> float:
    """FLOPs of forward + backward on one batch of 10 s utterances filling batch_seconds."""
    from torch.utils.flop_counter import FlopCounterMode

    from harness.config.settings import ModelSpec
    from harness.model.build import build_model

    model = build_model(ModelSpec(preset=preset), vocab_size=32, pad_token_id=0).to(device)
    model.freeze_feature_encoder()
    utterances = max(1, int(batch_seconds // 10))
    audio = torch.randn(utterances, 160_000, device=device)
    labels = torch.randint(1, 32, (utterances, 120), device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    autocast = torch.autocast(device_type=device.split(":")[0], dtype=dtype,
                              enabled=dtype is not None)
    counter = FlopCounterMode(display=False)
    with counter, autocast:
        model(input_values=audio, labels=labels).loss.backward()
    return counter.get_total_flops() * batch_seconds / (utterances * 10)


def peak_flops(args: argparse.Namespace) -> float | None:
    if args.peak_tflops:
        return args.peak_tflops * 1e12
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    return next((tflops * 1e12 for key, tflops in PEAK_TFLOPS.items() if key in name), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="toy sizes on whatever device there is (checks the script itself)")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the GPU's dense bf16/fp16 peak when it is not in the table")
    parser.add_argument("--keep", type=Path, default=None, help="keep runs and cache here")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        print("gpu_check: no CUDA GPU here; --smoke runs the same steps at toy size on the CPU")
        return 2
    size = SMOKE if args.smoke else FULL
    work = args.keep or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    runs, cache = work / "runs", work / "cache"
    work.mkdir(parents=True, exist_ok=True)
    device = "cuda" if cuda else "cpu"
    result: dict = {"device": torch.cuda.get_device_name(0) if cuda else "cpu",
                    "smoke": args.smoke, "preset": size["preset"], "runs": []}

    # 1. precision x batch size through harness run
    axes = (f"  train.precision: {json.dumps(size['precisions'])}\n"
            f"  train.batch_seconds: {json.dumps(size['batch_seconds'])}\n")
    suite = work / "gpu-check.yaml"
    suite.write_text(suite_text("gpu-check", size, axes))
    code, wall, output = harness("run", str(suite), "--runs-dir", str(runs), "--cache-dir",
                                 str(cache), "--no-report")
    result["suite_exit_code"], result["suite_seconds"] = code, round(wall, 1)
    if not (runs / "gpu-check" / "results.jsonl").is_file():
        print(output)
        print("gpu_check: FAILED: harness run recorded nothing (its output is above)")
        return 1
    peak = peak_flops(args)
    for record in records(runs, "gpu-check"):
        spec, train = record["spec"]["train"], record.get("train") or {}
        row = {"run": record["slug"], "status": record["status"], "reason": record["reason"],
               "precision": train.get("precision"), "batch_seconds": spec["batch_seconds"]}
        if record["status"] == "finished":
            audio_per_s = train["audio_seconds_per_s"]
            test_seconds = record["scores"]["audio_seconds"]
            flops = flops_per_update(size["preset"], spec["batch_seconds"], device,
                                     spec["precision"])
            # updates per second x FLOPs per update over the peak
            updates_per_s = train["steps"] / train["train_seconds"]
            row.update(
                audio_hours_per_gpu_hour=round(audio_per_s, 1),
                decode_audio_s_per_s=round(test_seconds / record["timings"]["evaluate_s"], 1),
                tflops_per_update=round(flops / 1e12, 2),
                mfu=round(flops * updates_per_s / peak, 3) if peak else None,
                wer=record["scores"]["rule_sets"]["blog"]["wer"],
            )
        result["runs"].append(row)

    # 2. two runs on one GPU with runs_per_gpu
    queued = work / "gpu-queue.yaml"
    queued.write_text(suite_text("gpu-queue", size, "  train.lr: [5e-5, 1e-4]\n"))
    code, wall, output = harness("run", str(queued), "--runs-dir", str(runs), "--cache-dir",
                                 str(cache), "--no-report", "--placement", "runs_per_gpu")
    queue: dict = {"exit_code": code, "wall_seconds": round(wall, 1)}
    if cuda:
        done = records(runs, "gpu-queue")
        total = sum(r["timings"].get("total_s", 0.0) for r in done)
        queue.update(finished=sum(r["status"] == "finished" for r in done),
                     sum_of_run_seconds=round(total, 1),
                     one_after_the_other=total <= wall * 1.02)
        queue["ok"] = code == 0 and queue["finished"] == 2 and queue["one_after_the_other"]
    else:
        queue["reason"] = output.strip().splitlines()[-1] if output.strip() else ""
        queue["ok"] = code == 2
    result["runs_per_gpu_one_gpu"] = queue

    print(json.dumps(result, indent=2))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    ok = result["suite_exit_code"] in (0, 1) and queue["ok"] and all(
        row["status"] == "finished" for row in result["runs"]) and result["runs"]
    print(f"gpu_check: {'OK' if ok else 'FAILED'} ({result['device']}); figures in {args.out}")
    if not args.keep:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
