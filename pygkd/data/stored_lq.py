"""A synthesised LQ stream written once per (synthesis, seed) and read like a stored stream afterwards.

:class:`~pygkd.data.lq_synthesis.SynthesizeLQ` draws its degradation from ``(seed, sample index)``, so the
LQ skeleton of a sample is the same in every epoch and every run with that seed: storing it is an exact
shortcut that takes the synthesis (about 15 ms per Penn Action sample on one core, as costly as a training
step of a small network) out of the training loop. :func:`stored_lq` writes a prepared copy of the dataset
with one more stream, :data:`STORED_LQ`, holding ``synthesis(source)`` of every sample, under a name keyed
by a digest of the synthesis, its seed, the source stream and the prepared dataset (its name, size and
creation time, so that preparing the data again writes a new copy); later calls find it and only open it.
The copy is written by :func:`~pygkd.data.store.prepare`, in a partial directory renamed when complete, so
an interrupted run never leaves a copy that opens.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .dataset import load_graph
from .lq_synthesis import SynthesizeLQ, degradation
from .raw import RawDataset, StreamInfo
from .store import PreparedDataset, prepare, raw_of_prepared
from .transforms import keypoints_of

STORED_LQ = "lq"
"""The name of the synthesised stream in the copy (it replaces a stored ``lq`` stream there)."""


def synthesis_key(prepared: PreparedDataset, source: str, synthesis: SynthesizeLQ) -> str:
    """``<source>-<target>-<severity>-seed<seed>-<digest>``: names the copy of ``synthesis`` of ``source``."""
    spec = {
        "target": synthesis.target, "severity": asdict(degradation(synthesis.severity)), "seed": synthesis.seed,
        "source_dims": synthesis.source_dims, "camera": asdict(synthesis.camera), "source": source,
        "data": [prepared.name, len(prepared), prepared.manifest.get("created")],
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    severity = synthesis.severity if isinstance(synthesis.severity, str) else "custom"
    return f"{source}-{synthesis.target}-{severity}-seed{synthesis.seed}-{digest}"


def default_folder(prepared: PreparedDataset) -> Path:
    """Where the copies of ``prepared`` go by default: the folder ``<prepared>.lq`` beside it."""
    return prepared.root.with_name(f"{prepared.root.name}.lq")


def stored_lq(
    prepared: PreparedDataset, source: str, synthesis: SynthesizeLQ, folder: str | Path | None = None
) -> PreparedDataset:
    """``prepared`` with the stream :data:`STORED_LQ` = ``synthesis`` of stream ``source``, written under
    ``folder`` (default :func:`default_folder`) on first use and opened from there afterwards.

    The copy keeps the samples' order (so their indices, which seed the other random transforms), splits,
    labels and other streams; ``synthesis`` of sample ``i`` equals ``copy.keypoints(STORED_LQ, i)``.
    """
    path = Path(folder if folder is not None else default_folder(prepared)) / synthesis_key(prepared, source, synthesis)
    if not path.exists():
        prepare(_synthesised(prepared, source, synthesis), path, progress=False)
    return PreparedDataset(path)


def _synthesised(prepared: PreparedDataset, source: str, synthesis: SynthesizeLQ) -> RawDataset:
    """``prepared`` as a raw dataset with the extra stream :data:`STORED_LQ`."""
    probe = load_graph(prepared, source, int(np.flatnonzero(prepared.frame_counts(source))[0]), synthesis)

    def synthesised(i: int) -> np.ndarray | None:
        return keypoints_of(load_graph(prepared, source, i, synthesis)).numpy() if prepared.has(source, i) else None

    info = StreamInfo(probe.layout, ("x", "y", "score")[: probe.x.size(-1)])
    notes = {**prepared.notes, STORED_LQ: f"{synthesis!r} of stream {source!r}"}
    return raw_of_prepared(prepared, synthesised, info, notes, extra_name=STORED_LQ)
