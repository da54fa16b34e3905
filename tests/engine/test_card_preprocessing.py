"""The checkpoint's card carries the input chain of its network; eval uses it, and older cards still load."""
import warnings

import pytest
import torch

from pygkd.data.dataset import SkeletonDataset
from pygkd.data.store import PreparedDataset
from pygkd.engine import checkpoint as ckpt
from pygkd.engine.build import describe_transforms, model_card
from pygkd.engine.stages import evaluate_model, train_student
from pygkd.skeleton import get_layout

SYNTHESIZED_LQ = (
    "data.lq={stream: hq, transforms: [{name: SynthesizeLQ, target: coco17, severity: mild}, "
    "{name: FixLength, length: 8, mode: uniform}, {name: Normalize, coords: 2}]}"
)
OLD_KEYS = ("stream", "stream_layout", "stream_channels", "transforms", "layout_transforms")


def test_card_roundtrip_through_a_weights_only_checkpoint(tmp_path):
    chain = [{"name": "FixLength", "length": 8, "mode": "uniform"}, {"name": "Normalize", "coords": 2}]
    card = ckpt.ModelCard(
        "student", {"backbone": "stgcn"}, get_layout("coco17"), 3, ["a", "b"], stream="hq",
        stream_layout=get_layout("ntu25"), stream_channels=["x", "y", "z"],
        transforms=[{"name": "SynthesizeLQ", "target": "coco17", "seed": 4}, *chain], layout_transforms=chain,
    )
    ckpt.save_checkpoint({"card": card.to_dict()}, tmp_path / "c.pt")
    back = ckpt.ModelCard.from_dict(ckpt.load_checkpoint(tmp_path / "c.pt")["card"])
    assert back == card and back.has_preprocessing and back.stream_layout is get_layout("ntu25")


def test_a_card_without_preprocessing_loads_as_before():
    old = {"role": "teacher", "spec": {"backbone": "stgcn"}, "layout": get_layout("ntu25").to_dict(),
           "in_channels": 3, "class_names": ["a"]}
    card = ckpt.ModelCard.from_dict(old)
    assert not card.has_preprocessing and card.transforms is None and card.stream is None
    assert card.to_dict() == {**old, "precision": "float32"}  # written back with only the precision added


def test_model_card_stores_the_resolved_chain_and_its_part_after_the_layout_change(tiny_config, tiny_data):
    cfg = tiny_config(SYNTHESIZED_LQ, "seed=5")
    prepared = PreparedDataset(tiny_data)
    card = model_card(cfg, "student", SkeletonDataset(prepared, prepared.split("test"), "hq"))
    assert (card.layout.name, card.in_channels) == ("coco17", 3)  # after the synthesis
    assert (card.stream, card.stream_layout.name, card.stream_channels) == ("hq", "ntu25", ["x", "y", "z"])
    assert card.transforms[0] == {"name": "SynthesizeLQ", "target": "coco17", "severity": "mild", "seed": 5}
    assert card.layout_transforms == [{"name": "FixLength", "length": 8, "mode": "uniform", "seed": 5},
                                      {"name": "Normalize", "coords": 2}]

    plain = model_card(tiny_config(), "teacher", SkeletonDataset(prepared, prepared.split("test"), "hq"))
    assert plain.layout_transforms == plain.transforms == [
        {"name": "FixLength", "length": 8, "mode": "uniform", "seed": 0}, {"name": "Normalize", "coords": 3}]


def test_describe_transforms():
    chain = [{"name": "FixLength", "length": 32, "mode": "uniform"}, {"name": "Normalize", "coords": 2}]
    assert describe_transforms(chain) == "FixLength(length=32, mode=uniform) > Normalize(coords=2)"
    assert describe_transforms([]) == "none"


def _strip_preprocessing(path):
    state = ckpt.load_checkpoint(path)
    state["card"] = {k: v for k, v in state["card"].items() if k not in OLD_KEYS}
    ckpt.save_checkpoint(state, path)


def test_eval_uses_the_card_chain_and_falls_back_to_the_config_for_older_checkpoints(tiny_config, tmp_path):
    cfg = tiny_config(SYNTHESIZED_LQ, "student.loss=none", "student.epochs=1")
    train_student(cfg)
    best = tmp_path / "run" / "student" / ckpt.BEST
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the config's chain equals the card's: nothing to say
        same = evaluate_model(cfg, "student")
    assert same["preprocessing"] == "checkpoint"

    # A config that shortens the clips and reads the stored LQ stream: the card still decides.
    other = tiny_config("data.lq.transforms=[{name: FixLength, length: 4}, {name: Normalize, coords: 2}]")
    with pytest.warns(UserWarning) as caught:
        report = evaluate_model(other, "student", checkpoint=best)
    message = str(caught[0].message)
    assert "\n" not in message and "using the checkpoint's preprocessing (hq: SynthesizeLQ(" in message
    assert "not the config's data.lq (lq: FixLength(length=4, seed=0) > Normalize(coords=2))" in message
    assert report["confusion"] == same["confusion"]

    old = tmp_path / "old.pt"
    old.write_bytes(best.read_bytes())
    _strip_preprocessing(old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        legacy = evaluate_model(cfg, checkpoint=old)
    assert legacy["preprocessing"] == "config" and legacy["confusion"] == same["confusion"]
    model, card, _ = ckpt.load_model(old)
    assert not card.has_preprocessing and isinstance(model, torch.nn.Module)
