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
two further metrics compare a heatmap with a binary mask at the same
resolution: the pointing game (:func:`pointing_hit`, :func:`pointing_accuracy`:
does the heatmap's maximum fall on the object?) and :func:`mask_iou`. Their
baselines are :func:`random_object_heatmap` (a picture's object chosen at
random: is the model better than pointing at just any object?) and
:func:`all_objects_heatmap` (every object at once). With several sources,
:func:`match_heatmaps_to_sources` pairs the unordered audio centres' heatmaps
with the sounding objects before scoring.

Taught in: tutorials/04_localization.ipynb
"""

import numpy as np

from avcourse._validation import as_float_array, check_nonnegative_int, check_number, check_positive_int

# The success-rate thresholds 0, 0.05, ..., 1 of the reference AUC. ``i / 20``
# gives the nearest double to each decimal; the reference code's ``0.05 * i``
# overshoots some (0.05 * 14 = 0.7000000000000001), so a cIoU of exactly 0.7
# would not count at 0.7. Real cIoUs are not that close to a threshold; the
# two agree on any cIoU further than 1e-15 from one.
SUCCESS_THRESHOLDS = np.arange(21) / 20


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

    Being constant, every pixel is a tied maximum: :func:`pointing_hit` counts
    a hit only when the mask covers more than half of the image, and
    :func:`mask_iou` (at any threshold) selects every pixel, so it gives the
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

    For :func:`pointing_hit` it points at the centre: with an odd side one
    pixel is the maximum; with an even side the two central rows (columns)
    tie, so the maximum is the central 2 x 2 (or 1 x 2) block and the tie rule
    of :func:`pointing_hit` applies (more than half of them must be in the mask).

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


# --- pointing game and mask IoU against exact object masks ---------------------


def _as_mask(value, name):
    """``value`` as a bool (H, W) mask: 2-D, finite, values 0/1, at least one True pixel."""
    array = _as_map(value, name)
    if not np.all((array == 0) | (array == 1)):
        bad = array[(array != 0) & (array != 1)]
        raise ValueError(
            f"`{name}` must be binary (bool, or 0 and 1); received a value {float(bad.flat[0])} "
            f"(values in [{float(array.min())}, {float(array.max())}])."
        )
    if not array.any():
        raise ValueError(f"`{name}` is all False (no object pixel); the score is undefined without a target.")
    return array.astype(bool)


def _check_same_shape(heatmap, mask, heatmap_name, mask_name):
    if heatmap.shape != mask.shape:
        raise ValueError(
            f"`{heatmap_name}` must have the shape of `{mask_name}`; received `{heatmap_name}` of shape "
            f"{heatmap.shape} and `{mask_name}` of shape {mask.shape}. "
            f"Resize it first with resize_heatmap({heatmap_name}, {mask_name}.shape)."
        )


def _check_threshold(threshold):
    is_number = isinstance(threshold, (int, float, np.integer, np.floating)) and not isinstance(threshold, bool)
    if not (is_number and 0 <= threshold <= 1):
        raise ValueError(f"`threshold` must be a number in [0, 1]; received {threshold!r}.")
    return float(threshold)


def _pointing_hit(heatmap, mask, heatmap_name, mask_name):
    heatmap = _as_map(heatmap, heatmap_name)
    mask = _as_mask(mask, mask_name)
    _check_same_shape(heatmap, mask, heatmap_name, mask_name)
    maxima = heatmap == heatmap.max()
    # Strict majority of the tied maxima: 2 * inside > all.
    return bool(2 * np.count_nonzero(maxima & mask) > np.count_nonzero(maxima))


def pointing_hit(heatmap, mask):
    """Pointing game for one sample: does the heatmap's maximum lie in the mask?

    Ties: when several pixels share the maximum (exactly equal values), the
    sample is a hit when *more than half* of those tied pixels lie in the
    mask. With a single maximum this is plain ``mask[argmax]``. The rule
    does not depend on the order of the pixels, as ``np.argmax`` (first
    index, the top-left pixel) would, and is the outcome that a random pick
    among the tied pixels gives more often than not; an even split counts as
    a miss, since the heatmap did not decide. In particular a constant
    heatmap (:func:`whole_image_heatmap`) ties everywhere and hits only when
    the mask covers more than half of the image.

    Args:
        heatmap: 2-D array of scores at the mask's resolution (see
            :func:`resize_heatmap`).
        mask: 2-D bool (or 0/1) mask of the object, same shape, with at
            least one True pixel.

    Returns:
        Python bool, True for a hit.

    Raises:
        ValueError: if an input is not a finite, non-empty 2-D array, the
            shapes differ, ``mask`` is not binary or is all False.

    Examples:
        >>> mask = np.array([[False, True], [False, False]])
        >>> pointing_hit(np.array([[0.1, 0.9], [0.2, 0.3]]), mask)
        True
        >>> pointing_hit(np.array([[0.9, 0.1], [0.2, 0.3]]), mask)
        False
        >>> pointing_hit(np.ones((2, 2)), mask)  # constant: 1 of 4 tied maxima inside
        False
    """
    return _pointing_hit(heatmap, mask, "heatmap", "mask")


def _as_map_sequence(values, name):
    """``values`` as a list of 2-D maps: an (N, H, W) array or a sequence of 2-D arrays."""
    if isinstance(values, np.ndarray):
        return list(as_float_array(values, name, ndim=3))
    if not isinstance(values, (list, tuple)):
        raise ValueError(
            f"`{name}` must be an (N, H, W) array or a list of 2-D arrays; received {type(values).__name__}."
        )
    if len(values) == 0:
        raise ValueError(f"`{name}` is empty; expected at least one map.")
    return list(values)


def pointing_accuracy(heatmaps, masks):
    """Pointing-game accuracy: the fraction of samples where :func:`pointing_hit` is True.

    Args:
        heatmaps: (N, H, W) array, or a list of N 2-D arrays (sizes may
            differ between samples).
        masks: (N, H, W) bool (or 0/1) array, or a list of N 2-D masks, each
            at its heatmap's size and with at least one True pixel.

    Returns:
        the hit rate as a Python float in [0, 1].

    Raises:
        ValueError: if either is empty, their lengths differ, or a pair fails
            the checks of :func:`pointing_hit` (the message names the index,
            e.g. ``masks[3]``).

    Examples:
        >>> masks = np.zeros((2, 2, 2), bool)
        >>> masks[:, 0, 0] = True
        >>> heatmaps = np.array([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]]])
        >>> pointing_accuracy(heatmaps, masks)
        0.5
    """
    heatmaps = _as_map_sequence(heatmaps, "heatmaps")
    masks = _as_map_sequence(masks, "masks")
    if len(heatmaps) != len(masks):
        raise ValueError(
            f"`heatmaps` and `masks` must have the same length; received {len(heatmaps)} heatmaps "
            f"and {len(masks)} masks."
        )
    hits = [
        _pointing_hit(heatmap, mask, f"heatmaps[{index}]", f"masks[{index}]")
        for index, (heatmap, mask) in enumerate(zip(heatmaps, masks))
    ]
    return float(np.mean(hits))


def _mask_iou(heatmap, mask, threshold, heatmap_name, mask_name):
    heatmap = _as_map(heatmap, heatmap_name)
    mask = _as_mask(mask, mask_name)
    _check_same_shape(heatmap, mask, heatmap_name, mask_name)
    selected = normalize_heatmap(heatmap) >= threshold
    return float(np.count_nonzero(selected & mask) / np.count_nonzero(selected | mask))


def mask_iou(heatmap, mask, threshold=0.5):
    """IoU between a thresholded heatmap and a binary object mask.

    The heatmap is min-max normalised with :func:`normalize_heatmap` and the
    pixels with a score ``>= threshold`` are selected; the result is
    ``|selected & mask| / |selected | mask|``. A constant heatmap normalises
    to all ones (as in :func:`ciou`), so it selects the whole image at every
    threshold and scores the mask's area over the image's. ``threshold=0``
    always selects every pixel; ``threshold=1`` only the maxima.

    Args:
        heatmap: 2-D array of scores at the mask's resolution (see
            :func:`resize_heatmap`).
        mask: 2-D bool (or 0/1) mask, same shape, with at least one True
            pixel.
        threshold: number in [0, 1] on the normalised heatmap.

    Returns:
        the IoU as a Python float in [0, 1].

    Raises:
        ValueError: if an input is not a finite, non-empty 2-D array, the
            shapes differ, ``mask`` is not binary or all False, or
            ``threshold`` is outside [0, 1].

    Examples:
        >>> heatmap = np.array([[0.0, 1.0], [0.5, 0.2]])  # normalised: the same
        >>> mask = np.array([[False, True], [False, True]])
        >>> mask_iou(heatmap, mask)  # selects (0, 1) and (1, 0): 1 shared of 3
        0.3333333333333333
        >>> mask_iou(np.full((2, 2), 7.0), mask)  # constant: whole image, 2 of 4
        0.5
    """
    return _mask_iou(heatmap, mask, _check_threshold(threshold), "heatmap", "mask")


def _as_object_masks(object_masks, name="object_masks"):
    """``object_masks`` as a bool (num_objects, H, W) array of 0/1 values."""
    array = as_float_array(object_masks, name, ndim=3)
    if not np.all((array == 0) | (array == 1)):
        low, high = float(array.min()), float(array.max())
        raise ValueError(f"`{name}` must be binary (bool, or 0 and 1); received values in [{low}, {high}].")
    return array.astype(bool)


def random_object_heatmap(object_masks, seed=None):
    """Baseline heatmap: the mask of one of the picture's objects, picked at random.

    It is what a model that finds objects but cannot tell which one sounds
    would do; with ``k`` objects in the picture and one sounding, its
    expected pointing accuracy is about ``1 / k``. Objects with no visible
    pixel are never picked.

    Args:
        object_masks: bool (or 0/1) array (num_objects, H, W), e.g.
            ``Scene.object_masks``; any H and W.
        seed: seed of ``numpy.random.default_rng``; None draws a fresh one.

    Returns:
        float32 array (H, W) of 0 and 1: the picked object's mask.

    Raises:
        ValueError: if ``object_masks`` is not a finite, non-empty, binary
            3-D array or no object has a visible pixel.

    Examples:
        >>> masks = np.zeros((2, 3, 4), bool)
        >>> masks[0, 0, 0] = masks[1, 2, 3] = True
        >>> heatmap = random_object_heatmap(masks, seed=0)
        >>> heatmap.shape, heatmap.dtype, float(heatmap.sum())
        ((3, 4), dtype('float32'), 1.0)
    """
    masks = _as_object_masks(object_masks)
    visible = np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))
    if visible.size == 0:
        raise ValueError(
            f"`object_masks` has no visible object: all {len(masks)} masks are all False; expected at least one pixel."
        )
    picked = visible[np.random.default_rng(_seed(seed)).integers(visible.size)]
    return masks[picked].astype(np.float32)


def all_objects_heatmap(object_masks):
    """Baseline heatmap: the union of all the picture's object masks.

    It ranks every object pixel above the background and leaves the choice
    between objects undecided: :func:`pointing_hit` ties on every object
    pixel, so it hits only when more than half of all object pixels belong to
    the mask; :func:`mask_iou` (any threshold > 0) selects exactly the union.

    Args:
        object_masks: bool (or 0/1) array (num_objects, H, W), e.g.
            ``Scene.object_masks``; any H and W.

    Returns:
        float32 array (H, W) of 0 and 1.

    Raises:
        ValueError: if ``object_masks`` is not a finite, non-empty, binary
            3-D array.

    Examples:
        >>> masks = np.zeros((2, 2, 3), bool)
        >>> masks[0, 0, :2] = masks[1, 0, 1:] = True
        >>> all_objects_heatmap(masks)
        array([[1., 1., 1.],
               [0., 0., 0.]], dtype=float32)
    """
    return _as_object_masks(object_masks).any(axis=0).astype(np.float32)


# IoUs are compared on a grid of 1e-9 so that equal IoUs tie exactly; the
# pointing bonus (at most min(k, n)) stays below one grid step of the total.
_IOU_RESOLUTION = 10**9


def match_heatmaps_to_sources(heatmaps, source_masks, threshold=0.5):
    """One-to-one matching of the audio centres' heatmaps to the sounding objects.

    The audio centres of a multi-source scene come out in no particular
    order, so a heatmap has no fixed source to be scored against. Each one is
    instead scored against the source it is matched with by a one-to-one
    assignment (``scipy.optimize.linear_sum_assignment``) that maximises the
    total :func:`mask_iou`; among assignments with the same total IoU (equal
    to 1e-9), the one with the most :func:`pointing_hit` hits wins. With
    ``k != n`` only ``min(k, n)`` pairs are formed: the extra heatmaps or
    sources stay unmatched (score them as you see fit, e.g. as misses).

    Args:
        heatmaps: (k, H, W) array, one heatmap per audio centre, at the
            masks' resolution.
        source_masks: (n, H, W) bool (or 0/1) array, one mask per sounding
            object (``Scene.sounding_masks``), each with a True pixel.
        threshold: the :func:`mask_iou` threshold.

    Returns:
        ``(source_index, heatmap_index)``: two int arrays of length
        ``min(k, n)``, sorted by source index; heatmap
        ``heatmap_index[i]`` is matched with source ``source_index[i]``.

    Raises:
        ValueError: if an input is not a finite, non-empty 3-D array, their
            map sizes differ, a mask is not binary or all False, or
            ``threshold`` is outside [0, 1].

    Examples:
        >>> masks = np.zeros((2, 2, 2), bool)
        >>> masks[0, 0], masks[1, 1] = True, True  # source 0: top row; 1: bottom row
        >>> heatmaps = np.stack([masks[1], masks[0]]).astype(float)  # centres in the other order
        >>> sources, centres = match_heatmaps_to_sources(heatmaps, masks)
        >>> sources.tolist(), centres.tolist()
        ([0, 1], [1, 0])
    """
    from scipy.optimize import linear_sum_assignment

    heatmaps = as_float_array(heatmaps, "heatmaps", ndim=3)
    source_masks = as_float_array(source_masks, "source_masks", ndim=3)
    if heatmaps.shape[1:] != source_masks.shape[1:]:
        raise ValueError(
            f"`heatmaps` and `source_masks` must have maps of the same size; received `heatmaps` of shape "
            f"{heatmaps.shape} and `source_masks` of shape {source_masks.shape}. Resize the heatmaps first "
            "with resize_heatmap."
        )
    threshold = _check_threshold(threshold)
    num_heatmaps, num_sources = len(heatmaps), len(source_masks)
    iou = np.zeros((num_sources, num_heatmaps))
    hit = np.zeros((num_sources, num_heatmaps))
    for j in range(num_sources):
        for i in range(num_heatmaps):
            names = f"heatmaps[{i}]", f"source_masks[{j}]"
            iou[j, i] = _mask_iou(heatmaps[i], source_masks[j], threshold, *names)
            hit[j, i] = _pointing_hit(heatmaps[i], source_masks[j], *names)
    # Lexicographic objective as one integer weight (exact in float64 for
    # min(k, n) < 9000): total IoU first, then the number of hits.
    pairs = min(num_heatmaps, num_sources)
    weight = np.round(iou * _IOU_RESOLUTION) * (pairs + 1) + hit
    source_index, heatmap_index = linear_sum_assignment(weight, maximize=True)
    return source_index.astype(int), heatmap_index.astype(int)
