"""MapLayout: the graph of the target layout, x equal to the numpy mapping, errors, and use from a config."""
import numpy as np
import pytest
import torch

from pygkd.data.skeleton_data import SkeletonData, nodes_from_keypoints, person_edge_index
from pygkd.data.transforms import MapLayout
from pygkd.engine.build import build_transform
from pygkd.engine.config import ConfigError
from pygkd.skeleton import LayoutError, get_layout, joint_mapping, map_keypoints


def body25_sample() -> SkeletonData:
    rng = np.random.default_rng(0)
    k = np.concatenate([rng.uniform(10, 500, (2, 4, 25, 2)), rng.uniform(0.2, 1.0, (2, 4, 25, 1))], -1)
    k[1, 3, 5] = 0.0  # a missing left shoulder
    data = SkeletonData.from_keypoints(torch.from_numpy(k.astype(np.float32)), "body25", 3, "clip7")
    data.index = torch.tensor([7])
    return data


def test_graph_of_the_target_with_x_of_the_numpy_mapping():
    data = body25_sample()
    expected = map_keypoints(data.dense()[0].numpy(), joint_mapping("body25", "openpose18"), score=True)
    out = MapLayout("openpose18")(data.clone())
    op18 = get_layout("openpose18")
    assert out.layout == "openpose18" and out.num_persons == 2
    assert torch.equal(out.x, nodes_from_keypoints(expected))
    assert torch.equal(out.part, op18.part_index().repeat(2))
    assert torch.equal(out.edge_index, person_edge_index(op18, 2))
    assert (int(out.y), out.sample_id, int(out.index)) == (3, "clip7", 7)
    assert not out.dense()[0, 1, 3, op18.index("left_shoulder")].any()


def test_same_layout_is_returned_unchanged_and_an_impossible_pair_names_the_joints():
    data = body25_sample()
    assert MapLayout("body25")(data).x is data.x  # BaseTransform copies the Data object, not its tensors
    with pytest.raises(LayoutError, match=r"halpe26's joints \['head'\] cannot be made from body25's"):
        MapLayout("halpe26")(data)


def test_from_a_config_entry():
    transform = build_transform([{"name": "MapLayout", "target": "coco17"}], seed=0)
    assert transform(body25_sample()).layout == "coco17"
    with pytest.raises(ConfigError, match=r"transform #0 MapLayout: unknown layout 'coco18'"):
        build_transform([{"name": "MapLayout", "target": "coco18"}], seed=0)
