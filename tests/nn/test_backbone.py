"""The ST-GCN backbone: shapes, padded persons, gradients, weights round trip, spec errors."""
import pytest
import torch
import torch.nn.functional as F

from pygkd.nn import STGCN, AGCNConv, BackboneOutput, STGCNConv, build_backbone
from pygkd.nn.backbones import PAPER_CHANNELS, PAPER_STRIDES
from pygkd.skeleton import get_layout

SMALL = {"channels": [8, 8, 16], "strides": [1, 1, 2]}


@pytest.mark.parametrize("name", ["penn13", "coco17", "kinect20", "ntu25", "uiprmd_vicon39"])
@pytest.mark.parametrize("persons", [1, 2])
def test_output_shapes(name, persons):
    layout = get_layout(name)
    model = build_backbone(SMALL, layout, in_channels=3, num_classes=7)
    out = model(torch.randn(2, persons, 9, layout.num_joints, 3))
    assert isinstance(out, BackboneOutput)
    assert out.logits.shape == (2, 7) and out.feature.shape == (2, 16) and out.part.shape == (2, 5, 16)
    assert model.joint_features(torch.randn(2, persons, 9, layout.num_joints, 3)).shape == (
        2, persons, 5, layout.num_joints, 16,
    )


def test_default_spec_is_the_papers_nine_blocks():
    model = build_backbone({}, get_layout("ntu25"), 3, 60)
    assert len(model.blocks) == 9 == len(PAPER_CHANNELS) == len(PAPER_STRIDES)
    assert [b.gcn.out_channels for b in model.blocks] == list(PAPER_CHANNELS)
    assert [b.tcn.conv.stride[0] for b in model.blocks] == list(PAPER_STRIDES)
    assert model.blocks[0].residual is None and all(isinstance(b.gcn, STGCNConv) for b in model.blocks)


def test_padded_person_changes_nothing():
    """In eval mode a sample [person, zeros] gives what the person alone gives with M = 1."""
    torch.manual_seed(0)
    layout = get_layout("coco17")
    model = build_backbone(SMALL, layout, 3, 5).eval()
    person = torch.randn(3, 1, 8, 17, 3)
    person[0, 0, 2:5, 4] = 0.0  # occluded joints of a real person are kept
    padded = torch.cat([person, torch.zeros_like(person)], dim=1)
    with torch.no_grad():
        for alone, with_pad in zip(model(person), model(padded)):
            torch.testing.assert_close(with_pad, alone)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    for layer in ("stgcn", "agcn"):
        model = build_backbone({**SMALL, "layer": layer}, get_layout("penn13"), 3, 4)
        out = model(torch.randn(4, 2, 8, 13, 3))
        (F.cross_entropy(out.logits, torch.tensor([0, 1, 2, 3])) + out.part.square().mean()).backward()
        for name, p in model.named_parameters():
            if name.endswith("gcn.lin.bias"):  # batch norm follows the layer and cancels a constant shift
                assert p.grad.abs().max() < 1e-6
            else:
                assert p.grad is not None and p.grad.abs().sum() > 0, f"{layer}: {name}"


def test_state_dict_round_trip_keeps_the_function():
    torch.manual_seed(0)
    layout = get_layout("kinect20")
    a = build_backbone(SMALL, layout, 3, 4)
    a(torch.randn(4, 2, 8, 20, 3))  # move the batch-norm statistics away from their defaults
    b = build_backbone(SMALL, layout, 3, 4)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 2, 8, 20, 3)
    with torch.no_grad():
        for u, w in zip(a.eval()(x), b.eval()(x)):
            torch.testing.assert_close(u, w)


def test_fused_and_generic_backbones_agree():
    torch.manual_seed(3)
    model = build_backbone(SMALL, get_layout("ntu25"), 3, 4).double().eval()
    x = torch.randn(2, 2, 8, 25, 3, dtype=torch.float64)
    with torch.no_grad():
        fused = model(x)
        for block in model.blocks:
            block.gcn.fuse = False
        generic = model(x)
    for u, w in zip(fused, generic):
        torch.testing.assert_close(u, w)


def test_spec_options_reach_the_layers():
    model = build_backbone(
        {**SMALL, "layer": "agcn", "layer_args": {"embed_channels": 3}, "dropout": 0.2},
        get_layout("coco17"), 3, 4,
    )
    assert all(isinstance(b.gcn, AGCNConv) and b.gcn.embed_channels == 3 for b in model.blocks)
    assert model.blocks[0].dropout.p == 0.2
    frozen = build_backbone({**SMALL, "edge_importance": False}, get_layout("coco17"), 3, 4)
    assert all(b.gcn.edge_importance is None for b in frozen.blocks)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"backbone": "resnet"}, r"model.backbone: unknown name 'resnet'"),
        ({"layer": "gat"}, r"model.layer: unknown name 'gat'; registered: \['agcn', 'stgcn'"),
        ({"layer": "no_such_pkg.mod:Conv"}, r"model.layer: cannot import module 'no_such_pkg.mod'"),
        ({"layer": "torch.nn:Linear"}, r"model.layer: 'torch.nn:Linear' is not a subclass of .*MessagePassing"),
        ({"chanels": [8]}, r"model: unknown key\(s\) \['chanels'\] for backbone STGCN; expected some of \['channels'"),
        ({"num_classes": 3}, r"model: unknown key\(s\) \['num_classes'\]"),
        ({"channels": [8, 16], "strides": [1]}, r"model.channels \(2 blocks\) and model.strides \(1\)"),
    ],
)
def test_bad_spec(spec, message):
    with pytest.raises(ValueError, match=message):
        build_backbone(spec, get_layout("coco17"), 3, 4)


def test_wrong_input_shape_names_what_was_expected():
    model = STGCN(get_layout("coco17"), 3, 4, channels=[8], strides=[1])
    with pytest.raises(ValueError, match=r"layout 'coco17': expected input \[N, M, T, 17, 3\], got \[2, 1, 8, 25, 3\]"):
        model(torch.randn(2, 1, 8, 25, 3))
