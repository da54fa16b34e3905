"""Whether a network is being recorded into a graph rather than run: ``torch.jit.trace`` (TorchScript) or
``torch.export`` (and so ``torch.onnx.export``, whose default exporter is built on it).

The fused paths of the spatial layers hand their weights to :meth:`~torch_geometric.nn.conv.MessagePassing.
message_and_aggregate` as the values of a sparse adjacency, which only carries them to a dense matmul. A
recorded graph cannot hold that carrier (ONNX has no sparse tensors), so while recording the layers give the
dense adjacency straight to the same matmul: the same numbers, without the sparse round trip. Likewise a
strided 1x1 :class:`~pygkd.nn.temporal.TemporalConv` strides in the convolution rather than slicing every
``s``-th frame first: torch.export's channels-last test of the strided view holds only for an even frame
count and would fix the parity of ``T`` in the recorded graph.
"""
from __future__ import annotations

import torch


def is_capturing() -> bool:
    """True inside ``torch.jit.trace`` or ``torch.export.export`` (strict or not)."""
    return torch.jit.is_tracing() or torch.compiler.is_exporting()
