"""Options shared by the commands that run a config (teacher, matrix, student, eval, pipeline).

Every such command takes ``--config`` (a name in ``configs/`` or a YAML file), repeatable ``--set
key=value`` overrides, and shortcuts for the keys changed most often. Library errors about the user's
input (config, data files, checkpoints) are reported as one clean line instead of a traceback.
"""
from __future__ import annotations

import contextlib
import functools
import json
from pathlib import Path
from typing import Callable, Iterator

import click

from pygkd.data.raw import DataFormatError
from pygkd.engine.config import DEFAULT_CONFIG, ConfigError, available_configs, load_config
from pygkd.engine.distributed import PeerLost, peer_errors
from pygkd.skeleton import LayoutError

USER_ERRORS = (ConfigError, DataFormatError, LayoutError, FileNotFoundError, PeerLost)


def run_options(stages: tuple[str, ...] = ()) -> Callable:
    """Decorator: add the config options and call the command with the loaded config as ``cfg``.

    Args:
        stages: the training stages (``teacher``, ``student``) whose ``epochs`` and ``batch_size`` the
            ``--epochs`` and ``--batch-size`` shortcuts set; no shortcuts when empty.
    """

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def run(config: str, overrides: tuple[str, ...], device: str | None, seed: int | None, out: Path | None,
                epochs: int | None = None, batch_size: int | None = None, **kwargs):
            shortcuts = {"device": device, "seed": seed, "out": out and str(out)}
            for stage in stages:
                shortcuts.update({f"{stage}.epochs": epochs, f"{stage}.batch_size": batch_size})
            # JSON is YAML: a path stays a string whatever it looks like
            sets = [*overrides, *(f"{k}={json.dumps(v)}" for k, v in shortcuts.items() if v is not None)]
            with user_errors(), peer_errors():
                cfg = load_config(config, sets)
                return command(cfg=cfg, **kwargs)

        options = [
            click.option("--config", "-c", default=DEFAULT_CONFIG, show_default=True,
                         help=f"Config name ({', '.join(available_configs())}) or a YAML file."),
            click.option("--set", "-s", "overrides", multiple=True, metavar="KEY=VALUE",
                         help="Override a config key, e.g. --set student.alpha=2 (repeatable; VALUE is YAML)."),
            click.option("--device", help="auto | cpu | cuda | cuda:N (config key: device)."),
            click.option("--seed", type=int, help="Run seed (config key: seed)."),
            click.option("--out", type=click.Path(path_type=Path), help="Run directory (default: runs/<name>)."),
        ]
        if stages:
            keys = " and ".join(f"{s}.epochs" for s in stages)
            options += [
                click.option("--epochs", type=click.IntRange(min=1), help=f"Training epochs ({keys})."),
                click.option("--batch-size", type=click.IntRange(min=1), help="Training batch size."),
            ]
        for option in reversed(options):
            run = option(run)
        return run

    return decorate


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's errors about the user's input into a ``click.ClickException`` (exit code 1)."""
    try:
        yield
    except USER_ERRORS as err:
        raise click.ClickException(str(err)) from None


def percent(value: float | None) -> str:
    """``0.8125`` -> ``"81.2%"``; ``None`` (no sample) -> ``"-"``."""
    return "-" if value is None else f"{100 * value:.1f}%"


def table(header: list[str], rows: list[list[str]]) -> str:
    """Plain-text table, first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [f"{row[0]:<{widths[0]}}", *(f"{c:>{w}}" for c, w in zip(row[1:], widths[1:]))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
