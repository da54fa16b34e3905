"""``pygkd predict CHECKPOINT INPUT...``: the most likely actions of clips, or of a live stream of frames."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click

from pygkd.data.readers.pose_clips import FORMATS
from pygkd.engine.predict import CSV_HEADER, Prediction, Predictor, csv_rows, open_input, predict_stream
from pygkd.nn import resolve_device

from .run_options import percent, table, user_errors


def format_predictions(predictions: list[Prediction]) -> str:
    """One row per clip window: clip, frames, true label (when known), the top classes with probabilities."""
    labelled = any(p.label is not None for p in predictions)
    header = ["clip", "frames", *(["label"] if labelled else []), "prediction"]
    rows = []
    for p in predictions:
        top = ", ".join(f"{c} {percent(q)}" for c, q in zip(p.classes, p.probabilities))
        rows.append([p.clip_id, f"{p.start}-{p.end}", *([p.label or ""] if labelled else []), top])
    return table(header, rows)


@click.command(help="Predict the actions of INPUTs with a trained network: prepared dataset folders, generic "
               ".npz files, or pose-estimator output (a clip file, a clip folder, a folder of clips). The "
               "checkpoint's stored preprocessing is applied, and a layout mapping when an input's layout is "
               "not the network's. With --stream, frames are read as JSON lines on stdin and one JSON line is "
               "written per window.")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--split", help="Only this split of a prepared dataset or .npz input.")
@click.option("--window", type=click.IntRange(min=1), help="Predict windows of this many frames (default: whole "
              "clips; required with --stream).")
@click.option("--stride", type=click.IntRange(min=1), help="Frames between window starts (default: --window).")
@click.option("--top-k", type=click.IntRange(min=1), default=5, show_default=True, help="Classes per prediction.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Format of pose-estimator INPUTs (default: told "
              "by file name and content).")
@click.option("--images", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The frame -> clip mapping of a COCO results INPUT (a COCO annotation file or a CSV).")
@click.option("--persons", type=click.IntRange(min=1), default=2, show_default=True,
              help="Persons kept per clip of pose-estimator output (the most active).")
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as a JSON list.")
@click.option("--csv", "as_csv", is_flag=True, help=f"Print CSV rows: {','.join(CSV_HEADER)}.")
@click.option("--stream", is_flag=True, help="Read frames as JSON lines on stdin, write one JSON line per window.")
@click.option("--device", default="cpu", show_default=True, help="auto | cpu | cuda | cuda:N.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Windows per batch.")
def command(checkpoint: Path, inputs: tuple[Path, ...], split: str | None, window: int | None, stride: int | None,
            top_k: int, fmt: str | None, images: Path | None, persons: int, as_json: bool, as_csv: bool,
            stream: bool, device: str, batch_size: int) -> None:
    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    if stream and (inputs or window is None or as_csv):
        raise click.UsageError("--stream reads stdin and writes JSON lines: give --window, and no INPUT or --csv")
    if not stream and not inputs:
        raise click.UsageError("give at least one INPUT, or --stream")
    with user_errors():
        predictor = Predictor.load(checkpoint, resolve_device(device), batch_size)
        if stream:
            def emit(prediction: Prediction) -> None:
                click.echo(json.dumps(prediction.to_dict()))
                sys.stdout.flush()

            predict_stream(predictor, iter(sys.stdin.readline, ""), emit, lambda msg: click.echo(msg, err=True),
                           window, stride, top_k, persons)
            return
        clips = (clip for path in inputs for clip in open_input(path, predictor.card, split, fmt, persons, images))
        predictions = predictor.predict(clips, window, stride, top_k)
        if as_csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(CSV_HEADER)
            writer.writerows(csv_rows(predictions))
        elif as_json:
            click.echo(json.dumps([p.to_dict() for p in predictions], indent=1))
        else:
            click.echo(format_predictions(list(predictions)))
