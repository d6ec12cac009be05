"""SourceCounter (CAVL §3.2): rates, Eq 6 loss, predicted counts, fit, serialisation, init from CAVL."""

import keras
import numpy as np
import pytest
import scipy.stats

from avcourse.models.cavl import CAVLModel
from avcourse.models.counting import (
    SourceCounter,
    counting_learning_rate,
    counting_lr_schedule,
    counting_optimizer,
)

AUDIO_SHAPE = (32, 22, 1)


def _counter(**kwargs):
    return SourceCounter("small_audio", audio_shape=AUDIO_SHAPE, hidden_units=16, **kwargs)


def _audio(batch=4, seed=0):
    return np.random.default_rng(seed).random((batch,) + AUDIO_SHAPE).astype("float32")


def _numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def _set_logit(model, kernel_scale=None, bias=0.0, seed=0):
    kernel, _ = model.logit.get_weights()
    if kernel_scale is not None:
        kernel = np.random.default_rng(seed).normal(size=kernel.shape).astype("float32") * kernel_scale
    model.logit.set_weights([kernel, np.full((1,), bias, "float32")])


def test_rates_have_shape_batch_and_are_positive():
    model = _counter()
    rates = _numpy(model(_audio()))
    assert rates.shape == (4,)
    assert np.all(rates >= model.min_rate) and np.all(np.isfinite(rates))
    # A dict input is read through its "audio" entry; other keys are ignored.
    dict_rates = _numpy(model({"audio": _audio(), "image": np.zeros((4, 8, 8, 3)), "num_sources": np.ones(4, "int32")}))
    np.testing.assert_allclose(dict_rates, rates, rtol=1e-6)


def test_tiny_rates_keep_loss_and_gradients_finite():
    model = _counter()
    x, y = _audio(), np.array([0, 1, 2, 4], "int32")
    model(x)
    _set_logit(model, bias=-1e4)  # softplus underflows to 0: only the floor is left
    rates = _numpy(model(x))
    np.testing.assert_allclose(rates, np.float32(1e-4), rtol=1e-6)
    loss = float(_numpy(model.compute_loss(x, y, model(x))))
    assert np.isfinite(loss)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = model.compute_loss(x, y, model(x, training=True))
        grads = tape.gradient(value, model.trainable_variables)
        assert all(np.all(np.isfinite(g.numpy())) for g in grads if g is not None)
    model.compile(optimizer=counting_optimizer())
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_compute_loss_is_eq6_on_the_models_rates():
    model = _counter()
    x, y = _audio(6), np.array([1, 2, 3, 4, 0, 2], "int32")
    rates = model(x)
    lam = _numpy(rates).astype(np.float64)
    expected = np.mean(lam - y * np.log(lam))
    np.testing.assert_allclose(float(_numpy(model.compute_loss(x, y, rates))), expected, rtol=1e-5)
    # Without y, the counts come from the input dict's "num_sources".
    inputs = {"audio": x, "num_sources": y}
    np.testing.assert_allclose(float(_numpy(model.compute_loss(inputs, None, rates))), expected, rtol=1e-5)


def test_predict_counts_is_the_poisson_mode():
    model = _counter(max_count=10)
    x = _audio(2, seed=3)
    model(x)
    # Zero kernel, bias b: every sample gets λ = softplus(b) + 1e-4; the targets avoid integer λ (ties).
    for target in [0.05, 1.3, 2.5, 3.9, 7.7, 10.6, 13.3]:
        _set_logit(model, kernel_scale=0.0, bias=float(np.log(np.expm1(target))))
        lam = _numpy(model(x)).astype(np.float64)
        np.testing.assert_allclose(lam, target + 1e-4, rtol=1e-5)
        counts = model.predict_counts(x)
        expected = scipy.stats.poisson.pmf(np.arange(11)[:, None], lam[None, :]).argmax(axis=0)
        np.testing.assert_array_equal(counts, expected, err_msg=f"λ = {lam}")
        assert counts.dtype == np.int32


def test_predict_counts_rounding_rule_and_the_tie_it_avoids():
    model = _counter(max_count=10)
    x = _audio(2, seed=3)
    model(x)
    for target in [0.05, 1.3, 2.49, 2.51, 3.9, 13.3]:
        _set_logit(model, kernel_scale=0.0, bias=float(np.log(np.expm1(target))))
        lam = _numpy(model(x)).astype(np.float64)
        expected = np.minimum(np.floor(lam + 0.5), 10).astype(int)  # nearest count, capped at max_count
        np.testing.assert_array_equal(model.predict_counts(x, rule="round"), expected)
    # λ just above 3: the mode says 3 (P(3|λ) > P(2|λ) only just), so does rounding; just below 3 the mode says 2
    _set_logit(model, kernel_scale=0.0, bias=float(np.log(np.expm1(2.98))))
    assert model.predict_counts(x, rule="mode").tolist() == [2, 2]
    assert model.predict_counts(x, rule="round").tolist() == [3, 3]
    with pytest.raises(ValueError, match="`rule` must be"):
        model.predict_counts(x, rule="ceil")


def test_keras_round_trip_gives_identical_outputs(tmp_path):
    model = _counter(max_count=6, min_rate=1e-3)
    x = _audio()
    before = _numpy(model(x))
    path = tmp_path / "counter.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, SourceCounter) and reloaded.get_config() == model.get_config()
    np.testing.assert_allclose(_numpy(reloaded(x)), before, atol=1e-6)
    assert SourceCounter.from_config(model.get_config()).get_config() == model.get_config()


def test_fit_reports_loss_and_count_metrics_with_the_paper_schedule():
    model = _counter()
    x, y = _audio(8), np.array([1, 2, 3, 4] * 2, "int32")
    model.compile(optimizer=counting_optimizer())
    history = model.fit(
        {"audio": x, "num_sources": y}, batch_size=4, epochs=2, verbose=0, callbacks=[counting_lr_schedule()]
    )
    logs = history.history
    assert np.all(np.isfinite(logs["loss"]))
    assert all(0.0 <= a <= 1.0 for a in logs["count_accuracy"])
    assert all(m >= 0.0 for m in logs["count_mae"])
    np.testing.assert_allclose(logs["learning_rate"], [0.01, 0.01 / 1.5], rtol=1e-6)
    # evaluate with an explicit y: accuracy and MAE equal numpy on the predicted counts.
    results = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    counts = model.predict_counts(x)
    assert results["count_accuracy"] == pytest.approx(np.mean(counts == y))
    assert results["count_mae"] == pytest.approx(np.mean(np.abs(counts - y)))


def test_learning_rate_decay_and_optimizer():
    assert [round(counting_learning_rate(e), 6) for e in range(4)] == [0.01, 0.006667, 0.005, 0.004]
    optimizer = counting_optimizer()
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.momentum == 0.9
    assert float(_numpy(keras.ops.copy(optimizer.learning_rate))) == pytest.approx(0.01)


def test_from_cavl_copies_the_audio_trunk():
    cavl = CAVLModel("small_audio", "small_visual", audio_shape=AUDIO_SHAPE, image_shape=(32, 32, 3), embedding_dim=8)
    counter = SourceCounter.from_cavl(cavl, hidden_units=8)
    assert counter.audio_trunk_config == "small_audio" and counter.audio_shape == AUDIO_SHAPE
    for a, b in zip(cavl.audio_trunk.get_weights(), counter.audio_trunk.get_weights()):
        np.testing.assert_array_equal(a, b)
    # A copy: changing the counter's trunk leaves the CAVL model's alone.
    counter.audio_trunk.set_weights([w + 1 for w in counter.audio_trunk.get_weights()])
    assert not np.array_equal(cavl.audio_trunk.get_weights()[0], counter.audio_trunk.get_weights()[0])
    # A randomly initialised counter differs from the CAVL trunk.
    fresh = _counter()
    assert not np.array_equal(fresh.audio_trunk.get_weights()[0], cavl.audio_trunk.get_weights()[0])


def test_frozen_trunk_keeps_its_weights_in_fit_while_the_head_moves():
    model = _counter(freeze_trunk=True)
    x, y = _audio(8), np.array([1, 2, 3, 4] * 2, "int32")
    model(x)
    trunk, head = model.audio_trunk.get_weights(), model.hidden.get_weights() + model.logit.get_weights()
    assert not model.audio_trunk.trainable
    assert len(model.trainable_weights) == 4  # the two Dense layers' kernels and biases
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for before, after in zip(trunk, model.audio_trunk.get_weights()):
        np.testing.assert_array_equal(before, after)
    moved = model.hidden.get_weights() + model.logit.get_weights()
    assert all(not np.array_equal(before, after) for before, after in zip(head, moved))
    # Not frozen (the default), one step moves the trunk too.
    trained = _counter()
    trained(x)
    start = trained.audio_trunk.get_weights()
    trained.compile(optimizer=keras.optimizers.Adam(1e-2))
    trained.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(start, trained.audio_trunk.get_weights()))


@pytest.mark.parametrize("pooling, width", [("max", 1), ("mean_std", 2), ("max_mean_std", 3)])
def test_pooling_options_and_feature_norm(pooling, width, tmp_path):
    model = _counter(pooling=pooling, feature_norm=True, freeze_trunk=True)
    x = _audio()
    rates = _numpy(model(x))
    assert rates.shape == (4,) and np.all(rates >= model.min_rate)
    channels = model.audio_trunk.output.shape[-1]
    assert model.hidden.kernel.shape == (width * channels, 16)
    feature_map = _numpy(model.audio_trunk(x))
    expected = {"max": feature_map.max(axis=(1, 2)), "mean": feature_map.mean(axis=(1, 2)),
                "std": feature_map.std(axis=(1, 2))}
    pooled = np.concatenate([expected[name] for name in pooling.split("_")], axis=-1)
    mean, var = pooled.mean(-1, keepdims=True), pooled.var(-1, keepdims=True)
    np.testing.assert_allclose(_numpy(model._pooled(model.audio_trunk(x))), (pooled - mean) / np.sqrt(var + 1e-3),
                               rtol=1e-4, atol=1e-4)
    # The options round-trip through the config and a saved model (frozen trunk included).
    config = model.get_config()
    assert (config["pooling"], config["feature_norm"], config["freeze_trunk"]) == (pooling, True, True)
    path = tmp_path / "counter.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.get_config() == config and not reloaded.audio_trunk.trainable
    np.testing.assert_allclose(_numpy(reloaded(x)), rates, atol=1e-6)


def test_paper_config_builds():
    counter = SourceCounter()
    assert counter.audio_shape == (512, 432, 1)
    assert tuple(counter.audio_trunk.output.shape) == (None, 64, 54, 512)
    counter.build((None, 512, 432, 1))
    # VGGish conv stack (3x3 kernels + biases) and the 512-512-1 head, counted by hand.
    convs = [(1, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
    trunk = sum(9 * cin * cout + cout for cin, cout in convs)
    head = 512 * 512 + 512 + 512 * 1 + 1
    assert counter.count_params() == trunk + head == 4_762_881


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"audio_trunk": "resnet"}, "`audio_trunk` must be one of"),
        ({"hidden_units": 0}, "`hidden_units` must be a positive integer"),
        ({"max_count": 0}, "`max_count` must be a positive integer"),
        ({"min_rate": 0.0}, "`min_rate` must be a number > 0"),
        ({"pooling": "mean"}, "`pooling` must be one of"),
        ({"feature_norm": 1}, "`feature_norm` must be True or False"),
        ({"freeze_trunk": "yes"}, "`freeze_trunk` must be True or False"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SourceCounter(**{"audio_trunk": "small_audio", "audio_shape": AUDIO_SHAPE, **kwargs})


def test_bad_inputs():
    model = _counter()
    with pytest.raises(ValueError, match=r"audio inputs must have shape \(batch,\) \+ \(32, 22, 1\)"):
        model(np.zeros((2, 32, 20, 1), "float32"))
    with pytest.raises(ValueError, match="must have an 'audio' entry"):
        model({"image": np.zeros((2, 32, 32, 3), "float32")})
    model.compile(optimizer=counting_optimizer())
    with pytest.raises(ValueError, match="needs the true counts"):
        model.fit(_audio(4), batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="must be a CAVLModel"):
        SourceCounter.from_cavl(model.audio_trunk)
    cavl = CAVLModel("small_audio", "small_visual", audio_shape=AUDIO_SHAPE, image_shape=(32, 32, 3), embedding_dim=8)
    with pytest.raises(ValueError, match="`audio_shape` comes from `cavl_model`"):
        SourceCounter.from_cavl(cavl, audio_shape=(64, 44, 1))


def test_counts_from_rates_applies_either_rule_to_given_rates():
    model = _counter(max_count=10)
    rates = np.array([0.05, 1.3, 2.49, 2.51, 3.9, 13.3])
    # references: the Poisson mode over 0..10 by scipy, and the nearest count capped at max_count
    mode = scipy.stats.poisson.pmf(np.arange(11)[:, None], rates[None, :]).argmax(axis=0)
    np.testing.assert_array_equal(model.counts_from_rates(rates, "mode"), mode)
    np.testing.assert_array_equal(model.counts_from_rates(rates, "round"), np.minimum(np.floor(rates + 0.5), 10))
    with pytest.raises(ValueError, match="`rule` must be"):
        model.counts_from_rates(rates, "ceil")
