r"""The action-specific part matrix :math:`E \in \mathbb{R}^{K \times 5}` (paper Sec. 3.3.3, Eqs. 12-13).

Every HQ training sample is shown to the trained teacher five times, each time with the joints of one body
part occluded (set to 0). The raw efficiency of part :math:`p` for class :math:`c` is the rate at which
occluding it makes the teacher misclassify samples of class :math:`c` (Eq. 12), and a softmax over the five
parts turns each row into weights (Eq. 13):

.. math::
    r_{c,p} = \frac{\sum_i \mathbb{1}(y_i = c,\ \hat{y}_{i,p} \neq c)}{\sum_i \mathbb{1}(y_i = c)}, \qquad
    E_{c,p} = \frac{e^{r_{c,p}}}{\sum_{q=1}^{5} e^{r_{c,q}}}.

Since :math:`r_{c,p} \in [0, 1]`, every :math:`E_{c,p}` lies in :math:`[1/(4e + 1), e/(e + 4)] \approx
[0.084, 0.405]` and no two entries of a row differ by more than a factor :math:`e`: the paper's matrix is
nearly flat by construction, and pygkd keeps it exactly as defined. A class without any HQ training sample
has no rate; its row is uniform (0.2), with a warning.

Each batch of HQ samples is read once and its five occluded copies go through the teacher one after the
other, so the whole matrix costs five inference passes over the HQ training set.
"""
from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..atomic import write_atomic
from ..data.raw import DataFormatError
from ..nn.precision import FLOAT32, Precision
from ..skeleton import NUM_PARTS, PARTS
from .heatmap import plot_part_matrix

NPY_FILE = "part_matrix.npy"
CSV_FILE = "part_matrix.csv"
PNG_FILE = "heatmap.png"
CSV_HEADER = ["class", *PARTS, *(f"error_{p}" for p in PARTS), "count"]


def occlude_parts(x: Tensor, part_index: Tensor) -> Tensor:
    """The five part-occluded copies of a batch.

    Args:
        x: ``[N, M, T, V, C]`` skeletons.
        part_index: ``[V]`` part (0..4) of every joint (``layout.part_index()``).

    Returns:
        ``[5 N, M, T, V, C]``; rows ``p N .. (p + 1) N - 1`` are ``x`` with the joints of part ``p`` set to 0.
    """
    if x.dim() != 5 or part_index.shape != (x.size(3),):
        raise ValueError(
            f"expected skeletons [N, M, T, V, C] and a part index [V], got {tuple(x.shape)} "
            f"and {tuple(part_index.shape)}"
        )
    parts = torch.arange(NUM_PARTS, device=x.device).unsqueeze(1)
    keep = (part_index.to(x.device).unsqueeze(0) != parts).view(NUM_PARTS, 1, 1, 1, -1, 1)
    return x.unsqueeze(0).where(keep, 0.0).flatten(0, 1)


@torch.inference_mode()
def part_error_rates(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    part_index: Tensor,
    device: torch.device | str | None = None,
    precision: Precision = FLOAT32,
) -> tuple[Tensor, Tensor]:
    """Count the teacher's mistakes on part-occluded HQ samples: the numerator and denominator of Eq. 12.

    Each occluded copy of a batch goes through the model as one batch of the loader's size, so the study
    costs five inference passes over the data (read once) with the memory of one. The model runs in eval
    mode (its previous mode is restored afterwards).

    Args:
        model: the trained teacher; ``model(x).logits`` is ``[N, K]`` (a backbone's ``BackboneOutput``).
        batches: yields ``(x [N, M, T, V, C], y [N])`` over the HQ training samples.
        part_index: ``[V]`` part of every joint of the teacher's layout.
        device: where to run the model; default: the device of its first parameter (CPU if it has none).
        precision: the arithmetic of the forward passes (the counts are integers whatever it is).

    Returns:
        ``errors [K, 5]`` (long): samples of class ``c`` misclassified with part ``p`` occluded, and
        ``counts [K]`` (long): samples of class ``c``.
    """
    device = torch.device(device) if device is not None else next(model.parameters(), torch.empty(0)).device
    was_training = model.training
    model.eval()
    errors = counts = None
    try:
        for step, (x, y) in enumerate(tqdm(batches, desc="part matrix", unit="batch", disable=None)):
            occluded = occlude_parts(x.to(device), part_index)
            with precision.autocast():
                logits = torch.cat([model(copy).logits.float() for copy in occluded.split(x.size(0))])
            num_classes = logits.size(1)
            y = y.cpu()
            if y.shape != (x.size(0),) or y.min() < 0 or y.max() >= num_classes:
                raise ValueError(
                    f"batch {step}: expected {x.size(0)} labels in 0..{num_classes - 1} (the model's classes), "
                    f"got {y.tolist()}"
                )
            if errors is None:
                errors = torch.zeros(num_classes, NUM_PARTS, dtype=torch.long)
                counts = torch.zeros(num_classes, dtype=torch.long)
            wrong = logits.argmax(1).cpu().view(NUM_PARTS, -1) != y  # [5, N]
            errors.index_add_(0, y, wrong.t().long())
            counts += torch.bincount(y, minlength=num_classes)
    finally:
        model.train(was_training)
    if errors is None:
        raise ValueError("the part matrix needs at least one batch of HQ training samples, got none")
    return errors, counts


def part_matrix(errors: Tensor, counts: Tensor) -> Tensor:
    """Eq. 12 (error rates) then Eq. 13 (softmax over the five parts).

    Args:
        errors: ``[K, 5]`` misclassified samples per class and occluded part.
        counts: ``[K]`` samples per class.

    Returns:
        ``E [K, 5]`` float32, rows summing to 1; uniform rows (with a warning) for classes without samples.
    """
    rate = error_rate(errors, counts)
    empty = rate.isnan().any(1)
    if empty.any():
        warnings.warn(
            f"classes {empty.nonzero().squeeze(1).tolist()} have no HQ training sample: "
            f"their rows of the part matrix are uniform (1/{NUM_PARTS})",
            stacklevel=2,
        )
    return torch.softmax(rate.nan_to_num(0.0), dim=1)


def error_rate(errors: Tensor, counts: Tensor) -> Tensor:
    """Eq. 12: ``errors / counts`` per class and part, ``[K, 5]`` float32; NaN rows for classes without samples."""
    if errors.dim() != 2 or errors.size(1) != NUM_PARTS or counts.shape != (errors.size(0),):
        raise ValueError(
            f"expected errors [K, {NUM_PARTS}] and counts [K], got {tuple(errors.shape)} and {tuple(counts.shape)}"
        )
    if (errors < 0).any() or (errors > counts.unsqueeze(1)).any():
        raise ValueError("errors must lie between 0 and the class's sample count")
    return errors.float() / counts.float().unsqueeze(1)


@dataclass
class PartMatrix:
    """The part matrix of one teacher with what it was computed from.

    Attributes:
        E: ``[K, 5]`` float32, Eq. 13 (the weights :func:`pygkd.kd.pmsc_loss` reads).
        error_rate: ``[K, 5]`` float32, Eq. 12; NaN for classes without HQ training samples.
        counts: ``[K]`` long, HQ training samples per class.
        class_names: ``K`` names.
    """

    E: Tensor
    error_rate: Tensor
    counts: Tensor
    class_names: list[str]

    def __post_init__(self) -> None:
        k = len(self.class_names)
        if self.E.shape != (k, NUM_PARTS) or self.error_rate.shape != (k, NUM_PARTS) or self.counts.shape != (k,):
            raise ValueError(
                f"{k} class names need E and error_rate [{k}, {NUM_PARTS}] and counts [{k}], got "
                f"{tuple(self.E.shape)}, {tuple(self.error_rate.shape)} and {tuple(self.counts.shape)}"
            )

    @classmethod
    def from_errors(cls, errors: Tensor, counts: Tensor, class_names: list[str]) -> PartMatrix:
        """Build from the output of :func:`part_error_rates`."""
        return cls(part_matrix(errors, counts), error_rate(errors, counts), counts.long(), list(class_names))

    @classmethod
    def compute(
        cls,
        model: nn.Module,
        batches: Iterable[tuple[Tensor, Tensor]],
        part_index: Tensor,
        class_names: list[str],
        device: torch.device | str | None = None,
        precision: Precision = FLOAT32,
    ) -> PartMatrix:
        """Run the occlusion study with a trained teacher (see :func:`part_error_rates`) and build ``E``."""
        errors, counts = part_error_rates(model, batches, part_index, device, precision)
        return cls.from_errors(errors, counts, class_names)

    def save(self, directory: str | Path, heatmap: bool = True) -> None:
        """Write ``part_matrix.npy`` (E), ``part_matrix.csv`` (class, E, error rates, count per class) and
        ``heatmap.png``. The PNG needs matplotlib; without it the other two files are written first and then
        an ImportError says what to install."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        npy = io.BytesIO()
        np.save(npy, self.E.cpu().numpy().astype(np.float32))
        write_atomic(directory / NPY_FILE, npy.getvalue())
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(CSV_HEADER)
        for name, e, rate, count in zip(self.class_names, self.E, self.error_rate, self.counts):
            writer.writerow([name, *map(_format, e), *map(_format, rate), int(count)])
        write_atomic(directory / CSV_FILE, text.getvalue())
        if heatmap:
            plot_part_matrix(self.E, self.class_names, directory / PNG_FILE)

    @classmethod
    def load(cls, directory: str | Path) -> PartMatrix:
        """Read what :meth:`save` wrote: E from the ``.npy``, names, error rates and counts from the ``.csv``."""
        directory = Path(directory)
        E = torch.from_numpy(_load_E(directory / NPY_FILE))
        path = directory / CSV_FILE
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
        except UnicodeDecodeError as err:
            raise DataFormatError(f"{path}: not a text file (byte {err.start} is not UTF-8)") from None
        if not rows or rows[0] != CSV_HEADER:
            raise DataFormatError(f"{path}: line 1: expected the header {','.join(CSV_HEADER)}")
        if len(rows) - 1 != E.size(0):
            raise DataFormatError(f"{path}: {len(rows) - 1} classes, but {directory / NPY_FILE} has {E.size(0)} rows")
        rates, counts = [], []
        for line, row in enumerate(rows[1:], start=2):
            if len(row) != len(CSV_HEADER):
                raise DataFormatError(f"{path}: line {line}: {len(row)} fields, expected {len(CSV_HEADER)}")
            try:
                rates.append([float(v) if v else float("nan") for v in row[1 + NUM_PARTS : 1 + 2 * NUM_PARTS]])
                counts.append(int(row[-1]))
            except ValueError:
                raise DataFormatError(f"{path}: line {line}: error rates and count must be numbers") from None
        return cls(E, torch.tensor(rates), torch.tensor(counts), [row[0] for row in rows[1:]])


def _load_E(path: Path) -> np.ndarray:
    """``part_matrix.npy``: ``[K, 5]`` floating point, every row a softmax (finite, positive, summing to 1)."""
    try:
        E = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise DataFormatError(f"{path}: cannot be read as .npy ({err})") from None
    if E.ndim != 2 or E.shape[1] != NUM_PARTS or E.dtype.kind != "f":
        raise DataFormatError(f"{path}: expected E as floats [K, {NUM_PARTS}], got {E.dtype}{list(E.shape)}")
    bad = np.argwhere(~np.isfinite(E))
    if bad.size:
        raise DataFormatError(f"{path}: non-finite value {E[tuple(bad[0])]} at class {bad[0][0]}, part {bad[0][1]}")
    rows = np.flatnonzero((E <= 0).any(axis=1) | (np.abs(E.sum(axis=1) - 1) > 1e-3))
    if rows.size:
        raise DataFormatError(f"{path}: row {rows[0]} is not a softmax (positive values summing to 1): {E[rows[0]]}")
    return E.astype(np.float32)


def _format(value: Tensor) -> str:
    """Shortest text that reads back as the same float32; empty for NaN."""
    v = np.float32(value)
    return "" if np.isnan(v) else np.format_float_positional(v, unique=True, trim="-")
