"""Global and part pooling of joint features (paper Sec. 3.3.1).

Joint features ``z`` are ``[N, M, T, V, D]`` (samples, persons, frames, joints, channels). The *global*
feature averages over frames, joints and persons; the five *part* features average over frames and over
the joints of each part (a scatter-mean over the layout's part index), then over persons.

Padded persons: a person whose **input** is zero at every frame, joint and channel is padding (a
single-person sample padded to ``M`` persons) and is left out of the average over persons, in both the
global and the part features. Joints of a real person that are zero only in some frames (occlusion,
missed detections) still count: they are data the network must learn to read. A sample whose persons are
all zero (an empty recording) averages over all of its persons so that its features stay finite.
"""
from __future__ import annotations

from torch import Tensor
from torch_geometric.utils import scatter

from ..skeleton import NUM_PARTS

try:
    from torch_scatter import scatter_mean as _torch_scatter_mean
except ImportError:  # torch-scatter is optional; PyG's scatter uses torch's native scatter_reduce
    _torch_scatter_mean = None

HAS_TORCH_SCATTER = _torch_scatter_mean is not None


def scatter_mean(
    src: Tensor, index: Tensor, dim: int, dim_size: int, use_torch_scatter: bool = HAS_TORCH_SCATTER
) -> Tensor:
    """Mean of the slices of ``src`` along ``dim`` that share an ``index`` entry.

    Args:
        src: any shape, with ``src.size(dim) == index.numel()``.
        index: ``[src.size(dim)]`` long, values in ``0..dim_size-1``.
        dim_size: size of ``dim`` in the output; groups with no entry are zero.
        use_torch_scatter: use ``torch_scatter.scatter_mean`` (default when it is installed) rather than
            :func:`torch_geometric.utils.scatter`.
    """
    if use_torch_scatter:
        if _torch_scatter_mean is None:
            raise RuntimeError("torch-scatter is not installed")
        return _torch_scatter_mean(src, index, dim=dim, dim_size=dim_size)
    return scatter(src, index, dim=dim, dim_size=dim_size, reduce="mean")


def valid_persons(x: Tensor) -> Tensor:
    """``[N, M]`` bool: person ``m`` of sample ``n`` has a non-zero input somewhere (``x``: ``[N, M, T, V, C]``)."""
    return x.flatten(2).ne(0).any(-1)


def person_mean(h: Tensor, valid: Tensor | None = None) -> Tensor:
    """Average ``h`` ``[N, M, ...]`` over the valid persons (``valid`` ``[N, M]`` bool; ``None``: all).

    A sample without any valid person averages over all of its persons.
    """
    if valid is None:
        return h.mean(1)
    weight = valid.to(h.dtype)
    weight = weight.where(valid.any(1, keepdim=True), 1.0)
    weight = weight / weight.sum(1, keepdim=True)
    return (weight.view(*weight.shape, *[1] * (h.dim() - 2)) * h).sum(1)


def global_pool(z: Tensor, valid: Tensor | None = None) -> Tensor:
    """Global feature ``[N, D]`` of joint features ``z`` ``[N, M, T, V, D]``."""
    return person_mean(z.mean((2, 3)), valid)


def part_pool(z: Tensor, part: Tensor, valid: Tensor | None = None, num_parts: int = NUM_PARTS) -> Tensor:
    """Part features ``[N, P, D]`` of joint features ``z`` ``[N, M, T, V, D]``.

    ``part`` ``[V]`` is the part of every joint (``Layout.part_index()``):
    ``f[n, p] = mean over valid persons m of  mean over t and {v : part[v] = p} of z[n, m, t, v]``.
    """
    return person_mean(scatter_mean(z.mean(2), part, dim=-2, dim_size=num_parts), valid)
