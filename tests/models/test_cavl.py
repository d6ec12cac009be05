"""CAVLModel: outputs, alignment with the layers, serialisation, fit, localization."""

import keras
import numpy as np
import pytest

from avcourse.models import CAVLModel

AUDIO_SHAPE, IMAGE_SHAPE = (32, 22, 1), (32, 32, 3)


def _model(**kwargs):
    return CAVLModel("small_audio", "small_visual", audio_shape=AUDIO_SHAPE, image_shape=IMAGE_SHAPE, embedding_dim=16, **kwargs)


def _inputs(batch=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.random((batch,) + IMAGE_SHAPE).astype("float32"),
        "audio": rng.random((batch,) + AUDIO_SHAPE).astype("float32"),
    }


def test_outputs_have_the_documented_shapes():
    outputs = _model(num_audio_clusters=2)(_inputs())
    assert tuple(outputs["distance"].shape) == (4,)
    assert tuple(outputs["aligned_index"].shape) == (4, 2)
    assert tuple(outputs["audio_centers"].shape) == (4, 2, 16)
    assert tuple(outputs["visual_centers"].shape) == (4, 3, 16)  # k_v = k_a + 1
    assert tuple(outputs["audio_assignments"].shape) == (4, 8 * 5, 2)
    assert tuple(outputs["visual_assignments"].shape) == (4, 4 * 4, 3)


def test_distance_is_eq4_on_the_returned_centres():
    outputs = _model(num_audio_clusters=2)(_inputs())
    audio = keras.ops.convert_to_numpy(outputs["audio_centers"])
    visual = keras.ops.convert_to_numpy(outputs["visual_centers"])
    gaps = np.linalg.norm(audio[:, :, None] - visual[:, None], axis=-1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs["distance"]), gaps.min(axis=2).sum(axis=1), rtol=1e-4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(outputs["aligned_index"]), gaps.argmin(axis=2))


def test_in_batch_mismatches_pair_each_picture_with_the_next_sound():
    model = _model()
    outputs = model(_inputs())
    distance, is_match = (keras.ops.convert_to_numpy(t) for t in model.pair_distances(outputs))
    np.testing.assert_array_equal(is_match, [1, 1, 1, 1, 0, 0, 0, 0])
    audio = np.roll(keras.ops.convert_to_numpy(outputs["audio_centers"]), 1, axis=0)
    visual = keras.ops.convert_to_numpy(outputs["visual_centers"])
    expected = np.linalg.norm(audio[:, :, None] - visual[:, None], axis=-1).min(axis=2).sum(axis=1)
    np.testing.assert_allclose(distance[4:], expected, rtol=1e-4)


@pytest.mark.parametrize("normalize", [False, True])
def test_keras_round_trip_gives_identical_outputs(tmp_path, normalize):
    model = _model(num_audio_clusters=2, margin=2.0, normalize=normalize)
    inputs = _inputs()
    before = model(inputs)
    path = tmp_path / "cavl.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, CAVLModel) and reloaded.get_config() == model.get_config()
    after = reloaded(inputs)
    for key in before:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(after[key]), keras.ops.convert_to_numpy(before[key]), atol=1e-6)


def test_build_creates_the_weights_a_call_creates(tmp_path):
    called = _model(num_audio_clusters=2)
    called(_inputs())
    built = _model(num_audio_clusters=2)
    built.build()  # no inputs needed, e.g. before load_weights
    assert built.built and [w.shape for w in built.weights] == [w.shape for w in called.weights]
    called.save_weights(tmp_path / "cavl.weights.h5")
    built.load_weights(tmp_path / "cavl.weights.h5")
    for a, b in zip(keras.ops.convert_to_numpy(called(_inputs())["distance"]), keras.ops.convert_to_numpy(built(_inputs())["distance"])):
        assert a == b


def test_one_fit_step_lowers_nothing_to_nan_and_reports_match_accuracy():
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(_inputs(batch=8), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert 0.0 <= history.history["match_accuracy"][0] <= 1.0


def test_curriculum_stage_switch_keeps_weights():
    model = _model()
    inputs = _inputs()
    model(inputs)
    weights = [w.copy() for w in model.get_weights()]
    stage_3 = model.with_num_clusters(3)
    outputs = stage_3(inputs)
    assert stage_3.num_visual_clusters == 4 and model.num_audio_clusters == 1
    assert tuple(outputs["visual_centers"].shape) == (4, 4, 16)
    for a, b in zip(weights, stage_3.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_normalized_embeddings_lie_on_the_unit_sphere():
    model = _model(num_audio_clusters=2, normalize=True)
    inputs = _inputs()
    embedded = keras.ops.convert_to_numpy(model._embed(model.visual_trunk, model.visual_projection, inputs["image"]))  # noqa: SLF001
    # reference: the raw projection divided by its own Euclidean norm, in float64
    raw = keras.ops.convert_to_numpy(model.visual_projection(keras.ops.reshape(model.visual_trunk(inputs["image"]), (4, 16, -1))))
    raw = raw.astype(np.float64)
    np.testing.assert_allclose(embedded, raw / np.linalg.norm(raw, axis=-1, keepdims=True), atol=1e-5)
    outputs = model(inputs)
    # centres are weighted means of unit vectors: inside the unit ball, so every Eq 4 term is at most 2
    for key in ("audio_centers", "visual_centers"):
        assert np.all(np.linalg.norm(keras.ops.convert_to_numpy(outputs[key]), axis=-1) <= 1 + 1e-5)
    assert np.all(keras.ops.convert_to_numpy(outputs["distance"]) <= 2 * 2 + 1e-5)
    # a zero feature vector stays finite, and so do the gradients
    zeros = {"image": np.zeros((2,) + IMAGE_SHAPE, "float32"), "audio": np.zeros((2,) + AUDIO_SHAPE, "float32")}
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(model(zeros)["distance"])))


def test_localization_maps_per_centre_and_combined():
    model = _model(num_audio_clusters=2)
    inputs = _inputs()
    per_centre = model.localization_maps(inputs, per_centre=True)
    assert per_centre.shape == (4, 2, 4, 4)
    np.testing.assert_allclose(per_centre.max(axis=1), model.localization_maps(inputs), atol=1e-7)
    outputs = model(inputs)
    assignments = keras.ops.convert_to_numpy(outputs["visual_assignments"])
    index = keras.ops.convert_to_numpy(outputs["aligned_index"])
    for centre in range(2):
        np.testing.assert_allclose(per_centre[:, centre].reshape(4, 16), assignments[np.arange(4), :, index[:, centre]], atol=1e-6)
    unaligned = model.localization_maps(inputs, aligned=False, per_centre=True)
    np.testing.assert_array_equal(unaligned[:, 0], unaligned[:, 1])


def test_localization_maps_are_assignment_columns():
    model = _model()
    inputs = _inputs()
    maps = model.localization_maps(inputs)
    unaligned = model.localization_maps(inputs, aligned=False)
    assert maps.shape == unaligned.shape == (4, 4, 4)
    outputs = model(inputs)
    assignments = keras.ops.convert_to_numpy(outputs["visual_assignments"])
    index = keras.ops.convert_to_numpy(outputs["aligned_index"])[:, 0]
    np.testing.assert_allclose(maps.reshape(4, 16), assignments[np.arange(4), :, index], atol=1e-6)
    assert np.all((maps >= 0) & (maps <= 1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"audio_trunk": "resnet"}, "`audio_trunk` must be one of"),
        ({"margin": 0.0}, "`margin` must be a number > 0"),
        ({"num_audio_clusters": 0}, "`num_audio_clusters` must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs, message):
    base = dict(audio_trunk="small_audio", visual_trunk="small_visual", audio_shape=AUDIO_SHAPE, image_shape=IMAGE_SHAPE)
    with pytest.raises(ValueError, match=message):
        CAVLModel(**{**base, **kwargs})


def test_curriculum_stage_switch_keeps_a_frozen_trunk_frozen():
    model = _model()
    inputs = _inputs(batch=8)
    model(inputs)
    model.visual_trunk.trainable = False
    frozen = [w.copy() for w in model.visual_trunk.get_weights()]
    stage_2 = model.with_num_clusters(2)
    assert not stage_2.visual_trunk.trainable and stage_2.audio_trunk.trainable
    for a, b in zip(model.get_weights(), stage_2.get_weights()):  # same order, same values
        np.testing.assert_array_equal(a, b)
    stage_2.compile(optimizer=keras.optimizers.Adam(1e-2))
    stage_2.fit(inputs, batch_size=4, epochs=1, verbose=0)
    for a, b in zip(frozen, stage_2.visual_trunk.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(model.audio_trunk.get_weights(), stage_2.audio_trunk.get_weights()))
