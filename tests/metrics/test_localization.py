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
