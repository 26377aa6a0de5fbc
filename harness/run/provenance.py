"""What a number was computed with: package versions, git sha, hardware."""

from __future__ import annotations

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
