"""Evaluating trained models the way the papers do, with baselines beside them.

:func:`localization_results` scores CAVL's heatmaps (Eq 7) with cIoU@0.5 and
AUC (DESIGN §3.4) next to the whole-image, centre-prior and random baselines
and the "unaligned centre" ablation, on batches that carry consensus maps
(``scene_dataset(..., with_ground_truth=True)``): the paper's protocol, for
the world's ``"flickr"`` layout. :func:`object_localization_results` scores
the same heatmaps by pointing and mask IoU against each sounding object's
exact pixels, for the default layout where silent instruments stand beside
the sounding ones. :func:`match_roc_auc` rates how well matched pairs are
told from mismatched ones without a threshold, and the callback
:class:`MatchRocAucCurve` records it after every epoch of a ``fit`` (the
curves of CAVL's Fig. 4b).

Taught in: tutorials/04_localization.ipynb, tutorials/03_curriculum.ipynb (the curve)
"""

import keras
import numpy as np
import scipy.stats

from avcourse.metrics.localization import (
    center_prior_heatmap,
    ciou,
    localization_summary,
    mask_to_grid,
    random_heatmap,
    resize_heatmap,
    whole_image_heatmap,
)
from avcourse.metrics.object_masks import (
    all_objects_heatmap,
    mask_iou,
    match_heatmaps_to_sources,
    pointing_hit,
    random_object_heatmap,
)

__all__ = [
    "BASELINES",
    "OBJECT_BASELINES",
    "MatchRocAucCurve",
    "localization_results",
    "match_roc_auc",
    "object_localization_results",
]

BASELINES = ("whole image", "centre prior", "random")


def localization_results(model, dataset, *, seed=0):
    """cIoU@0.5 and AUC of a CAVL model's heatmaps and of the baselines.

    Args:
        model: a trained ``CAVLModel`` (anything with ``localization_maps``).
        dataset: batches with ``image``, ``audio`` and ``consensus_map`` (224 x 224).
        seed: seed of the random-heatmap baseline.

    Returns:
        dict method → ``{"ciou@0.5", "auc", "cious"}`` for ``"aligned centre"``,
        ``"unaligned centre"``, ``"whole image"``, ``"centre prior"`` and ``"random"``.
    """
    cious = {name: [] for name in ("aligned centre", "unaligned centre") + BASELINES}
    rng = np.random.default_rng(seed)
    for batch in dataset:
        gt_maps = np.asarray(batch["consensus_map"])
        if gt_maps.ndim != 3 or gt_maps.shape[1:] != (224, 224):
            raise ValueError(f"`dataset` batches must hold `consensus_map` (B, 224, 224); received shape {gt_maps.shape}.")
        maps = {
            "aligned centre": model.localization_maps(batch, aligned=True),
            "unaligned centre": model.localization_maps(batch, aligned=False),
        }
        for index, gt in enumerate(gt_maps):
            for name, heatmaps in maps.items():
                cious[name].append(ciou(resize_heatmap(heatmaps[index], 224), gt))
            cious["whole image"].append(ciou(whole_image_heatmap(224), gt))
            cious["centre prior"].append(ciou(center_prior_heatmap(224), gt))
            cious["random"].append(ciou(random_heatmap(224, seed=int(rng.integers(2**31))), gt))
    if not cious["random"]:
        raise ValueError("`dataset` yielded no batches.")
    return {name: {**localization_summary(values), "cious": np.asarray(values)} for name, values in cious.items()}


OBJECT_BASELINES = ("centre prior", "whole image", "random object", "all objects", "oracle")


def object_localization_results(model, dataset, *, seed=0):
    """Pointing and mask IoU of a CAVL model's heatmaps, per sounding source, with the baselines.

    For scenes of the ``"instruments"`` layout (batches from
    ``scene_dataset(..., with_ground_truth=True)``: ``object_masks``,
    ``object_sounding``). The model clusters into as many audio centres as it
    was built with (``model.with_num_clusters(k)`` for ``k``-source scenes);
    audio centres are unordered, so each sounding source is scored with the
    audio centre whose aligned heatmap matches it best under a one-to-one
    assignment (:func:`~avcourse.metrics.match_heatmaps_to_sources`).
    Heatmaps are scored on their own grid (16 x 16 for the recipe's 128 px
    pictures) against the cells each object touches
    (:func:`~avcourse.metrics.mask_to_grid`) with ``pointing_hit`` and
    ``mask_iou``: a grid of cells cannot say which pixels of a thin sprite
    are the object's, and upsampling a saturated assignment map (soft k-means
    at β = 30 gives many cells a weight of exactly 1) only spreads its ties
    over the sprite's gaps. The unaligned-centre ablation scores the
    background centre's map against every source.

    Baselines, per source: the centre prior, the whole image, a random object
    of the picture (sounding or not), all objects together and the oracle
    (the source's own mask).

    Returns:
        dict method → ``{"pointing", "mask_iou"}`` (means over sources) for
        ``"aligned"``, ``"unaligned"`` and each of ``OBJECT_BASELINES``, plus
        ``"sources"``, the number of sources scored.
    """
    rng = np.random.default_rng(seed)
    scores = {name: {"pointing": [], "mask_iou": []} for name in ("aligned", "unaligned") + OBJECT_BASELINES}

    def score(name, heatmap, mask):
        scores[name]["pointing"].append(float(pointing_hit(heatmap, mask)))
        scores[name]["mask_iou"].append(mask_iou(heatmap, mask))

    for batch in dataset:
        if "object_masks" not in batch:
            raise ValueError("`dataset` batches must hold `object_masks`; build it with scene_dataset(..., with_ground_truth=True).")
        pixel_masks = np.asarray(batch["object_masks"]) > 0.5
        sounding = np.asarray(batch["object_sounding"]) > 0.5
        counts = np.asarray(batch["num_objects"])
        aligned = model.localization_maps(batch, aligned=True, per_centre=True)
        unaligned = model.localization_maps(batch, aligned=False)
        size = aligned.shape[-2:]
        centre = center_prior_heatmap(size)
        whole = whole_image_heatmap(size)
        for index in range(len(pixel_masks)):
            objects = np.stack([mask_to_grid(mask, size) for mask in pixel_masks[index, : counts[index]]])
            sources = objects[sounding[index, : counts[index]]]
            maps = aligned[index]
            source_index, map_index = match_heatmaps_to_sources(maps, sources)
            for s, m in zip(source_index, map_index):
                score("aligned", maps[m], sources[s])
            background = unaligned[index]
            union = all_objects_heatmap(objects)
            for mask in sources:
                score("unaligned", background, mask)
                score("centre prior", centre, mask)
                score("whole image", whole, mask)
                score("random object", random_object_heatmap(objects, seed=int(rng.integers(2**31))), mask)
                score("all objects", union, mask)
                score("oracle", mask.astype(np.float32), mask)
    if not scores["oracle"]["pointing"]:
        raise ValueError("`dataset` yielded no batches.")
    results = {name: {key: float(np.mean(values)) for key, values in columns.items()} for name, columns in scores.items()}
    results["sources"] = len(scores["oracle"]["pointing"])
    return results


def match_roc_auc(model, dataset):
    """ROC-AUC of matched vs in-batch mismatched pair distances (threshold-free match quality).

    The probability that a mismatched pair (picture ``i``, sound of ``i + 1``,
    as in training) lies farther apart than a matched pair, ties counting one
    half: 0.5 is chance, 1 a perfect ranking. Unlike the match accuracy at
    ``margin / 2`` it does not depend on where the distances sit.
    """
    matched, mismatched = [], []
    for batch in dataset:
        distance, is_match = model.pair_distances(model(batch, training=False))
        distance = np.asarray(distance, dtype=np.float64)
        is_match = np.asarray(is_match) > 0.5
        matched.append(distance[is_match])
        mismatched.append(distance[~is_match])
    if not matched:
        raise ValueError("`dataset` yielded no batches.")
    matched, mismatched = np.concatenate(matched), np.concatenate(mismatched)
    # Mann-Whitney U through ranks (average ranks for ties): AUC = P(mismatched > matched).
    ranks = scipy.stats.rankdata(np.concatenate([matched, mismatched]))
    rank_sum = ranks[len(matched) :].sum()
    u_statistic = rank_sum - len(mismatched) * (len(mismatched) + 1) / 2
    return float(u_statistic / (len(matched) * len(mismatched)))


class MatchRocAucCurve(keras.callbacks.Callback):
    """After every epoch, :func:`match_roc_auc` of the model being fitted on held-out ``scenes``.

    The model is scored as a copy that clusters into ``num_audio_clusters``
    and ``num_visual_clusters`` centres (``model.with_num_clusters``; the
    weights are the same), so every start of a stage is scored alike. The
    values collect in :attr:`values` and are added to the epoch's logs as
    ``"heldout_roc_auc"`` (a callback listed after this one, e.g.
    :class:`avcourse.notebook.EpochProgress`, prints it).

    Args:
        scenes: batches of held-out scenes (``image`` and ``audio``), e.g.
            ``scene_dataset(..., split="test")``.
        num_audio_clusters: ``k_a`` of the scored copy.
        num_visual_clusters: ``k_v`` of the scored copy.

    Attributes:
        values: the ROC-AUC after each epoch so far, a list of floats.
    """

    def __init__(self, scenes, num_audio_clusters, num_visual_clusters):
        super().__init__()
        for name, value in (("num_audio_clusters", num_audio_clusters), ("num_visual_clusters", num_visual_clusters)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer; received {value!r}.")
        self.scenes = scenes
        self.num_audio_clusters = int(num_audio_clusters)
        self.num_visual_clusters = int(num_visual_clusters)
        self.values = []

    def on_epoch_end(self, epoch, logs=None):
        clusters = (self.num_audio_clusters, self.num_visual_clusters)
        same = (getattr(self.model, "num_audio_clusters", None), getattr(self.model, "num_visual_clusters", None)) == clusters
        scored = self.model if same else self.model.with_num_clusters(*clusters)  # a copy only when the counts differ
        self.values.append(match_roc_auc(scored, self.scenes))
        if logs is not None:
            logs["heldout_roc_auc"] = self.values[-1]
