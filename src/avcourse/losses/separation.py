"""Mask losses of mix-and-separate training (CAVL Eq 8, CCoL; Sound of Pixels).

A separator predicts, for every time-frequency bin of the mixture, the share
of it that belongs to one source. Its target is computed from the magnitudes
the mixing produced:

* ratio mask ``clip(|S_i| / |S_mix|, 0, max_ratio)`` (``max_ratio = 5``),
  trained with an L1 loss (CAVL Eq 8, CCoL);
* binary mask ``|S_i| > threshold · |S_mix|`` (``threshold = 0.5``), trained
  with binary cross-entropy (Sound of Pixels).

Both accept an optional per-bin weight, usually
``clip(log1p(|S_mix|), 1e-3, 10)`` (:func:`avcourse.audio.magnitude_weight`),
which makes loud bins count more than near-silent ones. The weighted loss is
``mean(weight · loss)`` as in Sound of Pixels (not normalised by the sum of the
weights).

The targets and the weight are constants of the loss (``stop_gradient``):
gradients flow only into the predicted mask. Silent mixture bins get a ratio
target of 0 and a binary target of 0, so all-zero masks and silent mixtures
give finite values and finite gradients.

The pure functions take their tensors keyword-only (``predicted_mask=``,
``source_magnitude=``, ``mixture_magnitude=``: the package's rule for losses
that compare a prediction with a target) and return the mean over every
element (the ``*_elements`` variants: every element); the thin Keras losses
:class:`RatioMaskL1` and :class:`BinaryMaskBCE` take ``y_true`` with two
channels, ``[..., 0] = |S_i|`` and ``[..., 1] = |S_mix|``, next to a
``(..., 1)`` mask, so they plug into ``compile(loss=...)``.

Taught in: tutorials/06_separation.ipynb
"""

import keras
from keras import ops

from avcourse import audio
from avcourse._api import register
from avcourse._validation import check_bool, check_number, float_tensor

__all__ = [
    "BinaryMaskBCE",
    "RatioMaskL1",
    "binary_mask_bce",
    "binary_mask_bce_elements",
    "ratio_mask_l1",
    "ratio_mask_l1_elements",
]


def _static_shape(tensor):
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _broadcastable(shape, target):
    """Whether a static ``shape`` broadcasts onto ``target`` (unknown dims pass)."""
    if len(shape) > len(target):
        return False
    for a, b in zip(reversed(shape), reversed(target)):
        if a is not None and b is not None and a != 1 and a != b:
            return False
    return True


def _prepare(predicted_mask, source_magnitude, mixture_magnitude, weight):
    """Cast to one float dtype, drop a trailing mask channel and check the shapes."""
    predicted_mask = float_tensor(predicted_mask, "predicted_mask")
    dtype = keras.backend.standardize_dtype(predicted_mask.dtype)
    source_magnitude = float_tensor(source_magnitude, "source_magnitude", dtype)
    mixture_magnitude = float_tensor(mixture_magnitude, "mixture_magnitude", dtype)
    mask_shape, source_shape = _static_shape(predicted_mask), _static_shape(source_magnitude)
    if len(mask_shape) == len(source_shape) + 1 and mask_shape[-1] == 1:
        predicted_mask = ops.squeeze(predicted_mask, -1)
        mask_shape = mask_shape[:-1]
    if len(mask_shape) != len(source_shape) or not _broadcastable(source_shape, mask_shape) or not _broadcastable(
        mask_shape, source_shape
    ):
        raise ValueError(
            "`predicted_mask` must have the shape of `source_magnitude` (optionally with a trailing channel "
            f"axis of 1); received predicted_mask {tuple(predicted_mask.shape)} and source_magnitude {source_shape}."
        )
    if not _broadcastable(_static_shape(mixture_magnitude), source_shape):
        raise ValueError(
            "`mixture_magnitude` must broadcast to the shape of `source_magnitude`; received "
            f"mixture_magnitude {_static_shape(mixture_magnitude)} and source_magnitude {source_shape}."
        )
    if weight is not None:
        weight = float_tensor(weight, "weight", dtype)
        if not _broadcastable(_static_shape(weight), source_shape):
            raise ValueError(
                "`weight` must broadcast to the shape of `source_magnitude`; received "
                f"weight {_static_shape(weight)} and source_magnitude {source_shape}."
            )
        weight = ops.stop_gradient(weight)
    return predicted_mask, source_magnitude, mixture_magnitude, weight


def _check_max_ratio(max_ratio):
    return check_number(max_ratio, "max_ratio", minimum=0, exclusive_minimum=True)


def _check_epsilon(epsilon):
    return check_number(epsilon, "epsilon", minimum=0, maximum=0.5, exclusive_minimum=True)


def _check_threshold(threshold):
    return check_number(threshold, "threshold", minimum=0)


def ratio_mask_l1_elements(*, predicted_mask, source_magnitude, mixture_magnitude, weight=None, max_ratio=5.0):
    """Per-bin ``weight · |m̂ − clip(|S_i| / |S_mix|, 0, max_ratio)|`` (not reduced).

    Same arguments as :func:`ratio_mask_l1`; returns a tensor with the shape
    of ``source_magnitude`` (broadcast with the mixture).
    """
    _check_max_ratio(max_ratio)
    predicted_mask, source_magnitude, mixture_magnitude, weight = _prepare(
        predicted_mask, source_magnitude, mixture_magnitude, weight
    )
    target = ops.stop_gradient(audio.ratio_mask(source_magnitude, mixture_magnitude, max_value=max_ratio))
    loss = ops.abs(predicted_mask - target)
    return loss if weight is None else weight * loss


def ratio_mask_l1(*, predicted_mask, source_magnitude, mixture_magnitude, weight=None, max_ratio=5.0):
    """L1 loss between a predicted mask and the clipped ratio mask (CAVL Eq 8).

    Formula:
    ```
    target = clip(|S_i| / |S_mix|, 0, max_ratio)      (0 where |S_mix| = 0)
    loss   = mean(weight · |m̂ − target|)              (weight = 1 if None)
    ```

    Args:
        predicted_mask: float tensor ``m̂`` (..., bins, frames), or with a
            trailing channel axis of 1 (a separator's output).
        source_magnitude: ``|S_i|``, the source's magnitude as it sounds in the
            mixture (on the same frequency grid as the mask), (..., bins, frames).
        mixture_magnitude: ``|S_mix|``, broadcastable to ``source_magnitude``.
        weight: optional per-bin weight broadcastable to ``source_magnitude``,
            e.g. :func:`avcourse.audio.magnitude_weight` of the mixture.
        max_ratio: upper clip of the ratio target (5 in CAVL/CCoL).

    Returns:
        Scalar float tensor.

    Examples:
        >>> import numpy as np
        >>> ones = np.ones((1, 2, 2))
        >>> float(ratio_mask_l1(predicted_mask=0.5 * ones, source_magnitude=ones, mixture_magnitude=ones))
        0.5

    References:
        - Hu et al., "Curriculum Audiovisual Learning", arXiv:2001.09414, 2020, Eq 8.
        - Tian et al., "Cyclic Co-Learning of Sounding Object Visual Grounding and
          Sound Separation", CVPR 2021.
    """
    return ops.mean(
        ratio_mask_l1_elements(
            predicted_mask=predicted_mask,
            source_magnitude=source_magnitude,
            mixture_magnitude=mixture_magnitude,
            weight=weight,
            max_ratio=max_ratio,
        )
    )


def binary_mask_bce_elements(
    *, predicted_mask, source_magnitude, mixture_magnitude, weight=None, threshold=0.5, epsilon=1e-7
):
    """Per-bin weighted binary cross-entropy against the binary mask (not reduced).

    Same arguments as :func:`binary_mask_bce`.
    """
    _check_threshold(threshold)
    _check_epsilon(epsilon)
    predicted_mask, source_magnitude, mixture_magnitude, weight = _prepare(
        predicted_mask, source_magnitude, mixture_magnitude, weight
    )
    target = ops.stop_gradient(audio.binary_mask(source_magnitude, mixture_magnitude, threshold=threshold))
    target = ops.cast(target, predicted_mask.dtype)
    probability = ops.clip(predicted_mask, epsilon, 1.0 - epsilon)
    loss = -(target * ops.log(probability) + (1.0 - target) * ops.log(1.0 - probability))
    return loss if weight is None else weight * loss


def binary_mask_bce(
    *, predicted_mask, source_magnitude, mixture_magnitude, weight=None, threshold=0.5, epsilon=1e-7
):
    """Binary cross-entropy between a predicted mask and the binary mask (Sound of Pixels).

    Formula:
    ```
    target = [|S_i| > threshold · |S_mix|]            (0 or 1)
    p      = clip(m̂, epsilon, 1 − epsilon)
    loss   = mean(weight · −(target · ln p + (1 − target) · ln(1 − p)))
    ```

    The clip keeps the value finite for masks of exactly 0 or 1 (their
    gradient there is 0, as with ``keras.losses.binary_crossentropy``).

    Args:
        predicted_mask: float tensor ``m̂`` in [0, 1] (..., bins, frames), or
            with a trailing channel axis of 1.
        source_magnitude: ``|S_i|``, (..., bins, frames).
        mixture_magnitude: ``|S_mix|``, broadcastable to ``source_magnitude``.
        weight: optional per-bin weight broadcastable to ``source_magnitude``.
        threshold: a bin belongs to the source when ``|S_i| > threshold · |S_mix|``.
        epsilon: clip of the probabilities, in (0, 0.5].

    Returns:
        Scalar float tensor.

    Examples:
        >>> import numpy as np
        >>> ones = np.ones((1, 2, 2))
        >>> round(float(binary_mask_bce(predicted_mask=0.5 * ones, source_magnitude=ones, mixture_magnitude=ones)), 4)
        0.6931

    References:
        - Zhao et al., "The Sound of Pixels", ECCV 2018.
    """
    return ops.mean(
        binary_mask_bce_elements(
            predicted_mask=predicted_mask,
            source_magnitude=source_magnitude,
            mixture_magnitude=mixture_magnitude,
            weight=weight,
            threshold=threshold,
            epsilon=epsilon,
        )
    )


def _split_targets(y_true, y_pred):
    """``y_true`` (..., 2) → ``(|S_i|, |S_mix|)``; ``y_pred`` (..., 1) or (...)."""
    y_true = float_tensor(y_true, "y_true")
    shape = _static_shape(y_true)
    if not shape or shape[-1] != 2:
        raise ValueError(
            "`y_true` must stack the source and mixture magnitudes on a last axis of 2 "
            f"([..., 0] = |S_i|, [..., 1] = |S_mix|); received shape {shape}."
        )
    return y_true[..., 0], y_true[..., 1]


class _MaskLoss(keras.losses.Loss):
    def __init__(self, weighted, reduction, name, dtype):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.weighted = check_bool(weighted, "weighted")

    def _weight(self, mixture_magnitude):
        return audio.magnitude_weight(mixture_magnitude) if self.weighted else None


@register
class RatioMaskL1(_MaskLoss):
    """L1 loss to the clipped ratio mask (CAVL Eq 8) as a Keras loss.

    ``y_true`` stacks the magnitudes on its last axis, ``[..., 0] = |S_i|``
    and ``[..., 1] = |S_mix|`` (shape (B, bins, frames, 2)); ``y_pred`` is the
    mask (B, bins, frames, 1). The per-bin value is
    :func:`ratio_mask_l1_elements`, averaged by the default reduction.

    Formula:
    ```
    loss = mean(w · |m̂ − clip(|S_i| / |S_mix|, 0, max_ratio)|)
    w    = clip(log1p(|S_mix|), 1e-3, 10) if weighted else 1
    ```

    Args:
        max_ratio: upper clip of the ratio target (default 5).
        weighted: weight bins by ``clip(log1p(|S_mix|), 1e-3, 10)``.
        reduction: Keras loss reduction (default ``"sum_over_batch_size"``).
        name: the loss's name (default ``"ratio_mask_l1"``).
        dtype: the loss's computation dtype (default ``None``, floatx).

    Examples:
        >>> import numpy as np
        >>> y_true = np.ones((1, 2, 2, 2))
        >>> float(RatioMaskL1()(y_true, np.full((1, 2, 2, 1), 0.5)))
        0.5

    References:
        - Hu et al., "Curriculum Audiovisual Learning", arXiv:2001.09414, 2020, Eq 8.
    """

    def __init__(self, max_ratio=5.0, weighted=False, reduction="sum_over_batch_size", name="ratio_mask_l1", dtype=None):
        super().__init__(weighted, reduction, name, dtype)
        self.max_ratio = _check_max_ratio(max_ratio)

    def call(self, y_true, y_pred):
        source, mixture = _split_targets(y_true, y_pred)
        return ratio_mask_l1_elements(
            predicted_mask=y_pred,
            source_magnitude=source,
            mixture_magnitude=mixture,
            weight=self._weight(mixture),
            max_ratio=self.max_ratio,
        )

    def get_config(self):
        return {**super().get_config(), "max_ratio": self.max_ratio, "weighted": self.weighted}


@register
class BinaryMaskBCE(_MaskLoss):
    """Binary cross-entropy to the binary mask (Sound of Pixels) as a Keras loss.

    ``y_true`` stacks ``[..., 0] = |S_i|`` and ``[..., 1] = |S_mix|`` on its
    last axis; ``y_pred`` is the mask in [0, 1], (B, bins, frames, 1).

    Formula:
    ```
    t    = [|S_i| > threshold · |S_mix|]
    loss = mean(w · −(t ln m̂ + (1 − t) ln(1 − m̂)))   (m̂ clipped to [ε, 1 − ε])
    w    = clip(log1p(|S_mix|), 1e-3, 10) if weighted else 1
    ```

    Args:
        threshold: the binary target's threshold (default 0.5).
        weighted: weight bins by ``clip(log1p(|S_mix|), 1e-3, 10)``.
        epsilon: probability clip (default 1e-7).
        reduction: Keras loss reduction (default ``"sum_over_batch_size"``).
        name: the loss's name (default ``"binary_mask_bce"``).
        dtype: the loss's computation dtype (default ``None``, floatx).

    Examples:
        >>> import numpy as np
        >>> round(float(BinaryMaskBCE()(np.ones((1, 2, 2, 2)), np.full((1, 2, 2, 1), 0.5))), 4)
        0.6931

    References:
        - Zhao et al., "The Sound of Pixels", ECCV 2018.
    """

    def __init__(
        self, threshold=0.5, weighted=False, epsilon=1e-7, reduction="sum_over_batch_size", name="binary_mask_bce", dtype=None
    ):
        super().__init__(weighted, reduction, name, dtype)
        self.threshold = _check_threshold(threshold)
        self.epsilon = _check_epsilon(epsilon)

    def call(self, y_true, y_pred):
        source, mixture = _split_targets(y_true, y_pred)
        return binary_mask_bce_elements(
            predicted_mask=y_pred,
            source_magnitude=source,
            mixture_magnitude=mixture,
            weight=self._weight(mixture),
            threshold=self.threshold,
            epsilon=self.epsilon,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "threshold": self.threshold,
            "weighted": self.weighted,
            "epsilon": self.epsilon,
        }
