"""The expectation grammar: text -> a small syntax tree -> text again, with no `eval` anywhere.

    expectation := operand COMPARATOR operand ["significantly"]
    operand     := metric | number
    metric      := NAME ["." RULE_SET] ["." DECODER] ["[" selector "]"]
                                              wer, wer.whisper[labeled=1h], wer.blog.ngram[*]
    selector    := "*" | "baseline" | setting "=" value ("," setting "=" value)*
    number      := 0.25 | 25% | 1e-3                             (25% reads as 0.25)
    COMPARATOR  := <  <=  >  >=

A metric without a selector means every run (`[*]`). Values are bare (`3e-4`, `1h`,
`encoder_for_steps:100`, globs `*` and `?`) or double-quoted with `\\"` and `\\\\` escapes.
A single name after the metric is a rule set when it is one (harness.text.normalize), else a
decoder of `eval.decoders` (`wer.ngram`): decoder names never equal a rule set's. This module
only reads and prints; which runs a selector names, which rule set a bare `wer` means and
whether a decoder exists are decided against a suite in `harness.expect.resolve`.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from dataclasses import dataclass

from harness.errors import UserError
from harness.text.normalize import RULE_SET_NAMES

# Metrics a run record holds: error rates per scoring rule set, and figures of its training.
RATE_METRICS = ("wer", "cer")
TRAIN_METRICS = ("final_loss", "train_seconds")
METRICS = RATE_METRICS + TRAIN_METRICS
COMPARATORS = ("<", "<=", ">", ">=")

_GRAMMAR = r"""
    start: operand COMPARATOR operand SIGNIFICANTLY?
    ?operand: metric | number
    metric: NAME ("." NAME)? ("." NAME)? ("[" selection "]")?
    selection: STAR                              -> every_run
             | NAME                              -> named_run
             | condition ("," condition)*        -> conditions
    condition: setting "=" (VALUE | QUOTED)
    setting: NAME ("." NAME)*
    number: NUMBER PERCENT?

    COMPARATOR: "<=" | ">=" | "<" | ">"
    SIGNIFICANTLY: "significantly"
    STAR: "*"
    PERCENT: "%"
    NAME: /[A-Za-z_][A-Za-z0-9_]*/
    NUMBER: /(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/
    VALUE: /[A-Za-z0-9_.:+\-;*?\/]+/
    QUOTED: /"([^"\\]|\\["\\])*"/
    %ignore /[ \t]+/
"""
_BARE_VALUE = re.compile(r"[A-Za-z0-9_.:+\-;*?/]+")


@functools.cache
def _lark():
    """The parser and the lark module it was built with, on first use (a suite file without
    expectations never imports lark). Kept together so the exception and node classes checked
    below are always the parser's own, even if `lark` is imported afresh later."""
    import lark

    return lark.Lark(_GRAMMAR, parser="lalr", lexer="contextual"), lark


class ParseError(UserError):
    """An expectation that is not well formed; the message quotes it and points at the problem."""


@dataclass(frozen=True)
class Number:
    """A bound as written: 0.25, or 25 with percent=True (both mean a rate of 0.25)."""

    value: float
    percent: bool = False

    @property
    def amount(self) -> float:
        """The number the metric is compared with (25% -> 0.25)."""
        return self.value / 100 if self.percent else self.value

    def __str__(self) -> str:
        digits = repr(self.value)  # repr: the shortest text that reads back as the same float
        return digits.removesuffix(".0") + ("%" if self.percent else "")


@dataclass(frozen=True)
class Selector:
    """Which runs: every run, the baseline, or the runs at given setting values."""

    kind: str  # "every", "baseline" or "settings"
    conditions: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        if self.kind == "every":
            return "*"
        if self.kind == "baseline":
            return "baseline"
        return ",".join(f"{key}={_print_value(value)}" for key, value in self.conditions)


EVERY_RUN = Selector("every")


@dataclass(frozen=True)
class MetricRef:
    """A metric of the runs a selector names, under a rule set (None: the suite's first) and
    a decoder (None: greedy).

    Built with a rule set that is no rule set's name and no decoder, the name is the decoder
    (MetricRef('wer', 'ngram') is wer.ngram), as the text `wer.ngram` reads: an object means
    what its printed form does.
    """

    metric: str
    rule_set: str | None
    selector: Selector = EVERY_RUN
    decoder: str | None = None

    def __post_init__(self):
        if self.decoder is None and self.rule_set is not None and (
                self.rule_set not in RULE_SET_NAMES):
            object.__setattr__(self, "decoder", self.rule_set)
            object.__setattr__(self, "rule_set", None)

    @property
    def name(self) -> str:
        """'wer', 'wer.whisper', 'wer.ngram' or 'wer.whisper.ngram'."""
        return self.metric + "".join(f".{part}" for part in (self.rule_set, self.decoder)
                                     if part)

    def __str__(self) -> str:
        return f"{self.name}[{self.selector}]"


Operand = MetricRef | Number


@dataclass(frozen=True)
class Comparison:
    """left COMPARATOR right, optionally 'significantly' (a paired bootstrap must agree)."""

    left: Operand
    comparator: str
    right: Operand
    significantly: bool = False

    def __str__(self) -> str:
        text = f"{self.left} {self.comparator} {self.right}"
        return text + (" significantly" if self.significantly else "")


def parse_expression(text: str) -> Comparison:
    """Parse one expectation; any malformed input raises ParseError quoting it."""
    parser, lark = _lark()
    if not isinstance(text, str):
        raise ParseError(f"an expectation is a string such as 'wer[labeled=1h] <= 0.25', "
                         f"not {type(text).__name__}")
    try:
        tree = parser.parse(text)
    except lark.exceptions.UnexpectedInput as error:
        raise ParseError(_syntax_message(text, error)) from None
    except lark.exceptions.LarkError as error:  # any other lark error: still the input's fault
        raise ParseError(f"{text!r}: cannot read it ({error})") from None
    left, comparator, right, *significantly = tree.children
    comparison = Comparison(_operand(left, text), str(comparator), _operand(right, text),
                            bool(significantly))
    _check_meaning(comparison, text)
    return comparison


def _syntax_message(text: str, error) -> str:
    exceptions = _lark()[1].exceptions
    column = getattr(error, "column", None)
    token = getattr(error, "token", None)
    at_end = isinstance(error, exceptions.UnexpectedEOF) or getattr(token, "type", None) == "$END"
    if not text.strip():
        where = "it is empty"
    elif at_end or not isinstance(column, int) or column < 1:
        where = "it ends too early"
    elif isinstance(error, exceptions.UnexpectedCharacters):
        where = f"unexpected {text[column - 1]!r} at column {column}"
    else:
        where = f"unexpected {str(token)!r} at column {column}"
    return (f"{text!r}: {where}; an expectation reads like 'wer[labeled=1h] <= 0.25' or "
            "'wer[labeled=1h] < wer[labeled=10min] significantly'")


def _operand(node, text: str) -> Operand:
    lark = _lark()[1]
    if node.data == "number":
        digits, *percent = node.children
        value = float(digits)
        if not math.isfinite(value):
            raise ParseError(f"{text!r}: {digits} is too large a number")
        return Number(value, bool(percent))
    names = [str(child) for child in node.children if isinstance(child, lark.Token)]
    metric, qualifiers = names[0], names[1:]
    rule_set = decoder = None
    if len(qualifiers) == 2:
        rule_set, decoder = qualifiers
        if rule_set not in RULE_SET_NAMES and decoder in RULE_SET_NAMES:
            raise ParseError(f"{text!r}: write the rule set first, then the decoder: "
                             f"{metric}.{decoder}.{rule_set}")
    elif qualifiers and qualifiers[0] in RULE_SET_NAMES:
        rule_set = qualifiers[0]
    elif qualifiers:
        decoder = qualifiers[0]
    selection = next((child for child in node.children if isinstance(child, lark.Tree)), None)
    return MetricRef(_known_metric(metric, text), rule_set, _selector(selection, text), decoder)


def _known_metric(metric: str, text: str) -> str:
    if metric in METRICS:
        return metric
    close = difflib.get_close_matches(metric.lower(), METRICS, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(METRICS)}"
    raise ParseError(f"{text!r}: unknown metric {metric!r} ({hint})")


def _selector(selection, text: str) -> Selector:
    if selection is None or selection.data == "every_run":
        return EVERY_RUN
    if selection.data == "named_run":
        name = str(selection.children[0])
        if name == "baseline":
            return Selector("baseline")
        raise ParseError(f"{text!r}: unknown run selector {name!r}: use baseline, * or "
                         "setting=value such as lr=3e-4")
    conditions = []
    for condition in selection.children:
        setting, value = condition.children
        key = ".".join(str(part) for part in setting.children)
        conditions.append((key, _read_value(str(value))))
    keys = [key for key, _ in conditions]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ParseError(f"{text!r}: {repeated[0]!r} is given twice in one selector")
    return Selector("settings", tuple(conditions))


def _read_value(token: str) -> str:
    if not token.startswith('"'):
        return token
    return re.sub(r"\\(.)", r"\1", token[1:-1])  # only \" and \\ can occur (see QUOTED)


def _print_value(value: str) -> str:
    if _BARE_VALUE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_meaning(comparison: Comparison, text: str) -> None:
    """What the grammar lets through but cannot mean anything."""
    sides = (comparison.left, comparison.right)
    metrics = [side for side in sides if isinstance(side, MetricRef)]
    if not metrics:
        raise ParseError(f"{text!r}: compares two numbers; name a metric, e.g. wer[baseline]")
    for ref in metrics:
        if (ref.rule_set or ref.decoder) is not None and ref.metric not in RATE_METRICS:
            raise ParseError(f"{text!r}: {ref.metric} is a training figure and has no rule set "
                             f"or decoder (only {' and '.join(RATE_METRICS)} do)")
    for side in sides:
        bound_is_rate = any(ref.metric in RATE_METRICS for ref in metrics)
        # A rate can pass 1 (insertions), but a bound above 2 is a percentage written bare.
        if isinstance(side, Number) and bound_is_rate and not side.percent and side.value > 2:
            raise ParseError(f"{text!r}: rates are fractions (0.25 is 25%); write {side.value:g}% "
                             "if you mean percent")
    if comparison.significantly:
        if len(metrics) < 2 or any(ref.metric not in RATE_METRICS for ref in metrics):
            raise ParseError(f"{text!r}: 'significantly' compares the wer or cer of runs on the "
                             "same test utterances (a paired bootstrap), e.g. "
                             "wer[labeled=1h] < wer[labeled=10min] significantly")
        if metrics[0].metric != metrics[1].metric:
            raise ParseError(f"{text!r}: 'significantly' needs the same metric on both sides")
