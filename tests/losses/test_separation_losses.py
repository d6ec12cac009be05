"""Mask losses (CAVL Eq 8 ratio L1, Sound of Pixels binary BCE) against numpy."""

import numpy as np
import pytest
from keras import ops

from avcourse.losses import BinaryMaskBCE, RatioMaskL1, binary_mask_bce, ratio_mask_l1
from avcourse.testing import compute_gradients, run_loss_test


def _magnitudes(shape=(3, 8, 6), seed=0):
    rng = np.random.default_rng(seed)
    sources = rng.gamma(1.0, 1.0, size=(2,) + shape).astype("float32")
    sources[0, 0, :2] = 0.0  # silent bins of one source
    mixture = sources.sum(axis=0) * rng.uniform(0.05, 1.2, size=shape).astype("float32")  # ratios up past 5 too
    mixture[1, 3, :] = 0.0  # silent mixture bins
    return sources[0], mixture


def _numpy_ratio_target(source, mixture, max_ratio=5.0):
    safe = np.where(mixture > 1e-8, mixture, 1.0)
    return np.where(mixture > 1e-8, np.clip(source / safe, 0.0, max_ratio), 0.0)


def _numpy_weight(mixture):
    return np.clip(np.log1p(mixture.astype(np.float64)), 1e-3, 10.0)


def _numpy_bce(target, prediction, epsilon=1e-7):
    p = np.clip(prediction.astype(np.float64), epsilon, 1 - epsilon)
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


def _value(tensor):
    return float(ops.convert_to_numpy(tensor))


@pytest.mark.parametrize("weighted", [False, True])
def test_ratio_mask_l1_matches_numpy(weighted):
    source, mixture = _magnitudes()
    predicted = np.random.default_rng(1).uniform(0, 5, size=source.shape).astype("float32")
    target = _numpy_ratio_target(source.astype(np.float64), mixture.astype(np.float64))
    assert target.max() == 5.0 and target.min() == 0.0  # the clip is exercised
    weight = _numpy_weight(mixture) if weighted else 1.0
    expected = np.mean(weight * np.abs(predicted - target))
    got = ratio_mask_l1(predicted_mask=predicted, source_magnitude=source, mixture_magnitude=mixture, weight=_numpy_weight(mixture) if weighted else None)
    np.testing.assert_allclose(_value(got), expected, rtol=1e-5)
    # A separator's (..., 1) mask gives the same value.
    got_channel = ratio_mask_l1(predicted_mask=predicted[..., None], source_magnitude=source, mixture_magnitude=mixture, weight=_numpy_weight(mixture) if weighted else None)
    np.testing.assert_allclose(_value(got_channel), expected, rtol=1e-5)


def test_ratio_mask_l1_max_ratio_and_broadcast_mixture():
    source, mixture = _magnitudes()
    predicted = np.zeros_like(source)
    target = _numpy_ratio_target(source.astype(np.float64), mixture.astype(np.float64), max_ratio=2.0)
    np.testing.assert_allclose(_value(ratio_mask_l1(predicted_mask=predicted, source_magnitude=source, mixture_magnitude=mixture, max_ratio=2.0)), target.mean(), rtol=1e-5)
    # Several sources of one mixture: (B, num_mix, F, T) against (B, 1, F, T).
    sources = np.stack([source, source * 0.5], axis=1)
    expected = np.mean([_numpy_ratio_target(s, mixture.astype(np.float64)).mean() for s in (source, source * 0.5)])
    got = ratio_mask_l1(predicted_mask=np.zeros_like(sources), source_magnitude=sources, mixture_magnitude=mixture[:, None])
    np.testing.assert_allclose(_value(got), expected, rtol=1e-5)


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_mask_bce_matches_numpy(weighted):
    source, mixture = _magnitudes(seed=2)
    predicted = np.random.default_rng(3).uniform(0, 1, size=source.shape).astype("float32")
    target = (source > 0.5 * mixture).astype(np.float64)
    assert 0 < target.mean() < 1
    weight = _numpy_weight(mixture) if weighted else 1.0
    expected = np.mean(weight * _numpy_bce(target, predicted))
    got = binary_mask_bce(predicted_mask=predicted, source_magnitude=source, mixture_magnitude=mixture, weight=_numpy_weight(mixture) if weighted else None)
    np.testing.assert_allclose(_value(got), expected, rtol=1e-5)
    target_03 = (source > 0.3 * mixture).astype(np.float64)
    got_03 = binary_mask_bce(predicted_mask=predicted, source_magnitude=source, mixture_magnitude=mixture, threshold=0.3)
    np.testing.assert_allclose(_value(got_03), np.mean(_numpy_bce(target_03, predicted)), rtol=1e-5)


@pytest.mark.parametrize("loss_fn", [ratio_mask_l1, binary_mask_bce])
@pytest.mark.parametrize("weighted", [False, True])
def test_finite_for_zero_masks_and_silent_mixtures(loss_fn, weighted):
    shape = (2, 6, 5)
    cases = [
        (np.zeros(shape), np.zeros(shape), np.zeros(shape)),  # all-zero mask, silent everything
        (np.zeros(shape), np.ones(shape), np.ones(shape)),  # all-zero mask, loud mixture
        (np.ones(shape), np.zeros(shape), np.zeros(shape)),  # all-one mask, silent mixture
        (np.full(shape, 0.5), np.ones(shape), np.zeros(shape)),  # source louder than a silent mixture
    ]
    for mask, source, mixture in cases:
        mask, source, mixture = (a.astype("float32") for a in (mask, source, mixture))

        def fn(m, s, x):
            weight = ops.clip(ops.log1p(x), 1e-3, 10.0) if weighted else None
            return loss_fn(predicted_mask=m, source_magnitude=s, mixture_magnitude=x, weight=weight)

        value, grads = compute_gradients(fn, mask, source, mixture)
        assert np.isfinite(value)
        for grad in grads:
            assert np.all(np.isfinite(grad))
    # Silent mixture: ratio and binary targets are 0, so a zero mask costs nothing.
    zeros = np.zeros(shape, "float32")
    assert _value(ratio_mask_l1(predicted_mask=zeros, source_magnitude=zeros, mixture_magnitude=zeros)) == 0.0
    assert _value(binary_mask_bce(predicted_mask=zeros, source_magnitude=zeros, mixture_magnitude=zeros)) < 1e-6


def test_gradient_flows_only_into_the_mask():
    source, mixture = _magnitudes()
    predicted = np.full(source.shape, 0.3, "float32")
    _, (g_mask, g_source, g_mixture) = compute_gradients(
        lambda m, s, x: ratio_mask_l1(predicted_mask=m, source_magnitude=s, mixture_magnitude=x), predicted, source, mixture
    )
    target = _numpy_ratio_target(source, mixture)
    np.testing.assert_allclose(g_mask, np.sign(predicted - target) / predicted.size, rtol=1e-5)
    assert not np.any(g_source) and not np.any(g_mixture)


@pytest.mark.parametrize("weighted", [False, True])
def test_ratio_loss_class(weighted):
    source, mixture = _magnitudes((4, 8, 6))
    y_true = np.stack([source, mixture], axis=-1)
    y_pred = np.random.default_rng(4).uniform(0, 5, size=source.shape + (1,)).astype("float32")
    weight = _numpy_weight(mixture) if weighted else 1.0
    expected = np.mean(weight * np.abs(y_pred[..., 0] - _numpy_ratio_target(source, mixture)))
    run_loss_test(RatioMaskL1(weighted=weighted), y_true, y_pred, expected_value=expected, rtol=1e-5)


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_loss_class(weighted):
    source, mixture = _magnitudes((4, 8, 6), seed=5)
    y_true = np.stack([source, mixture], axis=-1)
    y_pred = np.random.default_rng(6).uniform(0.01, 0.99, size=source.shape + (1,)).astype("float32")
    weight = _numpy_weight(mixture) if weighted else 1.0
    expected = np.mean(weight * _numpy_bce((source > 0.5 * mixture).astype(float), y_pred[..., 0]))
    run_loss_test(BinaryMaskBCE(weighted=weighted), y_true, y_pred, expected_value=expected, rtol=1e-5)


def test_bad_inputs():
    source, mixture = _magnitudes()
    with pytest.raises(ValueError, match="`predicted_mask` must have the shape of `source_magnitude`"):
        ratio_mask_l1(predicted_mask=np.zeros((3, 8, 5)), source_magnitude=source, mixture_magnitude=mixture)
    with pytest.raises(ValueError, match="`predicted_mask` must have the shape"):
        binary_mask_bce(predicted_mask=np.zeros((3, 8, 6, 2)), source_magnitude=source, mixture_magnitude=mixture)
    with pytest.raises(ValueError, match="`mixture_magnitude` must broadcast"):
        ratio_mask_l1(predicted_mask=np.zeros_like(source), source_magnitude=source, mixture_magnitude=mixture[:, :4])
    with pytest.raises(ValueError, match="`weight` must broadcast"):
        ratio_mask_l1(predicted_mask=np.zeros_like(source), source_magnitude=source, mixture_magnitude=mixture, weight=np.ones((2, 8, 6)))
    with pytest.raises(ValueError, match="`max_ratio` must be a number > 0"):
        ratio_mask_l1(predicted_mask=np.zeros_like(source), source_magnitude=source, mixture_magnitude=mixture, max_ratio=0)
    with pytest.raises(ValueError, match="`epsilon` must be a number > 0"):
        binary_mask_bce(predicted_mask=np.zeros_like(source), source_magnitude=source, mixture_magnitude=mixture, epsilon=0.0)
    with pytest.raises(ValueError, match="`y_true` must stack the source and mixture magnitudes"):
        RatioMaskL1()(np.zeros((2, 4, 4, 1)), np.zeros((2, 4, 4, 1)))
    with pytest.raises(ValueError, match="`weighted` must be True or False"):
        BinaryMaskBCE(weighted="yes")
    with pytest.raises(ValueError, match="`threshold` must be a number >= 0"):
        BinaryMaskBCE(threshold=-1.0)
