"""Checkpoints: written atomically, loaded safely (``weights_only``), self-describing.

A checkpoint holds the network's weights and its :class:`ModelCard` (backbone spec, layout, input
channels, class names, precision and the preprocessing of its input), so ``eval``, ``matrix`` and
``predict`` rebuild the network and feed it what it saw in training from the file alone, plus the resolved
config of the run. ``checkpoint_last.pt`` also carries the training state that ``--resume`` needs:
optimizer, LR scheduler, AMP scaler, global RNG state, completed epochs and the best metric.

Files are written to a temporary name in the same folder and moved over the target with ``os.replace``,
so a run killed mid-write leaves the previous checkpoint intact, never a truncated one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..data.raw import DataFormatError
from ..nn import build_backbone
from ..skeleton import Layout, layout_from_dict, register_layout
from .config import ConfigError

FORMAT = "pygkd-checkpoint"
VERSION = 1
LAST = "checkpoint_last.pt"
BEST = "checkpoint_best.pt"


@dataclass
class ModelCard:
    """Everything needed to rebuild a trained network, and to prepare its input, without its config file.

    The preprocessing fields are None in checkpoints written before pygkd stored them
    (:attr:`has_preprocessing`); their consumers then fall back to the config.

    Attributes:
        role: ``"teacher"`` or ``"student"``.
        spec: the backbone spec given to :func:`pygkd.nn.build_backbone`.
        layout: the skeleton layout the network reads.
        in_channels: input channels ``C``.
        class_names: the ``K`` class names, in label order.
        precision: the arithmetic it was trained in (``float32``, ``bfloat16``, ``float16``); a network
            loads and evaluates in any precision.
        stream: the prepared stream the network was trained on (``"hq"`` or ``"lq"``).
        stream_layout: that stream's layout (``ntu25`` for a student whose LQ input is synthesized from HQ).
        stream_channels: that stream's channel names, e.g. ``["x", "y", "z"]``.
        transforms: the test-time transform chain from ``stream`` to the network input, as specs
            ``[{name, ...arguments}]`` with every seed resolved (:func:`pygkd.engine.build.build_transform`).
        layout_transforms: the tail of ``transforms`` that applies to input already in ``layout`` with
            ``in_channels`` channels: the steps after the last one that changes the layout (a
            ``SynthesizeLQ`` or a layout mapping), which pose-estimator output does not need.
    """

    role: str
    spec: dict
    layout: Layout
    in_channels: int
    class_names: list[str]
    precision: str = "float32"
    stream: str | None = None
    stream_layout: Layout | None = None
    stream_channels: list[str] | None = None
    transforms: list[dict] | None = None
    layout_transforms: list[dict] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_preprocessing(self) -> bool:
        """Whether the card stores its input's stream and transforms (older checkpoints do not)."""
        return self.transforms is not None

    def build(self) -> nn.Module:
        """A freshly initialised backbone of this card (a ConfigError names ``model.<role>`` on a bad spec)."""
        try:
            return build_backbone(self.spec, self.layout, self.in_channels, self.num_classes)
        except ValueError as err:
            raise ConfigError(f"model.{self.role}: {err}") from None

    def to_dict(self) -> dict:
        card = {
            "role": self.role,
            "spec": self.spec,
            "layout": self.layout.to_dict(),
            "in_channels": self.in_channels,
            "class_names": list(self.class_names),
            "precision": self.precision,
        }
        if self.has_preprocessing:
            card.update(
                stream=self.stream, stream_layout=self.stream_layout.to_dict(),
                stream_channels=list(self.stream_channels), transforms=[dict(t) for t in self.transforms],
                layout_transforms=[dict(t) for t in self.layout_transforms],
            )
        return card

    @classmethod
    def from_dict(cls, d: Mapping, source: str = "<checkpoint>") -> "ModelCard":
        # A built-in layout compares equal to its stored copy; a custom one is registered under its name.
        layout = register_layout(layout_from_dict(d["layout"], source=f"{source}: layout"))
        card = cls(d["role"], dict(d["spec"]), layout, int(d["in_channels"]), list(d["class_names"]),
                   str(d.get("precision", "float32")))
        if "transforms" in d:
            card.stream = str(d["stream"])
            card.stream_layout = register_layout(layout_from_dict(d["stream_layout"], f"{source}: stream_layout"))
            card.stream_channels = list(d["stream_channels"])
            card.transforms = [dict(t) for t in d["transforms"]]
            card.layout_transforms = [dict(t) for t in d["layout_transforms"]]
        return card


def save_checkpoint(state: Mapping[str, Any], path: str | Path) -> None:
    """``torch.save`` to a temporary file next to ``path``, then ``os.replace`` it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and plain values only).

    Raises:
        FileNotFoundError: no file at ``path``.
        DataFormatError: the file is not a pygkd checkpoint, or of a newer version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint (train first, or check --checkpoint/--out)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # unpickling raises many types; all mean "not a readable checkpoint"
        raise DataFormatError(f"{path}: not a readable pygkd checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DataFormatError(f"{path}: not a pygkd checkpoint (no 'format: {FORMAT}' entry)")
    if state["version"] > VERSION:
        raise DataFormatError(f"{path}: checkpoint version {state['version']}, this pygkd reads up to {VERSION}")
    return state


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelCard, dict]:
    """Rebuild a trained network from a checkpoint, in eval mode on ``device``.

    Returns:
        ``(model, card, checkpoint)``; the checkpoint dict also holds ``config`` and ``epoch``.
    """
    state = load_checkpoint(path)
    card = ModelCard.from_dict(state["card"], source=str(path))
    model = card.build()
    model.load_state_dict(state["model"])
    return model.to(device).eval(), card, state
