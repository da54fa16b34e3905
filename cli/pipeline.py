"""``pygkd pipeline``: teacher -> part matrix -> student -> evaluation, the built-in demo by default."""
from __future__ import annotations

import copy
import time

import click

from pygkd.data.store import PreparedDataset
from pygkd.engine.build import prepared_path
from pygkd.engine.checkpoint import LAST
from pygkd.engine.stages import (
    RunPaths,
    compute_part_matrix,
    evaluate_model,
    train_student,
    train_teacher,
)

from .matrix import format_part_matrix
from .run_options import overwrite_option, percent, run_options, table


def baseline_config(cfg: dict) -> dict:
    """The student without distillation (``student.loss: none``), in ``<out>/baseline``, on the same data."""
    baseline = copy.deepcopy(cfg)
    baseline["out"] = str(RunPaths.of(cfg).root / "baseline")
    baseline["data"]["prepared"] = str(prepared_path(cfg))
    baseline["student"]["loss"] = "none"
    return baseline


@click.command(help="Run the whole method: train the teacher, compute the part matrix, train the student, "
               "evaluate both on the test split (and, with --baseline, a student without distillation), then "
               "print a summary. With the default demo config it needs no data and runs in minutes on a CPU.")
@run_options(stages=("teacher", "student"))
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also train the student without distillation (student.loss none) for comparison.")
@click.option("--resume", is_flag=True,
              help="Continue the teacher and student runs that have a checkpoint_last.pt; start the others.")
@overwrite_option
def command(cfg: dict, baseline: bool, resume: bool, overwrite: bool) -> None:
    began = time.perf_counter()

    def resumable(run_cfg: dict, role: str) -> bool:
        return resume and (getattr(RunPaths.of(run_cfg), role) / LAST).is_file()

    click.echo("[1/4] teacher on the HQ skeletons (data.hq)")
    train_teacher(cfg, resume=resumable(cfg, "teacher"), overwrite=overwrite)
    click.echo("[2/4] part matrix")
    matrix = compute_part_matrix(cfg)
    click.echo(f"[3/4] student on the LQ skeletons (data.lq), distillation loss {cfg['student']['loss']}")
    train_student(cfg, resume=resumable(cfg, "student"), overwrite=overwrite)
    runs = [("teacher", cfg, "teacher"), (f"student ({cfg['student']['loss']})", cfg, "student")]
    if baseline:
        click.echo("      student baseline, no distillation")
        base = baseline_config(cfg)
        train_student(base, resume=resumable(base, "student"), overwrite=overwrite)
        runs.append(("student (no distillation)", base, "student"))
    click.echo("[4/4] evaluation")
    reports = [(label, evaluate_model(run_cfg, role)) for label, run_cfg, role in runs]

    prepared = PreparedDataset(prepared_path(cfg))
    click.echo(f"\n{prepared.name}: test split {cfg['data']['test_split']!r}, {reports[0][1]['num_samples']} samples")
    rows = [[label, percent(r["top1"]), percent(r["top5"]), str(r["epoch"])] for label, r in reports]
    click.echo(table(["network", "top-1", "top-5", "best epoch"], rows))
    click.echo("\nPart matrix E (Eq. 13) with the teacher's error rate when the part is occluded (Eq. 12); "
               "* = the part that matters most:")
    click.echo(format_part_matrix(matrix, prepared.notes.get("defining_parts")))
    click.echo(f"\n{time.perf_counter() - began:.0f} s; everything is in {RunPaths.of(cfg).root}/")
