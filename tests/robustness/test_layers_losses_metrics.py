"""Bad and degenerate inputs to the layers, losses and metrics (issue #14).

Rules under test:

- called with concrete values (numpy arrays, lists, eager tensors), a public
  function, layer or loss raises a ``ValueError`` that names the argument and
  says what was expected and what was received;
- inside a compiled graph (``tf.function``, ``jax.jit``) values are not checked
  per step, but a NaN is never turned into a finite number: it reaches the
  output (NaN in -> NaN out);
- legitimately degenerate inputs (zero distances, identical centres, integer
  features, zero rates) give the correct, finite result with finite gradients.
"""

import re

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import ops

from avcourse import metrics
from avcourse.layers import AlignmentDistance, SoftKMeans, aligned_assignment
from avcourse.layers.alignment import _safe_sqrt
from avcourse.losses import (
    ContrastiveLoss,
    PoissonNLL,
    contrastive_loss,
    contrastive_per_pair,
    gated_separation_loss,
    poisson_mode,
    poisson_nll,
)
from avcourse.testing import compute_gradients

BACKEND = keras.backend.backend()
NAN = float("nan")


def _np(tensor):
    return np.asarray(ops.convert_to_numpy(tensor))


def compiled(fn):
    """``fn`` compiled on the active backend, so its inputs are symbolic (not checked per step)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        run = tf.function(fn, autograph=False, reduce_retracing=True)
        return lambda *args: run(*[tf.convert_to_tensor(a) for a in args])
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    pytest.skip(f"no compiled-graph helper for the {BACKEND} backend")


def compiled_value_and_grads(fn, num_grads):
    """``(value, [gradients of the first num_grads arguments])`` of a scalar ``fn``, computed in one compiled graph."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function(autograph=False, reduce_retracing=True)
        def run(*args):
            with tf.GradientTape() as tape:
                for arg in args[:num_grads]:
                    tape.watch(arg)
                value = fn(*args)
            return value, tape.gradient(value, list(args[:num_grads]))

        def call(*args):
            value, grads = run(*[tf.convert_to_tensor(a) for a in args])
            return np.asarray(value), [np.asarray(g) for g in grads]

        return call
    if BACKEND == "jax":
        import jax

        run = jax.jit(jax.value_and_grad(fn, argnums=tuple(range(num_grads))))

        def call(*args):
            value, grads = run(*args)
            return np.asarray(value), [np.asarray(g) for g in grads]

        return call
    pytest.skip(f"no compiled-graph helper for the {BACKEND} backend")


RNG = np.random.default_rng(0)
FEATURES = RNG.normal(size=(2, 6, 3)).astype("float32")
CENTRES_A = RNG.normal(size=(2, 1, 3)).astype("float32")
CENTRES_V = RNG.normal(size=(2, 2, 3)).astype("float32")
ASSIGN = np.full((2, 4, 3), 1.0 / 3.0, "float32")
INDEX = np.zeros((2, 2), "int32")
MASK = np.array([[True, False], [False, False]])


def _with(array, index, value):
    array = np.array(array, copy=True)
    array[index] = value
    return array


# (id, call, exception type, message fragment)
BAD_INPUTS = [
    # --- layers ---------------------------------------------------------------------------------
    ("align-nan-audio", lambda: AlignmentDistance()([_with(CENTRES_A, (0, 0, 1), NAN), CENTRES_V]),
     ValueError, "`audio_centers` contains 1 NaN or Inf"),
    ("align-inf-visual", lambda: AlignmentDistance()([CENTRES_A, _with(CENTRES_V, (1, 1, 0), np.inf)]),
     ValueError, "`visual_centers` contains 1 NaN or Inf"),
    ("align-bad-reduction", lambda: AlignmentDistance("mean"), ValueError, "`reduction` must be one of ('sum', 'l2'); received 'mean'"),
    ("align-batch-mismatch", lambda: AlignmentDistance()([CENTRES_A, CENTRES_V[:1]]), ValueError, "same batch size"),
    ("assign-index-too-large", lambda: aligned_assignment(ASSIGN, np.array([[3, 0], [0, 0]])),
     ValueError, "`aligned_index` must be in [0, 2] (indices of the k_v=3 visual centres); received values in [0, 3]"),
    ("assign-index-negative", lambda: aligned_assignment(ASSIGN, np.array([[-1, 0], [0, 0]])),
     ValueError, "`aligned_index` must be in [0, 2]"),
    ("assign-index-float", lambda: aligned_assignment(ASSIGN, INDEX.astype("float32")),
     ValueError, "`aligned_index` must have an integer dtype; received dtype float32"),
    ("assign-index-batch", lambda: aligned_assignment(ASSIGN, INDEX[:1]),
     ValueError, "`aligned_index` must have the batch size of `assignments_v` (2)"),
    ("assign-index-eager-tensor", lambda: aligned_assignment(ASSIGN, ops.convert_to_tensor(np.array([[0, 5], [0, 0]], "int32")), 1),
     ValueError, "`aligned_index` must be in [0, 2]"),
    ("assign-audio-center-tensor", lambda: aligned_assignment(ASSIGN, INDEX, np.array([0, 2])),
     ValueError, "`audio_center` must be in [0, 1] (indices of the k_a=2 audio centres); received values in [0, 2]"),
    ("assign-audio-center-int", lambda: aligned_assignment(ASSIGN, INDEX, 5), ValueError, "`audio_center` must be in [0, 2)"),
    ("assign-audio-center-bool", lambda: aligned_assignment(ASSIGN, INDEX, True), ValueError, "`audio_center` must be an int"),
    ("assign-nan", lambda: aligned_assignment(_with(ASSIGN, (0, 0, 0), NAN), INDEX), ValueError, "`assignments_v` contains 1 NaN"),
    ("assign-rank", lambda: aligned_assignment(ASSIGN[0], INDEX), ValueError, "`assignments_v` must have rank 3"),
    ("kmeans-nan", lambda: SoftKMeans(2)(_with(FEATURES, (1, 2, 0), NAN)), ValueError, "`inputs` contains 1 NaN or Inf"),
    ("kmeans-inf", lambda: SoftKMeans(2)(_with(FEATURES, (0, 0, 0), -np.inf)), ValueError, "`inputs` contains 1 NaN or Inf"),
    ("kmeans-nan-eager-tensor", lambda: SoftKMeans(2)(ops.convert_to_tensor(_with(FEATURES, (0, 1, 1), NAN))),
     ValueError, "`inputs` contains 1 NaN or Inf"),
    ("kmeans-stiffness-nan", lambda: SoftKMeans(2, stiffness=NAN), ValueError, "`stiffness` must be a number > 0"),
    ("kmeans-stiffness-inf", lambda: SoftKMeans(2, stiffness=np.inf), ValueError, "`stiffness` must be a number > 0"),
    ("kmeans-epsilon-bool", lambda: SoftKMeans(2, epsilon=True), ValueError, "`epsilon` must be a number > 0; received True"),
    ("kmeans-init", lambda: SoftKMeans(2, init="kmeans++"), ValueError, "`init` must be one of"),
    ("kmeans-clusters", lambda: SoftKMeans(0), ValueError, "`num_clusters` must be a positive integer; received 0"),
    ("kmeans-too-few-points", lambda: SoftKMeans(7)(FEATURES), ValueError, "at least `num_clusters`=7 vectors per sample; received N=6"),
    # --- contrastive loss -----------------------------------------------------------------------
    ("contrastive-match-2", lambda: contrastive_loss(distance=[0.1, 0.2], is_match=[2.0, 0.0]),
     ValueError, "`is_match` must be in [0, 1] (1 = matched pair, 0 = mismatched); received values in [0, 2]"),
    ("contrastive-match-minus-1", lambda: contrastive_loss(distance=[0.1, 0.2], is_match=[-1, 1]), ValueError, "`is_match` must be in [0, 1]"),
    ("contrastive-negative-distance", lambda: contrastive_loss(distance=[-0.5, 0.2], is_match=[1, 0]),
     ValueError, "`distance` must be >= 0 (a distance); received values in [-0.5, 0.2]"),
    ("contrastive-negative-margin", lambda: contrastive_loss(distance=[0.1], is_match=[1.0], margin=-1.0), ValueError, "`margin` must be a number > 0; received -1.0"),
    ("contrastive-nan-margin", lambda: contrastive_per_pair(distance=[0.1], is_match=[1.0], margin=NAN), ValueError, "`margin` must be a number > 0"),
    ("contrastive-string-margin", lambda: contrastive_loss(distance=[0.1], is_match=[1.0], margin="1"), ValueError, "`margin` must be a number > 0"),
    ("contrastive-empty", lambda: contrastive_loss(distance=np.zeros(0), is_match=np.zeros(0)), ValueError, "`distance` is empty"),
    ("contrastive-length", lambda: contrastive_loss(distance=[0.1, 0.2], is_match=[1, 0, 1]),
     ValueError, "`is_match` must have as many elements as `distance` (2); received 3"),
    ("contrastive-nan-distance", lambda: contrastive_loss(distance=[NAN, 0.2], is_match=[1, 0]), ValueError, "`distance` contains 1 NaN or Inf"),
    ("contrastive-nan-match", lambda: contrastive_loss(distance=[0.1, 0.2], is_match=[NAN, 0]), ValueError, "`is_match` contains 1 NaN or Inf"),
    ("contrastive-string", lambda: contrastive_loss(distance=["a"], is_match=[1]), ValueError, "`distance` must have a real numeric dtype"),
    ("contrastive-eager-tensor", lambda: contrastive_loss(distance=ops.convert_to_tensor([0.3, -2.0]), is_match=[0, 0]), ValueError, "`distance` must be >= 0"),
    ("contrastive-class-match", lambda: ContrastiveLoss()([1.0, 3.0], [0.1, 0.2]), ValueError, "`y_true` must be in [0, 1]"),
    ("contrastive-class-distance", lambda: ContrastiveLoss()([1.0, 0.0], [0.1, -0.2]), ValueError, "`y_pred` must be >= 0"),
    ("contrastive-class-length", lambda: ContrastiveLoss()([1.0, 0.0, 1.0], [0.1, 0.2]),
     ValueError, "`y_true` must have as many elements as `y_pred` (2); received 3"),
    ("contrastive-class-margin", lambda: ContrastiveLoss(margin=0), ValueError, "`margin` must be a number > 0; received 0"),
    # --- Poisson loss and count -----------------------------------------------------------------
    ("poisson-negative-rate", lambda: poisson_nll(y_true=[1.0, 2.0], rate=[-0.5, 1.0]),
     ValueError, "`rate` must be >= 0 (a Poisson rate); received values in [-0.5, 1]"),
    ("poisson-negative-count", lambda: poisson_nll(y_true=[-1.0, 2.0], rate=[0.5, 1.0]), ValueError, "`y_true` must be >= 0 (counts)"),
    ("poisson-epsilon-0", lambda: PoissonNLL(epsilon=0), ValueError, "`epsilon` must be a number > 0; received 0"),
    ("poisson-epsilon-0-function", lambda: poisson_nll(y_true=[1.0], rate=[0.0], epsilon=0.0), ValueError, "`epsilon` must be a number > 0"),
    ("poisson-epsilon-inf", lambda: PoissonNLL(epsilon=np.inf), ValueError, "`epsilon` must be a number > 0"),
    ("poisson-nan-rate", lambda: poisson_nll(y_true=[1.0], rate=[NAN]), ValueError, "`rate` contains 1 NaN or Inf"),
    ("poisson-empty", lambda: poisson_nll(y_true=np.zeros(0), rate=np.zeros(0)), ValueError, "is empty"),
    ("poisson-length", lambda: poisson_nll(y_true=[1.0, 2.0, 3.0], rate=[1.0, 2.0]),
     ValueError, "`y_true` must have as many elements as `rate` (2); received 3"),
    ("poisson-class-rate", lambda: PoissonNLL()([1.0], [-1.0]), ValueError, "`y_pred` must be >= 0"),
    ("poisson-class-nan", lambda: PoissonNLL()([1.0], [NAN]), ValueError, "`y_pred` contains 1 NaN"),
    ("mode-nan", lambda: poisson_mode(np.array([NAN, 1.0])), ValueError, "`rate` contains 1 NaN or Inf"),
    ("mode-inf", lambda: poisson_mode(np.inf), ValueError, "`rate` contains 1 NaN or Inf"),
    ("mode-negative", lambda: poisson_mode([-2.0]), ValueError, "`rate` must be >= 0"),
    ("mode-empty", lambda: poisson_mode(np.zeros(0)), ValueError, "`rate` is empty"),
    ("mode-max-count", lambda: poisson_mode([1.0], max_count=2.0), ValueError, "`max_count` must be an integer >= 0; received 2.0"),
    # --- grounding losses -----------------------------------------------------------------------
    ("grounding-gates-shape", lambda: gated_separation_loss(
        masks=np.zeros((1, 2, 2, 3, 4), "float32"), gates=np.zeros((1, 2, 3)), source_magnitudes=np.zeros((1, 2, 3, 4)), mixture_magnitude=np.ones((1, 3, 4))),
     ValueError, "`gates` must have shape (batch, V, N)"),
    # --- metrics --------------------------------------------------------------------------------
    ("metric-sigma-inf", lambda: metrics.center_prior_heatmap(4, sigma=np.inf), ValueError, "`sigma` must be a number > 0"),
    ("metric-sigma-bool", lambda: metrics.center_prior_heatmap(4, sigma=True), ValueError, "`sigma` must be a number > 0"),
    ("metric-seed-negative", lambda: metrics.random_heatmap(4, seed=-1), ValueError, "`seed` must be an integer >= 0; received -1"),
    ("metric-seed-string", lambda: metrics.random_heatmap(4, seed="a"), ValueError, "`seed` must be an integer >= 0"),
    ("metric-object-seed-float", lambda: metrics.random_object_heatmap(MASK[None], seed=1.5), ValueError, "`seed` must be an integer >= 0"),
    ("metric-ciou-threshold-bool", lambda: metrics.ciou(np.ones((2, 2)), np.ones((2, 2)), threshold=True), ValueError, "`threshold` must be a number in [0, 1]"),
    ("metric-image-size-inf", lambda: metrics.union_map([[0, 0, 1, 1]], image_size=(np.inf, 4)), ValueError, "`image_size` must be a (width, height) pair"),
    ("metric-heatmap-rank", lambda: metrics.normalize_heatmap(np.ones(3)), ValueError, "`heatmap` must have rank 2; received rank 1"),
    ("metric-heatmap-empty", lambda: metrics.resize_heatmap(np.ones((0, 3)), 4), ValueError, "`heatmap` is empty"),
    ("metric-heatmap-nan", lambda: metrics.pointing_hit(np.array([[NAN, 0.0], [0.0, 0.0]]), MASK), ValueError, "`heatmap` contains 1 NaN"),
    ("metric-ciou-shape", lambda: metrics.ciou(np.ones((2, 3)), np.ones((2, 2))), ValueError, "`heatmap` must have the ground truth's shape"),
    ("metric-summary-empty", lambda: metrics.localization_summary([]), ValueError, "`cious` is empty"),
    ("metric-summary-range", lambda: metrics.localization_summary([1.5]), ValueError, "`cious` must be in [0, 1]"),
    ("metric-mask-iou-threshold-nan", lambda: metrics.mask_iou(np.ones((2, 2)), MASK, threshold=NAN), ValueError, "`threshold` must be a number in [0, 1]"),
    ("metric-pointing-length", lambda: metrics.pointing_accuracy([np.ones((2, 2))], [MASK, MASK]), ValueError, "same length"),
    ("metric-match-sizes", lambda: metrics.match_heatmaps_to_sources(np.ones((1, 3, 3)), MASK[None]), ValueError, "maps of the same size"),
    ("metric-count-nan", lambda: metrics.count_mae([1, NAN], [1, 1]), ValueError, "`y_true` contains 1 NaN"),
    ("metric-count-empty", lambda: metrics.count_accuracy([], []), ValueError, "`y_true` is empty"),
    ("metric-count-length", lambda: metrics.count_mae([1, 2], [1]), ValueError, "same number of counts; received 2 and 1"),
    ("metric-count-rate", lambda: metrics.count_accuracy([1, 2], [1.5, 2]), ValueError, "`y_pred` must hold whole-number counts"),
    ("metric-count-minus-1", lambda: metrics.count_mae([1, 2], [-1, 2]), ValueError, "`y_pred` must hold counts >= 0"),
    ("metric-bss-rank", lambda: metrics.bss_eval(np.ones((1, 1, 8)), np.ones((1, 1, 8))), ValueError, "`references` must have rank 2"),
    ("metric-bss-empty", lambda: metrics.bss_eval(np.ones((1, 0)), np.ones((1, 0))), ValueError, "`references` is empty"),
    ("metric-bss-inf", lambda: metrics.bss_eval(np.ones((1, 8)), _with(np.ones((1, 8)), (0, 3), np.inf)), ValueError, "`estimates` contains 1 NaN"),
    ("metric-bss-shape", lambda: metrics.bss_eval(np.ones((2, 8)), np.ones((1, 8))), ValueError, "`estimates` must have the same shape"),
    ("metric-sdri-mixture", lambda: metrics.sdr_improvement(np.ones((1, 8)), np.ones((1, 8)), np.ones(7)), ValueError, "`mixture` must be one waveform"),
]


@pytest.mark.parametrize("call, error, fragment", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_refused(call, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        call()


# --- legitimately degenerate inputs: the correct, finite result ---------------------------------


def _zero_distance_contrastive():
    value, (grad, _) = compute_gradients(lambda d, m: contrastive_loss(distance=d, is_match=m, margin=1.0), np.zeros(4, "float32"), np.array([1, 0, 1, 0], "float32"))
    assert np.isfinite(value) and value == pytest.approx(0.25)  # the two mismatched pairs: ½·1² each, / 4
    assert np.all(np.isfinite(grad))


def _identical_centres():
    centres = np.ones((2, 2, 3), "float32")
    value, grads = compute_gradients(lambda a, v: ops.sum(AlignmentDistance()([a, v])[0]), centres, centres)
    assert value == 0.0
    assert all(np.all(np.isfinite(g)) for g in grads)


def _integer_features():
    ints = np.arange(36).reshape(2, 6, 3).astype("int32") % 5
    centers_int, assign_int = SoftKMeans(2)(ints)
    centers_float, assign_float = SoftKMeans(2)(ints.astype("float32"))
    assert keras.backend.standardize_dtype(centers_int.dtype) == "float32"
    np.testing.assert_allclose(_np(centers_int), _np(centers_float), rtol=1e-6)
    np.testing.assert_allclose(_np(assign_int), _np(assign_float), rtol=1e-6)


def _integer_centres():
    audio, visual = np.array([[[0, 0], [3, 4]]]), np.array([[[0, 0], [3, 0], [10, 10]]])
    distance, index = AlignmentDistance()([audio, visual])
    np.testing.assert_allclose(_np(distance), [4.0])
    np.testing.assert_array_equal(_np(index), [[0, 1]])


def _float64_gates():
    rng = np.random.default_rng(1)
    masks = rng.uniform(size=(1, 2, 2, 3, 4)).astype("float32")
    gates = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # float64, as numpy makes them
    sources, mixture = rng.uniform(size=(1, 2, 3, 4)).astype("float32"), np.ones((1, 3, 4), "float32")
    value = gated_separation_loss(masks=masks, gates=gates, source_magnitudes=sources, mixture_magnitude=mixture)
    expected = gated_separation_loss(masks=masks, gates=gates.astype("float32"), source_magnitudes=sources, mixture_magnitude=mixture)
    assert np.isfinite(_np(value)) and float(_np(value)) == pytest.approx(float(_np(expected)))


def _zero_rate_and_count():
    value, (grad, _) = compute_gradients(lambda r, y: ops.mean(poisson_nll(y_true=y, rate=r)), np.zeros(3, "float32"), np.array([0.0, 1.0, 4.0], "float32"))
    assert np.isfinite(value) and np.all(np.isfinite(grad))


def _mode_of_zero_rate():
    np.testing.assert_array_equal(_np(poisson_mode(np.zeros((2, 1)))), [[0], [0]])


def _soft_match():
    assert float(_np(contrastive_loss(distance=[0.5], is_match=[0.5], margin=1.0))) == pytest.approx(0.5 * (0.5 * 0.25 + 0.5 * 0.25))


def _no_boxes():
    assert not metrics.union_map([], size=4).any()  # no box: an all-zero map (ciou then refuses it)


def _matched_index_and_soft_match_boundaries():
    heatmap = aligned_assignment(ASSIGN, np.array([[2, 0], [0, 2]]), audio_center=np.array([0, 1]))
    np.testing.assert_allclose(_np(heatmap), np.full((2, 4), 1.0 / 3.0), rtol=1e-6)


DEGENERATE = [
    _zero_distance_contrastive,
    _identical_centres,
    _integer_features,
    _integer_centres,
    _float64_gates,
    _zero_rate_and_count,
    _mode_of_zero_rate,
    _soft_match,
    _no_boxes,
    _matched_index_and_soft_match_boundaries,
]


@pytest.mark.parametrize("check", DEGENERATE, ids=[f.__name__.strip("_") for f in DEGENERATE])
def test_degenerate_input_gives_the_correct_result(check):
    check()


# --- NaN in -> NaN out inside a compiled graph --------------------------------------------------


def test_safe_sqrt_keeps_nan_and_zero_gradient():
    values = _np(_safe_sqrt(ops.convert_to_tensor(np.array([NAN, 0.0, 4.0], "float32"))))
    assert np.isnan(values[0]) and values[1] == 0.0 and values[2] == 2.0
    value, (grad,) = compute_gradients(lambda s: ops.sum(_safe_sqrt(s)), np.array([0.0, 4.0], "float32"))
    assert np.all(np.isfinite(grad)) and grad[0] == 0.0 and grad[1] == pytest.approx(0.25)


def test_nan_feature_map_gives_nan_distance_not_zero():
    """A NaN in one sample's feature map: that sample's distance is NaN (not 0, a perfect match), the other's finite."""
    visual = _with(FEATURES, (0, 3, 1), NAN)
    audio = FEATURES[:, :2]

    def distance(a, v):
        centres_a, _ = SoftKMeans(1, iterations=2)(a)
        centres_v, _ = SoftKMeans(2, iterations=2)(v)
        return AlignmentDistance()([centres_a, centres_v])[0]

    values = _np(compiled(distance)(audio, visual))
    assert np.isnan(values[0]) and np.isfinite(values[1])
    # Directly on centres too: identical centres but one NaN coordinate.
    direct = _np(compiled(lambda a, v: AlignmentDistance()([a, v])[0])(CENTRES_A, _with(CENTRES_A, (0, 0, 0), NAN)))
    assert np.isnan(direct[0]) and direct[1] == 0.0


def test_nan_reaches_the_losses():
    contrastive = _np(compiled(lambda d, m: contrastive_loss(distance=d, is_match=m))(np.array([NAN, 0.5], "float32"), np.array([1.0, 0.0], "float32")))
    assert np.isnan(contrastive)
    mismatched = _np(compiled(lambda d, m: contrastive_loss(distance=d, is_match=m))(np.array([NAN], "float32"), np.array([0.0], "float32")))
    assert np.isnan(mismatched)  # max(margin - NaN, 0) must not become 0
    poisson = _np(compiled(lambda y, r: ops.mean(poisson_nll(y_true=y, rate=r)))(np.array([1.0, 2.0], "float32"), np.array([NAN, 1.0], "float32")))
    assert np.isnan(poisson)
    poisson_class = _np(compiled(lambda y, r: PoissonNLL()(y, r))(np.array([0.0], "float32"), np.array([NAN], "float32")))
    assert np.isnan(poisson_class)


def test_unchecked_bad_values_are_marked_not_hidden():
    modes = _np(compiled(lambda r: poisson_mode(r, max_count=10))(np.array([NAN, -1.0, 2.5, np.inf, 0.0], "float32")))
    np.testing.assert_array_equal(modes, [-1, -1, 2, 10, 0])  # -1: no count (the counting metrics refuse it)
    with pytest.raises(ValueError, match="counts >= 0"):
        metrics.count_accuracy([1, 1, 2, 10, 0], modes)
    heatmaps = _np(compiled(lambda w, i: aligned_assignment(w, i))(ASSIGN, np.array([[5, 0], [1, 0]], "int32")))
    assert np.all(np.isnan(heatmaps[0])) and np.allclose(heatmaps[1], 1.0 / 3.0)


# --- hypothesis properties ----------------------------------------------------------------------

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHAPE_A, SHAPE_V = (2, 5, 3), (2, 8, 3)
_CHAIN = {}


def _chain_loss(audio, visual, is_match):
    centres_a, _ = SoftKMeans(2, iterations=3)(audio)
    centres_v, _ = SoftKMeans(3, iterations=3)(visual)
    distance, _ = AlignmentDistance()([centres_a, centres_v])
    return contrastive_loss(distance=distance, is_match=is_match, margin=1.0)


def _chain():
    if "run" not in _CHAIN:
        _CHAIN["run"] = compiled_value_and_grads(_chain_loss, 2)
    return _CHAIN["run"]


def _features(seed, shape, log_scale, structure):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * 10.0**log_scale
    if structure == "zeros":
        x[:] = 0.0
    elif structure == "duplicates":  # every vector repeated: identical centres, zero distances
        x[:] = x[:, :1]
    elif structure == "two-points":
        x[:, ::2] = x[:, :1]
    return x.astype("float32")


@PROPERTY
@given(
    seed=st.integers(0, 2**31 - 1),
    log_scale=st.floats(-8.0, 4.0),
    structure=st.sampled_from(["random", "zeros", "duplicates", "two-points"]),
    is_match=st.lists(st.sampled_from([0.0, 1.0]), min_size=2, max_size=2),
)
def test_property_chain_finite_values_and_gradients(seed, log_scale, structure, is_match):
    audio = _features(seed, SHAPE_A, log_scale, structure)
    visual = _features(seed + 1, SHAPE_V, log_scale, structure)
    value, grads = _chain()(audio, visual, np.array(is_match, "float32"))
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) for g in grads)


@PROPERTY
@given(seed=st.integers(0, 2**31 - 1), log_scale=st.floats(-8.0, 4.0), which=st.sampled_from(["audio", "visual"]),
       position=st.integers(0, 4), channel=st.integers(0, 2))
def test_property_chain_nan_in_nan_out(seed, log_scale, which, position, channel):
    audio = _features(seed, SHAPE_A, log_scale, "random")
    visual = _features(seed + 1, SHAPE_V, log_scale, "random")
    if which == "audio":
        audio[0, position, channel] = NAN
    else:
        visual[1, position, channel] = NAN
    value, grads = _chain()(audio, visual, np.array([1.0, 0.0], "float32"))
    assert np.isnan(value)


_POISSON = {}


def _poisson():
    if "run" not in _POISSON:
        _POISSON["run"] = compiled_value_and_grads(lambda rate, counts: PoissonNLL()(counts, rate), 1)
    return _POISSON["run"]


@PROPERTY
@given(log_rates=st.lists(st.one_of(st.floats(-8.0, 4.0), st.just(None)), min_size=4, max_size=4),
       counts=st.lists(st.integers(0, 20), min_size=4, max_size=4))
def test_property_poisson_finite_values_and_gradients(log_rates, counts):
    rate = np.array([0.0 if r is None else 10.0**r for r in log_rates], "float32")  # None: an exact zero rate
    value, (grad,) = _poisson()(rate, np.array(counts, "float32"))
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    eager = PoissonNLL()(np.array(counts, "float32"), rate)  # concrete inputs: checked, and accepted
    assert float(_np(eager)) == pytest.approx(float(value), rel=1e-5, abs=1e-5)


@PROPERTY
@given(log_rates=st.lists(st.floats(-8.0, 4.0), min_size=4, max_size=4), counts=st.lists(st.integers(0, 20), min_size=4, max_size=4),
       position=st.integers(0, 3))
def test_property_poisson_nan_in_nan_out(log_rates, counts, position):
    rate = np.array([10.0**r for r in log_rates], "float32")
    rate[position] = NAN
    value, _ = _poisson()(rate, np.array(counts, "float32"))
    assert np.isnan(value)
