"""``pygkd teacher``: train the teacher on the high-quality skeletons of the training split."""
from __future__ import annotations

import click

from pygkd.engine.stages import RunPaths, train_teacher

from .run_options import overwrite_option, percent, run_options


@click.command(help="Train the teacher on the HQ skeletons that keep their match (student.hq_fraction) of the "
               "training split. Writes <out>/teacher/: checkpoint_last.pt (resumable), checkpoint_best.pt, "
               "metrics.jsonl, config.yaml.")
@run_options(stages=("teacher",))
@click.option("--resume", is_flag=True, help="Continue from <out>/teacher/checkpoint_last.pt.")
@overwrite_option
def command(cfg: dict, resume: bool, overwrite: bool) -> None:
    best = train_teacher(cfg, resume=resume, overwrite=overwrite)
    click.echo(f"teacher: best validation top-1 {percent(best['val_top1'])} (top-5 {percent(best['val_top5'])}) "
               f"at epoch {best['epoch']} -> {RunPaths.of(cfg).teacher}")
