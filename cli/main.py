"""``pygkd`` click group. Each command lives in ``cli/<name>.py`` as a click command called ``command``
and is imported only when it runs, so ``pygkd --help`` stays fast."""
from __future__ import annotations

import contextlib
import importlib
import os
from typing import Iterator

import click

from .errors import DEBUG_ENV, user_errors

COMMANDS = {
    "prepare": "Read a dataset in its original format and write a prepared (memory-mapped) copy.",
    "info": "Sample counts per split and class, layouts, frames and channels of a prepared dataset.",
    "teacher": "Train the teacher on high-quality skeletons.",
    "matrix": "Compute the action-specific part matrix E (Eqs. 12-13) with a trained teacher.",
    "student": "Train the student on low-quality skeletons with part-level distillation.",
    "eval": "Evaluate a teacher or student: top-1/top-5, per-class accuracy, confusion matrix.",
    "pipeline": "Run teacher -> matrix -> student -> eval in one go (the built-in demo by default).",
    "reproduce": "Run one of the paper's experiment grids and write a results table.",
    "predict": "Predict the actions of clips, datasets or a live stream of frames with a trained network.",
    "init-config": "Write a commented config template for a prepared dataset.",
    "export": "Export a trained network to ONNX or TorchScript, checked against PyTorch.",
}


class LazyGroup(click.Group):
    """Commands imported on demand, each run inside :func:`cli.errors.user_errors` (one-line errors)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return importlib.import_module(f"cli.{name.replace('-', '_')}").command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, help_ in COMMANDS.items()])

    def invoke(self, ctx: click.Context):
        with user_errors(), _rank_zero_stdout():
            return super().invoke(ctx)


@contextlib.contextmanager
def _rank_zero_stdout() -> Iterator[None]:
    """Under torchrun only rank 0 prints results (tables, summaries) to stdout, so that N processes do not
    print N copies; every rank keeps stderr for its errors. ``RANK`` is torchrun's global rank."""
    if os.environ.get("RANK", "0") == "0":
        yield
        return
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pygkd")
@click.option("--debug", is_flag=True, envvar=DEBUG_ENV,
              help=f"Print the traceback of an error, not only its one-line message (or set {DEBUG_ENV}=1).")
def main(debug: bool) -> None:
    """pygkd: skeleton action recognition that stays accurate on low-quality skeletons."""


if __name__ == "__main__":
    main()
