"""AGCNConv against a naive computation of A + B + C and of the aggregation."""
import pytest
import torch

from pygkd.nn import AGCNConv
from pygkd.nn.partition import directed_partitions
from pygkd.skeleton import get_layout


def naive(conv: AGCNConv, layout, x: torch.Tensor) -> torch.Tensor:
    """x: [N, T, V, C]; loops over samples, partitions, roots i and sources j."""
    n, t, v, c = x.shape
    k_parts, ce = conv.num_partitions, conv.embed_channels
    a = directed_partitions(layout).to(x.dtype)  # [K, j, i]
    b = conv.B.view(v, k_parts, v).permute(1, 2, 0)  # [K, j, i]
    emb = conv.embed(x)  # [N, T, V, 2 * K * Ce]
    w = conv.lin.weight.view(conv.out_channels, k_parts, c)
    out = torch.zeros(n, t, v, conv.out_channels, dtype=x.dtype)
    for s in range(n):
        for k in range(k_parts):
            theta = emb[s, :, :, k * ce:(k + 1) * ce]  # [T, V, Ce]
            phi = emb[s, :, :, (k_parts + k) * ce:(k_parts + k + 1) * ce]
            score = torch.einsum("tjc,tic->ji", theta, phi) / (t * ce)
            cmat = score.softmax(dim=0)  # over the sources j
            adj = a[k] + b[k] + cmat
            for i in range(v):
                agg = sum(adj[j, i] * x[s, :, j] for j in range(v))  # [T, C]
                out[s, :, i] += agg @ w[:, k].t()
    return out + conv.lin.bias


@pytest.mark.parametrize("name", ["penn13", "coco17", "ntu25"])
@pytest.mark.parametrize("fuse", [True, False])
def test_matches_naive(name, fuse):
    torch.manual_seed(0)
    layout = get_layout(name)
    conv = AGCNConv(3, 8, layout, embed_channels=2).double()
    with torch.no_grad():
        conv.B.normal_(std=0.1)
    conv.fuse = fuse
    x = torch.randn(2, 4, layout.num_joints, 3, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(conv(x), naive(conv, layout, x))


def test_data_dependent_graph_is_per_sample():
    torch.manual_seed(2)
    conv = AGCNConv(3, 4, get_layout("coco17")).double()
    x = torch.randn(2, 5, 17, 3, dtype=torch.float64)
    both = conv(x)
    torch.testing.assert_close(both[1:], conv(x[1:]))  # sample 1 does not see sample 0
    adj = conv.adjacency(x) - conv.A - conv.B  # C: softmax over sources, per root and partition
    torch.testing.assert_close(adj.sum(-1), torch.ones(2, 17 * 3, dtype=torch.float64))


def test_gradients_reach_every_parameter_on_both_paths():
    for fuse in (True, False):
        conv = AGCNConv(3, 4, get_layout("penn13"))
        conv.fuse = fuse
        conv(torch.randn(2, 6, 13, 3)).square().sum().backward()
        for name, p in conv.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_wrong_joint_count():
    with pytest.raises(ValueError, match="expected 17 joints"):
        AGCNConv(3, 4, get_layout("coco17"))(torch.randn(1, 2, 25, 3))
