"""Heatmap of the part matrix, like the paper's Figure 5: classes down, parts across, dark = large."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from torch import Tensor

from ..skeleton import NUM_PARTS, PARTS


def plot_part_matrix(
    E: Tensor | np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    title: str = "Action-specific part matrix E",
) -> None:
    """Write ``E [K, 5]`` as an annotated heatmap image (PNG, or any format matplotlib infers from ``path``).

    The colour scale spans the values of ``E`` (Eq. 13 keeps them within a factor e of each other per row,
    so a fixed 0..1 scale would show a flat picture). Needs matplotlib (``pip install matplotlib``).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            f"plotting the part matrix to {path} needs matplotlib: pip install matplotlib (or pygkd[plot])"
        ) from None
    values = np.asarray(E, dtype=np.float32)
    if values.shape != (len(class_names), NUM_PARTS):
        raise ValueError(f"expected E [{len(class_names)}, {NUM_PARTS}] for the class names, got {values.shape}")
    height = 1.6 + 0.28 * len(class_names)
    width = 3.0 + 0.07 * max(map(len, class_names), default=0) + 0.9 * NUM_PARTS
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", aspect="auto", interpolation="nearest")
    ax.set_xticks(range(NUM_PARTS), [p.replace("_", " ") for p in PARTS], rotation=30, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_title(title)
    middle = (values.min() + values.max()) / 2
    for (c, p), v in np.ndenumerate(values):
        ax.text(p, c, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v > middle else "black")
    fig.colorbar(image, ax=ax, label=r"$E_{c,p}$")
    fig.savefig(path, dpi=120)
