"""harness.train.state: the typed counters of a run survive a checkpoint's JSON, old and new."""

from __future__ import annotations

import json

import pytest

from harness.train.state import TrainState, Window

# trainer_state.json as the string-keyed loop wrote it before the state had a type (same keys).
OLD_PAYLOAD = {
    "step": 10, "sampler": {"epoch": 1, "position": 3, "seed": 0}, "audio_seconds": 120.5,
    "padded_seconds": 130.0, "train_seconds": 4.0, "elapsed_s": 5.5, "final_loss": 2.25,
    "skipped_updates": 1, "resumed_from_step": None,
    "window": {"updates": 2, "loss": 4.5, "grad_norm": 1.0, "audio": 24.0, "padded": 26.0,
               "seconds": 0.8},
}


def test_an_old_checkpoint_state_loads_and_saves_back_the_same_json():
    """A trainer_state.json of the untyped loop reads into TrainState and writes back equal."""
    state = TrainState.from_json(json.loads(json.dumps(OLD_PAYLOAD)))
    assert state.step == 10 and state.sampler["position"] == 3 and state.window.updates == 2
    assert state.to_json() == OLD_PAYLOAD


def test_an_unknown_key_is_refused():
    """A checkpoint written by other code (an extra counter) is not silently half-read."""
    with pytest.raises(TypeError):
        TrainState.from_json({**OLD_PAYLOAD, "tokens_seen": 5})


def test_accounting_sums_the_window_and_the_totals():
    """Two updates: the window's means and the run totals are the hand-summed figures."""
    state = TrainState(sampler={"epoch": 0, "position": 0, "seed": 0})
    state.account(loss=3.0, grad_norm=2.0, audio=10.0, padded=12.0, seconds=0.5)
    state.account(loss=1.0, grad_norm=float("inf"), audio=20.0, padded=28.0, seconds=1.5)
    # loss (3 + 1) / 2 = 2; grad norm (2 + 0 for the non-finite one) / 2 = 1;
    # audio-s/s 30 / 2 = 15; padding 1 - 30 / 40 = 0.25
    assert state.take_window().means() == {"loss": 2.0, "grad_norm": 1.0,
                                           "audio_seconds_per_s": 15.0, "padding_fraction": 0.25}
    assert state.window == Window()
    assert (state.audio_seconds, state.padded_seconds, state.train_seconds, state.final_loss) \
        == (30.0, 40.0, 2.0, 1.0)


def test_an_empty_window_reports_zeros_not_a_division_error():
    """No update since the last line (a resumed run logging at once): zeros, no ZeroDivision."""
    assert Window().means() == {"loss": 0.0, "grad_norm": 0.0, "audio_seconds_per_s": 0.0,
                                "padding_fraction": 0.0}
