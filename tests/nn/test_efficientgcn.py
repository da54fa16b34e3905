"""EfficientGCN: compound scaling by hand, its input features, temporal layers and attention against naive
loops, and the backbone's shapes, gradients, padding and size against the published parameter counts."""
import math

import pytest
import torch
from torch import nn

from pygkd.nn import (
    EfficientGCN,
    MultiInput,
    SeparableTemporalLayer,
    STJointAttention,
    build_backbone,
)
from pygkd.nn.backbones import B0_BLOCKS, rescale_blocks
from pygkd.nn.multi_input import parent_joints
from pygkd.skeleton import Layout, get_layout

TINY = {"backbone": "efficientgcn", "scale": 0, "blocks": [[16, 1, 1], [16, 1, 1], [16, 2, 1], [32, 2, 1]],
        "stem_channels": 8, "temporal_kernel": 3}

# a - b - c - d - e, centre b
CHAIN = Layout(name="chain5", joints=("a", "b", "c", "d", "e"), bones=((0, 1), (1, 2), (2, 3), (3, 4)), center=1,
               part=(0, 1, 2, 3, 4))


def test_rescale_blocks_by_hand():
    # B4: width 1.2^4 = 2.0736, depth 1.35^4 = 3.3215; 48 * 2.0736 / 16 = 6.22 -> 96, 24 -> 3.11 -> 48,
    # 64 -> 8.29 -> 128, 128 -> 16.59 -> 272; depth 0.5 * 3.32 -> 2, 1 * 3.32 -> 3
    assert rescale_blocks(B0_BLOCKS, 4) == [(96, 1, 2), (48, 1, 2), (128, 2, 3), (272, 2, 3)]
    # B0: 24 / 16 = 1.5 rounds half to even -> 32; depth 0.5 -> 0
    assert rescale_blocks(B0_BLOCKS, 0) == [(48, 1, 0), (32, 1, 0), (64, 2, 1), (128, 2, 1)]
    assert rescale_blocks([(8, 1, 1)], 0) == [(16, 1, 1)]  # at least 16 channels


@pytest.mark.parametrize("scale, published", [(0, 0.29e6), (4, 1.10e6)])
def test_size_matches_the_published_models(scale, published):
    """EfficientGCN-B0 / B4 on NTU-60 have 0.29 M / 1.10 M parameters (Song et al., TPAMI 2022, Table 9)."""
    model = build_backbone({"backbone": "efficientgcn", "scale": scale}, get_layout("ntu25"), 3, 60)
    assert math.isclose(sum(p.numel() for p in model.parameters()), published, rel_tol=0.03)


def test_parents_point_towards_the_centre():
    assert parent_joints(CHAIN).tolist() == [1, 1, 1, 2, 3]
    layout = get_layout("ntu25")
    parent = parent_joints(layout)
    depth = layout.hop_distance()[:, layout.center]
    for v in range(layout.num_joints):
        if v == layout.center:
            assert parent[v] == v
        else:
            assert depth[parent[v]] == depth[v] - 1 and (min(v, int(parent[v])), max(v, int(parent[v]))) in {
                (min(i, j), max(i, j)) for i, j in layout.bones}


def test_multi_input_by_hand():
    # 3 frames, joints a, b, c in 2D; d and e missing (zeros)
    x = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]],
                      [[0.0, 1.0], [1.0, 1.0], [4.0, 5.0]],
                      [[2.0, 1.0], [1.0, 1.0], [1.0, 1.0]]])
    x = torch.cat([x, torch.zeros(3, 2, 2)], dim=1)
    out = MultiInput(CHAIN)(x)
    assert out.shape == (3, 3, 5, 4)
    joint, velocity, bone = out
    torch.testing.assert_close(joint[0, 0], torch.tensor([0.0, 0.0, -1.0, 0.0]))  # a minus centre b
    torch.testing.assert_close(joint[1, 2], torch.tensor([4.0, 5.0, 3.0, 4.0]))
    torch.testing.assert_close(velocity[0, 2], torch.tensor([3.0, 3.0, 0.0, -1.0]))  # t+1 and t+2 minus t
    torch.testing.assert_close(velocity[1, 0], torch.tensor([2.0, 0.0, 0.0, 0.0]))  # no t+2
    torch.testing.assert_close(velocity[2], torch.zeros(5, 4))
    # bone of c at frame 1: c - b = (3, 4), length 5 (+1e-4): angles arccos(3/5), arccos(4/5)
    expected = torch.tensor([3.0, 4.0, math.acos(3 / 5.0001), math.acos(4 / 5.0001)])
    torch.testing.assert_close(bone[1, 2], expected)
    torch.testing.assert_close(bone[0, 1], torch.tensor([0.0, 0.0, math.pi / 2, math.pi / 2]))  # the centre
    # a missing joint enters as it is: d (zeros) minus its parent c = (-4, -5)
    length = math.sqrt(41) + 1e-4
    torch.testing.assert_close(bone[1, 3], torch.tensor([-4.0, -5.0, math.acos(-4 / length), math.acos(-5 / length)]))
    assert MultiInput(CHAIN, ["bone"])(x).shape == (1, 3, 5, 4)
    with pytest.raises(ValueError, match="inputs must be distinct names"):
        MultiInput(CHAIN, ["joint", "speed"])


def randomise(module: nn.Module) -> nn.Module:
    """Random batch-norm statistics and affine parameters, in eval mode, float64."""
    torch.manual_seed(3)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            nn.init.normal_(m.weight)
            nn.init.normal_(m.bias)
    return module.double().eval()


def bn(m: nn.BatchNorm2d, x: torch.Tensor, c: int) -> torch.Tensor:
    return (x - m.running_mean[c]) / torch.sqrt(m.running_var[c] + m.eps) * m.weight[c] + m.bias[c]


def test_separable_layer_matches_naive_loops():
    layer = randomise(SeparableTemporalLayer(4, kernel_size=3, stride=2, expand_ratio=2, activation=nn.SiLU()))
    x = torch.randn(2, 4, 7, 3, dtype=torch.float64)
    expand, depthwise, pointwise = layer.expand[0], layer.depthwise[0], layer.pointwise[0]
    n, c, t, v = x.shape
    h = torch.stack([bn(layer.expand[1], torch.einsum("d,ndtv->ntv", expand.weight[e, :, 0, 0], x)
                        + expand.bias[e], e) for e in range(8)], dim=1)
    h = torch.nn.functional.silu(h)
    t_out = (t - 1) // 2 + 1
    d = torch.zeros(n, 8, t_out, v, dtype=x.dtype)
    for e in range(8):
        for s in range(t_out):
            for tau in range(3):
                src = 2 * s + tau - 1
                if 0 <= src < t:
                    d[:, e, s] += depthwise.weight[e, 0, tau, 0] * h[:, e, src]
            d[:, e, s] += depthwise.bias[e]
        d[:, e] = bn(layer.depthwise[1], d[:, e], e)
    d = torch.nn.functional.silu(d)
    out = torch.stack([bn(layer.pointwise[1], torch.einsum("e,netv->ntv", pointwise.weight[o, :, 0, 0], d)
                          + pointwise.bias[o], o) for o in range(c)], dim=1)
    res = layer.residual.bn(layer.residual.conv(x[:, :, ::2]))
    with torch.no_grad():
        torch.testing.assert_close(layer(x), out + res)
    assert SeparableTemporalLayer(4, 5)(torch.randn(2, 4, 9, 3)).shape == (2, 4, 9, 3)


def test_joint_attention_matches_naive_loops():
    att = randomise(STJointAttention(4, reduct_ratio=2, activation=nn.ReLU()))
    x = torch.randn(2, 4, 5, 3, dtype=torch.float64)
    conv, norm = att.reduce[0], att.reduce[1]
    w = conv.weight[:, :, 0, 0]

    def reduce(pooled):  # pooled [N, C] -> [N, C/r]
        z = pooled @ w.t() + conv.bias
        return nn.functional.hardswish(torch.stack([bn(norm, z[:, i], i) for i in range(2)], dim=1))

    a = torch.zeros_like(x)
    for t in range(5):
        for v in range(3):
            z_t = reduce(x[:, :, t, :].mean(-1))
            z_v = reduce(x[:, :, :, v].mean(-1))
            a_t = torch.sigmoid(z_t @ att.frame.weight[:, :, 0, 0].t() + att.frame.bias)
            a_v = torch.sigmoid(z_v @ att.joint.weight[:, :, 0, 0].t() + att.joint.bias)
            a[:, :, t, v] = a_t * a_v
    with torch.no_grad():
        torch.testing.assert_close(att.attention(x), a)
        y = x * a
        expected = torch.relu(torch.stack([bn(att.bn, y[:, i], i) for i in range(4)], dim=1) + x)
        torch.testing.assert_close(att(x), expected)


@pytest.mark.parametrize("name, channels", [("penn13", 2), ("coco17", 3), ("ntu25", 3), ("uiprmd_vicon39", 3)])
def test_shapes_and_gradients(name, channels):
    torch.manual_seed(0)
    layout = get_layout(name)
    model = build_backbone(TINY, layout, channels, 7)
    out = model(torch.randn(3, 2, 12, layout.num_joints, channels))
    assert out.logits.shape == (3, 7) and out.feature.shape == (3, 32) and out.part.shape == (3, 5, 32)
    out.logits.sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_padded_person_changes_nothing():
    torch.manual_seed(0)
    model = build_backbone(TINY, get_layout("coco17"), 3, 4).eval()
    x = torch.randn(2, 1, 10, 17, 3)
    padded = torch.cat([x, torch.zeros_like(x)], dim=1)
    with torch.no_grad():
        one, two = model(x), model(padded)
    for a, b in zip(one, two):
        torch.testing.assert_close(a, b)


def test_other_layers_and_temporal_options():
    layout = get_layout("coco17")
    for spec in ({"layer": "agcn"}, {"temporal": "basic", "activation": "relu"}, {"expand_ratio": 2},
                 {"inputs": ["joint", "bone"], "fusion_stage": 1}):
        model = build_backbone({**TINY, **spec}, layout, 3, 4)
        assert model(torch.randn(2, 1, 8, 17, 3)).logits.shape == (2, 4)
    model = build_backbone({**TINY, "layer": "agcn"}, layout, 3, 4)
    assert type(model.branches[0].stem_gcn.gcn).__name__ == "AGCNConv"
    assert build_backbone(TINY, layout, 3, 4).branches[0].stem_gcn.gcn.partition == "distance"


@pytest.mark.parametrize("spec, message", [
    ({"fusion_stage": 4}, "fusion_stage must be between 1 and 3"),
    ({"temporal": "tcn"}, "temporal must be one of"),
    ({"activation": "gelu"}, "activation must be one of"),
    ({"temporal_kernel": 4}, "must be odd"),
])
def test_bad_spec(spec, message):
    with pytest.raises(ValueError, match=message):
        build_backbone({**TINY, **spec}, get_layout("coco17"), 3, 4)


def test_is_a_backbone_of_the_registry():
    assert isinstance(build_backbone(TINY, get_layout("penn13"), 2, 3), EfficientGCN)
