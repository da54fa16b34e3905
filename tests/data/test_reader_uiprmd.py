"""UI-PRMD reader: rotations and Kinect forward kinematics against hand computations; pairing, units, axes."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.ui_prmd import (
    CLASS_NAMES,
    KINECT_PARENTS,
    euler_rotation,
    kinect_forward_kinematics,
    read_kinect,
    read_ui_prmd,
    read_vicon,
)
from pygkd.skeleton import get_layout
from tests.conftest import shared_data


def rx(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def ry(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rz(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def path_to_root(joint: int) -> list[int]:
    """[0, ..., joint] along the parents."""
    path = [joint]
    while KINECT_PARENTS[path[-1]] >= 0:
        path.append(KINECT_PARENTS[path[-1]])
    return path[::-1]


# --- rotations and forward kinematics -------------------------------------------------------------------
def test_euler_rotation_is_rz_ry_rx_of_the_columns_in_reverse():
    angles = np.array([[30.0, -45.0, 60.0], [0.0, 0.0, 90.0]])
    rot = euler_rotation(angles)
    np.testing.assert_allclose(rot[0], rz(60) @ ry(-45) @ rx(30), atol=1e-12)
    np.testing.assert_allclose(rot[1] @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)  # 90 degrees about z: x -> y


def test_forward_kinematics_of_a_hand_made_frame():
    """Waist turned 90 degrees about z, spine bent 90 degrees about x, everything else straight."""
    offsets = np.zeros((1, 22, 3))
    offsets[0, 0] = [1.0, 2.0, 3.0]  # waist, absolute
    offsets[0, 1] = [0.0, 10.0, 0.0]  # spine: 10 up from the waist
    offsets[0, 2] = [0.0, 5.0, 0.0]  # chest: 5 up from the spine
    offsets[0, 6] = [2.0, 0.0, 0.0]  # left collar: 2 along x from the chest
    offsets[0, 14] = [3.0, -1.0, 0.0]  # left upper leg
    angles = np.zeros((1, 22, 3))
    angles[0, 0] = [0.0, 0.0, 90.0]  # waist: Rz(90) maps x -> y, y -> -x
    angles[0, 1] = [90.0, 0.0, 0.0]  # spine: Rx(90) maps y -> z
    p = kinect_forward_kinematics(offsets, angles)[0]
    # spine: waist + Rz(90) (0, 10, 0) = (1, 2, 3) + (-10, 0, 0)
    np.testing.assert_allclose(p[1], [-9.0, 2.0, 3.0], atol=1e-12)
    # chest: spine + Rz(90) Rx(90) (0, 5, 0) = spine + Rz(90) (0, 0, 5)
    np.testing.assert_allclose(p[2], [-9.0, 2.0, 8.0], atol=1e-12)
    # left collar hangs on the chest's accumulated rotation G[2] = Rz(90) Rx(90): (2, 0, 0) -> (0, 2, 0)
    np.testing.assert_allclose(p[6], [-9.0, 4.0, 8.0], atol=1e-12)
    # left upper leg hangs on the waist: (1, 2, 3) + Rz(90) (3, -1, 0) = (1, 2, 3) + (1, 3, 0)
    np.testing.assert_allclose(p[14], [2.0, 5.0, 3.0], atol=1e-12)


def test_forward_kinematics_equals_the_sum_along_each_path():
    """p[j] = waist + sum over the path 0 -> j of (product of the ancestors' rotations) . offset."""
    rng = np.random.default_rng(0)
    offsets = rng.normal(size=(2, 22, 3)) * 10
    angles = rng.uniform(-180, 180, size=(2, 22, 3))
    positions = kinect_forward_kinematics(offsets, angles)
    for t in range(2):
        for joint in (5, 9, 13, 17, 21):
            path = path_to_root(joint)
            expected, rotation = offsets[t, 0].copy(), np.eye(3)
            for ancestor, child in zip(path[:-1], path[1:]):
                g, b, a = angles[t, ancestor]
                rotation = rotation @ rz(a) @ ry(b) @ rx(g)
                expected += rotation @ offsets[t, child]
            np.testing.assert_allclose(positions[t, joint], expected, atol=1e-9)


def test_turning_the_waist_turns_the_whole_skeleton_rigidly():
    rng = np.random.default_rng(1)
    offsets = rng.normal(size=(1, 22, 3))
    angles = np.zeros((1, 22, 3))
    straight = kinect_forward_kinematics(offsets, angles)[0]
    angles[0, 0] = [20.0, -30.0, 45.0]
    turned = kinect_forward_kinematics(offsets, angles)[0]
    rotation = euler_rotation(angles[0, 0])
    np.testing.assert_allclose(turned - turned[0], (straight - straight[0]) @ rotation.T, atol=1e-12)


def test_parents_are_the_layout_bones():
    layout = get_layout("uiprmd_kinect22")
    bones = {frozenset((c, p)) for c, p in enumerate(KINECT_PARENTS) if p >= 0}
    assert bones == {frozenset(b) for b in layout.bones}


# --- the reader on files written here ----------------------------------------------------------------------
def write_csv(path: Path, rows: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(",".join(f"{v:f}" for v in row) + "\n" for row in rows).encode()))


def write_repetition(root: Path, name: str, kinect_frames: int, vicon_frames: int | None) -> None:
    offsets = np.zeros((kinect_frames, 22, 3))
    offsets[:, 0] = [10.0, 90.0, -250.0]  # waist (cm)
    offsets[:, 1:, 1] = 5.0  # every joint 5 cm above its parent
    write_csv(root / "Kinect" / "Positions" / f"{name}_positions.txt.gz", offsets.reshape(kinect_frames, 66))
    write_csv(root / "Kinect" / "Angles" / f"{name}_angles.txt.gz", np.zeros((kinect_frames, 66)))
    if vicon_frames is not None:
        markers = np.tile(np.arange(39.0)[:, None] * [1.0, 10.0, 100.0], (vicon_frames, 1, 1))  # mm
        write_csv(root / "Vicon" / "Positions" / f"{name}_positions.txt.gz", markers.reshape(vicon_frames, 117))


@pytest.fixture()
def small_prmd(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "Segmented Movements"
    write_repetition(root, "m07_s01_e01", kinect_frames=3, vicon_frames=10)
    write_repetition(root, "m03_s03_e02", kinect_frames=2, vicon_frames=None)
    write_repetition(root, "m10_s08_e10", kinect_frames=4, vicon_frames=13)
    return tmp_path


def test_pairs_solitary_samples_splits_and_labels(small_prmd):
    ds = read_ui_prmd(small_prmd)
    samples = {s.sample_id: s for s in ds.samples()}
    assert ds.num_samples == 3 and list(samples) == ["m03_s03_e02", "m07_s01_e01", "m10_s08_e10"]
    assert ds.notes["pairs"] == 2 and ds.notes["lq_only"] == ["m03_s03_e02"] and ds.notes["hq_only"] == []
    solitary, paired = samples["m03_s03_e02"], samples["m10_s08_e10"]
    assert list(solitary.streams) == ["lq"] and set(paired.streams) == {"hq", "lq"}
    assert paired.streams["hq"].shape == (1, 13, 39, 3) and paired.streams["lq"].shape == (1, 4, 22, 3)
    assert paired.label == 9 and CLASS_NAMES[9] == "standing shoulder scaption"
    assert paired.splits == ("xsub_test",) and samples["m07_s01_e01"].splits == ("xsub_train",)
    assert paired.meta == {"subject": 8, "repetition": 10}
    assert ds.streams["hq"].layout == "uiprmd_vicon39" and ds.streams["lq"].layout == "uiprmd_kinect22"


def test_units_and_vertical_axis(small_prmd):
    sample = next(s for s in read_ui_prmd(small_prmd).samples() if s.sample_id == "m07_s01_e01")
    # Vicon marker 3 at (3, 30, 300) mm, z up -> (0.003, 0.3, -0.03) m, y up
    np.testing.assert_allclose(sample.streams["hq"][0, 5, 3], [0.003, 0.3, -0.03], rtol=1e-6)
    # Kinect waist (10, 90, -250) cm; head tip 5 joints up the straight spine, 5 cm each
    lq = sample.streams["lq"][0, 1]
    np.testing.assert_allclose(lq[0], [0.1, 0.9, -2.5], rtol=1e-6)
    np.testing.assert_allclose(lq[5], [0.1, 1.15, -2.5], rtol=1e-6)


def test_mismatched_and_missing_kinect_files(small_prmd):
    root = small_prmd / "data" / "Segmented Movements"
    write_csv(root / "Kinect" / "Angles" / "m07_s01_e01_angles.txt.gz", np.zeros((5, 66)))
    with pytest.raises(DataFormatError, match=r"m07_s01_e01_positions\.txt\.gz: 3 frames, but m07_s01_e01_angles"):
        list(read_ui_prmd(small_prmd).samples())
    (root / "Kinect" / "Angles" / "m07_s01_e01_angles.txt.gz").unlink()
    with pytest.raises(DataFormatError, match=r"Kinect: m07_s01_e01 has positions or angles but not both"):
        read_ui_prmd(small_prmd)


def test_malformed_vicon_file_names_file_and_line(tmp_path):
    rows = np.zeros((4, 117))
    path = tmp_path / "m01_s01_e01_positions.txt.gz"
    write_csv(path, rows)
    text = gzip.decompress(path.read_bytes()).decode().splitlines()
    text[2] = text[2].rsplit(",", 1)[0]  # line 3 loses its last value
    path.write_bytes(gzip.compress(("\n".join(text) + "\n").encode()))
    with pytest.raises(DataFormatError, match=r"e01_positions\.txt\.gz: line 3: expected 117 values, found 116"):
        read_vicon(path)


def test_bad_names_and_missing_folders(tmp_path):
    with pytest.raises(DataFormatError, match=r"no Kinect/ or Vicon/ folder"):
        read_ui_prmd(tmp_path)
    write_csv(tmp_path / "Vicon" / "Positions" / "m11_s01_e01_positions.txt.gz", np.zeros((2, 117)))
    with pytest.raises(DataFormatError, match=r"m11_s01_e01_positions\.txt\.gz: expected a name mXX_sYY_eZZ"):
        read_ui_prmd(tmp_path)


# --- the real data ---------------------------------------------------------------------------------------
@pytest.fixture()
def prmd_files() -> Path:
    return shared_data("ui_prmd") / "data" / "Segmented Movements"


def test_real_counts(prmd_files):
    ds = read_ui_prmd(shared_data("ui_prmd"))
    assert ds.num_samples == 1000 and ds.notes["pairs"] == 990 and ds.notes["hq_only"] == []
    assert ds.notes["lq_only"] == [f"m03_s03_e{e:02d}" for e in range(1, 11)]


def test_real_first_frames(prmd_files):
    hq = read_vicon(prmd_files / "Vicon" / "Positions" / "m01_s01_e01_positions.txt.gz")
    # marker 0 (LFHD) at (-138.008, 89.4526, 1529.73) mm, z up
    np.testing.assert_allclose(hq[0, 0, 0], [-0.138008, 1.52973, -0.0894526], rtol=1e-6)
    lq = read_kinect(
        prmd_files / "Kinect" / "Positions" / "m01_s01_e01_positions.txt.gz",
        prmd_files / "Kinect" / "Angles" / "m01_s01_e01_angles.txt.gz",
    )
    np.testing.assert_allclose(lq[0, 0, 0], [-0.035028, 0.8559755, -2.3588153], rtol=1e-6)  # waist (cm)
    assert 1.3 < lq[0, 0, 5, 1] - lq[0, 0, [16, 20], 1].min() < 1.8  # head tip above the feet, metres


@pytest.mark.parametrize("subject, left_arm", [(1, False), (7, True), (10, True)])
def test_real_vicon_left_markers_move_with_the_kinect_left_arm(prmd_files, subject, left_arm):
    """Standing shoulder abduction: the arm that rises is the same side in both systems (s07, s10 use the left)."""
    name = f"m07_s{subject:02d}_e01"
    hq = read_vicon(prmd_files / "Vicon" / "Positions" / f"{name}_positions.txt.gz")[0]
    lq = read_kinect(
        prmd_files / "Kinect" / "Positions" / f"{name}_positions.txt.gz",
        prmd_files / "Kinect" / "Angles" / f"{name}_angles.txt.gz",
    )[0]
    vicon, kinect = get_layout("uiprmd_vicon39"), get_layout("uiprmd_kinect22")

    def rise(x: np.ndarray, joint: int) -> float:
        return float(x[:, joint, 1].max() - x[0, joint, 1])

    vicon_left = rise(hq, vicon.index("left_wrist_a")) > rise(hq, vicon.index("right_wrist_a"))
    kinect_left = rise(lq, kinect.index("left_hand")) > rise(lq, kinect.index("right_hand"))
    assert vicon_left == kinect_left == left_arm
