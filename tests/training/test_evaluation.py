"""localization_results scores heatmaps and baselines with the protocol's cIoU."""

import numpy as np
import pytest

from avcourse.training.evaluation import (
    MatchRocAucCurve,
    localization_results,
    match_roc_auc,
    object_localization_results,
)


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


class _ObjectModel:
    """Per-centre maps given by the test: (B, k, h, w); the unaligned map is the first centre's complement."""

    def __init__(self, maps):
        self.maps = maps

    def localization_maps(self, batch, aligned=True, per_centre=False):
        if aligned:
            return self.maps if per_centre else self.maps.max(axis=1)
        return 1.0 - self.maps[:, 0]


def _object_batch():
    """Two 16 x 16 pictures: object 0 (sounding) top-left 4 x 4, object 1 (silent) bottom-right 4 x 4."""
    masks = np.zeros((2, 7, 16, 16), np.float32)
    masks[:, 0, 0:4, 0:4] = 1
    masks[:, 1, 12:16, 12:16] = 1
    sounding = np.zeros((2, 7), np.float32)
    sounding[:, 0] = 1
    return {"object_masks": masks, "object_sounding": sounding, "num_objects": np.array([2, 2], np.int32)}


def test_object_localization_scores_pointing_and_mask_iou_per_source():
    batch = _object_batch()
    maps = np.zeros((2, 1, 16, 16), np.float32)
    maps[0, 0, 0:4, 0:4] = 1.0  # picture 0: exactly the sounding object
    maps[1, 0, 12:16, 12:16] = 1.0  # picture 1: the silent object
    results = object_localization_results(_ObjectModel(maps), [batch], seed=0)
    assert results["sources"] == 2
    # hand-computed: picture 0 hits with IoU 1, picture 1 misses with IoU 0
    assert results["aligned"] == {"pointing": 0.5, "mask_iou": 0.5}
    assert results["oracle"] == {"pointing": 1.0, "mask_iou": 1.0}
    # all objects: the union (32 cells) against 16 sounding cells; its maxima tie over 32 cells, half inside: a miss
    assert results["all objects"] == {"pointing": 0.0, "mask_iou": 0.5}
    # the whole image keeps all 256 cells: IoU 16/256; a constant map points nowhere in particular: a miss
    assert results["whole image"] == {"pointing": 0.0, "mask_iou": 16 / 256}
    assert 0.0 <= results["random object"]["pointing"] <= 1.0


def test_object_localization_needs_object_masks():
    with pytest.raises(ValueError, match="object_masks"):
        object_localization_results(_ObjectModel(np.zeros((1, 1, 4, 4))), [{"consensus_map": np.zeros((1, 224, 224))}])


class _DistanceModel:
    """A model whose pair distances are given: matched first, then mismatched."""

    def __init__(self, matched, mismatched):
        self.matched, self.mismatched = np.asarray(matched, float), np.asarray(mismatched, float)

    def __call__(self, batch, training=False):
        return batch

    def pair_distances(self, outputs):
        distance = np.concatenate([self.matched, self.mismatched])
        return distance, np.concatenate([np.ones(len(self.matched)), np.zeros(len(self.mismatched))])


def test_match_roc_auc_is_the_probability_that_a_mismatch_lies_farther():
    rng = np.random.default_rng(0)
    matched, mismatched = rng.normal(0, 1, 40), rng.normal(0.8, 1, 40)
    matched[:5] = mismatched[:5]  # ties count one half
    # reference: count every (matched, mismatched) pair
    wins = (mismatched[None, :] > matched[:, None]).sum() + 0.5 * (mismatched[None, :] == matched[:, None]).sum()
    assert match_roc_auc(_DistanceModel(matched, mismatched), [{}]) == pytest.approx(wins / 1600, abs=1e-12)
    assert match_roc_auc(_DistanceModel([0.1, 0.2], [0.3, 0.4]), [{}]) == 1.0
    with pytest.raises(ValueError, match="no batches"):
        match_roc_auc(_DistanceModel([0.1], [0.2]), [])


class _ClusteringDistanceModel(_DistanceModel):
    """A _DistanceModel that records the cluster counts it is scored with."""

    def with_num_clusters(self, num_audio_clusters, num_visual_clusters):
        self.scored_with = (num_audio_clusters, num_visual_clusters)
        return self


def test_match_roc_auc_curve_records_each_epoch_and_logs_it():
    model = _ClusteringDistanceModel([0.1, 0.5], [0.3, 0.4])
    curve = MatchRocAucCurve([{}], 3, 10)
    curve.set_model(model)
    logs = {}
    for epoch in range(2):
        curve.on_epoch_end(epoch, logs)
    # reference: of the four (matched, mismatched) pairs, (0.1, 0.3) and (0.1, 0.4) rank right
    assert curve.values == [0.5, 0.5] and logs["heldout_roc_auc"] == 0.5
    assert model.scored_with == (3, 10)


@pytest.mark.parametrize("bad", [0, 1.5, True])
def test_match_roc_auc_curve_rejects_bad_cluster_counts(bad):
    with pytest.raises(ValueError, match="num_audio_clusters"):
        MatchRocAucCurve([{}], bad, 4)
