from pathlib import Path

import pytest

from pygkd.engine.config import ConfigError, available_configs, config_dir, load_config


def write(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def child(tmp_path):
    """A config inheriting the shipped base through a local parent."""
    write(tmp_path / "parent.yaml",
          "defaults: base\nteacher: {epochs: 7, lr: 0.05}\nmodel: {teacher: {channels: [8]}}\n")
    return write(tmp_path / "child.yaml", "defaults: parent\nteacher: {epochs: 3}\n")


def test_inheritance_merges_mappings_key_by_key(child):
    cfg = load_config(child)
    assert cfg["teacher"]["epochs"] == 3  # child wins
    assert cfg["teacher"]["lr"] == 0.05  # parent kept
    assert cfg["teacher"]["momentum"] == 0.9  # base kept
    assert cfg["model"]["teacher"] == {"backbone": "stgcn", "channels": [8]}  # free-form trees merge too
    assert cfg["name"] == "child" and cfg["out"] == "runs/child"


def test_a_spec_naming_another_backbone_replaces_the_old_spec(child, tmp_path):
    cfg = load_config(child, ["model.teacher={backbone: efficientgcn, scale: 0}", "model.student={dropout: 0.1}"])
    assert cfg["model"]["teacher"] == {"backbone": "efficientgcn", "scale": 0}  # no stale 'channels'
    assert cfg["model"]["student"] == {"backbone": "stgcn", "dropout": 0.1}  # same backbone: merged
    same = load_config(child, ["model.teacher={backbone: stgcn, strides: [1]}"])
    assert same["model"]["teacher"] == {"backbone": "stgcn", "channels": [8], "strides": [1]}
    grandchild = write(tmp_path / "g.yaml", "defaults: child\nmodel: {teacher: {backbone: efficientgcn}}\n")
    assert load_config(grandchild)["model"]["teacher"] == {"backbone": "efficientgcn"}


def test_overrides_are_dotted_and_parsed_as_yaml(child):
    cfg = load_config(child, ["student.alpha=2", "teacher.milestones=[2, 4]", "data.val_split=null",
                              "model.student.channels=[4, 8]", "teacher={lr: 0.2}", "name=x"])
    assert cfg["student"]["alpha"] == 2 and cfg["teacher"]["milestones"] == [2, 4]
    assert cfg["model"]["student"] == {"backbone": "stgcn", "channels": [4, 8]}
    assert cfg["teacher"]["lr"] == 0.2 and cfg["teacher"]["epochs"] == 3  # a mapping merges, as in a file
    assert cfg["out"] == "runs/x"
    with pytest.raises(ConfigError, match=r"--set: teacher\.lr: expected a number"):
        load_config(child, ["teacher={lr: fast}"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("teacher.epoch=3", r"--set: teacher\.epoch: unknown key"),
        ("teacher.epochs=abc", r"--set: teacher\.epochs: expected a positive integer, got 'abc'"),
        ("teacher.epochs=0", "positive integer"),
        ("teacher.lr=true", r"teacher\.lr: expected a number"),
        ("student.loss=mse", r"student\.loss: expected one of \['none', 'kl', 'global_msc', 'pmsc'\]"),
        ("student.cache_teacher=1", "student.cache_teacher: expected one of"),
        ("student.bank=0", r"student\.bank: expected null \(the batch's HQ rows\), all or a positive number"),
        ("student.bank=true", r"student\.bank: expected null"),
        ("student.phi_temperature=0", r"student\.phi_temperature: expected a number > 0 or learned, got 0"),
        ("student.phi_temperature=learn", r"student\.phi_temperature: expected a number > 0 or learned"),
        ("student.part_head=deep", r"student\.part_head: expected one of \['none', 'linear', 'mlp'\]"),
        ("student.occlusion_weight=1", r"student\.occlusion_weight: expected one of \[False, True\]"),
        ("eval.occlusion_protocol=clip_redraw",
         r"eval\.occlusion_protocol: expected one of \['clip', 'frame', 'span'\], got 'clip_redraw'"),
        ("eval.occlusion_span=0.5", r"eval\.occlusion_span: expected a number in \[1.0, inf\], got 0.5"),
        ("student.hq_fraction=0", r"expected a number in \(0.0, 1.0\]"),
        ("teacher.milestones=[40, 30]", "increasing"),
        ("device=gpu", "expected auto, cpu, cuda or cuda:N"),
        ("threads=-1", r"threads: expected an integer >= 0, got -1"),
        ("data.hq.transforms=[FixLength]", r"data\.hq\.transforms: expected a list of \{name"),
        ("data=3", "data: expected a mapping"),
        ("teacher", "expected key=value"),
    ],
)
def test_bad_overrides_name_the_key(child, override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(child, [override])


def test_bad_file_keys_name_the_file_that_set_them(tmp_path):
    bad = write(tmp_path / "bad.yaml", "defaults: base\nstudent: {alpah: 1}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: student\.alpah: unknown key; known keys here: \[.*'alpha'"):
        load_config(bad)
    typed = write(tmp_path / "typed.yaml", "defaults: base\nseed: zero\n")
    with pytest.raises(ConfigError, match=r"typed\.yaml: seed: expected an integer, got 'zero'"):
        load_config(typed)


def test_broken_files(tmp_path):
    yaml_error = write(tmp_path / "broken.yaml", "defaults: base\nteacher: {epochs: [1,\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: line \d+: invalid YAML"):
        load_config(yaml_error)
    with pytest.raises(ConfigError, match="list.yaml: expected a mapping"):
        load_config(write(tmp_path / "list.yaml", "- 1\n"))
    write(tmp_path / "a.yaml", "defaults: b\n")
    with pytest.raises(ConfigError, match="'defaults' cycle"):
        load_config(write(tmp_path / "b.yaml", "defaults: a\n"))
    with pytest.raises(ConfigError, match="no config 'nowhere'"):
        load_config(write(tmp_path / "orphan.yaml", "defaults: nowhere\n"))
    with pytest.raises(ConfigError, match=r"no config 'demo_typo'; shipped configs: \[.*'demo'"):
        load_config("demo_typo")


def test_every_shipped_config_loads_and_is_found_from_any_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    names = available_configs()
    assert {"base", "demo"} <= set(names)
    for name in names:
        cfg = load_config(name)
        assert cfg["name"] == name
    assert (config_dir() / "demo.yaml").is_file()


def test_config_dir_falls_back_to_the_copy_a_wheel_installs(monkeypatch, tmp_path):
    import sysconfig

    from pygkd.engine import config

    monkeypatch.setattr(config, "__file__", str(tmp_path / "site-packages" / "pygkd" / "engine" / "config.py"))
    assert config.config_dir() == Path(sysconfig.get_path("data")) / "share" / "pygkd" / "configs"


def test_the_wheel_ships_every_folder_of_configs():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[2]
    data_files = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    shipped = {Path(pattern).parent for patterns in data_files.values() for pattern in patterns}
    folders = {p.parent.relative_to(root) for p in (root / "configs").rglob("*.yaml")}
    assert folders == shipped
    for target, patterns in data_files.items():
        assert all(Path(target) == Path("share/pygkd") / Path(p).parent for p in patterns)


def test_pmsc_variants_need_the_pmsc_loss(child):
    with pytest.raises(ConfigError, match=r"--set: student\.part_head: a variant of the pmsc loss \(off: 'none'\), "
                                          "but student.loss is kl"):
        load_config(child, ["student.loss=kl", "student.part_head=mlp"])
    cfg = load_config(child, ["student.loss=none", "student.bank=all", "student.phi_temperature=learned"])
    assert (cfg["student"]["bank"], cfg["student"]["phi_temperature"]) == ("all", "learned")  # unused w/o KD
    defaults = load_config(child)["student"]
    assert [defaults[k] for k in ("bank", "phi_temperature", "part_head", "occlusion_weight")] == [None, 1.0, "none",
                                                                                                    False]
