"""``pygkd export``: a trained network as ONNX or TorchScript, checked against PyTorch before it is kept."""
from __future__ import annotations

from pathlib import Path

import click

from pygkd.engine.export import FORMATS, TOLERANCE, ExportError, export_checkpoint

from .run_options import allow_module_option, allow_unfinished_option, user_errors


@click.command(help="Export the network of CHECKPOINT to ONNX or TorchScript with dynamic batch, person and "
               "frame axes: input x [N, M, T, V, C] float32, outputs logits [N, K] and feature [N, D]. The file "
               "is run (onnxruntime / torch.jit.load) against PyTorch on random and skeleton-like inputs and "
               "kept only when every logit agrees within --tolerance. The model card (classes, layout, input "
               "shape, preprocessing) is embedded as JSON under 'pygkd_card'.")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="Output format.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="File to write.")
@click.option("--frames", type=click.IntRange(min=1),
              help="Frames T of the example input (default: the length of the card's FixLength, else 64).")
@click.option("--tolerance", type=click.FloatRange(min=0, min_open=True), default=TOLERANCE, show_default=True,
              help="Largest accepted max abs difference of the logits to PyTorch.")
@allow_module_option
@allow_unfinished_option
def command(checkpoint: Path, fmt: str, out: Path, frames: int | None, tolerance: float,
            allow_modules: tuple[str, ...], allow_unfinished: bool) -> None:
    with user_errors():
        try:
            report = export_checkpoint(checkpoint, fmt, out, frames, tolerance, allow_modules=allow_modules,
                                       allow_unfinished=allow_unfinished)
        except ExportError as err:
            raise click.ClickException(str(err)) from None
    click.echo(f"wrote {report.path} ({fmt}): logits within {report.max_difference:.2g} of PyTorch on "
               f"{len(report.differences)} inputs ({', '.join(report.differences)})")
