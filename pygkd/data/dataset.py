"""Torch datasets over a prepared store: :class:`SkeletonDataset` yields one stream's graphs (teacher
training, evaluation), :class:`PairDataset` yields LQ/HQ pairs of the same instance (student training).

Both read one sample at a time from the memory-mapped store, build a :class:`SkeletonData` whose
``index`` (``[1]``, the sample's position in the prepared dataset) seeds the random transforms, and
apply the stream's transform. An LQ stream may be one the store does not hold: ``lq=("hq",
SynthesizeLQ(...))`` degrades the HQ skeletons on the fly.

:meth:`SkeletonDataset.batch` builds a whole batch at once, densely (:mod:`.dense`), with the same values as
collating the per-sample graphs; :class:`BatchedView` hands it to a ``torch.utils.data.DataLoader``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torch_geometric.data import Batch
from torch_geometric.transforms import Compose

from .raw import DataFormatError
from .dense import DenseBatch, graph_batch, read_batch
from .skeleton_data import SkeletonData, SkeletonPair
from .store import PreparedDataset

Transform = Callable[[SkeletonData], SkeletonData]
StreamSpec = tuple[str, Transform | None]


def _prepared(prepared: PreparedDataset | str | Path) -> PreparedDataset:
    return prepared if isinstance(prepared, PreparedDataset) else PreparedDataset(prepared)


def _indices(prepared: PreparedDataset, indices: Sequence[int] | np.ndarray | None) -> np.ndarray:
    if indices is None:
        return np.arange(len(prepared), dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size and not (0 <= indices.min() and indices.max() < len(prepared)):
        raise IndexError(f"sample indices must lie in 0..{len(prepared) - 1} of {prepared.root}")
    return indices


def _require_stream(prepared: PreparedDataset, stream: str, indices: np.ndarray) -> None:
    """Every sample of ``indices`` must have ``stream``; names the first one that lacks it."""
    lacking = indices[prepared.frame_counts(stream)[indices] == 0]
    if lacking.size:
        i = int(lacking[0])
        raise DataFormatError(
            f"{prepared.root}: {lacking.size} of {indices.size} samples lack the {stream!r} stream, "
            f"the first is #{i} {prepared.sample_ids[i]!r}"
        )


def load_graph(prepared: PreparedDataset, stream: str, i: int, transform: Transform | None) -> SkeletonData:
    """Sample ``i`` of ``stream`` as a :class:`SkeletonData` with ``index`` set, after ``transform``.

    Raises:
        DataFormatError: naming the sample, when its stored keypoints or the transform's output hold a
            NaN or an infinity (caught here, not an epoch later as a diverging loss).
    """
    keypoints = prepared.keypoints(stream, i)
    data = SkeletonData.from_keypoints(keypoints, prepared.streams[stream].layout, int(prepared.labels[i]),
                                       prepared.sample_ids[i])
    data.index = torch.tensor([i], dtype=torch.long)
    if transform is not None:
        data = transform(data)
    # one check of what the network will see (numpy's: ten times faster than torch's on the CPU here)
    x = data.x
    if not (np.isfinite(x.numpy()).all() if x.device.type == "cpu" else torch.isfinite(x).all()):
        stored = np.argwhere(~np.isfinite(keypoints))
        if stored.size:
            raise _non_finite(prepared, stream, i, "stored keypoints", stored[0])
        raise _non_finite(prepared, stream, i, f"output of the transform {' '.join(repr(transform).split())}", None)
    return data


def _non_finite(prepared: PreparedDataset, stream: str, i: int, what: str, at: np.ndarray | None) -> DataFormatError:
    where = "" if at is None else f" (person {at[0]}, frame {at[1]}, joint {at[2]}, channel {at[3]})"
    return DataFormatError(
        f"{prepared.root}: sample #{i} {prepared.sample_ids[i]!r}, stream {stream!r}: non-finite value in the "
        f"{what}{where}"
    )


def dense_steps(transform: Transform | None) -> list | None:
    """The steps of ``transform`` (a ``Compose``, one transform, or None: no step) when every step has a
    ``dense`` method (``DenseBatch -> DenseBatch``), else None."""
    steps = [] if transform is None else list(transform.transforms) if isinstance(transform, Compose) else [transform]
    return steps if all(callable(getattr(step, "dense", None)) for step in steps) else None


def set_transform_epoch(transform: Transform | None, epoch: int) -> None:
    """Tell every step of ``transform`` that has a ``set_epoch`` (an epoch-dependent draw, e.g.
    ``OccludeJoints(protocol="clip_redraw")``) the training epoch ``epoch``."""
    steps = [] if transform is None else transform.transforms if isinstance(transform, Compose) else [transform]
    for step in steps:
        if callable(getattr(step, "set_epoch", None)):
            step.set_epoch(epoch)


class SkeletonDataset(Dataset):
    """One stream of the samples ``indices`` (all samples if ``None``) of a prepared dataset.

    ``dataset[k]`` is a :class:`SkeletonData` (``x [M * V, T, C]``, ``y [1]``, ``index [1]`` = ``indices[k]``,
    ``sample_id``) after ``transform``. Raises a DataFormatError (a ValueError) if a sample lacks ``stream``.
    """

    def __init__(
        self,
        prepared: PreparedDataset | str | Path,
        indices: Sequence[int] | np.ndarray | None,
        stream: str,
        transform: Transform | None = None,
    ) -> None:
        self.prepared = _prepared(prepared)
        self.indices = _indices(self.prepared, indices)
        self.stream, self.transform = stream, transform
        _require_stream(self.prepared, stream, self.indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> SkeletonData:
        return load_graph(self.prepared, self.stream, int(self.indices[k]), self.transform)

    def set_epoch(self, epoch: int) -> None:
        """The training epoch of the transform's epoch-dependent draws (:func:`set_transform_epoch`)."""
        set_transform_epoch(self.transform, epoch)

    def batch(self, ks: Sequence[int]) -> Batch:
        """Positions ``ks`` as one batch, equal to ``Batch.from_data_list([self[k] for k in ks])``: read and
        transformed densely when every step of the transform has a ``dense`` method (:func:`dense_steps`),
        else collated from the per-sample graphs."""
        steps = dense_steps(self.transform)
        if steps is None:
            return Batch.from_data_list([self[k] for k in ks])
        indices = self.indices[np.asarray(ks, dtype=np.int64)]
        dense: DenseBatch = read_batch(self.prepared, self.stream, indices)
        for step in steps:
            dense = step.dense(dense)
        finite = np.isfinite(dense.keypoints.numpy()).reshape(len(indices), -1).all(1)
        if not finite.all():  # the per-sample path names the sample and where: the first bad one
            load_graph(self.prepared, self.stream, int(indices[np.flatnonzero(~finite)[0]]), self.transform)
        return graph_batch(dense, self.prepared.labels[indices], [self.prepared.sample_ids[i] for i in indices])

    @property
    def labels(self) -> np.ndarray:
        """Labels ``[len(self)]`` of the samples, in dataset order."""
        return self.prepared.labels[self.indices]


class BatchedView(Dataset):
    """A :class:`SkeletonDataset` that a ``torch.utils.data.DataLoader`` reads a batch at a time: the loader
    calls ``__getitems__`` with the positions of a batch, which returns :meth:`SkeletonDataset.batch`; give
    the loader ``collate_fn=`` :func:`collated` (the batch is collated already)."""

    def __init__(self, dataset: SkeletonDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, k: int) -> Batch:
        return self.dataset.batch([k])

    def __getitems__(self, ks: list[int]) -> Batch:
        return self.dataset.batch(ks)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)


def collated(batch: Batch) -> Batch:
    """The ``collate_fn`` of a loader over a :class:`BatchedView`: its batches are collated already."""
    return batch


class PairDataset(Dataset):
    """LQ graphs of the samples ``indices``, each with the HQ graph of the same instance when there is one.

    ``dataset[k]`` is a :class:`SkeletonPair`: the LQ graph of ``lq = (stream, transform)`` and the HQ graph of
    ``hq = (stream, transform)``. Sample ``indices[k]`` is *solitary* (``has_hq`` False, empty HQ graph)
    when it lacks the HQ stream or ``hq_mask[k]`` is False (partial-HQ experiments, :func:`hq_keep_mask`).

    The empty HQ graph of a solitary sample needs the ``(T, C)`` of the transformed HQ graphs so that it
    batches with paired ones; it is probed once, here, from the first paired sample (``hq_layout``,
    ``hq_shape``). The HQ transform must therefore give every sample the same ``T`` (a fixed-length
    transform), as batching requires anyway.
    """

    def __init__(
        self,
        prepared: PreparedDataset | str | Path,
        indices: Sequence[int] | np.ndarray | None,
        lq: StreamSpec,
        hq: StreamSpec,
        hq_mask: Sequence[bool] | np.ndarray | None = None,
    ) -> None:
        self.prepared = _prepared(prepared)
        self.indices = _indices(self.prepared, indices)
        self.lq, self.hq = lq, hq
        _require_stream(self.prepared, lq[0], self.indices)
        self.paired = self._paired(hq_mask)
        if not self.paired.any():
            raise DataFormatError(
                f"{self.prepared.root}: none of the {len(self.indices)} samples has an HQ {hq[0]!r} graph to pair "
                "with; use SkeletonDataset for LQ-only training"
            )
        probe = load_graph(self.prepared, hq[0], int(self.indices[np.argmax(self.paired)]), hq[1])
        self.hq_layout: str = probe.layout
        self.hq_shape: tuple[int, int] = (probe.x.size(1), probe.x.size(2))

    def _paired(self, hq_mask: Sequence[bool] | np.ndarray | None) -> np.ndarray:
        stream = self.hq[0]
        if stream not in self.prepared.streams:
            return np.zeros(len(self.indices), dtype=bool)
        paired = self.prepared.frame_counts(stream)[self.indices] > 0
        if hq_mask is not None:
            mask = np.asarray(hq_mask)
            if mask.dtype != bool or mask.shape != paired.shape:
                raise ValueError(
                    f"hq_mask must be a bool array [{len(self.indices)}], got {mask.dtype}{list(mask.shape)}"
                )
            paired &= mask
        return paired

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """The training epoch of both transforms' epoch-dependent draws (:func:`set_transform_epoch`)."""
        set_transform_epoch(self.lq[1], epoch)
        set_transform_epoch(self.hq[1], epoch)

    def __getitem__(self, k: int) -> SkeletonPair:
        i = int(self.indices[k])
        lq = load_graph(self.prepared, self.lq[0], i, self.lq[1])
        hq = load_graph(self.prepared, self.hq[0], i, self.hq[1]) if self.paired[k] else None
        return SkeletonPair.from_keypoints(
            lq=lq.dense()[0],
            lq_layout=lq.layout,
            hq=hq.dense()[0] if hq is not None else None,
            hq_layout=hq.layout if hq is not None else self.hq_layout,
            y=int(self.prepared.labels[i]),
            index=i,
            sample_id=self.prepared.sample_ids[i],
            hq_shape=self.hq_shape,
        )

    @property
    def labels(self) -> np.ndarray:
        """Labels ``[len(self)]`` of the samples, in dataset order."""
        return self.prepared.labels[self.indices]


def hq_keep_mask(labels: Sequence[int] | np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Which samples keep their HQ match: a random ``fraction`` of every class (paper Table 5).

    Class ``c`` with ``n_c`` samples keeps ``round(fraction * n_c)`` of them (halves round up), drawn from
    ``np.random.default_rng([seed, c])``, so the choice of a class does not depend on the others.

    Args:
        labels: ``[N]`` class of every sample.
        fraction: in ``[0, 1]``.
        seed: the experiment seed.

    Returns:
        ``[N]`` bool, True where the sample keeps its HQ graph.
    """
    return _class_fraction(labels, fraction, (seed,))


def validation_mask(labels: Sequence[int] | np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Which training samples are held out as the validation split: a random ``fraction`` of every class.

    Class ``c`` with ``n_c`` samples gives ``round(fraction * n_c)`` of them (halves round up), at least one
    when ``fraction > 0`` and at most ``n_c - 1``, so that every class is validated and keeps a training
    sample where it can; drawn from ``np.random.default_rng([seed, c, 1])``, a stream apart from
    :func:`hq_keep_mask`'s.

    Args:
        labels: ``[N]`` class of every training sample.
        fraction: in ``[0, 1)``.
        seed: the experiment seed.

    Returns:
        ``[N]`` bool, True where the sample belongs to the validation split.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must lie in [0, 1), got {fraction}")
    return _class_fraction(labels, fraction, (seed, 1), held_out=True)


def _class_fraction(labels: Sequence[int] | np.ndarray, fraction: float, key: tuple[int, ...],
                    held_out: bool = False) -> np.ndarray:
    """``round(fraction * n_c)`` random samples of every class ``c`` (with ``held_out``: at least one when
    ``fraction > 0``, at most ``n_c - 1``), drawn from ``np.random.default_rng([key[0], c, *key[1:]])``."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    labels = np.asarray(labels, dtype=np.int64)
    chosen = np.zeros(labels.shape, dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        count = int(np.floor(fraction * members.size + 0.5))
        if held_out and fraction > 0:
            count = min(max(count, 1), members.size - 1)
        rng = np.random.default_rng([key[0], int(c), *key[1:]])
        chosen[rng.choice(members, size=count, replace=False)] = True
    return chosen
