"""Problems of a suite file, each rendered 'file:line: dotted.key: message', all reported together.

Also the translation of pydantic's validation errors into those messages (unknown keys with a
"did you mean", missing settings, bad values with what was given).
"""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ValidationError

from harness.config.settings import RunSpec
from harness.config.suite import SpecError
from harness.config.values import shown
from harness.config.yamlsource import YamlDocument


class Problems:
    """Collects problems with their key paths, rendered as 'file:line: key: message'."""

    def __init__(self, doc: YamlDocument):
        self.doc = doc
        self.items: list[str] = []

    def add(self, key_path: tuple, message: str) -> None:
        line = self.doc.line_of(key_path)
        where = f"{self.doc.path}:{line}" if line else str(self.doc.path)
        key = dotted(key_path)
        self.items.append(f"{where}: {key}: {message}" if key else f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise SpecError(self.items)


def dotted(key_path: tuple) -> str:
    out = ""
    for part in key_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_keys(mapping: dict, known: dict, key_path: tuple, problems: Problems) -> set[str]:
    """Report keys not in `known`; return the known keys they look like misspellings of."""
    meant = set()
    for key in mapping:
        if key not in known:
            problems.add(key_path + (key,), unknown_key_message(str(key), list(known)))
            close = closest(str(key), list(known))
            if close is not None and close not in mapping:
                meant.add(close)
    return meant


def closest(key: str, known: list[str]) -> str | None:
    """The known key `key` is most likely a misspelling of, if any."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_key_message(key: str, known: list[str]) -> str:
    close = closest(key, known)
    hint = f" (did you mean {close!r}?)" if close else f" (known keys: {', '.join(known)})"
    return f"unknown key {shown(key)}{hint}"


def validate(
    raw: dict, where: tuple, problems: Problems, only_under: tuple | None = None,
    broken: frozenset[tuple] = frozenset(),
) -> RunSpec | None:
    """RunSpec from a raw mapping; problems are added at `where` (+ the setting's path).

    With `only_under` (an axis), only problems on that setting's path are added, and those of a
    section that is already `broken` in the base (see failed_locs) are left to the base's.
    """
    spec, errors = validation_problems(raw)
    for loc, message in errors:
        if only_under is not None:
            if loc[: len(only_under)] != only_under[: len(loc)]:
                continue  # a problem of the base, reported once under base.*
            if len(loc) < len(only_under) and any(loc[:end] in broken
                                                  for end in range(len(loc) + 1)):
                continue  # the section is wrong in the base already (a misspelt name, say)
        if where[:1] == ("axes",):
            problems.add(where, message if loc == only_under else f"{dotted(loc)}: {message}")
        else:
            problems.add(where + loc, message)
    return spec


def validation_problems(raw: dict) -> tuple[RunSpec | None, list[tuple[tuple, str]]]:
    """The spec, or each problem as (loc, message); a required key missing only because it is
    misspelt (`trian:` for `train:`) is left to the misspelling's 'did you mean'."""
    spec, items = _validated(raw)
    misspelt = {loc[:-1] + (meant,) for loc, meant in
                ((tuple(item["loc"]), _meant(item)) for item in items) if meant is not None}
    return spec, [
        (tuple(item["loc"]), _pydantic_message(item, tuple(item["loc"])))
        for item in items
        if not (item["type"] == "missing" and tuple(item["loc"]) in misspelt)
    ]


def failed_locs(raw: dict) -> frozenset[tuple]:
    """Where validating `raw` fails, the places only missing because misspelt included."""
    return frozenset(tuple(item["loc"]) for item in _validated(raw)[1])


def _validated(raw: dict) -> tuple[RunSpec | None, list[dict]]:
    try:
        return RunSpec.model_validate(raw), []
    except ValidationError as error:
        return None, error.errors()


def _meant(item: dict) -> str | None:
    """For an unknown key, the known key it looks like a misspelling of."""
    if item["type"] != "extra_forbidden":
        return None
    loc = tuple(item["loc"])
    parent = _model_at(loc[:-1])
    return closest(str(loc[-1]), _known(parent)) if parent else None


def _known(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _pydantic_message(item: dict, loc: tuple) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        return unknown_key_message(str(loc[-1]), _known(parent) if parent else [])
    if kind == "missing":
        return "required setting is missing"
    message = item["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind not in ("value_error", "assertion_error") and "input" in item:
        message = f"{message} (got {shown(item['input'])})"
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
