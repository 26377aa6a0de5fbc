"""Hypothesis strategies shared by the property tests (one place, per DESIGN.md).

Each module's strategies live in their own section below; add to your section only.
"""

from __future__ import annotations

from hypothesis import strategies as st  # noqa: F401

# --- spec (suite files) ------------------------------------------------------

# Axis key -> strategy for one value; values are compared after parsing, so each strategy
# draws from a set whose members parse to distinct settings.
AXIS_VALUES = {
    "train.lr": st.sampled_from(["1e-4", "3e-4", "1e-3", "3e-3", 0.01, 0.05]),
    "train.seed": st.integers(min_value=0, max_value=10_000),
    "train.freeze": st.sampled_from(
        ["feature_encoder", "none", "encoder_for_steps:100", "layers:2", "layers:1"]
    ),
    "data.labeled": st.sampled_from(["90s", "10min", "1h", "1h30min", "5h", "2.5h"]),
    "train.weight_decay": st.sampled_from([0.0, 0.005, 0.01, 0.1]),
    "model.mask_time_prob": st.sampled_from([0.0, 0.05, 0.3, 0.65]),
}


@st.composite
def suite_axes(draw, max_axes: int = 3, max_values: int = 3) -> dict:
    """A mapping of 1..max_axes distinct axis keys to 1..max_values distinct values each."""
    keys = draw(st.lists(st.sampled_from(sorted(AXIS_VALUES)), min_size=1, max_size=max_axes,
                         unique=True))
    return {key: draw(st.lists(AXIS_VALUES[key], min_size=1, max_size=max_values, unique=True))
            for key in keys}


def minimal_suite(axes: dict, mode: str = "one_at_a_time") -> dict:
    """A valid suite mapping around the tiny preset with the given axes."""
    return {
        "suite": "prop",
        "mode": mode,
        "base": {
            "data": {"source": "synthetic"},
            "model": {"preset": "tiny"},
            "train": {"lr": "1e-3", "max_steps": 10},
        },
        "axes": axes,
    }

# --- text (normalization, vocabulary, CTC) -------------------------------------

# --- scoring ---------------------------------------------------------------------

# --- data ------------------------------------------------------------------------
