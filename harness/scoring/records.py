"""Reading predictions.jsonl: every malformed record is reported with its file:line or index.

A prediction record is {"id", "speaker", "duration", "reference", "hypothesis"} with raw,
un-normalized texts (written by harness/decode/predict.py). `speaker` may be null where a corpus has
none; ids are unique within a run.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from harness.errors import UserError

FIELDS = ("id", "speaker", "duration", "reference", "hypothesis")
_MAX_LISTED_ERRORS = 20  # a broken 2,620-line file should not print 2,620 lines


def load_predictions(path: Path) -> list[dict]:
    """Read a predictions.jsonl file; every malformed line is reported with its line number."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    records, problems = [], []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():  # a blank line (e.g. a trailing one) holds no record
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(f"{path}:{line_no}: not valid JSON ({error.msg})")
                continue
            problems += record_problems(record, f"{path}:{line_no}")
            records.append(record)
    raise_if(problems)
    check_unique_ids(records, str(path))
    return records


def check_records(records: Sequence[dict], source: str = "records") -> None:
    """Raise UserError listing every record that lacks a field or has one of the wrong type."""
    problems = []
    for i, record in enumerate(records):
        problems += record_problems(record, f"{source}[{i}]")
    raise_if(problems)
    check_unique_ids(records, source)


def record_problems(record: object, where: str) -> list[str]:
    """What is wrong with one record, each message prefixed by `where` (file:line or source[i])."""
    if not isinstance(record, dict):
        return [f"{where}: expected a JSON object, got {type(record).__name__}"]
    problems = [f"{where}: missing field '{key}'" for key in FIELDS if key not in record]
    for key in ("reference", "hypothesis"):
        if key in record and not isinstance(record[key], str):
            problems.append(f"{where}: field '{key}' must be a string, got {record[key]!r}")
    if "id" in record and not _is_key(record["id"]):
        problems.append(f"{where}: field 'id' must be a string, got {record['id']!r}")
    if record.get("speaker") is not None and not _is_key(record["speaker"]):
        problems.append(f"{where}: field 'speaker' must be a string or null, got "
                        f"{record['speaker']!r}")
    duration = record.get("duration", 0.0)
    if not _is_number(duration) or not (math.isfinite(duration) and duration >= 0):
        problems.append(f"{where}: field 'duration' must be seconds >= 0, got {duration!r}")
    return problems


def _is_key(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_unique_ids(records: Sequence[dict], source: str) -> None:
    """Each utterance is scored once: a repeated id is an error."""
    repeated = [key for key, n in Counter(str(r["id"]) for r in records).items() if n > 1]
    if repeated:
        raise UserError(
            f"{source}: {len(repeated)} utterance ids occur more than once "
            f"(first: {repeated[0]!r}); each utterance must be scored once"
        )


def raise_if(problems: list[str]) -> None:
    """Raise one UserError with every problem (the first 20 of them), one per line."""
    if not problems:
        return
    shown = problems[:_MAX_LISTED_ERRORS]
    more = len(problems) - len(shown)
    raise UserError("\n".join(shown + ([f"... and {more} more"] if more else [])))

