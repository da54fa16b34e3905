r"""Predictions of a trained network on new skeletons: prepared datasets, ``.npz`` files, pose-estimator
output and a live stream of frames.

The network reads what it read in training, whatever the input: its checkpoint's card
(:class:`~.checkpoint.ModelCard`) stores the transform chain from its stored stream to the network input.
An input in the stored stream's layout gets the whole chain; an input already in the network's layout
(pose-estimator output for a student trained on LQ synthesized from HQ) gets the chain's tail after the
last layout change (:attr:`~.checkpoint.ModelCard.layout_transforms`); an input in another layout is first
mapped to the network's (:class:`~pygkd.data.transforms.MapLayout`). Graphs are built, transformed and batched
as in evaluation (:func:`~.trainer.dense_input`), so a prepared sample gets the logits ``pygkd eval`` computes.

A clip of :math:`T` frames is predicted whole, or in windows of :math:`W` frames every :math:`S` frames
(:func:`window_bounds`): windows :math:`[kS, kS + W)` for :math:`k = 0 \dots \lfloor (T - W) / S \rfloor`,
and one window of the whole clip when :math:`T \le W`. The frames after the last full window are not
covered (at most :math:`S - 1` of them); the stream (:func:`predict_stream`) emits exactly these windows,
each once its last frame has arrived.
"""
from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.transforms import BaseTransform

from ..data.raw import DataFormatError, StreamInfo
from ..data.readers.generic_npz import read_npz
from ..data.readers.person_tracks import clip_layout, link_persons
from ..data.readers.pose_clips import read_pose_clips
from ..data.readers.pose_frames import parse_frame
from ..data.skeleton_data import SkeletonData
from ..data.store import MANIFEST, PreparedDataset
from ..skeleton import get_layout
from .build import build_transform, split_indices
from .checkpoint import ModelCard, load_model, require_finished
from .trainer import dense_input


POSE_CHANNELS = ("x", "y", "score")
"""The channels of pose-estimator output."""


@dataclass
class Clip:
    """One input sequence.

    Attributes:
        clip_id: its name (sample id, clip folder or file).
        keypoints: ``[M, T, V, C]`` float32.
        layout: layout name of ``keypoints``.
        channels: what the ``C`` channels hold, e.g. ``("x", "y", "score")``.
        index: the sample's position in its dataset or input; it seeds random transforms, as in evaluation.
        label: the true class name when the input has one.
    """

    clip_id: str
    keypoints: np.ndarray
    layout: str
    channels: tuple[str, ...] = POSE_CHANNELS
    index: int = 0
    label: str | None = None


@dataclass
class Prediction:
    """The ``k`` most likely classes of one window ``[start, end)`` of a clip (frames of the input).

    Attributes:
        classes: class names, most likely first.
        probabilities: their softmax probabilities (they sum to at most 1).
    """

    clip_id: str
    start: int
    end: int
    classes: list[str]
    probabilities: list[float]
    label: str | None = None

    def to_dict(self) -> dict:
        """``{clip, start, end[, label], top: [{class, probability}]}`` (one JSON line of ``--stream``)."""
        record: dict = {"clip": self.clip_id, "start": self.start, "end": self.end}
        if self.label is not None:
            record["label"] = self.label
        record["top"] = [{"class": c, "probability": p} for c, p in zip(self.classes, self.probabilities)]
        return record


CSV_HEADER = ("clip", "start", "end", "label", "rank", "class", "probability")


def csv_rows(predictions: Iterable[Prediction]) -> Iterator[list]:
    """One row per prediction and rank (:data:`CSV_HEADER`); ``label`` is empty when unknown."""
    for p in predictions:
        for rank, (name, prob) in enumerate(zip(p.classes, p.probabilities), 1):
            yield [p.clip_id, p.start, p.end, p.label or "", rank, name, f"{prob:.6f}"]


def window_bounds(num_frames: int, window: int | None = None, stride: int | None = None) -> list[tuple[int, int]]:
    """Frame ranges ``[(start, end)]`` of the windows of a clip (module docstring).

    Args:
        num_frames: ``T`` >= 1.
        window: ``W`` frames; None: the whole clip.
        stride: ``S`` frames between window starts; default ``W`` (windows side by side).
    """
    if window is None:
        return [(0, num_frames)]
    stride = stride or window
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1 frame, got {window} and {stride}")
    if num_frames <= window:
        return [(0, num_frames)]
    return [(s, s + window) for s in range(0, num_frames - window + 1, stride)]


def top_classes(logits: Tensor, class_names: Sequence[str], k: int) -> list[tuple[list[str], list[float]]]:
    """``[N, K]`` logits -> for each row, the ``min(k, K)`` most likely class names and their softmax
    probabilities."""
    probs, index = logits.float().softmax(-1).topk(min(k, logits.size(-1)), dim=-1)
    return [([class_names[i] for i in row], p.tolist()) for row, p in zip(index.tolist(), probs)]


def input_chain(card: ModelCard, layout: str, channels: Sequence[str]) -> list[dict]:
    """The transform specs that turn an input of ``layout`` with ``channels`` into the network's input (module
    docstring); a mapped input keeps its confidence channel when its last channel is ``score``."""
    if layout == card.stream_layout.name and list(channels) == card.stream_channels:
        return card.transforms
    if layout == card.layout.name:
        return card.layout_transforms
    mapping = {"name": "MapLayout", "target": card.layout.name, "score": channels[-1] == "score"}
    return [mapping, *card.layout_transforms]


def choose_stream(card: ModelCard, streams: Mapping[str, StreamInfo], where: str) -> str:
    """The stream of a dataset to predict from: the card's stream (same name and layout), else a stream in the
    card's stream layout, else one in the network's layout, else the first that maps to it."""
    layouts = {name: get_layout(info.layout).name for name, info in streams.items()}
    channels = {name: list(info.channels) for name, info in streams.items()}
    stored = (card.stream_layout.name, card.stream_channels)
    for fits in (
        lambda s: s == card.stream and (layouts[s], channels[s]) == stored,
        lambda s: (layouts[s], channels[s]) == stored,
        lambda s: layouts[s] == card.layout.name,
        lambda s: True,  # a layout mapping decides (and names the pair it lacks)
    ):
        chosen = [s for s in streams if fits(s)]
        if chosen:
            return chosen[0]
    raise DataFormatError(f"{where}: no stream")


class Predictor:
    """A trained network with the input chain of its card, predicting class probabilities of clips (in float32).

    Args:
        model: the network, in eval mode on ``device``.
        card: its card; it must store its preprocessing (checkpoints written since pygkd stores it).
        device: where the network runs.
        batch_size: windows per forward pass.
        source: the checkpoint file, for messages.
    """

    def __init__(self, model: nn.Module, card: ModelCard, device: torch.device, batch_size: int = 64,
                 source: str = "<checkpoint>") -> None:
        if not card.has_preprocessing:
            raise DataFormatError(
                f"{source}: the checkpoint predates stored preprocessing (its card has no input transforms), so "
                "predict cannot know what its network read; retrain it with this pygkd, or evaluate it with "
                "`pygkd eval --checkpoint ... --config ...`"
            )
        self.model, self.card, self.device, self.batch_size, self.source = model, card, device, batch_size, source
        self._chains: dict[tuple[str, tuple[str, ...]], BaseTransform | None] = {}

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", batch_size: int = 64,
             allow_modules: Sequence[str] = (), allow_unfinished: bool = False) -> "Predictor":
        """The predictor of a checkpoint; ``allow_modules`` and ``allow_unfinished`` as in
        :func:`~.checkpoint.load_model` and :func:`~.checkpoint.require_finished`."""
        model, card, state = load_model(path, device, allow_modules)
        require_finished(state, path, allow_unfinished)
        return cls(model, card, torch.device(device), batch_size, str(path))

    def transform(self, layout: str, channels: Sequence[str]) -> BaseTransform | None:
        """The built :func:`input_chain` of an input (built once per layout and channels)."""
        key = (layout, tuple(channels))
        if key not in self._chains:
            self._chains[key] = build_transform(input_chain(self.card, layout, channels), seed=0)  # seeds resolved
        return self._chains[key]

    def graph(self, clip: Clip, start: int = 0, end: int | None = None) -> SkeletonData:
        """Frames ``[start, end)`` of ``clip`` as the network's input graph."""
        where = f"clip {clip.clip_id!r}"
        data = SkeletonData.from_keypoints(clip.keypoints[:, start:end], clip.layout, 0, clip.clip_id)
        data.index = torch.tensor([clip.index], dtype=torch.long)
        transform = self.transform(get_layout(clip.layout).name, clip.channels)
        try:
            data = transform(data) if transform is not None else data
        except (KeyError, ValueError) as err:  # a layout pair without a mapping, a bad sample
            raise DataFormatError(f"{where}: {err}") from None
        if (data.layout, data.x.size(-1)) != (self.card.layout.name, self.card.in_channels):
            raise DataFormatError(
                f"{where}: {clip.layout} keypoints with {clip.keypoints.shape[-1]} channels give {data.layout} with "
                f"{data.x.size(-1)} channels, but the network of {self.source} reads {self.card.layout.name} with "
                f"{self.card.in_channels} channels"
            )
        return data

    @torch.no_grad()
    def logits(self, graphs: Sequence[SkeletonData]) -> Tensor:
        """``[N, K]`` class scores of the input graphs, batched as in evaluation (consecutive graphs of the
        same shape together, at most ``batch_size`` at a time)."""
        out, start = [], 0
        while start < len(graphs):
            shape = graphs[start].x.shape
            stop = start + 1
            while stop < min(len(graphs), start + self.batch_size) and graphs[stop].x.shape == shape:
                stop += 1
            batch = Batch.from_data_list(list(graphs[start:stop])).to(self.device)
            out.append(self.model(dense_input(batch.x, batch.num_graphs, self.card.layout.num_joints)).logits.cpu())
            start = stop
        return torch.cat(out) if out else torch.zeros(0, self.card.num_classes)

    def predict(self, clips: Iterable[Clip], window: int | None = None, stride: int | None = None,
                top_k: int = 5) -> Iterator[Prediction]:
        """The top-``k`` classes of every window of every clip (:func:`window_bounds`), in input order."""
        pending: list[tuple[Clip, int, int, SkeletonData]] = []
        for clip in clips:
            for start, end in window_bounds(clip.keypoints.shape[1], window, stride):
                pending.append((clip, start, end, self.graph(clip, start, end)))
            if len(pending) >= self.batch_size:
                yield from self._flush(pending, top_k)
                pending = []
        yield from self._flush(pending, top_k)

    def _flush(self, pending: list[tuple[Clip, int, int, SkeletonData]], top_k: int) -> Iterator[Prediction]:
        tops = top_classes(self.logits([g for *_, g in pending]), self.card.class_names, top_k)
        for (clip, start, end, _), (classes, probs) in zip(pending, tops):
            yield Prediction(clip.clip_id, start, end, classes, probs, clip.label)


def prepared_clips(prepared: PreparedDataset, card: ModelCard, split: str | None = None) -> Iterator[Clip]:
    """The samples of a prepared dataset (of ``split``, else all) that have the stream :func:`choose_stream`
    picks, with their prepared index (so that random transforms draw as in evaluation)."""
    stream = choose_stream(card, prepared.streams, str(prepared.root))
    indices = split_indices(prepared, split, "split") if split else np.arange(len(prepared))
    info = prepared.streams[stream]
    for i in indices[prepared.frame_counts(stream)[indices] > 0]:
        i = int(i)
        label = prepared.class_names[int(prepared.labels[i])]
        yield Clip(prepared.sample_ids[i], prepared.keypoints(stream, i), info.layout, info.channels, i, label)


def npz_clips(path: Path, card: ModelCard, split: str | None = None) -> Iterator[Clip]:
    """The samples of a generic ``.npz`` dataset (:mod:`pygkd.data.readers.generic_npz`) of ``split``, else all."""
    raw = read_npz(path)
    stream = choose_stream(card, raw.streams, str(path))
    found = False
    for index, sample in enumerate(raw.samples()):
        if (split is None or split in sample.splits) and stream in sample.streams:
            found = True
            label = raw.class_names[sample.label]
            info = raw.streams[stream]
            yield Clip(sample.sample_id, sample.streams[stream], info.layout, tuple(info.channels), index, label)
    if split is not None and not found:
        raise DataFormatError(f"{path}: no sample of split {split!r} has the {stream!r} stream")


def pose_clips(path: Path, fmt: str | None = None, num_persons: int = 2,
               images: str | Path | None = None) -> Iterator[Clip]:
    """The clips of pose-estimator output (:func:`~pygkd.data.readers.pose_clips.read_pose_clips`)."""
    for index, clip in enumerate(read_pose_clips(path, fmt, num_persons, images=images)):
        yield Clip(clip.clip_id, clip.keypoints, clip.layout, POSE_CHANNELS, index)


def open_input(path: str | Path, card: ModelCard, split: str | None = None, fmt: str | None = None,
               num_persons: int = 2, images: str | Path | None = None) -> Iterator[Clip]:
    """The clips of one input: a prepared dataset folder (it holds ``manifest.json``), a generic ``.npz``, or
    pose-estimator output (a clip file, a clip folder, a folder of clips; format ``fmt``, default: told by
    name and content, persons linked and the ``num_persons`` most active kept; ``images``: the frame ->
    clip mapping of a COCO results file)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if (path / MANIFEST).is_file():
        return prepared_clips(PreparedDataset(path), card, split)
    if path.suffix == ".npz":
        return npz_clips(path, card, split)
    if split is not None:
        raise DataFormatError(f"{path}: pose-estimator output has no splits; a split selects samples of a prepared "
                              "dataset or an .npz file")
    return pose_clips(path, fmt, num_persons, images)


def predict_stream(
    predictor: Predictor,
    lines: Iterable[str],
    emit: Callable[[Prediction], None],
    report: Callable[[str], None],
    window: int,
    stride: int | None = None,
    top_k: int = 5,
    num_persons: int = 2,
    source: str = "stdin",
) -> int:
    """Predict a live stream of frames, one JSON frame per line (any format of
    :func:`~pygkd.data.readers.pose_frames.parse_frame`), over the last ``window`` frames every ``stride``
    frames (the windows of :func:`window_bounds`, counted in accepted frames).

    A line that is not a frame is reported (``"<source> line N: ..."``) and skipped, as is a window that cannot
    be predicted (no person in it); the stream goes on. A stream that ends before its first window is
    predicted once, whole. Returns the number of predictions emitted.
    """
    stride = stride or window
    frames: deque = deque(maxlen=window)
    accepted = emitted = 0

    def predict_window() -> None:
        nonlocal emitted
        start = accepted - len(frames)
        where = f"{source} frames {start}..{accepted - 1}"
        try:
            keypoints = link_persons(list(frames), num_persons, where)
            layout = clip_layout(frames, where)
            (prediction,) = predictor.predict([Clip(source, keypoints, layout)], top_k=top_k)
        except DataFormatError as err:
            report(f"{err}; no prediction for this window")
            return
        prediction.start, prediction.end = start, accepted
        emit(prediction)
        emitted += 1

    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source} line {number}"
        try:
            frame = parse_frame(json.loads(line), where)
        except json.JSONDecodeError as err:
            report(f"{where}: not JSON ({err.msg} at column {err.colno}); expected one frame as a JSON object or "
                   "list per line; skipped")
            continue
        except DataFormatError as err:
            report(f"{err}; skipped")
            continue
        frames.append(frame)
        accepted += 1
        if accepted >= window and (accepted - window) % stride == 0:
            predict_window()
    if accepted and accepted < window:
        predict_window()
    return emitted
