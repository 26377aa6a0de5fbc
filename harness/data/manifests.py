"""Manifest files as written: JSONL (one object a line) or CSV (a header, then one row a line).

Rows come back with where they are (`file:line`), and every malformed line of a file is named
in one UserError: invalid JSON, a CSV quote left open (it would swallow the rows after it into
one transcript), a CSV row with more or fewer fields than the header. A UTF-8 byte order mark
(Excel's "CSV UTF-8") is read past. What the rows must hold is the source's business
(harness.data.sources).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from harness.errors import UserError

# Malformed manifest rows named in one error, as a file's other errors are.
MAX_PROBLEMS = 20


def problem_list(problems: list[str]) -> str:
    """One message, a problem a line: the first MAX_PROBLEMS and how many more there are."""
    more = len(problems) - MAX_PROBLEMS
    return "\n".join(problems[:MAX_PROBLEMS]) + (f"\n... and {more} more" if more > 0 else "")


def read_manifest(path: Path) -> list[tuple[str, dict]]:
    """(file:line, row) of a JSONL or CSV manifest; every malformed line of it is named in one
    UserError, as is a file that cannot be read or is not UTF-8."""
    try:
        rows, problems = (_jsonl_rows if path.suffix == ".jsonl" else _csv_rows)(path)
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text ({error})") from None
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror or error})") from None
    if problems:
        raise UserError(problem_list(problems))
    return rows


def _jsonl_rows(path: Path) -> tuple[list[tuple[str, dict]], list[str]]:
    rows, problems = [], []
    with path.open(encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(f"{path}:{line_no}: not valid JSON ({error.msg})")
                continue
            if not isinstance(row, dict):
                problems.append(f"{path}:{line_no}: expected a JSON object")
                continue
            rows.append((f"{path}:{line_no}", row))
    return rows, problems


def _csv_rows(path: Path) -> tuple[list[tuple[str, dict]], list[str]]:
    """Rows keyed by the header. No manifest field holds a line break, so a record that runs
    over several lines is an unbalanced quote that swallowed the rows after it; a record with
    more or fewer fields than the header is misaligned. Each is a problem at its first line."""
    rows, problems = [], []
    header: list[str] | None = None
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)  # strict: a quote left open at the end errs
        end = 0
        try:
            for fields in reader:
                start, end = end + 1, reader.line_num
                where = f"{path}:{start}"
                if end > start:
                    problems.append(f"{where}: a quoted field runs on to line {end}, swallowing "
                                    "the rows in between (an unbalanced quote?)")
                    continue
                if not fields:  # a blank line, as csv.DictReader skips it
                    continue
                if header is None:
                    header = fields
                elif len(fields) != len(header):
                    extra = (f": {fields[len(header):]!r} beyond it" if len(fields) > len(header)
                             else "")
                    problems.append(f"{where}: {len(fields)} field(s), the header has "
                                    f"{len(header)} ({', '.join(header)}){extra}")
                else:
                    rows.append((where, dict(zip(header, fields, strict=True))))
        except csv.Error as error:
            problems.append(f"{path}:{end + 1}: {error} (an unbalanced quote?)")
    return rows, problems
