"""Contrastive loss on audio-visual distances (CAVL Eq 5).

The pure functions take their tensors keyword-only (``distance=``,
``is_match=``), the package's rule for every loss that compares a prediction
with a target; :class:`ContrastiveLoss` takes Keras' ``(y_true, y_pred)``.

Taught in: tutorials/02_audio_visual_alignment.ipynb
"""

import keras
from keras import ops

from avcourse._api import register
from avcourse._validation import check_concrete, check_number
from avcourse.losses._targets import cast_target_like

__all__ = ["ContrastiveLoss", "contrastive_loss", "contrastive_per_pair"]


def _check_margin(margin):
    check_number(margin, "margin", minimum=0, exclusive_minimum=True)
    return margin


def _per_pair(distance, is_match, margin, names):
    """The per-pair terms; ``names`` = the user's names for ``(distance, is_match)``."""
    check_concrete(distance, names[0], low=0, note=" (a distance)")
    check_concrete(is_match, names[1], low=0, high=1, note=" (1 = matched pair, 0 = mismatched)")
    distance, is_match = cast_target_like(distance, is_match, names)
    hinge = ops.maximum(margin - distance, 0.0)
    return 0.5 * (is_match * ops.square(distance) + (1.0 - is_match) * ops.square(hinge))


def contrastive_per_pair(*, distance, is_match, margin=1.0):
    """Per-pair contrastive loss ``½[δ S² + (1-δ) max(margin - S, 0)²]``.

    The mean of this over the pairs is Eq 5 (see :func:`contrastive_loss`).

    Args:
        distance: float tensor ``S``, any shape (``(batch,)`` typically).
        is_match: ``δ`` of the same number of elements: 1 for a matched pair
            (audio and image of the same clip), 0 for a mismatched one.
        margin: float, how far apart mismatched pairs are pushed.

    Returns:
        Float tensor with the shape of ``distance``.

    Raises:
        ValueError: ``margin`` is not a finite number > 0, the element counts
            differ, or (for concrete inputs: numpy arrays, eager tensors) an
            input is empty, holds NaN/Inf, a negative distance or an
            ``is_match`` outside [0, 1]. Inside a compiled graph values are not
            checked; a NaN distance then gives a NaN loss.
    """
    return _per_pair(distance, is_match, _check_margin(margin), ("distance", "is_match"))


def contrastive_loss(*, distance, is_match, margin=1.0):
    """Contrastive loss of CAVL (Eq 5), the mean over the pairs.

    Matched pairs are pulled together (their distance squared), mismatched
    pairs are pushed apart until their distance exceeds ``margin``.

    Formula:
    ```
    L = 1/(2n) Σ_p [δ_p S_p² + (1 - δ_p) max(margin - S_p, 0)²]
    ```

    Args:
        distance: float tensor ``S`` of the ``n`` pairs, e.g. the output of
            :class:`avcourse.layers.AlignmentDistance`, shape ``(n,)``.
        is_match: ``δ``, same number of elements, 1 (matched) or 0
            (mismatched); soft values in ``[0, 1]`` interpolate.
        margin: float ``> 0`` (default 1.0).

    Returns:
        Scalar float tensor.

    Raises:
        ValueError: as :func:`contrastive_per_pair` (an empty batch too).

    Examples:
        >>> float(contrastive_loss(distance=[0.0, 0.5], is_match=[1.0, 0.0], margin=1.0))
        0.0625

    References:
        - Hadsell, Chopra and LeCun, "Dimensionality Reduction by Learning an
          Invariant Mapping", CVPR 2006.
        - Hu et al., "Curriculum Audiovisual Learning", arXiv:2001.09414, 2020, Eq 5.
    """
    return ops.mean(contrastive_per_pair(distance=distance, is_match=is_match, margin=margin))


@register
class ContrastiveLoss(keras.losses.Loss):
    """Contrastive loss of CAVL (Eq 5) as a Keras loss.

    ``y_true`` is ``δ`` (1 for a matched pair, 0 for a mismatched one) and
    ``y_pred`` the distance ``S``. The per-pair value is
    ``½[δ S² + (1-δ) max(margin - S, 0)²]``, so the default
    ``"sum_over_batch_size"`` reduction (the mean over pairs) gives Eq 5
    exactly.

    Formula:
    ```
    loss = 1/(2n) Σ_p [δ_p S_p² + (1 - δ_p) max(margin - S_p, 0)²]
    ```

    Args:
        margin: float ``> 0`` (default 1.0).
        reduction: Keras loss reduction (default ``"sum_over_batch_size"``).
        name: the loss's name (default ``"contrastive_loss"``).
        dtype: the loss's computation dtype (default ``None``, floatx).

    Examples:
        >>> loss = ContrastiveLoss(margin=1.0)
        >>> float(loss([1.0, 0.0], [0.0, 0.5]))
        0.0625

    References:
        - Hu et al., "Curriculum Audiovisual Learning", arXiv:2001.09414, 2020, Eq 5.
    """

    def __init__(self, margin=1.0, reduction="sum_over_batch_size", name="contrastive_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = _check_margin(margin)

    def call(self, y_true, y_pred):
        return _per_pair(y_pred, y_true, self.margin, ("y_pred", "y_true"))

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
