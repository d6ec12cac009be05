"""Poisson NLL (CAVL Eq 6) and the predicted count against numpy / scipy."""

import keras
import numpy as np
import pytest
import scipy.stats
from keras import ops

from avcourse.losses import PoissonNLL, poisson_mode, poisson_nll
from avcourse.testing import compute_gradients, run_loss_test


def test_matches_numpy():
    rng = np.random.default_rng(0)
    rate = rng.uniform(0.05, 6.0, size=64).astype("float32")
    counts = rng.integers(0, 6, size=64).astype("float32")
    value = ops.convert_to_numpy(poisson_nll(y_true=counts, rate=rate))
    rate64 = rate.astype(np.float64)
    np.testing.assert_allclose(value, rate64 - counts * np.log(rate64), rtol=1e-5, atol=1e-5)
    # It is -ln P(y | λ) up to the constant ln(y!).
    nll = -scipy.stats.poisson.logpmf(counts, rate64) - scipy.special.gammaln(counts + 1)
    np.testing.assert_allclose(value, nll, rtol=1e-5, atol=1e-5)


def test_finite_at_zero_rate():
    rate = np.array([0.0, 0.0, 1e-12], dtype="float32")
    counts = np.array([0.0, 3.0, 2.0], dtype="float32")
    value, (grad, _) = compute_gradients(lambda r, y: ops.sum(poisson_nll(y_true=y, rate=r)), rate, counts)
    assert np.isfinite(value)
    assert np.all(np.isfinite(grad))
    # Gradient 1 - y / (λ + ε): 1 for y = 0, strongly negative (pushes λ up) for y > 0.
    assert grad[0] == pytest.approx(1.0)
    assert grad[1] < -1e6


def test_class_equals_mean_of_function():
    rng = np.random.default_rng(1)
    rate = rng.uniform(0.1, 4.0, size=(16, 1)).astype("float32")
    counts = rng.integers(0, 5, size=(16, 1)).astype("float32")
    expected = float(np.mean(ops.convert_to_numpy(poisson_nll(y_true=counts, rate=rate))))
    np.testing.assert_allclose(float(ops.convert_to_numpy(PoissonNLL()(counts, rate))), expected, rtol=1e-6)
    # (batch,) targets next to (batch, 1) rates: no broadcast to (batch, batch).
    np.testing.assert_allclose(float(ops.convert_to_numpy(PoissonNLL()(counts[:, 0], rate))), expected, rtol=1e-6)


def test_loss_helper():
    rng = np.random.default_rng(2)
    rate = rng.uniform(0.1, 4.0, size=(8, 1)).astype("float32")
    counts = rng.integers(0, 5, size=(8, 1)).astype("float32")
    expected = float(np.mean(rate.astype(np.float64) - counts * np.log(rate.astype(np.float64))))
    run_loss_test(PoissonNLL(), counts, rate, expected_value=expected, rtol=1e-5)


def test_mode_matches_scipy():
    rng = np.random.default_rng(3)
    # Avoid integer rates, where λ - 1 and λ tie (both are modes).
    rate = np.concatenate([rng.uniform(0.0, 9.5, size=200), [0.0, 1e-9, 0.999, 1.001, 4.5]])
    rate = rate[np.abs(rate - np.round(rate)) > 1e-3].astype("float32")
    mode = ops.convert_to_numpy(poisson_mode(rate, max_count=10))
    ys = np.arange(11)
    expected = scipy.stats.poisson.pmf(ys[None, :], rate.astype(np.float64)[:, None]).argmax(axis=1)
    np.testing.assert_array_equal(mode, expected)
    np.testing.assert_array_equal(mode, np.floor(rate))
    assert keras.backend.standardize_dtype(mode.dtype) == "int32"


def test_mode_edges():
    mode = ops.convert_to_numpy(poisson_mode(np.array([[0.0], [25.0], [3.0]], dtype="float32"), max_count=10))
    assert mode.shape == (3, 1)
    assert mode[0, 0] == 0 and mode[1, 0] == 10  # capped at max_count
    assert mode[2, 0] in (2, 3)  # integer rate: both λ - 1 and λ are modes
    with pytest.raises(ValueError, match="`max_count` must be an integer >= 0; received -1"):
        poisson_mode(np.ones(2), max_count=-1)


def test_bad_epsilon():
    with pytest.raises(ValueError, match="`epsilon` must be a number > 0; received -1"):
        PoissonNLL(epsilon=-1)
    with pytest.raises(ValueError, match="`epsilon` must be a number > 0; received 0"):
        PoissonNLL(epsilon=0)  # a zero rate would give an infinite loss


def test_config():
    loss = PoissonNLL(epsilon=1e-6)
    assert loss.get_config() == {"name": "poisson_nll", "reduction": "sum_over_batch_size", "epsilon": 1e-6}
