"""Building a run from a config: which samples each stage trains on, transforms, teacher caching."""
import numpy as np
import pytest
from torch_geometric.transforms import Compose

from pygkd.data.store import PreparedDataset
from pygkd.data.transforms import FixLength, Normalize, OccludeJoints
from pygkd.engine import build
from pygkd.engine.config import ConfigError, available_configs, load_config
from pygkd.engine.stages import use_teacher_cache


def test_hq_fraction_keeps_a_seeded_share_of_every_class(tiny_config):
    cfg = tiny_config("student.hq_fraction=0.5")
    prepared = PreparedDataset(cfg["data"]["prepared"])
    samples = build.TrainingSamples.of(cfg, prepared)
    assert np.array_equal(samples.indices, prepared.split("train"))
    labels = prepared.labels[samples.indices]
    # 4 training samples per class, half of them keep their HQ match
    assert np.bincount(labels[samples.paired]).tolist() == [2] * len(prepared.class_names)
    again = build.TrainingSamples.of(tiny_config("student.hq_fraction=0.5"), prepared)
    assert np.array_equal(again.paired, samples.paired)

    teacher, paired = samples.for_role("teacher", use_solitary=True)
    assert np.array_equal(teacher, samples.indices[samples.paired]) and paired.all()
    student, paired = samples.for_role("student", use_solitary=True)
    assert np.array_equal(student, samples.indices) and np.array_equal(paired, samples.paired)
    paired_only, _ = samples.for_role("student", use_solitary=False)
    assert np.array_equal(paired_only, teacher)


def test_transforms_are_built_by_name_with_the_run_seed():
    transform = build.build_transform([{"name": "FixLength", "length": 8, "mode": "uniform", "training": True},
                                       {"name": "OccludeJoints", "p": 0.3, "seed": 5}], seed=9)
    fix, occlude = transform.transforms
    assert isinstance(transform, Compose) and isinstance(fix, FixLength) and isinstance(occlude, OccludeJoints)
    assert (fix.length, fix.seed, occlude.seed) == (8, 9, 5)  # the run seed unless given
    assert build.build_transform([], seed=0) is None
    by_path = build.build_transform([{"name": "pygkd.data.transforms:Normalize", "coords": 2}], seed=0)
    assert isinstance(by_path.transforms[0], Normalize)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "Flip"}, r"transform #0 'Flip': not a transform"),
        ({"name": "FixLength", "lenght": 8}, r"transform #0 FixLength: .*lenght"),
        ({"name": "FixLength", "mode": "crop"}, r"transform #0 FixLength: mode must be one of"),
        ({"name": "nowhere.module:Thing"}, r"transform #0 'nowhere.module:Thing': cannot import"),
    ],
)
def test_bad_transforms_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        build.build_transform([spec], seed=0)


def test_a_validation_fraction_is_held_out_of_the_training_split(tiny_config):
    cfg = tiny_config("data.val_fraction=0.25", "seed=3")
    prepared = PreparedDataset(cfg["data"]["prepared"])
    train, val = build.train_val_indices(cfg, prepared)
    everything = prepared.split("train")
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.sort(everything))
    assert not set(train) & set(val)
    # 4 training samples per class: one of each is held out, the same for every stage of the seed
    assert np.bincount(prepared.labels[val]).tolist() == [1] * len(prepared.class_names)
    assert np.array_equal(build.TrainingSamples.of(cfg, prepared).indices, train)
    assert np.array_equal(build.train_val_indices(tiny_config("data.val_fraction=0.25", "seed=3"), prepared)[1], val)
    assert not np.array_equal(build.train_val_indices(tiny_config("data.val_fraction=0.25", "seed=4"), prepared)[1],
                              val)
    # without a fraction: the whole training split, validated on the test split
    train, val = build.train_val_indices(tiny_config(), prepared)
    assert np.array_equal(train, everything) and np.array_equal(val, prepared.split("test"))
    with pytest.raises(ConfigError, match="data.val_fraction=0.25 holds out .* data.val_split='test' .* set only one"):
        build.train_val_indices(tiny_config("data.val_fraction=0.25", "data.val_split=test"), prepared)
    with pytest.raises(ConfigError, match=r"data.val_fraction: expected a number in \[0.0, 0.5\], got 0.9"):
        tiny_config("data.val_fraction=0.9")


def test_the_lq_validation_set_is_occluded_as_the_test_set(tiny_config):
    from pygkd.engine.stages import _val_set

    cfg = tiny_config("data.val_fraction=0.25", "eval.occlusion=0.3")
    prepared = PreparedDataset(cfg["data"]["prepared"])
    lq, hq = _val_set(cfg, prepared, "lq"), _val_set(cfg, prepared, "hq")
    assert isinstance(lq.transform.transforms[-1], OccludeJoints) and lq.transform.transforms[-1].p == 0.3
    assert not any(isinstance(s, OccludeJoints) for s in hq.transform.transforms)
    assert len(lq) == len(prepared.class_names)


def test_test_time_occlusion_is_the_last_step(tiny_config):
    cfg = tiny_config()
    steps = build.stream_transform(cfg, "lq", train=False, occlusion=0.3).transforms
    assert isinstance(steps[-1], OccludeJoints) and steps[-1].p == 0.3 and steps[-1].seed == cfg["seed"]
    assert not any(isinstance(s, OccludeJoints) for s in build.stream_transform(cfg, "lq", train=True).transforms)


def test_test_time_occlusion_follows_the_eval_protocol(tiny_config):
    clip = build.stream_transform_specs(tiny_config(), "lq", train=False, occlusion=0.3)[-1]
    assert clip == {"name": "OccludeJoints", "p": 0.3, "seed": 0}  # the spec of runs from before the protocols
    for protocol in ("frame", "span"):
        cfg = tiny_config(f"eval.occlusion_protocol={protocol}", "eval.occlusion_span=4")
        step = build.stream_transform(cfg, "lq", train=False, occlusion=0.3).transforms[-1]
        assert (step.p, step.protocol, step.span_length) == (0.3, protocol, 4 if protocol == "span" else 8)
    assert build.occlusion_specs(tiny_config("eval.occlusion_protocol=span"), 0.0) == []


def test_teacher_cache_choice(tiny_config):
    augmented = "data.hq.train_transforms=[{name: FixLength, length: 8, mode: uniform, training: true}]"
    assert use_teacher_cache(tiny_config())
    assert not use_teacher_cache(tiny_config(augmented))
    assert use_teacher_cache(tiny_config(augmented, "student.cache_teacher=true"))
    assert not use_teacher_cache(tiny_config("student.cache_teacher=false"))


def test_missing_data_and_splits_are_named(tiny_config, tmp_path):
    with pytest.raises(ConfigError, match="does not exist; run `pygkd prepare` first"):
        build.load_prepared(tiny_config(f"data.prepared={tmp_path / 'none'}", "data.reader=null"))
    cfg = tiny_config("data.train_split=xsub_train")
    expected = r"data\.train_split: .* has no split 'xsub_train'; its splits: \['test', 'train'\]"
    with pytest.raises(ConfigError, match=expected):
        build.TrainingSamples.of(cfg, PreparedDataset(cfg["data"]["prepared"]))


def test_every_shipped_config_builds_its_transforms():
    for name in available_configs():
        cfg = load_config(name)
        for stream in ("hq", "lq"):
            for train in (True, False):
                build.stream_transform(cfg, stream, train)


def test_a_validation_fraction_needs_a_class_with_two_training_samples(tiny_config, tmp_path):
    from pygkd.data.readers import get_reader
    from pygkd.data.store import prepare

    single = prepare(get_reader("synthetic")(None, train_per_class=1, test_per_class=1, frames=12),
                     tmp_path / "single", progress=False)
    cfg = tiny_config("data.val_fraction=0.1", f"data.prepared={single}")
    with pytest.raises(ConfigError, match="data.val_fraction=0.1: no class of .* has two samples"):
        build.train_val_indices(cfg, PreparedDataset(single))
