"""NTU RGB+D reader: small .skeleton files written here in the real format, values checked by hand."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.ntu import (
    SampleName,
    class_names,
    motion_energy,
    pack_persons,
    read_ntu,
    read_sample_list,
    read_skeleton_file,
)

BODY_LINE = "{} 0 1 1 1 1 0 0.1 -0.2 2"
JOINT_TAIL = "256.1 211.9 1000.5 540.2 0.1 0.2 0.3 0.9 2"  # depthXY colorXY orientationWXYZ trackingState


def joints_of(body: int, frame: int) -> np.ndarray:
    """A distinct, exactly representable [25, 3] pose for body ``body`` in frame ``frame``."""
    v = np.arange(25, dtype=np.float32)[:, None]
    return v * 0.125 + np.array([body * 4.0, frame * 0.5 * body, -1.0], dtype=np.float32)


def skeleton_text(frames: list[list[tuple[str, np.ndarray]]]) -> str:
    """The .skeleton text of ``frames``: per frame a list of (bodyID, [25, 3] joints)."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, xyz in bodies:
            lines += [BODY_LINE.format(body_id), "25"]
            lines += [f"{x} {y} {z} {JOINT_TAIL}" for x, y, z in xyz]
    return "\n".join(lines) + "\n"


def write(root: Path, name: str, frames: list[list[tuple[str, np.ndarray]]]) -> Path:
    path = root / f"{name}.skeleton"
    path.write_text(skeleton_text(frames))
    return path


def one_body(num_frames: int, body: int = 1) -> list[list[tuple[str, np.ndarray]]]:
    return [[(f"7205759403792{body}", joints_of(body, t))] for t in range(num_frames)]


def test_joint_values_and_person_order_match_the_lines_written(tmp_path):
    # body 1 is still, body 2 moves (its y grows with the frame): body 2 is person 0.
    frames = [[("111", joints_of(1, 0)), ("222", joints_of(2, t))] for t in range(6)]
    marked = np.array([1.5, -2.25, 3.0], dtype=np.float32)
    frames[5][1][1][3] = marked  # joint 3 of body 2 in frame 5
    write(tmp_path, "S001C001P001R001A010", frames)

    (sample,) = list(read_ntu(tmp_path).samples())
    hq = sample.streams["hq"]
    assert hq.shape == (2, 6, 25, 3) and hq.dtype == np.float32
    np.testing.assert_array_equal(hq[0, 5, 3], marked)
    np.testing.assert_array_equal(hq[0, 2], joints_of(2, 2))
    np.testing.assert_array_equal(hq[1, 4], joints_of(1, 0))
    assert sample.label == 9 and class_names("ntu60")[sample.label] == "clapping"
    assert sample.meta == {"setup": 1, "camera": 1, "performer": 1, "replication": 1, "bodies": 2, "empty_frames": 0}


def test_parser_keeps_every_body_with_its_frames(tmp_path):
    frames = [[("a", joints_of(1, 0))], [], [("a", joints_of(1, 2)), ("b", joints_of(2, 2))]]
    bodies = read_skeleton_file(write(tmp_path, "S001C001P001R001A001", frames))
    assert bodies.ids == ["a", "b"]
    assert bodies.tracked.tolist() == [[True, False, True], [False, False, True]]
    np.testing.assert_array_equal(bodies.xyz[1, 2], joints_of(2, 2))
    np.testing.assert_array_equal(bodies.xyz[1, 0], np.zeros((25, 3)))


def test_frames_without_bodies_are_dropped_and_counted(tmp_path):
    frames = one_body(4)
    frames[1] = []
    write(tmp_path, "S001C001P001R001A001", frames)
    (sample,) = list(read_ntu(tmp_path).samples())
    assert sample.streams["hq"].shape == (1, 3, 25, 3)
    np.testing.assert_array_equal(sample.streams["hq"][0, 1], joints_of(1, 2))
    assert sample.meta["empty_frames"] == 1


def test_splits_from_names():
    assert SampleName.parse("S001C001P001R001A001").splits("ntu60") == ("xsub_train", "xview_test")
    assert SampleName.parse("S002C002P003R002A010").splits("ntu60") == ("xsub_test", "xview_train")
    assert SampleName.parse("S017C003P040R002A060").splits("ntu60") == ("xsub_test", "xview_train")
    # NTU-120: P045 is one of the 53 training subjects, P044 is not; even setups train.
    assert SampleName.parse("S018C001P045R001A061").splits("ntu120") == ("xsub_train", "xset_train")
    assert SampleName.parse("S019C001P044R001A061").splits("ntu120") == ("xsub_test", "xset_test")
    assert SampleName.parse("S001C001P001R001A001.skeleton") is None


def test_read_ntu120_splits_labels_and_counts(tmp_path):
    write(tmp_path, "S018C001P045R001A120", one_body(3))
    write(tmp_path, "S001C002P002R001A001", one_body(3))
    ds = read_ntu(tmp_path, variant="ntu120")
    samples = list(ds.samples())
    assert [s.sample_id for s in samples] == ["S001C002P002R001A001", "S018C001P045R001A120"]
    assert [s.label for s in samples] == [0, 119]
    assert samples[0].splits == ("xsub_train", "xset_test")
    assert ds.skipped == {"missing_skeleton": 0, "no_bodies": 0}
    assert ds.name == "ntu120" and len(ds.class_names) == 120 and ds.num_samples == 2
    assert ds.streams["hq"].layout == "ntu25" and ds.streams["hq"].channels == ("x", "y", "z")


def test_missing_skeleton_list_and_empty_files_are_skipped_with_counts(tmp_path):
    write(tmp_path, "S001C002P005R002A008", one_body(2))  # first entry of the official list
    write(tmp_path, "S001C001P001R001A001", [[], [], []])  # every frame without a body
    write(tmp_path, "S001C001P001R001A002", one_body(2))
    write(tmp_path, "S018C001P045R001A061", one_body(2))  # NTU-120 only
    ds = read_ntu(tmp_path, variant="ntu60")
    assert ds.num_samples == 2
    for _ in range(2):  # counts are per walk, not accumulated
        assert [s.sample_id for s in ds.samples()] == ["S001C001P001R001A002"]
        assert ds.skipped == {"missing_skeleton": 1, "outside_ntu60": 1, "no_bodies": 1}


def test_own_missing_list(tmp_path):
    write(tmp_path, "S001C002P005R002A008", one_body(2))
    write(tmp_path, "S001C001P001R001A002", one_body(2))
    listing = tmp_path / "skip.txt"
    listing.write_text("my list\nS001C001P001R001A002\n")
    assert read_sample_list(listing) == {"S001C001P001R001A002"}
    ds = read_ntu(tmp_path, missing=listing)
    assert [s.sample_id for s in ds.samples()] == ["S001C002P005R002A008"]
    assert ds.skipped["missing_skeleton"] == 1


def test_packaged_missing_lists_have_the_official_counts():
    here = Path(__file__).resolve().parents[2] / "pygkd" / "data" / "readers"
    sixty, all_120 = read_sample_list(here / "ntu_missing_60.txt"), read_sample_list(here / "ntu_missing_120.txt")
    assert len(sixty) == 302 and len(all_120) == 535 and sixty < all_120
    assert max(int(n[1:4]) for n in sixty) == 17


def test_motion_energy_matches_a_naive_reference():
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(3, 7, 25, 3)).astype(np.float32)
    tracked = rng.random((3, 7)) < 0.6
    tracked[2] = False
    expected = []
    for b in range(3):
        rows = [xyz[b, t] for t in range(7) if tracked[b, t]]
        total = 0.0
        for v in range(25):
            for c in range(3):
                series = [r[v, c] for r in rows]
                total += float(np.mean([(s - np.mean(series)) ** 2 for s in series])) if series else 0.0
        expected.append(total)
    np.testing.assert_allclose(motion_energy(xyz, tracked), expected, rtol=1e-5)


def test_pack_persons_continues_a_reacquired_track_and_drops_what_does_not_fit():
    t = np.arange(6, dtype=np.float32)
    xyz = np.zeros((4, 6, 1, 1), dtype=np.float32)
    xyz[0, :, 0, 0] = 10 * t  # the main actor, all frames, most motion
    xyz[1, :3, 0, 0] = [1, 2, 3]  # second person, frames 0-2 ...
    xyz[2, 3:, 0, 0] = [4, 6, 5]  # ... re-acquired under a new bodyID in frames 3-5
    xyz[3, 1:3, 0, 0] = [100, 100]  # a still third body overlapping both slots: dropped
    tracked = np.zeros((4, 6), dtype=bool)
    tracked[0] = True
    tracked[1, :3] = tracked[2, 3:] = tracked[3, 1:3] = True

    persons = pack_persons(xyz, tracked, max_persons=2)
    assert persons[:, :, 0, 0].tolist() == [[0, 10, 20, 30, 40, 50], [1, 2, 3, 4, 6, 5]]
    assert pack_persons(xyz[:1], tracked[:1], max_persons=2).shape == (1, 6, 1, 1)
    assert pack_persons(xyz, tracked, max_persons=4).shape == (3, 6, 1, 1)  # bodies 1 and 2 share a slot


def test_truncated_file_names_file_and_line(tmp_path):
    path = write(tmp_path, "S001C001P001R001A001", one_body(2))
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:40]) + "\n")  # frame 1 stops after 11 of its 25 joints
    message = rf"{path.name}: truncated after line 40; expected 25 joint lines at line 33"
    with pytest.raises(DataFormatError, match=message):
        read_skeleton_file(path)


def test_wrong_joint_count_names_the_line(tmp_path):
    path = write(tmp_path, "S001C001P001R001A001", one_body(2))
    lines = path.read_text().splitlines()
    lines[31] = "24"  # joint count of frame 1 (line 32)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=rf"{path.name}:32: expected 25 joints, got 24"):
        read_skeleton_file(path)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_coordinate_names_the_line(tmp_path, value):
    path = write(tmp_path, "S001C001P001R001A001", one_body(3))
    lines = path.read_text().splitlines()
    lines[2 * 28 + 4 + 7] = f"0 {value} 1 {JOINT_TAIL}"  # joint 7 of frame 2: line 5 + 2*28 + 7 = 68
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=rf"{path.name}:68: expected finite x y z"):
        read_skeleton_file(path)


@pytest.mark.parametrize(
    "line, text, message",
    [
        (0, "three", "expected the frame count"),
        (1, "-1", "expected the body count of frame 0 >= 0"),
        (2, "111 0 1", "expected 10 body values, got 3"),
        (4, "0.1 0.2 0.3", "expected 12 joint values, got 3"),
        (5, f"0.1 abc 0.3 {JOINT_TAIL}", "expected 12 numbers"),
    ],
)
def test_malformed_lines_name_the_line(tmp_path, line, text, message):
    path = write(tmp_path, "S001C001P001R001A001", one_body(1))
    lines = path.read_text().splitlines()
    lines[line] = text
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=rf"{path.name}:{line + 1}: {message}"):
        read_skeleton_file(path)


def test_content_after_the_announced_frames_is_refused(tmp_path):
    path = write(tmp_path, "S001C001P001R001A001", one_body(2))
    path.write_text(path.read_text().replace("2\n", "1\n", 1))  # announce one frame, keep two
    with pytest.raises(DataFormatError, match=rf"{path.name}:30: unexpected content after the 1 frames"):
        read_skeleton_file(path)


def test_bad_names_and_labels(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    write(bad, "S001C001P001R001", one_body(1))
    with pytest.raises(DataFormatError, match="expected a file name SsssCcccPpppRrrrAaaa"):
        read_ntu(bad)
    label = tmp_path / "label"
    label.mkdir()
    write(label, "S001C001P001R001A061", one_body(1))
    with pytest.raises(DataFormatError, match=r"S001 A061 is outside ntu60 \(setups S001..S017, actions A001..A060\)"):
        read_ntu(label)
    write(label, "S033C001P001R001A001", one_body(1))
    with pytest.raises(DataFormatError, match="S033 A001 is outside ntu120"):
        read_ntu(label, variant="ntu120")
    with pytest.raises(DataFormatError, match="no .skeleton files"):
        read_ntu(tmp_path / "nothing")
    with pytest.raises(ValueError, match="variant"):
        read_ntu(tmp_path, variant="ntu90")


def test_same_sample_twice_is_refused(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        write(tmp_path / sub, "S001C001P001R001A001", one_body(1))
    with pytest.raises(DataFormatError, match="S001C001P001R001A001 is also at"):
        read_ntu(tmp_path)


def test_prepares_into_the_store_with_the_counts_of_the_walk(tmp_path):
    from pygkd.data.store import PreparedDataset, prepare

    data = tmp_path / "raw"
    data.mkdir()
    write(data, "S001C001P001R001A001", [[], []])
    write(data, "S001C002P001R001A002", [[("1", joints_of(1, 0)), ("2", joints_of(2, 0))]])
    write(data, "S001C003P001R001A003", one_body(3))
    prepared = PreparedDataset(prepare(read_ntu(data), tmp_path / "prepared", progress=False))
    assert prepared.sample_ids == ["S001C002P001R001A002", "S001C003P001R001A003"]
    assert prepared.skipped == {"missing_skeleton": 0, "outside_ntu60": 0, "no_bodies": 1}
    assert prepared.streams["hq"].num_persons == 2  # the one-person sample is zero-padded by the store
    np.testing.assert_array_equal(prepared.keypoints("hq", 1)[1], np.zeros((3, 25, 3)))
    assert prepared.split("xview_train").tolist() == [0, 1]
