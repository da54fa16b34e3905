"""Datasets, transforms, loaders, models and optimizers from a config (see ``configs/base.yaml``).

Which samples each stage trains on (paper Sec. 3.1 and Table 5):

* the training split's samples that have the HQ stream, of which a fraction ``student.hq_fraction`` of
  every class *keeps its HQ match* (:func:`pygkd.data.hq_keep_mask`, drawn from the run seed);
* the teacher trains on the kept HQ skeletons (``D_pair``);
* the student trains on the LQ skeletons of all training samples (``D_pair`` and ``D_sol``), or, with
  ``student.use_solitary: false``, of the kept ones only.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Sampler
from torch_geometric.loader import DataLoader
from torch_geometric.transforms import BaseTransform, Compose

from ..data import lq_synthesis, transforms
from ..data.dataset import PairDataset, SkeletonDataset, hq_keep_mask
from ..data.readers import get_reader
from ..data.store import PreparedDataset, prepare
from ..nn.registry import import_object
from ..skeleton import get_layout
from .checkpoint import ModelCard
from .config import ConfigError
from . import distributed
from .distributed import World
from .samplers import ClassAwareBatchSampler, RandomBatchSampler, ShardedBatchSampler, ShardSampler

STREAM_OF_ROLE = {"teacher": "hq", "student": "lq"}  # the data.<hq|lq> section a role's network reads


def prepared_path(cfg: Mapping) -> Path:
    """``data.prepared``, or ``<out>/data`` when the config generates its data with a reader."""
    return Path(cfg["data"]["prepared"] or Path(cfg["out"]) / "data")


def load_prepared(cfg: Mapping) -> PreparedDataset:
    """The config's prepared dataset; prepared first from ``data.reader`` (by rank 0 alone, when there are
    several processes) when it does not exist yet."""
    data = cfg["data"]
    path = prepared_path(cfg)
    missing = not path.exists()
    distributed.barrier()  # with several processes: every rank has looked before rank 0 prepares
    if missing:
        if not data["reader"]:
            raise ConfigError(
                f"data.prepared: {path} does not exist; run `pygkd prepare` first, or set data.reader "
                "(and data.root) so that the run prepares it"
            )
        if distributed.world().is_main:
            reader = get_reader(data["reader"])
            prepare(reader(Path(data["root"]) if data["root"] else None, **data["reader_options"]), path)
        distributed.barrier()
    return PreparedDataset(path)


def build_transform(specs: Sequence[Mapping[str, Any]], seed: int) -> BaseTransform | None:
    """``[{name: FixLength, length: 64}, ...]`` -> one transform (``None`` for an empty list).

    ``name`` is a class of :mod:`pygkd.data.transforms` or :mod:`pygkd.data.lq_synthesis`, or a dotted
    path ``"package.module:Class"``. A transform that takes a ``seed`` and is not given one gets the run's.
    """
    steps = []
    for i, spec in enumerate(specs):
        options = dict(spec)
        name = options.pop("name")
        cls = getattr(transforms, name, None) or getattr(lq_synthesis, name, None)
        if cls is None:
            try:
                cls = import_object(name) if ("." in name or ":" in name) else None
            except ValueError as err:
                raise ConfigError(f"transform #{i} {name!r}: {err}") from None
        if not (isinstance(cls, type) and issubclass(cls, BaseTransform)):
            raise ConfigError(f"transform #{i} {name!r}: not a transform of pygkd.data.transforms or lq_synthesis")
        if "seed" in inspect.signature(cls).parameters:
            options.setdefault("seed", seed)
        try:
            steps.append(cls(**options))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"transform #{i} {name}: {err}") from None
    return Compose(steps) if steps else None


def stream_transform(cfg: Mapping, stream: str, train: bool, occlusion: float = 0.0) -> BaseTransform | None:
    """The transform of ``data.<stream>`` (``hq`` or ``lq``): ``train_transforms`` when training (``null``:
    the same as ``transforms``), then, at test time, joint occlusion with probability ``occlusion``."""
    section = cfg["data"][stream]
    specs = list(section["train_transforms"] if train and section["train_transforms"] is not None
                 else section["transforms"])
    if occlusion > 0:
        specs.append({"name": "OccludeJoints", "p": occlusion})
    return build_transform(specs, cfg["seed"])


def hq_augmented(cfg: Mapping) -> bool:
    """Whether the HQ stream is transformed differently in training than at test time."""
    hq = cfg["data"]["hq"]
    return hq["train_transforms"] is not None and hq["train_transforms"] != hq["transforms"]


@dataclass
class TrainingSamples:
    """The training split, and which of its samples keep their HQ match.

    Attributes:
        indices: ``[N]`` prepared indices of the training split.
        paired: ``[N]`` bool, sample has the HQ stream and is in the kept fraction (``D_pair``).
    """

    indices: np.ndarray
    paired: np.ndarray

    @classmethod
    def of(cls, cfg: Mapping, prepared: PreparedDataset) -> "TrainingSamples":
        indices = split_indices(prepared, cfg["data"]["train_split"], "data.train_split")
        hq_stream = cfg["data"]["hq"]["stream"]
        has_hq = prepared.frame_counts(hq_stream)[indices] > 0
        paired = np.zeros(len(indices), dtype=bool)
        if has_hq.any():
            labels = prepared.labels[indices[has_hq]]
            paired[has_hq] = hq_keep_mask(labels, cfg["student"]["hq_fraction"], cfg["seed"])
        if not paired.any():
            raise ConfigError(f"data.train_split: no training sample of {prepared.root} has the {hq_stream!r} stream")
        return cls(indices, paired)

    def for_role(self, role: str, use_solitary: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, paired)`` of the samples ``role`` trains on."""
        keep = self.paired if role == "teacher" or not use_solitary else np.ones_like(self.paired)
        return self.indices[keep], self.paired[keep]


def split_indices(prepared: PreparedDataset, split: str, key: str) -> np.ndarray:
    """The prepared indices of ``split``; a ConfigError naming the config ``key`` and the splits there are."""
    try:
        return prepared.split(split)
    except KeyError:
        splits = sorted(prepared.split_names)
        raise ConfigError(f"{key}: {prepared.root} has no split {split!r}; its splits: {splits}") from None


def skeleton_dataset(
    cfg: Mapping, prepared: PreparedDataset, indices: np.ndarray, stream: str, train: bool, occlusion: float = 0.0
) -> SkeletonDataset:
    """The graphs of ``data.<stream>`` for ``indices``, with the training or test transform."""
    transform = stream_transform(cfg, stream, train, occlusion)
    return SkeletonDataset(prepared, indices, cfg["data"][stream]["stream"], transform)


def pair_dataset(cfg: Mapping, prepared: PreparedDataset, indices: np.ndarray, paired: np.ndarray) -> PairDataset:
    """LQ/HQ training pairs of ``indices``; ``paired[k]`` False makes sample ``k`` solitary."""
    data = cfg["data"]
    return PairDataset(
        prepared, indices,
        lq=(data["lq"]["stream"], stream_transform(cfg, "lq", train=True)),
        hq=(data["hq"]["stream"], stream_transform(cfg, "hq", train=True)),
        hq_mask=paired,
    )


def model_card(cfg: Mapping, role: str, dataset: SkeletonDataset) -> ModelCard:
    """The card of ``role``'s network: its layout and input channels are those of ``dataset``'s graphs
    after the transform (an LQ synthesis changes both), probed on the first sample."""
    probe = dataset[0]
    return ModelCard(role, dict(cfg["model"][role]), get_layout(probe.layout), probe.x.size(-1),
                     list(dataset.prepared.class_names))


def train_loader(dataset: Dataset, batch_sampler: Sampler, num_workers: int) -> DataLoader:
    return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=num_workers,
                      persistent_workers=num_workers > 0)


def eval_loader(dataset: Dataset, batch_size: int, num_workers: int, world: World = World()) -> DataLoader:
    """``dataset`` in order; with several processes, only ``world.rank``'s contiguous shard (:class:`ShardSampler`)."""
    sampler = ShardSampler(len(dataset), world.rank, world.size) if world.size > 1 else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, sampler=sampler, num_workers=num_workers)


def batch_sampler(stage: Mapping, labels: np.ndarray, seed: int, world: World = World()) -> Sampler:
    """``stage.sampler`` (``class_aware`` or ``random``; the teacher has no such key: ``random``); with several
    processes, ``world.rank``'s slice of each of its global batches."""
    if stage.get("sampler", "random") == "class_aware":
        batches = ClassAwareBatchSampler(labels, stage["batch_size"], stage["samples_per_class"], seed)
    else:
        batches = RandomBatchSampler(len(labels), stage["batch_size"], seed)
    return ShardedBatchSampler(batches, world.rank, world.size) if world.size > 1 else batches


def optimizer_and_scheduler(
    model: nn.Module, stage: Mapping
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD (momentum, weight decay, Nesterov) and a step decay by ``gamma`` at ``milestones`` (epochs)."""
    optimizer = torch.optim.SGD(
        model.parameters(), lr=stage["lr"], momentum=stage["momentum"], weight_decay=stage["weight_decay"],
        nesterov=stage["nesterov"],
    )
    return optimizer, torch.optim.lr_scheduler.MultiStepLR(optimizer, stage["milestones"], stage["gamma"])
