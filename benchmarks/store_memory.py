"""Peak memory of preparing and iterating an NTU-sized prepared dataset.

Generates ``--samples`` sequences of ``--frames`` x 2 persons x 25 joints x 3 channels (default: NTU RGB+D
60's 56,880 samples at its 300-frame maximum, ~5 GB as float16), writes them with
:func:`pygkd.data.store.prepare`, evicts the frames from the page cache so that reading starts cold, then
iterates them once, shuffled, through ``SkeletonDataset -> FixLength -> torch_geometric DataLoader ->
to_dense`` as training does. Memory is read from ``/proc/self/status`` (Linux): ``VmHWM`` is the peak
resident set, which counts the memory-mapped file pages that were touched; ``RssAnon`` is the process's
own (heap) memory, sampled after every batch; file-backed pages are page cache that the kernel reclaims
under memory pressure. The generated data is deleted afterwards unless ``--keep``.

    python benchmarks/store_memory.py                       # full size, float16 (needs ~5.2 GB free)
    python benchmarks/store_memory.py --samples 2000 --dtype float32
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from pygkd.data.dataset import SkeletonDataset
from pygkd.data.raw import RawDataset, RawSample, StreamInfo
from pygkd.data.skeleton_data import to_dense
from pygkd.data.store import PreparedDataset, prepare
from pygkd.data.transforms import FixLength

PERSONS, JOINTS, CHANNELS, CLASSES = 2, 25, 3, 60
MiB = 2**20


def memory() -> dict[str, int]:
    """``VmHWM``, ``VmRSS``, ``RssAnon`` and ``RssFile`` of this process, in bytes."""
    wanted = ("VmHWM", "VmRSS", "RssAnon", "RssFile")
    with open("/proc/self/status") as status:
        fields = (line.split() for line in status)
        return {f[0][:-1]: int(f[1]) * 1024 for f in fields if f[0][:-1] in wanted}


def reset_peak() -> None:
    """Start a new ``VmHWM`` measurement (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def ntu_sized(samples: int, frames: int) -> RawDataset:
    """``samples`` sequences ``[2, frames, 25, 3]``, made one at a time: one of 16 random blocks plus a
    per-sample offset, so that generating costs little next to validating and writing."""
    blocks = np.random.default_rng(0).standard_normal((16, PERSONS, frames, JOINTS, CHANNELS), np.float32)

    def generate() -> Iterator[RawSample]:
        for i in range(samples):
            keypoints = blocks[i % len(blocks)] + np.float32(i / samples)
            yield RawSample(f"S{i:06d}", i % CLASSES, {"hq": keypoints}, ("train",))

    return RawDataset(
        "ntu_sized", [f"A{k + 1:03d}" for k in range(CLASSES)], {"hq": StreamInfo("ntu25", ("x", "y", "z"))},
        generate, num_samples=samples,
    )


def evict(path: Path) -> None:
    """Drop a file's pages from the page cache, so that the next read comes from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def iterate(root: Path, frames: int, batch_size: int) -> dict[str, float]:
    """One shuffled pass as training reads it; returns throughput and peak memory."""
    dataset = SkeletonDataset(PreparedDataset(root), None, "hq", FixLength(frames))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    reset_peak()
    peak_anon = peak_file = 0
    start = time.perf_counter()
    for batch in loader:
        dense = to_dense(batch.x, PERSONS, JOINTS)
        assert dense.shape[1:] == (PERSONS, frames, JOINTS, CHANNELS)
        now = memory()
        peak_anon, peak_file = max(peak_anon, now["RssAnon"]), max(peak_file, now["RssFile"])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "samples_per_s": len(dataset) / seconds, "peak_rss": memory()["VmHWM"],
            "peak_anon": peak_anon, "peak_file": peak_file}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=56_880, help="NTU RGB+D 60 has 56,880")
    parser.add_argument("--frames", type=int, default=300, help="frames per sample (NTU's maximum)")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()), help="where to write the data")
    parser.add_argument("--keep", action="store_true", help="keep the prepared dataset")
    args = parser.parse_args()

    itemsize = np.dtype(args.dtype).itemsize
    frames_bytes = args.samples * args.frames * PERSONS * JOINTS * CHANNELS * itemsize
    free = shutil.disk_usage(args.dir).free
    if free < 1.05 * frames_bytes:
        raise SystemExit(f"{args.dir}: {free / 2**30:.1f} GiB free, the dataset needs {frames_bytes / 2**30:.1f} GiB")
    torch.set_num_threads(1)
    workdir = Path(tempfile.mkdtemp(prefix="pygkd-store-memory-", dir=args.dir))
    root = workdir / "ntu_sized"
    try:
        baseline = memory()
        reset_peak()
        start = time.perf_counter()
        prepare(ntu_sized(args.samples, args.frames), root, dtype=args.dtype)
        prepare_s = time.perf_counter() - start
        prepare_peak = memory()["VmHWM"]
        disk = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
        evict(root / "hq.frames.npy")
        it = iterate(root, args.frames, args.batch_size)
    finally:
        if not args.keep:
            shutil.rmtree(workdir)

    rows = [
        ("dataset", f"{args.samples:,} x {args.frames} x {PERSONS} x {JOINTS} x {CHANNELS}, {args.dtype}"),
        ("on disk", f"{disk / 2**30:.2f} GiB"),
        ("prepare", f"{prepare_s:.0f} s ({disk / MiB / prepare_s:.0f} MiB/s)"),
        ("RSS after imports (anonymous, file-backed)",
         f"{baseline['VmRSS'] / MiB:.0f} MiB ({baseline['RssAnon'] / MiB:.0f}, {baseline['RssFile'] / MiB:.0f})"),
        ("peak RSS while preparing", f"{prepare_peak / MiB:.0f} MiB"),
        ("iterate (cold cache, shuffled, batch {})".format(args.batch_size),
         f"{it['seconds']:.0f} s, {it['samples_per_s']:.0f} samples/s"),
        ("peak RSS while iterating (VmHWM)", f"{it['peak_rss'] / MiB:.0f} MiB"),
        ("  of which anonymous (RssAnon)", f"{it['peak_anon'] / MiB:.0f} MiB"),
        ("  of which file-backed (RssFile)", f"{it['peak_file'] / MiB:.0f} MiB"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"| {'':<{width}} | |\n|{'-' * (width + 2)}|---|")
    for key, value in rows:
        print(f"| {key:<{width}} | {value} |")


if __name__ == "__main__":
    main()
