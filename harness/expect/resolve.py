"""Expectations against a suite's runs: which runs each selector names, and which rule set.

A selector `setting=value,...` names the runs whose settings have those values and whose other
varied settings (the axes and `runs:` keys) are the baseline's, so `labeled=1h` is the run that
changes only the labeled audio, and a condition at the baseline's own value (`lr=1e-3`) names the
baseline. Values are read as the setting reads them, so `labeled=60min` is `labeled=1h` and
`lr=0.0003` is `lr=3e-4`; a value with `*` or `?` is a glob over the value as written in the
suite (`lr=*` names every run that changes only the learning rate, and the baseline).
A setting is its dotted path (`train.lr`) or its last part (`lr`) when that is unambiguous.

A metric without a rule set (`wer`) means the baseline's first `text.scoring` rule set; every
run a side names must be scored with the rule set used. A metric without a decoder means greedy
decoding; a decoder (`wer.ngram`) must be one of the baseline's `eval.decoders`, and a relation
may compare one run under two decoders (`wer.ngram[baseline] < wer[baseline]`). With `seeds:`,
a selector names a setting with all its training-seed replicas (their mean is what is
compared).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from harness.config.settings import GREEDY, field_paths
from harness.config.values import display_value
from harness.expect.parse import (
    RATE_METRICS,
    Comparison,
    MetricRef,
    Number,
    ParseError,
    parse_expression,
)
from harness.text.normalize import RULE_SET_NAMES

SECTION = "expect"


@dataclass(frozen=True)
class RunRef:
    """A setting an expectation names: its first run's id and its slug, and (training seed,
    run id) of each of its replicas (harness.config.seeds; one entry when not replicated)."""

    id: str
    slug: str
    replicas: tuple[tuple[int, str], ...] = ()

    @property
    def by_seed(self) -> dict[int, str]:
        """Training seed -> run id (the run itself when there are no replicas)."""
        return dict(self.replicas) if self.replicas else {0: self.id}


@dataclass(frozen=True)
class Side:
    """One side of an expectation resolved against a suite: a metric of some runs."""

    metric: str
    rule_set: str | None  # None for training figures
    runs: tuple[RunRef, ...]
    decoder: str = GREEDY

    @property
    def label(self) -> str:
        """'wer.blog', 'wer.blog.ngram' (a decoder other than greedy), or 'final_loss'."""
        return self.metric + "".join(f".{part}" for part in (
            self.rule_set, None if self.decoder == GREEDY else self.decoder) if part)


@dataclass(frozen=True)
class Expectation:
    """One entry of a suite's `expect:` list, parsed and resolved against the suite's runs."""

    index: int
    text: str  # the canonical form (parse -> print)
    comparison: Comparison
    left: Side | float
    right: Side | float
    pairs: tuple[tuple[RunRef, RunRef], ...] = ()  # (left run, right run) of a relation

    @property
    def runs(self) -> tuple[RunRef, ...]:
        """Every run the expectation depends on, left side first, each once."""
        sides = [side for side in (self.left, self.right) if isinstance(side, Side)]
        return tuple(dict.fromkeys(run for side in sides for run in side.runs))


class _Problem(Exception):
    """A reason an expectation cannot be resolved; becomes one spec problem."""


def parse_expectations(raw: Any, runs: Sequence) -> tuple[list[Expectation], list[tuple]]:
    """The suite's `expect:` list -> (expectations, problems as (key path, message)).

    `runs` are the suite's runs, baseline first (harness.config.suite.Run). Problems name their
    entry by key path, e.g.
    (("expect", 2), "'wre < 0.3': unknown metric 'wre' (did you mean 'wer'?)"), so the loader
    can give file, line and dotted key like every other spec problem.
    """
    if raw is None or not runs:  # no runs: the suite's own problems say why
        return [], []
    if not isinstance(raw, list):
        return [], [((SECTION,), "must be a list of expectations, e.g. "
                                 "- wer[labeled=1h] <= 0.25")]
    expectations, problems, seen = [], [], {}
    resolver = _Resolver(list(runs))
    for index, entry in enumerate(raw):
        try:
            expectation = resolver.expectation(index, entry)
        except (ParseError, _Problem) as error:
            problems.append(((SECTION, index), str(error)))
            continue
        if expectation.text in seen:
            problems.append(((SECTION, index), f"{expectation.text!r} repeats "
                                               f"{SECTION}[{seen[expectation.text]}]"))
            continue
        seen[expectation.text] = index
        expectations.append(expectation)
    return expectations, problems


class _Resolver:
    """Resolves parsed expectations against one suite's runs (dumps and lookups cached)."""

    def __init__(self, runs: list):
        # Selectors name settings: each run stands with its training-seed replicas.
        groups: dict[str, list] = {}
        for run in runs:
            groups.setdefault(run.setting, []).append(run)
        self.replicas = {name: tuple((run.spec.train.seed, run.id) for run in group)
                         for name, group in groups.items()}
        runs = [group[0] for group in groups.values()]
        self.runs = runs
        self.paths = field_paths()
        self.varied = list(dict.fromkeys(key for run in runs for key, _ in run.changes))
        self.dumps = {run.id: run.spec.model_dump(mode="json", by_alias=True) for run in runs}

    def expectation(self, index: int, entry: Any) -> Expectation:
        comparison = parse_expression(entry)
        text = str(comparison)
        left, right = (self.side(operand, text) for operand in (comparison.left,
                                                                 comparison.right))
        pairs: tuple = ()
        if isinstance(left, Side) and isinstance(right, Side):
            pairs = _pairs(comparison, left, right)
            if not pairs:
                raise _Problem(f"{text!r}: compares each run's {left.label} with itself; name "
                               "different runs, rule sets or decoders on the two sides")
            if comparison.significantly and left.rule_set != right.rule_set:
                raise _Problem(f"{text!r}: 'significantly' needs one rule set on both sides "
                               f"(here {left.rule_set} and {right.rule_set})")
        return Expectation(index, text, comparison, left, right, pairs)

    def side(self, operand, text: str) -> Side | float:
        if isinstance(operand, Number):
            return operand.amount
        runs = self.select(operand, text)
        return Side(operand.metric, self.rule_set(operand, runs, text),
                    tuple(RunRef(run.id, run.slug, self.replicas[run.setting]) for run in runs),
                    self.decoder(operand, runs, text))

    def select(self, ref: MetricRef, text: str) -> list:
        selector = ref.selector
        if selector.kind == "every":
            return list(self.runs)
        if selector.kind == "baseline":
            return self.runs[:1]
        wanted = [(self.setting_path(key, text), value) for key, value in selector.conditions]
        tests = [(path, self.value_test(path, value, text)) for path, value in wanted]
        named = {path for path, _ in wanted}
        baseline = self.dumps[self.runs[0].id]
        chosen = [
            run for run in self.runs
            if all(test(run) for _, test in tests)
            and all(_at(self.dumps[run.id], key) == _at(baseline, key)
                    for key in self.varied if key not in named)
        ]
        if not chosen:
            slugs = [run.slug for run in self.runs]
            close = difflib.get_close_matches(str(selector), slugs, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _Problem(f"{text!r}: [{selector}] matches no run of the suite{hint}; its runs: "
                           f"{', '.join(slugs)}")
        return chosen

    def setting_path(self, key: str, text: str) -> str:
        """'lr' or 'train.lr' -> 'train.lr'; a varied setting wins over an unvaried namesake."""
        if key in self.paths:
            return key
        named = [path for path in self.paths if path.rsplit(".", 1)[-1] == key]
        varied = [path for path in named if path in self.varied]
        if len(varied) == 1 or len(named) == 1:
            return (varied or named)[0]
        if named:
            raise _Problem(f"{text!r}: {key!r} could be {' or '.join(named)}; write the "
                           "dotted setting")
        leaves = [path.rsplit(".", 1)[-1] for path in self.varied] + list(self.paths)
        close = difflib.get_close_matches(key, leaves, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _Problem(f"{text!r}: no setting {key!r}{hint}")

    def value_test(self, path: str, value: str, text: str):
        """A predicate on runs: does this run's setting at `path` have `value`?"""
        if any(char in value for char in "*?"):
            def glob(run) -> bool:
                return any(fnmatch.fnmatchcase(shown, value) for shown in self.shown(run, path))
            return glob
        info = self.paths[path]
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata \
            else info.annotation
        adapter = TypeAdapter(annotation)
        try:
            expected = adapter.dump_python(adapter.validate_python(value), mode="json")
        except ValidationError as error:
            message = error.errors()[0]["msg"].removeprefix("Value error, ")
            raise _Problem(f"{text!r}: {path}={value}: {message}") from None
        return lambda run: _at(self.dumps[run.id], path) == expected

    def shown(self, run, path: str) -> set[str]:
        """How a run's value of a setting can read: as the suite wrote it, and as it parsed."""
        shown = {display_value(_at(self.dumps[run.id], path), path)}
        shown |= {display_value(value, key) for key, value in run.changes if key == path}
        return shown

    def rule_set(self, ref: MetricRef, runs: list, text: str) -> str | None:
        if ref.metric not in RATE_METRICS:
            return None
        name = ref.rule_set or self.runs[0].spec.text.scoring[0]
        unscored = [run for run in runs if name not in run.spec.text.scoring]
        if unscored:
            run = unscored[0]
            how = "" if ref.rule_set else " (a bare metric means the baseline's first one)"
            raise _Problem(f"{text!r}: run {run.slug!r} is not scored with {name!r}{how}; its "
                           f"text.scoring: {', '.join(run.spec.text.scoring)}")
        return name


    def decoder(self, ref: MetricRef, runs: list, text: str) -> str:
        """The decoder a side reads (greedy when it names none), known to the baseline's
        `eval.decoders` and decoded for every run it names."""
        if ref.decoder is None:
            return GREEDY
        known = [d.name for d in self.runs[0].spec.eval.decoders]
        if ref.decoder not in known:
            close = difflib.get_close_matches(ref.decoder, known + list(RULE_SET_NAMES), n=1,
                                              cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            either = ("" if ref.rule_set else
                      f", nor a text rule set ({', '.join(RULE_SET_NAMES)})")
            raise _Problem(f"{text!r}: {ref.decoder!r} is no decoder of the baseline's "
                           f"eval.decoders ({', '.join(known)}){either}{hint}")
        undecoded = [run for run in runs if run.spec.eval.decoder(ref.decoder) is None]
        if undecoded:
            run = undecoded[0]
            raise _Problem(f"{text!r}: run {run.slug!r} is not decoded with {ref.decoder!r}; "
                           "its eval.decoders: "
                           + ", ".join(d.name for d in run.spec.eval.decoders))
        return ref.decoder


def _pairs(comparison: Comparison, left: Side, right: Side) -> tuple:
    """Which runs a relation compares: run by run when both sides select the same runs
    (`wer.whisper[*] <= wer.blog[*]`), else each left run with each different right run."""
    if comparison.left.selector == comparison.right.selector:
        pairs = tuple(zip(left.runs, right.runs, strict=True))
    else:
        pairs = tuple((a, b) for a in left.runs for b in right.runs if a != b)
    same_metric = left.label == right.label
    return tuple((a, b) for a, b in pairs if a != b or not same_metric)


def _at(dump: dict, path: str) -> Any:
    node: Any = dump
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node
