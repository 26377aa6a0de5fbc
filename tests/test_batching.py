"""Duration-bucketed batches: the cap, coverage, shuffling, ranks, resume, padding, collation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data.batching import DurationBatchSampler, collate, cut_batches
from tests.strategies import utterance_durations


def _padded(durations: np.ndarray, batch: list[int]) -> float:
    return len(batch) * durations[batch].max()


@given(durations=utterance_durations, cap=st.floats(1.0, 120.0),
       max_size=st.one_of(st.none(), st.integers(1, 64)), seed=st.integers(0, 2**16))
@settings(max_examples=150, deadline=None)
def test_every_batch_respects_the_caps(durations, cap, max_size, seed):
    """Each batch's padded seconds fit the cap (or it is one oversized utterance) and its size."""
    sampler = DurationBatchSampler(durations, cap, max_batch_size=max_size, seed=seed)
    values = np.asarray(durations)
    for batch in sampler.plan().batches:
        assert _padded(values, batch) <= cap + 1e-9 or len(batch) == 1
        assert max_size is None or len(batch) <= max_size
    oversized = int(np.sum(values > cap))
    assert sampler.plan().oversized == oversized


@given(durations=utterance_durations, cap=st.floats(1.0, 120.0), seed=st.integers(0, 2**16),
       epoch=st.integers(0, 50))
@settings(max_examples=150, deadline=None)
def test_an_epoch_covers_every_utterance_once(durations, cap, seed, epoch):
    """One rank's epoch is a partition of all utterances: nothing dropped, nothing repeated."""
    sampler = DurationBatchSampler(durations, cap, seed=seed)
    seen = [i for batch in sampler.plan(epoch).batches for i in batch]
    assert sorted(seen) == list(range(len(durations)))


@given(durations=utterance_durations, cap=st.floats(1.0, 60.0), seed=st.integers(0, 2**16),
       world=st.integers(1, 8))
@settings(max_examples=150, deadline=None)
def test_ranks_share_the_epoch_evenly(durations, cap, seed, world):
    """All ranks get the same number of batches; together they cover everything; repeats counted."""
    plans = [DurationBatchSampler(durations, cap, seed=seed, num_replicas=world, rank=r).plan()
             for r in range(world)]
    assert len({len(plan.batches) for plan in plans}) == 1
    everything = [i for plan in plans for batch in plan.batches for i in batch]
    assert set(everything) == set(range(len(durations)))
    unique_batches = len(DurationBatchSampler(durations, cap, seed=seed).plan().batches)
    assert len(plans[0].batches) * world - unique_batches == plans[0].repeated_batches
    assert plans[0].repeated_batches < world


def test_shuffling_is_seeded_and_changes_with_the_epoch():
    """The same seed and epoch give the same batches; another epoch or seed gives others."""
    durations = np.random.default_rng(0).uniform(1, 8, size=400)
    first = DurationBatchSampler(durations, 40, seed=3)
    again = DurationBatchSampler(durations, 40, seed=3)
    assert first.plan(0).batches == again.plan(0).batches
    assert first.plan(0).batches != first.plan(1).batches
    assert first.plan(0).batches != DurationBatchSampler(durations, 40, seed=4).plan(0).batches
    # The jitter changes which utterances share a batch, not only the batch order.
    as_sets = lambda plan: {frozenset(b) for b in plan.batches}  # noqa: E731
    assert as_sets(first.plan(0)) != as_sets(first.plan(1))


@given(taken=st.integers(0, 120), world=st.integers(1, 3), seed=st.integers(0, 100))
@settings(max_examples=60, deadline=None)
def test_a_restored_sampler_continues_the_same_sequence(taken, world, seed):
    """Saving (epoch, position) after any number of batches and restoring it gives the same rest."""
    durations = np.random.default_rng(seed).uniform(0.5, 6, size=150)

    def stream(sampler, count):
        out = []
        while len(out) < count:
            out.extend(sampler)
            sampler.next_epoch()
        return out[:count]

    whole = stream(DurationBatchSampler(durations, 20, seed=seed, num_replicas=world), taken + 40)
    first = DurationBatchSampler(durations, 20, seed=seed, num_replicas=world)
    iterator, head = iter(first), []
    while len(head) < taken:
        batch = next(iterator, None)
        if batch is None:
            first.next_epoch()
            iterator = iter(first)
            continue
        head.append(batch)
    restored = DurationBatchSampler(durations, 20, seed=seed, num_replicas=world)
    restored.load_state_dict(first.state_dict())
    assert head + stream(restored, 40) == whole


def test_padding_stays_under_five_percent_on_a_realistic_corpus():
    """On 1,200 utterances of 1-10 s (about an hour) at 60 s per batch, padding is under 5%."""
    durations = np.random.default_rng(1).gamma(4.0, 0.9, size=1200).clip(1, 10)
    sampler = DurationBatchSampler(durations, 60, seed=0)
    for epoch in range(3):
        assert sampler.plan(epoch).padding_fraction < 0.05
    # Without the duration sort (plain shuffled batches of 16), padding is several times higher.
    rng = np.random.default_rng(0)
    order = rng.permutation(len(durations))
    shuffled = [order[i:i + 16] for i in range(0, len(order), 16)]
    padded = sum(len(b) * durations[b].max() for b in shuffled)
    assert 1 - durations.sum() / padded > 3 * sampler.plan(0).padding_fraction


def test_cut_batches_keeps_an_oversized_utterance_alone():
    """An utterance longer than the cap forms its own batch instead of being dropped."""
    durations = np.array([1.0, 1.0, 30.0, 2.0])
    batches = cut_batches(durations, np.argsort(durations), batch_seconds=4.0)
    assert [2] in batches
    assert sorted(i for b in batches for i in b) == [0, 1, 2, 3]


def test_bad_inputs_are_refused_with_a_reason():
    """Empty data, non-positive durations, a bad rank and a foreign checkpoint seed are errors."""
    with pytest.raises(ValueError, match="no training utterances"):
        DurationBatchSampler([], 10)
    with pytest.raises(ValueError, match="2 utterances have a non-positive"):
        DurationBatchSampler([1.0, 0.0, float("nan")], 10)
    with pytest.raises(ValueError, match="rank 2 outside"):
        DurationBatchSampler([1.0], 10, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="batch_seconds must be positive"):
        DurationBatchSampler([1.0], 0).plan()
    sampler = DurationBatchSampler([1.0, 2.0], 10, seed=1)
    with pytest.raises(ValueError, match="seed 0 differs"):
        sampler.load_state_dict({"epoch": 0, "position": 1, "seed": 0})


def test_collate_pads_audio_masks_and_labels():
    """Audio is zero-padded to the longest, the mask marks real samples, labels pad with -100."""
    batch = collate([np.ones(3, np.float32), np.full(5, 2.0, np.float32)], [[4, 5], [6]],
                    attention_mask=True)
    assert batch["input_values"].tolist() == [[1, 1, 1, 0, 0], [2, 2, 2, 2, 2]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [[4, 5], [6, -100]]
    assert batch["input_values"].dtype == torch.float32 and batch["labels"].dtype == torch.long
    plain = collate([np.ones(2, np.float32)], None, attention_mask=False)
    assert set(plain) == {"input_values"}
