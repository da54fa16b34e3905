"""Adjacency partitions against hand-computed matrices."""
import pytest
import torch

from pygkd.nn.partition import directed_partitions, distance_partitions, partitions, spatial_partitions
from pygkd.skeleton import Layout, get_layout, layout_names

# a - b - c - d with e hanging on b and on c (a cycle b-c-e); centre b. Depths: a 1, b 0, c 1, d 2, e 1.
TOY = Layout(
    name="toy5",
    joints=("a", "b", "c", "d", "e"),
    bones=((0, 1), (1, 2), (2, 3), (1, 4), (2, 4)),
    center=1,
    part=(0, 1, 2, 3, 4),
)
a, b, c, d, e = range(5)


def dense(entries: dict[tuple[int, int], float]) -> torch.Tensor:
    m = torch.zeros(5, 5)
    for (src, dst), w in entries.items():
        m[src, dst] = w
    return m


def test_spatial_partitions_by_hand():
    part = spatial_partitions(TOY)
    # root: the joint itself and neighbours as far from the centre (c and e are both at depth 1)
    root = dense(
        {(a, a): 1 / 2, (b, b): 1 / 4, (c, c): 1 / 4, (e, c): 1 / 4, (d, d): 1 / 2, (e, e): 1 / 3, (c, e): 1 / 3}
    )
    centripetal = dense({(b, a): 1 / 2, (b, c): 1 / 4, (c, d): 1 / 2, (b, e): 1 / 3})
    centrifugal = dense({(a, b): 1 / 4, (c, b): 1 / 4, (e, b): 1 / 4, (d, c): 1 / 4})
    torch.testing.assert_close(part, torch.stack([root, centripetal, centrifugal]))


def test_directed_partitions_by_hand():
    part = directed_partitions(TOY)
    inward = dense({(a, b): 1 / 3, (c, b): 1 / 3, (e, b): 1 / 3, (d, c): 1 / 2, (e, c): 1 / 2, (c, e): 1.0})
    outward = dense({(b, a): 1.0, (b, c): 1 / 2, (e, c): 1 / 2, (c, d): 1.0, (b, e): 1 / 2, (c, e): 1 / 2})
    torch.testing.assert_close(part, torch.stack([torch.eye(5), inward, outward]))


def test_distance_partitions_by_hand():
    part = distance_partitions(TOY, max_hop=2)
    # joints within two bones: 4 of a (d is three away), 5 of b, c and e, 4 of d (a is three away)
    n = {a: 4, b: 5, c: 5, d: 4, e: 5}
    hop0 = dense({(i, i): 1 / n[i] for i in range(5)})
    hop1 = dense({(j, i): 1 / n[i] for j, i in [(b, a), (a, b), (c, b), (e, b), (b, c), (d, c), (e, c), (c, d),
                                                (b, e), (c, e)]})
    hop2 = dense({(j, i): 1 / n[i] for j, i in [(c, a), (e, a), (d, b), (a, c), (b, d), (e, d), (a, e), (d, e)]})
    torch.testing.assert_close(part, torch.stack([hop0, hop1, hop2]))
    torch.testing.assert_close(distance_partitions(TOY, max_hop=0), torch.eye(5).unsqueeze(0))


def test_partitions_dispatches_and_rejects_unknown_strategies():
    torch.testing.assert_close(partitions(TOY, "spatial"), spatial_partitions(TOY))
    torch.testing.assert_close(partitions(TOY, "distance", max_hop=1), distance_partitions(TOY, 1))
    with pytest.raises(ValueError, match="unknown partition strategy 'hop'"):
        partitions(TOY, "hop")
    with pytest.raises(ValueError, match="max_hop must be >= 0"):
        distance_partitions(TOY, -1)


@pytest.mark.parametrize("name", layout_names())
def test_spatial_partitions_cover_the_closed_neighbourhood(name):
    layout = get_layout(name)
    part = spatial_partitions(layout)
    v = layout.num_joints
    support = (part > 0).sum(0)
    assert support.max() == 1, "every (j, i) pair belongs to at most one partition"
    hop = layout.hop_distance()
    torch.testing.assert_close(support.bool(), hop <= 1)
    torch.testing.assert_close(part.sum((0, 1)), torch.ones(v))
    assert torch.all(part[0].diagonal() > 0)
