"""Run ids and dataset keys: short hashes of exactly what changes results.

A run id hashes the settings that affect results (harness.config.settings marks the others) and
the weights of a local starting checkpoint; a data key hashes the data section and the target
rule set, so runs that agree on them share one prepared dataset.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.config.settings import RunSpec, result_fields
from harness.files import content_hash
from harness.standins import id_name, resolve_model_name


def run_id(spec: RunSpec) -> str:
    """A short stable hash of exactly the settings that affect results, and of the weights of a
    local starting checkpoint (rebuilt in place, it must not reuse the old one's results)."""
    fields = result_fields(spec)
    if spec.model.name_or_path is not None:  # 'standin:tiny' hashes as its old path did
        fields["model"]["name_or_path"] = id_name(spec.model.name_or_path)
    fingerprint = checkpoint_fingerprint(spec.model.name_or_path)
    if fingerprint is not None:
        fields["model"]["checkpoint_sha256"] = fingerprint
    return _short_hash(fields)


def data_key(spec: RunSpec) -> str:
    """A short hash of the data section and target normalization: one prepared dataset each."""
    data = result_fields(spec, drop_unaffecting=False)["data"]
    return _short_hash({"data": data, "targets": spec.text.targets})


def _short_hash(payload: Any) -> str:
    return content_hash(payload, length=10)


# What decides a checkpoint's behaviour: its config and its weights (not a model card or logs).
CHECKPOINT_FILES = ("config.json", "*.safetensors", "*.bin")


def checkpoint_fingerprint(name_or_path: str | None) -> str | None:
    """sha256 over a LOCAL checkpoint directory's config and weight files; None for a hub name.

    A local checkpoint can be rebuilt in place (`harness standin --out checkpoints/...`): its
    path alone would let a run id, and so a stored result, outlive the weights it came from.
    """
    if not name_or_path:
        return None
    directory = Path(resolve_model_name(name_or_path)).expanduser()
    if not directory.is_dir():
        return None
    files = sorted({file for pattern in CHECKPOINT_FILES for file in directory.glob(pattern)})
    return _files_sha256(tuple((str(file), file.stat().st_size, file.stat().st_mtime_ns)
                               for file in files))


@lru_cache(maxsize=32)
def _files_sha256(files: tuple[tuple[str, int, int], ...]) -> str:
    """Keyed on (path, size, mtime) so that planning a 100-run suite reads the weights once."""
    digest = hashlib.sha256()
    for name, _, _ in files:
        digest.update(Path(name).name.encode() + b"\0")
        with open(name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
