"""Contrastive loss (CAVL Eq 5) against numpy."""

import keras
import numpy as np
import pytest
from keras import ops

from avcourse.losses import ContrastiveLoss, contrastive_loss, contrastive_per_pair
from avcourse.testing import compute_gradients, run_loss_test


def numpy_eq5(distance, is_match, margin):
    distance = np.asarray(distance, dtype=np.float64)
    is_match = np.asarray(is_match, dtype=np.float64)
    n = distance.size
    terms = is_match * distance**2 + (1 - is_match) * np.maximum(margin - distance, 0.0) ** 2
    return terms.sum() / (2 * n)


def random_pairs(seed, n=32, margin=1.0):
    rng = np.random.default_rng(seed)
    distance = rng.uniform(0.0, 2.0 * margin, size=n).astype("float32")
    distance[:4] = [0.0, 0.0, margin, 3.0 * margin]  # zero, on the margin, beyond it
    is_match = rng.integers(0, 2, size=n).astype("float32")
    is_match[:4] = [1.0, 0.0, 0.0, 0.0]
    return distance, is_match


@pytest.mark.parametrize("margin", [0.5, 1.0, 2.0])
def test_matches_numpy(margin):
    distance, is_match = random_pairs(int(margin * 10), margin=margin)
    value = contrastive_loss(distance=distance, is_match=is_match, margin=margin)
    np.testing.assert_allclose(float(ops.convert_to_numpy(value)), numpy_eq5(distance, is_match, margin), rtol=1e-6)


def test_hand_values():
    # matched at S=0: 0; mismatched at S=0: margin² / 2; beyond the margin: 0.
    per_pair = contrastive_per_pair(distance=[0.0, 0.0, 1.5, 0.5], is_match=[1.0, 0.0, 0.0, 1.0], margin=1.0)
    np.testing.assert_allclose(ops.convert_to_numpy(per_pair), [0.0, 0.5, 0.0, 0.125])


def test_class_equals_function():
    distance, is_match = random_pairs(3)
    loss = ContrastiveLoss(margin=1.0)
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(loss(is_match, distance))),
        float(ops.convert_to_numpy(contrastive_loss(distance=distance, is_match=is_match, margin=1.0))),
        rtol=1e-6,
    )
    # Keras-style (batch, 1) targets next to (batch,) predictions: no broadcast to (batch, batch).
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(loss(is_match[:, None], distance))), numpy_eq5(distance, is_match, 1.0), rtol=1e-6
    )


def test_gradient_finite_at_zero():
    distance = np.array([0.0, 0.0, 0.3, 2.0], dtype="float32")
    is_match = np.array([1.0, 0.0, 0.0, 0.0], dtype="float32")
    value, (grad, _) = compute_gradients(lambda s, d: contrastive_loss(distance=s, is_match=d, margin=1.0), distance, is_match)
    assert np.all(np.isfinite(grad))
    # d/dS of 1/(2n)[δS² + (1-δ)max(m-S,0)²] = [δS - (1-δ)max(m-S,0)] / n
    expected = (is_match * distance - (1 - is_match) * np.maximum(1.0 - distance, 0.0)) / distance.size
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-7)


def test_loss_helper():
    distance, is_match = random_pairs(4, n=8)
    run_loss_test(ContrastiveLoss(margin=1.5), is_match, distance, expected_value=numpy_eq5(distance, is_match, 1.5))


def test_bad_margin():
    with pytest.raises(ValueError, match="`margin` must be a number > 0; received 0"):
        ContrastiveLoss(margin=0)


def test_config():
    loss = ContrastiveLoss(margin=0.7, name="c")
    assert loss.get_config() == {"name": "c", "reduction": "sum_over_batch_size", "margin": 0.7}
    assert isinstance(keras.losses.deserialize(keras.losses.serialize(loss)), ContrastiveLoss)
