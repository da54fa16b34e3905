"""The built-in synthetic dataset: shapes, splits, determinism, and classes that move their defining parts."""
from __future__ import annotations

import numpy as np
import pytest

from pygkd.data.lq_synthesis import KINECT_V2_COLOR
from pygkd.data.raw import check_keypoints
from pygkd.data.readers.synthetic import ACTIONS, read_synthetic
from pygkd.skeleton import PARTS, get_layout

NTU, COCO = get_layout("ntu25"), get_layout("coco17")


@pytest.fixture(scope="module")
def small():
    dataset = read_synthetic(train_per_class=6, test_per_class=1, frames=48, seed=0)
    return dataset, list(dataset.samples())


def test_streams_splits_and_labels(small):
    dataset, samples = small
    assert dataset.class_names == [a.name for a in ACTIONS] and len(ACTIONS) == 11
    assert dataset.streams["hq"].layout == "ntu25" and dataset.streams["hq"].channels == ("x", "y", "z")
    assert dataset.streams["lq"].layout == "coco17" and dataset.streams["lq"].channels == ("x", "y", "score")
    assert dataset.num_samples == len(samples) == 11 * 7
    assert [s.splits for s in samples].count(("train",)) == 66 and samples[-1].splits == ("test",)
    assert [s.label for s in samples[:22]] == list(range(11)) * 2
    assert len({s.sample_id for s in samples}) == len(samples)
    assert dataset.notes["defining_parts"]["stand"] == [] and dataset.notes["defining_parts"]["nod"] == ["head"]
    assert sorted(p for a in ACTIONS for p in a.parts) == sorted(PARTS * 2)  # two classes per part
    for s in samples[:8]:
        check_keypoints(s.streams["hq"], 25, 3, s.sample_id)
        check_keypoints(s.streams["lq"], 17, 3, s.sample_id)
        assert s.streams["hq"].shape[:2] == s.streams["lq"].shape[:2] == (1, 48)


def test_deterministic_for_a_seed(small):
    _, samples = small
    again = list(read_synthetic(train_per_class=6, test_per_class=1, frames=48, seed=0).samples())
    assert all(np.array_equal(a.streams[k], b.streams[k]) for a, b in zip(samples, again) for k in ("hq", "lq"))
    assert [a.meta for a in samples] == [b.meta for b in again]
    other = next(read_synthetic(train_per_class=6, test_per_class=1, frames=48, seed=1).samples())
    assert not np.allclose(other.streams["hq"], samples[0].streams["hq"])


def test_person_stands_in_front_of_the_camera_with_rigid_bones(small):
    _, samples = small
    for s in samples[:8]:
        hq = s.streams["hq"][0]
        assert 2.3 < hq[..., 2].mean() < 4.1
        lower_foot = hq[:, [NTU.index("left_foot"), NTU.index("right_foot")], 1].min(1)
        assert np.all(hq[:, NTU.index("head"), 1] - lower_foot > 1.3)
        for a, b in [("left_shoulder", "left_elbow"), ("right_knee", "right_ankle"), ("neck", "head")]:
            bone = np.linalg.norm(hq[:, NTU.index(a)] - hq[:, NTU.index(b)], axis=-1)
            assert bone.std() < 0.01  # 4 mm sensor noise only
        lq = s.streams["lq"][0]
        seen = lq[..., 2] > 0
        inside = (lq[..., 0] > 0) & (lq[..., 0] < 1920) & (lq[..., 1] > 0) & (lq[..., 1] < 1080)
        assert inside[seen].mean() > 0.97  # a flicker may throw a joint out of the image


def part_energy(hq: np.ndarray) -> np.ndarray:
    """Per part, the largest motion energy (sum of variances over frames) of its joints relative to the
    pelvis: ``[1, T, 25, 3]`` -> ``[5]``."""
    relative = hq[0] - hq[0, :, [NTU.index("spine_base")]].swapaxes(0, 1)
    energy = relative.var(0).sum(-1)
    return np.array([energy[NTU.part_joints(p)].max() for p in range(len(PARTS))])


def test_each_class_moves_its_defining_part_only(small):
    _, samples = small
    energy = np.zeros((len(ACTIONS), len(PARTS)))
    for s in samples:
        energy[s.label] += part_energy(s.streams["hq"])
    defining = {}
    for c, action in enumerate(ACTIONS[1:], start=1):
        (part,) = (PARTS.index(p) for p in action.parts)
        others = [p for p in range(len(PARTS)) if p != part]
        assert energy[c, part] > 2.5 * energy[c, others].max(), (action.name, energy[c])
        defining[c] = energy[c, part]
    assert ACTIONS[0].name == "stand" and not ACTIONS[0].parts
    assert energy[0].max() < 0.25 * min(defining.values())  # nuisance only


def test_lq_is_the_projected_hq_at_severity_none():
    sample = next(read_synthetic(train_per_class=1, test_per_class=0, frames=8, severity="none").samples())
    hq, lq = sample.streams["hq"][0], sample.streams["lq"][0]
    for joint in ("left_wrist", "right_knee"):
        np.testing.assert_allclose(lq[:, COCO.index(joint), :2], KINECT_V2_COLOR.project(hq[:, NTU.index(joint)]),
                                   rtol=1e-6)
    assert np.all(lq[..., 2] == 1.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown severity"):
        read_synthetic(severity="awful")
    with pytest.raises(ValueError, match="frames >= 2"):
        read_synthetic(frames=1)
