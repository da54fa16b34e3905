"""A user's own MessagePassing layer, in a module of its own, plugged in by dotted path: the example of
docs/extending.md is run as written."""
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pygkd.nn import LAYERS, build_backbone, register_layer, resolve_layer, resolve_precision
from pygkd.skeleton import get_layout

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending.md"


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """The first Python block of the doc's "Custom MessagePassing layer" section, saved as my_layers.py."""
    section = DOC.read_text().split("## Custom MessagePassing layer", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "my_layers.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_layers"


@pytest.mark.parametrize("amp", ["off", "bf16"])
def test_user_layer_trains_one_step(user_module, amp):
    torch.manual_seed(0)
    layout = get_layout("coco17")
    spec = {"layer": f"{user_module}:MeanNeighbourConv", "channels": [8, 16], "strides": [1, 2]}
    model = build_backbone(spec, layout, in_channels=3, num_classes=4)
    assert all(type(b.gcn).__name__ == "MeanNeighbourConv" for b in model.blocks)

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with resolve_precision(amp, torch.device("cpu")).autocast():  # the doc's layer works under bfloat16 too
        out = model(torch.randn(4, 2, 8, 17, 3))
    loss = F.cross_entropy(out.logits.float(), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        if name.endswith("gcn.lin_self.bias"):  # batch norm follows the layer and cancels a constant shift
            assert p.grad.abs().max() < (1e-6 if amp == "off" else 1e-3)  # up to bfloat16 rounding
        else:
            assert not torch.equal(p, before[name]), f"{name} did not move"


def test_user_layer_by_dotted_module_path_and_registration(user_module):
    cls = resolve_layer(f"{user_module}.MeanNeighbourConv")
    try:
        register_layer("mean_neighbour")(cls)
        assert resolve_layer("mean_neighbour") is cls
        model = build_backbone({"layer": "mean_neighbour", "channels": [4], "strides": [1]}, get_layout("penn13"), 3, 2)
        assert model(torch.randn(1, 1, 5, 13, 3)).part.shape == (1, 5, 4)
    finally:
        LAYERS.pop("mean_neighbour", None)


def test_a_name_cannot_be_registered_twice_for_different_classes(user_module):
    with pytest.raises(ValueError, match="'stgcn' is already registered"):
        register_layer("stgcn")(resolve_layer(f"{user_module}:MeanNeighbourConv"))
    with pytest.raises(TypeError, match="not a subclass of MessagePassing"):
        register_layer("linear")(torch.nn.Linear)
