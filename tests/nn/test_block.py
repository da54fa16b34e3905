"""The ST-GCN block and the temporal convolution: lengths after strides, residual kinds, bad kernels."""
import pytest
import torch

from pygkd.nn import STGCNBlock, STGCNConv, TemporalConv
from pygkd.skeleton import get_layout


@pytest.mark.parametrize("t, stride, expected", [(10, 1, 10), (10, 2, 5), (9, 2, 5), (7, 3, 3)])
def test_temporal_length(t, stride, expected):
    conv = TemporalConv(4, 6, kernel_size=9, stride=stride)
    assert conv(torch.randn(2, 4, t, 5)).shape == (2, 6, expected, 5)


def test_temporal_conv_mixes_only_frames_within_the_kernel():
    conv = TemporalConv(1, 1, kernel_size=3).eval()
    x = torch.zeros(1, 1, 9, 2)
    x[0, 0, 4, 0] = 1.0  # an impulse at frame 4 of joint 0
    with torch.no_grad():
        moved = conv(x) - conv(torch.zeros_like(x))
    assert moved[0, 0, :, 1].abs().max() == 0  # joints are not mixed
    assert torch.nonzero(moved[0, 0, :, 0]).flatten().tolist() == [3, 4, 5]


def test_even_temporal_kernel_is_refused():
    with pytest.raises(ValueError, match="must be odd, got 4"):
        TemporalConv(2, 2, kernel_size=4)


@pytest.mark.parametrize(
    "c_in, c_out, stride, residual, kind",
    [
        (8, 8, 1, True, "Identity"),
        (8, 16, 1, True, "TemporalConv"),
        (8, 8, 2, True, "TemporalConv"),
        (8, 8, 1, False, None),
    ],
)
def test_residual_kinds(c_in, c_out, stride, residual, kind):
    block = STGCNBlock(c_in, c_out, get_layout("penn13"), STGCNConv, stride=stride, residual=residual)
    assert (type(block.residual).__name__ if block.residual is not None else None) == kind
    out = block(torch.randn(2, c_in, 6, 13).contiguous(memory_format=torch.channels_last))
    assert out.shape == (2, c_out, 6 // stride, 13) and out.min() >= 0


def test_block_is_residual_around_the_graph_and_temporal_path():
    block = STGCNBlock(4, 4, get_layout("coco17"), STGCNConv).eval()
    with torch.no_grad():
        block.tcn.bn.weight.zero_()
        block.tcn.bn.bias.zero_()  # the main path outputs zero: the block is ReLU(x)
        x = torch.randn(2, 4, 5, 17)
        torch.testing.assert_close(block(x), x.relu())


@pytest.mark.parametrize("t", [99, 100])
def test_strided_pointwise_conv_equals_a_strided_convolution(t):
    """kernel 1, stride 2 is computed as every other frame + stride 1 (a torch 2.13 oneDNN crash, see
    TemporalConv): same output as the strided convolution, and its backward on 3-channel channels_last
    input (the first block's residual) runs."""
    torch.manual_seed(0)
    conv = TemporalConv(3, 8, kernel_size=1, stride=2).eval().to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, t, 25).contiguous(memory_format=torch.channels_last).requires_grad_()
    out = conv(x)
    reference = conv.bn(torch.nn.functional.conv2d(x.contiguous(), conv.conv.weight, conv.conv.bias, stride=(2, 1)))
    assert out.shape == (4, 8, (t - 1) // 2 + 1, 25)
    torch.testing.assert_close(out, reference)
    for _ in range(5):
        conv.train()(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
