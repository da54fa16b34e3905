"""Pairing clips read on demand (the LQ stream, e.g. a pose estimator's output) with the samples of another
reader (the HQ stream: Kinect ``.skeleton`` files, mocap, an ``.npz``) by id: the paper's real setting.

The HQ reader's samples are walked once, in its order; each whose ``sample_id`` is a clip id becomes a
pair (``lq`` from the clip, ``hq`` from the sample); then the clips that found no HQ sample follow as
solitary samples with only ``lq`` (the store and :class:`~pygkd.data.dataset.PairDataset` train them
without a teacher). HQ samples without a clip are dropped. Labels and splits come from the clips'
annotations (a CSV, folders, fractions) or, with ``annotations=None``, from the HQ samples; then a
clip without an HQ sample has no label and is dropped too. Counted while the samples are read:
``skipped["hq_only"]`` (HQ samples without a clip), ``skipped["lq_only_unlabelled"]`` (clips dropped
for want of an HQ label) and ``notes["lq_without_hq"]`` (solitary clips), with a few example ids.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

import numpy as np

from ..raw import DataFormatError, RawDataset, RawSample, StreamInfo
from .clip_labels import ClipAnnotations

EXAMPLES = 5


@dataclass
class LqClips:
    """The LQ side of a pairing.

    Attributes:
        info: the stream's layout and channels.
        read: clip id -> a function returning its keypoints ``[M, T, V, C]``, in the clips' order.
        meta: clip id -> the sample's metadata.
    """

    info: StreamInfo
    read: Mapping[str, Callable[[], np.ndarray]]
    meta: Mapping[str, dict]


def pair_with_hq(
    name: str, lq: LqClips, hq: RawDataset, annotations: ClipAnnotations | None, splits_from_hq: bool
) -> RawDataset:
    """A dataset of streams ``lq`` and ``hq`` paired by id (module docstring).

    Args:
        name: the dataset's name.
        lq: the clips.
        hq: the other reader's dataset; its ``"hq"`` stream is taken.
        annotations: the clips' labels and splits, or ``None`` for the HQ samples' labels and splits.
        splits_from_hq: take the splits from the HQ samples even when the labels are the clips'.
    """
    if "hq" not in hq.streams:
        raise DataFormatError(f"HQ reader {hq.name}: no 'hq' stream (it has {', '.join(hq.streams)})")
    labels = None if annotations is None else annotations.labels
    class_names = hq.class_names if annotations is None else annotations.class_names
    same_classes = list(class_names) == list(hq.class_names)
    skipped = dict(annotations.skipped if annotations else {}) | {"hq_only": 0}
    if annotations is None:
        skipped["lq_only_unlabelled"] = 0
    notes = dict(annotations.notes if annotations else {}) | {"lq_without_hq": 0}

    def samples() -> Iterator[RawSample]:
        hq_only: list[str] = []
        paired: set[str] = set()
        for sample in hq.samples():
            clip = sample.sample_id
            if clip not in lq.read or "hq" not in sample.streams:
                hq_only.append(clip)
                continue
            if labels is not None and clip not in labels:
                continue  # an unlabelled clip, counted in the annotations
            label = sample.label if labels is None else labels[clip]
            if same_classes and label != sample.label:
                raise DataFormatError(f"sample {clip}: label {class_names[label]!r} from the clips' labels but "
                                      f"{hq.class_names[sample.label]!r} from HQ reader {hq.name}")
            splits = sample.splits if splits_from_hq or annotations is None else annotations.splits[clip]
            paired.add(clip)
            yield RawSample(clip, label, {"lq": lq.read[clip](), "hq": sample.streams["hq"]}, tuple(splits),
                            {**lq.meta[clip], **sample.meta})
        if not paired:
            raise DataFormatError(
                f"{name}: no clip id matches a sample id of HQ reader {hq.name} (clips e.g. {list(lq.read)[:3]}, "
                f"HQ samples e.g. {hq_only[:3]}); pair them by equal ids"
            )
        solitary = [clip for clip in lq.read if clip not in paired and (labels is None or clip in labels)]
        skipped["hq_only"] = len(hq_only)
        notes["hq_only_examples"] = hq_only[:EXAMPLES]
        if labels is None:
            skipped["lq_only_unlabelled"] = len(solitary)
            notes["lq_only_unlabelled_examples"] = solitary[:EXAMPLES]
            return
        notes["lq_without_hq"] = len(solitary)
        notes["lq_without_hq_examples"] = solitary[:EXAMPLES]
        for clip in solitary:
            splits = () if splits_from_hq else annotations.splits[clip]
            yield RawSample(clip, labels[clip], {"lq": lq.read[clip]()}, splits, dict(lq.meta[clip]))

    return RawDataset(
        name=name,
        class_names=list(class_names),
        streams={"lq": lq.info, "hq": hq.streams["hq"]},
        samples=samples,
        num_samples=None if labels is None else len(labels),
        skipped=skipped,
        notes=notes,
    )
