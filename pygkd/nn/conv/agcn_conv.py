"""The adaptive graph convolution of 2s-AGCN (its joint stream is the paper's Js-AGCN) as a message-passing
layer."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import constant
from torch_geometric.typing import OptTensor  # noqa: F401 (names a type in the propagate_type comment)

from ...skeleton import Layout
from ..capture import is_capturing
from ..partition import directed_partitions
from ..registry import register_layer


@register_layer("agcn")
class AGCNConv(MessagePassing):
    r"""The adaptive graph convolution of `2s-AGCN <https://arxiv.org/abs/1805.07694>`_ (Shi et al., 2019)

    .. math::
        \mathbf{x}^{\prime}_i = \mathbf{b} + \sum_{k=1}^{K} \mathbf{W}_k \sum_{j=1}^{V}
        \big(A^{k}_{ji} + B^{k}_{ji} + C^{k}_{ji}\big) \, \mathbf{x}_j, \qquad
        C^{k}_{ji} = \operatorname{softmax}_j \Big( \frac{1}{C_e T} \sum_{t}
        \boldsymbol{\theta}_k(\mathbf{x}_{t,j})^{\top} \boldsymbol{\phi}_k(\mathbf{x}_{t,i}) \Big)

    with :math:`A^k` the self / inward / outward partitions of the layout
    (:func:`pygkd.nn.partition.directed_partitions`), :math:`B^k` a learnable adjacency initialised
    to :math:`10^{-6}`, and :math:`C^k` a graph computed per sample from embeddings
    :math:`\boldsymbol{\theta}_k, \boldsymbol{\phi}_k` of :math:`C_e` channels, summed over all frames.

    The graph is complete: every joint sends to slot :math:`iK + k` of every joint, with one weight
    per sample. The generic path gathers :meth:`message` per edge with weights ``[N, E]``; the fused
    path (default, :attr:`fuse`) hands the weights to :meth:`message_and_aggregate` as a sparse
    ``[V * K, V, N]`` adjacency with a dense sample dimension and runs one batched matmul (while the network
    is traced or exported, the dense adjacency goes to that matmul directly, see :mod:`pygkd.nn.capture`).

    Args:
        in_channels: input channels :math:`C_{in}`.
        out_channels: output channels :math:`C_{out}`.
        layout: skeleton layout (joints, bones, centre joint).
        embed_channels: :math:`C_e` (default ``max(out_channels // 4, 1)``, as in 2s-AGCN).
        bias: learn the additive bias :math:`\mathbf{b}`.
        **kwargs: arguments of :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(N, *, V, C_{in})`, e.g. ``[N, T, V, C_in]``; :math:`C^k` of a
          sample is computed over all of its ``*`` positions (its frames)
        - **output:** node features :math:`(N, *, V, C_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        layout: Layout,
        embed_channels: int | None = None,
        bias: bool = True,
        **kwargs,
    ) -> None:
        kwargs.setdefault("aggr", "add")
        super().__init__(node_dim=-2, **kwargs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_joints = v = layout.num_joints
        self.embed_channels = embed_channels or max(out_channels // 4, 1)

        partitions = directed_partitions(layout)  # [K, V (source j), V (root i)]
        self.num_partitions = k = partitions.size(0)
        self.register_buffer("A", partitions.permute(2, 0, 1).reshape(v * k, v))  # [i * K + k, j]
        dst, src = torch.ones(v * k, v).nonzero(as_tuple=True)  # complete graph, row-major order of A
        self.register_buffer("edge_index", torch.stack([src, dst]))

        self.B = Parameter(torch.empty(v * k, v))
        self.embed = Linear(in_channels, 2 * k * self.embed_channels)  # theta_k, phi_k of every partition
        self.lin = Linear(k * in_channels, out_channels, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        constant(self.B, 1e-6)
        self.embed.reset_parameters()
        self.lin.reset_parameters()

    def adjacency(self, x: Tensor) -> Tensor:
        """Per-sample adjacency ``A + B + C``, ``[N, V * K, V]`` (row ``i * K + k``, column ``j``)."""
        n, v, k, e = x.size(0), self.num_joints, self.num_partitions, self.embed_channels
        theta, phi = self.embed(x.reshape(n, -1, v, x.size(-1))).chunk(2, dim=-1)  # [N, T, V, K * C_e] each
        theta = theta.unflatten(-1, (k, e)).permute(0, 3, 2, 1, 4).flatten(3)  # [N, K, V (j), T * C_e]
        phi = phi.unflatten(-1, (k, e)).permute(0, 3, 2, 1, 4).flatten(3)  # [N, K, V (i), T * C_e]
        c = (phi @ theta.transpose(-1, -2) / theta.size(-1)).softmax(dim=-1)  # [N, K, i, j], softmax over j
        return self.A + self.B + c.transpose(1, 2).reshape(n, v * k, v)

    def forward(self, x: Tensor) -> Tensor:
        v, k = self.num_joints, self.num_partitions
        if x.size(-2) != v:
            raise ValueError(f"{type(self).__name__}: expected {v} joints at dim -2, got {x.size(-2)}")
        adj = self.adjacency(x)
        if self.fuse and is_capturing():  # a recorded graph holds no sparse tensor: the dense adjacency
            out = self.dense_aggregate(adj, x)
        else:
            weight = adj.flatten(1)  # [N, E], edge order of edge_index
            if self.fuse:  # the weights travel as the values of a sparse adjacency with a dense sample dimension
                edge_index = torch.sparse_coo_tensor(
                    self.edge_index.flip(0), weight.t(), (v * k, v, x.size(0)), is_coalesced=True,
                    check_invariants=False,
                )
                weight = None
            else:
                edge_index = self.edge_index
            # propagate_type: (x: Tensor, edge_weight: OptTensor)
            out = self.propagate(edge_index, x=x, edge_weight=weight, size=(v, v * k))  # [N, *, V * K, C_in]
        return self.lin(out.view(*x.shape[:-2], v, k * x.size(-1)))

    def message(self, x_j: Tensor, edge_weight: Tensor) -> Tensor:
        # x_j: [N, *, E, C_in]; edge_weight: [N, E], one weight per sample and edge
        return edge_weight.view(edge_weight.size(0), *[1] * (x_j.dim() - 3), -1, 1) * x_j

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor) -> Tensor:
        return self.dense_aggregate(adj_t.to_dense().permute(2, 0, 1), x)

    def dense_aggregate(self, adj: Tensor, x: Tensor) -> Tensor:
        """The fused aggregation: per sample, ``adj`` ``[N, V * K, V]`` times every frame of ``x``
        ``[N, *, V, C_in]`` -> ``[N, *, V * K, C_in]``."""
        out = adj.unsqueeze(1) @ x.reshape(x.size(0), -1, *x.shape[-2:])  # [N, T, V * K, C_in]
        return out.view(*x.shape[:-2], *out.shape[-2:])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, joints={self.num_joints}, "
            f"partitions={self.num_partitions}, embed_channels={self.embed_channels})"
        )
