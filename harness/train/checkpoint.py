"""Resumable checkpoints that a kill, a full disk or a flipped byte cannot turn into a bad run.

`run_dir/checkpoint/` holds accelerate's state (model weights as safetensors, optimizer,
scheduler, grad scaler, every rank's RNG states) and `trainer_state.json` (update count,
sampler position, running totals, and the sha256 of every other file of the checkpoint), written
last: a directory without it is incomplete.

Writing goes to `checkpoint.tmp/`; then the old checkpoint is renamed to `checkpoint.old/`, the
new one renamed into place, and the old one deleted. A kill between the two renames leaves
`checkpoint.old/` complete, and `find_checkpoint` falls back to it. A write that fails (a full
disk) removes `checkpoint.tmp/` and leaves the previous checkpoint as it was.

Resuming verifies the checksums first: a checkpoint whose file is missing, unreadable or not the
bytes that were saved is deleted and named in the train log (a `checkpoint_rejected` line), and
the run resumes from `checkpoint.old/` if that one is sound, else from scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from harness import faults
from harness.files import CHECKPOINT_DIR as CHECKPOINT
from harness.files import LOG_FILE, read_json, write_json_atomic, write_text_atomic, writing

STATE_FILE = "trainer_state.json"
CHECKSUMS = "files"  # the key of trainer_state.json: relative path -> sha256 of each other file
REJECTED = "checkpoint_rejected"  # the `event` of a train_log line naming a rejected checkpoint


class CheckpointError(Exception):
    """A checkpoint that passed its checksums and still could not be loaded; names it."""


def find_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run (not verified: see resume), or None."""
    for name in (CHECKPOINT, CHECKPOINT + ".old"):
        if (run_dir / name / STATE_FILE).is_file():
            return run_dir / name
    return None


def save_checkpoint(accelerator: Accelerator, run_dir: Path, state: dict[str, Any]) -> Path:
    """Write the accelerator's state and `state` (with checksums) to run_dir/checkpoint
    atomically; on any failure checkpoint.tmp/ is removed and the previous checkpoint kept."""
    final = run_dir / CHECKPOINT
    tmp = run_dir / (CHECKPOINT + ".tmp")
    old = run_dir / (CHECKPOINT + ".old")
    try:
        with writing(tmp):
            if accelerator.is_main_process:
                shutil.rmtree(tmp, ignore_errors=True)  # left by a kill mid-write
                tmp.mkdir(parents=True)
            accelerator.wait_for_everyone()
            accelerator.save_state(str(tmp))
            faults.disk_write("checkpoint", state.get("step"))  # accelerate wrote part of it
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                write_json_atomic(tmp / STATE_FILE, {**state, CHECKSUMS: checksums(tmp)})
                if final.exists():
                    shutil.rmtree(old, ignore_errors=True)
                    os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)  # a full disk must not stay full
        raise
    accelerator.wait_for_everyone()
    return final


def checksums(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory` but trainer_state.json, by relative path."""
    return {path.relative_to(directory).as_posix(): file_sha256(path)
            for path in sorted(directory.rglob("*"))
            if path.is_file() and path.relative_to(directory).as_posix() != STATE_FILE}


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checkpoint(path: Path) -> str | None:
    """What is wrong with the checkpoint at `path`, naming the file; None when every file is
    there with the sha256 recorded when it was saved."""
    state_file = path / STATE_FILE
    try:
        state = read_json(state_file)
    except (OSError, ValueError) as error:
        return f"{state_file} is unreadable ({error})"
    expected = state.get(CHECKSUMS) if isinstance(state, dict) else None
    if not isinstance(expected, dict) or not expected:
        return f"{state_file} records no checksums (saved by an older harness): cannot be verified"
    for name, digest in sorted(expected.items()):
        file = path / name
        try:
            actual = file_sha256(file)
        except FileNotFoundError:
            return f"{file} is missing"
        except OSError as error:
            return f"{file} is unreadable ({error.strerror or error})"
        if actual != digest:
            return (f"{file} is corrupt: its sha256 {actual[:12]}... is not the "
                    f"{digest[:12]}... recorded when it was saved")
    return None


def resume(accelerator: Accelerator, run_dir: Path) -> dict[str, Any] | None:
    """Restore the newest sound checkpoint of a run; the trainer state saved with it, or None
    (start from scratch). Rejected checkpoints are deleted and named in the train log, and log
    lines past the update resumed from are dropped."""
    found, rejected = None, []
    for name in (CHECKPOINT, CHECKPOINT + ".old"):
        path = run_dir / name
        if not (path / STATE_FILE).is_file():
            continue
        problem = verify_checkpoint(path)
        if problem is None:
            found = path
            break
        rejected.append((path, problem))
    state = None
    if found is not None:
        try:
            accelerator.load_state(str(found))
        except Exception as error:
            problem = f"{found} could not be loaded ({type(error).__name__}: {error})"
            _reject(accelerator, run_dir, [*rejected, (found, problem)], "run failed")
            raise CheckpointError(f"checkpoint {problem}; it was deleted: a rerun resumes from "
                                  "an older checkpoint or from scratch") from None
        state = read_json(found / STATE_FILE)
        state.pop(CHECKSUMS, None)
    then = (f"resumed from {found.name} at update {state['step']}" if state is not None
            else "restarted from scratch")
    _reject(accelerator, run_dir, rejected, then)
    if accelerator.is_main_process:
        truncate_log(run_dir / LOG_FILE, state["step"] if state is not None else 0)
    accelerator.wait_for_everyone()
    return state


def _reject(accelerator: Accelerator, run_dir: Path, rejected: list[tuple[Path, str]],
            then: str) -> None:
    """Delete the rejected checkpoints (once every rank has looked at them) and log why."""
    accelerator.wait_for_everyone()
    if not rejected or not accelerator.is_main_process:
        return
    with open(run_dir / LOG_FILE, "a", encoding="utf-8") as log:
        for path, problem in rejected:
            shutil.rmtree(path, ignore_errors=True)
            log.write(json.dumps({"event": REJECTED, "checkpoint": str(path),
                                  "problem": problem, "then": then}) + "\n")


def rejected_checkpoints(log_path: Path) -> list[str]:
    """The problems of the checkpoints a run rejected, from its train log ("<file> is corrupt:
    ...; restarted from scratch"), oldest first."""
    if not log_path.is_file():
        return []
    found = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("event") == REJECTED:
            found.append(f"{entry.get('problem')}; {entry.get('then')}")
    return found


def drop_checkpoint(run_dir: Path) -> None:
    """Delete a finished run's resumable state (checkpoint/, and .old/.tmp left by a kill).

    Call it only after training finished (train_summary.json and model/ written): a rerun then
    returns the stored summary and never needs the optimizer state.
    """
    for name in (CHECKPOINT, CHECKPOINT + ".old", CHECKPOINT + ".tmp"):
        shutil.rmtree(run_dir / name, ignore_errors=True)


def truncate_log(path: Path, last_step: int) -> int:
    """Drop log lines past `last_step` (written after the checkpoint a run resumes from).

    Returns the number of lines dropped. A torn last line (a kill mid-write) is dropped too;
    lines without a step (a rejected checkpoint's) are kept.
    """
    if not path.exists():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        if not isinstance(record, dict) or record.get("step", 0) <= last_step:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        write_text_atomic(path, "".join(line + "\n" for line in kept))
    return dropped
