"""Layouts: built-in definitions, derived quantities, user layout files and bad definitions."""
import json

import pytest
import torch

from pygkd.skeleton import PARTS, LayoutError, get_layout, layout_from_dict, layout_names, load_layout_file

BUILTIN = ["coco17", "kinect20", "ntu25", "penn13", "uiprmd_kinect22", "uiprmd_vicon39", "openpose18", "body25",
           "halpe26", "mediapipe33"]


def test_builtin_layouts_registered_with_their_joint_counts():
    counts = {n: get_layout(n).num_joints for n in BUILTIN}
    assert counts == {"coco17": 17, "kinect20": 20, "ntu25": 25, "penn13": 13, "uiprmd_kinect22": 22,
                      "uiprmd_vicon39": 39, "openpose18": 18, "body25": 25, "halpe26": 26, "mediapipe33": 33}
    assert set(BUILTIN) <= set(layout_names())


@pytest.mark.parametrize("name", BUILTIN)
def test_parts_and_mirror_are_consistent_with_joint_names(name):
    layout = get_layout(name)
    for j, joint in enumerate(layout.joints):
        part = PARTS[layout.part[j]]
        if joint.startswith("left_") and ("arm" in part or "leg" in part):
            assert part.startswith("left_"), (joint, part)
        if joint.startswith("right_") and ("arm" in part or "leg" in part):
            assert part.startswith("right_"), (joint, part)
    perm = layout.mirror_permutation()
    assert sorted(perm) == list(range(layout.num_joints))
    for left, right in layout.mirror:  # mirrored joints sit in mirrored parts
        lp, rp = PARTS[layout.part[left]], PARTS[layout.part[right]]
        assert lp.replace("left_", "right_") == rp or lp == rp == "head"


def test_ntu25_by_hand():
    ntu = get_layout("ntu25")
    assert ntu.joints[ntu.center] == "spine_shoulder"
    assert ntu.part_joints(PARTS.index("head")) == [0, 1, 2, 3, 20]
    assert ntu.part_joints(PARTS.index("left_arm")) == [4, 5, 6, 7, 21, 22]
    assert ntu.part_joints(PARTS.index("right_leg")) == [16, 17, 18, 19]
    # hop distance: head(3) -> neck(2) -> spine_shoulder(20) -> left_shoulder(4) -> left_elbow(5)
    assert ntu.hop_distance()[3, 5].item() == 4
    e = ntu.edge_index()
    assert e.shape == (2, 48)
    assert {(int(a), int(b)) for a, b in e.t()} >= {(3, 2), (2, 3), (21, 7), (7, 21)}


def test_coco17_parts_by_hand():
    coco = get_layout("coco17")
    assert coco.part_index().tolist() == [0, 0, 0, 0, 0, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4]
    assert coco.mirror_permutation()[:7] == [0, 2, 1, 4, 3, 6, 5]


def test_layout_file_roundtrip_json_and_yaml(tmp_path):
    spec = get_layout("penn13").to_dict() | {"name": "my_penn"}
    path = tmp_path / "my_penn.json"
    path.write_text(json.dumps(spec))
    mine = load_layout_file(path)
    assert mine.joints == get_layout("penn13").joints and mine.part == get_layout("penn13").part
    yml = tmp_path / "tri.yaml"
    yml.write_text(
        "name: tri\njoints: [h, la, ra, ll, rl]\nbones: [[h, la], [h, ra], [h, ll], [h, rl]]\ncenter: h\n"
        "part: [head, left_arm, right_arm, left_leg, right_leg]\nmirror: [[la, ra], [ll, rl]]\n"
    )
    tri = get_layout(str(yml))  # registered on first use by path
    assert tri.num_joints == 5 and get_layout("tri") is tri
    assert torch.equal(tri.part_index(), torch.arange(5))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"part": ["head"] * 13}, "have no joint"),
        ({"bones": [[0, 1]]}, "do not connect"),
        ({"center": 40}, "centre joint 40"),
        ({"bones": [["head", "nope"]]}, "unknown joint 'nope'"),
        ({"part": ["head", "wing"] + ["left_arm"] * 11}, "unknown part 'wing'"),
    ],
)
def test_bad_layout_definitions_are_named(change, message):
    spec = get_layout("penn13").to_dict() | {"name": "bad"} | change
    with pytest.raises(LayoutError, match=message):
        layout_from_dict(spec, source="bad.json")


def test_bad_layout_file_reports_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",\n "joints": [\n')
    with pytest.raises(LayoutError, match=r"broken.json: line 3"):
        load_layout_file(path)


def test_unknown_layout_lists_registered():
    with pytest.raises(LayoutError, match="registered"):
        get_layout("ntu26")


def test_the_documented_layout_file_loads(tmp_path):
    """The YAML example of docs/extending.md ("Custom skeleton layout") is a valid layout."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "extending.md").read_text()
    example = doc.split("# my_layout.yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "my_layout.yaml"
    path.write_text(example)
    layout = load_layout_file(path)
    assert layout.name == "my5" and layout.num_joints == 5 and layout.mirror_permutation() == [0, 2, 1, 4, 3]
