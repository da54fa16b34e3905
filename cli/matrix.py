"""``pygkd matrix``: the action-specific part matrix E of the trained teacher (Eqs. 12-13)."""
from __future__ import annotations

from pathlib import Path

import click

from pygkd.kd import PartMatrix
from pygkd.skeleton import PARTS
from pygkd.engine.stages import RunPaths, compute_part_matrix

from .run_options import allow_unfinished_option, percent, run_options, table


def format_part_matrix(matrix: PartMatrix, defining_parts: dict[str, list[str]] | None = None) -> str:
    """E per class and part, with the error rate of Eq. 12 in brackets; ``*`` marks the part(s) of a row
    whose occlusion hurts most. ``defining_parts`` (known for synthetic data) adds a column."""
    header = ["class", *PARTS, *(["defined by"] if defining_parts else [])]
    rows = []
    for name, e, rate in zip(matrix.class_names, matrix.E.tolist(), matrix.error_rate.tolist()):
        top = max(e)
        cells = [f"{v:.2f} ({percent(r)}){'*' if v == top and top > min(e) else ' '}" for v, r in zip(e, rate)]
        rows.append([name, *cells, *([", ".join(defining_parts.get(name, [])) or "none"] if defining_parts else [])])
    return table(header, rows)


@click.command(help="Compute E (Eqs. 12-13): the teacher's error rate on the HQ training skeletons with each "
               "body part occluded, softmax-normalised per class. Writes <out>/matrix/part_matrix.npy, "
               "part_matrix.csv and heatmap.png (needs matplotlib).")
@run_options()
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Teacher checkpoint (default: <out>/teacher/checkpoint_best.pt).")
@allow_unfinished_option
def command(cfg: dict, checkpoint: Path | None, allow_unfinished: bool) -> None:
    matrix = compute_part_matrix(cfg, checkpoint, allow_unfinished)
    click.echo(format_part_matrix(matrix))
    click.echo(f"-> {RunPaths.of(cfg).matrix}")
