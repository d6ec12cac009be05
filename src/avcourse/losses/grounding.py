"""Losses of Cyclic Co-Learning (CCoL; Tian, Hu and Xu, CVPR 2021).

A CCoL sample holds two videos; each video ``v`` shows ``N`` objects (one
sounding, the others silent) and has its own solo sound; the mixture is the sum
of the two videos' sounds. The grounding network scores an (audio, object) pair
with two classes, **class 0 = sounding**, class 1 = silent. Which object of a
video sounds is never given: the losses below only use the weak, video-level
fact "one of these objects makes this sound".

Notation: ``CE(g, c) = -log softmax(g)_c`` (natural log), ``sg(.)`` = stop
gradient, ``1[.]`` = indicator.

* :func:`grounding_mil_loss` (``l1``, Eq 2-3): multiple-instance learning on a
  video's own sound, ``l1 = min_n CE(g(a_v, o_{v,n}), 0) + CE(g(a_{v'}, o_{v,r}), 1)``.
* :func:`mixture_grounding_loss` (``l3``, Eq 6): the same MIL positive with the
  *mixture* as the audio, summed over the two videos.
* :func:`gated_separation_loss` (``l2*``, Eq 5): each video's sound is the sum
  of its objects' predicted masks, each gated by its *binarised* grounding
  result, compared with the video's ratio mask by a weighted L1.
* :func:`mask_distances` (``d_n``, Eq 7): how far each object's own predicted
  mask is from its video's true mask, a weighted L1.
* :func:`cyclic_grounding_loss` (``l1*``, Eq 8) and
  :func:`cyclic_mixture_grounding_loss` (``l3*``, Eq 9-10): the MIL choice of
  the positive is replaced by the separation result: positive = ``argmin_n d_n``,
  negative = ``argmax_n d_n`` when ``d_n > ε``.

Arguments: the functions that compare predictions with targets
(:func:`sounding_cross_entropy`, :func:`gated_separation_loss`,
:func:`mask_distances`) take their tensors keyword-only, the package's rule
for such losses; the MIL losses take only scores (their targets are implied by
the sample's structure) and keep them positional. Every scalar loss takes
``per_example=True`` to return its (B,) per-example values, whose mean is the
loss (a model weights them by ``sample_weight``).

Every selection (``argmin``/``argmax``) and every binarised gate is computed on
stopped gradients: gradients reach the grounding scores only through the CE of
the selected pairs and the masks only through the L1 terms, as the equations
say. Every function is written with ``keras.ops`` and works on any backend.

Facts from the authors' code (``YapengTian/CCOL-CVPR21``, ``code/main_col.py``,
``code/main_ccol.py``, ``code/models/criterion.py``): the distance is the
weighted L1 ``mean(w · |M_n - M_v|)`` with ``w = clip(log1p(|S_mix|), 1e-3, 10)``
between an object's (ungated) predicted mask and the video's ratio mask
(clipped to [0, 5]); ``ε = 0.1``; the gate is ``round(softmax(g)_0)``.

Taught in: tutorials/07_cyclic_co_learning.ipynb
"""

import keras
from keras import ops

from avcourse._api import register
from avcourse._validation import check_bool, check_number, float_tensor
from avcourse.losses.separation import ratio_mask_l1_elements

__all__ = [
    "MILGroundingLoss",
    "cyclic_grounding_loss",
    "cyclic_mixture_grounding_loss",
    "gated_separation_loss",
    "grounding_mil_loss",
    "mask_distances",
    "mixture_grounding_loss",
    "sounding_cross_entropy",
    "sounding_gates",
]

SOUNDING = 0
SILENT = 1
_EPSILON = 1e-7


def _tensor(value, name, min_rank, last=None):
    tensor = float_tensor(value, name)
    shape = tuple(tensor.shape)
    if len(shape) < min_rank:
        raise ValueError(f"`{name}` must have rank >= {min_rank}; received shape {shape}.")
    if last is not None and shape[-1] is not None and shape[-1] != last:
        raise ValueError(f"`{name}` must have a last axis of size {last}; received shape {shape}.")
    return tensor


def _log_probabilities(scores, from_logits):
    if from_logits:
        return ops.log_softmax(scores, axis=-1)
    return ops.log(ops.clip(scores, _EPSILON, 1.0))


def sounding_cross_entropy(*, scores, target_class, from_logits=False):
    """Cross-entropy of grounding scores toward one class, element-wise.

    Formula:
    ```
    CE(g, c) = -log p_c,   p = softmax(g) (from_logits) or p = g (probabilities)
    ```

    Args:
        scores: (..., 2) grounding scores; class 0 = sounding, 1 = silent.
        target_class: 0 (sounding) or 1 (silent), an int or a tensor broadcastable to ``scores[..., 0]``.
        from_logits: whether ``scores`` are logits (else probabilities, clipped to [1e-7, 1]).

    Returns:
        (...) the cross-entropy of every pair.

    Examples:
    >>> import numpy as np
    >>> round(float(sounding_cross_entropy(scores=np.array([0.5, 0.5]), target_class=0)), 4)  # -log 0.5
    0.6931
    """
    log_p = _log_probabilities(_tensor(scores, "scores", 1, last=2), from_logits)
    target = ops.cast(ops.convert_to_tensor(target_class), log_p.dtype)
    return -(1.0 - target) * log_p[..., SOUNDING] - target * log_p[..., SILENT]


def _ce(scores, target_class, from_logits):
    return sounding_cross_entropy(scores=scores, target_class=target_class, from_logits=from_logits)


def _mean(values, per_example):
    """``values`` (B,) as they are (``per_example``) or their mean over the batch."""
    return values if per_example else ops.mean(values)


def _select(values, index):
    """values[..., index] along the last axis, index (...) int."""
    one_hot = ops.one_hot(index, ops.shape(values)[-1], dtype=values.dtype)
    return ops.sum(values * ops.stop_gradient(one_hot), axis=-1)


def grounding_mil_loss(positive_scores, negative_scores, from_logits=False, *, per_example=False):
    """``l1``: MIL grounding loss on a video's own sound (CCoL Eq 2-3).

    Video ``v``'s sound ``a_v`` comes from one of its ``N`` objects: the
    positive is the object that looks most "sounding" to the network; the
    negative is the other video's sound with an object of this video (which
    cannot make it).

    Formula:
    ```
    n* = argmin_n sg(CE(g(a_v, o_n), 0))
    l1 = mean_b [ CE(g(a_v, o_{n*}), 0) + CE(g(a_{v'}, o_r), 1) ]
    ```

    Args:
        positive_scores: (B, N, 2) scores of the video's sound with each of its objects.
        negative_scores: (B, 2) scores of the other video's sound with one (random) object of this video.
        from_logits: whether the scores are logits.
        per_example: return the (B,) values ``CE(positive) + CE(negative)`` instead of their mean.

    Returns:
        scalar loss (or its (B,) per-example values).
    """
    positive = _ce(_tensor(positive_scores, "positive_scores", 3, 2), SOUNDING, from_logits)
    negative = _ce(_tensor(negative_scores, "negative_scores", 2, 2), SILENT, from_logits)
    chosen = _select(positive, ops.argmin(ops.stop_gradient(positive), axis=-1))
    if per_example:
        return chosen + negative
    return ops.mean(chosen) + ops.mean(negative)


def mixture_grounding_loss(mixture_scores, from_logits=False, *, per_example=False):
    """``l3``: MIL grounding on the mixture (CCoL Eq 6).

    The mixture contains both videos' sounds, so each video has (at least)
    one object sounding in it: the MIL positive of every video, summed.

    Formula:
    ```
    l3 = mean_b Σ_v min_n CE(g(a_mix, o_{v,n}), 0)      (the min taken by a stopped argmin)
    ```

    Args:
        mixture_scores: (B, V, N, 2) scores of the mixture with each object of each video.
        from_logits: whether the scores are logits.
        per_example: return the (B,) values instead of their mean.

    Returns:
        scalar loss (or its (B,) per-example values).
    """
    ce = _ce(_tensor(mixture_scores, "mixture_scores", 4, 2), SOUNDING, from_logits)
    chosen = _select(ce, ops.argmin(ops.stop_gradient(ce), axis=-1))
    return _mean(ops.sum(chosen, axis=-1), per_example)


def sounding_gates(scores, from_logits=False):
    """Binarised grounding result, ``1[p_sounding > 0.5]``, with no gradient.

    Formula:
    ```
    gate = sg(1[softmax(g)_0 > 0.5])
    ```

    Args:
        scores: (..., 2) grounding scores.
        from_logits: whether the scores are logits.

    Returns:
        (...) float gates in {0, 1}.
    """
    scores = _tensor(scores, "scores", 1, last=2)
    probabilities = ops.softmax(scores, axis=-1) if from_logits else scores
    return ops.stop_gradient(ops.cast(probabilities[..., SOUNDING] > 0.5, probabilities.dtype))


def _squeeze_channel(masks, rank):
    if len(masks.shape) == rank + 1 and masks.shape[-1] == 1:
        return ops.squeeze(masks, -1)
    return masks


def gated_separation_loss(
    *,
    masks,
    gates,
    source_magnitudes,
    mixture_magnitude,
    weight=None,
    max_ratio=5.0,
    return_elements=False,
    per_example=False,
):
    """``l2*``: separation loss with each object's mask gated by its grounding (CCoL Eq 5).

    Formula:
    ```
    M̂_v = Σ_n gate_{v,n} · M_{v,n}                 gate = sg(1[p_sounding > 0.5]) (no gradient)
    M_v  = clip(|S_v| / |S_mix|, 0, max_ratio)
    l2*  = mean_{b,v,f,t} w · |M̂_v - M_v|          w = 1, or clip(log1p(|S_mix|), 1e-3, 10)
    ```

    Args:
        masks: (B, V, N, F, T) or (B, V, N, F, T, 1) each object's predicted mask.
        gates: (B, V, N) gates in {0, 1} (:func:`sounding_gates`).
        source_magnitudes: (B, V, F, T) each video's sound in the mixture, ``|S_v|``.
        mixture_magnitude: (B, F, T) ``|S_mix|``.
        weight: optional (B, F, T) per-bin weight.
        max_ratio: clip of the ratio targets (5).
        return_elements: return the (B, V, F, T) terms instead of their mean.
        per_example: return the (B,) per-example means instead of their mean.

    Returns:
        scalar loss (or the element-wise terms, or the per-example values).
    """
    masks = _squeeze_channel(_tensor(masks, "masks", 5), 5)
    gates = ops.stop_gradient(ops.cast(_tensor(gates, "gates", 3), masks.dtype))  # e.g. float64 numpy gates
    if tuple(gates.shape[1:]) != tuple(masks.shape[1:3]):
        raise ValueError(
            f"`gates` must have shape (batch, V, N) = (batch, {masks.shape[1]}, {masks.shape[2]}) to match `masks`; "
            f"received {tuple(gates.shape)}."
        )
    gated = ops.sum(masks * gates[:, :, :, None, None], axis=2)
    mixture_magnitude = _tensor(mixture_magnitude, "mixture_magnitude", 3)[:, None]
    if weight is not None:
        weight = _tensor(weight, "weight", 3)[:, None]
    elements = ratio_mask_l1_elements(
        predicted_mask=gated,
        source_magnitude=source_magnitudes,
        mixture_magnitude=mixture_magnitude,
        weight=weight,
        max_ratio=max_ratio,
    )
    if return_elements:
        return elements
    return ops.mean(elements, axis=(1, 2, 3)) if per_example else ops.mean(elements)


def mask_distances(*, masks, source_magnitudes, mixture_magnitude, weight=None, max_ratio=5.0):
    """``d_n``: weighted L1 between each object's predicted mask and its video's true mask (CCoL Eq 7).

    The paper writes ``d_n = ||S_n - S||₁`` between spectrograms; the authors'
    code measures it between masks, averaged over the bins, which is what ``ε``
    (0.1) is calibrated on.

    Formula:
    ```
    d_{v,n} = mean_{f,t} w · |M_{v,n} - clip(|S_v| / |S_mix|, 0, max_ratio)|
    ```

    Args:
        masks: (B, V, N, F, T) or (B, V, N, F, T, 1) each object's (ungated) predicted mask.
        source_magnitudes: (B, V, F, T) ``|S_v|``.
        mixture_magnitude: (B, F, T) ``|S_mix|``.
        weight: optional (B, F, T) per-bin weight.
        max_ratio: clip of the ratio targets.

    Returns:
        (B, V, N) distances (≥ 0).
    """
    masks = _squeeze_channel(_tensor(masks, "masks", 5), 5)
    mixture_magnitude = _tensor(mixture_magnitude, "mixture_magnitude", 3)[:, None, None]
    sources = _tensor(source_magnitudes, "source_magnitudes", 4)[:, :, None]
    sources = sources + ops.zeros_like(ops.cast(masks, sources.dtype))  # (B, V, N, F, T)
    if weight is not None:
        weight = _tensor(weight, "weight", 3)[:, None, None]
    elements = ratio_mask_l1_elements(
        predicted_mask=masks,
        source_magnitude=sources,
        mixture_magnitude=mixture_magnitude,
        weight=weight,
        max_ratio=max_ratio,
    )
    return ops.mean(elements, axis=(-2, -1))


def _check_distances(distances, scores_shape, name):
    if tuple(distances.shape) != tuple(scores_shape[:-1]):
        raise ValueError(
            f"`distances` must have the shape of `{name}` without its last axis, {tuple(scores_shape[:-1])}; "
            f"received {tuple(distances.shape)}."
        )


def _cyclic_terms(scores, distances, epsilon, from_logits):
    """Positive and negative CE terms (..., ) chosen by the distances."""
    distances = ops.stop_gradient(distances)
    positive_ce = _ce(scores, SOUNDING, from_logits)
    negative_ce = _ce(scores, SILENT, from_logits)
    nearest = ops.argmin(distances, axis=-1)
    farthest = ops.argmax(distances, axis=-1)
    d_min = ops.min(distances, axis=-1)
    d_max = ops.max(distances, axis=-1)
    # The farthest object is a negative only if it is far (> ε) and not also the nearest (all equal).
    use_negative = ops.stop_gradient(ops.cast(ops.logical_and(d_max > epsilon, d_max > d_min), positive_ce.dtype))
    return _select(positive_ce, nearest), use_negative * _select(negative_ce, farthest)


def cyclic_grounding_loss(positive_scores, negative_scores, distances, from_logits=False, *, per_example=False):
    """``l1*``: grounding on a video's own sound, the positive chosen by separation (CCoL Eq 8).

    Formula:
    ```
    n* = argmin_n sg(d_n)
    l1* = mean_b [ CE(g(a_v, o_{n*}), 0) + CE(g(a_{v'}, o_r), 1) ]
    ```

    Args:
        positive_scores: (B, N, 2) the video's sound with each of its objects.
        negative_scores: (B, 2) the other video's sound with one object of this video.
        distances: (B, N) :func:`mask_distances` of the objects (no gradient flows into them).
        from_logits: whether the scores are logits.
        per_example: return the (B,) values ``CE(positive) + CE(negative)`` instead of their mean.

    Returns:
        scalar loss (or its (B,) per-example values).
    """
    positive_scores = _tensor(positive_scores, "positive_scores", 3, 2)
    distances = _tensor(distances, "distances", 2)
    _check_distances(distances, positive_scores.shape, "positive_scores")
    positive_ce = _ce(positive_scores, SOUNDING, from_logits)
    chosen = _select(positive_ce, ops.argmin(ops.stop_gradient(distances), axis=-1))
    negative = _ce(_tensor(negative_scores, "negative_scores", 2, 2), SILENT, from_logits)
    if per_example:
        return chosen + negative
    return ops.mean(chosen) + ops.mean(negative)


def cyclic_mixture_grounding_loss(mixture_scores, distances, epsilon=0.1, from_logits=False, *, per_example=False):
    """``l3*``: grounding on the mixture with positives and negatives chosen by separation (CCoL Eq 9-10).

    Formula:
    ```
    n+ = argmin_n sg(d_{v,n}),  n- = argmax_n sg(d_{v,n})
    u_v = 1[d_{v,n-} > ε  and  d_{v,n-} > d_{v,n+}]          (no gradient)
    l3* = mean_b Σ_v [ CE(g(a_mix, o_{v,n+}), 0) + u_v · CE(g(a_mix, o_{v,n-}), 1) ]
    ```

    The second condition (the farthest object differs from the nearest) only
    matters when every distance is equal, where there is nothing to learn.

    Args:
        mixture_scores: (B, V, N, 2) the mixture with each object of each video.
        distances: (B, V, N) :func:`mask_distances`.
        epsilon: ``ε``, the distance above which an object counts as not sounding (0.1, the authors').
        from_logits: whether the scores are logits.
        per_example: return the (B,) values instead of their mean.

    Returns:
        scalar loss (or its (B,) per-example values).
    """
    mixture_scores = _tensor(mixture_scores, "mixture_scores", 4, 2)
    distances = _tensor(distances, "distances", 3)
    _check_distances(distances, mixture_scores.shape, "mixture_scores")
    check_number(epsilon, "epsilon", minimum=0)
    positive, negative = _cyclic_terms(mixture_scores, distances, float(epsilon), from_logits)
    return _mean(ops.sum(positive + negative, axis=-1), per_example)


@register
class MILGroundingLoss(keras.losses.Loss):
    """Multiple-instance grounding loss over bags of (audio, object) pairs (CCoL Eq 2-3, 6).

    A bag is one sound with ``N`` objects. A positive bag (``y_true = 1``, one
    of the objects makes the sound) contributes the CE toward "sounding" of its
    most sounding-looking object; a negative bag (``y_true = 0``, none does)
    contributes the mean CE toward "silent" of its objects. ``l1`` is this loss
    (summed reduction, divided by the batch) over the positive and the negative
    bag of each video; ``l3`` over the mixture's positive bags.

    Formula:
    ```
    loss(bag) = y · min_n CE(g_n, 0) + (1 - y) · mean_n CE(g_n, 1)
    ```

    Args:
        from_logits: whether ``y_pred`` holds logits (else probabilities).
        reduction: Keras reduction over the bags.
        name: loss name.
        dtype: loss dtype.

    Call arguments:
        y_true: (B,) or (B, 1) bag labels, 1 = the bag holds the sounding object.
        y_pred: (B, N, 2) scores of every pair of the bag.

    Examples:
    >>> import numpy as np
    >>> loss = MILGroundingLoss()
    >>> scores = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.5, 0.5], [0.5, 0.5]]], "float32")
    >>> round(float(loss(np.array([1.0, 0.0]), scores)), 4)  # (-log 0.9 - log 0.5) / 2
    0.3993
    """

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name="mil_grounding", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.from_logits = check_bool(from_logits, "from_logits")

    def call(self, y_true, y_pred):
        y_pred = _tensor(y_pred, "y_pred", 3, 2)
        y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1,))
        positive = _ce(y_pred, SOUNDING, self.from_logits)
        negative = _ce(y_pred, SILENT, self.from_logits)
        chosen = _select(positive, ops.argmin(ops.stop_gradient(positive), axis=-1))
        return y_true * chosen + (1.0 - y_true) * ops.mean(negative, axis=-1)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}
