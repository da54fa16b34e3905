"""Training throughput of one process against two data-parallel gloo processes (torchrun) on the CPU.

Each configuration is one ``torchrun --standalone --nproc_per_node W`` launch of this script's worker, which
trains a teacher (``--network cpu60``: the ``cpu60`` budget's 3-block ST-GCN, 16-32-64 channels, 24 frames;
``--network paper``: the paper's 9 blocks, 64-256 channels) on the built-in synthetic dataset (32 training
clips of each of 11 classes by default, Kinect 25 joints 3D) with pygkd's own training loop
(:func:`pygkd.engine.trainer.train_epoch` on a DistributedDataParallel model and sharded batches, one
torch thread per process). It times ``--epochs`` epochs after one warm-up epoch and prints global
training samples per second (median epoch) and the speed-up over one process at batch ``--batch``, in
two settings:

* **same global batch** (strong scaling: what keeps a run's results those of one process): two processes
  of ``--batch / 2`` samples each. Its ceiling without any communication is one process's time at
  ``--batch`` over its time at ``--batch / 2``, printed as the ``ceiling`` row (one process on half the
  batch, its rate counted twice): a small network on a CPU does not take half the time for half the batch.
* **same batch per process** (weak scaling: the global batch grows with the processes, as PYSKL's and
  MMAction2's ``videos_per_gpu``): two processes of ``--batch`` samples each.

Beside each, the machine's load average (``os.getloadavg``) before and after the launch: on a shared
machine, another job's load makes two processes scale less than the cores would.

    python benchmarks/ddp_scaling.py                    # about 2 minutes on 2 quiet cores
    python benchmarks/ddp_scaling.py --batch 64 --epochs 5
    python benchmarks/ddp_scaling.py --network paper --batch 8 --clips-per-class 4   # about 4 minutes
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
NETWORKS = {"cpu60": "{backbone: stgcn, channels: [16, 32, 64], strides: [1, 2, 2]}",  # 3 blocks, 16-64 channels
            # the paper's 9 blocks (the demo config's own spec is small, and a spec merges into it)
            "paper": "{backbone: stgcn, channels: [64, 64, 64, 128, 128, 128, 256, 256, 256], "
                     "strides: [1, 1, 1, 2, 1, 1, 2, 1, 1]}"}


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
    transforms = f"[{{name: FixLength, length: {args.frames}, mode: uniform}}, {{name: Normalize, coords: 3}}]"
    cfg = load_config("demo", [f"data.prepared={args.data}", f"model.teacher={NETWORKS[args.network]}",
                               f"teacher.batch_size={args.batch}",
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


def launch(processes: int, batch: int, args: argparse.Namespace, sync_batchnorm: bool) -> dict:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               __file__, "--worker", "--data", str(args.data), "--batch", str(batch), "--epochs",
               str(args.epochs), "--network", args.network, "--frames", str(args.frames),
               "--sync-batchnorm", str(sync_batchnorm).lower()]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    load_before = os.getloadavg()[0]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"torchrun with {processes} processes failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    line = next(text for text in done.stdout.splitlines() if text.startswith("RESULT "))
    return {**json.loads(line[len("RESULT "):]), "load": (load_before, os.getloadavg()[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16, help="batch of one process (cpu60: 16)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up epoch")
    parser.add_argument("--network", choices=sorted(NETWORKS), default="cpu60", help="the teacher trained")
    parser.add_argument("--frames", type=int, default=24, help="frames sampled from each clip (cpu60: 24)")
    parser.add_argument("--clips-per-class", type=int, default=32, help="training clips of each of the 11 classes")
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
            prepare(get_reader("synthetic")(None, train_per_class=args.clips_per_class, test_per_class=16, frames=64, severity="mild"),
                    args.data, progress=False)
        half = max(args.batch // 2, 1)
        # (label, processes, global batch, sync_batchnorm, copies): the ceiling row counts its rate twice, as
        # two processes of `half` samples would run without communicating
        runs = [(f"1 process x {args.batch}", 1, args.batch, False, 1),
                (f"ceiling of 2 x {half}: 1 process x {half}, its rate counted twice", 1, half, False, 2),
                (f"2 processes x {half}, sync_batchnorm true", 2, 2 * half, True, 1),
                (f"2 processes x {half}, sync_batchnorm false", 2, 2 * half, False, 1),
                (f"2 processes x {args.batch}, sync_batchnorm true", 2, 2 * args.batch, True, 1),
                (f"2 processes x {args.batch}, sync_batchnorm false", 2, 2 * args.batch, False, 1)]
        results = [(label, batch, copies, launch(n, batch, args, sync)) for label, n, batch, sync, copies in runs]
    base = results[0][3]["samples"] / results[0][3]["epoch_s"]
    print(f"teacher: network {args.network}, {args.frames} frames, {results[0][3]['samples']} clips, one thread per process")
    print("| processes x batch per process | global batch | samples/s | speed-up | load average before / after |")
    print("|---|---:|---:|---:|---|")
    for label, batch, copies, r in results:
        rate = copies * r["samples"] / r["epoch_s"]
        print(f"| {label} | {batch} | {rate:.0f} | {rate / base:.2f}x | {r['load'][0]:.1f} / {r['load'][1]:.1f} |")


if __name__ == "__main__":
    main()
