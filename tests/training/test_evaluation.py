"""localization_results scores heatmaps and baselines with the protocol's cIoU."""

import numpy as np
import pytest

from avcourse.training.evaluation import localization_results


class _OracleModel:
    """Returns the ground truth box as the aligned heatmap and its complement as the unaligned one."""

    def __init__(self, maps):
        self.maps = maps

    def localization_maps(self, batch, aligned=True):
        return self.maps if aligned else 1.0 - self.maps


def _batch(num=3):
    gt = np.zeros((num, 224, 224), np.float32)
    gt[:, 56:168, 56:168] = 1.0  # a centred box covering 25% of the image
    heat = np.zeros((num, 8, 8), np.float32)
    heat[:, 2:6, 2:6] = 1.0
    return {"consensus_map": gt}, heat


def test_known_cious_for_an_oracle_map_its_complement_and_the_whole_image():
    batch, heat = _batch()
    results = localization_results(_OracleModel(heat), [batch])
    # 75% of the oracle map is 0, so its median is 0 and the ">= median" rule keeps every pixel,
    # exactly like the whole-image baseline: cIoU = 0.25 / (0.25 + 0.75)
    np.testing.assert_allclose(results["aligned centre"]["cious"], 0.25, atol=0.02)
    np.testing.assert_allclose(results["whole image"]["cious"], 0.25, atol=1e-6)
    # the complement's top half excludes the box: overlap 0
    np.testing.assert_allclose(results["unaligned centre"]["cious"], 0.0, atol=0.02)
    assert set(results) == {"aligned centre", "unaligned centre", "whole image", "centre prior", "random"}
    assert results["whole image"]["ciou@0.5"] == 0.0


def test_rejects_batches_without_consensus_maps():
    with pytest.raises(ValueError, match="`dataset` batches must hold `consensus_map`"):
        localization_results(_OracleModel(np.zeros((1, 8, 8))), [{"consensus_map": np.zeros((1, 10, 10))}])
    with pytest.raises(ValueError, match="yielded no batches"):
        localization_results(_OracleModel(np.zeros((1, 8, 8))), [])
