"""Checkpoints: written atomically, loaded safely (``weights_only``), self-describing.

A checkpoint holds the network's weights and its :class:`ModelCard` (backbone spec, layout, input
channels, class names, precision and the preprocessing of its input), so ``eval``, ``matrix`` and
``predict`` rebuild the network and feed it what it saw in training from the file alone, plus the resolved
config of the run. ``checkpoint_last.pt`` also carries the training state that ``--resume`` needs:
optimizer, LR scheduler, AMP scaler, global RNG state, completed epochs and the best metric.

Files are written to a temporary name in the same folder, fsynced, and moved over the target with
``os.replace``, so a run killed mid-write (or a machine losing power) leaves the previous checkpoint intact,
never a truncated one.

A checkpoint also says how far its run got: ``epoch`` (completed epochs), ``epochs_planned`` and
``completed`` (the run finished its schedule). :func:`require_finished` refuses an unfinished run's
checkpoint where a finished one is expected (``matrix``, ``student``'s teacher, ``eval``, ``predict``,
``export``). The model card is data: :func:`load_model` imports only the code that pygkd registers or the
caller allows (:func:`pygkd.nn.registry.restricted_imports`).
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..data.raw import DataFormatError
from ..nn import build_backbone
from ..nn.registry import import_object, restricted_imports
from ..skeleton import Layout, layout_from_dict, register_layout
from .config import ConfigError

FORMAT = "pygkd-checkpoint"
VERSION = 1
LAST = "checkpoint_last.pt"
BEST = "checkpoint_best.pt"


class RunStateError(ValueError):
    """A run is not in the state a command needs: its checkpoint is unfinished, or its folder already holds a run."""


# The fields every card holds, and their types (a card may hold more: the predict helper's preprocessing).
CARD_FIELDS: dict[str, type] = {"role": str, "spec": dict, "layout": dict, "in_channels": int, "class_names": list}


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
        except (TypeError, ValueError) as err:  # an unknown name or key, a value of the wrong type
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
        """The card of a checkpoint's ``card`` entry; a DataFormatError names ``source`` and the bad field."""
        if not isinstance(d, Mapping):
            raise DataFormatError(f"{source}: no model card (a 'card' mapping), got {type(d).__name__}")
        for key, kind in CARD_FIELDS.items():
            if key not in d:
                raise DataFormatError(f"{source}: model card: missing field {key!r}")
            if not isinstance(d[key], kind) or isinstance(d[key], bool):
                raise DataFormatError(
                    f"{source}: model card: field {key!r} must be {kind.__name__}, got {type(d[key]).__name__}"
                )
        if d["role"] not in ("teacher", "student"):
            raise DataFormatError(f"{source}: model card: role {d['role']!r}, expected 'teacher' or 'student'")
        if d["in_channels"] < 1 or not d["class_names"] or not all(isinstance(c, str) for c in d["class_names"]):
            raise DataFormatError(f"{source}: model card: expected in_channels >= 1 and a list of class names")
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
    """``torch.save`` to a temporary file next to ``path``, fsync it, then ``os.replace`` it onto ``path``.

    Raises:
        OSError: naming ``path`` (disk full, permission denied); ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as file:
            torch.save({"format": FORMAT, "version": VERSION, **state}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from None
    except RuntimeError as err:  # torch.save reports a failed write as a RuntimeError
        raise OSError(_errno_of(err), f"cannot write the checkpoint ({err})", str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)


def _errno_of(err: RuntimeError) -> int:
    """The errno a failed ``torch.save`` names in its message (ENOSPC, EACCES, ...), else EIO."""
    text = str(err).lower()
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
        if os.strerror(code).lower() in text:
            return code
    return errno.EIO


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
    if not isinstance(state.get("version"), int) or state["version"] > VERSION:
        raise DataFormatError(f"{path}: checkpoint version {state.get('version')!r}, this pygkd reads up to {VERSION}")
    return state


def run_progress(state: Mapping[str, Any]) -> tuple[int, int | None, bool]:
    """``(completed epochs, planned epochs, finished)`` of the run that wrote a checkpoint.

    A checkpoint of an older pygkd lacks ``epochs_planned``: its run's config gives the plan, and a
    ``checkpoint_best.pt`` of such a run (no training state) counts as finished, since it cannot tell.
    """
    epoch = int(state.get("epoch", 0))
    if "completed" in state:
        return epoch, state.get("epochs_planned"), bool(state["completed"])
    role = state.get("card", {}).get("role")
    planned = state.get("config", {}).get(role, {}).get("epochs")
    if "optimizer" not in state or not isinstance(planned, int):
        return epoch, planned, True
    return epoch, planned, epoch >= planned


def require_finished(state: Mapping[str, Any], path: str | Path, allow: bool = False) -> None:
    """Refuse the checkpoint of a run that stopped before the end of its schedule, unless ``allow``.

    Raises:
        RunStateError: saying how far the run got and how to finish it (``--resume``) or use it anyway.
    """
    epoch, planned, finished = run_progress(state)
    if finished or allow:
        return
    role = state.get("card", {}).get("role", "teacher")
    raise RunStateError(
        f"{path}: unfinished run: the {role} trained {epoch} of {planned} epochs; finish it with "
        f"`pygkd {role} --resume` (same --config and --out), or pass --allow-unfinished to use it as it is"
    )


def load_model(
    path: str | Path, device: str | torch.device = "cpu", allow_modules: Sequence[str] = ()
) -> tuple[nn.Module, ModelCard, dict]:
    """Rebuild a trained network from a checkpoint, in eval mode on ``device``.

    Args:
        allow_modules: modules (besides pygkd's) whose layers and backbones the card may name; a card
            naming any other module is refused before that module is imported.

    Returns:
        ``(model, card, checkpoint)``; the checkpoint dict also holds ``config`` and ``epoch``.

    Raises:
        DataFormatError: a card field is missing or of the wrong type, or the weights do not fit the card.
        UntrustedCodeError: the card names a module that is not allowed.
    """
    state = load_checkpoint(path)
    with restricted_imports(allow_modules, str(path)):
        card = ModelCard.from_dict(state.get("card"), source=str(path))
        try:
            model = card.build()
            for spec in card.transforms or ():  # the stored input chain: its dotted paths are code, too
                if "." in str(spec.get("name")) or ":" in str(spec.get("name")):
                    import_object(str(spec["name"]))
        except (ConfigError, TypeError, ValueError) as err:
            raise DataFormatError(f"{path}: model card: cannot build the network ({err})") from None
    if not isinstance(state.get("model"), Mapping):
        raise DataFormatError(f"{path}: no weights (a 'model' mapping of tensors)")
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError, TypeError) as err:
        first = str(err).strip().splitlines()[0].rstrip(":")
        detail = "; ".join(line.strip() for line in str(err).splitlines()[1:3])
        raise DataFormatError(
            f"{path}: the weights do not fit the model card ({first}{': ' + detail if detail else ''})"
        ) from None
    return model.to(device).eval(), card, state
