"""Recipes: config loading and overrides, every recipe's smoke run, and the paper-scale models' shapes."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from avcourse import cli
from avcourse.training import recipes
from avcourse.training.recipes import cavl as cavl_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _config(name):
    return RECIPES / name / "config.yaml"


def test_overrides_are_dotted_and_yaml_typed():
    config = {"training": {"batch_size": 32, "epochs": [1, 1], "clipnorm": None}, "model": {"init": "strided"}}
    result = recipes.apply_overrides(
        config, ["training.batch_size=64", "training.epochs=[2, 3]", "training.clipnorm=1.0", "model.init=farthest"]
    )
    assert result == {"training": {"batch_size": 64, "epochs": [2, 3], "clipnorm": 1.0}, "model": {"init": "farthest"}}
    assert config["training"]["batch_size"] == 32  # the input is not modified
    assert recipes.apply_overrides(config, {"model": {"init": "x"}})["model"] == {"init": "x"}
    with pytest.raises(ValueError, match="unknown config key 'training.batch_sise'.*training.batch_size"):
        recipes.apply_overrides(config, ["training.batch_sise=8"])
    with pytest.raises(ValueError, match="must look like 'dotted.key=value'; received 'training.batch_size'"):
        recipes.apply_overrides(config, ["training.batch_size"])


def test_load_recipe_applies_smoke_then_overrides_and_checks():
    paper = recipes.load_recipe(_config("cavl_audioset_curriculum"))
    assert paper["recipe"] == "cavl_audioset_curriculum" and "smoke" not in paper
    assert paper["model"]["audio_trunk"] == "vggish" and paper["data"]["source"] == "shards"
    smoke = recipes.load_recipe(_config("cavl_audioset_curriculum"), ["training.batch_size=2"], smoke=True)
    assert smoke["data"]["source"] == "synthetic" and smoke["model"]["audio_trunk"] == "small_audio"
    assert smoke["training"]["batch_size"] == 2
    with pytest.raises(ValueError, match="`training.strategy` must be one of"):
        recipes.load_recipe(_config("counting_audioset"), ["training.strategy=tpu"])
    with pytest.raises(ValueError, match="`data.source` must be one of"):
        recipes.load_recipe(_config("counting_audioset"), ["data.source=web"])
    with pytest.raises(ValueError, match="`training.batch_size` must be a positive integer"):
        recipes.load_recipe(_config("counting_audioset"), ["training.batch_size=0"])
    with pytest.raises(FileNotFoundError, match="recipes/<task>/config.yaml"):
        recipes.load_recipe(RECIPES / "missing" / "config.yaml")


def test_paper_cavl_shapes():
    # VGGish 512 x 432 x 1 -> 64 x 54 x 512 and VGG16 256 x 256 x 3 -> 16 x 16 x 512 (built, not run).
    for name in ("cavl_audioset_curriculum", "cavl_localization_flickr"):
        model = recipes.build_models(recipes.load_recipe(_config(name)))["cavl"]
        assert model.audio_shape == (512, 432, 1) and model.image_shape == (256, 256, 3)
        assert tuple(model.audio_trunk.output.shape) == (None, 64, 54, 512)
        assert tuple(model.visual_trunk.output.shape) == (None, 16, 16, 512)
        assert model.embedding_dim == 512 and (model.num_audio_clusters, model.num_visual_clusters) == (1, 2)
    stages = cavl_recipe.stages(recipes.load_recipe(_config("cavl_audioset_curriculum")))
    assert [(s.name, s.num_sources, s.num_audio_clusters, s.num_visual_clusters) for s in stages] == [
        ("C1", (1,), 1, 2), ("C2", (2,), 2, 3), ("C3", (3,), 3, 4), ("C4", (4,), 4, 5)
    ]
    assert [s.learning_rate for s in stages] == [1e-4, 1e-5, 1e-6, 1e-7]


def test_paper_counting_and_separation_shapes():
    counter = recipes.build_models(recipes.load_recipe(_config("counting_audioset")))["counter"]
    assert tuple(counter.audio_trunk.output.shape) == (None, 64, 54, 512) and counter.hidden_units == 512
    models = recipes.build_models(recipes.load_recipe(_config("separation_music")))
    separator, cavl = models["separator"], models["cavl"]
    assert tuple(cavl.visual_trunk.output.shape) == (None, 16, 16, 512)
    assert separator.encoder_channels == (16, 32, 64, 128, 256, 512) and separator.visual_dim == 512
    assert separator.compute_output_shape({"mixture": (None, 256, 256, 1), "visual": (None, 512)}) == (None, 256, 256, 1)


def test_paper_ccol_shapes():
    model = recipes.build_models(recipes.load_recipe(_config("ccol_music")))["ccol"]
    assert model.audio_shape == (256, 256, 1) and model.object_shape == (224, 224, 3)
    assert tuple(model.audio_net.output.shape) == (None, 512) and tuple(model.object_net.output.shape) == (None, 512)
    assert model.stage == "grounding"


@pytest.mark.parametrize(
    "name, overrides, expect",
    [
        ("cavl_audioset_curriculum", ["training.stages=2", "training.epochs=[1,1]"], ("C1", "C2")),
        ("cavl_localization_flickr", [], ("aligned centre", "whole image", "centre prior")),
        ("counting_audioset", [], ("counter", "constant (median count)")),
        ("separation_music", ["guidance=mask"], ("separator", "mixture (unprocessed)")),
        (
            "ccol_music",  # two of the three stages: warm start between variants, in half the time
            ["training.variants=[grounding,cyclic]", "training.epochs=[1,1]", "training.learning_rates=[1.0e-3,1.0e-4]",
             "training.learning_rate_steps=[[],[]]"],
            ("grounding accuracy", "separation (predicted grounding)", "separation (oracle grounding)"),
        ),
    ],
)
def test_smoke_run_end_to_end(tmp_path, name, overrides, expect):
    result = recipes.train(_config(name), overrides, run_dir=tmp_path / "run", smoke=True)
    folder = result["run_dir"]
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved == result["config"] and saved["data"]["source"] == "synthetic"
    progress = json.loads((folder / "progress.json").read_text())
    assert progress["completed"] == list(result["histories"]) and all(h["loss"] for h in result["histories"].values())
    for stage in progress["completed"]:
        assert (folder / "stages" / stage / "final.weights.h5").is_file()
        assert (folder / "stages" / stage / "checkpoints" / "epoch-001.weights.h5").is_file()
        assert any((folder / "logs" / stage).rglob("*tfevents*"))
    metrics = recipes.evaluate(run_dir=folder)
    assert set(expect) <= set(metrics)
    assert json.loads((folder / "metrics.json").read_text()) == metrics


def test_finished_run_is_not_retrained_and_other_configs_are_refused(tmp_path):
    first = recipes.train(_config("counting_audioset"), run_dir=tmp_path, smoke=True)
    weights = (tmp_path / "stages" / "counting" / "final.weights.h5").read_bytes()
    again = recipes.train(_config("counting_audioset"), ["training.strategy=default"], run_dir=tmp_path, smoke=True)
    assert again["histories"] == first["histories"]
    assert (tmp_path / "stages" / "counting" / "final.weights.h5").read_bytes() == weights
    with pytest.raises(ValueError, match=r"holds a run of another config \(keys \['seed'\] differ\)"):
        recipes.train(_config("counting_audioset"), ["seed=1"], run_dir=tmp_path, smoke=True)


def test_cli_parses_train_and_evaluate():
    parser = cli.build_parser()
    args = parser.parse_args(
        ["train", "--config", "recipes/x/config.yaml", "training.batch_size=8", "--strategy", "mirrored", "--mixed-precision", "--smoke"]
    )
    assert (args.config, args.overrides, args.strategy, args.mixed_precision, args.smoke) == (
        "recipes/x/config.yaml", ["training.batch_size=8"], "mirrored", True, True
    )
    assert args.run is cli._train
    args = parser.parse_args(["evaluate", "--config", "c.yaml", "--run-dir", "runs/x"])
    assert (args.run_dir, args.overrides, args.run) == ("runs/x", [], cli._evaluate)


def test_mixed_precision_smoke_keeps_cavl_distances_float32(tmp_path):
    import keras

    result = recipes.train(_config("cavl_localization_flickr"), ["training.mixed_precision=true"], run_dir=tmp_path, smoke=True)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after training
    assert result["histories"]["C1"]["loss"][0] > 0
    config = recipes.load_recipe(_config("cavl_localization_flickr"), smoke=True)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = recipes.build_models(config)["cavl"]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    outputs = model({"image": np.zeros((1,) + model.image_shape, "float32"), "audio": np.zeros((1,) + model.audio_shape, "float32")})
    assert keras.backend.standardize_dtype(outputs["distance"].dtype) == "float32"
    assert model.audio_kmeans.compute_dtype == "float32" and model.audio_projection.compute_dtype == "float16"


def _write_shard(path, count):
    """A shard in the layout of ``avcourse prepare``: 0.5 s of noise, two 40 px frames, 1-2 sources."""
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def feature(kind, values):
        return tf.train.Feature(**{kind: {"bytes_list": tf.train.BytesList, "int64_list": tf.train.Int64List,
                                          "float_list": tf.train.FloatList}[kind](value=values)})

    with tf.io.TFRecordWriter(str(path)) as writer:
        for index in range(count):
            frames = [tf.io.encode_jpeg(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).numpy() for _ in range(2)]
            features = {
                "clip_id": feature("bytes_list", [f"clip{index}".encode()]),
                "waveform": feature("bytes_list", [rng.uniform(-0.5, 0.5, 5600).astype("<f4").tobytes()]),
                "waveform_bits": feature("int64_list", [32]),
                "waveform_scale": feature("float_list", [1.0]),
                "frames": feature("bytes_list", frames),
                "frame_size": feature("int64_list", [40, 40]),
                "labels": feature("bytes_list", [b"/m/0l14_3"]),
                "num_sources": feature("int64_list", [1 + index % 2]),
                "boxes": feature("float_list", []),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())


def test_shards_source_trains_and_evaluates(tmp_path):
    _write_shard(tmp_path / "train-00000-of-00001.tfrecord", 8)
    shards = ["data.source=shards", f"data.train={tmp_path}/train-*.tfrecord", f"data.test={tmp_path}/train-*.tfrecord"]
    overrides = shards + ["training.stages=2", "training.epochs=[1,1]", "training.batch_size=2"]
    result = recipes.train(_config("cavl_audioset_curriculum"), overrides, run_dir=tmp_path / "run", smoke=True)
    # four clips of each count: two steps of two clips in each stage
    assert list(result["histories"]) == ["C1", "C2"]
    metrics = recipes.evaluate(run_dir=tmp_path / "run")
    assert set(metrics) == {"C1", "C2"} and all(np.isfinite(m["loss"]) for m in metrics.values())
