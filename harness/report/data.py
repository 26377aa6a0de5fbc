"""The data section: per prepared dataset (distinct data key), its size, skips and OOV characters.

Figures come from the data report stored in each record (harness.data.prepare builds it). The
report is read defensively: every split-like entry (a mapping with an `utterances` count) becomes
a row, every `skipped` mapping of reason -> count becomes skip rows, missing keys leave cells
empty, so an older or newer report shape still renders.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.report.load import SuiteResults

# Split-like entries in the order a reader wants them; any others follow alphabetically.
_SPLIT_ORDER = ("labeled", "train", "dev", "test")


@dataclass(frozen=True)
class Dataset:
    """One prepared dataset of the suite: its key, the runs using it, its stored report."""

    key: str
    slugs: list[str]
    report: dict | None


def datasets(results: SuiteResults) -> list[Dataset]:
    """Distinct data keys in first-use order, each with the first stored report found."""
    out = []
    for key in results.suite.data_keys():
        users = [result for result in results.runs if result.run.data_key == key]
        report = next((result.record["data"]["report"] for result in users
                       if result.record and isinstance((result.record.get("data") or {})
                                                       .get("report"), dict)), None)
        out.append(Dataset(key, [result.run.slug for result in users], report))
    return out


def _number(value) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _split_entries(item: Dataset, shown_pools: set, pool_users: dict) -> list[tuple[str, dict]]:
    """(name, figures) of every mapping with an utterance count, pool splits as 'pool <role>'.

    Subsets of one pool share its splits: those are listed with the first dataset that uses the
    pool only. Entries with the same figures (the labeled subset is the train split) are merged.
    """
    report = item.report or {}
    entries = [(name, value) for name, value in report.items()
               if isinstance(value, dict) and "utterances" in value]

    def order(entry: tuple[str, dict]) -> tuple:
        name = entry[0]
        return (0, _SPLIT_ORDER.index(name), "") if name in _SPLIT_ORDER else (1, 0, name)

    entries.sort(key=order)
    pool, pool_key = report.get("pool"), report.get("pool_key")
    if isinstance(pool, dict) and (pool_key is None or pool_key not in shown_pools):
        shared = pool_users.get(pool_key, 1)
        suffix = f" (pool of {shared} datasets)" if shared > 1 else ""
        entries += [(f"pool {role}{suffix}", value) for role, value in sorted(pool.items())
                    if isinstance(value, dict)]
        shown_pools.add(pool_key)
    merged: list[tuple[str, dict]] = []
    for name, figures in entries:
        same = next((k for k, (_, f) in enumerate(merged) if _row(f) == _row(figures)), None)
        if same is None:
            merged.append((name, figures))
        else:
            merged[same] = (f"{merged[same][0]} = {name}", merged[same][1])
    return merged


def _row(figures: dict) -> dict:
    return {
        "utterances": _number(figures.get("utterances")),
        "hours": _number(figures.get("hours")),
        "speakers": _number(figures.get("speakers")),
        "skipped": _number(figures.get("skipped_total", _skipped_sum(figures.get("skipped")))),
    }


def _entries(sets: list[Dataset]) -> list[tuple[Dataset, str, dict]]:
    pool_users: dict = {}
    for item in sets:
        key = (item.report or {}).get("pool_key")
        pool_users[key] = pool_users.get(key, 0) + 1
    shown: set = set()
    return [(item, name, figures) for item in sets
            for name, figures in _split_entries(item, shown, pool_users)]


def overview_table(sets: list[Dataset]) -> pd.DataFrame:
    """One row per dataset: source, target rule set, vocabulary, OOV test characters."""
    rows = []
    for item in sets:
        report = item.report or {}
        targets = report.get("targets")
        if isinstance(targets, dict):
            targets = " ".join(str(targets[k]) for k in ("name", "version") if targets.get(k))
        rows.append({
            "dataset": item.key,
            "used by": ", ".join(item.slugs),
            "source": report.get("source", "no data report stored"),
            "targets": targets or "",
            "vocabulary": _number(report.get("vocab_size")),
            "test characters not in the vocabulary": oov_text(report),
        })
    return pd.DataFrame(rows)


def oov_text(report: dict) -> str:
    """"'é' x3, 'ü' x1", 'none', or '' when the report does not say."""
    oov = report.get("oov_test_characters")
    if not isinstance(oov, dict):
        return ""
    if not oov:
        return "none"
    return ", ".join(f"{char!r} x{count}" for char, count in oov.items())


def splits_table(sets: list[Dataset]) -> pd.DataFrame:
    """One row per dataset and split: utterances, hours, speakers, skipped utterances."""
    rows = [{"dataset": item.key, "split": name, **_row(figures)}
            for item, name, figures in _entries(sets)]
    return pd.DataFrame(rows, columns=["dataset", "split", "utterances", "hours", "speakers",
                                       "skipped"])


def _skipped_sum(skipped) -> int | None:
    return sum(skipped.values()) if isinstance(skipped, dict) else None


def skipped_table(sets: list[Dataset]) -> pd.DataFrame:
    """Skipped utterances by dataset, split and reason (reasons with a zero count left out)."""
    rows = []
    for item, name, figures in _entries(sets):
        skipped = figures.get("skipped")
        if not isinstance(skipped, dict):
            continue
        for reason, count in sorted(skipped.items()):
            if count:
                rows.append({"dataset": item.key, "split": name, "reason": reason,
                             "count": _number(count)})
    return pd.DataFrame(rows, columns=["dataset", "split", "reason", "count"])
