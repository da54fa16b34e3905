"""Preprocessing transforms: hand-computed values, occlusion statistics and per-sample determinism."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_geometric.transforms import Compose

from pygkd.data.skeleton_data import SkeletonData
from pygkd.data.transforms import (
    FixLength,
    KeepPersons,
    Normalize,
    OccludeJoints,
    OccludeParts,
    keypoints_of,
    motion_energy,
    span_chain,
    uniform_frame_indices,
    with_keypoints,
)
from pygkd.skeleton import get_layout


def sample(keypoints, layout: str = "coco17", index: int = 0, label: int = 1) -> SkeletonData:
    data = SkeletonData.from_keypoints(torch.as_tensor(keypoints, dtype=torch.float32), layout, label, f"s{index}")
    data.index = torch.tensor([index])
    return data


def random_sample(m=2, t=6, layout="coco17", c=3, index=0, seed=0) -> SkeletonData:
    v = get_layout(layout).num_joints
    return sample(np.random.default_rng(seed).uniform(1, 2, (m, t, v, c)), layout, index)


def test_with_keypoints_rebuilds_graph_and_keeps_attributes():
    data = random_sample(m=1)
    data.extra = torch.tensor([7.0])
    out = with_keypoints(data, torch.zeros(3, 4, 17, 3))
    assert out.x.shape == (3 * 17, 4, 3) and out.num_persons == 3
    assert out.edge_index.shape[1] == 3 * data.edge_index.shape[1] and out.part.shape == (51,)
    assert out.y.item() == 1 and out.index.item() == 0 and out.sample_id == "s0" and out.extra.item() == 7.0


def test_motion_energy_by_hand_ignores_frames_where_the_person_is_absent():
    k = torch.zeros(2, 4, 1, 1)
    k[0, :, 0, 0] = torch.tensor([1.0, 3.0, 1.0, 3.0])  # variance 1
    k[1, 2:, 0, 0] = 5.0  # enters at frame 2 and stands still
    assert motion_energy(k).tolist() == [1.0, 0.0]


def test_keep_persons_pads_with_zero_persons():
    data = random_sample(m=1)
    out = KeepPersons(3)(data)
    k = keypoints_of(out)
    assert k.shape == (3, 6, 17, 3) and out.num_persons == 3
    assert torch.equal(k[0], keypoints_of(data)[0]) and not k[1:].any()
    assert out.edge_index.max() == 3 * 17 - 1


def test_keep_persons_keeps_the_most_active_in_their_order():
    k = torch.ones(3, 4, 17, 2)
    k[0, ::2] = 2.0  # energy 17 * 2 * 0.25
    k[1, ::2] = 5.0  # energy 17 * 2 * 4 (most active)
    k[2, ::2] = 3.0  # energy 17 * 2 * 1
    out = keypoints_of(KeepPersons(2)(sample(k)))
    assert torch.equal(out, k[[1, 2]])


def test_keep_persons_same_count_is_untouched():
    data = random_sample(m=2)
    assert torch.equal(KeepPersons(2)(data).x, data.x)


@pytest.mark.parametrize("length", [8, 4])
def test_fix_length_pad_and_truncate(length):
    data = random_sample(t=5)
    k, out = keypoints_of(data), keypoints_of(FixLength(length)(data))
    assert out.shape[1] == length
    n = min(5, length)
    assert torch.equal(out[:, :n], k[:, :n]) and not out[:, n:].any()


def test_uniform_frame_indices_by_hand():
    assert uniform_frame_indices(10, 4).tolist() == [1, 3, 6, 8]  # floor((k + 0.5) * 2.5)
    assert uniform_frame_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]  # shorter: frames repeat
    assert uniform_frame_indices(4, 4).tolist() == [0, 1, 2, 3]
    assert uniform_frame_indices(10, 4, np.array([0.0, 0.99, 0.5, 0.0])).tolist() == [0, 4, 6, 7]


def test_fix_length_uniform_picks_those_frames():
    data = random_sample(t=10)
    out = keypoints_of(FixLength(4, mode="uniform")(data))
    assert torch.equal(out, keypoints_of(data)[:, [1, 3, 6, 8]])


def test_fix_length_uniform_training_draws_one_frame_per_segment_fixed_per_sample():
    t, length = 40, 8
    frames = torch.arange(t, dtype=torch.float32)[None, :, None, None].expand(1, t, 17, 2) + 1
    draws = []
    for index in range(20):
        out = keypoints_of(FixLength(length, mode="uniform", training=True, seed=3)(sample(frames, index=index)))
        picked = (out[0, :, 0, 0] - 1).long()
        assert torch.equal(picked // (t // length), torch.arange(length))  # one per segment of 5 frames
        again = FixLength(length, mode="uniform", training=True, seed=3)(sample(frames, index=index))
        assert torch.equal(keypoints_of(again), out)
        draws.append(tuple(picked.tolist()))
    assert len(set(draws)) > 15  # differs between samples


def test_fix_length_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        FixLength(10, mode="loop")
    with pytest.raises(ValueError, match="uniform"):
        FixLength(10, training=True)
    with pytest.raises(ValueError, match="length"):
        FixLength(0)


def test_normalize_2d_by_hand_keeps_missing_joints_and_scores():
    k = torch.zeros(1, 2, 17, 3)  # coco17: centre joint 0 (nose), bone (nose, left_eye)
    k[0, 0, 0], k[0, 0, 1] = torch.tensor([2.0, 0.0, 0.9]), torch.tensor([4.0, 0.0, 0.8])
    k[0, 1, 0], k[0, 1, 1] = torch.tensor([2.0, 2.0, 0.7]), torch.tensor([4.0, 2.0, 0.6])
    out = keypoints_of(Normalize(coords=2)(sample(k)))
    # centre: the mean nose (2, 1); scale: the mean bone length 2
    expected = torch.tensor([[[0.0, -0.5, 0.9], [1.0, -0.5, 0.8]], [[0.0, 0.5, 0.7], [1.0, 0.5, 0.6]]])
    torch.testing.assert_close(out[0, :, :2], expected)
    assert not out[0, :, 2:].any()


def test_normalize_falls_back_to_the_centroid_without_centre_joint():
    k = torch.zeros(1, 1, 17, 2)
    k[0, 0, 1], k[0, 0, 3] = torch.tensor([1.0, 1.0]), torch.tensor([1.0, 5.0])  # left eye and ear, a bone
    out = keypoints_of(Normalize(coords=2)(sample(k)))
    torch.testing.assert_close(out[0, 0, [1, 3]], torch.tensor([[0.0, -0.5], [0.0, 0.5]]))


def test_normalize_3d_by_hand_with_and_without_scale():
    ntu = get_layout("ntu25")
    ss, neck, head = ntu.index("spine_shoulder"), ntu.index("neck"), ntu.index("head")
    k = torch.zeros(2, 2, 25, 3)
    k[0, 0, ss], k[0, 0, neck] = torch.tensor([1.0, 1.0, 3.0]), torch.tensor([1.0, 2.0, 3.0])  # bone 1
    k[0, 1, ss], k[0, 1, neck] = torch.tensor([1.0, 1.0, 5.0]), torch.tensor([1.0, 4.0, 5.0])  # bone 3
    k[1, 0, head] = torch.tensor([7.0, 7.0, 7.0])  # its neck is missing: no bone
    centre, length = torch.tensor([1.0, 1.0, 4.0]), 2.0
    for scale, s in ((True, length), (False, 1.0)):
        out = keypoints_of(Normalize(coords=3, scale=scale)(sample(k, "ntu25")))
        present = k.ne(0).any(-1)
        torch.testing.assert_close(out[present], (k[present] - centre) / s)
        assert not out[~present].any()


def test_normalize_of_an_empty_sample_is_identity():
    data = sample(torch.zeros(1, 3, 17, 3))
    assert torch.equal(Normalize(coords=2)(data).x, data.x)


def test_occlude_joints_rate_within_binomial_interval():
    p, n_samples = 0.3, 200
    transform = OccludeJoints(p, seed=1)
    occluded = []
    for index in range(n_samples):
        out = transform(random_sample(m=2, t=3, layout="ntu25", index=index))
        x = out.x  # [M * V, T, C]
        zero = x.eq(0).all(-1).all(-1)
        assert torch.equal(zero, x.eq(0).any(-1).any(-1))  # whole joint, every frame and channel
        occluded.append(zero)
    rate = torch.cat(occluded).float().mean().item()
    n = n_samples * 50
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_occlude_joints_is_fixed_per_sample_index_whatever_the_order():
    transform = OccludeJoints(0.5, seed=7)
    first = [transform(random_sample(index=i)).x for i in range(10)]
    reverse = [transform(random_sample(index=i)).x for i in reversed(range(10))][::-1]
    assert all(torch.equal(a, b) for a, b in zip(first, reverse))
    masks = {tuple(x.eq(0).all(-1).all(-1).tolist()) for x in first}
    assert len(masks) == 10
    other_seed = OccludeJoints(0.5, seed=8)(random_sample(index=0)).x
    assert not torch.equal(other_seed, first[0])


def test_occlude_joints_leaves_others_untouched_and_edge_cases():
    data = random_sample(index=3)
    out = OccludeJoints(0.5)(data)
    kept = out.x.ne(0).any(-1).any(-1)
    assert torch.equal(out.x[kept], data.x[kept])
    assert torch.equal(OccludeJoints(0.0)(data).x, data.x)
    assert not OccludeJoints(1.0)(data).x.any()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        OccludeJoints(1.5)
    no_index = SkeletonData.from_keypoints(torch.ones(1, 2, 17, 3), "coco17", 0, "lonely")
    with pytest.raises(ValueError, match="lonely.*data.index"):
        OccludeJoints(0.5)(no_index)


def test_occlude_joints_clip_draws_what_it_drew_before_the_protocols():
    data = sample(torch.ones(2, 3, 13, 3), "penn13", index=5)
    out = OccludeJoints(0.3, seed=7)(data)
    assert out.x.eq(0).all(-1).all(-1).nonzero().flatten().tolist() == [4, 5, 6, 7, 17, 20, 23]  # main's draw
    assert not out.x.eq(0).any(-1).any(-1)[[0, 1, 2, 3, 8]].any()


def naive_occlusion(protocol: str, p: float, seed: int, index: int, nodes: int, frames: int, epoch: int = 0,
                    span_length: float = 8) -> np.ndarray:
    """Which (node, frame) the protocol occludes, one element at a time, ``[nodes, frames]`` bool."""
    key = [seed, index, 2] if epoch == 0 else [seed, index, 2, epoch]
    rng = np.random.default_rng(key)
    out = np.zeros((nodes, frames), dtype=bool)
    if protocol in ("clip", "clip_redraw"):
        u = rng.random(nodes)
        for n in range(nodes):
            for t in range(frames):
                out[n, t] = u[n] < p
        return out
    u = rng.random((nodes, frames))
    for n in range(nodes):
        for t in range(frames):
            if protocol == "frame":
                out[n, t] = u[n, t] < p
            elif t == 0:
                out[n, t] = u[n, t] < p
            elif out[n, t - 1]:
                out[n, t] = not u[n, t] < 1 / span_length  # leaves the span with probability 1 / L
            else:
                out[n, t] = u[n, t] < p / (span_length * (1 - p))
    return out


@pytest.mark.parametrize("protocol, epoch", [("clip", 0), ("clip_redraw", 0), ("clip_redraw", 3), ("frame", 0),
                                             ("span", 0)])
def test_occlude_joints_protocols_equal_a_naive_loop(protocol, epoch):
    transform = OccludeJoints(0.4, seed=3, protocol=protocol, span_length=3)
    transform.set_epoch(epoch)
    for index in (0, 11):
        data = random_sample(m=2, t=20, layout="penn13", index=index)
        out = transform(data.clone())
        expected = naive_occlusion(protocol, 0.4, 3, index, 26, 20, epoch, span_length=3)
        assert torch.equal(out.x.eq(0).all(-1), torch.from_numpy(expected))
        assert torch.equal(out.x[torch.from_numpy(~expected)], data.x[torch.from_numpy(~expected)])


def test_span_chain_by_hand():
    # p = 0.3, L = 2: enter a span when u < 0.3 / (2 * 0.7) = 0.214, leave it when u < 1 / 2
    u = np.array([[0.1, 0.5, 0.05, 0.9, 0.2, 0.7], [0.3, 0.21, 0.22, 0.49, 0.5, 0.0]])
    assert span_chain(u, 0.3, 2).tolist() == [[True, True, False, False, True, True],
                                              [False, True, False, False, False, True]]
    # p = 0.9 > L / (L + 1) = 2 / 3: every visible frame enters a span, which lasts 0.9 / 0.1 = 9 frames on average
    assert span_chain(np.array([0.95, 0.5, 0.1, 0.12, 0.99]), 0.9, 2).tolist() == [False, True, False, True, True]
    assert span_chain(np.full((2, 5), 0.999), 1.0, 8).all() and not span_chain(np.zeros((2, 5)), 0.0, 8).any()


def occluded_frames(transform, n_samples: int, t: int, m: int = 2, layout: str = "ntu25") -> torch.Tensor:
    """Which (sample, node, frame) ``transform`` zeroes, ``[n_samples * M * V, T]``."""
    return torch.cat([transform(random_sample(m=m, t=t, layout=layout, index=i)).x.eq(0).all(-1)
                      for i in range(n_samples)])


@pytest.mark.parametrize("p", [0.3, 0.6, 0.95])
def test_frame_and_span_occlude_a_fraction_p(p):
    """Bernoulli frames: std of the rate sqrt(p (1 - p) / n). The span chain's frames are correlated with
    lag-1 correlation r = 1 - a - b; the variance of the mean of n frames of one chain is about
    p (1 - p) (1 + r) / (1 - r) / n (chains are independent). 5 standard deviations."""
    n_samples, t, length = 40, 50, 8
    n = n_samples * 50 * t
    frame = occluded_frames(OccludeJoints(p, seed=2, protocol="frame"), n_samples, t).float().mean().item()
    assert abs(frame - p) < 5 * math.sqrt(p * (1 - p) / n)
    a = min(1.0, p / (length * (1 - p)))
    b = a * (1 - p) / p
    r = 1 - a - b
    span = occluded_frames(OccludeJoints(p, seed=2, protocol="span", span_length=length), n_samples, t)
    assert abs(span.float().mean().item() - p) < 5 * math.sqrt(p * (1 - p) * (1 + r) / (1 - r) / n)


def test_span_lengths_average_span_length():
    """Spans that start and end inside the clip are geometric with mean L = 1 / b: std L sqrt(1 - b) / sqrt(k)
    for k spans (1 + 1/L is the bias of dropping the spans cut by the clip's ends, negligible for T >> L)."""
    length = 6
    occluded = occluded_frames(OccludeJoints(0.3, seed=4, protocol="span", span_length=length), 10, 400).numpy()
    spans = []
    for row in occluded:
        edges = np.flatnonzero(np.diff(row.astype(int)))  # the last frame before each change
        starts, ends = edges[row[edges] == 0] + 1, edges[row[edges] == 1] + 1
        spans += [e - s for s in starts for e in ends[ends > s][:1]]
    k = len(spans)
    assert k > 1000
    assert abs(np.mean(spans) - length) < 5 * length * math.sqrt(1 - 1 / length) / math.sqrt(k)


def test_clip_redraw_redraws_per_epoch_and_only_clip_redraw_does():
    redraw = OccludeJoints(0.5, seed=1, protocol="clip_redraw")
    masks = {}
    for epoch in (0, 1, 2, 1):
        redraw.set_epoch(epoch)
        mask = redraw(random_sample(index=4)).x.eq(0).all(-1).all(-1)
        assert epoch not in masks or torch.equal(masks[epoch], mask)  # the same epoch, the same draw
        masks[epoch] = mask
    assert not torch.equal(masks[1], masks[2]) and not torch.equal(masks[0], masks[1])
    assert torch.equal(masks[0], OccludeJoints(0.5, seed=1)(random_sample(index=4)).x.eq(0).all(-1).all(-1))
    for protocol in ("clip", "frame", "span"):
        fixed = OccludeJoints(0.5, seed=1, protocol=protocol)
        before = fixed(random_sample(index=4)).x
        fixed.set_epoch(5)
        assert fixed.epoch == 0 and torch.equal(fixed(random_sample(index=4)).x, before)


def test_occlude_joints_protocol_edge_cases_and_bad_options():
    data = random_sample(index=2, t=12)
    for protocol in OccludeJoints.PROTOCOLS:
        assert torch.equal(OccludeJoints(0.0, protocol=protocol)(data.clone()).x, data.x)
        assert not OccludeJoints(1.0, protocol=protocol)(data.clone()).x.any()
    with pytest.raises(ValueError, match=r"protocol must be one of \('clip', 'clip_redraw', 'frame', 'span'\), "
                                         r"got 'joint'"):
        OccludeJoints(0.3, protocol="joint")
    with pytest.raises(ValueError, match=r"span_length must be >= 1 \(frames\), got 0.5"):
        OccludeJoints(0.3, protocol="span", span_length=0.5)
    assert repr(OccludeJoints(0.3, seed=2, protocol="span", span_length=4)) == (
        "OccludeJoints(p=0.3, seed=2, protocol='span', span_length=4)")
    assert repr(OccludeJoints(0.3, seed=2)) == "OccludeJoints(p=0.3, seed=2)"


def test_occlude_parts_zeroes_exactly_the_joints_of_the_parts():
    data = random_sample()
    out = keypoints_of(OccludeParts(["left_arm", "head"])(data))
    coco = get_layout("coco17")
    gone = {0, 1, 2, 3, 4, coco.index("left_shoulder"), coco.index("left_elbow"), coco.index("left_wrist")}
    for v in range(17):
        assert (not out[..., v, :].any()) == (v in gone)
    assert torch.equal(out[..., 10, :], keypoints_of(data)[..., 10, :])
    assert torch.equal(keypoints_of(OccludeParts([1, 0])(data)), out)


def test_occlude_parts_of_two_persons_and_bad_parts():
    data = random_sample(m=2, layout="ntu25")
    out = keypoints_of(OccludeParts(["right_leg"])(data))
    right_leg = get_layout("ntu25").part_joints(4)
    assert right_leg == [16, 17, 18, 19]
    assert not out[..., right_leg, :].any()
    others = [v for v in range(25) if v not in right_leg]
    assert torch.equal(out[..., others, :], keypoints_of(data)[..., others, :])
    with pytest.raises(ValueError, match="unknown body part 'tail'"):
        OccludeParts(["tail"])
    with pytest.raises(ValueError, match="outside"):
        OccludeParts([5])


def test_compose_the_paper_pipeline():
    transform = Compose([KeepPersons(2), FixLength(16), Normalize(coords=2), OccludeJoints(0.3, seed=0)])
    data = random_sample(m=3, t=10, index=4)
    out = transform(data)
    assert out.x.shape == (2 * 17, 16, 3) and out.num_persons == 2
    assert out.index.item() == 4 and out.y.item() == 1 and out.sample_id == "s4"
    assert out.edge_index.max().item() == 2 * 17 - 1
    assert torch.equal(transform(data).x, out.x)
    assert "FixLength(16, mode='pad')" in repr(transform)
