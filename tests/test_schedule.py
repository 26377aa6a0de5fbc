"""Learning-rate schedules: hand-computed multipliers of the peak lr for linear, constant and
tri_stage, their warmup lengths, their errors, and the LambdaLR that applies them."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from harness.config.settings import TrainSpec
from harness.train.schedule import lr_multiplier, make_scheduler, warmup_updates

TOTAL = 10


def spec(**train) -> TrainSpec:
    return TrainSpec(max_steps=TOTAL, **train)


# linear, warmup 2 of 10 updates: step / 2 up to the warmup, then (10 - step) / (10 - 2).
LINEAR = {
    0: 0.0,  # 0 / 2
    1: 0.5,  # 1 / 2
    2: 1.0,  # end of warmup: (10 - 2) / 8
    3: 0.875,  # (10 - 3) / 8 = 7 / 8
    6: 0.5,  # middle of the decay: (10 - 6) / 8 = 4 / 8
    9: 0.125,  # last update: (10 - 9) / 8 = 1 / 8
    10: 0.0,  # (10 - 10) / 8
    12: 0.0,  # past the end: max(0, -2 / 8)
}


@pytest.mark.parametrize(("step", "expected"), sorted(LINEAR.items()))
def test_linear_warms_up_then_decays_to_zero_at_the_last_update(step, expected):
    """linear: 0 -> 1 over warmup_steps, then down to 0 over the remaining total - warmup."""
    schedule = lr_multiplier(spec(schedule="linear", warmup_steps=2), TOTAL)
    assert schedule(step) == pytest.approx(expected, abs=1e-12)


def test_linear_without_warmup_starts_at_the_peak():
    """warmup_steps 0: the first update runs at the peak and the decay spans all updates."""
    schedule = lr_multiplier(spec(schedule="linear", warmup_steps=0), TOTAL)
    # (10 - 0) / 10, (10 - 5) / 10, (10 - 9) / 10
    assert [schedule(0), schedule(5), schedule(9)] == pytest.approx([1.0, 0.5, 0.1])


def test_warmup_longer_than_the_run_is_cut_to_the_run():
    """warmup_steps past the total warm up over the whole run, never reaching the peak early."""
    settings = spec(schedule="linear", warmup_steps=40)
    assert warmup_updates(settings, TOTAL) == 10  # min(40, 10)
    schedule = lr_multiplier(settings, TOTAL)
    assert [schedule(0), schedule(5), schedule(9)] == pytest.approx([0.0, 0.5, 0.9])  # step / 10


# constant, warmup 4 of 10 updates: step / 4 during warmup, then 1 to the end.
CONSTANT = {0: 0.0, 1: 0.25, 3: 0.75, 4: 1.0, 6: 1.0, 9: 1.0}  # 1/4, 3/4; 1 from step 4 on


@pytest.mark.parametrize(("step", "expected"), sorted(CONSTANT.items()))
def test_constant_warms_up_then_holds_the_peak(step, expected):
    """constant: 0 -> 1 over warmup_steps, then exactly the peak until the last update."""
    schedule = lr_multiplier(spec(schedule="constant", warmup_steps=4), TOTAL)
    assert schedule(step) == pytest.approx(expected, abs=1e-12)


# tri_stage, ratios (0.2, 0.6, 0.2) of 10 updates: warmup 2, hold 6, decay 2, final scale 0.01.
# Warmup 0.01 + 0.99 * step / 2; hold 1; decay exp(-ln(100) / 2 * k) = 100 ** (-k / 2) = 10 ** -k.
TRI_STAGE = {
    0: 0.01,  # 0.01 + 0.99 * 0 / 2
    1: 0.505,  # 0.01 + 0.99 * 1 / 2 = 0.01 + 0.495
    2: 1.0,  # hold starts
    3: 1.0,  # inside the hold
    7: 1.0,  # last update of the hold (2 + 6 - 1)
    8: 1.0,  # decay starts: 10 ** -0
    9: 0.1,  # last update: 10 ** -1
    10: 0.01,  # 10 ** -2 = final_lr_scale
    15: 0.01,  # past the end: stays at final_lr_scale
}


@pytest.mark.parametrize(("step", "expected"), sorted(TRI_STAGE.items()))
def test_tri_stage_warms_up_holds_then_decays_exponentially(step, expected):
    """tri_stage: 0.01 -> 1 over the warmup share, 1 over the hold share, then exponential
    decay to final_lr_scale over the decay share."""
    settings = spec(schedule="tri_stage", stage_ratios=(0.2, 0.6, 0.2), final_lr_scale=0.01)
    assert lr_multiplier(settings, TOTAL)(step) == pytest.approx(expected, rel=1e-9)


def test_tri_stage_with_a_zero_final_scale_decays_to_about_zero():
    """final_lr_scale 0 decays to ~0 (1e-12) rather than failing on log(0)."""
    settings = spec(schedule="tri_stage", stage_ratios=(0.2, 0.6, 0.2), final_lr_scale=0.0)
    schedule = lr_multiplier(settings, TOTAL)
    # decay 2 updates from 1 to 1e-12: halfway is sqrt(1e-12) = 1e-6
    assert [schedule(8), schedule(9), schedule(10)] == pytest.approx([1.0, 1e-6, 1e-12])


@pytest.mark.parametrize(
    ("train", "expected"),
    [
        ({"schedule": "linear", "warmup_steps": 3}, 3),
        ({"schedule": "constant", "warmup_steps": 3}, 3),
        # the first stage, 0.2 x 10, whatever warmup_steps says
        ({"schedule": "tri_stage", "warmup_steps": 7, "stage_ratios": (0.2, 0.6, 0.2)}, 2),
        ({"schedule": "tri_stage", "stage_ratios": (0.3, 0.3, 0.4)}, 3),  # 0.3 x 10
    ],
)
def test_warmup_updates_per_schedule(train, expected):
    """warmup_updates is warmup_steps for linear/constant and the first stage for tri_stage."""
    assert warmup_updates(spec(**train), TOTAL) == expected


@pytest.mark.parametrize("schedule", ["linear", "constant", "tri_stage"])
def test_a_schedule_needs_at_least_one_update(schedule):
    """total < 1 is a ValueError for every schedule."""
    with pytest.raises(ValueError, match="at least one update"):
        lr_multiplier(spec(schedule=schedule), 0)


def test_stage_ratios_not_summing_to_one_are_rejected():
    """Ratios summing to 0.9 fail in the settings and, if they get past them, in the schedule."""
    with pytest.raises(ValidationError, match="sum to 1"):
        spec(schedule="tri_stage", stage_ratios=(0.2, 0.3, 0.4))
    unchecked = TrainSpec.model_construct(
        max_steps=TOTAL, schedule="tri_stage", stage_ratios=(0.2, 0.3, 0.4), final_lr_scale=0.05)
    with pytest.raises(ValueError, match="summing to 1"):
        lr_multiplier(unchecked, TOTAL)


def test_scheduler_sets_the_optimizer_lr_to_peak_times_multiplier():
    """After k scheduler steps a real optimizer's lr is the peak x the multiplier of update k."""
    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scheduler = make_scheduler(optimizer, spec(schedule="linear", warmup_steps=2), TOTAL)
    seen = [optimizer.param_groups[0]["lr"]]
    for _ in range(TOTAL):
        weight.grad = torch.ones(2)
        optimizer.step()
        scheduler.step()
        seen.append(optimizer.param_groups[0]["lr"])
    # 0.1 x LINEAR: 0, 1/2, then (10 - k) / 8 for k = 2..10
    assert seen == pytest.approx([0.0, 0.05, 0.1, 0.0875, 0.075, 0.0625, 0.05, 0.0375, 0.025,
                                  0.0125, 0.0], abs=1e-12)
    assert scheduler.get_last_lr() == pytest.approx([0.0], abs=1e-12)
