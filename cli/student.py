"""``pygkd student``: train the student on low-quality skeletons, distilling the teacher."""
from __future__ import annotations

import click

from pygkd.engine.stages import RunPaths, train_student

from .run_options import allow_unfinished_option, overwrite_option, percent, run_options


@click.command(help="Train the student on the LQ skeletons of the training split with L = L_c + alpha * L_kd "
               "(student.loss: pmsc | global_msc | kl | none). Reads the run's teacher checkpoint and, for "
               "pmsc, its part matrix. Writes <out>/student/ like the teacher command.")
@run_options(stages=("student",))
@click.option("--loss", type=click.Choice(["pmsc", "global_msc", "kl", "none"]),
              help="Distillation loss (config key: student.loss).")
@click.option("--resume", is_flag=True, help="Continue from <out>/student/checkpoint_last.pt.")
@overwrite_option
@allow_unfinished_option
def command(cfg: dict, loss: str | None, resume: bool, overwrite: bool, allow_unfinished: bool) -> None:
    if loss is not None:
        cfg["student"]["loss"] = loss
    best = train_student(cfg, resume=resume, overwrite=overwrite, allow_unfinished=allow_unfinished)
    click.echo(f"student ({cfg['student']['loss']}): best validation top-1 {percent(best['val_top1'])} "
               f"(top-5 {percent(best['val_top5'])}) at epoch {best['epoch']} -> {RunPaths.of(cfg).student}")
