"""How a setting's value reads in slugs, plans, tables, records and error messages (a leaf:
imports nothing)."""

from __future__ import annotations

from typing import Any


def display_value(value: Any, key: str = "") -> str:
    """How a value reads in a slug: '3e-4' stays '3e-4', True -> 'true', [a, b] -> 'a+b'."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "all" if key.endswith("labeled") else "none"  # labeled: all = the whole pool
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "+".join(display_value(item) for item in value)
    if isinstance(value, dict):
        return ";".join(f"{key}:{display_value(item)}" for key, item in value.items())
    return str(value)


def shown(value: Any) -> str:
    """A user's value as a message quotes it: its repr, or its start and size when long."""
    if isinstance(value, str) and len(value) > 60:
        return f"{value[:40]!r}... ({len(value)} characters)"
    text = repr(value)  # ints are at most 4300 digits (config.yamlsource), so repr cannot fail
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"
