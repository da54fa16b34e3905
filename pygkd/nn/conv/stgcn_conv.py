"""The spatial graph convolution of ST-GCN as a message-passing layer."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import ones
from torch_geometric.typing import OptTensor  # noqa: F401 (names a type in the propagate_type comment)

from ...skeleton import Layout
from ..capture import is_capturing
from ..partition import partitions
from ..registry import register_layer


@register_layer("stgcn")
class STGCNConv(MessagePassing):
    r"""The spatial graph convolution of `ST-GCN <https://arxiv.org/abs/1801.07455>`_ (Yan et al., 2018)

    .. math::
        \mathbf{x}^{\prime}_i = \mathbf{b} + \sum_{k=1}^{K} \mathbf{W}_k \sum_{j \in \mathcal{N}_k(i)}
        \frac{m^{k}_{ji}}{|\mathcal{N}(i)| + 1} \, \mathbf{x}_j

    where :math:`\mathcal{N}_1(i), \mathcal{N}_2(i), \mathcal{N}_3(i)` split the closed neighbourhood of
    joint :math:`i` into the root, centripetal and centrifugal partitions by distance to the layout's
    centre joint (:func:`pygkd.nn.partition.spatial_partitions`), and :math:`m^{k}_{ji}` is the learnable
    edge importance (initialised to one). With ``partition="distance"`` the :math:`K = D + 1` partitions
    hold the joints :math:`0, 1, \dots, D` bones from :math:`i` (:func:`pygkd.nn.partition.distance_partitions`,
    :math:`D` = ``max_hop``), each message divided by the number of joints within :math:`D` bones instead:
    EfficientGCN's spatial graph convolution (``max_hop=2``).

    The graph is fixed by the layout. It is stored as a bipartite graph from the :math:`V` joints to
    :math:`V K` slots, slot :math:`iK + k` gathering partition :math:`k` of joint :math:`i`, so that one
    :meth:`propagate` covers all partitions; a linear map of the :math:`K C_{in}` channels of each joint
    then applies the :math:`\mathbf{W}_k`. Aggregating before transforming moves :math:`K C_{in}` rather
    than :math:`K C_{out}` channels per joint, which is cheaper in every ST-GCN block
    (:math:`C_{in} \le C_{out}`). The generic path gathers :meth:`message` per edge; the fused path
    (default, :attr:`fuse`) runs :meth:`message_and_aggregate` as one batched matmul of the dense
    ``[V * K, V]`` adjacency, faster than sparse kernels on graphs of a few dozen joints (while the network
    is traced or exported, the dense adjacency goes to that matmul directly, see :mod:`pygkd.nn.capture`).

    Args:
        in_channels: input channels :math:`C_{in}`.
        out_channels: output channels :math:`C_{out}`.
        layout: skeleton layout (joints, bones, centre joint).
        edge_importance: learn :math:`m^{k}_{ji}`; otherwise :math:`m = 1`.
        partition: ``"spatial"`` (ST-GCN's spatial configuration) or ``"distance"`` (hop distance).
        max_hop: :math:`D`, the farthest hop distance of the ``"distance"`` partitions.
        bias: learn the additive bias :math:`\mathbf{b}`.
        **kwargs: arguments of :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(*, V, C_{in})`, e.g. ``[N, T, V, C_in]``
        - **output:** node features :math:`(*, V, C_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        layout: Layout,
        edge_importance: bool = True,
        partition: str = "spatial",
        max_hop: int = 2,
        bias: bool = True,
        **kwargs,
    ) -> None:
        kwargs.setdefault("aggr", "add")
        super().__init__(node_dim=-2, **kwargs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_joints = layout.num_joints
        self.partition = partition
        self.max_hop = max_hop

        adjacency = partitions(layout, partition, max_hop)  # [K, V (source j), V (root i)]
        self.num_partitions = adjacency.size(0)
        adj_t = adjacency.permute(2, 0, 1).reshape(-1, self.num_joints)  # [i * K + k, j]
        dst, src = adj_t.nonzero(as_tuple=True)
        self.register_buffer("edge_index", torch.stack([src, dst]))
        self.register_buffer("edge_weight", adj_t[dst, src])

        self.lin = Linear(self.num_partitions * in_channels, out_channels, bias=bias)
        self.edge_importance = Parameter(torch.empty(src.numel())) if edge_importance else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.lin.reset_parameters()
        ones(self.edge_importance)

    def forward(self, x: Tensor) -> Tensor:
        v, k = self.num_joints, self.num_partitions
        if x.size(-2) != v:
            raise ValueError(f"{type(self).__name__}: expected {v} joints at dim -2, got {x.size(-2)}")
        weight = self.edge_weight if self.edge_importance is None else self.edge_weight * self.edge_importance
        if self.fuse and is_capturing():  # a recorded graph holds no sparse tensor: the dense adjacency
            adj = weight.new_zeros(v * k, v).index_put(tuple(self.edge_index.flip(0)), weight)
            out = self.dense_aggregate(adj, x)
        else:
            if self.fuse:  # the weights travel as the values of the transposed adjacency
                edge_index = torch.sparse_coo_tensor(
                    self.edge_index.flip(0), weight, (v * k, v), is_coalesced=True, check_invariants=False
                )
                weight = None
            else:
                edge_index = self.edge_index
            # propagate_type: (x: Tensor, edge_weight: OptTensor)
            out = self.propagate(edge_index, x=x, edge_weight=weight, size=(v, v * k))  # [*, V * K, C_in]
        return self.lin(out.view(*x.shape[:-2], v, k * x.size(-1)))

    def message(self, x_j: Tensor, edge_weight: Tensor) -> Tensor:
        return edge_weight.view(-1, 1) * x_j

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor) -> Tensor:
        return self.dense_aggregate(adj_t.to_dense(), x)

    def dense_aggregate(self, adj: Tensor, x: Tensor) -> Tensor:
        """The fused aggregation: ``adj`` ``[V * K, V]`` times ``x`` ``[*, V, C_in]`` -> ``[*, V * K, C_in]``."""
        x3 = x.reshape(-1, *x.shape[-2:])
        out = torch.bmm(adj.expand(x3.size(0), -1, -1), x3)  # contiguous [B, V * K, C_in]
        return out.view(*x.shape[:-2], *out.shape[-2:])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
            f"joints={self.num_joints}, partition={self.partition!r}, partitions={self.num_partitions})"
        )
