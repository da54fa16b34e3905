"""Latency of one prediction window on the CPU: eager PyTorch, TorchScript and onnxruntime, on one thread.

A window is one sample of 64 frames, ``x`` ``[1, M, 64, V, C]``, as ``pygkd predict --window 64`` feeds it.
The networks (initialised weights: the latency does not depend on their values):

* ``demo``: the demo's student (``configs/demo.yaml`` ``model.student``), COCO-17 (x, y, score), one person;
* ``paper``: the paper's ST-GCN (nine blocks, 64-256 channels), NTU 25 joints 3D, two persons, 60 classes;
* ``agcn``, ``efficientgcn-b4``: the paper's other GCN blocks (Table 3), on request.

Each network is wrapped as :class:`pygkd.engine.export.InferenceNetwork` (logits and global feature, what
the exported files compute) and exported with the writers of ``pygkd export`` into a temporary folder; the
files are checked against PyTorch (``check_export``, logits within 1e-4) before they are timed. The three
engines then run in turn, round after round, so that a change in the load of a shared machine hits all of
them, each on one thread (``torch.set_num_threads(1)``; onnxruntime ``intra_op_num_threads=1``,
``inter_op_num_threads=1``), and the table gives the median and the minimum milliseconds per window.

The second table is the throughput of ``pygkd predict --stream`` for the demo student (its card carrying the
demo's LQ chain): ``--frames`` frames of one person as COCO keypoint results, one JSON line per frame, piped
into the command (a subprocess with ``OMP_NUM_THREADS=1``), windows of 64 frames every ``--stride`` frames.
Frames per second are counted from the first prediction to the last, which leaves the start-up out.

    python benchmarks/predict_latency.py                            # demo and paper, about 3 minutes
    python benchmarks/predict_latency.py --networks demo --runs 50  # the demo student only
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import onnxruntime
import torch

from pygkd.engine.checkpoint import ModelCard, save_checkpoint
from pygkd.engine.config import load_config
from pygkd.engine.export import (
    InferenceNetwork, check_export, check_inputs, export_card, export_onnx, export_torchscript, skeleton_like_input,
    torchscript_runner,
)
from pygkd.skeleton import get_layout

WINDOW = 64
REPO = Path(__file__).resolve().parents[1]
# name -> (model spec, layout, channels, persons, classes)
NETWORKS: dict[str, Callable[[], tuple[dict, str, int, int, int]]] = {
    "demo": lambda: (load_config("demo")["model"]["student"], "coco17", 3, 1, 11),
    "paper": lambda: ({"backbone": "stgcn"}, "ntu25", 3, 2, 60),
    "agcn": lambda: ({"backbone": "stgcn", "layer": "agcn", "channels": [64, 64, 64, 64, 128, 128, 128, 256, 256, 256],
                      "strides": [1, 1, 1, 1, 2, 1, 1, 2, 1, 1]}, "ntu25", 3, 2, 60),
    "efficientgcn-b4": lambda: ({"backbone": "efficientgcn", "scale": 4}, "ntu25", 3, 2, 60),
}


def onnx_session(path: Path) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def engines(card: ModelCard, folder: Path) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """name -> logits of a ``[1, M, T, V, C]`` float32 array, every engine checked against PyTorch first."""
    torch.manual_seed(0)
    net = InferenceNetwork(card.build()).eval()
    example = torch.randn(2, 2, WINDOW, card.layout.num_joints, card.in_channels)
    export_torchscript(net, example, folder / "net.pt", export_card(card, {}, WINDOW))
    export_onnx(net, example, folder / "net.onnx", export_card(card, {}, WINDOW))
    session = onnx_session(folder / "net.onnx")

    def eager(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(x))[0].numpy()

    runs = {"eager": eager, "torchscript": torchscript_runner(folder / "net.pt"),
            "onnxruntime": lambda x: session.run(["logits"], {"x": x})[0]}
    for name, run in runs.items():
        check_export(run, net, check_inputs(card, WINDOW))
    return runs


def interleaved(runs: dict[str, Callable[[np.ndarray], np.ndarray]], x: np.ndarray, warmup: int,
                rounds: int) -> dict[str, list[float]]:
    """Seconds of every call of every engine over ``rounds`` rounds that call each once, after ``warmup``."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(warmup + rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run(x)
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def demo_student_checkpoint(path: Path) -> Path:
    """The demo student (initialised) with a card that carries the demo's LQ stream and chain, as training
    writes it."""
    cfg = load_config("demo")
    transforms = cfg["data"]["lq"]["transforms"]
    layout = get_layout("coco17")
    card = ModelCard("student", cfg["model"]["student"], layout, 3, [f"c{i}" for i in range(11)], stream="lq",
                     stream_layout=layout, stream_channels=["x", "y", "score"], transforms=transforms,
                     layout_transforms=transforms)
    torch.manual_seed(0)
    save_checkpoint({"card": card.to_dict(), "model": card.build().state_dict(), "epoch": 0, "config": cfg}, path)
    return path


def coco_result_lines(frames: int) -> str:
    """``frames`` JSON lines, each the COCO keypoint results of one image with one person (pixels, scores)."""
    pose = skeleton_like_input(get_layout("coco17"), 1, 1, frames, 3, seed=0, coords=2)[0, 0]  # [T, 17, 3]
    pose[..., :2] = pose[..., :2] * 40 + torch.tensor([320.0, 240.0]) * pose[..., 2:].ne(0)
    return "".join(
        json.dumps([{"image_id": t, "category_id": 1, "keypoints": [round(v, 2) for v in pose[t].flatten().tolist()],
                     "score": 0.9}]) + "\n"
        for t in range(frames)
    )


def stream_rate(checkpoint: Path, lines: str, stride: int) -> tuple[int, float, float]:
    """``pygkd predict --stream`` fed ``lines`` through a pipe (written by a thread, as a live source would):
    its predictions, the seconds to the first one (start-up and the first window), and the frames per second
    from the first prediction to the last (the frames between their window ends over the time between them,
    which leaves the start-up out)."""
    command = [sys.executable, "-m", "cli.main", "predict", str(checkpoint), "--stream", "--window", str(WINDOW),
               "--stride", str(stride), "--persons", "1", "--top-k", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)

    def feed() -> None:
        process.stdin.write(lines)
        process.stdin.close()

    writer = threading.Thread(target=feed)
    writer.start()
    arrivals = [(time.perf_counter(), json.loads(line)["end"]) for line in process.stdout]
    writer.join()
    if process.wait() != 0 or len(arrivals) < 2:
        raise SystemExit(f"predict --stream exited with {process.returncode} after {len(arrivals)} predictions")
    (first, first_end), (last, last_end) = arrivals[0], arrivals[-1]
    return len(arrivals), first - start, (last_end - first_end) / (last - first)


def stream_table(frames: int, strides: list[int], repeats: int) -> None:
    print(f"\n`pygkd predict --stream --window {WINDOW}`, demo student, {frames} frames piped in, best of "
          f"{repeats} runs\n")
    print("| stride | predictions | s to the first prediction | frames/s after it |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = demo_student_checkpoint(Path(folder) / "student.pt")
        lines = coco_result_lines(frames)
        for stride in strides:
            runs = [stream_rate(checkpoint, lines, stride) for _ in range(repeats)]
            predictions = runs[0][0]
            first = min(r[1] for r in runs)
            rate = max(r[2] for r in runs)
            print(f"| {stride} | {predictions} | {first:.1f} | {rate:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", nargs="+", choices=sorted(NETWORKS), default=["demo", "paper"])
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30, help="timed rounds")
    parser.add_argument("--frames", type=int, default=2048, help="frames of the --stream run (0: no stream table)")
    parser.add_argument("--strides", type=int, nargs="+", default=[64, 8], help="--stride of the stream runs")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each stream measurement")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # the exporters' and torch.jit's deprecation notes

    print(f"# torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, 1 thread, "
          f"{platform.processor() or platform.machine()}; one window [1, M, {WINDOW}, V, C]; median (min) ms of "
          f"{args.runs} interleaved rounds after {args.warmup} warm-up\n")
    print("| network | layout | M | parameters | eager ms | TorchScript ms | onnxruntime ms |")
    print("|---|---|---|---|---|---|---|")
    for name in args.networks:
        spec, layout, channels, persons, classes = NETWORKS[name]()
        card = ModelCard("student", spec, get_layout(layout), channels,
                         [f"c{i}" for i in range(classes)])
        with tempfile.TemporaryDirectory() as folder:
            runs = engines(card, Path(folder))
            x = np.random.default_rng(0).standard_normal((1, persons, WINDOW, card.layout.num_joints, channels))
            times = interleaved(runs, x.astype(np.float32), args.warmup, args.runs)
        params = sum(p.numel() for p in card.build().parameters())
        cells = [f"{statistics.median(t) * 1e3:.1f} ({min(t) * 1e3:.1f})" for t in times.values()]
        print(f"| {name} | {layout} | {persons} | {params / 1e6:.2f} M | " + " | ".join(cells) + " |", flush=True)
    if args.frames:
        stream_table(args.frames, args.strides, args.repeats)


if __name__ == "__main__":
    main()
