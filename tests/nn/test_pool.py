"""Global and part pooling against hand-computed means, padded persons, and both scatter backends."""
import pytest
import torch

from pygkd.nn.pool import HAS_TORCH_SCATTER, global_pool, part_pool, person_mean, scatter_mean, valid_persons

PART = torch.tensor([0, 1, 1, 2, 3, 4])  # six joints, the arm (part 1) has two


def joint_features() -> torch.Tensor:
    """[N=1, M=2, T=2, V=6, D=1]: person 0 holds 10 * joint + frame, person 1 holds 100."""
    z = torch.zeros(1, 2, 2, 6, 1)
    z[0, 0, :, :, 0] = 10 * torch.arange(6.0) + torch.tensor([[0.0], [1.0]])
    z[0, 1] = 100.0
    return z


def test_part_pool_by_hand():
    z = joint_features()
    only_first = torch.tensor([[True, False]])
    # person 0: frame mean of joint v is 10 v + 0.5; the arm averages joints 1 and 2
    expected = torch.tensor([0.5, 15.5, 30.5, 40.5, 50.5]).view(1, 5, 1)
    torch.testing.assert_close(part_pool(z, PART, only_first), expected)
    torch.testing.assert_close(part_pool(z, PART), (expected + 100) / 2)


def test_global_pool_by_hand():
    z = joint_features()
    torch.testing.assert_close(global_pool(z, torch.tensor([[True, False]])), torch.tensor([[25.5]]))
    torch.testing.assert_close(global_pool(z), torch.tensor([[(25.5 + 100) / 2]]))


def test_valid_persons_padding_versus_occlusion():
    x = torch.zeros(2, 2, 3, 6, 3)
    x[0, 0, 1, 2, 0] = 1.0  # one visible coordinate: a real (heavily occluded) person
    x[1] = 1.0
    assert valid_persons(x).tolist() == [[True, False], [True, True]]


def test_sample_without_valid_person_averages_all_persons():
    h = torch.tensor([[[1.0], [3.0]], [[5.0], [7.0]]])  # [N=2, M=2, D=1]
    valid = torch.tensor([[False, False], [False, True]])
    torch.testing.assert_close(person_mean(h, valid), torch.tensor([[2.0], [7.0]]))


def test_empty_part_is_zero():
    src = torch.arange(6.0).view(1, 6, 1)
    out = scatter_mean(src, torch.tensor([0, 0, 2, 2, 2, 4]), dim=1, dim_size=5, use_torch_scatter=False)
    torch.testing.assert_close(out.flatten(), torch.tensor([0.5, 0.0, 3.0, 0.0, 5.0]))


@pytest.mark.skipif(not HAS_TORCH_SCATTER, reason="torch-scatter is not installed")
def test_torch_scatter_and_pyg_scatter_agree():
    torch.manual_seed(0)
    src = torch.randn(3, 4, 6, 7, requires_grad=True)
    grads = []
    for use in (True, False):
        out = scatter_mean(src, PART, dim=-2, dim_size=5, use_torch_scatter=use)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads.append((out.detach(), src.grad.clone()))
        src.grad = None
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])
