"""Suite YAML -> validated, frozen run specs, with stable run ids and readable slugs.

A suite file names a `base` run spec and `axes` (dotted setting -> list of values). In
`one_at_a_time` mode the baseline takes each axis's first value (or the value `baseline:` names)
and every other value is tried alone; in `grid` mode every combination runs. Explicit `runs`
(dotted setting -> value, applied to the baseline) are added. All problems of a file are
reported together, each naming the file, line and dotted key.
"""

from __future__ import annotations

import copy
import difflib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.config.ids import data_key, run_id
from harness.config.settings import RunSpec, field_paths
from harness.config.values import display_value
from harness.config.yamlsource import YamlDocument, load_yaml
from harness.errors import UserError
from harness.expect.resolve import parse_expectations

SUITE_KEYS = {
    "suite": "the suite's name (reports/<suite>.md, runs/<suite>/)",
    "question": "the question the suite answers (default: the header's '# Question:' line)",
    "extends": "a suite file (relative path) whose settings this one starts from",
    "mode": "one_at_a_time (baseline + one change at a time) or grid (every combination)",
    "base": "the run spec every run starts from",
    "axes": "dotted setting -> list of values to try; the first value is the baseline's",
    "baseline": "dotted setting -> the axis value the baseline uses (default: the first)",
    "runs": "extra runs: each a map of dotted setting -> value, applied to the baseline",
    "expect": "what the results must show, e.g. - wer[labeled=1h] <= 0.25 (see harness.expect)",
}
MODES = ("one_at_a_time", "grid")


@dataclass(frozen=True)
class Run:
    """One run of a suite: its id, its readable slug, what differs from the baseline, its spec."""

    id: str
    slug: str
    changes: tuple[tuple[str, Any], ...]
    spec: RunSpec

    @property
    def data_key(self) -> str:
        """Hash of everything that decides the prepared dataset (shared by runs that agree)."""
        return data_key(self.spec)


@dataclass(frozen=True)
class Suite:
    """A validated suite: its runs (baseline first) and where it came from."""

    name: str
    path: Path
    question: str | None
    command: str | None
    mode: str
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    runs: tuple[Run, ...]
    expectations: tuple = ()  # harness.expect.Expectation, in file order

    @property
    def baseline(self) -> Run:
        """The run every other run is compared with."""
        return self.runs[0]

    def data_keys(self) -> list[str]:
        """Distinct prepared datasets the suite needs, in first-use order."""
        return list(dict.fromkeys(run.data_key for run in self.runs))


class SpecError(UserError):
    """All problems found in one suite file."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Problems:
    """Collects problems with their key paths, rendered as 'file:line: key: message'."""

    def __init__(self, doc: YamlDocument):
        self.doc = doc
        self.items: list[str] = []

    def add(self, key_path: tuple, message: str) -> None:
        line = self.doc.line_of(key_path)
        where = f"{self.doc.path}:{line}" if line else str(self.doc.path)
        key = _dotted(key_path)
        self.items.append(f"{where}: {key}: {message}" if key else f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise SpecError(self.items)


def _dotted(key_path: tuple) -> str:
    out = ""
    for part in key_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_suite(path: str | Path) -> Suite:
    """Read, merge (extends), validate and expand a suite file; raise SpecError listing problems."""
    path = Path(path)
    doc = load_yaml(path)
    problems = _Problems(doc)
    raw = _merged(doc, problems, seen=())
    problems.raise_if_any()
    _check_keys(raw, SUITE_KEYS, (), problems)
    name = raw.get("suite")
    if not isinstance(name, str) or not name.strip():
        problems.add(("suite",), "required: a name for the suite, e.g. suite: default")
    mode = raw.get("mode", "one_at_a_time")
    if mode not in MODES:
        problems.add(("mode",), f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    base = raw.get("base", {})
    if not isinstance(base, dict):
        problems.add(("base",), "must be a mapping of sections (data, model, train, text, eval)")
        base = {}
    axes = _read_axes(raw.get("axes") or {}, problems)
    base_spec = _validate(base, ("base",), problems)
    for key, values in axes.items():
        for index, value in enumerate(values):
            _validate(
                _with(base, {key: value}),
                ("axes", key, index),
                problems,
                only_under=tuple(key.split(".")),
            )
    baseline_choice = _read_baseline(raw.get("baseline") or {}, axes, problems)
    extra_runs = _read_extra_runs(raw.get("runs") or [], problems)
    problems.raise_if_any()
    assert base_spec is not None
    combos = _expand(axes, mode, baseline_choice) + extra_runs
    runs = _build_runs(base, combos, axes, baseline_choice, problems)
    expectations, expect_problems = parse_expectations(raw.get("expect"), runs)
    for key_path, message in expect_problems:
        problems.add(key_path, message)
    problems.raise_if_any()
    header = {
        line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip()
        for line in doc.header
        if ":" in line
    }
    return Suite(
        name=name,
        path=path,
        question=raw.get("question") or header.get("question"),
        command=header.get("command"),
        mode=mode,
        axes=tuple((key, tuple(values)) for key, values in axes.items()),
        runs=tuple(runs),
        expectations=tuple(expectations),
    )


def _merged(doc: YamlDocument, problems: _Problems, seen: tuple[Path, ...]) -> dict:
    """The file's mapping deep-merged over the file it `extends`, if any."""
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
    parent_path = (doc.path.parent / parent_name).resolve()
    if parent_path in seen:
        problems.add(("extends",), f"circular extends through {parent_path}")
        return doc.data
    if not parent_path.exists():
        problems.add(("extends",), f"no such file: {parent_path}")
        return doc.data
    parent_doc = load_yaml(parent_path)
    parent_problems = _Problems(parent_doc)
    parent = _merged(parent_doc, parent_problems, seen + (doc.path.resolve(),))
    problems.items += parent_problems.items
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


def _check_keys(mapping: dict, known: dict, key_path: tuple, problems: _Problems) -> None:
    for key in mapping:
        if key not in known:
            problems.add(key_path + (key,), _unknown_key_message(str(key), list(known)))


def _unknown_key_message(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
    return f"unknown key {key!r}{hint}"


def _read_axes(axes: Any, problems: _Problems) -> dict[str, list]:
    if not isinstance(axes, dict):
        problems.add(("axes",), "must map dotted settings (e.g. train.lr) to lists of values")
        return {}
    known = field_paths()
    valid: dict[str, list] = {}
    for key, values in axes.items():
        if key not in known:
            problems.add(("axes", key), _unknown_setting_message(str(key), known))
        elif not isinstance(values, list):
            problems.add(("axes", key), "must be a list of values, e.g. [1e-4, 3e-4]")
        elif not values:
            problems.add(("axes", key), "an axis needs at least one value")
        elif (known[key].json_schema_extra or {}).get("affects_results") is False:
            problems.add(("axes", key), "does not change results, so it cannot be an axis")
        else:
            valid[key] = values
    return valid


def _unknown_setting_message(key: str, known: dict) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"no such setting {key!r}{hint}"


def _read_baseline(baseline: Any, axes: dict[str, list], problems: _Problems) -> dict[str, Any]:
    if not isinstance(baseline, dict):
        problems.add(("baseline",), "must map axis names to the value the baseline uses")
        return {}
    chosen = {}
    for key, value in baseline.items():
        if key not in axes:
            problems.add(("baseline", key), f"{key!r} is not one of the axes")
        elif value not in axes[key]:
            problems.add(("baseline", key), f"{value!r} is not among the axis values {axes[key]}")
        else:
            chosen[key] = value
    return chosen


def _read_extra_runs(runs: Any, problems: _Problems) -> list[dict[str, Any]]:
    if not isinstance(runs, list):
        problems.add(("runs",), "must be a list of maps (dotted setting -> value)")
        return []
    known = field_paths()
    extra = []
    for index, overrides in enumerate(runs):
        if not isinstance(overrides, dict) or not overrides:
            problems.add(("runs", index), "each run is a non-empty map of dotted setting -> value")
            continue
        bad = [key for key in overrides if key not in known]
        for key in bad:
            problems.add(("runs", index, key), _unknown_setting_message(str(key), known))
        if not bad:
            extra.append(dict(overrides))
    return extra


def _expand(axes: dict[str, list], mode: str, chosen: dict[str, Any]) -> list[dict[str, Any]]:
    """Override maps, baseline first: one change at a time, or every combination."""
    baseline = {key: chosen.get(key, values[0]) for key, values in axes.items()}
    if mode == "grid":
        products = itertools.product(*axes.values())
        combos = [dict(zip(axes, values, strict=True)) for values in products]
        combos.sort(key=lambda combo: combo != baseline)  # stable: baseline first
        return combos
    combos = [baseline]
    for key, values in axes.items():
        combos += [{**baseline, key: value} for value in values if value != baseline[key]]
    return combos


def _build_runs(
    base: dict, combos: list[dict], axes: dict[str, list], chosen: dict, problems: _Problems
) -> list[Run]:
    baseline_combo = combos[0] if axes else {}
    leaf_counts = _leaf_counts(list(axes) + [key for combo in combos for key in combo])
    runs: list[Run] = []
    by_id: dict[str, Run] = {}
    for combo in combos:
        full = {**baseline_combo, **combo}
        changes = tuple(
            (key, value)
            for key, value in full.items()
            if key not in baseline_combo or baseline_combo[key] != value
        )
        slug = (
            ",".join(
                f"{_label(key, leaf_counts)}={display_value(value, key)}" for key, value in changes
            )
            or "baseline"
        )
        spec, errors = _validation_problems(_with(base, full))
        for loc, message in errors:
            problems.add(("runs",), f"run {slug}: {_dotted(loc)}: {message}")
        if spec is None:
            continue
        run = Run(id=run_id(spec), slug=slug, changes=changes, spec=spec)
        if run.id in by_id:
            if by_id[run.id].slug != slug:
                problems.add(
                    ("axes",),
                    f"runs {by_id[run.id].slug!r} and {slug!r} are the same "
                    "settings written two ways; give each value once",
                )
            continue
        by_id[run.id] = run
        runs.append(run)
    return runs


def _leaf_counts(keys: list[str]) -> dict[str, int]:
    leaves: dict[str, set] = {}
    for key in keys:
        leaves.setdefault(key.rsplit(".", 1)[-1], set()).add(key)
    return {leaf: len(full) for leaf, full in leaves.items()}


def _label(key: str, leaf_counts: dict[str, int]) -> str:
    leaf = key.rsplit(".", 1)[-1]
    return leaf if leaf_counts.get(leaf, 0) <= 1 else key


def _with(base: dict, overrides: dict[str, Any]) -> dict:
    """A deep copy of base with dotted overrides set."""
    out = copy.deepcopy(base)
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = copy.deepcopy(value)
    return out


def _validate(
    raw: dict, where: tuple, problems: _Problems, only_under: tuple | None = None
) -> RunSpec | None:
    """RunSpec from a raw mapping; problems are added at `where` (+ the setting's path)."""
    spec, errors = _validation_problems(raw)
    for loc, message in errors:
        if only_under is not None and loc[: len(only_under)] != only_under[: len(loc)]:
            continue  # a problem of the base, reported once under base.*
        if where[:1] == ("axes",):
            problems.add(where, message if loc == only_under else f"{_dotted(loc)}: {message}")
        else:
            problems.add(where + loc, message)
    return spec


def _validation_problems(raw: dict) -> tuple[RunSpec | None, list[tuple[tuple, str]]]:
    try:
        return RunSpec.model_validate(raw), []
    except ValidationError as error:
        return None, [
            (tuple(item["loc"]), _pydantic_message(item, tuple(item["loc"])))
            for item in error.errors()
        ]


def _pydantic_message(item: dict, loc: tuple) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        known = [info.alias or name for name, info in parent.model_fields.items()] if parent else []
        return _unknown_key_message(str(loc[-1]), known)
    if kind == "missing":
        return "required setting is missing"
    message = item["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind not in ("value_error", "assertion_error") and "input" in item:
        message = f"{message} (got {item['input']!r})"
    return message


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] = RunSpec
    for part in loc:
        fields = {info.alias or name: info for name, info in model.model_fields.items()}
        info = fields.get(part)
        if info is None or not (
            isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
        ):
            return None
        model = info.annotation
    return model
