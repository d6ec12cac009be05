"""Evaluating trained models the way the papers do, with baselines beside them.

:func:`localization_results` scores CAVL's heatmaps (Eq 7) with cIoU@0.5 and
AUC (DESIGN §3.4) next to the whole-image, centre-prior and random baselines
and the "unaligned centre" ablation, on batches that carry consensus maps
(``scene_dataset(..., with_ground_truth=True)``).

Taught in: tutorials/04_localization.ipynb
"""

import numpy as np

from avcourse.metrics.localization import (
    center_prior_heatmap,
    ciou,
    localization_summary,
    random_heatmap,
    resize_heatmap,
    whole_image_heatmap,
)

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
