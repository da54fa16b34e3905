"""Batch samplers whose order depends only on ``(seed, epoch)``, so a resumed run sees the same batches.

:class:`ClassAwareBatchSampler` builds every batch from groups of ``k`` samples of one class, so that
each low-quality sample finds same-class high-quality skeletons in its batch. The positive set ``B_i^P``
of L_pmsc (Eq. 9) is otherwise often empty: in a random batch of 32 from 60 balanced classes a sample has
no same-class partner with probability (59/60)^31 = 0.59. Both samplers are given to a loader as its
``batch_sampler`` and re-drawn by ``set_epoch``.

With several processes (:mod:`.distributed`), :class:`ShardedBatchSampler` gives each rank its slice of
every global batch, and :class:`ShardSampler` its share of an evaluation set.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from .seed import epoch_generator


class RandomBatchSampler(Sampler[list[int]]):
    """Every dataset position once per epoch, shuffled, in batches of ``batch_size`` (the last may be smaller).

    Args:
        num_samples: dataset length.
        batch_size: samples per batch.
        seed: run seed; the order of epoch ``e`` is drawn from ``(seed, e)``.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int = 0) -> None:
        if num_samples <= 0 or batch_size <= 0:
            raise ValueError(f"need num_samples > 0 and batch_size > 0, got {num_samples} and {batch_size}")
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        order = epoch_generator(self.seed, self.epoch).permutation(self.num_samples)
        for start in range(0, self.num_samples, self.batch_size):
            yield order[start : start + self.batch_size].tolist()

    def __len__(self) -> int:
        return -(-self.num_samples // self.batch_size)


class ClassAwareBatchSampler(Sampler[list[int]]):
    """Batches of ``batch_size // k`` groups, each group ``k`` samples of one class.

    Per epoch, each class's samples are shuffled and cut into groups of ``k``; a last, short group is
    topped up with other samples of its class (so every group offers positives), the groups are
    shuffled, and consecutive groups form a batch. Every sample appears at least once per epoch; the
    top-up samples appear twice. A class with fewer than ``k`` samples gives one group of all of them.

    Args:
        labels: class of every dataset position, ``[N]``.
        batch_size: samples per batch (rounded down to a multiple of ``k``).
        samples_per_class: ``k >= 1``.
        seed: run seed; epoch ``e`` is drawn from ``(seed, e)``.
    """

    def __init__(self, labels: Sequence[int] | np.ndarray, batch_size: int, samples_per_class: int, seed: int = 0):
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.labels.ndim != 1 or self.labels.size == 0:
            raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {self.labels.shape}")
        if not 1 <= samples_per_class <= batch_size:
            raise ValueError(f"need 1 <= samples_per_class <= batch_size, got {samples_per_class} and {batch_size}")
        self.k, self.groups_per_batch, self.seed = samples_per_class, batch_size // samples_per_class, seed
        self.members = [np.flatnonzero(self.labels == c) for c in np.unique(self.labels)]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _groups(self, rng: np.random.Generator) -> list[np.ndarray]:
        groups = []
        for members in self.members:
            shuffled = rng.permutation(members)
            for start in range(0, len(shuffled), self.k):
                group = shuffled[start : start + self.k]
                short = min(self.k, len(shuffled)) - len(group)
                if short > 0:
                    group = np.concatenate([group, rng.choice(shuffled[:start], short, replace=False)])
                groups.append(group)
        return groups

    def __iter__(self) -> Iterator[list[int]]:
        rng = epoch_generator(self.seed, self.epoch, salt=1)
        groups = self._groups(rng)
        order = rng.permutation(len(groups))
        for start in range(0, len(groups), self.groups_per_batch):
            yield np.concatenate([groups[g] for g in order[start : start + self.groups_per_batch]]).tolist()

    def __len__(self) -> int:
        num_groups = sum(-(-len(m) // self.k) for m in self.members)
        return -(-num_groups // self.groups_per_batch)


class ShardedBatchSampler(Sampler[list[int]]):
    """Rank ``rank``'s contiguous slice of every batch of ``batches`` (a batch sampler of the whole run).

    The global batches, and so the run, stay a function of ``(seed, epoch)`` whatever the world size:
    rank ``r`` of ``W`` takes positions ``r * n // W`` to ``(r + 1) * n // W`` of each global batch of
    ``n`` samples, so the slices of the ranks, in rank order, are that batch. A global batch of fewer
    than ``W`` samples (only a last, short one can be) would leave a rank without samples and is skipped.

    Args:
        batches: the global batch sampler (:class:`RandomBatchSampler`, :class:`ClassAwareBatchSampler`).
        rank: this process's rank, ``0 <= rank < world_size``.
        world_size: the number of processes ``W``.
    """

    def __init__(self, batches: Sampler[list[int]], rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank} of {world_size}")
        self.batches, self.rank, self.world_size = batches, rank, world_size

    def set_epoch(self, epoch: int) -> None:
        self.batches.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            n = len(batch)
            if n >= self.world_size:
                yield batch[self.rank * n // self.world_size : (self.rank + 1) * n // self.world_size]

    def __len__(self) -> int:
        return sum(len(batch) >= self.world_size for batch in self.batches)


class ShardSampler(Sampler[int]):
    """Rank ``rank``'s contiguous share of ``range(num_samples)``, in order (evaluation: each rank scores
    its shard and the counts are summed, so that every sample is seen exactly once)."""

    def __init__(self, num_samples: int, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank} of {world_size}")
        self.start, self.stop = rank * num_samples // world_size, (rank + 1) * num_samples // world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start
