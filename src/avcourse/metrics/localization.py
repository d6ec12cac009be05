"""Sound-localization metrics: ground-truth maps, cIoU and its summary (AUC).

The protocol is the one of Senocak et al. (CVPR 2018) as implemented in the
evaluation code of LVS (Chen et al., CVPR 2021) and EZ-VSL (Mo and Morgado,
ECCV 2022), which later papers copy:

1. the ground truth is a map at 224 x 224: for SoundNet-Flickr the consensus
   of three annotators ``min(sum of annotator masks / 2, 1)`` (1 where at least
   two agree, 0.5 where one marked the pixel), for VGG-SS the union of boxes;
2. the predicted heatmap is resized to the same size, min-max normalised and
   binarised by keeping its top half (at the median);
3. ``cIoU = sum(p * gt) / (sum(gt) + sum(p * [gt == 0]))``;
4. over a test set, ``ciou@0.5`` is the fraction of samples with cIoU >= 0.5
   and ``auc`` the area under the success rate (fraction with cIoU >= t) for
   t = 0, 0.05, ..., 1.

Rasterisation (which pixels a box covers) copies that reference code: a box
``[x1, y1, x2, y2]`` in an image of ``width x height`` is scaled to the map,
each coordinate truncated, ``floor(x * map_width / width)``, clipped to the
map, and covers the half-open ranges ``rows y1 <= r < y2, cols x1 <= c < x2``
(numpy slicing ``mask[y1:y2, x1:x2]``). A SoundNet-Flickr box (256 x 256
frame) ``[0, 0, 128, 128]`` thus covers rows and columns 0..111 of a 224 map.

Always report the whole-image and centre-prior baselines beside a model: on
SoundNet-Flickr, where sources are large and central, they score high.

For the synthetic multi-object pictures, whose exact object masks are known,
:mod:`avcourse.metrics.object_masks` compares a heatmap with a binary mask at
the same resolution: the pointing game, mask IoU, their baselines and the
matching of several sources' heatmaps (all of them also in
:mod:`avcourse.metrics`).

Taught in: tutorials/04_localization.ipynb
"""

import numpy as np

from avcourse._validation import as_float_array, check_nonnegative_int, check_number, check_positive_int

__all__ = [
    "SUCCESS_THRESHOLDS",
    "center_prior_heatmap",
    "ciou",
    "consensus_map",
    "localization_summary",
    "mask_to_grid",
    "normalize_heatmap",
    "random_heatmap",
    "resize_heatmap",
    "union_map",
    "whole_image_heatmap",
]

# The success-rate thresholds 0, 0.05, ..., 1 of the reference AUC. ``i / 20``
# gives the nearest double to each decimal; the reference code's ``0.05 * i``
# overshoots some (0.05 * 14 = 0.7000000000000001), so a cIoU of exactly 0.7
# would not count at 0.7. Real cIoUs are not that close to a threshold; the
# two agree on any cIoU further than 1e-15 from one.
SUCCESS_THRESHOLDS = np.arange(21) / 20
"""The cIoU thresholds 0, 0.05, ..., 1 of the success-rate curve whose area is the AUC."""


def _map_size(size, name="size"):
    """``size`` as ``(height, width)``: an int gives a square map."""
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError(f"`{name}` must be an int or a (height, width) pair; received {size!r}.")
        return check_positive_int(size[0], f"{name}[0]"), check_positive_int(size[1], f"{name}[1]")
    side = check_positive_int(size, name)
    return side, side


def _as_boxes(boxes, name):
    """``boxes`` as a float (n, 4) array of ``[x1, y1, x2, y2]`` with x2 >= x1, y2 >= y1."""
    array = as_float_array(boxes, name, allow_empty=True)
    if array.size == 0:
        return array.reshape(0, 4)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(
            f"`{name}` must be a list of [x1, y1, x2, y2] boxes (shape (n, 4)); received shape {array.shape}."
        )
    inverted = np.flatnonzero((array[:, 2] < array[:, 0]) | (array[:, 3] < array[:, 1]))
    if inverted.size:
        raise ValueError(
            f"`{name}` must hold boxes with x2 >= x1 and y2 >= y1 ([x1, y1, x2, y2]); "
            f"box {int(inverted[0])} is {array[inverted[0]].tolist()}."
        )
    return array


def _boxes_mask(boxes, size, image_size, name):
    """Binary (height, width) union of ``boxes`` rasterised as the module docstring says."""
    height, width = _map_size(size)
    if image_size is None:
        image_width, image_height = 1.0, 1.0
    else:
        if (
            not isinstance(image_size, (tuple, list))
            or len(image_size) != 2
            or not all(np.isscalar(v) and not isinstance(v, (bool, str)) and np.isfinite(v) and v > 0 for v in image_size)
        ):
            raise ValueError(
                f"`image_size` must be a (width, height) pair of positive numbers or None; received {image_size!r}."
            )
        image_width, image_height = float(image_size[0]), float(image_size[1])
    mask = np.zeros((height, width), np.float32)
    for x1, y1, x2, y2 in _as_boxes(boxes, name):
        # Multiply before dividing, as the reference code does (int(224 * v / 256)).
        c1, c2 = (int(np.clip(np.floor(x * width / image_width), 0, width)) for x in (x1, x2))
        r1, r2 = (int(np.clip(np.floor(y * height / image_height), 0, height)) for y in (y1, y2))
        mask[r1:r2, c1:c2] = 1.0
    return mask


def union_map(boxes, size=224, image_size=None):
    """Ground-truth map of a single-annotator set (VGG-SS): the union of boxes.

    Args:
        boxes: list of ``[x1, y1, x2, y2]`` boxes, in pixels of an image of
            ``image_size`` or normalised to [0, 1] when ``image_size`` is None.
        size: side of the square map, or ``(height, width)``.
        image_size: ``(width, height)`` of the image the pixel boxes refer to,
            or None for normalised boxes.

    Returns:
        float32 array (height, width) of 0 and 1.

    Raises:
        ValueError: if a box is not 4 numbers with x2 >= x1 and y2 >= y1, or a
            size is not positive.
    """
    return _boxes_mask(boxes, size, image_size, "boxes")


def consensus_map(annotator_boxes, size=224, image_size=None):
    """Ground-truth consensus map of several annotators (SoundNet-Flickr).

    Each annotator's mask is the union of that annotator's boxes; the map is
    ``min(sum of masks / 2, 1)``: 1 where at least two annotators agree, 0.5
    where only one marked the pixel, 0 elsewhere.

    Args:
        annotator_boxes: one list of ``[x1, y1, x2, y2]`` boxes per annotator,
            in pixels of an image of ``image_size`` or normalised to [0, 1]
            when ``image_size`` is None. An annotator may have no box. A
            flat list of boxes counts each box as one annotator, which is how
            the reference code treats a SoundNet-Flickr file.
        size: side of the square map, or ``(height, width)``.
        image_size: ``(width, height)`` of the image the pixel boxes refer to
            (256 x 256 for SoundNet-Flickr), or None for normalised boxes.

    Returns:
        float32 array (height, width) with values in {0, 0.5, 1}.

    Raises:
        ValueError: if there is no annotator, a box is malformed or a size is
            not positive.
    """
    if isinstance(annotator_boxes, np.ndarray):
        annotator_boxes = list(annotator_boxes)
    if not isinstance(annotator_boxes, (list, tuple)) or len(annotator_boxes) == 0:
        raise ValueError(
            "`annotator_boxes` must be a non-empty list with one list of boxes per annotator; "
            f"received {annotator_boxes!r}."
        )
    votes = sum(
        _boxes_mask(boxes, size, image_size, f"annotator_boxes[{index}]") for index, boxes in enumerate(annotator_boxes)
    )
    return np.minimum(votes / 2.0, 1.0).astype(np.float32)


def _as_map(value, name):
    return as_float_array(value, name, ndim=2)


def normalize_heatmap(heatmap):
    """Min-max normalise ``heatmap`` to [0, 1].

    A constant heatmap prefers no pixel over another, so every pixel is its
    maximum: it becomes all ones (and, binarised, selects the whole image).

    Args:
        heatmap: 2-D array.

    Returns:
        float64 array of the same shape with values in [0, 1].

    Raises:
        ValueError: if ``heatmap`` is not a finite, non-empty 2-D array.
    """
    heatmap = _as_map(heatmap, "heatmap").astype(np.float64)
    low, high = heatmap.min(), heatmap.max()
    if high == low:
        return np.ones_like(heatmap)
    return (heatmap - low) / (high - low)


def ciou(heatmap, gt_map, threshold=None):
    """Consensus IoU of one heatmap against one ground-truth map.

    The heatmap is min-max normalised (:func:`normalize_heatmap`) and
    binarised: ``p = heatmap >= t``. By default ``t`` is the median as the
    EZ-VSL code takes it, the value at index ``N // 2`` of the ascending sorted
    N pixels, which keeps the top half of distinct values; pixels tied with
    the median are all kept, so a constant heatmap selects the whole image.
    (LVS's code uses ``>``, which keeps one pixel fewer for distinct values
    and selects nothing on a constant map.) Then

    ``cIoU = sum(p * gt) / (sum(gt) + sum(p * [gt == 0]))``.

    Args:
        heatmap: 2-D array of scores, already at the ground truth's size (see
            :func:`resize_heatmap`).
        gt_map: 2-D ground-truth map with values in [0, 1], from
            :func:`consensus_map` or :func:`union_map`.
        threshold: fixed threshold in [0, 1] on the normalised heatmap instead
            of the median, or None.

    Returns:
        the cIoU as a Python float in [0, 1].

    Raises:
        ValueError: if an input is not a finite 2-D array, the shapes differ,
            ``gt_map`` has values outside [0, 1] or is all zeros (empty ground
            truth), or ``threshold`` is outside [0, 1].
    """
    heatmap = _as_map(heatmap, "heatmap")
    gt_map = _as_map(gt_map, "gt_map").astype(np.float64)
    if heatmap.shape != gt_map.shape:
        raise ValueError(
            f"`heatmap` must have the ground truth's shape {gt_map.shape}; received {heatmap.shape}. "
            "Resize it first with resize_heatmap(heatmap, gt_map.shape)."
        )
    if gt_map.min() < 0 or gt_map.max() > 1:
        raise ValueError(f"`gt_map` must have values in [0, 1]; received values in [{gt_map.min()}, {gt_map.max()}].")
    if not gt_map.any():
        raise ValueError("`gt_map` is all zeros (empty ground truth); cIoU is undefined without a target.")
    scores = normalize_heatmap(heatmap)
    if threshold is None:
        threshold = np.sort(scores, axis=None)[scores.size // 2]
    elif isinstance(threshold, (bool, np.bool_)) or not (np.isscalar(threshold) and 0 <= threshold <= 1):
        raise ValueError(f"`threshold` must be a number in [0, 1] or None; received {threshold!r}.")
    selected = (scores >= threshold).astype(np.float64)
    intersection = np.sum(selected * gt_map)
    union = np.sum(gt_map) + np.sum(selected * (gt_map == 0))
    return float(intersection / union)


def localization_summary(cious):
    """Summarise per-sample cIoUs as the papers report them.

    Args:
        cious: 1-D sequence of per-sample cIoUs in [0, 1].

    Returns:
        dict with ``"ciou@0.5"``, the fraction of samples with cIoU >= 0.5,
        and ``"auc"``, the trapezoidal area under the success rate
        ``mean(cious >= t)`` over t in :data:`SUCCESS_THRESHOLDS`
        (0, 0.05, ..., 1), the value of ``sklearn.metrics.auc`` in the
        reference code.

    Raises:
        ValueError: if ``cious`` is empty, not 1-D, not finite or outside [0, 1].
    """
    cious = as_float_array(cious, "cious", ndim=1).astype(np.float64)
    if cious.min() < 0 or cious.max() > 1:
        raise ValueError(f"`cious` must be in [0, 1]; received values in [{cious.min()}, {cious.max()}].")
    success = np.array([np.mean(cious >= t) for t in SUCCESS_THRESHOLDS])
    # Trapezoid rule written out: np.trapz is gone in numpy 2, np.trapezoid new in 2.0.
    auc = np.sum(np.diff(SUCCESS_THRESHOLDS) * (success[1:] + success[:-1]) / 2)
    return {"ciou@0.5": float(np.mean(cious >= 0.5)), "auc": float(auc)}


def _linear_resize_matrix(source, target):
    """(target, source) matrix of 1-D linear interpolation with half-pixel centres."""
    position = (np.arange(target) + 0.5) * (source / target) - 0.5
    position = np.clip(position, 0, source - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, source - 1)
    weight = position - lower
    matrix = np.zeros((target, source))
    matrix[np.arange(target), lower] += 1 - weight
    matrix[np.arange(target), upper] += weight
    return matrix


def resize_heatmap(heatmap, size):
    """Resize a heatmap bilinearly, e.g. a 14 x 14 assignment map to 224 x 224.

    Pixel centres sit at half-integers (``align_corners=False``) and edges are
    clamped, as ``cv2.resize(..., INTER_LINEAR)`` in the LVS evaluation and
    PIL's bilinear upsampling do; there is no antialiasing when shrinking.

    Args:
        heatmap: 2-D array.
        size: side of the square output, or ``(height, width)``.

    Returns:
        float32 array of shape (height, width).

    Raises:
        ValueError: if ``heatmap`` is not a finite, non-empty 2-D array or
            ``size`` is not positive.
    """
    heatmap = _as_map(heatmap, "heatmap").astype(np.float64)
    height, width = _map_size(size)
    rows = _linear_resize_matrix(heatmap.shape[0], height)
    columns = _linear_resize_matrix(heatmap.shape[1], width)
    return (rows @ heatmap @ columns.T).astype(np.float32)


def mask_to_grid(mask, size):
    """An object mask brought down to a heatmap's grid: a cell is on the object when any of its pixels is.

    A 16 x 16 assignment map cannot say which pixels of a thin sprite (a
    flute, a bow) are the object's, only which cells are; scoring it at the
    grid's resolution against the cells the object touches asks exactly that.
    Output cell ``(i, j)`` covers input rows ``floor(i·H/h) … ceil((i+1)·H/h) - 1``
    and the same for columns, so every pixel lies in at least one cell.

    Args:
        mask: 2-D bool or 0/1 array (H, W).
        size: side of the square grid, or ``(h, w)``; at most the mask's size.

    Returns:
        bool array (h, w).

    Examples:
    >>> mask = np.zeros((4, 4), bool); mask[0, 3] = True
    >>> mask_to_grid(mask, 2).astype(int).tolist()
    [[0, 1], [0, 0]]
    """
    mask = _as_map(mask, "mask")
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("`mask` must hold only 0/1 (or bool) values.")
    height, width = _map_size(size)
    if height > mask.shape[0] or width > mask.shape[1]:
        raise ValueError(f"`size` must be at most the mask's {mask.shape}; received {(height, width)}.")
    rows = [(i * mask.shape[0] // height, -(-(i + 1) * mask.shape[0] // height)) for i in range(height)]
    cols = [(j * mask.shape[1] // width, -(-(j + 1) * mask.shape[1] // width)) for j in range(width)]
    return np.array([[mask[r0:r1, c0:c1].any() for c0, c1 in cols] for r0, r1 in rows], dtype=bool)


def whole_image_heatmap(size=224):
    """Baseline heatmap that selects the whole image (constant ones).

    Being constant, every pixel is a tied maximum: :func:`~avcourse.metrics.object_masks.pointing_hit` counts
    a hit only when the mask covers more than half of the image, and
    :func:`~avcourse.metrics.object_masks.mask_iou` (at any threshold) selects every pixel, so it gives the
    mask's area divided by the image's.

    Args:
        size: side of the square map, or ``(height, width)``.

    Returns:
        float32 array of ones, shape (height, width).
    """
    return np.ones(_map_size(size), np.float32)


def center_prior_heatmap(size=224, sigma=0.25):
    """Baseline heatmap: an isotropic Gaussian centred in the image.

    With the median binarisation only the ranking matters, so any ``sigma``
    selects the same central disc of half the image; ``sigma`` changes the
    result only with a fixed ``threshold`` in :func:`ciou`.

    For :func:`~avcourse.metrics.object_masks.pointing_hit` it points at the centre: with an odd side one
    pixel is the maximum; with an even side the two central rows (columns)
    tie, so the maximum is the central 2 x 2 (or 1 x 2) block and the tie rule
    of :func:`~avcourse.metrics.object_masks.pointing_hit` applies (more than half of them must be in the mask).

    Args:
        size: side of the square map, or ``(height, width)``.
        sigma: standard deviation as a fraction of each side (0.25: a quarter
            of the width horizontally, of the height vertically).

    Returns:
        float32 array (height, width), 1 at the exact centre.

    Raises:
        ValueError: if ``sigma`` is not positive.
    """
    height, width = _map_size(size)
    check_number(sigma, "sigma", minimum=0, exclusive_minimum=True)
    # Pixel-centre coordinates in units of the side, 0 at the image centre.
    y = (np.arange(height) + 0.5) / height - 0.5
    x = (np.arange(width) + 0.5) / width - 0.5
    squared_distance = y[:, None] ** 2 + x[None, :] ** 2
    return np.exp(-squared_distance / (2 * sigma**2)).astype(np.float32)


def _seed(seed):
    """``seed`` of ``numpy.random.default_rng``: None or an integer >= 0."""
    return None if seed is None else check_nonnegative_int(seed, "seed")


def random_heatmap(size=224, seed=None):
    """Baseline heatmap of independent uniform noise (chance level).

    Args:
        size: side of the square map, or ``(height, width)``.
        seed: seed of ``numpy.random.default_rng``; None draws a fresh one.

    Returns:
        float32 array (height, width) with values in [0, 1).
    """
    return np.random.default_rng(_seed(seed)).random(_map_size(size)).astype(np.float32)
