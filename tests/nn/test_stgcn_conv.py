"""STGCNConv against a naive per-joint loop, on both message-passing paths and several layouts."""
import pytest
import torch

from pygkd.nn import STGCNConv
from pygkd.nn.partition import partitions, spatial_partitions
from pygkd.skeleton import get_layout

LAYOUTS = ["penn13", "coco17", "kinect20", "uiprmd_kinect22", "ntu25", "uiprmd_vicon39"]


def random_conv(layout, c_in=3, c_out=5, dtype=torch.float64, **options) -> STGCNConv:
    conv = STGCNConv(c_in, c_out, layout, **options).to(dtype)
    with torch.no_grad():
        conv.edge_importance.uniform_(0.5, 1.5)
        conv.lin.bias.normal_()
    return conv


def naive(conv: STGCNConv, layout, x: torch.Tensor) -> torch.Tensor:
    """x'_i = b + sum_k W_k sum_j A[k, j, i] m[k, j, i] x_j, with loops over k, i and j."""
    k_parts = conv.num_partitions
    a = partitions(layout, conv.partition, conv.max_hop).to(x.dtype)
    m = torch.zeros_like(a)
    src, dst = conv.edge_index
    for e in range(src.numel()):  # source j, slot i * K + k
        i, k = divmod(int(dst[e]), k_parts)
        m[k, src[e], i] = conv.edge_importance[e]
    w = conv.lin.weight.view(conv.out_channels, k_parts, conv.in_channels)
    v = layout.num_joints
    out = torch.zeros(*x.shape[:-1], conv.out_channels, dtype=x.dtype)
    for i in range(v):
        acc = conv.lin.bias.expand(*x.shape[:-2], -1).clone()
        for k in range(k_parts):
            for j in range(v):
                if a[k, j, i] != 0:
                    acc = acc + a[k, j, i] * m[k, j, i] * x[..., j, :] @ w[:, k].t()
        out[..., i, :] = acc
    return out


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("options", [{}, {"partition": "distance", "max_hop": 2},
                                     {"partition": "distance", "max_hop": 3}])
def test_matches_naive(name, fuse, options):
    torch.manual_seed(0)
    layout = get_layout(name)
    conv = random_conv(layout, **options)
    conv.fuse = fuse
    x = torch.randn(2, 4, layout.num_joints, 3, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(conv(x), naive(conv, layout, x))


def test_fused_and_generic_paths_agree_with_gradients():
    torch.manual_seed(1)
    layout = get_layout("ntu25")
    conv = random_conv(layout, 4, 6)
    x = torch.randn(3, 5, 25, 4, dtype=torch.float64, requires_grad=True)
    grads = []
    for fuse in (True, False):
        conv.fuse = fuse
        conv.zero_grad()
        x.grad = None
        out = conv(x)
        (out * torch.arange(out.numel(), dtype=out.dtype).view_as(out).sin()).sum().backward()
        grads.append([x.grad.clone()] + [p.grad.clone() for p in conv.parameters()])
    for fused, generic in zip(*grads):
        torch.testing.assert_close(fused, generic)


def test_shapes_and_single_frame():
    layout = get_layout("coco17")
    conv = STGCNConv(3, 8, layout)
    assert conv(torch.randn(2, 6, 17, 3)).shape == (2, 6, 17, 8)
    assert conv(torch.randn(17, 3)).shape == (17, 8)


def test_without_edge_importance_uses_the_fixed_partitions():
    layout = get_layout("penn13")
    conv = STGCNConv(3, 4, layout, edge_importance=False).double()
    assert conv.edge_importance is None
    x = torch.randn(2, 13, 3, dtype=torch.float64)
    a = spatial_partitions(layout).double()
    w = conv.lin.weight.view(4, 3, 3)
    expected = torch.einsum("kji,njc,dkc->nid", a, x, w) + conv.lin.bias
    torch.testing.assert_close(conv(x), expected)


def test_reset_parameters_restores_unit_importance():
    conv = random_conv(get_layout("coco17"), dtype=torch.float32)
    conv.reset_parameters()
    assert torch.equal(conv.edge_importance, torch.ones_like(conv.edge_importance))


def test_wrong_joint_count_names_what_was_expected():
    conv = STGCNConv(3, 4, get_layout("ntu25"))
    with pytest.raises(ValueError, match="expected 25 joints"):
        conv(torch.randn(2, 4, 17, 3))
