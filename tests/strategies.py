"""Hypothesis strategies shared by the property tests (one place, per DESIGN.md).

Each module's strategies live in their own section below; add to your section only.
"""

from __future__ import annotations

from hypothesis import strategies as st  # noqa: F401

# --- spec (suite files) ------------------------------------------------------

# --- text (normalization, vocabulary, CTC) -------------------------------------

# --- scoring ---------------------------------------------------------------------

# --- data ------------------------------------------------------------------------
