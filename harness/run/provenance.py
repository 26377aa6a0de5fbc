"""What a number was computed with: package versions, git sha, hardware."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("harness", "torch", "transformers", "accelerate", "datasets", "jiwer", "numpy")


@lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """Installed versions of the packages that decide results, and Python's."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


@lru_cache(maxsize=1)
def git_state() -> dict[str, object]:
    """The harness checkout's commit and whether it had uncommitted changes (None outside git)."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                                  timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"sha": sha, "dirty": bool(status) if status is not None else None}


# What decides a checkpoint's behaviour: its config and its weights (not a model card or logs).
CHECKPOINT_FILES = ("config.json", "*.safetensors", "*.bin")


def checkpoint_fingerprint(name_or_path: str | None) -> str | None:
    """sha256 over a LOCAL checkpoint directory's config and weight files; None for a hub name.

    A local checkpoint can be rebuilt in place (`harness standin --out checkpoints/...`): its
    path alone would let a run id, and so a stored result, outlive the weights it came from.
    """
    if not name_or_path:
        return None
    directory = Path(name_or_path).expanduser()
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


def hardware() -> dict[str, object]:
    """The devices a run could use: CPU cores, and each GPU's name and memory."""
    info: dict[str, object] = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                               "gpus": []}
    try:
        import torch

        if torch.cuda.is_available():
            info["gpus"] = [
                {"name": torch.cuda.get_device_name(i),
                 "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1)}
                for i in range(torch.cuda.device_count())
            ]
    except ImportError:
        pass
    return info


def describe_hardware(info: dict) -> str:
    """A one-line description: '2 CPU cores' or '8 x NVIDIA H100 (80 GiB)'."""
    gpus = info.get("gpus") or []
    if not gpus:
        return f"{info.get('cpu_count')} CPU cores, no GPU"
    names = sorted({gpu["name"] for gpu in gpus})
    return f"{len(gpus)} x {', '.join(names)} ({gpus[0]['memory_gib']} GiB), " \
           f"{info.get('cpu_count')} CPU cores"
