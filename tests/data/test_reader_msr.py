"""MSR Action3D reader: files written here in the real format, joint order and values checked by hand."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.msr_action3d import (
    CLASS_NAMES,
    MSR_JOINTS,
    MSR_TO_KINECT20,
    read_msr_action3d,
    read_sample,
)
from pygkd.skeleton import get_layout
from tests.conftest import shared_data

# body_model.mat of the R3DG release (1-based MSR joint numbers), as printed in shared/data/msr_action3d/README.txt
MSR_BONES = [(7, 4), (4, 3), (3, 20), (3, 1), (3, 2), (1, 8), (2, 9), (8, 10), (9, 11), (10, 12), (11, 13), (7, 5),
             (7, 6), (5, 14), (6, 15), (14, 16), (15, 17), (16, 18), (17, 19)]


def msr_value(frame: int, joint: int) -> list[float]:
    """A distinct, exactly printable (x, y, z, confidence) for MSR joint ``joint`` (0-based) of ``frame``."""
    return [frame + 0.25, joint * 0.5, 2.0 + joint / 8, 1.0]


def write_file(folder: Path, name: str, frames: int, zero_frames: tuple[int, ...] = ()) -> Path:
    rows = []
    for t in range(frames):
        for j in range(20):
            rows.append([0.0, 0.0, 0.0, 0.0] if t in zero_frames else msr_value(t, j))
    path = folder / f"{name}_skeleton3D.txt"
    path.write_text("".join(f"{x:f} {y:f} {z:f} {c:f}\n" for x, y, z, c in rows))
    return path


def test_permutation_into_kinect20_order():
    assert MSR_TO_KINECT20 == (6, 3, 2, 19, 0, 7, 9, 11, 1, 8, 10, 12, 4, 13, 15, 17, 5, 14, 16, 18)
    layout = get_layout("kinect20")
    assert [MSR_JOINTS[i] for i in MSR_TO_KINECT20] == list(layout.joints)
    # MSR's own bones, renumbered, are exactly the kinect20 bones
    to_kinect = {msr: k for k, msr in enumerate(MSR_TO_KINECT20)}
    renumbered = {frozenset((to_kinect[a - 1], to_kinect[b - 1])) for a, b in MSR_BONES}
    assert renumbered == {frozenset(bone) for bone in layout.bones}


def test_values_land_on_the_right_joints(tmp_path):
    sample = read_sample(write_file(tmp_path, "a05_s03_e02", frames=3))
    hq = sample.streams["hq"]
    assert hq.shape == (1, 3, 20, 3) and hq.dtype == np.float32
    # kinect20 joint 0 (hip_center) is MSR joint 7 (1-based): line 20 * t + 7
    np.testing.assert_array_equal(hq[0, 2, 0], msr_value(2, 6)[:3])
    np.testing.assert_array_equal(hq[0, 1, 3], msr_value(1, 19)[:3])  # head = MSR joint 20
    np.testing.assert_array_equal(hq[0, 0, 8], msr_value(0, 1)[:3])  # right_shoulder = MSR joint 2
    assert sample.sample_id == "a05_s03_e02" and sample.label == 4 and CLASS_NAMES[4] == "forward punch"
    assert sample.splits == ("xsub_train",) and sample.meta == {"subject": 3, "trial": 2, "dropped_frames": 0}


def test_untracked_frames_are_dropped_and_empty_files_skipped(tmp_path):
    write_file(tmp_path, "a01_s02_e01", frames=5, zero_frames=(0, 3))
    write_file(tmp_path, "a13_s09_e02", frames=4, zero_frames=(0, 1, 2, 3))
    ds = read_msr_action3d(tmp_path, subset="all")
    samples = list(ds.samples())
    assert [s.sample_id for s in samples] == ["a01_s02_e01"] and ds.skipped == {"no_skeleton": 1}
    hq = samples[0].streams["hq"]
    assert hq.shape[1] == 3 and samples[0].meta["dropped_frames"] == 2
    np.testing.assert_array_equal(hq[0, :, 0, 0], [1.25, 2.25, 4.25])  # frames 1, 2, 4 remain
    assert samples[0].splits == ("xsub_test",)


def test_cvpr12_subset_reads_the_listed_files(tmp_path):
    folder = tmp_path / "data" / "MSRAction3D" / "real_world_coordinates"
    folder.mkdir(parents=True)
    for name in ("a01_s01_e01", "a01_s01_e02", "a20_s10_e03"):
        write_file(folder, name, frames=2)
    (folder / "files_used_in_cvpr12_paper.txt").write_text("a01_s01_e01\r\na20_s10_e03")  # no final newline
    ds = read_msr_action3d(tmp_path)
    assert ds.num_samples == 2 and [s.sample_id for s in ds.samples()] == ["a01_s01_e01", "a20_s10_e03"]
    assert len(ds.class_names) == 20 and ds.streams["hq"].layout == "kinect20"


def test_cvpr12_list_problems(tmp_path):
    write_file(tmp_path, "a01_s01_e01", frames=2)
    with pytest.raises(DataFormatError, match=r"files_used_in_cvpr12_paper\.txt: missing.*subset='all'"):
        read_msr_action3d(tmp_path)
    (tmp_path / "files_used_in_cvpr12_paper.txt").write_text("a01_s01_e01\na02_s01_e01\n")
    with pytest.raises(DataFormatError, match=r"cvpr12_paper\.txt: line 2: a02_s01_e01_skeleton3D\.txt is not in"):
        read_msr_action3d(tmp_path)
    with pytest.raises(ValueError, match="unknown MSR Action3D subset 'as1'"):
        read_msr_action3d(tmp_path, subset="as1")


def test_no_skeleton_files_under_root(tmp_path):
    with pytest.raises(DataFormatError, match=r"no \*_skeleton3D\.txt files"):
        read_msr_action3d(tmp_path, subset="all")


@pytest.mark.parametrize(
    "content, message",
    [
        ("", r"a01_s01_e01_skeleton3D\.txt: empty file"),
        ("0.1 0.2 0.3 1\n" * 19 + "0.1 0.2 0.3\n", r"line 20: expected 4 values, found 3"),
        ("0.1 0.2 0.3 1\n" * 5 + "0.1 abc 0.3 1\n", r"line 6, column 2: 'abc' is not a number"),
        ("0.1 0.2 0.3 1\n" * 7 + "0.1 nan 0.3 1\n", r"line 8, column 2: non-finite value 'nan'"),
        ("0.1 0.2 0.3 1\n" * 30, r"30 lines, expected a multiple of 20"),
    ],
    ids=["empty", "columns", "text", "nan", "truncated"],
)
def test_malformed_files_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "a01_s01_e01_skeleton3D.txt"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=message):
        read_sample(path)


def test_bad_file_names(tmp_path):
    with pytest.raises(DataFormatError, match=r"file name is not aAA_sSS_eEE"):
        read_sample(write_file(tmp_path, "walk_01", frames=1))
    with pytest.raises(DataFormatError, match=r"action 21 outside 1\.\.20"):
        read_sample(write_file(tmp_path, "a21_s01_e01", frames=1))


# --- the real data ---------------------------------------------------------------------------------------
def test_real_cvpr12_subset():
    ds = read_msr_action3d(shared_data("msr_action3d"))
    samples = list(ds.samples())
    assert ds.num_samples == len(samples) == 557 and ds.skipped == {"no_skeleton": 0}
    splits = [s.splits[0] for s in samples]
    assert splits.count("xsub_train") == 284 and splits.count("xsub_test") == 273
    assert sorted({s.label for s in samples}) == list(range(20))
    by_id = {s.sample_id: s for s in samples}
    # a01_s01_e01_skeleton3D.txt line 20 (head) and line 7 (hip centre), frame 0
    first_frame = by_id["a01_s01_e01"].streams["hq"][0, 0]
    np.testing.assert_allclose(first_frame[3], [-0.182593, 0.659618, 2.547210], rtol=1e-6)
    np.testing.assert_allclose(first_frame[0], [-0.189501, 0.002549, 2.759828], rtol=1e-6)
    assert by_id["a13_s02_e02"].meta["dropped_frames"] == 12 and by_id["a13_s02_e02"].streams["hq"].shape[1] == 18


def test_real_all_subset_skips_the_empty_file():
    ds = read_msr_action3d(shared_data("msr_action3d"), subset="all")
    ids = [s.sample_id for s in ds.samples()]
    assert ds.num_samples == 567 and len(ids) == 566 and ds.skipped == {"no_skeleton": 1}
    assert "a13_s09_e02" not in ids


def test_real_one_arm_actions_move_the_right_arm():
    """Li et al. asked subjects to use the right arm: in 'high arm wave' the joints named right move most."""
    folder = shared_data("msr_action3d") / "data" / "MSRAction3D" / "real_world_coordinates"
    layout = get_layout("kinect20")
    travel = np.zeros(20)
    for path in sorted(folder.glob("a01_*_skeleton3D.txt")):
        hq = read_sample(path).streams["hq"][0]
        travel += np.abs(np.diff(hq - hq[:, :1], axis=0)).sum(axis=(0, 2))  # relative to hip centre
    assert travel[layout.index("right_hand")] > 3 * travel[layout.index("left_hand")]
    assert travel[layout.index("right_wrist")] > 3 * travel[layout.index("left_wrist")]
