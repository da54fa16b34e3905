"""The recording path of the spatial layers (pygkd.nn.capture): the dense adjacency handed straight to the
fused matmul gives what propagate gives, and the switch is on exactly while torch traces or exports."""
import pytest
import torch

from pygkd.nn import AGCNConv, STGCNConv, build_backbone
from pygkd.nn.capture import is_capturing
from pygkd.skeleton import get_layout

LAYERS = {
    "stgcn": lambda layout: STGCNConv(3, 5, layout),
    "stgcn-distance": lambda layout: STGCNConv(3, 5, layout, partition="distance", max_hop=2),
    "agcn": lambda layout: AGCNConv(3, 5, layout),
}


@pytest.mark.parametrize("name", LAYERS)
def test_recording_path_equals_propagate(name, monkeypatch):
    torch.manual_seed(0)
    layout = get_layout("coco17")
    conv = LAYERS[name](layout).double()
    with torch.no_grad():
        for p in conv.parameters():
            p.uniform_(-1, 1)  # edge importance and AGCN's B away from their constant initial values
    x = torch.randn(2, 6, layout.num_joints, 3, dtype=torch.float64)
    with torch.no_grad():
        eager = conv(x)
        monkeypatch.setattr(f"{type(conv).__module__}.is_capturing", lambda: True)
        recorded = conv(x)
    torch.testing.assert_close(recorded, eager, rtol=0, atol=1e-12)


def test_dense_aggregate_is_the_adjacency_matmul():
    layout = get_layout("penn13")
    conv = STGCNConv(2, 4, layout)
    adj = torch.zeros(conv.num_joints * conv.num_partitions, conv.num_joints)
    adj[0, 3], adj[5, 1] = 2.0, -1.0  # slot 0 reads joint 3 twice, slot 5 minus joint 1
    x = torch.randn(3, 4, 13, 2)
    out = conv.dense_aggregate(adj, x)
    assert out.shape == (3, 4, adj.size(0), 2)
    torch.testing.assert_close(out[..., 0, :], 2 * x[..., 3, :])
    torch.testing.assert_close(out[..., 5, :], -x[..., 1, :])
    assert out[..., 1, :].abs().max() == 0


class Probe(torch.nn.Module):
    def forward(self, x):
        return x * 2 if is_capturing() else x


def test_is_capturing_only_while_recording():
    x = torch.ones(3)
    assert not is_capturing()
    assert torch.equal(Probe()(x), x)
    assert torch.equal(torch.jit.trace(Probe(), (x,), check_trace=False)(x), 2 * x)
    exported = torch.export.export(Probe(), (x,), strict=False)
    assert torch.equal(exported.module()(x), 2 * x)


def test_traced_backbone_has_no_sparse_op():
    model = build_backbone({"backbone": "stgcn", "layer": "agcn", "channels": [4], "strides": [1],
                            "temporal_kernel": 3}, get_layout("penn13"), 3, 2).eval()
    x = torch.randn(1, 2, 6, 13, 3)
    with torch.no_grad(), pytest.warns(torch.jit.TracerWarning):  # the input-shape check on static sizes
        graph = str(torch.jit.trace(model, (x,), strict=False).inlined_graph)
    assert "sparse" not in graph
    assert "aten::matmul" in graph


def test_recording_path_of_a_strided_residual_equals_the_frame_slice(monkeypatch):
    from pygkd.nn.temporal import TemporalConv

    torch.manual_seed(0)
    conv = TemporalConv(3, 4, kernel_size=1, stride=2).eval()
    x = torch.randn(2, 3, 7, 5).contiguous(memory_format=torch.channels_last)  # odd T: 4 frames out
    with torch.no_grad():
        eager = conv(x)
        monkeypatch.setattr("pygkd.nn.temporal.is_capturing", lambda: True)
        recorded = conv(x)
    assert recorded.shape == eager.shape == (2, 4, 4, 5)
    torch.testing.assert_close(recorded, eager, rtol=0, atol=1e-6)
