"""``pygkd info DIR [--json]``: what a prepared dataset holds."""
from __future__ import annotations

import json
from pathlib import Path

import click

from pygkd.data.store import PreparedDataset


def format_summary(summary: dict) -> str:
    """Plain-text rendering of :meth:`PreparedDataset.summary`: streams, splits, a class x split table."""
    lines = [
        f"{summary['name']}: {summary['num_samples']} samples, {summary['num_classes']} classes  ({summary['path']})",
        "streams:",
    ]
    for name, s in summary["streams"].items():
        f = s["frames"]
        lines.append(
            f"  {name}: layout {s['layout']} ({s['num_joints']} joints), channels {','.join(s['channels'])}, "
            f"{s['num_persons']} person(s), {s['dtype']}, {s['samples']} samples, "
            f"frames min {f['min']} / median {f['median']:g} / max {f['max']} (total {f['total']})"
        )
    splits = summary["splits"]
    columns = ["all", *splits]
    width = max(len(c) for c in [*summary["per_class"], "class"])
    lines.append(f"{'class':<{width}}  " + "  ".join(f"{c:>8}" for c in columns))
    rows = {"all": summary["per_class"], **{k: v["per_class"] for k, v in splits.items()}}
    for cls in summary["per_class"]:
        lines.append(f"{cls:<{width}}  " + "  ".join(f"{rows[c][cls]:>8}" for c in columns))
    totals = [summary["num_samples"], *(v["samples"] for v in splits.values())]
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{t:>8}" for t in totals))
    if summary["skipped"]:
        lines.append("skipped: " + ", ".join(f"{why}: {n}" for why, n in summary["skipped"].items()))
    for stream, short in summary["short_clips"].items():
        lines.append(f"short clips ({stream}): {short['count']} under {short['min_frames']} frames, "
                     f"e.g. {', '.join(short['examples'])}")
    return "\n".join(lines)


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(directory: Path, as_json: bool) -> None:
    """Sample counts per split and class, layouts, channels, persons and frames of a prepared DIRECTORY."""
    summary = PreparedDataset(directory).summary()
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))
