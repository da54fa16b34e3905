"""``pygkd prepare`` and ``pygkd info`` end to end: NTU and PYSKL files written here in their real formats,
the synthetic dataset, the public datasets of ../shared/data when present, and bad input."""
from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from cli.main import main
from pygkd.data.dataset import PairDataset
from pygkd.data.raw import RawDataset, RawSample, StreamInfo
from pygkd.data.readers import READERS, get_reader
from pygkd.data.readers.synthetic import read_synthetic
from pygkd.data.store import PreparedDataset
from tests.conftest import shared_data
from tests.data.mat_writer import write_mat


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def info_json(directory: Path) -> dict:
    result = run("info", directory, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# ------------------------------------------------------------------------------ NTU .skeleton files


def pose(sample: int, frame: int) -> np.ndarray:
    """[25, 3], exactly representable in float32 and in the text."""
    return np.arange(75, dtype=np.float32).reshape(25, 3) * 0.125 + sample + frame * 0.5


def write_ntu(path: Path, sample: int, num_frames: int) -> None:
    """One tracked body per frame, in the Kinect v2 .skeleton text format of NTU RGB+D."""
    lines = [str(num_frames)]
    for t in range(num_frames):
        lines += ["1", "72057594037931101 0 1 1 1 1 0 0.1 -0.2 2", "25"]
        lines += [f"{x} {y} {z} 256.1 211.9 1000.5 540.2 0.1 0.2 0.3 0.9 2" for x, y, z in pose(sample, t)]
    path.write_text("\n".join(lines) + "\n")


NTU_FILES = {  # name -> frames; performers 1, 2 are cross-subject training, cameras 2, 3 cross-view training
    "S001C001P001R001A001": 3,
    "S001C002P003R001A002": 5,
    "S002C003P002R002A001": 4,
}


def test_prepare_ntu60_then_info(tmp_path: Path) -> None:
    root = tmp_path / "nturgb+d_skeletons"
    root.mkdir()
    for k, (name, frames) in enumerate(NTU_FILES.items()):
        write_ntu(root / f"{name}.skeleton", k, frames)
    result = run("prepare", "ntu60", "--root", root, "--out", tmp_path / "ntu", "--dtype", "float16")
    assert result.exit_code == 0, result.output
    assert "ntu60: 3 samples, 60 classes" in result.output

    info = info_json(tmp_path / "ntu")
    assert info["num_samples"] == 3 and info["num_classes"] == 60
    assert info["streams"]["hq"]["layout"] == "ntu25" and info["streams"]["hq"]["dtype"] == "float16"
    assert info["streams"]["hq"]["frames"] == {"total": 12, "min": 3, "median": 4.0, "max": 5}
    assert {k: v["samples"] for k, v in info["splits"].items()} == {
        "xsub_train": 2, "xsub_test": 1, "xview_train": 2, "xview_test": 1
    }
    assert info["per_class"]["drink water"] == 2 and info["splits"]["xsub_test"]["per_class"]["eat meal/snack"] == 1

    prepared = PreparedDataset(tmp_path / "ntu")
    k = prepared.sample_ids.index("S001C002P003R001A002")
    np.testing.assert_array_equal(prepared.keypoints("hq", k)[0], np.stack([pose(1, t) for t in range(5)]))


def test_bad_ntu_file_names_its_line_and_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "skeletons"
    root.mkdir()
    write_ntu(root / "S001C001P001R001A001.skeleton", 0, 2)
    path = root / "S001C001P002R001A003.skeleton"
    write_ntu(path, 1, 2)
    lines = path.read_text().splitlines()
    lines[6] = "0.1 0.2"  # the third joint of frame 0
    path.write_text("\n".join(lines) + "\n")
    result = run("prepare", "ntu60", "--root", root, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert f"{path}:7: expected 12 joint values" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["skeletons"]


# ------------------------------------------------------------------------------ PYSKL pickles


def test_prepare_pyskl_pair_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)

    def annotation(name: str, label: int, joints: int, dims: int, score: bool) -> dict:
        ann = {
            "frame_dir": name, "label": label, "total_frames": 6, "img_shape": (1080, 1920),
            "keypoint": rng.normal(size=(1, 6, joints, dims)).astype(np.float16),
        }
        if score:
            ann["keypoint_score"] = rng.uniform(size=(1, 6, joints)).astype(np.float16)
        return ann

    names = ["S001C001P001R001A001", "S001C001P001R001A002", "S001C001P003R001A001"]
    lq = {
        "split": {"xsub_train": names[:2], "xsub_val": names[2:]},
        "annotations": [annotation(n, k % 2, 17, 2, True) for k, n in enumerate(names)],
    }
    hq = {"split": {}, "annotations": [annotation(n, k % 2, 25, 3, False) for k, n in enumerate(names[:2])]}
    for name, data in (("lq.pkl", lq), ("hq.pkl", hq)):
        with open(tmp_path / name, "wb") as f:
            pickle.dump(data, f)

    out = tmp_path / "pyskl"
    result = run(
        "prepare", "pyskl", "--root", tmp_path / "lq.pkl", "--out", out,
        "-o", f"hq={tmp_path / 'hq.pkl'}", "-o", "class_names=[drink, eat]",
    )
    assert result.exit_code == 0, result.output
    info = info_json(out)
    assert info["streams"]["lq"]["channels"] == ["x", "y", "score"] and info["streams"]["lq"]["samples"] == 3
    assert info["streams"]["hq"]["layout"] == "ntu25" and info["streams"]["hq"]["samples"] == 2
    assert info["splits"]["xsub_train"]["per_class"] == {"drink": 1, "eat": 1}

    prepared = PreparedDataset(out)
    np.testing.assert_array_equal(
        prepared.keypoints("lq", 2)[0, :, :, 2], lq["annotations"][2]["keypoint_score"][0].astype(np.float32)
    )
    pairs = PairDataset(prepared, None, lq=("lq", None), hq=("hq", None))
    assert [bool(pairs[k].has_hq) for k in range(3)] == [True, True, False]


# ------------------------------------------------------------------------------ SYSU 3D HOI sklWorld.mat


def test_prepare_sysu(tmp_path: Path) -> None:
    root = tmp_path / "SYSU3DAction" / "3DvideoNorm"
    clips = {}
    for subject, action, frames in [("1", 1, 3), ("1", 4, 2), ("2", 1, 5), ("2", 4, 4)]:
        folder = root / subject / f"video{action}"
        folder.mkdir(parents=True)
        sw = np.arange(20 * 3 * frames, dtype=np.float64).reshape(20, 3, frames) / 8 + action  # [joint, xyz, T]
        write_mat(folder / "sklWorld.mat", {"SW": sw})
        clips[f"{subject}_video{action}"] = sw
    result = run("prepare", "sysu", "--root", root.parent, "--out", tmp_path / "sysu", "-o", "num_splits=2")
    assert result.exit_code == 0, result.output
    info = info_json(tmp_path / "sysu")
    assert info["num_samples"] == 4 and info["streams"]["hq"]["layout"] == "kinect20"
    assert info["per_class"]["drinking"] == 2 and info["per_class"]["playing phone"] == 2
    assert info["streams"]["hq"]["frames"] == {"total": 14, "min": 2, "median": 3.5, "max": 5}
    assert {split["samples"] for name, split in info["splits"].items() if name.startswith("s1_")} == {2}
    assert len(info["splits"]) == 2 * 2 * 2  # 2 settings x 2 splits x train/test

    prepared = PreparedDataset(tmp_path / "sysu")
    for k, sample_id in enumerate(prepared.sample_ids):
        np.testing.assert_array_equal(prepared.keypoints("hq", k)[0], clips[sample_id].transpose(2, 0, 1))


# ------------------------------------------------------------------------------ synthetic, options, errors


def test_synthetic_text_info_and_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    args = ("prepare", "synthetic", "--out", out, "-o", "train_per_class=1", "-o", "test_per_class=1", "-o", "frames=8")
    assert run(*args).exit_code == 0
    text = run("info", out).output
    k = len(read_synthetic().class_names)  # one train and one test sample per class
    assert f"synthetic: {2 * k} samples, {k} classes" in text
    assert f"hq: layout ntu25 (25 joints), channels x,y,z, 1 person(s), float32, {2 * k} samples" in text
    assert text.splitlines()[-1].split() == ["total", str(2 * k), str(k), str(k)]

    again = run(*args)
    assert again.exit_code == 1 and "exists" in again.output
    assert run(*args, "--overwrite").exit_code == 0


def test_usage_errors(tmp_path: Path) -> None:
    out = tmp_path / "out"
    unknown = run("prepare", "kinetics", "--out", out)
    assert unknown.exit_code == 2 and "unknown dataset 'kinetics'" in unknown.output
    no_root = run("prepare", "ntu60", "--out", out)
    assert no_root.exit_code == 2 and "give --root" in no_root.output
    bad_key = run("prepare", "synthetic", "--out", out, "-o", "speed=3")
    assert bad_key.exit_code == 2 and "unexpected keyword argument 'speed'" in bad_key.output
    assert "train_per_class" in bad_key.output
    not_pair = run("prepare", "synthetic", "--out", out, "-o", "frames")
    assert not_pair.exit_code == 2 and "'frames': expected KEY=VALUE" in not_pair.output
    not_prepared = run("info", tmp_path)
    assert not_prepared.exit_code == 1 and f"{tmp_path}: no manifest.json" in not_prepared.output
    assert not out.exists()


def read_two_samples(root: Path | None = None, frames: int = 3) -> RawDataset:
    """A reader of one's own, named on the command line as ``tests.test_cli_prepare:read_two_samples``."""
    samples = [RawSample(f"own{i}", i, {"hq": np.full((1, frames, 20, 3), i, np.float32)}, ("all",)) for i in (0, 1)]
    return RawDataset("own", ["a", "b"], {"hq": StreamInfo("kinect20", ("x", "y", "z"))}, lambda: iter(samples))


def test_reader_of_ones_own(tmp_path: Path) -> None:
    result = run("prepare", "tests.test_cli_prepare:read_two_samples", "--out", tmp_path / "own", "-o", "frames=5")
    assert result.exit_code == 0, result.output
    assert info_json(tmp_path / "own")["streams"]["hq"]["frames"]["total"] == 10
    missing = run("prepare", "tests.test_cli_prepare:read_nothing", "--out", tmp_path / "x")
    assert missing.exit_code == 2 and "cannot load the reader 'tests.test_cli_prepare:read_nothing'" in missing.output


def test_registry_names_importable_readers() -> None:
    assert get_reader("ntu120").keywords == {"variant": "ntu120"}
    for name, target in READERS.items():
        if importlib.util.find_spec(target.split(":")[0]) is not None:  # readers still being written are absent
            assert callable(get_reader(name)), name


# ------------------------------------------------------------------------------ public datasets


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("dataset", "classes", "stream_samples"),
    [
        ("penn_action", 15, {"hq": 2326}),
        ("msr_action3d", 20, {"hq": 557}),  # the CVPR 2012 subset
        pytest.param("ui_prmd", 10, {"hq": 990, "lq": 1000}, marks=pytest.mark.slow),  # Vicon lacks m03_s03
    ],
    ids=["penn_action", "msr_action3d", "ui_prmd"],
)
def test_prepare_public_dataset(tmp_path: Path, dataset: str, classes: int, stream_samples: dict[str, int]) -> None:
    pytest.importorskip(f"pygkd.data.readers.{dataset}")
    root = shared_data(dataset)
    result = run("prepare", dataset, "--root", root, "--out", tmp_path / dataset)
    assert result.exit_code == 0, result.output
    info = info_json(tmp_path / dataset)
    assert info["num_classes"] == classes and info["num_samples"] == max(stream_samples.values())
    assert {name: s["samples"] for name, s in info["streams"].items()} == stream_samples
    assert sum(info["per_class"].values()) == info["num_samples"]


def test_under_torchrun_only_rank_zero_prints_results(tmp_path, monkeypatch):
    out = tmp_path / "data"
    assert run("prepare", "synthetic", "--out", out, "-o", "train_per_class=1", "-o", "test_per_class=1",
               "-o", "frames=8").exit_code == 0
    shown = run("info", out).output
    assert "synthetic" in shown
    monkeypatch.setenv("RANK", "1")  # torchrun's global rank
    quiet = CliRunner().invoke(main, ["info", str(out)])
    assert quiet.exit_code == 0 and quiet.stdout == ""
    failed = CliRunner().invoke(main, ["info", str(tmp_path / "missing")])
    assert failed.exit_code != 0 and "Error: " in failed.stderr  # every rank still reports its errors
    monkeypatch.setenv("RANK", "0")
    assert run("info", out).output == shown
