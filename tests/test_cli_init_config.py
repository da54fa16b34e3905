"""``pygkd init-config``: the template of a prepared dataset is a valid config that ``pygkd pipeline`` runs."""
import dataclasses

import pytest
import yaml
from click.testing import CliRunner

from cli.main import main
from pygkd.data.readers import get_reader
from pygkd.data.store import prepare
from pygkd.engine.config import load_config


def prepared(path, keep=("hq", "lq"), splits=None):
    """The synthetic dataset (11 classes x 2 train + 1 test, 12 frames) with only the streams ``keep``."""
    raw = get_reader("synthetic")(None, train_per_class=2, test_per_class=1, frames=12)

    def samples():
        for s in raw.samples():
            yield dataclasses.replace(s, streams={k: v for k, v in s.streams.items() if k in keep},
                                      splits=splits.get(s.splits[0], s.splits) if splits else s.splits)

    return prepare(dataclasses.replace(raw, streams={k: raw.streams[k] for k in keep}, samples=samples), path,
                   progress=False)


def template(data, out):
    result = CliRunner().invoke(main, ["init-config", "--prepared", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(out.read_text())


def test_a_dataset_with_both_streams(tmp_path):
    data = prepared(tmp_path / "both")
    cfg = template(data, tmp_path / "both.yaml")
    assert cfg["data"]["prepared"] == str(data.resolve())
    assert (cfg["data"]["train_split"], cfg["data"]["test_split"], cfg["data"]["val_split"]) == ("train", "test", None)
    assert cfg["data"]["val_fraction"] == 0.1  # the checkpoint is picked on a held-out share of train
    assert cfg["data"]["hq"] == {"stream": "hq", "transforms": [
        {"name": "KeepPersons", "num_persons": 1}, {"name": "FixLength", "length": 12, "mode": "uniform"},
        {"name": "Normalize", "coords": 3}]}
    assert cfg["data"]["lq"]["stream"] == "lq" and cfg["data"]["lq"]["transforms"][-1] == {"name": "Normalize",
                                                                                             "coords": 2}
    text = (tmp_path / "both.yaml").read_text()
    assert "stored stream hq: layout ntu25 (25 joints), channels x, y, z, up to 1 person(s)" in text
    assert "the dataset's splits: test (11), train (22)" in text
    load_config(tmp_path / "both.yaml")  # validates against configs/base.yaml
    result = CliRunner().invoke(main, ["init-config", "--prepared", str(data), "--out", str(tmp_path / "both.yaml")])
    assert result.exit_code == 1 and "both.yaml exists" in result.output


@pytest.mark.slow
def test_an_hq_only_dataset_gets_synthesized_lq_and_the_pipeline_runs_it(tmp_path):
    data = prepared(tmp_path / "hq_only", keep=("hq",))
    cfg = template(data, tmp_path / "hq_only.yaml")
    lq = cfg["data"]["lq"]
    assert lq["stream"] == "hq" and lq["transforms"] == [
        {"name": "SynthesizeLQ", "target": "coco17", "severity": "moderate", "source_dims": 3},
        {"name": "KeepPersons", "num_persons": 1}, {"name": "FixLength", "length": 12, "mode": "uniform"},
        {"name": "Normalize", "coords": 2}]
    assert "needs\n    # 3D camera-frame metres" in (tmp_path / "hq_only.yaml").read_text()
    result = CliRunner().invoke(main, ["pipeline", "--config", str(tmp_path / "hq_only.yaml"), "--out",
                                       str(tmp_path / "run"), "--device", "cpu", "--epochs", "1", "--no-baseline"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "student (pmsc)" in result.output and (tmp_path / "run" / "student" / "checkpoint_best.pt").is_file()


def test_an_lq_only_dataset_lets_the_teacher_read_lq(tmp_path):
    cfg = template(prepared(tmp_path / "lq_only", keep=("lq",)), tmp_path / "lq_only.yaml")
    assert cfg["data"]["hq"]["stream"] == cfg["data"]["lq"]["stream"] == "lq"
    assert "# no HQ stream: the teacher reads the LQ skeletons too" in (tmp_path / "lq_only.yaml").read_text()
    load_config(tmp_path / "lq_only.yaml")


def test_split_names_are_found_or_the_error_lists_them(tmp_path):
    cfg = template(prepared(tmp_path / "named", splits={"train": ("xsub_train",), "test": ("xsub_test",)}),
                   tmp_path / "named.yaml")
    assert (cfg["data"]["train_split"], cfg["data"]["test_split"]) == ("xsub_train", "xsub_test")
    data = prepared(tmp_path / "odd", splits={"train": ("a",), "test": ("b",)})
    result = CliRunner().invoke(main, ["init-config", "--prepared", str(data)])
    assert result.exit_code == 1
    assert "odd: no training split (a split named like 'train'); its splits: ['a', 'b']" in result.output
