"""Checkpoints that ship inside the package, named `standin:<name>` in a suite file.

    model: {name_or_path: "standin:tiny"}   ->   <site-packages>/harness/checkpoints/tiny-standin

So a wheel installed anywhere runs the offline default suite: no relative path to a repository
checkout. `harness standin --out standin:tiny` rebuilds the shipped copy in place.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UserError

PREFIX = "standin:"
# name -> directory under harness/checkpoints/ (package data, pyproject.toml).
SHIPPED = {"tiny": "tiny-standin"}
# Run ids hash model.name_or_path as written. The default suite's results were stored while it
# named the tiny stand-in by its repository path; hashing that name for `standin:tiny` keeps those
# ids (and results). The weights themselves are hashed too (config/ids.checkpoint_fingerprint).
ID_NAMES = {"tiny": "checkpoints/tiny-standin"}

ROOT = Path(__file__).resolve().parent / "checkpoints"


def is_standin(name_or_path: str | None) -> bool:
    """Whether a model.name_or_path names a shipped checkpoint ('standin:tiny')."""
    return isinstance(name_or_path, str) and name_or_path.startswith(PREFIX)


def standin_directory(name_or_path: str) -> Path:
    """The shipped directory of 'standin:<name>'; a UserError naming the known ones otherwise."""
    name = name_or_path[len(PREFIX):]
    if name not in SHIPPED:
        known = ", ".join(PREFIX + key for key in sorted(SHIPPED))
        raise UserError(f"model.name_or_path {name_or_path!r}: no such stand-in (known: {known})")
    return ROOT / SHIPPED[name]


def resolve_model_name(name_or_path: str) -> str:
    """A hub id or path as it is; 'standin:<name>' as the directory that ships with harness."""
    return str(standin_directory(name_or_path)) if is_standin(name_or_path) else name_or_path


def id_name(name_or_path: str) -> str:
    """The name a run id hashes for this model.name_or_path (see ID_NAMES)."""
    if is_standin(name_or_path):
        standin_directory(name_or_path)  # refuses an unknown name
        return ID_NAMES.get(name_or_path[len(PREFIX):], name_or_path)
    return name_or_path
