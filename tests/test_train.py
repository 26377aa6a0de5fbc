"""Training end to end: the tiny preset on espeak-ng audio, resumed, guarded, on two processes,
from corrupt checkpoints and through a full disk.

One uninterrupted 30-update run (about 7 s on 2 cores) is shared by the module; the kill/resume
and two-process tests start real child processes (about 12 s and 15 s), and one run killed at
update 17 is shared by the corrupt-checkpoint tests (each trains 20 or 30 updates from a copy of
it), so the whole file runs in about two minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate.utils import set_seed
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file
from transformers import AutoModelForCTC, Wav2Vec2Processor

import harness.train.loop
from harness import faults
from harness.config.settings import RunSpec
from harness.data.batching import DurationBatchSampler
from harness.files import LOG_FILE, MODEL_DIR, SUMMARY_FILE, DiskFullError
from harness.model.build import build_model
from harness.model.freezing import parts
from harness.text.vocab import PAD
from harness.train.checkpoint import STATE_FILE, verify_checkpoint
from harness.train.dev import dev_evaluate
from harness.train.guards import EMPTY_SHARE_FLAG, TrainingFailed, collapse_flag
from harness.train.loop import train
from tests.train_fixtures import make_prepared, save_prepared

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).with_name("train_fixtures.py")
STEPS = 30
CHECKPOINT_EVERY = 10
# 48 utterances (68 s of audio) at 20 padded seconds per batch: 4 batches an epoch, so 30
# updates are 7.5 epochs. Weight decay makes the frozen-weights check bite: AdamW would decay a
# frozen weight that kept a zero gradient.
SPEC = {
    "model": {"preset": "tiny"},
    "train": {"lr": 2e-3, "max_steps": STEPS, "warmup_steps": 5, "batch_seconds": 20,
              "weight_decay": 0.01, "checkpoint_every": CHECKPOINT_EVERY, "log_every": 1,
              "eval_every": 15},
}
TRAIN_KEYS = {"step", "loss", "lr", "grad_norm", "audio_seconds_per_s", "padding_fraction",
              "elapsed_s"}
# The lr logged after update k (the scheduler has stepped k times): linear, peak 2e-3, warmup 5
# of 30 updates. Warmup k = 1..4: 2e-3 x k / 5 = 4e-4 x k. Decay k = 5..30:
# 2e-3 x (30 - k) / (30 - 5) = 8e-5 x (30 - k), so 2e-3 at k = 5 down to 0 at k = 30.
EXPECTED_LR = [
    4e-4, 8e-4, 1.2e-3, 1.6e-3,  # k = 1..4
    2e-3, 1.92e-3, 1.84e-3, 1.76e-3, 1.68e-3,  # k = 5..9: 8e-5 x 25, 24, 23, 22, 21
    1.6e-3, 1.52e-3, 1.44e-3, 1.36e-3, 1.28e-3,  # k = 10..14: 8e-5 x 20..16
    1.2e-3, 1.12e-3, 1.04e-3, 9.6e-4, 8.8e-4,  # k = 15..19: 8e-5 x 15..11
    8e-4, 7.2e-4, 6.4e-4, 5.6e-4, 4.8e-4,  # k = 20..24: 8e-5 x 10..6
    4e-4, 3.2e-4, 2.4e-4, 1.6e-4, 8e-5,  # k = 25..29: 8e-5 x 5..1
    0.0,  # k = 30: the last update leaves the lr at 0
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """48 train / 8 dev espeak-ng utterances with their processor, also saved for subprocesses."""
    bundle = make_prepared(tmp_path_factory.mktemp("prepared"), train=48, dev=8, test=4)
    save_prepared(bundle, bundle.dir / "saved")
    return bundle


@pytest.fixture(scope="module")
def finished(prepared, tmp_path_factory):
    """One uninterrupted run: (run dir, summary, progress records, steps checkpointed at)."""
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    saved_at: list[int] = []
    original = harness.train.loop.save_checkpoint

    def spy(accelerator, directory, state):
        saved_at.append(state["step"])
        return original(accelerator, directory, state)

    records: list[dict] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(harness.train.loop, "save_checkpoint", spy)
        summary = train(RunSpec.model_validate(SPEC), prepared, run_dir, records.append)
    return run_dir, summary, records, saved_at


def read_log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / LOG_FILE).read_text().splitlines()]


def train_records(run_dir: Path) -> list[dict]:
    """The per-update lines of the log (dev evaluations are lines without a loss)."""
    return [record for record in read_log(run_dir) if "loss" in record]


def initial_model(prepared):
    """The model exactly as train builds it before the first update (same seed, same config)."""
    set_seed(RunSpec.model_validate(SPEC).train.seed)
    return build_model(RunSpec.model_validate(SPEC).model, len(prepared.vocab),
                       prepared.vocab[PAD])


def file_digest(path: Path) -> str:
    """SHA-256 of a safetensors file's tensors as weights_sha256 is defined: for each tensor in
    name order, the name's UTF-8 bytes then the tensor's raw little-endian bytes.

    Derived from that definition over numpy arrays read by safetensors.numpy, not copied from
    harness.train.loop (which walks a torch state_dict and views its storage as bytes).
    """
    tensors = load_numpy(path)
    hasher = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        hasher.update(name.encode("utf-8"))
        hasher.update(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    return hasher.hexdigest()


def run_fixture_main(prepared_dir: Path, run_dir: Path, spec: dict, env: dict,
                     *extra: str, launcher: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """tests/train_fixtures.py main in a child process (optionally under torchrun)."""
    command = [sys.executable, *launcher, str(FIXTURES), str(prepared_dir), str(run_dir),
               json.dumps(spec), *extra]
    child_env = {key: value for key, value in os.environ.items()
                 if key not in (faults.ENV, faults.RUN_ENV)}
    return subprocess.run(command, env={**child_env, **env}, capture_output=True, text=True,
                          timeout=300)


def test_training_lowers_the_loss_and_logs_every_update(finished):
    """The loss falls; the log has one line per update with the documented keys and the lr."""
    run_dir, _, records, _ = finished
    lines = train_records(run_dir)
    assert [r["step"] for r in lines] == list(range(1, STEPS + 1))
    assert all(set(r) == TRAIN_KEYS for r in lines)
    losses = [r["loss"] for r in lines]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert [r["lr"] for r in lines] == pytest.approx(EXPECTED_LR, rel=1e-9, abs=1e-15)
    assert all(0 <= r["padding_fraction"] < 0.5 and r["audio_seconds_per_s"] > 0 for r in lines)
    dev_lines = [r for r in read_log(run_dir) if "dev_cer" in r]
    assert [r["step"] for r in dev_lines] == [15, STEPS]
    assert records == read_log(run_dir)  # on_progress saw every line the log holds


def test_frozen_feature_encoder_is_bit_identical_and_the_rest_trained(finished, prepared):
    """feature_encoder freezing: every conv weight ends exactly as initialized; the head moved."""
    run_dir, _, _, _ = finished
    before = initial_model(prepared)
    after = AutoModelForCTC.from_pretrained(run_dir / MODEL_DIR)
    conv_before = dict(parts(before)["feature_encoder"].named_parameters())
    conv_after = dict(parts(after)["feature_encoder"].named_parameters())
    assert conv_before.keys() == conv_after.keys() and conv_before
    for name, tensor in conv_before.items():
        assert torch.equal(tensor, conv_after[name]), name
    assert not torch.equal(before.lm_head.weight, after.lm_head.weight)
    assert not torch.equal(before.wav2vec2.encoder.layers[0].attention.q_proj.weight,
                           after.wav2vec2.encoder.layers[0].attention.q_proj.weight)


def test_checkpoints_are_written_mid_run_and_hold_the_whole_state(finished):
    """Checkpoints at every checkpoint_every and at the end: weights, optimizer, sampler, RNG."""
    run_dir, _, _, saved_at = finished
    assert saved_at == [10, 20, 30]
    checkpoint = run_dir / "checkpoint"
    names = {path.name for path in checkpoint.iterdir()}
    assert {"model.safetensors", "optimizer.bin", "scheduler.bin", "random_states_0.pkl",
            STATE_FILE} <= names
    state = json.loads((checkpoint / STATE_FILE).read_text())
    assert state["step"] == STEPS
    assert state["sampler"] == {"epoch": 7, "position": 2, "seed": 0}  # 30 = 7 x 4 + 2
    weights = load_file(checkpoint / "model.safetensors")
    final = load_file(run_dir / MODEL_DIR / "model.safetensors")
    assert weights.keys() == final.keys()
    assert all(torch.equal(weights[name], final[name]) for name in weights)
    assert not (run_dir / "checkpoint.tmp").exists() and not (run_dir / "checkpoint.old").exists()


def test_saved_model_and_processor_load_and_decode(finished, prepared, tmp_path):
    """run_dir/model loads with AutoModelForCTC and Wav2Vec2Processor and decodes dev audio,
    and the summary's weights_sha256 is the digest of exactly the weights saved there."""
    run_dir, summary, _, _ = finished
    model = AutoModelForCTC.from_pretrained(run_dir / MODEL_DIR).eval()
    processor = Wav2Vec2Processor.from_pretrained(run_dir / MODEL_DIR)
    assert processor.tokenizer.get_vocab() == prepared.vocab
    audio = [np.asarray(x, dtype=np.float32) for x in prepared.dev[:2]["input_values"]]
    inputs = processor(audio, sampling_rate=16000, return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(inputs.input_values).logits
    assert logits.shape[-1] == len(prepared.vocab)
    assert len(processor.batch_decode(logits.argmax(-1))) == 2
    # The digest names the weights saved: model/ and the final checkpoint (two files written by
    # save_pretrained and accelerate) both hash to it, and they hold every tensor of the model.
    saved = run_dir / MODEL_DIR / "model.safetensors"
    assert set(load_numpy(saved)) == set(model.state_dict())
    assert file_digest(saved) == summary["weights_sha256"]
    assert file_digest(run_dir / "checkpoint" / "model.safetensors") == summary["weights_sha256"]
    # ... and not weights it never trained: the initial model's differ.
    initial_model(prepared).save_pretrained(tmp_path, safe_serialization=True)
    assert file_digest(tmp_path / "model.safetensors") != summary["weights_sha256"]


def test_summary_accounts_for_every_update(finished, prepared):
    """Steps, epochs, audio seen, padding, parameters and flags agree with the batches trained."""
    _, summary, _, _ = finished
    durations = np.asarray(prepared.train["duration"])
    sampler = DurationBatchSampler(durations, SPEC["train"]["batch_seconds"])
    batches = [b for epoch in range(7) for b in sampler.plan(epoch).batches]
    batches += sampler.plan(7).batches[:2]
    assert len(batches) == STEPS
    audio = sum(durations[b].sum() for b in batches)
    padded = sum(len(b) * durations[b].max() for b in batches)
    assert summary["steps"] == STEPS and summary["epochs"] == pytest.approx(7.5)
    assert summary["audio_seconds_seen"] == pytest.approx(audio)
    assert summary["padding_fraction"] == pytest.approx(1 - audio / padded)
    assert summary["final_loss"] == train_records(finished[0])[-1]["loss"]
    assert (summary["num_processes"], summary["precision"]) == (1, "no")
    assert summary["resumed_from_step"] is None and summary["skipped_updates"] == 0
    conv = sum(p.numel() for p in parts(initial_model(prepared))["feature_encoder"].parameters())
    total = summary["parameters"]["total"]
    assert summary["parameters"]["trainable"] == total - conv
    assert summary["warmup_updates"] == 5
    assert summary["dev"]["dev_utterances"] == 8
    collapsed = summary["dev"]["empty_share"] >= EMPTY_SHARE_FLAG
    assert [f["name"] for f in summary["flags"]] == (["empty_hypotheses"] if collapsed else [])


def test_killed_run_resumes_from_its_checkpoint_as_if_never_stopped(finished, prepared, tmp_path):
    """SIGKILL at update 17, rerun: resumes at 10 and ends with the same losses and weights."""
    run_dir, reference, _, _ = finished
    resumed_dir = tmp_path / "run"
    killed = run_fixture_main(prepared.dir / "saved", resumed_dir, SPEC,
                              {faults.ENV: "sigkill@train:17"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert json.loads((resumed_dir / "checkpoint" / STATE_FILE).read_text())["step"] == 10
    assert train_records(resumed_dir)[-1]["step"] == 16
    assert not (resumed_dir / SUMMARY_FILE).exists()

    summary = train(RunSpec.model_validate(SPEC), prepared, resumed_dir)
    assert summary["resumed_from_step"] == 10
    assert summary["final_loss"] == pytest.approx(reference["final_loss"], rel=1e-6)
    assert summary["weights_sha256"] == reference["weights_sha256"]
    assert summary["audio_seconds_seen"] == pytest.approx(reference["audio_seconds_seen"])
    ours, theirs = train_records(resumed_dir), train_records(run_dir)
    assert [r["step"] for r in ours] == list(range(1, STEPS + 1))  # lines 11-16 not doubled
    for key in ("loss", "lr", "grad_norm", "padding_fraction"):
        assert [r[key] for r in ours] == pytest.approx([r[key] for r in theirs], rel=1e-6), key


def test_finished_run_is_returned_without_training_again(finished, prepared, monkeypatch):
    """train on a finished run dir returns its summary and leaves log and model untouched."""
    run_dir, summary, _, _ = finished
    log = (run_dir / LOG_FILE).read_bytes()
    model_mtime = (run_dir / MODEL_DIR / "model.safetensors").stat().st_mtime_ns

    def no_setup(*args, **kwargs):
        raise AssertionError("a finished run was set up for training again")

    monkeypatch.setattr(harness.train.loop, "_setup", no_setup)
    again = train(RunSpec.model_validate(SPEC), prepared, run_dir)
    assert again == json.loads(json.dumps(summary))
    assert (run_dir / LOG_FILE).read_bytes() == log
    assert (run_dir / MODEL_DIR / "model.safetensors").stat().st_mtime_ns == model_mtime


def test_non_finite_loss_stops_the_run_naming_the_update(prepared, tmp_path, monkeypatch):
    """A NaN loss at update 3 raises TrainingFailed saying 'non-finite' and 'update 3'."""
    monkeypatch.setenv(faults.ENV, "nan@train:3")
    spec = {**SPEC, "train": {**SPEC["train"], "max_steps": 6}}
    with pytest.raises(TrainingFailed, match=r"non-finite training loss \(nan\) at update 3") \
            as failure:
        train(RunSpec.model_validate(spec), prepared, tmp_path / "run")
    assert failure.value.step == 3
    assert [r["step"] for r in train_records(tmp_path / "run")] == [1, 2]
    assert not (tmp_path / "run" / MODEL_DIR).exists()
    assert not (tmp_path / "run" / SUMMARY_FILE).exists()


@given(share=st.floats(0, 1), step=st.integers(0, 1000), warmup=st.integers(0, 1000),
       blank=st.floats(0, 1))
def test_collapse_flag_exactly_when_nearly_all_hypotheses_are_empty_after_warmup(
        share, step, warmup, blank):
    """Flagged iff step > warmup and empty share >= 90%; the flag carries its evidence."""
    evaluation = {"empty_share": share, "blank_share": blank, "examples": [{"reference": "a",
                                                                            "hypothesis": ""}]}
    flag = collapse_flag(evaluation, step, warmup)
    assert (flag is not None) == (step > warmup and share >= EMPTY_SHARE_FLAG)
    if flag is not None:
        assert (flag["empty_share"], flag["blank_share"], flag["step"]) == (share, blank, step)
        assert flag["examples"] == evaluation["examples"]
        assert f"update {step}" in flag["message"]


@pytest.mark.parametrize("favoured", [PAD, "a"])
def test_dev_evaluation_of_a_blank_only_model_is_flagged(prepared, favoured):
    """A head that always says blank decodes every dev utterance to '' and is flagged; one that
    always says 'a' is not."""
    model = build_model(RunSpec.model_validate(SPEC).model, len(prepared.vocab),
                        prepared.vocab[PAD]).eval()
    with torch.no_grad():
        model.lm_head.bias.fill_(0.0)
        model.lm_head.bias[prepared.vocab[favoured]] = 100.0
    evaluation = dev_evaluate(model, prepared.processor, prepared.dev, batch_seconds=20)
    flag = collapse_flag(evaluation, step=100, warmup=10)
    if favoured == PAD:
        assert (evaluation["empty_share"], evaluation["blank_share"]) == (1.0, 1.0)
        assert evaluation["dev_cer"] == 1.0
        assert flag is not None and flag["name"] == "empty_hypotheses"
        assert flag["examples"] and all(e["hypothesis"] == "" for e in flag["examples"])
    else:
        assert (evaluation["empty_share"], evaluation["blank_share"]) == (0.0, 0.0)
        assert all(e["hypothesis"] == "a" for e in evaluation["examples"])
        assert flag is None


def test_dev_evaluation_batched_equals_one_utterance_at_a_time(prepared):
    """The tiny preset's group-norm encoder is moved by zero padding; dev decoding batches it
    the exact way test decoding does, so batched and one-at-a-time dev figures are equal."""
    torch.manual_seed(0)
    model = build_model(RunSpec.model_validate(SPEC).model, len(prepared.vocab),
                        prepared.vocab[PAD]).eval()
    batched = dev_evaluate(model, prepared.processor, prepared.dev, batch_seconds=60)
    alone = dev_evaluate(model, prepared.processor, prepared.dev, batch_seconds=1e-3)
    assert 0 < batched["blank_share"] < 1 and batched["dev_cer"] > 0
    assert batched == alone


def test_two_cpu_processes_split_the_epoch_and_agree_on_the_weights(prepared, tmp_path):
    """torchrun x 2 (gloo): disjoint batches covering the epoch, one weights digest, one log."""
    spec = {"model": {"preset": "tiny"},
            "train": {"lr": 2e-3, "epochs": 1, "batch_seconds": 10, "checkpoint_every": 0,
                      "log_every": 1}}
    out = tmp_path / "out"
    launcher = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")
    done = run_fixture_main(prepared.dir / "saved", tmp_path / "run", spec,
                            {"OMP_NUM_THREADS": "1"}, str(out), launcher=launcher)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads(Path(f"{out}.rank{rank}").read_text()) for rank in (0, 1)]
    summaries = [r["summary"] for r in ranks]
    assert [(r["rank"], r["world"]) for r in ranks] == [(0, 2), (1, 2)]
    assert [s["num_processes"] for s in summaries] == [2, 2]
    assert summaries[0]["weights_sha256"] == summaries[1]["weights_sha256"]

    mine, theirs = ([tuple(b) for b in r["batches"]] for r in ranks)
    repeated = summaries[0]["repeated_batches"]
    assert len(mine) == len(theirs) == summaries[0]["steps"]
    # Disjoint, except the batches repeated so both ranks run as many steps (none here, as a
    # rule: an odd batch count would repeat one).
    shared = set(mine) & set(theirs)
    assert len(shared) == repeated
    indices = [i for batch in mine + theirs for i in batch]
    assert set(indices) == set(range(len(prepared.train)))
    assert len(indices) == len(prepared.train) + sum(len(b) for b in shared)
    # What the loop consumed: the epoch's audio once (plus repeats), summed over both ranks.
    durations = np.asarray(prepared.train["duration"])
    assert summaries[0]["audio_seconds_seen"] == pytest.approx(
        sum(durations[list(b)].sum() for b in mine + theirs))
    assert summaries[0]["epochs"] == pytest.approx(1.0)
    assert [r["step"] for r in train_records(tmp_path / "run")] == list(
        range(1, summaries[0]["steps"] + 1))


# --- checkpoints that are corrupt, or cannot be written ---------------------------------------


@pytest.fixture(scope="module")
def killed(prepared, tmp_path_factory) -> Path:
    """A run killed with SIGKILL at update 17: its checkpoint holds update 10 (copy it to use)."""
    run_dir = tmp_path_factory.mktemp("killed") / "run"
    done = run_fixture_main(prepared.dir / "saved", run_dir, SPEC,
                            {faults.ENV: "sigkill@train:17"})
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    return run_dir


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of a run directory that a test may damage."""
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def flip_bytes(path: Path, count: int = 64) -> None:
    """Invert `count` bytes in the middle of a file, keeping its size."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(size // 2)
        chunk = handle.read(count)
        handle.seek(size // 2)
        handle.write(bytes(byte ^ 0xFF for byte in chunk))
    assert path.stat().st_size == size


def test_checkpoint_records_the_sha256_of_each_of_its_files(finished):
    """trainer_state.json lists every other file of the checkpoint with its sha256."""
    checkpoint = finished[0] / "checkpoint"
    listed = json.loads((checkpoint / STATE_FILE).read_text())["files"]
    names = sorted(path.name for path in checkpoint.iterdir() if path.name != STATE_FILE)
    assert sorted(listed) == names and "model.safetensors" in names
    assert listed == {name: hashlib.sha256((checkpoint / name).read_bytes()).hexdigest()
                      for name in names}
    assert verify_checkpoint(checkpoint) is None


def _delete_optimizer(checkpoint: Path) -> None:
    (checkpoint / "optimizer.bin").unlink()


def _empty_state(checkpoint: Path) -> None:
    (checkpoint / STATE_FILE).write_text("")


def _drop_checksums(checkpoint: Path) -> None:
    state = json.loads((checkpoint / STATE_FILE).read_text())
    del state["files"]
    (checkpoint / STATE_FILE).write_text(json.dumps(state))


@pytest.mark.parametrize(("damage", "expected"), [
    (_delete_optimizer, "optimizer.bin is missing"),
    (_empty_state, "trainer_state.json is unreadable (Expecting value: line 1 column 1 (char 0))"),
    (_drop_checksums, "trainer_state.json records no checksums (saved by an older harness): "
                      "cannot be verified"),
])
def test_verify_names_the_file_of_a_damaged_checkpoint(damage, expected, finished, tmp_path):
    """A missing file, an unreadable state or a state without checksums is named by path."""
    checkpoint = Path(shutil.copytree(finished[0] / "checkpoint", tmp_path / "checkpoint"))
    damage(checkpoint)
    assert verify_checkpoint(checkpoint) == f"{checkpoint}/{expected}"


def test_corrupt_checkpoint_falls_back_to_checkpoint_old_and_ends_as_if_never_stopped(
        finished, prepared, killed, tmp_path):
    """64 flipped bytes in checkpoint/model.safetensors (same size) are detected by checksum and
    named; the run resumes from a sound checkpoint.old at 10 and ends with the uninterrupted
    run's weights."""
    reference = finished[1]
    run_dir = copy_run(killed, tmp_path)
    shutil.copytree(run_dir / "checkpoint", run_dir / "checkpoint.old")
    flip_bytes(run_dir / "checkpoint" / "model.safetensors")
    summary = train(RunSpec.model_validate(SPEC), prepared, run_dir)
    assert summary["resumed_from_step"] == 10
    assert summary["weights_sha256"] == reference["weights_sha256"]
    [problem] = summary["checkpoint_problems"]
    assert problem.startswith(f"{run_dir / 'checkpoint' / 'model.safetensors'} is corrupt: its "
                              "sha256 ")
    assert problem.endswith(" recorded when it was saved; resumed from checkpoint.old at update 10")
    assert [r["step"] for r in train_records(run_dir)] == list(range(1, STEPS + 1))
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith("checkpoint")) == [
        "checkpoint"]


def test_corrupt_checkpoint_without_a_sound_one_restarts_from_scratch(finished, prepared, killed,
                                                                     tmp_path):
    """With the only checkpoint corrupt, the run deletes it, logs why, starts from scratch and
    ends with the uninterrupted run's weights, each update logged once."""
    reference = finished[1]
    run_dir = copy_run(killed, tmp_path)
    flip_bytes(run_dir / "checkpoint" / "model.safetensors")
    summary = train(RunSpec.model_validate(SPEC), prepared, run_dir)
    assert summary["resumed_from_step"] is None
    assert summary["weights_sha256"] == reference["weights_sha256"]
    [problem] = summary["checkpoint_problems"]
    assert problem.endswith("; restarted from scratch")
    events = [line for line in read_log(run_dir) if "event" in line]
    assert [(e["event"], e["checkpoint"]) for e in events] == [
        ("checkpoint_rejected", str(run_dir / "checkpoint"))]
    assert [r["step"] for r in train_records(run_dir)] == list(range(1, STEPS + 1))


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(prepared, killed, tmp_path,
                                                                      monkeypatch):
    """ENOSPC while saving update 20's checkpoint raises one DiskFullError naming checkpoint.tmp,
    which is removed; update 10's checkpoint stays in place and passes its checksums."""
    run_dir = copy_run(killed, tmp_path)
    monkeypatch.setenv(faults.ENV, "enospc@checkpoint:20")
    with pytest.raises(DiskFullError) as caught:
        train(RunSpec.model_validate(SPEC), prepared, run_dir)
    assert str(caught.value) == f"no space left on device while writing {run_dir}/checkpoint.tmp"
    assert not (run_dir / "checkpoint.tmp").exists()
    assert json.loads((run_dir / "checkpoint" / STATE_FILE).read_text())["step"] == 10
    assert verify_checkpoint(run_dir / "checkpoint") is None
