"""Suite YAML -> a validated Suite: read, merge `extends:`, check keys, expand, resolve `expect:`.

Every problem of the file (and of the files it extends) is collected and raised together as one
SpecError naming file, line and dotted key.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

from harness.config.expand import (
    MAX_RUNS,
    build_runs,
    check_run_count,
    expand,
    read_axes,
    read_baseline,
    read_extra_runs,
    with_overrides,
)
from harness.config.paths import located, rebased
from harness.config.problems import (
    Problems,
    check_keys,
    closest,
    failed_locs,
    validate,
)
from harness.config.seeds import read_seeds, replicate
from harness.config.settings import field_paths
from harness.config.suite import MODES, SUITE_KEYS, Suite, suite_name_problem
from harness.config.values import shown
from harness.config.yamlsource import YamlDocument, load_yaml
from harness.expect.resolve import parse_expectations


def load_suite(path: str | Path) -> Suite:
    """Read, merge (extends), validate and expand a suite file; raise SpecError listing problems."""
    path = Path(path)
    doc = load_yaml(path)
    problems = Problems(doc)
    raw = _merged(doc, problems, seen=())
    problems.raise_if_any()
    # A misspelt top-level key is reported once, with its "did you mean"; what is missing only
    # because of it (the suite's name, its base, its axes) is not reported again.
    misspelt = check_keys(raw, SUITE_KEYS, (), problems)
    if "extends" in misspelt:
        problems.raise_if_any()  # everything the parent would give is missing: say only that
    name = raw.get("suite")
    if "suite" not in misspelt:
        name_problem = suite_name_problem(name)
        if name_problem:
            problems.add(("suite",), name_problem)
    mode = raw.get("mode", "one_at_a_time")
    if mode not in MODES:
        problems.add(("mode",), f"unknown mode {shown(mode)}: use one of {', '.join(MODES)}")
    base = raw.get("base", {})
    if not isinstance(base, dict):
        problems.add(("base",), "must be a mapping of sections (data, model, train, text, eval)")
        base = {}
    raw_axes = raw.get("axes") or {}
    axes = read_axes(raw_axes, problems)
    if "base" in misspelt:
        problems.raise_if_any()  # every setting of every run would be missing
    base_spec = validate(base, ("base",), problems)
    broken = failed_locs(base) if base_spec is None else frozenset()
    for key, values in axes.items():
        for index, value in enumerate(values):
            validate(
                with_overrides(base, {key: value}),
                ("axes", key, index),
                problems,
                only_under=tuple(key.split(".")),
                broken=broken,
            )
    # A baseline: entry for an axis that is misspelt (or absent, its key misspelt) is the same
    # mistake again.
    unread = set() if not isinstance(raw_axes, dict) else set(raw_axes) - set(axes)
    unread |= {closest(str(key), list(field_paths())) for key in unread}
    if "axes" not in misspelt:
        baseline_choice = read_baseline(raw.get("baseline") or {}, axes, problems, unread)
    else:
        baseline_choice = {}
    extra_runs = read_extra_runs(raw.get("runs") or [], problems)
    check_run_count(axes, mode, extra_runs, problems)
    seeds = read_seeds(raw.get("seeds"), axes, extra_runs, problems, base)
    problems.raise_if_any()
    assert base_spec is not None
    combos = expand(axes, mode, baseline_choice) + extra_runs
    runs = replicate(build_runs(base, combos, axes, baseline_choice, problems), seeds)
    if len(runs) > MAX_RUNS:
        problems.add(("seeds",), f"{len(runs):,} runs with their seed replicas: more than "
                                 f"{MAX_RUNS:,}, the most a suite may have")
    expectations, expect_problems = parse_expectations(raw.get("expect"), runs)
    for key_path, message in expect_problems:
        problems.add(key_path, message)
    problems.raise_if_any()
    header = {
        line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip()
        for line in doc.header
        if ":" in line
    }
    # Run ids and dataset keys hash data paths as written (relative to this file: the same on
    # every clone); the specs that run read them from this file's directory.
    directory = path.parent.resolve()
    runs = [dataclasses.replace(run, spec=located(run.spec, directory)) for run in runs]
    return Suite(
        name=name,
        path=path,
        question=raw.get("question") or header.get("question"),
        command=header.get("command"),
        mode=mode,
        axes=tuple((key, tuple(values)) for key, values in axes.items()),
        runs=tuple(runs),
        expectations=tuple(expectations),
        seeds=seeds.values if seeds else (),
    )


def _merged(doc: YamlDocument, problems: Problems, seen: tuple[Path, ...]) -> dict:
    """The file's mapping deep-merged over the file it `extends`, if any; relative data paths
    of a parent in another directory are rewritten relative to this file's directory."""
    if doc.data is None:
        return {}
    if not isinstance(doc.data, dict):
        problems.add((), "a suite file must be a YAML mapping (suite:, base:, axes:, ...)")
        return {}
    parent_name = doc.data.get("extends")
    if parent_name is None:
        return doc.data
    if not isinstance(parent_name, str):
        problems.add(("extends",), "must be a path to another suite file")
        return doc.data
    try:
        parent_path = (doc.path.parent / parent_name).resolve()
        exists, is_file = parent_path.exists(), parent_path.is_file()
    except (OSError, ValueError) as error:  # a NUL byte, a name too long for the system
        problems.add(("extends",), f"not a file name: {error}")
        return doc.data
    if parent_path in seen:
        problems.add(("extends",), f"circular extends through {parent_path}")
        return doc.data
    if not exists:
        problems.add(("extends",), f"no such file: {parent_path}")
        return doc.data
    if not is_file:
        problems.add(("extends",), f"not a file: {parent_path}")
        return doc.data
    parent_doc = load_yaml(parent_path)
    parent_problems = Problems(parent_doc)
    parent = _merged(parent_doc, parent_problems, seen + (doc.path.resolve(),))
    problems.items += parent_problems.items
    parent = rebased(parent, parent_path.parent, doc.path.parent.resolve())
    merged = _deep_merge(parent, {k: v for k, v in doc.data.items() if k != "extends"})
    return merged


def _deep_merge(under: dict, over: dict) -> dict:
    out = copy.deepcopy(under)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
