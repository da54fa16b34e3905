"""Does the data path keep up with training? Samples/s of loading a training epoch against samples/s that
the training step consumes, for the teacher (HQ skeletons) and the student (LQ synthesised from HQ).

For every budget (default ``cpu60`` and ``paper``; the config's dataset, default Penn Action) it times:

* ``train step``: forward + backward + SGD step of the budget's network on batches loaded beforehand
  (cross-entropy only, so the distillation term is not counted: the ratio below is conservative);
* ``data``: one pass over the training loader (nothing done with the batches), in two ways, each with and
  without DataLoader workers (persistent, started before the timed epochs):
  ``per-sample`` -- the path before the dense fast path: :class:`~pygkd.data.SkeletonDataset` graphs,
  every transform applied per sample (the LQ synthesised on the fly, ``data.store_lq: false``), collated by
  ``torch_geometric.loader.DataLoader``; this is still the public per-sample interface;
  ``engine`` -- the loader ``pygkd teacher`` / ``pygkd student`` build (:func:`pygkd.engine.build.train_loader`):
  the LQ stored once (:mod:`pygkd.data.stored_lq`, its one-off cost printed above the table), batches read,
  transformed and collated densely (:meth:`~pygkd.data.SkeletonDataset.batch`).

The goal is ``data / train <= 0.10``: one epoch of loading takes at most a tenth of one epoch of training.
The configurations alternate run by run, so that a change in the load of a shared machine hits them all; the
table gives medians of process CPU time per epoch (insensitive to other processes; with workers the work
runs in the worker processes, so wall-clock time is given instead), converted to samples/s.

    python benchmarks/data_throughput.py --prepared /tmp/penn              # cpu60 and paper, 3 runs
    python benchmarks/data_throughput.py --prepared /tmp/penn --budgets cpu60 --runs 5 --workers 2
"""
from __future__ import annotations

import argparse
import copy
import functools
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from pygkd.data.stored_lq import stored_lq
from pygkd.engine import build
from pygkd.engine.config import load_config
from pygkd.engine.objectives import TrainingObjective
from pygkd.engine.trainer import train_epoch
from pygkd.experiments.budget import budget_overrides, load_budget
from torch_geometric.loader import DataLoader

ROLES = {"teacher": "hq", "student": "lq"}


@dataclass
class Timing:
    """Seconds per epoch of one configuration over the runs: wall-clock and process CPU time."""

    wall: list[float]
    cpu: list[float]

    def seconds(self, use_wall: bool) -> float:
        return statistics.median(self.wall if use_wall else self.cpu)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """``(wall seconds, process CPU seconds)`` of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def drain(loader: Iterable) -> None:
    for _ in loader:
        pass


def budget_config(config: str, budget: str, overrides: list[str]) -> dict:
    base = load_config(config, overrides)
    return load_config(config, [*budget_overrides(load_budget(budget), base), *overrides])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="penn_action", help="config name or YAML file (default: penn_action)")
    parser.add_argument("--prepared", help="prepared dataset (default: the config's data.prepared)")
    parser.add_argument("--budgets", nargs="+", default=["cpu60", "paper"], help="budgets (networks) to time")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of every configuration (default: 3)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the worker rows (default: 2)")
    parser.add_argument("--train-batches", type=int, default=20,
                        help="batches a training-step run times (default: 20; the rate is per sample)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1, one core)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = [*args.overrides, "device=cpu"] + ([f"data.prepared={args.prepared}"] if args.prepared else [])

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; torch {torch.__version__}, {args.threads} thread(s); {args.runs} runs")
    for budget in args.budgets:
        cfg = budget_config(args.config, budget, overrides)
        live = copy.deepcopy(cfg)
        live["data"]["store_lq"] = False  # the per-sample rows synthesise the LQ on the fly, as before
        prepared = build.load_prepared(cfg)
        samples = build.TrainingSamples.of(cfg, prepared)
        with tempfile.TemporaryDirectory() as folder:  # one-off cost of storing the LQ (engine rows reuse theirs)
            synthesis = build.stream_transform(cfg, "lq", train=True).transforms[0]
            store_wall, store_cpu = timed(lambda: stored_lq(prepared, cfg["data"]["lq"]["stream"], synthesis, folder))
        rows = []
        for role, stream in ROLES.items():
            indices, _ = samples.for_role(role, cfg["student"]["use_solitary"])
            dataset = build.skeleton_dataset(cfg, prepared, indices, stream, train=True)
            per_sample = build.skeleton_dataset(live, prepared, indices, stream, train=True)
            n = len(dataset)
            torch.manual_seed(cfg["seed"])
            model = build.model_card(cfg, role, dataset).build()
            optimizer, _ = build.optimizer_and_scheduler(model, cfg[role])

            def loader(workers: int, fast: bool = True) -> Iterable:
                """A training loader; its persistent workers are started here, outside the timed epochs."""
                sampler = build.batch_sampler(cfg[role], dataset.labels, cfg["seed"])
                if fast:
                    made = build.train_loader(dataset, sampler, workers)
                else:
                    made = DataLoader(per_sample, batch_sampler=sampler, num_workers=workers,
                                      persistent_workers=workers > 0)
                next(iter(made))
                return made

            batches = [b for _, b in zip(range(args.train_batches), loader(0))]
            stepped = sum(b.num_graphs for b in batches)
            objective = TrainingObjective("x")
            w = args.workers
            loaders = {"per-sample, 0 workers": loader(0, fast=False),
                       f"per-sample, {w} workers": loader(w, fast=False),
                       "engine, 0 workers": loader(0), f"engine, {w} workers": loader(w)}
            configs: dict[str, Callable[[], object]] = {
                "train step": lambda: train_epoch(model, objective, batches, optimizer, torch.device("cpu")),
                **{name: functools.partial(drain, made) for name, made in loaders.items()},
            }
            timings = {name: Timing([], []) for name in configs}
            for _ in range(args.runs):
                for name, fn in configs.items():
                    wall, cpu = timed(fn)
                    timings[name].wall.append(wall)
                    timings[name].cpu.append(cpu)
            train_s = timings["train step"].seconds(use_wall=False) * n / stepped  # seconds per epoch
            for name, timing in timings.items():
                use_wall = " 0 workers" not in name and name != "train step"
                epoch_s = train_s if name == "train step" else timing.seconds(use_wall)
                ratio = "" if name == "train step" else f"{epoch_s / train_s:.3f}"
                rows.append([f"{role} ({stream})", name, f"{n / epoch_s:,.0f}", f"{epoch_s:.3f}",
                             "wall" if use_wall else "cpu", ratio])
        print(f"\n{budget}: {cfg['model']['teacher']}, {cfg['data']['hq']['transforms']}; {n} student samples per "
              f"epoch, batch {cfg['student']['batch_size']}; storing the synthesised LQ once "
              f"(all {len(prepared)} samples): "
              f"{store_wall:.1f} s wall, {store_cpu:.1f} s CPU\n")
        print("| stream | data path | samples/s | s/epoch | clock | data/train |")
        print("|---|---|---:|---:|---|---:|")
        for row in rows:
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
