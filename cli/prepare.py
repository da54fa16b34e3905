"""``pygkd prepare DATASET --root PATH --out DIR``: read a dataset in its original format and write a
prepared copy that training memory-maps (see ``docs/formats.md``, "Prepared datasets")."""
from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import click
import yaml

from pygkd.data.raw import DataFormatError, RawDataset
from pygkd.data.readers import READERS, checked_dataset, get_reader
from pygkd.data.store import DTYPES, PreparedDataset, prepare
from pygkd.skeleton import LayoutError

from .info import format_summary


def parse_options(options: tuple[str, ...]) -> dict[str, Any]:
    """``("key=value", ...)`` -> ``{key: value}``, each value read as YAML (``2`` -> int, ``[1, 2]`` -> list)."""
    parsed = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"{option!r}: expected KEY=VALUE", param_hint="--option")
        try:
            parsed[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise click.BadParameter(f"{option!r}: the value is not YAML ({err})", param_hint="--option") from None
    return parsed


def read_dataset(dataset: str, root: Path | None, options: dict[str, Any]) -> RawDataset:
    """Call the reader of ``dataset`` on ``root`` with ``options``, turning a wrong call into a usage error."""
    try:
        reader = get_reader(dataset)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="DATASET") from None
    signature = inspect.signature(reader)
    first = next(iter(signature.parameters.values()), None)
    if root is None and first is not None and first.default is inspect.Parameter.empty:
        raise click.UsageError(f"{dataset} is read from files: give --root")
    args = () if root is None else (root,)
    try:
        signature.bind(*args, **options)
    except TypeError as err:
        raise click.BadParameter(f"{err}; the reader takes {signature}", param_hint="--option") from None
    try:
        raw = reader(*args, **options)  # readers check their options here; samples are read later
    except (TypeError, ValueError) as err:
        if isinstance(err, (DataFormatError, LayoutError)):
            raise
        raise click.BadParameter(f"{dataset}: {err}", param_hint="--option") from None
    return checked_dataset(raw, dataset)


@click.command(
    help="Read DATASET from --root and write it, validated, to --out. DATASET is one of "
    f"{', '.join(READERS)}, or a reader of your own given as 'package.module:function'."
)
@click.argument("dataset")
@click.option("--root", type=click.Path(exists=True, path_type=Path),
              help="Folder (or file) of the dataset in its original format (not needed by 'synthetic').")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Directory to write.")
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
              help="Stored keypoint dtype (float16 halves disk and page cache).")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
              help="Option passed to the reader (repeatable; VALUE is read as YAML).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it is a prepared dataset.")
def command(
    dataset: str, root: Path | None, out: Path, dtype: str, options: tuple[str, ...], overwrite: bool
) -> None:
    start = time.perf_counter()
    prepare(read_dataset(dataset, root, parse_options(options)), out, dtype=dtype, overwrite=overwrite)
    click.echo(format_summary(PreparedDataset(out).summary()))
    click.echo(f"prepared in {time.perf_counter() - start:.1f} s")
