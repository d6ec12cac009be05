"""CCoL's grounding and gated separation losses (Eq 2-10) against numpy."""

import numpy as np
import pytest
from keras import ops

from avcourse.losses import (
    MILGroundingLoss,
    cyclic_grounding_loss,
    cyclic_mixture_grounding_loss,
    gated_separation_loss,
    grounding_mil_loss,
    mask_distances,
    mixture_grounding_loss,
    sounding_cross_entropy,
    sounding_gates,
)
from avcourse.testing import compute_gradients, run_loss_test


def _np(tensor):
    return np.asarray(ops.convert_to_numpy(tensor))


def log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def np_ce(logits, target):
    return -log_softmax(logits)[..., target]


def np_l1(positive, negative):
    return np.mean(np.min(np_ce(positive, 0), axis=-1)) + np.mean(np_ce(negative, 1))


def np_l3(mixture):
    return np.mean(np.sum(np.min(np_ce(mixture, 0), axis=-1), axis=-1))


def np_ratio(source, mixture, max_ratio=5.0):
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mixture > 1e-8, source / np.maximum(mixture, 1e-8), 0.0)
    return np.clip(ratio, 0, max_ratio)


def np_l2(masks, gates, sources, mixture, weight):
    gated = np.einsum("bvn,bvnft->bvft", gates, masks)
    return np.mean(weight[:, None] * np.abs(gated - np_ratio(sources, mixture[:, None])))


def np_distances(masks, sources, mixture, weight):
    target = np_ratio(sources, mixture[:, None])[:, :, None]
    return np.mean(weight[:, None, None] * np.abs(masks - target), axis=(-2, -1))


def np_l1_cyclic(positive, negative, distances):
    chosen = np.take_along_axis(np_ce(positive, 0), np.argmin(distances, -1)[:, None], -1)[:, 0]
    return chosen.mean() + np.mean(np_ce(negative, 1))


def np_l3_cyclic(mixture, distances, epsilon):
    total = np.zeros(mixture.shape[0])
    for b in range(mixture.shape[0]):
        for v in range(mixture.shape[1]):
            d = distances[b, v]
            near, far = int(np.argmin(d)), int(np.argmax(d))
            total[b] += np_ce(mixture[b, v, near], 0)
            if d[far] > epsilon and d[far] > d[near]:
                total[b] += np_ce(mixture[b, v, far], 1)
    return total.mean()


def sample(seed=0, batch=3, objects=2, bins=4, frames=5):
    rng = np.random.default_rng(seed)
    return {
        "positive": rng.normal(size=(batch, objects, 2)).astype("float32"),
        "negative": rng.normal(size=(batch, 2)).astype("float32"),
        "mixture": rng.normal(size=(batch, 2, objects, 2)).astype("float32"),
        "masks": rng.uniform(size=(batch, 2, objects, bins, frames)).astype("float32"),
        "sources": rng.uniform(0, 1, size=(batch, 2, bins, frames)).astype("float32"),
        "mix": rng.uniform(0.5, 2, size=(batch, bins, frames)).astype("float32"),
    }


def test_cross_entropy_and_gates():
    logits = np.array([[2.0, -1.0], [0.0, 0.0], [-3.0, 1.0]], "float32")
    np.testing.assert_allclose(_np(sounding_cross_entropy(scores=logits, target_class=0, from_logits=True)), np_ce(logits, 0), rtol=1e-5)
    np.testing.assert_allclose(_np(sounding_cross_entropy(scores=logits, target_class=1, from_logits=True)), np_ce(logits, 1), rtol=1e-5)
    probabilities = np.exp(log_softmax(logits)).astype("float32")
    np.testing.assert_allclose(_np(sounding_cross_entropy(scores=probabilities, target_class=0)), np_ce(logits, 0), rtol=1e-4)
    np.testing.assert_array_equal(_np(sounding_gates(logits, from_logits=True)), [1.0, 0.0, 0.0])  # p = 0.5 is not > 0.5


def test_mil_losses_match_numpy():
    s = sample(1)
    np.testing.assert_allclose(
        float(_np(grounding_mil_loss(s["positive"], s["negative"], from_logits=True))),
        np_l1(s["positive"], s["negative"]),
        rtol=1e-5,
    )
    np.testing.assert_allclose(float(_np(mixture_grounding_loss(s["mixture"], from_logits=True))), np_l3(s["mixture"]), rtol=1e-5)


def test_mil_positive_is_the_argmin():
    # Object 1 looks sounding (CE small), object 0 does not: l1's positive is object 1.
    positive = np.array([[[-2.0, 2.0], [3.0, -3.0]]], "float32")
    negative = np.array([[-1.0, 1.0]], "float32")
    expected = np_ce(positive[0, 1], 0) + np_ce(negative[0], 1)
    np.testing.assert_allclose(float(_np(grounding_mil_loss(positive, negative, from_logits=True))), expected, rtol=1e-5)
    _, (grad_pos, grad_neg) = compute_gradients(
        lambda p, n: grounding_mil_loss(p, n, from_logits=True), positive, negative
    )
    assert np.all(grad_pos[0, 0] == 0) and np.any(grad_pos[0, 1] != 0)  # no gradient to the unselected object
    assert np.all(np.isfinite(grad_neg)) and np.any(grad_neg != 0)


def test_gated_separation_matches_numpy_and_gates_carry_no_gradient():
    s = sample(2)
    gates = np.array([[[1, 0], [0, 1]], [[1, 1], [0, 0]], [[0, 0], [1, 0]]], "float32")
    weight = np.clip(np.log1p(s["mix"]), 1e-3, 10)
    value = gated_separation_loss(masks=s["masks"], gates=gates, source_magnitudes=s["sources"], mixture_magnitude=s["mix"], weight=weight)
    np.testing.assert_allclose(float(_np(value)), np_l2(s["masks"], gates, s["sources"], s["mix"], weight), rtol=1e-5)
    # A trailing channel axis on the masks is accepted.
    value_5 = gated_separation_loss(masks=s["masks"][..., None], gates=gates, source_magnitudes=s["sources"], mixture_magnitude=s["mix"], weight=weight)
    np.testing.assert_allclose(float(_np(value_5)), float(_np(value)), rtol=1e-6)
    _, (grad_masks, grad_gates) = compute_gradients(
        lambda m, g: gated_separation_loss(masks=m, gates=g, source_magnitudes=s["sources"], mixture_magnitude=s["mix"], weight=weight), s["masks"], gates
    )
    assert np.all(grad_gates == 0)  # binarised gates: no gradient
    assert np.all(grad_masks[gates == 0] == 0)  # a gated-off object's mask gets nothing
    assert np.any(grad_masks[gates == 1] != 0)


def test_gated_separation_from_logits_gate():
    # The model's path: gates from logits; gradient to the logits must be zero.
    s = sample(3)
    logits = np.random.default_rng(3).normal(size=(3, 2, 2, 2)).astype("float32")

    def fn(lg, m):
        return gated_separation_loss(masks=m, gates=sounding_gates(lg, from_logits=True), source_magnitudes=s["sources"], mixture_magnitude=s["mix"])

    value, (grad_logits, grad_masks) = compute_gradients(fn, logits, s["masks"])
    assert np.isfinite(value) and np.all(grad_logits == 0) and np.all(np.isfinite(grad_masks))


def test_distances_match_numpy():
    s = sample(4)
    weight = np.clip(np.log1p(s["mix"]), 1e-3, 10)
    d = _np(mask_distances(masks=s["masks"], source_magnitudes=s["sources"], mixture_magnitude=s["mix"], weight=weight))
    np.testing.assert_allclose(d, np_distances(s["masks"], s["sources"], s["mix"], weight), rtol=1e-5)
    assert d.shape == (3, 2, 2)


def test_cyclic_losses_match_numpy():
    s = sample(5)
    distances = np.random.default_rng(5).uniform(0, 0.3, size=(3, 2, 2)).astype("float32")
    value = cyclic_grounding_loss(s["positive"], s["negative"], distances[:, 0], from_logits=True)
    np.testing.assert_allclose(float(_np(value)), np_l1_cyclic(s["positive"], s["negative"], distances[:, 0]), rtol=1e-5)
    for epsilon in (0.0, 0.1, 0.2, 1.0):
        value = cyclic_mixture_grounding_loss(s["mixture"], distances, epsilon, from_logits=True)
        np.testing.assert_allclose(float(_np(value)), np_l3_cyclic(s["mixture"], distances, epsilon), rtol=1e-5)


def test_cyclic_epsilon_threshold():
    mixture = np.zeros((1, 1, 2, 2), "float32")  # p = 0.5 everywhere: every CE is log 2
    log2 = np.log(2.0)
    near_far = np.array([[[0.05, 0.3]]], "float32")
    assert np.isclose(float(_np(cyclic_mixture_grounding_loss(mixture, near_far, 0.1, from_logits=True))), 2 * log2)
    assert np.isclose(float(_np(cyclic_mixture_grounding_loss(mixture, near_far, 0.5, from_logits=True))), log2)
    # d_max exactly ε: not a negative (strict >).
    on_eps = np.array([[[0.05, 0.1]]], "float32")
    assert np.isclose(float(_np(cyclic_mixture_grounding_loss(mixture, on_eps, 0.1, from_logits=True))), log2)


def test_cyclic_gradients_only_through_selected_pairs_and_never_into_distances():
    mixture = np.random.default_rng(6).normal(size=(2, 2, 2, 2)).astype("float32")
    distances = np.array([[[0.01, 0.5], [0.4, 0.02]], [[0.03, 0.05], [0.2, 0.2]]], "float32")
    _, (grad_scores, grad_d) = compute_gradients(
        lambda g, d: cyclic_mixture_grounding_loss(g, d, 0.1, from_logits=True), mixture, distances
    )
    assert np.all(grad_d == 0)
    # Sample 1, video 0: both distances below ε → only the positive (object 0) gets a gradient.
    assert np.any(grad_scores[1, 0, 0] != 0) and np.all(grad_scores[1, 0, 1] == 0)
    # Sample 0: both objects of each video are selected (one positive, one negative).
    assert np.all(np.any(grad_scores[0] != 0, axis=-1))


def test_never_nan_on_degenerate_inputs():
    # All-zero masks, silent sources and mixture, equal (zero) distances, saturated probabilities.
    masks = np.zeros((2, 2, 2, 3, 4), "float32")
    sources = np.zeros((2, 2, 3, 4), "float32")
    mix = np.zeros((2, 3, 4), "float32")
    distances = _np(mask_distances(masks=masks, source_magnitudes=sources, mixture_magnitude=mix))
    assert np.all(distances == 0)
    probabilities = np.tile(np.array([1.0, 0.0], "float32"), (2, 2, 2, 1))
    for fn, args in [
        (lambda m, p: gated_separation_loss(masks=m, gates=sounding_gates(p), source_magnitudes=sources, mixture_magnitude=mix), (masks, probabilities)),
        (lambda m, p: cyclic_mixture_grounding_loss(p, mask_distances(masks=m, source_magnitudes=sources, mixture_magnitude=mix)), (masks, probabilities)),
        (lambda m, p: cyclic_grounding_loss(p[:, 0], p[:, 1, 0], mask_distances(masks=m, source_magnitudes=sources, mixture_magnitude=mix)[:, 0]), (masks, probabilities)),
        (lambda m, p: mixture_grounding_loss(p) + grounding_mil_loss(p[:, 0], p[:, 1, 0]), (masks, probabilities)),
    ]:
        value, grads = compute_gradients(fn, *args)
        assert np.isfinite(value)
        assert all(np.all(np.isfinite(g)) for g in grads)


def test_mil_loss_class():
    scores = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.3, 0.7], [0.6, 0.4]]], "float32")
    labels = np.array([1.0, 0.0], "float32")
    expected = (-np.log(0.9) + 0.5 * (-np.log(0.7) - np.log(0.4))) / 2
    run_loss_test(MILGroundingLoss(), labels, scores, expected_value=expected, run_training=False, rtol=1e-5)
    logits = np.log(scores)
    np.testing.assert_allclose(float(_np(MILGroundingLoss(from_logits=True)(labels, logits))), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: grounding_mil_loss(np.zeros((2, 2, 3)), np.zeros((2, 2))), "positive_scores"),
        (lambda: mixture_grounding_loss(np.zeros((2, 2))), "mixture_scores"),
        (lambda: cyclic_mixture_grounding_loss(np.zeros((1, 2, 2, 2)), np.zeros((1, 2, 3))), "distances"),
        (lambda: cyclic_mixture_grounding_loss(np.zeros((1, 2, 2, 2)), np.zeros((1, 2, 2)), epsilon=-1.0), "epsilon"),
        (lambda: gated_separation_loss(masks=np.zeros((1, 2, 2, 3, 4)), gates=np.zeros((1, 2, 3)), source_magnitudes=np.zeros((1, 2, 3, 4)), mixture_magnitude=np.ones((1, 3, 4))), "gates"),
        (lambda: MILGroundingLoss(from_logits="yes"), "from_logits"),
    ],
)
def test_input_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()
