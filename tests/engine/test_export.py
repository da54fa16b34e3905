"""``pygkd export``: every backbone to ONNX and TorchScript, run by onnxruntime / torch.jit.load against
PyTorch at other batch and frame counts than the trace, the embedded card, the refusal of a broken export,
and the command end to end."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from pygkd.engine import export
from pygkd.engine.checkpoint import ModelCard, load_model, save_checkpoint
from pygkd.engine.export import (
    CARD_KEY, ExportError, check_export, export_checkpoint, onnx_runner, read_card, skeleton_like_input,
)
from pygkd.skeleton import get_layout

LAYOUT = get_layout("coco17")
CLASSES = ["wave", "kick", "sit"]
TINY = {  # a few channels and blocks: each ONNX export takes seconds
    "stgcn": {"backbone": "stgcn", "channels": [4, 8], "strides": [1, 2], "temporal_kernel": 3},
    "agcn": {"backbone": "stgcn", "layer": "agcn", "channels": [4, 8], "strides": [1, 2], "temporal_kernel": 3},
    "efficientgcn": {"backbone": "efficientgcn", "scale": 0, "stem_channels": 4, "blocks": [[4, 1, 1], [8, 2, 1]],
                     "fusion_stage": 1},
}
TRANSFORMS = [{"name": "FixLength", "length": 10, "mode": "uniform"}, {"name": "Normalize", "coords": 2}]
SHAPES = [(1, 10), (1, 17), (4, 10), (4, 17), (2, 3)]  # (batch, frames); the example has N=2, T=10


def write_checkpoint(path: Path, spec: dict) -> Path:
    """A student checkpoint of ``spec`` with random weights and batch-norm statistics (not the identity)."""
    torch.manual_seed(0)
    card = ModelCard("student", spec, LAYOUT, 3, CLASSES)
    model = card.build()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.running_mean.normal_(0, 0.3)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.2)
    config = {"data": {"lq": {"stream": "lq", "transforms": TRANSFORMS}}}
    save_checkpoint({"card": card.to_dict(), "model": model.state_dict(), "epoch": 7, "config": config}, path)
    return path


def inputs(n: int, t: int) -> np.ndarray:
    """Skeleton-like input with a padded person in sample 0 and missing joints, float32 [N, 2, T, 17, 3]."""
    return skeleton_like_input(LAYOUT, n, 2, t, 3, seed=n * 100 + t, coords=2).numpy()


def pytorch(checkpoint: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    model = load_model(checkpoint)[0]
    with torch.no_grad():
        out = model(torch.from_numpy(x))
    return out.logits.numpy(), out.feature.numpy()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    return {name: write_checkpoint(folder / f"{name}.pt", spec) for name, spec in TINY.items()}


@pytest.fixture(scope="module")
def onnx_files(checkpoints, tmp_path_factory) -> dict[str, Path]:
    """Each backbone exported to ONNX once (the exporter is the slow part of these tests)."""
    folder = tmp_path_factory.mktemp("onnx")
    return {name: export_checkpoint(path, "onnx", folder / f"{name}.onnx").path for name, path in checkpoints.items()}


@pytest.mark.parametrize("name", TINY)
def test_onnx_matches_pytorch_at_other_batch_and_frame_counts(name, checkpoints, onnx_files):
    session = onnxruntime.InferenceSession(str(onnx_files[name]), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x"]
    assert session.get_inputs()[0].shape[:3] == ["batch", "persons", "frames"]
    assert session.get_inputs()[0].shape[3:] == [17, 3]
    assert [o.name for o in session.get_outputs()] == ["logits", "feature"]
    for n, t in SHAPES:
        x = inputs(n, t)
        logits, feature = session.run(None, {"x": x})
        expected_logits, expected_feature = pytorch(checkpoints[name], x)
        assert logits.shape == (n, len(CLASSES))
        np.testing.assert_allclose(logits, expected_logits, rtol=0, atol=1e-4)
        np.testing.assert_allclose(feature, expected_feature, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", TINY)
def test_torchscript_matches_pytorch_at_other_batch_and_frame_counts(name, checkpoints, tmp_path):
    report = export_checkpoint(checkpoints[name], "torchscript", tmp_path / "net.pt")
    assert report.max_difference < 1e-4 and len(report.differences) == 4
    module = torch.jit.load(str(report.path))
    for n, t in SHAPES:
        x = inputs(n, t)
        with torch.no_grad():
            logits, feature = (y.numpy() for y in module(torch.from_numpy(x)))
        expected_logits, expected_feature = pytorch(checkpoints[name], x)
        np.testing.assert_allclose(logits, expected_logits, rtol=0, atol=1e-4)
        np.testing.assert_allclose(feature, expected_feature, rtol=0, atol=1e-4)


def test_card_readable_without_pygkd(onnx_files, checkpoints, tmp_path):
    session = onnxruntime.InferenceSession(str(onnx_files["stgcn"]), providers=["CPUExecutionProvider"])
    card = json.loads(session.get_modelmeta().custom_metadata_map[CARD_KEY])
    assert card["class_names"] == CLASSES
    assert card["layout"]["name"] == "coco17" and card["layout"]["joints"] == list(LAYOUT.joints)
    assert card["input"]["shape"] == ["batch", "persons", "frames", 17, 3]
    assert card["input"]["example_frames"] == 10
    assert card["input"]["min_frames"] == 3  # stride 2 once: torch.export keeps T' = (T + 1) // 2 >= 2
    assert card["preprocessing"] == TRANSFORMS  # the student's stream in the checkpoint's config
    assert card["epoch"] == 7

    path = export_checkpoint(checkpoints["stgcn"], "torchscript", tmp_path / "net.pt").path
    files = {f"{CARD_KEY}.json": ""}
    torch.jit.load(str(path), _extra_files=files)
    torchscript_card = {**card, "input": {**card["input"], "min_frames": None}}  # only ONNX knows a lower bound
    assert read_card(path) == json.loads(files[f"{CARD_KEY}.json"]) == torchscript_card
    assert read_card(onnx_files["stgcn"]) == card


def test_check_refuses_a_wrong_onnx_session_output(onnx_files, checkpoints, monkeypatch):
    net = export.InferenceNetwork(load_model(checkpoints["agcn"])[0]).eval()
    card = load_model(checkpoints["agcn"])[1]
    run = onnx_runner(onnx_files["agcn"])
    assert max(check_export(run, net, export.check_inputs(card, 10)).values()) < 1e-4
    real = onnxruntime.InferenceSession.run
    monkeypatch.setattr(onnxruntime.InferenceSession, "run",
                        lambda self, *args: [y + 2e-4 for y in real(self, *args)])
    with pytest.raises(ExportError, match=r"^on random N=2 T=10: max abs difference of the logits to PyTorch "
                                          r"0.0002 \(tolerance 0.0001\)$"):
        check_export(run, net, export.check_inputs(card, 10))


def test_check_refuses_an_export_that_fails_to_run(checkpoints):
    model, card, _ = load_model(checkpoints["stgcn"])

    def fails_at_other_frames(x):
        if x.shape[2] != 10:
            raise RuntimeError("MatMul: right operand cannot broadcast on dim 0\n(node_bmm)")
        return export.InferenceNetwork(model)(torch.from_numpy(x))[0].detach().numpy()

    with pytest.raises(ExportError, match=r"^on random N=1 T=8: the export fails to run \(RuntimeError: MatMul: "
                                          r"right operand cannot broadcast on dim 0\)$"):
        check_export(fails_at_other_frames, export.InferenceNetwork(model).eval(), export.check_inputs(card, 10))


def test_refused_export_leaves_no_file(checkpoints, tmp_path, monkeypatch):
    write, runner = export.WRITERS["torchscript"]

    def off_on_padding(path):  # wrong only where a person is padding: the check's skeleton-like input
        run = runner(path)
        return lambda x: run(x) + (x.reshape(len(x), x.shape[1], -1) == 0).all(-1).any(-1, keepdims=True)

    monkeypatch.setitem(export.WRITERS, "torchscript", (write, off_on_padding))
    out = tmp_path / "net.pt"
    with pytest.raises(ExportError) as err:
        export_checkpoint(checkpoints["stgcn"], "torchscript", out)
    assert str(err.value) == (f"{checkpoints['stgcn']}: the torchscript export does not match PyTorch on skeleton "
                              "N=2 T=17 padded person: max abs difference of the logits to PyTorch 1 (tolerance "
                              "0.0001); no file written")
    assert list(tmp_path.iterdir()) == []


def test_exporter_failure_is_one_line_and_leaves_no_file(checkpoints, tmp_path, monkeypatch):
    def fails(net, example, path, card):
        path.write_bytes(b"half a file")
        try:
            raise KeyError("aten::unknown_op")
        except KeyError as cause:
            raise RuntimeError("Failed to convert.\nSee the log.") from cause

    monkeypatch.setitem(export.WRITERS, "onnx", (fails, onnx_runner))
    with pytest.raises(ExportError, match=r"onnx export failed: KeyError: 'aten::unknown_op'$"):
        export_checkpoint(checkpoints["stgcn"], "onnx", tmp_path / "net.onnx")
    assert list(tmp_path.iterdir()) == []


def test_skeleton_like_input_is_a_normalised_skeleton():
    x = skeleton_like_input(LAYOUT, 2, 2, 5, 3, seed=1, coords=2)
    assert x.shape == (2, 2, 5, 17, 3)
    assert x[0, 1].abs().max() == 0 and x[1, 1].abs().max() > 0  # sample 0's second person is padding
    present = x[..., :2].ne(0).any(-1)
    assert 0.8 < present[1].float().mean() < 1.0  # about 10 % of the joints missing
    for i, j in LAYOUT.bones:
        both = present[..., i] & present[..., j]
        length = (x[..., i, :2] - x[..., j, :2]).norm(dim=-1)[both]
        torch.testing.assert_close(length, torch.ones_like(length))  # unit bones
    score = x[..., 2][present]
    assert score.min() >= 0.3 and score.max() <= 1.0


def test_cli_export_end_to_end(checkpoints, tmp_path, monkeypatch):
    out = tmp_path / "student.pt"
    result = CliRunner().invoke(main, ["export", str(checkpoints["efficientgcn"]), "--format", "torchscript",
                                       "--out", str(out), "--frames", "12"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out} (torchscript): logits within ")
    assert read_card(out)["input"]["example_frames"] == 12
    x = inputs(2, 9)
    logits = torch.jit.load(str(out))(torch.from_numpy(x))[0].detach().numpy()
    np.testing.assert_allclose(logits, pytorch(checkpoints["efficientgcn"], x)[0], rtol=0, atol=1e-4)

    write, runner = export.WRITERS["torchscript"]
    monkeypatch.setitem(export.WRITERS, "torchscript", (write, lambda path: lambda x: runner(path)(x) * 2 + 1))
    refused = CliRunner().invoke(main, ["export", str(checkpoints["stgcn"]), "--format", "torchscript",
                                        "--out", str(tmp_path / "bad.pt")])
    assert refused.exit_code == 1
    assert refused.output.count("\n") == 1
    assert refused.output.startswith("Error: ") and "does not match PyTorch on random N=2 T=10" in refused.output
    assert not (tmp_path / "bad.pt").exists()

    bad = tmp_path / "not_a_checkpoint.pt"
    bad.write_bytes(b"junk")
    result = CliRunner().invoke(main, ["export", str(bad), "--format", "onnx", "--out", str(tmp_path / "x.onnx")])
    assert result.exit_code == 1 and result.output.startswith(f"Error: {bad}: not a readable pygkd checkpoint")
    result = CliRunner().invoke(main, ["export", str(bad), "--format", "tflite", "--out", "x"])
    assert result.exit_code == 2 and "'tflite' is not one of 'onnx', 'torchscript'" in result.output


def usage_snippet() -> str:
    """The Python block of the Export section of docs/usage.md."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "usage.md").read_text()
    section = text[text.index("## Export"):]
    return section[section.index("```python\n") + 10: section.index("```\n", section.index("```python"))]


@pytest.mark.parametrize("frames, missing_centre", [(23, False), (6, True)])  # uniform sampling down / up
def test_usage_snippet_equals_pygkd_preprocessing_and_prediction(frames, missing_centre, onnx_files, checkpoints):
    from torch_geometric.transforms import Compose

    from pygkd.data.skeleton_data import SkeletonData
    from pygkd.data.transforms import FixLength, Normalize, keypoints_of

    snippet = usage_snippet().replace('"student.onnx"', repr(str(onnx_files["stgcn"])))
    namespace: dict = {}
    exec(compile(snippet, "docs/usage.md", "exec"), namespace)  # numpy and onnxruntime only
    g = torch.Generator().manual_seed(frames)
    keypoints = torch.rand(2, frames, 17, 3, generator=g) * 400  # pixels and scores, a second person
    keypoints[1, :, 4] = 0  # a missing joint
    if missing_centre:
        keypoints[:, :, LAYOUT.center] = 0
    numpy_x = keypoints.numpy()
    for step in TRANSFORMS:
        numpy_x = namespace[{"FixLength": "fix_length", "Normalize": "normalize"}[step["name"]]](
            numpy_x, **{k: v for k, v in step.items() if k != "name"})
    data = Compose([FixLength(10, mode="uniform"), Normalize(coords=2)])(
        SkeletonData.from_keypoints(keypoints, LAYOUT, 0))
    expected = keypoints_of(data)
    np.testing.assert_allclose(numpy_x, expected.numpy(), rtol=1e-5, atol=1e-5)
    logits = load_model(checkpoints["stgcn"])[0](expected[None]).logits
    assert namespace["predict"](keypoints.numpy()) == CLASSES[int(logits.argmax())]


def test_card_carries_the_checkpoints_stored_chain(tmp_path):
    chain = [{"name": "FixLength", "length": 12, "mode": "pad"}, {"name": "Normalize", "coords": 2}]
    synthesis = {"name": "SynthesizeLQ", "target": "coco17", "seed": 3}
    card = ModelCard("student", TINY["stgcn"], LAYOUT, 3, CLASSES, stream="hq", stream_layout=get_layout("ntu25"),
                     stream_channels=["x", "y", "z"], transforms=[synthesis, *chain], layout_transforms=chain)
    config = {"data": {"lq": {"transforms": TRANSFORMS}}}  # the card's chain wins over the config's
    path = tmp_path / "student.pt"
    save_checkpoint({"card": card.to_dict(), "model": card.build().state_dict(), "epoch": 1, "config": config}, path)
    exported = read_card(export_checkpoint(path, "torchscript", tmp_path / "net.pt").path)
    assert exported["preprocessing"] == chain
    assert exported["stream"] == {"name": "hq", "layout": "ntu25", "channels": ["x", "y", "z"],
                                  "transforms": [synthesis, *chain]}
    assert exported["input"]["example_frames"] == 12
