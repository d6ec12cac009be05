"""The CAVL reproduction runs end to end at a tiny size, reports every table, and trains on the scenes it tests on."""

import dataclasses
import json

import numpy as np
import pytest

from avcourse import cli
from avcourse.data import pipelines, world
from avcourse.reproduce import cavl

TABLE_ROWS = {
    "timbre": ["linear probe (spectral mean+std)", "pretrained audio trunk"],
    "localization": ["C1 aligned", "C1 unaligned", "C2 aligned", "C1 (paper k_v = k_a + 1) aligned", "centre prior",
                     "whole image", "random object", "all objects", "oracle"],
    "curriculum": ["C3 from C2", "C3 from pretrained", "mixed", "curriculum (lr x0.3 a stage)", "paper lr"],
    "curriculum_curve": ["C3 from C2", "C3 from pretrained", "mixed"],
    "counting": ["random", "pretrained trunk", "curriculum trunk"],
}


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory):
    """One tiny run through the CLI that records every scene set the reproduction draws."""
    patcher = pytest.MonkeyPatch()
    tiny = dataclasses.replace(
        cavl.RECIPES["demo"], train_scenes=8, test_scenes=8, batch_size=8, counting_scenes=8, pretrain_examples=8,
        visual_pretrain_scenes=8, image_size=64,
    )
    patcher.setitem(cavl.RECIPES, "demo", tiny)
    calls = []
    original = pipelines.scene_dataset

    def recording(num_scenes, **kwargs):
        calls.append({"num_scenes": num_scenes, **kwargs})
        return original(num_scenes, **kwargs)

    patcher.setattr(pipelines, "scene_dataset", recording)
    out = tmp_path_factory.mktemp("reproduce")
    try:
        assert cli.main(["reproduce", "cavl", "--size", "demo", "--out", str(out)]) == 0
    finally:
        patcher.undo()
    return out, calls


def test_reproduce_cavl_writes_every_table(recorded_run):
    out, _ = recorded_run
    document = json.loads((out / "cavl.json").read_text())
    assert document["seeds"] == [0] and document["command"].startswith("avcourse reproduce cavl")
    assert set(document["tables"]) == {key for _, key in cavl.SECTIONS}
    for table, rows in TABLE_ROWS.items():
        assert list(document["tables"][table]["rows"])[: len(rows)] == rows
    curve = document["tables"]["curriculum_curve"]
    assert curve["columns"][1:] == [f"epoch {e}" for e in range(1, cavl.RECIPES["demo"].fig4b_epochs + 1)]
    assert all(0 <= cell["mean"] <= 1 for row in curve["rows"].values() for cell in row.values())
    localization = document["tables"]["localization"]["rows"]
    assert localization["oracle"]["pointing"]["mean"] == 1.0 and localization["oracle"]["mask_iou"]["mean"] == 1.0
    assert (out / "cavl.md").is_file() and (out / "cavl.html").is_file()
    # The recipe freezes the audio trunk, so the curriculum's is the pretrained one: one counter, one row.
    counting = document["tables"]["counting"]["rows"]
    assert counting["curriculum trunk"] == counting["pretrained trunk"]


def _statistics(call, draws=6):
    """Object sides (fraction of the picture) and object counts of the first scenes a recorded call draws."""
    options = dict(call.get("scene_options") or {})
    if call.get("num_distractors") is not None:
        options["num_distractors"] = call["num_distractors"]
    counts = pipelines._source_counts(call.get("num_sources", 1), draws)  # noqa: SLF001 - the pipeline's own cycling
    sides, objects = [], []
    for index, count in enumerate(counts):
        scene = world.make_scene(count, call.get("seed", 0) + index, image_size=call["image_size"],
                                 config=call["config"], split=call["split"], **options)
        boxes = scene.boxes
        sides += list(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / call["image_size"])
        objects.append(len(scene.labels) - scene.num_sources)
    return np.mean(sides), sorted(set(objects)), call["image_size"], call.get("scene_options")


def test_every_stage_trains_on_scenes_like_those_it_is_tested_on(recorded_run):
    """Training and test sets with the same number of sources share layout, object sizes and the count of silent objects.

    Guards against the old C1 bug: the stage trained on default-size objects while
    its test (and pretraining) used large ones, because the training call passed
    ``num_sources=[1]`` where the option switch tested ``num_sources == 1``.
    """
    _, calls = recorded_run
    train = [c for c in calls if c["split"] in ("train", "fit")]
    test = [c for c in calls if c["split"] in ("test", "validation")]
    assert train and test
    def counts(call):
        sources = call.get("num_sources", 1)
        return {sources} if isinstance(sources, int) else set(sources)

    for training_call in train:
        options = training_call.get("scene_options") or {}
        # a test set of the same layout options whose scenes hold source counts the training set holds
        matching = [c for c in test if counts(c) <= counts(training_call) and (c.get("scene_options") or {}) == options]
        assert matching, f"no test set with the layout and counts of training set {training_call}"
        side, silent, size, _ = _statistics(training_call)
        for test_call in matching:
            test_side, test_silent, test_size, _ = _statistics(test_call)
            assert size == test_size, (training_call, test_call)
            assert abs(side - test_side) < 0.06, (training_call, test_call)
            assert set(test_silent) <= set(silent) | {0, 1, 2}, (training_call, test_call)


def test_unknown_size_is_rejected():
    with pytest.raises(ValueError, match="`size` must be one of"):
        cavl.run(size="huge")


def test_centred_projection_removes_the_mean_over_classes():
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(5, 11)), rng.normal(size=11)
    centred_kernel, centred_bias = cavl._projection([kernel, bias], centre=True)  # noqa: SLF001 - the recipe's own init
    features = rng.normal(size=(7, 5))
    logits = features @ kernel + bias
    expected = logits - logits.mean(axis=1, keepdims=True)  # float64 reference: each row minus its mean over classes
    np.testing.assert_allclose(features @ centred_kernel + centred_bias, expected, atol=1e-12)
    raw_kernel, raw_bias = cavl._projection([kernel, bias], centre=False)  # noqa: SLF001
    np.testing.assert_array_equal(raw_kernel, kernel)
    np.testing.assert_array_equal(raw_bias, bias)


@pytest.fixture(scope="module")
def tiny_recipe():
    return dataclasses.replace(
        cavl.RECIPES["demo"], train_scenes=4, batch_size=4, image_size=64, epochs_per_stage=(1, 1, 1), margin=2.0,
        projection_init="random",
    )


@pytest.mark.parametrize(
    ("freeze", "trainable_per_stage"), [("always", [False, False]), ("c1", [False, True]), ("never", [True, True])]
)
def test_train_stages_freezes_the_audio_trunk_and_scales_the_margin_per_source(tiny_recipe, freeze, trainable_per_stage):
    recipe = dataclasses.replace(tiny_recipe, freeze_audio_trunk=freeze)
    stages = cavl.curriculum_stages(2, base_learning_rate=1e-3, decay=1.0, epochs=[1, 1])
    model = cavl.build_model(recipe)
    before = [w.copy() for w in model.audio_trunk.get_weights()]
    result = cavl.train_stages(recipe, stages, 0, model)
    assert [m.audio_trunk.trainable for m in result.stage_models] == trainable_per_stage
    assert [m.margin for m in result.stage_models] == [2.0, 4.0]  # k_a times the calibrated margin
    after = result.model.audio_trunk.get_weights()
    moved = any(not np.array_equal(a, b) for a, b in zip(before, after))
    assert moved == any(trainable_per_stage)


def test_train_stages_rejects_an_unknown_freeze_rule(tiny_recipe):
    with pytest.raises(ValueError, match="recipe.freeze_audio_trunk"):
        cavl.train_stages(dataclasses.replace(tiny_recipe, freeze_audio_trunk="sometimes"), cavl.c1_stage(tiny_recipe), 0,
                          cavl.build_model(tiny_recipe))


def test_pretraining_trains_both_trunks_although_the_recipe_freezes_them(tiny_recipe, tmp_path, monkeypatch):
    recipe = dataclasses.replace(tiny_recipe, pretrain_examples=4, visual_pretrain_scenes=4, test_scenes=4,
                                 pretrain_epochs=1, visual_pretrain_epochs=1, freeze_audio_trunk="always")
    trainable = {}
    original = cavl.pretrain_trunk

    def recording(trunk, dataset, *, modality, **kwargs):
        trainable[modality] = trunk.trainable and all(layer.trainable for layer in trunk.layers)
        return original(trunk, dataset, modality=modality, **kwargs)

    monkeypatch.setattr(cavl, "pretrain_trunk", recording)
    pretrained, _ = cavl.pretrain(recipe, 0, tmp_path)
    assert trainable == {"audio": True, "image": True}
    model = cavl.build_model(recipe, pretrained)
    assert not model.audio_trunk.trainable and not model.visual_trunk.trainable  # frozen for the CAVL stages


def test_counting_trains_each_distinct_trunk_once_with_the_recipes_options(tiny_recipe, monkeypatch):
    recipe = dataclasses.replace(tiny_recipe, counting_scenes=8, counting_epochs=2, test_scenes=4, counting_learning_rate=1e-3)
    options = cavl._counter_options(recipe)  # noqa: SLF001 - the recipe's own counters
    assert options == {"feature_norm": recipe.counting_feature_norm, "freeze_trunk": recipe.counting_freeze_trunk}
    optimizer = cavl.counting_adam(recipe)
    schedule = optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["decay_steps"] == 2 * 2 and schedule["config"]["initial_learning_rate"] == 1e-3  # 2 epochs of 8 / 4
    assert optimizer.clipnorm == recipe.clipnorm
    model = cavl.build_model(recipe)
    counters = {
        "random": cavl.SourceCounter(recipe.audio_trunk, audio_shape=model.audio_shape, hidden_units=8, **options),
        "first": cavl.SourceCounter.from_cavl(model, hidden_units=8, **options),
        "twin": cavl.SourceCounter.from_cavl(model, hidden_units=8, **options),
    }
    fitted = []
    original = cavl.SourceCounter.fit

    def recording(self, *args, **kwargs):
        fitted.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cavl.SourceCounter, "fit", recording)
    logged = []
    rows = cavl._counting(recipe, 0, counters, logged.append)  # noqa: SLF001
    assert fitted == [counters["random"], counters["first"]]
    assert rows["twin"] == rows["first"] and list(rows) == ["random", "first", "twin"]
    assert logged and "twin" in logged[0] and "first" in logged[0]
    assert all(set(row) == {"accuracy_round", "accuracy_floor", "mae"} for row in rows.values())
