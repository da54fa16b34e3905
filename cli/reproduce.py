"""``pygkd reproduce GRID... --config DATASET --budget BUDGET``: run the paper's experiment grids and write
their results tables (see :mod:`pygkd.experiments`).

    pygkd reproduce table1 -c penn_action -b cpu --severity mild --severity severe
    pygkd reproduce table1 table3 table4 table5 -c demo -b smoke

Results go to ``<results>/<config>/<budget>/<grid>/`` (``rows.jsonl``, ``table.md``, ``table.csv``); the
same command run again skips every finished row and resumes an interrupted one.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from pygkd.engine.config import DEFAULT_CONFIG, available_configs
from pygkd.experiments import GRIDS, GridRunner, available_budgets, build_grid, load_budget
from pygkd.experiments.grids import select_rows
from pygkd.experiments.results import ROWS_FILE, recorded_severities

from .run_options import user_errors


def parse_seeds(text: str | None) -> tuple[int, ...] | None:
    """``"0,1,2"`` -> ``(0, 1, 2)``."""
    if text is None:
        return None
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected comma-separated integers, e.g. 0,1,2",
                                 param_hint="--seeds") from None
    if any(s < 0 for s in seeds):
        raise click.BadParameter(f"{text!r}: seeds must be >= 0", param_hint="--seeds")
    return seeds


@click.command(help="Run the paper's experiment grids (table1: teacher and students w/o and w/ KD at occlusion "
               "0 / 0.3 / 0.6; table3: GCN blocks (ST-GCN, Js-AGCN, EfficientGCN); table4: distillation losses; "
               "table5: partial HQ and solitary LQ; variants: L_pmsc's variants beyond the paper at "
               "OP 0.3 / 0.6; protocols: students w/o and w/ KD at OP 0.3 / 0.6 under each "
               "occlusion protocol: clip, clip_redraw, frame, span) on one dataset "
               "config, and write each grid's table (mean ± std over seeds). Resumable: rerun the same command.")
@click.argument("grids", nargs=-1, required=True, type=click.Choice(list(GRIDS)))
@click.option("--config", "-c", default=DEFAULT_CONFIG, show_default=True,
              help=f"Dataset config ({', '.join(available_configs())}) or a YAML file.")
@click.option("--budget", "-b", default="smoke", show_default=True,
              help=f"Budget ({', '.join(available_budgets())}) or a YAML file: seeds, epochs, frames, slice.")
@click.option("--seeds", help="Comma-separated seeds instead of the budget's, e.g. 0 or 0,1,2.")
@click.option("--severity", "severities", multiple=True, metavar="NAME",
              help="LQ synthesis severity (mild, moderate, severe; repeatable): the student rows are run at each. "
                   "Default: the config's own LQ stream.")
@click.option("--set", "-s", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key after the budget (repeatable), e.g. --set device=cuda, or "
                   "--set threads=1 (fastest on a CPU shared with other jobs).")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
              help="Results root; the grids of one config and budget go to RESULTS/<config>/<budget>/.")
@click.option("--max-rows", type=click.IntRange(min=1), help="Stop after this many newly finished rows.")
@click.option("--rows", "row_patterns", multiple=True, metavar="PATTERN",
              help="Run only the rows whose key matches (shell pattern, repeatable; their baselines come along), "
                   "e.g. --rows teacher --rows '*-op0.6*'. The table keeps every recorded row.")
@click.option("--occlusion", "occlusions", multiple=True, type=click.FloatRange(0, 1), metavar="OP",
              help="table1, variants and protocols: run these occlusion probabilities (repeatable) instead of the "
                   "grid's (table1: 0, 0.3, 0.6; the others: 0.3, 0.6).")
def command(grids: tuple[str, ...], config: str, budget: str, seeds: str | None, severities: tuple[str, ...],
            overrides: tuple[str, ...], results: Path, max_rows: int | None, row_patterns: tuple[str, ...],
            occlusions: tuple[float, ...]) -> None:
    invocation = shlex.join(["pygkd", *sys.argv[1:]])
    chosen_seeds = parse_seeds(seeds)
    with user_errors():
        chosen_budget = load_budget(budget)
        root = results / Path(config).stem / chosen_budget.name
        runner = GridRunner(config, chosen_budget, root, overrides, log=click.echo)
        for name in grids:
            asked = list(severities or (None,))
            recorded = recorded_severities(root / name / ROWS_FILE)
            shown = asked + [s for s in recorded if s not in asked]  # other runs' rows stay in the table
            grid = build_grid(name, asked, chosen_budget.backbones, occlusions)
            if row_patterns:
                try:
                    grid = select_rows(grid, row_patterns)
                except KeyError as err:
                    raise click.BadParameter(err.args[0], param_hint="--rows") from None
            runner.run(grid, chosen_seeds, max_rows, command=invocation,
                       table_grid=build_grid(name, shown, chosen_budget.backbones, occlusions))
            click.echo(f"{root / name / 'table.md'}:\n{(root / name / 'table.md').read_text()}")
