"""``pygkd eval``: accuracy of a trained teacher or student on a split."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import click

from pygkd.engine.stages import evaluate_model

from .run_options import allow_unfinished_option, percent, run_options, table


def format_report(report: dict) -> str:
    """Top-1/top-5, then per class: accuracy, samples and the most frequent wrong prediction."""
    protocol = report.get("occlusion_protocol")  # None without occlusion (and in reports of older versions)
    occlusion = f", occlusion OP {report['occlusion']:g}" if report["occlusion"] else ""
    occlusion += f" per {protocol}" if protocol not in (None, "clip") else ""
    lines = [f"{report['role']} on {report['split']} ({report['num_samples']} samples{occlusion}): "
             f"top-1 {percent(report['top1'])}, top-5 {percent(report['top5'])}"]
    names = report["class_names"]
    rows = []
    for c, (name, counts) in enumerate(zip(names, report["confusion"])):
        wrong = [(n, p) for p, n in enumerate(counts) if p != c and n > 0]
        confused = f"{names[max(wrong)[1]]} ({max(wrong)[0]})" if wrong else ""
        rows.append([name, percent(report["per_class"][name]), str(sum(counts)), confused])
    lines.append(table(["class", "accuracy", "samples", "most confused with"], rows))
    return "\n".join(lines)


def in_percent(report: dict) -> dict:
    """The report with its accuracies (``top1``, ``top5``, ``per_class``) in percent, as the text report
    prints them, and ``unit: "percent"`` (the library's report and ``eval/*.json`` hold fractions)."""
    return {**report, "top1": _scaled(report["top1"]), "top5": _scaled(report["top5"]),
            "per_class": {name: _scaled(v) for name, v in report["per_class"].items()}, "unit": "percent"}


def _scaled(fraction: float | None) -> float | None:
    return None if fraction is None else 100 * fraction


@click.command(help="Evaluate the run's student (or --role teacher, or any --checkpoint) on a split: top-1, "
               "top-5, per-class accuracy and confusion matrix, optionally with test-time joint occlusion. "
               "Writes <out>/eval/<role>_<split>[_op<OP>[_<protocol>]].json.")
@run_options()
@click.option("--role", type=click.Choice(["student", "teacher"]), default="student", show_default=True,
              help="Which network of the run (<out>/<role>/checkpoint_best.pt).")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Evaluate this checkpoint instead (its role decides the stream it reads).")
@click.option("--split", help="Split to evaluate (default: eval.split, else data.test_split).")
@click.option("--occlusion", type=click.FloatRange(0, 1),
              help="Occlusion probability OP of every joint, seeded by --seed (config key: eval.occlusion).")
@click.option("--occlusion-protocol", type=click.Choice(["clip", "frame", "span"]),
              help="How the occluded joints are drawn: per clip (absent in every frame), per frame, or in spans "
                   "of eval.occlusion_span frames (config key: eval.occlusion_protocol).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON, accuracies in percent like the text report.")
@allow_unfinished_option
def command(cfg: dict, role: str, checkpoint: Path | None, split: str | None, occlusion: float | None,
            occlusion_protocol: str | None, as_json: bool, allow_unfinished: bool) -> None:
    if occlusion_protocol is not None:
        cfg["eval"]["occlusion_protocol"] = occlusion_protocol
    with warnings.catch_warnings(record=True) as caught:  # e.g. which input chain is used: one line each
        warnings.simplefilter("always")
        report = evaluate_model(cfg, role, checkpoint, split, occlusion, allow_unfinished)
    for warning in caught:
        click.echo(f"Warning: {warning.message}", err=True)
    click.echo(json.dumps(in_percent(report), indent=1) if as_json else format_report(report))
