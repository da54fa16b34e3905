"""What distillation costs: a student training step with L_pmsc against a plain student step, and the part
matrix against six teacher inference passes.

Student steps are whole training steps as ``pygkd student`` runs them (load a batch, forward, backward,
SGD step; ``num_workers`` 0), timed per epoch over the training split of a config:

* ``plain``: the student alone, cross-entropy only (``student.loss: none``);
* ``pmsc cached``: plus L_pmsc, the teacher's part features looked up in a :class:`TeacherCache`, built
  once before training (its build time is reported as a fraction of one plain epoch);
* ``pmsc live``: plus L_pmsc, the teacher run on the HQ graphs of every pair batch (``PairDataset``).

The part matrix (:func:`pygkd.kd.part_error_rates`: five occluded copies of every HQ training sample
through the teacher) is timed against six inference passes of the teacher over the same loader.
The configurations alternate run by run, so that a change in the load of a shared machine hits them all;
the table gives medians of wall-clock time and, as a cross-check less sensitive to other processes, the
ratio of process CPU times. Networks are freshly initialised: speed does not depend on the weights.

    python benchmarks/kd_overhead.py                            # the demo config, 5 runs
    python benchmarks/kd_overhead.py --config demo --runs 3 --set model.student.channels=[64,64,128]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Callable

import numpy as np
import torch

from pygkd.engine import build
from pygkd.engine.config import load_config
from pygkd.engine.objectives import Distillation, TrainingObjective
from pygkd.engine.teaching import LiveTeacher, TeacherCache
from pygkd.engine.trainer import dense_input, train_epoch
from pygkd.kd import part_error_rates
from pygkd.nn import resolve_device
from pygkd.skeleton import NUM_PARTS


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """``(wall seconds, process CPU seconds)`` of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="demo", help="config name or YAML file (default: demo)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of every configuration (default: 5)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: the config's `threads`)")
    args = parser.parse_args()
    cfg = load_config(args.config, args.overrides)
    torch.set_num_threads(args.threads or cfg["threads"] or torch.get_num_threads())

    device = resolve_device(cfg["device"])
    prepared = build.load_prepared(cfg)
    samples = build.TrainingSamples.of(cfg, prepared)
    indices, paired = samples.for_role("student", cfg["student"]["use_solitary"])
    lq_set = build.skeleton_dataset(cfg, prepared, indices, "lq", train=True)
    hq_set = build.skeleton_dataset(cfg, prepared, indices[paired], "hq", train=True)
    pair_set = build.pair_dataset(cfg, prepared, indices, paired)
    torch.manual_seed(cfg["seed"])
    student_card = build.model_card(cfg, "student", lq_set)
    teacher = build.model_card(cfg, "teacher", hq_set).build().to(device)
    E = torch.softmax(torch.rand(student_card.num_classes, NUM_PARTS), 1)
    options = cfg["student"]

    def loader(dataset):
        return build.train_loader(dataset, build.batch_sampler(options, dataset.labels, cfg["seed"]), 0)

    def cache() -> TeacherCache:
        hq_loader = build.eval_loader(hq_set, cfg["eval"]["batch_size"], 0)
        return TeacherCache.build(teacher, hq_loader, "part", len(prepared), device)

    def distill(source) -> Distillation:
        return Distillation("pmsc", source, options["alpha"], options["w"], E)

    steps = {
        "plain": (loader(lq_set), TrainingObjective("x")),
        "pmsc cached": (loader(lq_set), TrainingObjective("x", distill(cache()))),
        "pmsc live": (loader(pair_set), TrainingObjective("x_lq", distill(LiveTeacher(teacher, "part")))),
    }
    students = {name: student_card.build().to(device) for name in steps}
    optimizers = {name: build.optimizer_and_scheduler(model, options)[0] for name, model in students.items()}

    hq_loader = build.eval_loader(hq_set, cfg["matrix"]["batch_size"], 0)
    part_index = teacher.layout.part_index()

    def hq_batches():
        return ((dense_input(b.x, b.num_graphs, teacher.layout.num_joints), b.y) for b in hq_loader)

    @torch.inference_mode()
    def six_passes() -> None:
        teacher.eval()
        for _ in range(6):
            for x, _ in hq_batches():
                teacher(x.to(device))

    jobs: dict[str, Callable[[], object]] = {
        name: (lambda name=name: train_epoch(students[name], steps[name][1], steps[name][0], optimizers[name],
                                             device, desc=name))
        for name in steps
    }
    jobs["cache build"] = cache
    jobs["part matrix"] = lambda: part_error_rates(teacher, hq_batches(), part_index, device)
    jobs["6 inference passes"] = six_passes

    times: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
    for name, job in jobs.items():  # warm-up
        job()
    for run in range(args.runs):
        for name, job in jobs.items():
            times[name].append(timed(job))

    wall = {name: statistics.median(t[0] for t in ts) for name, ts in times.items()}
    cpu = {name: statistics.median(t[1] for t in ts) for name, ts in times.items()}
    print(f"{cfg['name']}: {len(indices)} LQ training samples ({int(paired.sum())} with HQ), batch "
          f"{options['batch_size']} ({options['sampler']}), student {cfg['model']['student']}, teacher "
          f"{cfg['model']['teacher']}; {device}, {torch.get_num_threads()} thread(s), torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}; median of {args.runs} runs")
    rows = [("pmsc cached", "plain"), ("pmsc live", "plain"), ("cache build", "plain"),
            ("part matrix", "6 inference passes")]
    print(f"{'measured':<20} {'against':<20} {'seconds':>9} {'ratio':>7} {'CPU ratio':>10}")
    for name, reference in rows:
        print(f"{name:<20} {reference:<20} {wall[name]:9.3f} {wall[name] / wall[reference]:7.3f} "
              f"{cpu[name] / cpu[reference]:10.3f}")
    print(f"(plain student epoch: {wall['plain']:.3f} s, {len(steps['plain'][0])} steps; "
          f"spread of the plain epoch over runs: {np.ptp([t[0] for t in times['plain']]):.3f} s)")


if __name__ == "__main__":
    main()
