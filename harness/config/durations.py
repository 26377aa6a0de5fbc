"""Durations as people write them in suite files: `90s`, `10min`, `1h`, `5h`, `1h30min`, `2.5h`."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"h": 3600.0, "min": 60.0, "s": 1.0}
# One or more <number><unit> parts, largest unit first: "1h30min", "10min", "90s", "1.5h".
_PART = re.compile(r"(\d+(?:\.\d+)?)(h|min|s)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:h|min|s))+$")


def parse_duration(value: object) -> float:
    """Seconds from `'1h30min'` -> 5400.0; a bare number is seconds (`90` -> 90.0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 10min or 1h, got {value!r}")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(f"a duration must be positive, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 10min or 1h, got {value!r}")
    text = value.strip().lower().replace(" ", "")
    if not _WHOLE.match(text):
        raise ValueError(
            f"cannot read {value!r} as a duration: write e.g. 90s, 10min, 1h, 1h30min or 2.5h"
        )
    units = [unit for _, unit in _PART.findall(text)]
    if len(set(units)) != len(units) or units != sorted(units, key=lambda u: -_UNIT_SECONDS[u]):
        raise ValueError(f"cannot read {value!r} as a duration: give each unit once, largest first")
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form: 600.0 -> '10min', 5400.0 -> '1h30min', 45.5 -> '45.5s'."""
    whole = round(seconds)
    if abs(seconds - whole) > 1e-9:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}min" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"
