"""Predictions: windows, top-k, the input chain chosen per input, and agreement with evaluation."""
import numpy as np
import pytest
import torch

from pygkd.data.raw import DataFormatError
from pygkd.data.skeleton_data import SkeletonData
from pygkd.data.store import PreparedDataset
from pygkd.engine import checkpoint as ckpt
from pygkd.engine.build import build_transform
from pygkd.engine.config import load_config
from pygkd.engine.metrics import ClassificationMeter
from pygkd.engine.predict import (
    Clip,
    Prediction,
    Predictor,
    csv_rows,
    input_chain,
    open_input,
    top_classes,
    window_bounds,
)
from pygkd.engine.stages import evaluate_model, train_student
from pygkd.skeleton import get_layout

# A student without distillation, whose LQ input is synthesized from the stored HQ stream (ntu25 -> coco17).
RUN = [
    "device=cpu", "seed=3",
    "data.lq={stream: hq, transforms: [{name: SynthesizeLQ, target: coco17, severity: mild}, "
    "{name: FixLength, length: 8, mode: uniform}, {name: Normalize, coords: 2}]}",
    "model.student={backbone: stgcn, channels: [8, 8, 16], strides: [1, 2, 1], temporal_kernel: 3}",
    "student.loss=none", "student.epochs=1", "student.batch_size=8", "student.milestones=[1]",
    "eval.batch_size=7",  # batches of eval and predict differ: the logits must not depend on them
]


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    cfg = load_config("base", [*RUN, f"data.prepared={tiny_data}", f"out={tmp_path_factory.mktemp('run')}"])
    train_student(cfg)
    return cfg, f"{cfg['out']}/student/{ckpt.BEST}"


@pytest.mark.parametrize("frames, window, stride, expected", [
    (100, None, None, [(0, 100)]),
    (100, 32, 16, [(0, 32), (16, 48), (32, 64), (48, 80), (64, 96)]),  # 96..99 uncovered (< stride)
    (100, 30, None, [(0, 30), (30, 60), (60, 90)]),  # stride defaults to the window
    (65, 64, 1, [(0, 64), (1, 65)]),
    (64, 64, 8, [(0, 64)]),
    (20, 32, 4, [(0, 20)]),  # shorter than a window: the whole clip, once
])
def test_window_bounds(frames, window, stride, expected):
    assert window_bounds(frames, window, stride) == expected


def test_window_bounds_refuses_empty_windows():
    with pytest.raises(ValueError, match="window and stride must be >= 1"):
        window_bounds(10, 0)


def test_top_classes_are_the_largest_softmax_probabilities():
    logits = torch.tensor([[2.0, 0.0, 1.0, -1.0], [0.0, 0.0, 0.0, 3.0]])
    e = np.exp([2.0, 0.0, 1.0, -1.0])
    (names, probs), (names2, probs2) = top_classes(logits, ["a", "b", "c", "d"], k=2)
    assert names == ["a", "c"] and np.allclose(probs, [e[0] / e.sum(), e[2] / e.sum()])
    assert names2[0] == "d" and sum(probs2) <= 1
    (names, probs), _ = top_classes(logits, ["a", "b", "c", "d"], k=9)  # k beyond K: all classes
    assert len(names) == 4 and sum(probs) == pytest.approx(1.0)


def test_predictions_of_prepared_samples_equal_eval(run, tiny_data, monkeypatch):
    cfg, path = run
    seen = []
    update = ClassificationMeter.update
    monkeypatch.setattr(ClassificationMeter, "update",
                        lambda self, logits, y: (seen.append(logits), update(self, logits, y)))
    report = evaluate_model(cfg, "student", split="test")
    eval_logits = torch.cat(seen)

    predictor = Predictor.load(path, batch_size=5)
    clips = list(open_input(tiny_data, predictor.card, split="test"))
    prepared = PreparedDataset(tiny_data)
    assert [c.index for c in clips] == prepared.split("test").tolist() and clips[0].layout == "ntu25"
    logits = predictor.logits([predictor.graph(c) for c in clips])
    assert torch.allclose(logits, eval_logits, atol=1e-5)
    predictions = list(predictor.predict(clips, top_k=3))
    top1 = np.mean([p.classes[0] == p.label for p in predictions])
    assert top1 == pytest.approx(report["top1"])
    assert [p.classes[0] for p in predictions] == [prepared.class_names[i] for i in logits.argmax(1)]


def test_input_already_in_the_network_layout_skips_the_layout_change(run, tiny_data):
    _, path = run
    predictor = Predictor.load(path)
    card = predictor.card
    assert input_chain(card, "ntu25", ("x", "y", "z")) == card.transforms
    assert input_chain(card, "coco17", ("x", "y", "score")) == card.layout_transforms
    assert input_chain(card, "body25", ("x", "y", "score")) == [
        {"name": "MapLayout", "target": "coco17", "score": True}, *card.layout_transforms]
    hq = next(open_input(tiny_data, card, split="test"))
    # the LQ skeleton that the stored chain synthesizes, handed over as if a pose estimator had written it
    raw = SkeletonData.from_keypoints(hq.keypoints, hq.layout, 0, hq.clip_id)
    raw.index = torch.tensor([hq.index])
    lq = build_transform(card.transforms[:1], seed=0)(raw).dense()[0].numpy()
    as_pose = Clip(hq.clip_id, lq, "coco17", index=hq.index)
    assert torch.allclose(predictor.logits([predictor.graph(as_pose)]), predictor.logits([predictor.graph(hq)]))


def test_npz_input_predicts_like_the_prepared_samples(run, tiny_data, tmp_path):
    _, path = run
    predictor = Predictor.load(path)
    prepared = PreparedDataset(tiny_data)
    test = prepared.split("test")[:4]
    keypoints = np.stack([prepared.keypoints("hq", int(i)) for i in test])  # [N, M, T, V, C], equal T
    np.savez(tmp_path / "clips.npz", labels=prepared.labels[test], class_names=np.array(prepared.class_names),
             sample_ids=np.array([prepared.sample_ids[i] for i in test]), hq_layout=np.array("ntu25"),
             hq_keypoints=keypoints, split_some=np.array([1, 3]))
    clips = list(open_input(tmp_path / "clips.npz", predictor.card))
    assert [c.clip_id for c in clips] == [prepared.sample_ids[i] for i in test]
    assert all(np.array_equal(c.keypoints, k) for c, k in zip(clips, keypoints))
    some = list(open_input(tmp_path / "clips.npz", predictor.card, split="some"))
    assert [c.index for c in some] == [1, 3]
    with pytest.raises(DataFormatError, match="no sample of split 'other'"):
        list(open_input(tmp_path / "clips.npz", predictor.card, split="other"))


def test_windows_of_a_clip_are_predicted_in_order(run, tiny_data):
    _, path = run
    predictor = Predictor.load(path)
    clip = next(open_input(tiny_data, predictor.card))  # 12 frames
    predictions = list(predictor.predict([clip], window=6, stride=3, top_k=2))
    assert [(p.start, p.end) for p in predictions] == [(0, 6), (3, 9), (6, 12)]
    assert all(len(p.classes) == 2 and p.label == clip.label for p in predictions)
    rows = list(csv_rows(predictions[:1]))
    assert rows[0][:5] == [clip.clip_id, 0, 6, clip.label, 1] and rows[1][4] == 2


def test_a_checkpoint_without_stored_preprocessing_is_refused(run, tmp_path):
    _, path = run
    state = ckpt.load_checkpoint(path)
    state["card"] = {k: v for k, v in state["card"].items() if k in ("role", "spec", "layout", "in_channels",
                                                                     "class_names")}
    ckpt.save_checkpoint(state, tmp_path / "old.pt")
    with pytest.raises(DataFormatError, match="old.pt: the checkpoint predates stored preprocessing"):
        Predictor.load(tmp_path / "old.pt")


def test_an_input_of_the_wrong_channels_is_named(run):
    _, path = run
    predictor = Predictor.load(path)
    clip = Clip("two-channels", np.ones((1, 8, 17, 2), np.float32), "coco17", ("x", "y"))
    with pytest.raises(DataFormatError, match="clip 'two-channels': coco17 keypoints with 2 channels give coco17 "
                                              "with 2 channels, but the network .* reads coco17 with 3 channels"):
        predictor.graph(clip)


def test_prediction_record():
    p = Prediction("c", 0, 8, ["wave", "nod"], [0.75, 0.125])
    assert p.to_dict() == {"clip": "c", "start": 0, "end": 8,
                           "top": [{"class": "wave", "probability": 0.75}, {"class": "nod", "probability": 0.125}]}


@pytest.mark.parametrize("layout", ["body25", "openpose18"])
def test_openpose_clips_are_mapped_to_a_coco17_network(run, tiny_data, layout):
    _, path = run
    predictor = Predictor.load(path)
    coco = get_layout("coco17")
    hq = next(open_input(tiny_data, predictor.card, split="test"))
    raw = SkeletonData.from_keypoints(hq.keypoints, hq.layout, 0, hq.clip_id)
    raw.index = torch.tensor([hq.index])
    lq = build_transform(predictor.card.transforms[:1], seed=0)(raw).dense()[0].numpy()  # [M, T, 17, 3]
    # the same persons as OpenPose writes them: COCO's joints by name, plus joints the network does not read
    target = get_layout(layout)
    openpose = np.random.default_rng(0).uniform(1, 2, (*lq.shape[:2], target.num_joints, 3)).astype(np.float32)
    for v, joint in enumerate(coco.joints):
        openpose[:, :, target.index(joint)] = lq[:, :, v]
    logits = predictor.logits([predictor.graph(Clip("op", openpose, layout)),
                               predictor.graph(Clip("coco", lq, "coco17"))])
    assert torch.allclose(logits[0], logits[1])


def test_an_input_layout_without_a_mapping_is_named(run):
    _, path = run
    predictor = Predictor.load(path)
    with pytest.raises(DataFormatError, match="clip 'penn': .*no joint mapping from layout 'penn13' to 'coco17'"):
        predictor.graph(Clip("penn", np.ones((1, 8, 13, 3), np.float32), "penn13"))
