"""Export a trained network to ONNX or TorchScript, checked against PyTorch before the file is kept.

The exported graph is :class:`InferenceNetwork`: it reads the network input ``x`` ``[N, M, T, V, C]``
float32 (what :func:`pygkd.engine.trainer.dense_input` gives; all-zero persons are padding) and returns
``logits`` ``[N, K]`` and the global ``feature`` ``[N, D]``; ``N`` (batch), ``M`` (persons) and ``T``
(frames) are dynamic. The part features are left out: only the distillation loss reads them.

* ONNX: ``torch.export`` records the network with symbolic batch, person and frame sizes, and
  ``torch.onnx.export(..., dynamo=True)`` (torch's default exporter, which needs onnxscript) translates the
  recording. The older TorchScript-based exporter (deprecated) replays one traced shape: it froze ``T`` in
  Js-AGCN's graph normalisation, and the check refused its file.
* TorchScript: ``torch.jit.trace`` (the layers' Python, e.g. ``*x.shape[:-2]``, is not scriptable); sizes
  are read from the input at run time, so the trace serves other batch, person and frame counts.

While recording (:mod:`pygkd.nn.capture`), the spatial layers hand their dense adjacency straight to their
fused matmul and the strided 1x1 temporal convolutions stride in the convolution instead of slicing frames
first (the slice made torch.export assume an even ``T``); training and eager inference are unchanged.

The check (:func:`check_export`) runs the exported file (onnxruntime, or the reloaded TorchScript module)
and the PyTorch network on random inputs and on skeleton-like ones (:func:`skeleton_like_input`: other
batch and frame counts than the trace, missing joints and an all-zero padded person) and refuses the export
when the logits differ by more than the tolerance. The model card (:func:`export_card`) travels in the file:
ONNX ``metadata_props`` / TorchScript extra file, under :data:`CARD_KEY`, as JSON.
"""
from __future__ import annotations

import json
import math
import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..nn import Backbone
from ..nn.multi_input import parent_joints
from ..skeleton import Layout
from .build import STREAM_OF_ROLE
from .checkpoint import ModelCard, load_model, require_finished
from .config import ConfigError

FORMATS = ("onnx", "torchscript")
CARD_KEY = "pygkd_card"  # ONNX metadata_props key; TorchScript extra file "pygkd_card.json"
CARD_FORMAT = "pygkd-export"
TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """An export that could not be written or that does not compute what the PyTorch network computes."""


class InferenceNetwork(nn.Module):
    """The exported function of a backbone: ``x`` ``[N, M, T, V, C]`` -> ``(logits [N, K], feature [N, D])``."""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        _, _, feature = self.backbone.pooled_features(x)
        return self.backbone.classify(feature), feature


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_checkpoint` wrote: the file, its format, and the largest logit difference to
    PyTorch over the checked inputs (name -> max abs difference)."""

    path: Path
    format: str
    differences: dict[str, float]

    @property
    def max_difference(self) -> float:
        return max(self.differences.values())


def export_card(card: ModelCard, state: Mapping, frames: int) -> dict:
    """The model card a consumer without pygkd needs: classes, layout, input and output shapes, the
    preprocessing of keypoints in that layout (:func:`preprocessing`) and, when the checkpoint stores it, the
    training stream with its whole chain (``stream``); ``frames`` is the example's ``T``."""
    layout = card.layout
    return {
        "format": CARD_FORMAT,
        "role": card.role,
        "class_names": list(card.class_names),
        "layout": layout.to_dict(),
        "input": {
            "name": "x",
            "dtype": "float32",
            "shape": ["batch", "persons", "frames", layout.num_joints, card.in_channels],
            "axes": "[N, M, T, V, C]: samples, persons (all-zero = padding), frames, joints, channels",
            "example_frames": frames,
            "min_frames": None,  # ONNX: the fewest frames torch.export proved the graph for
        },
        "outputs": {"logits": ["batch", card.num_classes], "feature": ["batch", "feature_dim"]},
        "spec": dict(card.spec),
        "preprocessing": preprocessing(card, state),
        "stream": _stream(card),
        "epoch": state.get("epoch"),
    }


def preprocessing(card: ModelCard, state: Mapping) -> list | None:
    """The test-time transforms (``[{name, ...arguments}]``) from keypoints in the network's layout to its
    input: the card's :attr:`~pygkd.engine.checkpoint.ModelCard.layout_transforms`, or, for a checkpoint
    without a stored chain, the transforms of the stream its role read in the checkpoint's config
    (``data.lq.transforms`` for a student, ``data.hq.transforms`` for a teacher); ``None`` without either."""
    if card.has_preprocessing:
        return card.layout_transforms
    data = (state.get("config") or {}).get("data", {})
    return data.get(STREAM_OF_ROLE.get(card.role, ""), {}).get("transforms")


def _stream(card: ModelCard) -> dict | None:
    """The stored stream the network was trained on and its whole chain (``None`` for older checkpoints)."""
    if not card.has_preprocessing:
        return None
    return {"name": card.stream, "layout": card.stream_layout.name, "channels": list(card.stream_channels),
            "transforms": card.transforms}


def fixed_length(transforms: list | None) -> int | None:
    """``length`` of the ``FixLength`` in ``transforms``, if there is one."""
    for transform in transforms or []:
        if isinstance(transform, Mapping) and transform.get("name") == "FixLength":
            return int(transform.get("length", 300))
    return None


def skeleton_like_input(
    layout: Layout, n: int, m: int, t: int, c: int, seed: int = 0, coords: int | None = None
) -> Tensor:
    """``[N, M, T, V, C]`` keypoints that look like a normalised recording: every person a tree of unit
    bones grown from the centre joint (as :class:`~pygkd.data.transforms.Normalize` leaves it), swaying
    smoothly over time, 10 % of the joints missing (zero) in random frames, the channels past the first
    ``coords`` (default ``min(C, 3)``) a confidence in [0.3, 1]; the last person of sample 0 is all zero
    (padding, when ``m > 1``)."""
    g = torch.Generator().manual_seed(seed)
    coords = min(c, 3) if coords is None else coords
    parent = parent_joints(layout).tolist()
    depth = layout.hop_distance()[:, layout.center].tolist()
    direction = torch.randn(n, m, layout.num_joints, coords, generator=g)
    phase = torch.rand(n, m, 1, layout.num_joints, 1, generator=g) * 2 * math.pi
    time = torch.linspace(0, 2 * math.pi, t).view(1, 1, t, 1, 1)
    sway = 0.3 * torch.sin(time + phase)  # [N, M, T, V, 1]
    bone = direction.unsqueeze(2) + sway
    bone = bone / bone.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    position = torch.zeros(n, m, t, layout.num_joints, coords)
    for joint in sorted(range(layout.num_joints), key=depth.__getitem__):  # parents before children
        if joint != layout.center:
            position[..., joint, :] = position[..., parent[joint], :] + bone[..., joint, :]
    channels = [position]
    if c > coords:
        channels.append(0.3 + 0.7 * torch.rand(n, m, t, layout.num_joints, c - coords, generator=g))
    x = torch.cat(channels, dim=-1)
    x = x * (torch.rand(n, m, t, layout.num_joints, 1, generator=g) > 0.1)
    if m > 1:
        x[0, -1] = 0
    return x


def check_inputs(card: ModelCard, frames: int, seed: int = 0) -> dict[str, Tensor]:
    """The inputs :func:`check_export` compares on: random ones at the trace shape and at other batch and
    frame counts (batch 1 included), and skeleton-like ones (N=2, other frame count, a padded person)."""
    g = torch.Generator().manual_seed(seed)
    v, c = card.layout.num_joints, card.in_channels
    other = frames // 2 + 3
    return {
        f"random N=2 T={frames}": torch.randn(2, 2, frames, v, c, generator=g),
        f"random N=1 T={other}": torch.randn(1, 2, other, v, c, generator=g),
        f"random N=3 M=1 T={frames + 5}": torch.randn(3, 1, frames + 5, v, c, generator=g),
        f"skeleton N=2 T={frames + 7} padded person": skeleton_like_input(card.layout, 2, 2, frames + 7, c, seed),
    }


def check_export(
    run: Callable[[np.ndarray], np.ndarray], net: nn.Module, inputs: Mapping[str, Tensor],
    tolerance: float = TOLERANCE,
) -> dict[str, float]:
    """Max abs difference of the logits of ``run`` (the exported file) and ``net`` (PyTorch) per input.

    Raises:
        ExportError: on the first input that the export fails to run, or whose difference is not below
            ``tolerance`` (or whose output has the wrong shape or is not finite), naming the input.
    """
    differences = {}
    for name, x in inputs.items():
        with torch.no_grad():
            expected = net(x)[0].numpy()
        try:
            got = np.asarray(run(x.numpy()))
        except Exception as err:  # onnxruntime and TorchScript raise their own types
            raise ExportError(f"on {name}: the export fails to run ({root_cause(err)})") from err
        if got.shape != expected.shape:
            raise ExportError(f"on {name}: the export gives logits of shape {list(got.shape)}, "
                              f"PyTorch {list(expected.shape)}")
        diff = float(np.abs(got - expected).max()) if np.isfinite(got).all() else math.inf
        if not diff < tolerance:
            raise ExportError(f"on {name}: max abs difference of the logits to PyTorch {diff:.3g} "
                              f"(tolerance {tolerance:g})")
        differences[name] = diff
    return differences


def export_onnx(net: nn.Module, example: Tensor, path: Path, card: dict) -> None:
    """Write ``net`` as ONNX: one self-contained file, axes named ``batch``, ``persons`` and ``frames``, the
    card in ``metadata_props`` with ``input.min_frames``, the fewest frames torch.export proved the graph for.

    The graph is recorded by ``torch.export`` with guards kept as errors (not deferred to run-time asserts
    that ONNX drops): a network whose shapes only hold for some ``T`` (e.g. even ones) then keeps a static
    frame axis, and the check refuses the file, rather than computing wrong shapes at other ``T``.
    """
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("persons"), 2: torch.export.Dim.AUTO}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on torchvision, deprecated pytree calls, ...
        recorded = torch.export.export(net, (example,), dynamic_shapes={"x": dims}, strict=False)
        program = torch.onnx.export(recorded, (example,), dynamo=True, input_names=["x"],
                                    output_names=["logits", "feature"], verbose=False)
    (x,) = (node.meta["val"] for node in recorded.graph.nodes if node.op == "placeholder" and node.name == "x")
    names = {str(size): axis for size, axis in zip(x.shape[:3], ("batch", "persons", "frames"))
             if isinstance(size, torch.SymInt)}
    _rename_axes(program.model.graph, names)
    min_frames = int(recorded.range_constraints[x.shape[2].node.expr].lower) if "frames" in names.values() else None
    card = {**card, "input": {**card["input"], "min_frames": min_frames}}
    program.model.metadata_props[CARD_KEY] = json.dumps(card)
    program.save(path, external_data=False)


def _rename_axes(graph, names: Mapping[str, str]) -> None:
    """Replace torch.export's size symbols (``s77``) by axis names in every shape of the ONNX ``graph``."""
    import onnx_ir

    if not names:
        return
    symbol = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    values = [*graph.inputs, *graph.outputs, *(out for node in graph for out in node.outputs)]
    for value in values:
        if value.shape is not None:
            value.shape = onnx_ir.Shape([
                symbol.sub(lambda m: names[m.group()], str(dim.value))
                if isinstance(dim, onnx_ir.SymbolicDim) and dim.value is not None else dim
                for dim in value.shape
            ])


def onnx_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Logits of the ONNX file at ``path``, run by onnxruntime on the CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(["logits"], {"x": x})[0]


def export_torchscript(net: nn.Module, example: Tensor, path: Path, card: dict) -> None:
    """Write ``net`` as traced TorchScript (the card as the extra file ``pygkd_card.json``)."""
    with warnings.catch_warnings():
        # torch 2.13 marks torch.jit deprecated; the tracer warns about the Python checks on static sizes
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net, (example,), check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={f"{CARD_KEY}.json": json.dumps(card)})


def torchscript_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Logits of the TorchScript file at ``path``, reloaded with ``torch.jit.load``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(path), map_location="cpu")

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x))[0].numpy()

    return run


WRITERS = {"onnx": (export_onnx, onnx_runner), "torchscript": (export_torchscript, torchscript_runner)}


def export_checkpoint(
    checkpoint: str | Path, fmt: str, out: str | Path, frames: int | None = None, tolerance: float = TOLERANCE,
    seed: int = 0, allow_modules: Sequence[str] = (), allow_unfinished: bool = False,
) -> ExportReport:
    """Export the network of ``checkpoint`` to ``out`` as ``fmt`` (``"onnx"`` or ``"torchscript"``).

    The file is written next to ``out`` under a temporary name, checked (:func:`check_export`) and only
    then moved onto ``out``; a failed export or check leaves no file.

    Args:
        frames: ``T`` of the example input; default the preprocessing's ``FixLength``, else 64.
        tolerance: largest max abs logit difference to PyTorch that is accepted.
        seed: seed of the check's inputs.

    Raises:
        ConfigError: an unknown format.
        ExportError: the exporter failed, or the check refused the file.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {list(FORMATS)}")
    model, card, state = load_model(checkpoint, allow_modules=allow_modules)
    require_finished(state, checkpoint, allow_unfinished)
    frames = frames or fixed_length(preprocessing(card, state)) or 64
    net = InferenceNetwork(model).eval()
    card_json = export_card(card, state, frames)
    write, runner = WRITERS[fmt]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        example = torch.randn(2, 2, frames, card.layout.num_joints, card.in_channels,
                              generator=torch.Generator().manual_seed(seed))
        try:
            write(net, example, tmp, card_json)
        except Exception as err:  # the exporters raise many types; each means "this network did not export"
            raise ExportError(f"{checkpoint}: {fmt} export failed: {root_cause(err)}") from err
        try:
            differences = check_export(runner(tmp), net, check_inputs(card, frames, seed), tolerance)
        except ExportError as err:
            raise ExportError(f"{checkpoint}: the {fmt} export does not match PyTorch {err}; no file written") \
                from None
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportReport(out, fmt, differences)


def root_cause(err: BaseException) -> str:
    """``"Type: first line"`` of the innermost exception that ``err`` was raised from."""
    while err.__cause__ is not None:
        err = err.__cause__
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"


def read_card(path: str | Path) -> dict:
    """The card embedded in an exported file: a TorchScript archive (a zip file) or an ONNX model."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        files = {f"{CARD_KEY}.json": ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.load(str(path), map_location="cpu", _extra_files=files)
        return json.loads(files[f"{CARD_KEY}.json"])
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return json.loads({p.key: p.value for p in model.metadata_props}[CARD_KEY])
