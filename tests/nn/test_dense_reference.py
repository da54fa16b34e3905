"""pygkd's STGCN and EfficientGCN compute the same functions as the dense einsum twins of
benchmarks/backbone_speed.py (the formulation of ST-GCN / PYSKL / EfficientGCN) given the same weights:
network-level equivalence, and a check that the benchmark compares like with like."""
import argparse
import importlib.util
from pathlib import Path

import pytest
import torch

from pygkd.nn import FLOAT32
from pygkd.skeleton import get_layout

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "backbone_speed.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("backbone_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["coco17", "ntu25"])
def test_dense_references_agree_with_pygkd(bench, name, monkeypatch):
    monkeypatch.setitem(bench.PLANS, "tiny", ((8, 8, 16), (1, 2, 1)))
    models = bench.build_models(get_layout(name), argparse.Namespace(backbone="stgcn", plan="tiny", classes=5))
    x = bench.skeletons(3, 2, 8, get_layout(name).num_joints)
    x[0, 1] = 0.0  # a padded person
    errors = bench.check_agreement(models, x)
    assert max(errors.values()) < 1e-12, errors


def test_dense_efficientgcn_agrees_with_pygkd(bench):
    layout = get_layout("coco17")
    models = bench.build_models(layout, argparse.Namespace(backbone="efficientgcn", scale=0, classes=5))
    assert sum(isinstance(m, bench.DenseGraphLayer) for m in models["dense"].modules()) == 3 * 3 + 2
    x = bench.skeletons(3, 2, 8, layout.num_joints)
    x[0, 1] = 0.0
    errors = bench.check_agreement(models, x)
    assert max(errors.values()) < 1e-12, errors


def test_dense_reference_trains_to_the_same_gradients(bench, monkeypatch):
    monkeypatch.setitem(bench.PLANS, "tiny", ((8, 16), (1, 2)))
    models = bench.build_models(get_layout("penn13"), argparse.Namespace(backbone="stgcn", plan="tiny", classes=5))
    x, y = bench.skeletons(4, 1, 8, 13).double(), torch.tensor([0, 1, 2, 3])
    grads = {}
    for key in ("pygkd", "dense"):
        model = models[key].double()
        bench.train_step(model, x, y, FLOAT32)()
        grads[key] = {n: p.grad for n, p in model.named_parameters() if ".gcn." not in n}
    for n, g in grads["pygkd"].items():
        torch.testing.assert_close(grads["dense"][n], g)
