"""Training throughput of one process against two data-parallel gloo processes (torchrun) on the CPU.

Each configuration is one ``torchrun --standalone --nproc_per_node W`` launch of this script's worker, which
trains the teacher of the ``cpu60`` budget (3-block ST-GCN, 16-32-64 channels, 24 frames, global batch 16)
on the built-in synthetic dataset (352 training clips, Kinect 25 joints 3D) with pygkd's own training loop
(:func:`pygkd.engine.trainer.train_epoch` on a DistributedDataParallel model and sharded batches, one
torch thread per process). It times ``--epochs`` epochs after one warm-up epoch and prints global
training samples per second (median epoch), the speed-up over one process, and the machine's load
average (``os.getloadavg``) before and after each launch: on a shared machine, another job's load makes
two processes scale less than the cores would.

    python benchmarks/ddp_scaling.py                    # about 2 minutes on 2 quiet cores
    python benchmarks/ddp_scaling.py --batch 64 --epochs 5
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETWORK = "{backbone: stgcn, channels: [16, 32, 64], strides: [1, 2, 2]}"


def worker(args: argparse.Namespace) -> None:
    import torch

    from pygkd.engine import distributed
    from pygkd.engine.build import (TrainingSamples, batch_sampler, load_prepared, model_card,
                                    optimizer_and_scheduler, skeleton_dataset, train_loader)
    from pygkd.engine.config import load_config
    from pygkd.engine.objectives import TrainingObjective
    from pygkd.engine.seed import seed_everything
    from pygkd.engine.trainer import train_epoch
    from pygkd.nn.sync_batchnorm import convert_sync_batchnorm

    torch.set_num_threads(1)
    transforms = "[{name: FixLength, length: 24, mode: uniform}, {name: Normalize, coords: 3}]"
    cfg = load_config("demo", [f"data.prepared={args.data}", f"model.teacher={NETWORK}", f"teacher.batch_size={args.batch}",
                               f"data.hq.train_transforms={transforms}", f"sync_batchnorm={args.sync_batchnorm}"])
    seed_everything(cfg["seed"])
    device = distributed.init(torch.device("cpu"), cfg["dist_timeout_s"])
    world = distributed.world()
    prepared = load_prepared(cfg)
    indices, _ = TrainingSamples.of(cfg, prepared).for_role("teacher", use_solitary=False)
    train_set = skeleton_dataset(cfg, prepared, indices, "hq", train=True)
    model = model_card(cfg, "teacher", train_set).build()
    if cfg["sync_batchnorm"] and world.size > 1:
        model = convert_sync_batchnorm(model, device)
    optimizer, _ = optimizer_and_scheduler(model, cfg["teacher"])
    loader = train_loader(train_set, batch_sampler(cfg["teacher"], train_set.labels, cfg["seed"], world), 0)
    trained = distributed.data_parallel(model, device)
    times = []
    for epoch in range(1 + args.epochs):
        loader.batch_sampler.set_epoch(epoch)
        began = time.perf_counter()
        train_epoch(trained, TrainingObjective("x"), loader, optimizer, device)
        distributed.barrier()
        times.append(time.perf_counter() - began)
    if world.is_main:
        print("RESULT " + json.dumps({"samples": len(train_set), "epoch_s": statistics.median(times[1:])}))


def launch(processes: int, args: argparse.Namespace, sync_batchnorm: bool) -> dict:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               __file__, "--worker", "--data", str(args.data), "--batch", str(args.batch), "--epochs",
               str(args.epochs), "--sync-batchnorm", str(sync_batchnorm).lower()]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    load_before = os.getloadavg()[0]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"torchrun with {processes} processes failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    line = next(text for text in done.stdout.splitlines() if text.startswith("RESULT "))
    return {**json.loads(line[len("RESULT "):]), "load": (load_before, os.getloadavg()[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16, help="global batch size (cpu60: 16)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up epoch")
    parser.add_argument("--data", type=Path, help="prepared synthetic dataset (default: prepared in a temporary folder)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sync-batchnorm", default="true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.data is None:
            from pygkd.data.readers import get_reader
            from pygkd.data.store import prepare

            args.data = Path(tmp) / "synthetic"
            prepare(get_reader("synthetic")(None, train_per_class=32, test_per_class=16, frames=64, severity="mild"),
                    args.data, progress=False)
        runs = [("1 process", 1, False), ("2 processes, sync_batchnorm true", 2, True),
                ("2 processes, sync_batchnorm false", 2, False)]
        results = [(label, launch(n, args, sync)) for label, n, sync in runs]
    base = results[0][1]["samples"] / results[0][1]["epoch_s"]
    print(f"teacher of budget cpu60, global batch {args.batch}, {results[0][1]['samples']} clips, one thread per process")
    print("| processes | samples/s | speed-up | load average before / after |")
    print("|---|---:|---:|---|")
    for label, r in results:
        rate = r["samples"] / r["epoch_s"]
        print(f"| {label} | {rate:.0f} | {rate / base:.2f}x | {r['load'][0]:.1f} / {r['load'][1]:.1f} |")


if __name__ == "__main__":
    main()
