"""One rule for the models' losses (ModelLoss): sample weights, model.losses, compiled losses, replicas."""

import keras
import numpy as np
import pytest

from avcourse import audio
from avcourse.data.pipelines import ccol_dataset
from avcourse.models import (
    CAVLModel,
    CCoLModel,
    ModelLoss,
    SourceCounter,
    UNetSeparator,
    VisuallyGuidedSeparator,
)
from avcourse.models.base import check_input_shape, per_replica_loss, weighted_mean

AUDIO, IMAGE = (32, 22, 1), (32, 32, 3)
SMALL_UNET = dict(depth=2, base_channels=4, visual_dim=16, visual_units=8)


def _np(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor), dtype=np.float64)


def _cavl():
    return CAVLModel("small_audio", "small_visual", audio_shape=AUDIO, image_shape=IMAGE, embedding_dim=8)


def _cavl_batch(batch=4):
    rng = np.random.default_rng(0)
    return {"image": rng.random((batch,) + IMAGE, "float32"), "audio": rng.random((batch,) + AUDIO, "float32")}


def _unet_batch(batch=4):
    rng = np.random.default_rng(1)
    inputs = {
        "mixture": rng.uniform(0, 2, (batch, 8, 6, 1)).astype("float32"),
        "visual": rng.normal(size=(batch, 16)).astype("float32"),
    }
    return inputs, rng.uniform(0, 1, (batch, 8, 6)).astype("float32")


def _vgs_batch(batch=4):
    rng = np.random.default_rng(2)
    mixture = rng.uniform(0, 2, (batch, 8, 6)).astype("float32")
    return {
        "mixture": np.log1p(mixture)[..., None],
        "mixture_magnitude": mixture,
        "source_magnitudes": rng.uniform(0, 1, (batch, 2, 8, 6)).astype("float32"),
        "labels": np.array([[0, 1], [2, 3], [1, 0], [3, 2]][:batch]),
    }


@pytest.fixture(scope="module")
def ccol_batch():
    config = audio.AudioConfig(clip_seconds=0.25, num_warped_bins=16)
    dataset = ccol_dataset(4, batch_size=4, crop_size=16, image_size=48, config=config, cache=False)
    return {key: np.asarray(value) for key, value in next(iter(dataset)).items()}


def _cases(ccol_batch, tiny_ccol):
    """(model, x, y, y_pred) for every model trained with fit, batch of 4."""
    cavl = _cavl()
    x_cavl = _cavl_batch()
    counter = SourceCounter("small_audio", audio_shape=AUDIO, hidden_units=8)
    x_counter, counts = _cavl_batch()["audio"], np.array([0.0, 1.0, 2.0, 3.0], "float32")
    unet = UNetSeparator(**SMALL_UNET)
    x_unet, y_unet = _unet_batch()
    vgs = VisuallyGuidedSeparator(UNetSeparator(**SMALL_UNET), conditioning="oracle", num_classes=4)
    x_vgs = _vgs_batch()
    ccol = CCoLModel(stage="cyclic", **tiny_ccol)
    return {
        "cavl": (cavl, x_cavl, None, cavl(x_cavl)),
        "counter": (counter, x_counter, counts, counter(x_counter)),
        "unet": (unet, x_unet, y_unet, unet(x_unet)),
        "vgs": (vgs, x_vgs, None, vgs(x_vgs)),
        "ccol": (ccol, ccol_batch, None, ccol(ccol_batch)),
    }


def _loss(model, x, y, y_pred, sample_weight=None):
    state = _seed_state(model)
    value = float(_np(model.compute_loss(x, y, y_pred, sample_weight)))
    _restore(model, state)
    return value


def _seed_state(model):
    """CCoL draws its random negative objects: keep the draw, so that every evaluation uses the same."""
    return keras.ops.convert_to_numpy(model.seed_generator.state) if hasattr(model, "seed_generator") else None


def _restore(model, state):
    if state is not None:
        model.seed_generator.state.assign(state)


def test_every_model_follows_the_rule(ccol_batch, tiny_ccol):
    for name, (model, x, y, y_pred) in _cases(ccol_batch, tiny_ccol).items():
        assert isinstance(model, ModelLoss), name
        state = _seed_state(model)
        values = _np(model.example_losses(x, y, y_pred))
        _restore(model, state)
        assert values.shape[0] == 4, name
        # no sample weight: the mean of the per-example values
        np.testing.assert_allclose(_loss(model, x, y, y_pred), values.mean(), rtol=1e-5, err_msg=name)
        # sample weights weight the examples: sum(w · values) / values.size (Keras' "sum_over_batch_size")
        weights = np.array([1.0, 0.0, 2.0, 0.5], "float32")
        expected = (values * weights.reshape((4,) + (1,) * (values.ndim - 1))).mean()
        np.testing.assert_allclose(_loss(model, x, y, y_pred, weights), expected, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(_loss(model, x, y, y_pred, weights[:, None]), expected, rtol=1e-5, err_msg=name)
        # a zero weight removes the example
        ones = np.array([1.0, 1.0, 0.0, 0.0], "float32")
        np.testing.assert_allclose(_loss(model, x, y, y_pred, ones), values[:2].mean() / 2, rtol=1e-5, err_msg=name)


def test_cavl_values_are_eq5_per_clip():
    model = _cavl()
    x = _cavl_batch()
    outputs = model(x)
    distance, is_match = (_np(t) for t in model.pair_distances(outputs))
    per_pair = 0.5 * (is_match * distance**2 + (1 - is_match) * np.maximum(model.margin - distance, 0) ** 2)
    values = _np(model.example_losses(x, None, outputs))
    np.testing.assert_allclose(values, np.stack([per_pair[:4], per_pair[4:]], axis=1), rtol=1e-5)
    np.testing.assert_allclose(_loss(model, x, None, outputs), per_pair.mean(), rtol=1e-5)


def test_model_losses_are_added_once():
    model = _cavl()
    x = _cavl_batch()
    outputs = model(x)
    base = _loss(model, x, None, outputs)
    model.add_loss(keras.ops.convert_to_tensor(0.25))
    np.testing.assert_allclose(_loss(model, x, None, outputs), base + 0.25, rtol=1e-5)

    regularized = UNetSeparator(**SMALL_UNET)
    inputs, source = _unet_batch()
    plain = _loss(regularized, inputs, source, regularized(inputs))
    regularized.visual_dense.kernel.regularizer = keras.regularizers.L2(1.0)
    penalty = float(np.sum(_np(regularized.visual_dense.kernel) ** 2))
    np.testing.assert_allclose(_loss(regularized, inputs, source, regularized(inputs)), plain + penalty, rtol=1e-5)


def test_a_compiled_loss_replaces_the_models_own():
    counter = SourceCounter("small_audio", audio_shape=AUDIO, hidden_units=8)
    x, counts = _cavl_batch()["audio"], np.array([0.0, 1.0, 2.0, 3.0], "float32")
    counter.compile(loss="mse")
    rates = counter(x)
    np.testing.assert_allclose(_loss(counter, x, counts, rates), np.mean((_np(rates) - counts) ** 2), rtol=1e-5)
    # the counter's target comes from the input dict when fit gets no y
    np.testing.assert_allclose(
        _loss(counter, {"audio": x, "num_sources": counts}, None, rates), np.mean((_np(rates) - counts) ** 2), rtol=1e-5
    )


def test_cavl_computes_the_pairs_once_per_step(monkeypatch):
    model = _cavl()
    model.compile(optimizer=keras.optimizers.SGD(1e-3))
    calls = {"pairs": 0, "loss": 0, "metrics": 0}

    def counted(name, method):
        def wrapper(self, *args, **kwargs):
            calls[name] += 1
            return method(self, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(CAVLModel, "pair_distances", counted("pairs", CAVLModel.pair_distances))
    monkeypatch.setattr(CAVLModel, "compute_loss", counted("loss", CAVLModel.compute_loss))
    monkeypatch.setattr(CAVLModel, "compute_metrics", counted("metrics", CAVLModel.compute_metrics))
    model.fit(_cavl_batch(), batch_size=4, epochs=1, verbose=0)
    assert calls["metrics"] >= 1
    if keras.backend.backend() == "tensorflow":
        assert calls["pairs"] == calls["loss"]  # compute_metrics reuses the loss's pairs
    else:  # JAX differentiates compute_loss in a trace of its own: compute_metrics aligns the pairs again
        assert calls["pairs"] == calls["loss"] + calls["metrics"]
    # outside a step, compute_metrics on other outputs does not reuse stale pairs
    x = _cavl_batch()
    first, second = model(x), model(_cavl_batch(batch=2))
    model.compute_loss(x, None, first)
    before = calls["pairs"]
    model.compute_metrics(x, None, second)
    assert calls["pairs"] == before + 1 and model._pair_cache is None  # noqa: SLF001


def test_weighted_mean_and_per_replica_loss():
    values = np.array([[1.0, 3.0], [2.0, 2.0]], "float32")
    assert float(_np(weighted_mean(values))) == 2.0
    assert float(_np(weighted_mean(values, np.array([1.0, 0.0])))) == 1.0

    class Strategy:
        num_replicas_in_sync = 4

    class Replicated:
        distribute_strategy = Strategy()

    loss = keras.ops.convert_to_tensor(2.0)
    assert float(_np(per_replica_loss(loss, Replicated()))) == 0.5
    assert float(_np(per_replica_loss(loss, object()))) == 2.0


def test_check_input_shape():
    assert check_input_shape(None, "audio_shape", (64, 44, 1)) == (64, 44, 1)
    assert check_input_shape(np.array([8, 8, 3]), "image_shape", channels=3) == (8, 8, 3)
    with pytest.raises(ValueError, match=r"`audio_shape` must be a tuple \(rows, columns, channels\)"):
        check_input_shape((32, 22), "audio_shape")
    with pytest.raises(ValueError, match=r"`object_shape` must be \(rows, columns, 3\)"):
        check_input_shape((16, 16, 1), "object_shape", channels=3)
    with pytest.raises(ValueError, match=r"`audio_shape\[0\]` must be a positive integer"):
        check_input_shape((0, 22, 1), "audio_shape")
