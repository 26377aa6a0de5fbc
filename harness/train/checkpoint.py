"""Resumable checkpoints that a kill at any moment cannot corrupt.

`run_dir/checkpoint/` holds accelerate's state (model weights as safetensors, optimizer,
scheduler, grad scaler, every rank's RNG states) and `trainer_state.json` (update count,
sampler position, running totals), written last: a directory without it is incomplete.

Writing goes to `checkpoint.tmp/`; then the old checkpoint is renamed to `checkpoint.old/`, the
new one renamed into place, and the old one deleted. A kill between the two renames leaves
`checkpoint.old/` complete, and `find_checkpoint` falls back to it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from harness.files import CHECKPOINT_DIR as CHECKPOINT
from harness.files import write_json_atomic

STATE_FILE = "trainer_state.json"


def find_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    for name in (CHECKPOINT, CHECKPOINT + ".old"):
        if (run_dir / name / STATE_FILE).is_file():
            return run_dir / name
    return None


def save_checkpoint(accelerator: Accelerator, run_dir: Path, state: dict[str, Any]) -> Path:
    """Write the accelerator's state and `state` to run_dir/checkpoint atomically."""
    final = run_dir / CHECKPOINT
    tmp = run_dir / (CHECKPOINT + ".tmp")
    old = run_dir / (CHECKPOINT + ".old")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)  # left by a kill mid-write
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json_atomic(tmp / STATE_FILE, state)
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def drop_checkpoint(run_dir: Path) -> None:
    """Delete a finished run's resumable state (checkpoint/, and .old/.tmp left by a kill).

    Call it only after training finished (train_summary.json and model/ written): a rerun then
    returns the stored summary and never needs the optimizer state.
    """
    for name in (CHECKPOINT, CHECKPOINT + ".old", CHECKPOINT + ".tmp"):
        shutil.rmtree(run_dir / name, ignore_errors=True)


def load_checkpoint(accelerator: Accelerator, path: Path) -> dict[str, Any]:
    """Restore the accelerator's state from `path`; returns the trainer state saved with it."""
    accelerator.load_state(str(path))
    return json.loads((path / STATE_FILE).read_text())


def truncate_log(path: Path, last_step: int) -> int:
    """Drop log lines past `last_step` (written after the checkpoint a run resumes from).

    Returns the number of lines dropped. A torn last line (a kill mid-write) is dropped too.
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
        if record.get("step", 0) <= last_step:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, path)
    return dropped
