"""Datasets, transforms, loaders, models and optimizers from a config (see ``configs/base.yaml``).

Which samples each stage trains on (paper Sec. 3.1 and Table 5):

* with ``data.val_fraction > 0`` a stratified random fraction of the training split is held out as the
  validation split that picks ``checkpoint_best.pt`` (:func:`pygkd.data.validation_mask`, drawn from the
  run seed, so a teacher and its students hold out the same samples); the rest is the training split below;
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
from torch.utils.data import DataLoader as TorchLoader
from torch.utils.data import Dataset, Sampler
from torch_geometric.loader import DataLoader
from torch_geometric.transforms import BaseTransform, Compose

from ..data import lq_synthesis, transforms
from ..data.dataset import (BatchedView, PairDataset, SkeletonDataset, collated, hq_keep_mask, load_graph,
                            validation_mask)
from ..data.raw import DataFormatError
from ..data.readers import read_dataset
from ..data.store import PreparedDataset, prepare
from ..data.stored_lq import STORED_LQ, stored_lq
from ..nn.registry import import_object
from ..skeleton import get_layout
from .checkpoint import ModelCard
from . import distributed
from .config import ConfigError
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
            try:
                raw = read_dataset(data["reader"], Path(data["root"]) if data["root"] else None,
                                   **data["reader_options"])
            except (TypeError, ValueError) as err:
                if isinstance(err, DataFormatError):
                    raise
                raise ConfigError(f"data.reader {data['reader']!r}: {err}") from None
            prepare(raw, path)
        distributed.barrier()
    return PreparedDataset(path)


def transform_class(name: str, where: str) -> type[BaseTransform]:
    """The transform class ``name``: a class of :mod:`pygkd.data.transforms` or :mod:`pygkd.data.lq_synthesis`,
    or a dotted path ``"package.module:Class"``; a ConfigError starting with ``where`` otherwise."""
    cls = getattr(transforms, name, None) or getattr(lq_synthesis, name, None)
    if cls is None:
        try:
            cls = import_object(name) if ("." in name or ":" in name) else None
        except ValueError as err:
            raise ConfigError(f"{where} {name!r}: {err}") from None
    if not (isinstance(cls, type) and issubclass(cls, BaseTransform)):
        raise ConfigError(f"{where} {name!r}: not a transform of pygkd.data.transforms or lq_synthesis")
    return cls


def resolve_seeds(specs: Sequence[Mapping[str, Any]], seed: int) -> list[dict]:
    """Copies of the transform specs in which every transform that takes a ``seed`` and is not given one
    has ``seed`` (the chain as it runs, e.g. what a checkpoint stores)."""
    resolved = []
    for i, spec in enumerate(specs):
        options = dict(spec)
        if "seed" in inspect.signature(transform_class(options["name"], f"transform #{i}")).parameters:
            options.setdefault("seed", seed)
        resolved.append(options)
    return resolved


def build_transform(specs: Sequence[Mapping[str, Any]], seed: int) -> BaseTransform | None:
    """``[{name: FixLength, length: 64}, ...]`` -> one transform (``None`` for an empty list).

    ``name`` is a class of :mod:`pygkd.data.transforms` or :mod:`pygkd.data.lq_synthesis`, or a dotted
    path ``"package.module:Class"``. A transform that takes a ``seed`` and is not given one gets the run's.
    """
    steps = []
    for i, options in enumerate(resolve_seeds(specs, seed)):
        name = options.pop("name")
        try:
            steps.append(transform_class(name, f"transform #{i}")(**options))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"transform #{i} {name}: {err}") from None
    return Compose(steps) if steps else None


def occlusion_specs(cfg: Mapping, occlusion: float) -> list[dict]:
    """The test-time joint occlusion with probability ``occlusion`` (none when 0): ``OccludeJoints`` with the
    protocol ``eval.occlusion_protocol`` (and ``eval.occlusion_span`` for ``span``); the default ``clip``
    adds no option, so the spec is the one of runs from before the protocols."""
    if occlusion <= 0:
        return []
    spec: dict[str, Any] = {"name": "OccludeJoints", "p": occlusion}
    protocol = cfg["eval"]["occlusion_protocol"]
    if protocol != "clip":
        spec["protocol"] = protocol
    if protocol == "span":
        spec["span_length"] = cfg["eval"]["occlusion_span"]
    return [spec]


def stream_transform_specs(cfg: Mapping, stream: str, train: bool, occlusion: float = 0.0) -> list[dict]:
    """The transform specs of ``data.<stream>`` (``hq`` or ``lq``), seeds resolved: ``train_transforms`` when
    training (``null``: the same as ``transforms``), then, at test time, joint occlusion with probability
    ``occlusion`` (:func:`occlusion_specs`)."""
    section = cfg["data"][stream]
    specs = list(section["train_transforms"] if train and section["train_transforms"] is not None
                 else section["transforms"])
    return resolve_seeds([*specs, *occlusion_specs(cfg, occlusion)], cfg["seed"])


def stream_transform(cfg: Mapping, stream: str, train: bool, occlusion: float = 0.0) -> BaseTransform | None:
    """The transform of :func:`stream_transform_specs`."""
    return build_transform(stream_transform_specs(cfg, stream, train, occlusion), cfg["seed"])


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
        indices, _ = train_val_indices(cfg, prepared)
        hq_stream = stored_stream(cfg, prepared, "hq")
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


def train_val_indices(cfg: Mapping, prepared: PreparedDataset) -> tuple[np.ndarray, np.ndarray]:
    """``(training indices, validation indices)``: the validation split is the ``data.val_fraction`` of
    the training split held out (see the module docstring), else ``data.val_split``, else the test split.

    Raises:
        ConfigError: both ``data.val_fraction`` and ``data.val_split`` are set, or a split is missing.
    """
    data = cfg["data"]
    train = split_indices(prepared, data["train_split"], "data.train_split")
    fraction = data["val_fraction"]
    if fraction > 0:
        if data["val_split"]:
            raise ConfigError(f"data.val_fraction={fraction} holds out a validation split of the training split, "
                              f"and data.val_split={data['val_split']!r} names another one; set only one")
        held_out = validation_mask(prepared.labels[train], fraction, cfg["seed"])
        if not held_out.any():
            raise ConfigError(f"data.val_fraction={fraction}: no class of {prepared.root}'s training split has two "
                              "samples to hold one out; set data.val_fraction=0")
        return train[~held_out], train[held_out]
    key = "data.val_split" if data["val_split"] else "data.test_split"
    return train, split_indices(prepared, data["val_split"] or data["test_split"], key)


def split_indices(prepared: PreparedDataset, split: str, key: str) -> np.ndarray:
    """The prepared indices of ``split``; a ConfigError naming the config ``key`` and the splits there are."""
    try:
        return prepared.split(split)
    except KeyError:
        splits = sorted(prepared.split_names)
        raise ConfigError(f"{key}: {prepared.root} has no split {split!r}; its splits: {splits}") from None


def stream_source(
    cfg: Mapping, prepared: PreparedDataset, stream: str, train: bool, occlusion: float = 0.0
) -> tuple[PreparedDataset, str, BaseTransform | None]:
    """Where ``data.<stream>`` is read from: ``(prepared dataset, stored stream, transform)``.

    When the transform opens with a ``SynthesizeLQ`` and ``data.store_lq`` is on, the synthesis is stored
    once (:func:`pygkd.data.stored_lq.stored_lq`, beside the prepared data) and the rest of the transform
    reads that copy's stream: the same values, without synthesising every sample in every epoch.
    """
    transform = stream_transform(cfg, stream, train, occlusion)
    name = stored_stream(cfg, prepared, stream)
    steps = transform.transforms if transform is not None else []
    if cfg["data"]["store_lq"] and steps and isinstance(steps[0], lq_synthesis.SynthesizeLQ):
        return stored_lq(prepared, name, steps[0]), STORED_LQ, Compose(steps[1:]) if steps[1:] else None
    return prepared, name, transform


def skeleton_dataset(
    cfg: Mapping, prepared: PreparedDataset, indices: np.ndarray, stream: str, train: bool, occlusion: float = 0.0
) -> SkeletonDataset:
    """The graphs of ``data.<stream>`` for ``indices``, with the training or test transform."""
    source, name, transform = stream_source(cfg, prepared, stream, train, occlusion)
    return SkeletonDataset(source, indices, name, transform)


def stored_stream(cfg: Mapping, prepared: PreparedDataset, section: str) -> str:
    """``data.<section>.stream``, checked against the streams ``prepared`` holds."""
    name = cfg["data"][section]["stream"]
    if name not in prepared.streams:
        raise ConfigError(f"data.{section}.stream: {prepared.root} has no stream {name!r}; its streams: "
                          f"{sorted(prepared.streams)}")
    return name


def pair_dataset(cfg: Mapping, prepared: PreparedDataset, indices: np.ndarray, paired: np.ndarray) -> PairDataset:
    """LQ/HQ training pairs of ``indices``; ``paired[k]`` False makes sample ``k`` solitary."""
    source, lq_stream, lq_transform = stream_source(cfg, prepared, "lq", train=True)
    return PairDataset(
        source, indices,
        lq=(lq_stream, lq_transform),
        hq=(cfg["data"]["hq"]["stream"], stream_transform(cfg, "hq", train=True)),
        hq_mask=paired,
    )


def model_card(cfg: Mapping, role: str, dataset: SkeletonDataset, precision: str = "float32") -> ModelCard:
    """The card of ``role``'s network, which reads the test-time graphs ``dataset`` of ``data.<hq|lq>`` and
    trains in ``precision``.

    Its layout and input channels are those of ``dataset``'s graphs after the transform (an LQ synthesis
    changes both), probed on the first sample; the chain is applied one step at a time to find the steps
    after the last one that changes the layout (:attr:`ModelCard.layout_transforms`).
    """
    section = STREAM_OF_ROLE[role]
    specs = stream_transform_specs(cfg, section, train=False)
    # the config's stream: ``dataset`` may read a stored LQ copy, which keeps that stream beside its own
    prepared, stream = dataset.prepared, stored_stream(cfg, dataset.prepared, section)
    probe = load_graph(prepared, stream, int(dataset.indices[0]), None)
    layout_steps = 0
    for k, spec in enumerate(specs):
        before = probe.layout
        probe = build_transform([spec], cfg["seed"])(probe)
        if probe.layout != before:
            layout_steps = k + 1
    stored = prepared.streams[stream]
    return ModelCard(
        role, dict(cfg["model"][role]), get_layout(probe.layout), probe.x.size(-1), list(prepared.class_names),
        precision, stream=stream, stream_layout=get_layout(stored.layout), stream_channels=list(stored.channels),
        transforms=specs, layout_transforms=specs[layout_steps:],
    )


def eval_dataset(cfg: Mapping, card: ModelCard, prepared: PreparedDataset, indices: np.ndarray,
                 occlusion: float = 0.0) -> SkeletonDataset:
    """The graphs of ``indices`` that ``card``'s network reads at test time, optionally with joint occlusion
    (seeded by the config's seed, drawn by ``eval.occlusion_protocol``, :func:`occlusion_specs`): the card's
    stream and transforms, or, for a card without them (an older checkpoint), the config's ``data.<hq|lq>``
    of its role."""
    if not card.has_preprocessing:
        return skeleton_dataset(cfg, prepared, indices, STREAM_OF_ROLE[card.role], train=False, occlusion=occlusion)
    specs = card.transforms + occlusion_specs(cfg, occlusion)
    return SkeletonDataset(prepared, indices, card.stream, build_transform(specs, cfg["seed"]))


def describe_transforms(specs: Sequence[Mapping[str, Any]]) -> str:
    """``[{name: FixLength, length: 32}, {name: Normalize, coords: 2}]`` -> ``"FixLength(length=32) >
    Normalize(coords=2)"`` (``"none"`` for an empty chain)."""
    steps = [f"{s['name']}({', '.join(f'{k}={v}' for k, v in s.items() if k != 'name')})" for s in specs]
    return " > ".join(steps) or "none"


def train_loader(dataset: Dataset, batch_sampler: Sampler, num_workers: int, pin_memory: bool = False) -> TorchLoader:
    """Batches of ``batch_sampler``; a :class:`SkeletonDataset` is read a whole batch at a time
    (:meth:`SkeletonDataset.batch`), other datasets per sample and collated by PyG."""
    if isinstance(dataset, SkeletonDataset):
        return TorchLoader(BatchedView(dataset), batch_sampler=batch_sampler, collate_fn=collated,
                           num_workers=num_workers, persistent_workers=num_workers > 0, pin_memory=pin_memory)
    return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=num_workers,
                      persistent_workers=num_workers > 0, pin_memory=pin_memory)


def eval_loader(
    dataset: Dataset, batch_size: int, num_workers: int, pin_memory: bool = False, world: World = World()
) -> TorchLoader:
    """Batches of ``batch_size`` in dataset order, read as :func:`train_loader` reads them; with several
    processes, only ``world.rank``'s contiguous shard (:class:`ShardSampler`)."""
    sampler = ShardSampler(len(dataset), world.rank, world.size) if world.size > 1 else None
    if isinstance(dataset, SkeletonDataset):
        return TorchLoader(BatchedView(dataset), batch_size=batch_size, shuffle=False, sampler=sampler,
                           collate_fn=collated, num_workers=num_workers, pin_memory=pin_memory)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, sampler=sampler, num_workers=num_workers,
                      pin_memory=pin_memory)


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
