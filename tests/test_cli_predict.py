"""``pygkd predict`` through the command line: a tiny student trained by ``pygkd student``, predicted on its
prepared data as a table, JSON and CSV, and fed frames through a real pipe with ``--stream``."""
import csv
import io
import json
import os
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import main
from pygkd.data.readers.person_tracks import link_persons
from pygkd.data.readers.pose_frames import parse_frame
from pygkd.data.store import PreparedDataset
from pygkd.engine.predict import Clip, Predictor
from pygkd.skeleton import get_layout

ROOT = Path(__file__).resolve().parents[1]
TINY = """\
defaults: demo
data:
  reader_options: {train_per_class: 2, test_per_class: 2, frames: 12}
  lq: {transforms: [{name: FixLength, length: 8, mode: uniform}, {name: Normalize, coords: 2}]}
model:
  student: {channels: [8, 8, 16], strides: [1, 2, 1], temporal_kernel: 3}
student: {epochs: 1, batch_size: 8, milestones: [1], loss: none}
"""


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """``(checkpoint, prepared data, run options)`` of a one-epoch student on the LQ stream (coco17)."""
    tmp = tmp_path_factory.mktemp("predict")
    (tmp / "tiny.yaml").write_text(TINY)
    common = ["--config", str(tmp / "tiny.yaml"), "--out", str(tmp / "run"), "--device", "cpu"]
    run("student", *common)
    return tmp / "run" / "student" / "checkpoint_best.pt", tmp / "run" / "data", common


def test_table_json_and_csv_agree_with_eval(student):
    checkpoint, data, common = student
    records = json.loads(run("predict", str(checkpoint), str(data), "--split", "test", "--top-k", "3", "--json"))
    assert len(records) == 22 and all(len(r["top"]) == 3 for r in records)  # 11 classes x 2 test samples
    for r in records:
        probs = [t["probability"] for t in r["top"]]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert (r["start"], r["end"]) == (0, 12)
    report = json.loads(run("eval", *common, "--json"))
    assert report["preprocessing"] == "checkpoint"
    other = CliRunner().invoke(main, ["eval", *common, "--set", "data.lq.transforms=[{name: FixLength, length: 4}]"])
    warning = [line for line in other.output.splitlines() if line.startswith("Warning:")]
    assert other.exit_code == 0 and len(warning) == 1 and "using the checkpoint's preprocessing (lq: " in warning[0]
    assert report["unit"] == "percent"  # eval --json prints percent, as its table does
    assert f"top-1 {report['top1']:.1f}%" in other.output  # the checkpoint's chain, the same accuracy
    hits = sum(r["top"][0]["class"] == r["label"] for r in records)
    assert 100 * hits / len(records) == pytest.approx(report["top1"])

    rows = list(csv.reader(io.StringIO(run("predict", str(checkpoint), str(data), "--split", "test", "--top-k",
                                           "3", "--csv"))))
    assert rows[0] == ["clip", "start", "end", "label", "rank", "class", "probability"] and len(rows) == 1 + 22 * 3
    first = records[0]
    assert rows[1] == [first["clip"], "0", "12", first["label"], "1", first["top"][0]["class"],
                       f"{first['top'][0]['probability']:.6f}"]

    table = run("predict", str(checkpoint), str(data), "--split", "test", "--window", "8", "--stride", "4")
    lines = table.splitlines()
    assert lines[0].split() == ["clip", "frames", "label", "prediction"]
    assert len(lines) == 1 + 22 * 2 and lines[1].split()[1] == "0-8" and lines[2].split()[1] == "4-12"


def test_usage_errors_are_one_line(student):
    checkpoint, data, _ = student
    for args, message in [
        ([str(data), "--json", "--csv"], "give --json or --csv, not both"),
        (["--stream"], "--stream reads stdin and writes JSON lines: give --window, and no INPUT or --csv"),
        (["--stream", "--window", "8", "--csv"], "give --window, and no INPUT or --csv"),
        ([], "give at least one INPUT, or --stream"),
        ([str(data), "--split", "nope"], "has no split 'nope'"),
    ]:
        result = CliRunner().invoke(main, ["predict", str(checkpoint), *args])
        assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def openpose_frames(data: Path) -> list[str]:
    """The first LQ test sample (coco17) as OpenPose BODY_25 frame files would hold it, one JSON per line: COCO's
    joints by name, and the BODY_25 joints COCO lacks (neck, mid-hip, feet) at made-up places."""
    prepared = PreparedDataset(data)
    coco, body25 = get_layout("coco17"), get_layout("body25")
    lq = prepared.keypoints("lq", int(prepared.split("test")[0]))[0]  # [T, 17, 3] pixels and scores
    frames = []
    for t, joints in enumerate(lq):
        body = np.tile([[100.0, 200.0, 0.5]], (body25.num_joints, 1))
        for v, name in enumerate(coco.joints):
            body[body25.index(name)] = joints[v]
        frames.append(json.dumps({"version": 1.3, "people": [{"person_id": [-1],
                                                              "pose_keypoints_2d": body.ravel().tolist()}]}))
    return frames


def test_stream_through_a_pipe_skips_bad_lines_and_predicts_every_window(student):
    checkpoint, data, _ = student
    frames = openpose_frames(data)  # 12 frames
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "cli.main", "predict", str(checkpoint), "--stream", "--window", "8",
               "--stride", "2", "--top-k", "2"]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, cwd=ROOT, env=env) as process:
        process.stdin.write("\n".join(frames[:8]) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 120)
        assert ready, "no prediction after the first full window: the output is not flushed"
        first = json.loads(process.stdout.readline())
        process.stdin.write("{not json\n" + '{"people": "nobody"}\n' + "\n".join(frames[8:]) + "\n")
        rest, errors = process.communicate(timeout=120)
    assert process.returncode == 0, errors
    records = [first, *(json.loads(line) for line in rest.splitlines())]
    assert [(r["clip"], r["start"], r["end"]) for r in records] == [("stdin", 0, 8), ("stdin", 2, 10),
                                                                     ("stdin", 4, 12)]
    assert "stdin line 9: not JSON (Expecting property name enclosed in double quotes at column 2)" in errors
    assert "stdin line 10: 'people' is a str, expected a list; skipped" in errors

    # the same windows predicted offline from the linked clip: the same classes and probabilities
    predictor = Predictor.load(checkpoint)
    parsed = [parse_frame(json.loads(f), f"line {i}") for i, f in enumerate(frames)]
    clip = Clip("stdin", link_persons(parsed, 2, "clip"), "body25")
    for record, offline in zip(records, predictor.predict([clip], window=8, stride=2, top_k=2)):
        assert [t["class"] for t in record["top"]] == offline.classes
        assert np.allclose([t["probability"] for t in record["top"]], offline.probabilities, atol=1e-6)


def test_pose_estimator_folders_are_read_and_mapped_to_the_network_layout(student, tmp_path):
    """An OpenPose BODY_25 clip folder and an MMPose (COCO-17) inferencer file of the same person give the same
    prediction: the BODY_25 clip is mapped to the network's coco17 on the way."""
    checkpoint, data, _ = student
    frames = openpose_frames(data)
    clip = tmp_path / "clips" / "walk"
    clip.mkdir(parents=True)
    for t, frame in enumerate(frames):
        (clip / f"walk_{t:012d}_keypoints.json").write_text(frame)
    coco, body25 = get_layout("coco17"), get_layout("body25")
    mmpose = []
    for t, frame in enumerate(frames):
        body = np.reshape(json.loads(frame)["people"][0]["pose_keypoints_2d"], (25, 3))
        joints = body[[body25.index(j) for j in coco.joints]]
        mmpose.append({"frame_id": t, "instances": [{"keypoints": joints[:, :2].tolist(),
                                                     "keypoint_scores": joints[:, 2].tolist()}]})
    (tmp_path / "clips" / "jump.json").write_text(json.dumps(mmpose))
    records = json.loads(run("predict", str(checkpoint), str(tmp_path / "clips"), "--json", "--top-k", "11"))
    by_clip = {r["clip"]: r for r in records}
    assert set(by_clip) == {"walk", "jump"} and all((r["start"], r["end"]) == (0, 12) for r in records)
    assert [t["class"] for t in by_clip["walk"]["top"]] == [t["class"] for t in by_clip["jump"]["top"]]
    walk, jump = ([t["probability"] for t in by_clip[c]["top"]] for c in ("walk", "jump"))
    assert np.allclose(walk, jump, atol=1e-6) and sum(walk) == pytest.approx(1.0, abs=1e-5)

    result = CliRunner().invoke(main, ["predict", str(checkpoint), str(tmp_path / "clips"), "--split", "test"])
    assert result.exit_code == 1 and "pose-estimator output has no splits" in result.output
