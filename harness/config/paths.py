"""Relative data paths in a suite file are read from that file's directory, as `extends:` is.

Run ids and dataset keys hash a path as written, so they do not depend on where the repository
is cloned or on the working directory; only the spec a run is given names the place on disk.
`model.name_or_path` is left alone: a hub id, or a directory relative to the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.config.settings import RunSpec

# Settings naming a local file or directory. data_dir is also a folder inside a hub dataset's
# repository (load_dataset("org/name", data_dir="en")): it is read locally only if it exists.
DATA_PATHS = ("path", "librispeech_path", "data_dir")
_ONLY_IF_THERE = ("data_dir",)
LM_SOURCES = ("train", "synthetic")  # eval.decoders[].lm.text values that are not files


def located(spec: RunSpec, directory: Path) -> RunSpec:
    """The spec with its relative data paths joined to `directory` (absolute)."""
    changes = {}
    for name in DATA_PATHS:
        value = getattr(spec.data, name)
        if _is_relative(value) and (name not in _ONLY_IF_THERE or (directory / value).is_dir()):
            changes[name] = str(directory / value)
    if changes:
        spec = spec.model_copy(update={"data": spec.data.model_copy(update=changes)})
    return _located_lm_texts(spec, directory)


def _located_lm_texts(spec: RunSpec, directory: Path) -> RunSpec:
    """An LM text file (eval.decoders[].lm.text other than train/synthetic) or a prebuilt
    lm.arpa, read from there."""
    decoders = []
    for decoder in spec.eval.decoders:
        lm = decoder.lm
        if lm is None:
            decoders.append(decoder)
            continue
        update = {}
        if lm.arpa is None and lm.text not in LM_SOURCES and _is_relative(lm.text):
            update["text"] = str(directory / lm.text)
        if _is_relative(lm.arpa):
            update["arpa"] = str(directory / lm.arpa)
        if update:
            decoder = decoder.model_copy(update={"lm": lm.model_copy(update=update)})
        decoders.append(decoder)
    if tuple(decoders) == spec.eval.decoders:
        return spec
    return spec.model_copy(update={"eval": spec.eval.model_copy(
        update={"decoders": tuple(decoders)})})


def rebased(raw: dict, source: Path, target: Path) -> dict:
    """A suite mapping with its relative data paths, read from directory `source`, rewritten
    relative to directory `target` (a parent file in another directory); a new mapping."""
    if source == target:
        return raw

    def moved(value: Any, name: str) -> Any:
        if not _is_relative(value) or (name in _ONLY_IF_THERE and not (source / value).is_dir()):
            return value
        return os.path.relpath(source / value, target)

    dotted = {f"data.{name}": name for name in DATA_PATHS}

    def moved_overrides(overrides: Any) -> Any:
        if not isinstance(overrides, dict):
            return overrides
        return {key: moved(value, dotted[key]) if key in dotted else value
                for key, value in overrides.items()}

    out = dict(raw)
    base = raw.get("base")
    if isinstance(base, dict) and isinstance(base.get("data"), dict):
        data = {key: moved(value, key) if key in DATA_PATHS else value
                for key, value in base["data"].items()}
        out["base"] = {**base, "data": data}
    axes = raw.get("axes")
    if isinstance(axes, dict):
        out["axes"] = {key: [moved(value, dotted[key]) for value in values]
                       if key in dotted and isinstance(values, list) else values
                       for key, values in axes.items()}
    if isinstance(raw.get("runs"), list):
        out["runs"] = [moved_overrides(overrides) for overrides in raw["runs"]]
    return out


def _is_relative(value: Any) -> bool:
    """A non-empty string naming a path that is neither absolute nor under `~`."""
    if not isinstance(value, str) or not value:
        return False
    try:
        return not os.path.isabs(os.path.expanduser(value))
    except ValueError:  # a NUL byte: left for the data source to refuse
        return False
