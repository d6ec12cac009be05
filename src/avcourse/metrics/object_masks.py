"""Localization against exact object masks: the pointing game, mask IoU, their baselines and source matching.

The synthetic multi-object pictures come with the exact mask of every object
(``Scene.object_masks``), so a heatmap can be compared with a binary mask at
the same resolution (bring it there with
:func:`avcourse.metrics.localization.resize_heatmap`, or the mask down to the
heatmap's grid with :func:`~avcourse.metrics.localization.mask_to_grid`):

* the pointing game (:func:`pointing_hit`, :func:`pointing_accuracy`): does
  the heatmap's maximum fall on the object?
* :func:`mask_iou`: IoU of the thresholded, min-max normalised heatmap
  (:func:`~avcourse.metrics.localization.normalize_heatmap`) with the mask.

Their baselines are :func:`random_object_heatmap` (a picture's object chosen
at random: is the model better than pointing at just any object?) and
:func:`all_objects_heatmap` (every object at once). With several sources,
:func:`match_heatmaps_to_sources` pairs the unordered audio centres' heatmaps
with the sounding objects before scoring. The whole-image and centre-prior
baselines of :mod:`avcourse.metrics.localization` apply here too.

Taught in: tutorials/04_localization.ipynb
"""

import numpy as np

from avcourse._validation import as_float_array, check_nonnegative_int
from avcourse.metrics.localization import normalize_heatmap

__all__ = [
    "all_objects_heatmap",
    "mask_iou",
    "match_heatmaps_to_sources",
    "pointing_accuracy",
    "pointing_hit",
    "random_object_heatmap",
]


def _as_map(value, name):
    return as_float_array(value, name, ndim=2)


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
    picked = visible[np.random.default_rng(None if seed is None else check_nonnegative_int(seed, "seed")).integers(visible.size)]
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
