import itertools
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from avcourse import metrics
from avcourse.metrics import localization

# --- ground-truth maps -------------------------------------------------------


def test_consensus_map_three_annotators_pixel_by_pixel():
    annotators = [
        [[0, 0, 4, 4]],  # annotator A: top-left 4x4
        [[2, 2, 6, 6]],  # annotator B: centre 4x4
        [[2, 0, 8, 2], [6, 6, 8, 8]],  # annotator C: top strip and bottom-right corner
    ]
    votes = np.zeros((8, 8))
    votes[0:4, 0:4] += 1
    votes[2:6, 2:6] += 1
    mask_c = np.zeros((8, 8))
    mask_c[0:2, 2:8] = 1
    mask_c[6:8, 6:8] = 1
    votes += mask_c
    expected = np.where(votes >= 2, 1.0, np.where(votes == 1, 0.5, 0.0))

    gt = metrics.consensus_map(annotators, size=8, image_size=(8, 8))

    assert gt.shape == (8, 8)
    np.testing.assert_array_equal(gt, expected)
    assert set(np.unique(gt)) == {0.0, 0.5, 1.0}
    # Spot checks counted by hand: A and B overlap on rows/cols 2-3; A and C on row 0-1, cols 2-3.
    assert gt[2, 2] == 1.0 and gt[0, 2] == 1.0 and gt[0, 0] == 0.5 and gt[7, 0] == 0.0


def test_consensus_map_counts_an_annotator_once_even_with_overlapping_boxes():
    gt = metrics.consensus_map([[[0, 0, 4, 4], [0, 0, 2, 2]]], size=4, image_size=(4, 4))
    np.testing.assert_array_equal(gt, np.full((4, 4), 0.5))


def test_consensus_map_rescales_flickr_boxes_from_256_to_224():
    # 128 * 224 / 256 = 112 and 64 * 224 / 256 = 56: the box covers rows/cols [56, 112).
    gt = metrics.consensus_map([[[64, 64, 128, 128]]] * 2, size=224, image_size=(256, 256))
    expected = np.zeros((224, 224))
    expected[56:112, 56:112] = 1.0
    np.testing.assert_array_equal(gt, expected)


def test_rasterisation_truncates_like_the_reference_code():
    # 100 * 224 / 256 = 87.5 -> 87 ; 201 * 224 / 256 = 175.875 -> 175
    gt = metrics.union_map([[100, 0, 201, 10]], size=224, image_size=(256, 256))
    columns = np.flatnonzero(gt[0])
    assert columns[0] == 87 and columns[-1] == 174
    assert np.count_nonzero(gt[:, 100]) == int(10 * 224 / 256)


def test_union_map_normalised_boxes_and_clipping():
    gt = metrics.union_map([[0.0, 0.0, 0.5, 0.25], [0.25, 0.0, 1.2, 0.25]], size=8)
    expected = np.zeros((8, 8))
    expected[0:2, 0:8] = 1
    np.testing.assert_array_equal(gt, expected)


def test_union_map_non_square_size():
    gt = metrics.union_map([[0.5, 0.5, 1.0, 1.0]], size=(4, 6))
    assert gt.shape == (4, 6)
    assert gt.sum() == 2 * 3 and gt[2:, 3:].all()


def test_bad_boxes_raise_naming_the_argument():
    with pytest.raises(ValueError, match=r"`boxes`.*x2 >= x1"):
        metrics.union_map([[0.5, 0.0, 0.2, 1.0]])
    with pytest.raises(ValueError, match=r"`boxes`.*shape \(n, 4\)"):
        metrics.union_map([[0.1, 0.2, 0.3]])
    with pytest.raises(ValueError, match=r"`annotator_boxes\[1\]`.*NaN"):
        metrics.consensus_map([[[0, 0, 1, 1]], [[0, np.nan, 1, 1]]])
    with pytest.raises(ValueError, match="`annotator_boxes` must be a non-empty list"):
        metrics.consensus_map([])
    with pytest.raises(ValueError, match="`image_size`"):
        metrics.consensus_map([[[0, 0, 1, 1]]], image_size=(0, 256))
    with pytest.raises(ValueError, match="`size`"):
        metrics.union_map([[0, 0, 1, 1]], size=0)


# --- cIoU ----------------------------------------------------------------------


def test_ciou_median_binarisation_counted_by_hand():
    heatmap = np.arange(16, dtype=float).reshape(4, 4)  # top half = rows 2 and 3 (values 8..15)
    gt = np.zeros((4, 4))
    gt[1:3, 0:2] = 1.0  # 4 pixels: (1,0) (1,1) (2,0) (2,1)
    gt[3, 3] = 0.5
    # p covers rows 2-3. p*gt = (2,0)+(2,1) + 0.5*(3,3) = 2.5.
    # sum(gt) = 4.5; p on gt == 0: 8 selected pixels minus 3 with gt > 0 = 5.
    assert metrics.ciou(heatmap, gt) == pytest.approx(2.5 / (4.5 + 5))


def test_ciou_perfect_and_disjoint():
    gt = np.zeros((4, 4))
    gt[:2] = 1
    heatmap = np.zeros((4, 4))
    heatmap[:2] = 3.0
    heatmap[2:] = -1.0
    assert metrics.ciou(heatmap, gt) == 1.0
    assert metrics.ciou(-heatmap, gt) == 0.0


def test_ciou_constant_heatmap_selects_the_whole_image():
    gt = np.zeros((4, 4))
    gt[0, :2] = 1.0
    gt[1, :2] = 0.5
    # p = 1 everywhere: p*gt = 3, sum(gt) = 3, pixels with gt == 0: 12.
    assert metrics.ciou(np.full((4, 4), 7.0), gt) == pytest.approx(3 / 15)
    assert metrics.ciou(metrics.whole_image_heatmap(4), gt) == pytest.approx(3 / 15)


def test_ciou_ties_at_the_median_are_kept():
    heatmap = np.zeros((4, 4))
    heatmap[0] = 1.0  # 4 ones and 12 zeros: the median (sorted[8]) is 0, so all 16 are kept
    gt = np.zeros((4, 4))
    gt[0] = 1.0
    assert metrics.ciou(heatmap, gt) == pytest.approx(4 / (4 + 12))
    heatmap[:3] = 1.0  # 12 ones: the median is 1, only the ones are kept
    assert metrics.ciou(heatmap, gt) == pytest.approx(4 / (4 + 8))


def test_ciou_fixed_threshold_on_the_normalised_heatmap():
    heatmap = np.array([[10.0, 20.0], [30.0, 50.0]])  # normalised: 0, 0.25, 0.5, 1
    gt = np.array([[0.0, 0.0], [1.0, 1.0]])
    assert metrics.ciou(heatmap, gt, threshold=0.5) == 1.0
    assert metrics.ciou(heatmap, gt, threshold=0.2) == pytest.approx(2 / 3)
    assert metrics.ciou(heatmap, gt, threshold=0.0) == pytest.approx(2 / 4)


def test_ciou_bad_inputs_name_the_argument():
    gt = np.ones((4, 4))
    with pytest.raises(ValueError, match=r"`heatmap` must have the ground truth's shape \(4, 4\).*resize_heatmap"):
        metrics.ciou(np.ones((2, 2)), gt)
    with pytest.raises(ValueError, match="`heatmap` must have rank 2"):
        metrics.ciou(np.ones(16), gt)
    with pytest.raises(ValueError, match="`gt_map`.*empty ground truth"):
        metrics.ciou(np.ones((4, 4)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"`heatmap` contains 1 NaN or Inf"):
        metrics.ciou(np.where(np.eye(4) * np.arange(4) == 3, np.inf, 0.0), gt)
    with pytest.raises(ValueError, match=r"`gt_map` must have values in \[0, 1\]"):
        metrics.ciou(np.ones((4, 4)), 2 * gt)
    with pytest.raises(ValueError, match="`heatmap` is empty"):
        metrics.ciou(np.ones((0, 4)), np.ones((0, 4)))
    with pytest.raises(ValueError, match="`gt_map` is empty"):
        metrics.ciou(np.ones((4, 4)), np.ones((4, 0)))
    with pytest.raises(ValueError, match="`threshold`"):
        metrics.ciou(np.ones((4, 4)), gt, threshold=1.5)


# --- summary -------------------------------------------------------------------


def test_localization_summary_by_hand():
    summary = metrics.localization_summary([0.2, 0.5, 0.7, 1.0])
    assert set(summary) == {"ciou@0.5", "auc"}
    assert summary["ciou@0.5"] == 0.75
    # Success rate at t = 0, 0.05, ..., 1: 1.0 for t <= 0.2 (5 thresholds), 0.75 for
    # 0.25..0.5 (6), 0.5 for 0.55..0.7 (4), 0.25 for 0.75..1.0 (6). Trapezoid with step
    # 0.05: 0.05 * (sum of the 21 values - (first + last) / 2) = 0.05 * (13 - 0.625).
    assert summary["auc"] == pytest.approx(0.05 * (13 - 0.625))


def test_localization_summary_extremes():
    assert metrics.localization_summary([1.0, 1.0]) == {"ciou@0.5": 1.0, "auc": pytest.approx(1.0)}
    # Only t = 0 succeeds: a single trapezoid of height 1 -> 0.5 * 0.05.
    assert metrics.localization_summary([0.0]) == {"ciou@0.5": 0.0, "auc": pytest.approx(0.025)}


def test_localization_summary_bad_inputs():
    with pytest.raises(ValueError, match="`cious` is empty"):
        metrics.localization_summary([])
    with pytest.raises(ValueError, match=r"`cious` must be in \[0, 1\]"):
        metrics.localization_summary([0.5, 1.5])
    with pytest.raises(ValueError, match="`cious` must have rank 1"):
        metrics.localization_summary([[0.5]])


def test_success_thresholds_are_the_21_decimals():
    np.testing.assert_allclose(localization.SUCCESS_THRESHOLDS, np.linspace(0, 1, 21), atol=1e-15)
    assert localization.SUCCESS_THRESHOLDS[14] == 0.7


# --- resizing and baselines ------------------------------------------------------


def test_resize_heatmap_half_pixel_bilinear_by_hand():
    # From 2 to 4 samples the output centres fall at input positions
    # -0.25 (clamped to 0), 0.25, 0.75 and 1.25 (clamped to 1).
    resized = metrics.resize_heatmap(np.array([[0.0, 1.0], [2.0, 3.0]]), 4)
    np.testing.assert_allclose(resized[0], [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(resized[:, 0], [0.0, 0.5, 1.5, 2.0])
    assert resized.dtype == np.float32


def test_resize_heatmap_matches_pil_bilinear_upsampling():
    heatmap = np.random.default_rng(0).random((7, 5)).astype(np.float32)
    expected = np.asarray(Image.fromarray(heatmap, mode="F").resize((40, 56), Image.BILINEAR))
    np.testing.assert_allclose(metrics.resize_heatmap(heatmap, (56, 40)), expected, atol=1e-5)


def test_resize_heatmap_identity_and_errors():
    heatmap = np.random.default_rng(1).random((6, 6))
    np.testing.assert_allclose(metrics.resize_heatmap(heatmap, 6), heatmap, atol=1e-6)
    with pytest.raises(ValueError, match="`heatmap` must have rank 2"):
        metrics.resize_heatmap(np.ones((2, 2, 2)), 4)
    with pytest.raises(ValueError, match=r"`size\[1\]` must be a positive integer"):
        metrics.resize_heatmap(heatmap, (4, -1))


def test_baselines():
    assert metrics.whole_image_heatmap((3, 5)).shape == (3, 5)
    prior = metrics.center_prior_heatmap(5, sigma=0.2)
    assert prior[2, 2] == pytest.approx(1.0) and prior.argmax() == 12
    np.testing.assert_allclose(prior, prior.T)
    np.testing.assert_allclose(prior, prior[::-1, ::-1])
    # A centred box is found better by the centre prior than by the whole image.
    gt = metrics.union_map([[0.25, 0.25, 0.75, 0.75]], size=32)
    assert metrics.ciou(metrics.center_prior_heatmap(32), gt) > metrics.ciou(metrics.whole_image_heatmap(32), gt)
    first, second = metrics.random_heatmap(8, seed=3), metrics.random_heatmap(8, seed=3)
    np.testing.assert_array_equal(first, second)
    assert first.min() >= 0 and first.max() < 1
    with pytest.raises(ValueError, match="`sigma`"):
        metrics.center_prior_heatmap(8, sigma=0)


# --- pointing game and mask IoU ------------------------------------------------
#
# The references below are written from the definitions with Python loops and
# exact fractions; they do not call the code under test.


def _reference_hit(heatmap, mask):
    """Pointing hit: strictly more than half of the tied maximal pixels lie in the mask."""
    heatmap, mask = np.asarray(heatmap, float), np.asarray(mask, bool)
    cells = [(r, c) for r in range(heatmap.shape[0]) for c in range(heatmap.shape[1])]
    best = max(heatmap[r, c] for r, c in cells)
    tied = [(r, c) for r, c in cells if heatmap[r, c] == best]
    inside = sum(1 for r, c in tied if mask[r, c])
    return inside > len(tied) - inside


def _reference_iou(heatmap, mask, threshold=0.5):
    """Mask IoU with exact arithmetic: min-max normalise (constant -> ones), keep >= threshold."""
    heatmap, mask = np.asarray(heatmap, float), np.asarray(mask, bool)
    values = {(r, c): Fraction(float(heatmap[r, c])) for r in range(heatmap.shape[0]) for c in range(heatmap.shape[1])}
    low, high = min(values.values()), max(values.values())
    threshold = Fraction(threshold)
    selected = {cell for cell, v in values.items() if (1 if high == low else (v - low) / (high - low)) >= threshold}
    target = {cell for cell in values if mask[cell]}
    return Fraction(len(selected & target), len(selected | target))


def test_pointing_hit_single_maximum_hit_and_miss():
    mask = np.zeros((3, 4), bool)
    mask[1, 1:3] = True
    heatmap = np.zeros((3, 4))
    heatmap[1, 2] = 5.0
    assert metrics.pointing_hit(heatmap, mask) is True
    heatmap[2, 3] = 6.0
    assert metrics.pointing_hit(heatmap, mask) is False
    assert metrics.pointing_hit(heatmap, mask.astype(int)) is False  # 0/1 masks are accepted
    assert metrics.pointing_hit(heatmap.astype(np.float32), mask.astype(np.float32)) is False


def test_pointing_hit_ties_need_a_strict_majority_inside_the_mask():
    mask = np.zeros((2, 3), bool)
    mask[0, 0] = mask[0, 1] = True
    heatmap = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    # Two tied maxima, one inside: an even split is a miss, although np.argmax (index 0) is inside.
    assert mask.flat[np.argmax(heatmap)]
    assert metrics.pointing_hit(heatmap, mask) is False
    heatmap[0, 1] = 1.0  # three tied maxima, two inside
    assert metrics.pointing_hit(heatmap, mask) is True
    heatmap[1, 0] = 1.0  # four tied maxima, two inside
    assert metrics.pointing_hit(heatmap, mask) is False


def test_pointing_hit_constant_heatmap_hits_only_a_mask_over_half_the_image():
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True  # the top-left pixel, where np.argmax of a constant map points
    assert metrics.pointing_hit(np.full((4, 4), 3.0), mask) is False
    mask[:2] = True  # exactly half of the image
    assert metrics.pointing_hit(metrics.whole_image_heatmap(4), mask) is False
    mask[2, 0] = True  # 9 of 16
    assert metrics.pointing_hit(metrics.whole_image_heatmap(4), mask) is True


def test_pointing_accuracy_by_hand_and_against_the_reference():
    masks = np.zeros((4, 3, 3), bool)
    masks[:, 1, 1] = True
    heatmaps = np.zeros((4, 3, 3))
    heatmaps[0, 1, 1] = heatmaps[1, 1, 1] = heatmaps[2, 0, 0] = 1.0  # hit, hit, miss, constant (miss)
    assert metrics.pointing_accuracy(heatmaps, masks) == 0.5
    # Lists of maps of different sizes.
    rng = np.random.default_rng(7)
    shapes = [(3, 5), (4, 4), (2, 7), (6, 3), (5, 5)]
    heatmap_list = [rng.integers(0, 3, shape).astype(float) for shape in shapes]
    mask_list = [rng.random(shape) < 0.5 for shape in shapes]
    for mask in mask_list:
        mask[0, 0] = True
    expected = sum(_reference_hit(h, m) for h, m in zip(heatmap_list, mask_list)) / len(shapes)
    assert metrics.pointing_accuracy(heatmap_list, mask_list) == pytest.approx(expected)
    assert isinstance(metrics.pointing_accuracy(heatmap_list, mask_list), float)


def test_mask_iou_identical_disjoint_and_constant():
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    assert metrics.mask_iou(mask.astype(float), mask) == 1.0
    assert metrics.mask_iou((~mask).astype(float), mask) == 0.0
    # Constant heatmap: normalised to ones, selects every pixel at any threshold: 4 / 16.
    for threshold in (0.0, 0.5, 1.0):
        assert metrics.mask_iou(np.full((4, 4), -2.0), mask, threshold) == 0.25
        assert metrics.mask_iou(metrics.whole_image_heatmap((4, 4)), mask, threshold) == 0.25


def test_mask_iou_threshold_edges():
    heatmap = np.array([[2.0, 4.0, 6.0], [3.0, 5.0, 2.0]])  # normalised: 0, 0.5, 1 / 0.25, 0.75, 0
    mask = np.array([[False, False, True], [False, True, False]])
    # The pixel exactly at 0.5 is kept: selected = {0.5, 1, 0.75}, 2 of them in the 2-pixel mask.
    assert metrics.mask_iou(heatmap, mask, threshold=0.5) == pytest.approx(2 / 3)
    assert metrics.mask_iou(heatmap, mask, threshold=0.5000001) == 1.0
    assert metrics.mask_iou(heatmap, mask, threshold=0.0) == pytest.approx(2 / 6)  # everything
    assert metrics.mask_iou(heatmap, mask, threshold=1.0) == pytest.approx(1 / 2)  # only the maximum
    assert metrics.mask_iou(heatmap, mask, threshold=1) == pytest.approx(1 / 2)


def test_pointing_and_mask_iou_match_brute_force_on_random_maps():
    rng = np.random.default_rng(2024)
    thresholds = [0.0, 0.25, 0.5, 0.75, 1.0]
    for trial in range(200):
        shape = tuple(rng.integers(1, 7, size=2))
        # Small integers make ties frequent; every fourth map is continuous (no ties).
        heatmap = rng.random(shape) if trial % 4 == 0 else rng.integers(0, 4, shape).astype(float)
        mask = rng.random(shape) < rng.uniform(0.1, 0.9)
        mask[tuple(rng.integers(0, s) for s in shape)] = True
        threshold = thresholds[trial % 5] if trial % 2 else float(rng.random())
        assert metrics.pointing_hit(heatmap, mask) == _reference_hit(heatmap, mask), trial
        assert metrics.mask_iou(heatmap, mask, threshold) == pytest.approx(
            float(_reference_iou(heatmap, mask, threshold)), abs=1e-12
        ), trial
        if trial % 4 == 0:
            assert metrics.pointing_hit(heatmap, mask) == bool(mask.flat[np.argmax(heatmap)])


def test_pointing_and_mask_iou_bad_inputs_name_the_argument():
    mask = np.ones((4, 4), bool)
    for function in (metrics.pointing_hit, metrics.mask_iou):
        with pytest.raises(ValueError, match=r"`heatmap`.*\(2, 3\).*`mask`.*\(4, 4\).*resize_heatmap"):
            function(np.ones((2, 3)), mask)
        with pytest.raises(ValueError, match=r"`heatmap` contains 1 NaN or Inf"):
            function(np.where(np.eye(4) * np.arange(4) == 3, np.nan, 0.0), mask)
        with pytest.raises(ValueError, match=r"`mask` contains 1 NaN or Inf"):
            function(np.ones((4, 4)), np.where(np.eye(4) * np.arange(4) == 3, np.inf, 1.0))
        with pytest.raises(ValueError, match="`heatmap` is empty"):
            function(np.ones((0, 4)), mask)
        with pytest.raises(ValueError, match="`mask` is empty"):
            function(np.ones((4, 4)), np.ones((4, 0), bool))
        with pytest.raises(ValueError, match="`mask` is all False"):
            function(np.ones((4, 4)), np.zeros((4, 4), bool))
        with pytest.raises(ValueError, match=r"`mask` must be binary.*0\.5"):
            function(np.ones((4, 4)), np.full((4, 4), 0.5))
        with pytest.raises(ValueError, match="`heatmap` must have rank 2"):
            function(np.ones(16), mask)
    for threshold in (-0.1, 1.5, float("nan"), True, "0.5", None):
        with pytest.raises(ValueError, match=r"`threshold` must be a number in \[0, 1\]"):
            metrics.mask_iou(np.ones((4, 4)), mask, threshold=threshold)


def test_pointing_accuracy_bad_inputs_name_the_argument():
    masks = np.ones((3, 4, 4), bool)
    with pytest.raises(ValueError, match="`heatmaps` and `masks` must have the same length; received 2 .* 3"):
        metrics.pointing_accuracy(np.ones((2, 4, 4)), masks)
    with pytest.raises(ValueError, match="`heatmaps` is empty"):
        metrics.pointing_accuracy([], [])
    with pytest.raises(ValueError, match="`heatmaps` is empty"):
        metrics.pointing_accuracy(np.ones((0, 4, 4)), masks[:0])
    with pytest.raises(ValueError, match="`heatmaps` must have rank 3"):
        metrics.pointing_accuracy(np.ones((4, 4)), masks)
    bad = masks.copy()
    bad[1] = False
    with pytest.raises(ValueError, match=r"`masks\[1\]` is all False"):
        metrics.pointing_accuracy(np.ones((3, 4, 4)), bad)
    with pytest.raises(ValueError, match=r"`heatmaps\[2\]`.*\(4, 5\).*`masks\[2\]`.*\(4, 4\)"):
        metrics.pointing_accuracy([np.ones((4, 4))] * 2 + [np.ones((4, 5))], list(masks))
    with pytest.raises(ValueError, match="`heatmaps` must be an \\(N, H, W\\) array or a list"):
        metrics.pointing_accuracy(3.0, masks)


# --- object baselines ------------------------------------------------------------


def _object_masks(shape):
    masks = np.zeros((3,) + shape, bool)
    masks[0, :2, :2] = True
    masks[1, -3:, -2:] = True  # may overlap object 0 on tiny maps
    return masks  # object 2 is not visible


def test_random_object_heatmap_picks_a_visible_object_reproducibly():
    for shape in [(5, 7), (8, 8), (3, 2)]:
        masks = _object_masks(shape)
        picked = set()
        for seed in range(40):
            heatmap = metrics.random_object_heatmap(masks, seed=seed)
            assert heatmap.shape == shape and heatmap.dtype == np.float32
            matches = [index for index in range(3) if np.array_equal(heatmap, masks[index].astype(np.float32))]
            assert matches and 2 not in matches
            picked.add(matches[0])
            np.testing.assert_array_equal(heatmap, metrics.random_object_heatmap(masks, seed=seed))
        assert picked == {0, 1}
        # As a pointing heatmap it hits exactly when it picked the sounding object.
        heatmap = metrics.random_object_heatmap(masks, seed=0)
        assert metrics.pointing_hit(heatmap, masks[0]) == _reference_hit(heatmap, masks[0])


def test_all_objects_heatmap_is_the_union():
    masks = _object_masks((6, 9))
    union = metrics.all_objects_heatmap(masks.astype(int))
    expected = np.zeros((6, 9))
    for r in range(6):
        for c in range(9):
            expected[r, c] = float(masks[0, r, c] or masks[1, r, c] or masks[2, r, c])
    np.testing.assert_array_equal(union, expected)
    assert union.dtype == np.float32
    # Pointing ties on every object pixel (4 + 6): a hit needs more than 5 of them in the mask.
    assert metrics.pointing_hit(union, masks[1]) is True
    assert metrics.pointing_hit(union, masks[0]) is False
    assert metrics.mask_iou(union, masks[1]) == pytest.approx(6 / 10)


def test_object_baselines_bad_inputs():
    with pytest.raises(ValueError, match="`object_masks` has no visible object"):
        metrics.random_object_heatmap(np.zeros((2, 4, 4), bool), seed=0)
    with pytest.raises(ValueError, match="`object_masks` must have rank 3"):
        metrics.random_object_heatmap(np.ones((4, 4), bool), seed=0)
    with pytest.raises(ValueError, match="`object_masks` is empty"):
        metrics.all_objects_heatmap(np.zeros((0, 4, 4), bool))
    with pytest.raises(ValueError, match="`object_masks` must be binary"):
        metrics.all_objects_heatmap(np.full((1, 4, 4), 2.0))
    with pytest.raises(ValueError, match="`object_masks` contains 1 NaN"):
        metrics.all_objects_heatmap(np.where(np.arange(16).reshape(1, 4, 4) == 5, np.nan, 1.0))


def test_image_baselines_at_any_size_with_pointing_and_mask_iou():
    for size in [9, (7, 10), (12, 8)]:
        height, width = (size, size) if isinstance(size, int) else size
        centre = np.zeros((height, width), bool)
        centre[height // 2 - 1 : height // 2 + 2, width // 2 - 1 : width // 2 + 2] = True
        corner = np.zeros((height, width), bool)
        corner[:2, :2] = True
        prior = metrics.center_prior_heatmap(size)
        whole = metrics.whole_image_heatmap(size)
        assert prior.shape == whole.shape == (height, width)
        assert metrics.pointing_hit(prior, centre) is True
        assert metrics.pointing_hit(prior, corner) is False
        assert metrics.pointing_hit(whole, corner) is False
        assert metrics.mask_iou(whole, corner) == pytest.approx(4 / (height * width))
        assert metrics.mask_iou(prior, corner) == pytest.approx(float(_reference_iou(prior, corner)))
    # Even side: the central 2 x 2 pixels tie; 2 of them in the mask is not a majority.
    half = np.zeros((8, 8), bool)
    half[3, 3:5] = True
    assert metrics.pointing_hit(metrics.center_prior_heatmap(8), half) is False
    half[4, 3] = True
    assert metrics.pointing_hit(metrics.center_prior_heatmap(8), half) is True


# --- matching heatmaps to sources ------------------------------------------------


def _reference_matching_score(heatmaps, masks, threshold=0.5):
    """Best (total IoU, hits) over every one-to-one assignment, by enumeration."""
    k, n = len(heatmaps), len(masks)
    best = None
    pairs = min(k, n)
    for sources in itertools.permutations(range(n), pairs):
        for centres in itertools.permutations(range(k), pairs):
            if sorted(sources) != list(sources):
                continue  # each set of pairs once: sources in increasing order
            iou = sum(_reference_iou(heatmaps[i], masks[j], threshold) for j, i in zip(sources, centres))
            hits = sum(_reference_hit(heatmaps[i], masks[j]) for j, i in zip(sources, centres))
            if best is None or (iou, hits) > best:
                best = (iou, hits)
    return best


def test_match_heatmaps_to_sources_by_hand():
    masks = np.zeros((2, 3, 4), bool)
    masks[0, 0] = True
    masks[1, 2] = True
    heatmaps = np.stack([masks[1], masks[0]]).astype(float)
    sources, centres = metrics.match_heatmaps_to_sources(heatmaps, masks)
    assert sources.tolist() == [0, 1] and centres.tolist() == [1, 0]
    assert sources.dtype.kind == centres.dtype.kind == "i"
    # More centres than sources: the extra centre (a constant map) is left out.
    three = np.concatenate([np.ones((1, 3, 4)), heatmaps])
    sources, centres = metrics.match_heatmaps_to_sources(three, masks)
    assert sources.tolist() == [0, 1] and centres.tolist() == [2, 1]
    # Fewer centres than sources: one pair, the source the centre fits best.
    sources, centres = metrics.match_heatmaps_to_sources(heatmaps[:1], masks)
    assert sources.tolist() == [1] and centres.tolist() == [0]


def test_match_heatmaps_to_sources_ties_broken_by_pointing_and_iou_first():
    masks = np.array([[[1, 1, 0, 0]], [[0, 0, 1, 1]]], bool)  # two 1 x 4 sources
    # Both heatmaps select pixels 0 and 3 (IoU 1/3 with either source); A points at
    # pixel 3 (source 1), B at pixel 0 (source 0).
    a = np.array([[0.9, 0.5, 0.5, 1.0]])
    b = np.array([[1.0, 0.5, 0.5, 0.9]])
    assert metrics.match_heatmaps_to_sources(np.stack([a, b]), masks)[1].tolist() == [1, 0]
    assert metrics.match_heatmaps_to_sources(np.stack([b, a]), masks)[1].tolist() == [0, 1]
    # IoU first: A fits source 0 (3/4 against 1/6) but points into source 1.
    masks = np.array([[[1, 1, 1, 0, 0, 0]], [[0, 0, 0, 1, 1, 1]]], bool)
    a = np.array([[0.8, 0.8, 0.8, 1.0, 0.0, 0.0]])
    b = np.array([[1.0, 0.0, 0.0, 0.8, 0.8, 0.8]])
    assert metrics.match_heatmaps_to_sources(np.stack([a, b]), masks)[1].tolist() == [0, 1]


def test_match_heatmaps_to_sources_is_optimal_on_random_scenes():
    rng = np.random.default_rng(11)
    for trial in range(60):
        k, n = rng.integers(1, 5, size=2)
        heatmaps = rng.integers(0, 3, (k, 3, 4)).astype(float)
        masks = rng.random((n, 3, 4)) < 0.4
        masks[:, 0, 0] |= ~masks.reshape(n, -1).any(axis=1)
        threshold = [0.5, 0.25, 1.0][trial % 3]
        sources, centres = metrics.match_heatmaps_to_sources(heatmaps, masks, threshold)
        assert len(sources) == len(centres) == min(k, n)
        assert len(set(sources.tolist())) == len(set(centres.tolist())) == min(k, n)
        assert sources.tolist() == sorted(sources.tolist())
        achieved = (
            sum(_reference_iou(heatmaps[i], masks[j], threshold) for j, i in zip(sources, centres)),
            sum(_reference_hit(heatmaps[i], masks[j]) for j, i in zip(sources, centres)),
        )
        assert achieved == _reference_matching_score(heatmaps, masks, threshold), trial


def test_match_heatmaps_to_sources_bad_inputs():
    masks = np.ones((2, 4, 4), bool)
    with pytest.raises(ValueError, match=r"`heatmaps`.*\(3, 4, 5\).*`source_masks`.*\(2, 4, 4\).*resize_heatmap"):
        metrics.match_heatmaps_to_sources(np.ones((3, 4, 5)), masks)
    with pytest.raises(ValueError, match="`heatmaps` must have rank 3"):
        metrics.match_heatmaps_to_sources(np.ones((4, 4)), masks)
    with pytest.raises(ValueError, match="`source_masks` is empty"):
        metrics.match_heatmaps_to_sources(np.ones((1, 4, 4)), np.ones((0, 4, 4)))
    with pytest.raises(ValueError, match="`heatmaps` contains 1 NaN"):
        metrics.match_heatmaps_to_sources(np.where(np.arange(16).reshape(1, 4, 4) == 3, np.nan, 0.0), masks)
    bad = masks.copy()
    bad[1] = False
    with pytest.raises(ValueError, match=r"`source_masks\[1\]` is all False"):
        metrics.match_heatmaps_to_sources(np.ones((2, 4, 4)), bad)
    with pytest.raises(ValueError, match="`threshold`"):
        metrics.match_heatmaps_to_sources(np.ones((2, 4, 4)), masks, threshold=2)


def test_mask_to_grid_marks_every_cell_an_object_pixel_touches():
    from avcourse.metrics import mask_to_grid

    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = rng.random((128, 128)) > 0.995
        grid = mask_to_grid(mask, 16)
        # reference: 8 x 8 blocks, any pixel set
        expected = mask.reshape(16, 8, 16, 8).any(axis=(1, 3))
        np.testing.assert_array_equal(grid, expected)
    uneven = np.zeros((10, 10), bool)
    uneven[9, 9] = True
    assert mask_to_grid(uneven, 3).astype(int).tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match="at most"):
        mask_to_grid(uneven, 20)
    with pytest.raises(ValueError, match="0/1"):
        mask_to_grid(np.full((4, 4), 0.5), 2)
