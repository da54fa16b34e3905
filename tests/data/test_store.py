"""The prepared store: exact round trip, on-disk layout, streaming writes, atomicity, validation."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError, RawDataset, RawSample, StreamInfo
from pygkd.data.store import FORMAT, MANIFEST, VERSION, PreparedDataset, prepare

HQ = StreamInfo("ntu25", ("x", "y", "z"))
LQ = StreamInfo("coco17", ("x", "y", "score"))
CLASSES = ["wave", "kick", "sit"]


def keypoints(m: int, t: int, v: int, base: float) -> np.ndarray:
    """[M, T, V, 3] with value base + 1000 m + 100 t + v + c / 10: every entry tells where it came from."""
    mm, tt, vv, cc = np.meshgrid(np.arange(m), np.arange(t), np.arange(v), np.arange(3), indexing="ij")
    return (base + 1000 * mm + 100 * tt + vv + cc / 10).astype(np.float32)


def toy_samples() -> list[RawSample]:
    """Four samples: HQ persons 1, 2, 1, 2 and frames 3, 2, 4, 1; sample 1 lacks LQ."""
    return [
        RawSample("a", 0, {"hq": keypoints(1, 3, 25, 0), "lq": keypoints(1, 5, 17, 0.5)}, ("train",), {"subject": 1}),
        RawSample("b", 2, {"hq": keypoints(2, 2, 25, 10_000)}, ("train", "xview"), {"subject": 2}),
        RawSample("c", 1, {"hq": keypoints(1, 4, 25, 20_000), "lq": keypoints(1, 2, 17, 0.25)}, ("test",), {}),
        RawSample("d", 0, {"hq": keypoints(2, 1, 25, 30_000), "lq": keypoints(1, 1, 17, 0.75)}, ("test",), {}),
    ]


def toy_raw(samples: list[RawSample] | None = None, **kwargs) -> RawDataset:
    samples = toy_samples() if samples is None else samples
    return RawDataset(
        "toy", kwargs.pop("class_names", CLASSES), kwargs.pop("streams", {"hq": HQ, "lq": LQ}), lambda: iter(samples),
        num_samples=len(samples), **kwargs,
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return prepare(toy_raw(skipped={"no skeleton": 2}, notes={"fps": 30}), tmp_path / "toy", progress=False)


def test_round_trip_pads_persons_with_zeros(store: Path) -> None:
    p = PreparedDataset(store)
    assert len(p) == 4 and p.name == "toy" and p.class_names == CLASSES
    assert p.sample_ids == ["a", "b", "c", "d"] and p.labels.tolist() == [0, 2, 1, 0]
    assert p.streams["hq"].num_persons == 2 and p.streams["lq"].num_persons == 1
    for i, sample in enumerate(toy_samples()):
        for name in ("hq", "lq"):
            assert p.has(name, i) == (name in sample.streams)
            if name not in sample.streams:
                continue
            got, want = p.keypoints(name, i), sample.streams[name]
            assert got.dtype == np.float32 and got.flags.writeable
            np.testing.assert_array_equal(got[: want.shape[0]], want)
            assert not got[want.shape[0]:].any()  # padded person
    assert p.keypoints("hq", 0).shape == (2, 3, 25, 3)
    with pytest.raises(KeyError, match="'b'"):
        p.keypoints("lq", 1)


def test_files_follow_the_documented_layout(store: Path) -> None:
    np.testing.assert_array_equal(np.load(store / "hq.offsets.npy"), [0, 3, 5, 9, 10])
    np.testing.assert_array_equal(np.load(store / "lq.offsets.npy"), [0, 5, 5, 7, 8])
    frames = np.load(store / "hq.frames.npy")
    assert frames.shape == (10, 2, 25, 3) and frames.dtype == np.float32
    assert frames[4, 1, 7, 2] == 10_000 + 1000 + 100 + 7 + 0.2  # sample b, frame 1, person 1, joint 7, channel z
    assert frames[5, 0, 0, 0] == 20_000
    np.testing.assert_array_equal(np.load(store / "splits" / "train.npy"), [0, 1])
    np.testing.assert_array_equal(np.load(store / "splits" / "test.npy"), [2, 3])
    np.testing.assert_array_equal(np.load(store / "splits" / "xview.npy"), [1])
    assert json.loads((store / "sample_ids.json").read_text()) == ["a", "b", "c", "d"]
    assert [json.loads(line) for line in (store / "meta.jsonl").read_text().splitlines()][:2] == [
        {"subject": 1}, {"subject": 2}
    ]
    manifest = json.loads((store / MANIFEST).read_text())
    assert manifest["format"] == FORMAT and manifest["version"] == VERSION and manifest["complete"] is True
    assert manifest["streams"]["lq"] == {
        "layout": "coco17", "channels": ["x", "y", "score"], "num_persons": 1, "num_joints": 17,
        "dtype": "float32", "frames_total": 8,
    }
    assert manifest["splits"] == {"test": 2, "train": 2, "xview": 1}
    assert manifest["skipped"] == {"no skeleton": 2} and manifest["notes"] == {"fps": 30}


def test_summary_counts_by_hand(store: Path) -> None:
    s = PreparedDataset(store).summary()
    assert s["num_samples"] == 4 and s["num_classes"] == 3
    assert s["per_class"] == {"wave": 2, "kick": 1, "sit": 1}
    assert s["splits"]["train"] == {"samples": 2, "per_class": {"wave": 1, "kick": 0, "sit": 1}}
    assert s["streams"]["hq"]["frames"] == {"total": 10, "min": 1, "median": 2.5, "max": 4}
    assert s["streams"]["lq"]["samples"] == 3 and s["streams"]["lq"]["frames"]["median"] == 2.0
    assert json.loads(json.dumps(s)) == s


def test_meta_and_splits(store: Path) -> None:
    p = PreparedDataset(store)
    assert p.meta(1) == {"subject": 2} and p.meta(3) == {}
    assert p.split_names == ["test", "train", "xview"]
    with pytest.raises(KeyError, match="no split 'val'.*'train'"):
        p.split("val")


def test_float16_store(tmp_path: Path) -> None:
    p = PreparedDataset(prepare(toy_raw(), tmp_path / "half", dtype="float16", progress=False))
    assert np.load(tmp_path / "half" / "hq.frames.npy", mmap_mode="r").dtype == np.float16
    assert p.streams["hq"].dtype == "float16"
    want = toy_samples()[2].streams["hq"]
    np.testing.assert_array_equal(p.keypoints("hq", 2)[:1], want.astype(np.float16).astype(np.float32))
    too_big = [RawSample("huge", 0, {"hq": np.full((1, 2, 25, 3), 7e4, np.float32)})]
    with pytest.raises(DataFormatError, match="'huge'.*float16 range"):
        prepare(toy_raw(too_big, streams={"hq": HQ}), tmp_path / "big", dtype="float16", progress=False)


def test_frames_are_written_while_the_reader_streams(tmp_path: Path) -> None:
    frames = 40  # a sample of 12,000 bytes: larger than Python's write buffer, so written through at once
    sizes = []

    def samples():
        for k in range(3):
            sizes.extend(f.stat().st_size for f in tmp_path.glob("out.partial-*/hq.frames.npy"))
            yield RawSample(f"s{k}", 0, {"hq": keypoints(1, frames, 25, k)})

    prepare(RawDataset("stream", CLASSES, {"hq": HQ}, samples), tmp_path / "out", progress=False)
    per_sample = frames * 25 * 3 * 4
    assert sizes[1:] == [128 + per_sample, 128 + 2 * per_sample]  # on disk before the next sample is read


def test_memory_mapped_and_pickled_by_path(store: Path) -> None:
    p = PreparedDataset(store)
    assert isinstance(p._frames["hq"], np.memmap)
    payload = pickle.dumps(p)
    assert len(payload) < 500  # the path, not the arrays
    q = pickle.loads(payload)
    np.testing.assert_array_equal(q.keypoints("hq", 1), p.keypoints("hq", 1))


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        (RawSample("x", 0, {"hq": keypoints(1, 2, 24, 0)}), r"'x' stream 'hq': 24 joints, the layout expects 25"),
        (RawSample("x", 0, {"hq": keypoints(1, 2, 25, 0)[..., :2]}), r"'x' stream 'hq': 2 channels, expected 3"),
        (RawSample("x", 3, {"hq": keypoints(1, 2, 25, 0)}), r"'x': label 3 is not a class index 0..2"),
        (RawSample("x", -1, {"hq": keypoints(1, 2, 25, 0)}), r"label -1"),
        (RawSample("", 0, {"hq": keypoints(1, 2, 25, 0)}), r"sample #4: sample_id must be a non-empty string"),
        (RawSample("a", 0, {"hq": keypoints(1, 2, 25, 0)}), r"'a': duplicate sample_id"),
        (RawSample("x", 0, {}), r"'x': no stream"),
        (RawSample("x", 0, {"depth": keypoints(1, 2, 25, 0)}), r"stream 'depth' is not declared"),
        (RawSample("x", 0, {"hq": keypoints(1, 2, 25, 0)}, ("",)), r"split name ''"),
        (RawSample("x", 0, {"hq": keypoints(1, 2, 25, 0)}, ("../evil",)), r"split name '../evil'"),
        (RawSample("x", 0, {"hq": keypoints(1, 2, 25, 0)}, (), {"when": object()}), r"meta is not JSON"),
        (RawSample("x", 0, {"hq": keypoints(1, 0, 25, 0)}), r"empty sequence"),
    ],
)
def test_bad_sample_names_it_and_leaves_nothing(tmp_path: Path, sample: RawSample, message: str) -> None:
    with pytest.raises(DataFormatError, match=message) as err:
        prepare(toy_raw([*toy_samples(), sample]), tmp_path / "out", progress=False)
    assert str(err.value).startswith("toy: sample #4")
    assert list(tmp_path.iterdir()) == []


def test_non_finite_value_is_located(tmp_path: Path) -> None:
    bad = keypoints(1, 3, 25, 0)
    bad[0, 2, 5, 1] = np.nan
    with pytest.raises(DataFormatError, match="'x' stream 'hq': non-finite value nan at person 0, frame 2, joint 5"):
        prepare(toy_raw([RawSample("x", 0, {"hq": bad})], streams={"hq": HQ}), tmp_path / "out", progress=False)


def test_bad_dataset_declarations(tmp_path: Path) -> None:
    only_hq = [RawSample("x", 0, {"hq": keypoints(1, 2, 25, 0)})]
    with pytest.raises(DataFormatError, match="stream 'lq' is declared but no sample has it"):
        prepare(toy_raw(only_hq), tmp_path / "out", progress=False)
    with pytest.raises(DataFormatError, match="yielded no sample"):
        prepare(toy_raw([]), tmp_path / "out", progress=False)
    with pytest.raises(DataFormatError, match="stream 'rgb' is not one of"):
        prepare(toy_raw(only_hq, streams={"rgb": HQ}), tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="dtype 'float64'"):
        prepare(toy_raw(), tmp_path / "out", dtype="float64", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_run_leaves_nothing(tmp_path: Path) -> None:
    def samples():
        yield from toy_samples()[:2]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare(RawDataset("toy", CLASSES, {"hq": HQ, "lq": LQ}, samples), tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_killed_run_does_not_load_as_complete(store: Path, tmp_path: Path) -> None:
    killed = tmp_path / "killed.partial-123"
    killed.mkdir()
    for f in store.iterdir():  # every array written, the manifest not yet
        if f.name != MANIFEST and f.is_file():
            f.rename(killed / f.name)
    with pytest.raises(DataFormatError, match=f"{killed}: no manifest.json.*did not finish"):
        PreparedDataset(killed)


def _edit_manifest(store: Path, **changes) -> None:
    manifest = json.loads((store / MANIFEST).read_text())
    manifest.update(changes)
    (store / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"complete": False}, "not marked complete"),
        ({"version": 99}, "format version 99, this pygkd reads version 1"),
        ({"format": "other"}, "not a pygkd-prepared manifest"),
        ({"num_samples": 5}, r"labels.npy: int64\[4\], the manifest says int64\[5\]"),
        ({"splits": {"train": 3}}, r"train.npy: int64\[2\], the manifest says int64\[3\]"),
    ],
)
def test_manifest_mismatch_is_an_error(store: Path, changes: dict, message: str) -> None:
    _edit_manifest(store, **changes)
    with pytest.raises(DataFormatError, match=message):
        PreparedDataset(store)


def test_truncated_or_inconsistent_arrays_are_errors(store: Path) -> None:
    frames = np.load(store / "hq.frames.npy")
    np.save(store / "hq.frames.npy", frames[:-1])
    with pytest.raises(DataFormatError, match=r"hq.frames.npy: float32\[9, 2, 25, 3\], the manifest says float32\[10"):
        PreparedDataset(store)
    np.save(store / "hq.frames.npy", frames)
    np.save(store / "lq.offsets.npy", np.array([0, 5, 4, 7, 8]))
    with pytest.raises(DataFormatError, match="lq.offsets.npy: offsets must rise from 0 to 8"):
        PreparedDataset(store)
    (store / "labels.npy").write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="labels.npy: cannot be read as .npy"):
        PreparedDataset(store)


def test_overwrite_only_replaces_prepared_datasets(store: Path, tmp_path: Path) -> None:
    with pytest.raises(FileExistsError, match="overwrite=True"):
        prepare(toy_raw(), store, progress=False)
    one = [RawSample("z", 1, {"hq": keypoints(1, 2, 25, 0)})]
    prepare(toy_raw(one, streams={"hq": HQ}), store, overwrite=True, progress=False)
    assert PreparedDataset(store).sample_ids == ["z"] and not (store / "lq.frames.npy").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy"]
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("...")
    with pytest.raises(FileExistsError, match="not a prepared dataset"):
        prepare(toy_raw(), precious, overwrite=True, progress=False)
    assert (precious / "thesis.tex").exists()
