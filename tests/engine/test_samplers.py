from collections import Counter

import numpy as np
import pytest

from pygkd.engine.samplers import ClassAwareBatchSampler, RandomBatchSampler

# class sizes 5, 3, 1, 4
LABELS = np.array([0] * 5 + [1] * 3 + [2] + [3] * 4)


def test_random_batches_cover_every_sample_once_and_vary_by_epoch():
    sampler = RandomBatchSampler(10, batch_size=4, seed=1)
    batches = list(sampler)
    assert [len(b) for b in batches] == [4, 4, 2] and len(sampler) == 3
    assert sorted(sum(batches, [])) == list(range(10))
    sampler.set_epoch(1)
    assert list(sampler) != batches
    sampler.set_epoch(0)
    assert list(sampler) == batches  # the order depends only on (seed, epoch)


def test_class_aware_groups_cover_every_sample_with_k_of_a_class():
    sampler = ClassAwareBatchSampler(LABELS, batch_size=4, samples_per_class=2, seed=0)
    batches = list(sampler)
    # groups: class 0 -> 3 (last topped up), class 1 -> 2 (topped up), class 2 -> 1 (alone), class 3 -> 2 = 8
    # groups, 2 per batch -> 4 batches
    assert len(batches) == len(sampler) == 4
    seen = Counter(sum(batches, []))
    assert set(seen) == set(range(len(LABELS)))
    assert sum(seen.values()) == 5 + 1 + 3 + 1 + 1 + 4
    for batch in batches:
        counts = Counter(LABELS[batch].tolist())
        # every class in a batch comes as whole groups of 2, except the single sample of class 2
        assert all(n % 2 == 0 for c, n in counts.items() if c != 2)


def test_class_aware_topped_up_group_has_no_repeat_within_group():
    sampler = ClassAwareBatchSampler(np.zeros(3, dtype=int), batch_size=2, samples_per_class=2, seed=5)
    for epoch in range(5):
        sampler.set_epoch(epoch)
        for batch in sampler:
            assert len(set(batch)) == 2


def test_class_aware_is_seeded_and_epoch_varying():
    a = ClassAwareBatchSampler(LABELS, 4, 2, seed=3)
    b = ClassAwareBatchSampler(LABELS, 4, 2, seed=3)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


def test_class_aware_rejects_bad_arguments():
    with pytest.raises(ValueError, match="samples_per_class"):
        ClassAwareBatchSampler(LABELS, batch_size=2, samples_per_class=3)
    with pytest.raises(ValueError, match="non-empty"):
        ClassAwareBatchSampler([], batch_size=2, samples_per_class=1)
