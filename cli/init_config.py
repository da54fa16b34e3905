"""``pygkd init-config --prepared DIR [--out FILE]``: a commented config template for a prepared dataset."""
from __future__ import annotations

from pathlib import Path

import click

from pygkd.data.store import PreparedDataset
from pygkd.engine.config_template import config_template

from .run_options import user_errors


@click.command(help="Write a commented config for a prepared dataset (its splits, streams, layouts and channels, "
               "with transforms that fit them) that `pygkd pipeline --config FILE` runs as it is. Prints it, or "
               "writes FILE with --out.")
@click.option("--prepared", "directory", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The prepared dataset folder (`pygkd prepare ... --out DIR`).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the config here.")
def command(directory: Path, out: Path | None) -> None:
    with user_errors():
        text = config_template(PreparedDataset(directory))
    if out is None:
        click.echo(text, nl=False)
        return
    if out.exists():
        raise click.ClickException(f"{out} exists; remove it or choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    click.echo(f"wrote {out}; run it with: pygkd pipeline --config {out}")
