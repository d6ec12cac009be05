"""Losses of the course.

- :func:`contrastive_loss` / :class:`ContrastiveLoss`: CAVL's audio-visual
  contrastive loss (Eq 5).
- :func:`poisson_nll` / :class:`PoissonNLL`: Poisson negative log-likelihood
  for source counting (Eq 6), and :func:`poisson_mode`, the predicted count.
- :func:`ratio_mask_l1` / :class:`RatioMaskL1` and :func:`binary_mask_bce` /
  :class:`BinaryMaskBCE`: mask losses of mix-and-separate training (CAVL Eq 8;
  Sound of Pixels).
- :mod:`avcourse.losses.grounding`: CCoL's grounding and gated separation
  losses (:func:`grounding_mil_loss` l1, :func:`gated_separation_loss` l2*,
  :func:`mixture_grounding_loss` l3, :func:`cyclic_grounding_loss` l1*,
  :func:`cyclic_mixture_grounding_loss` l3*, :class:`MILGroundingLoss`).

One rule for the arguments: a pure loss function that compares a prediction
with a target takes its tensors **keyword-only**, e.g.
``contrastive_loss(distance=s, is_match=delta)``,
``poisson_nll(y_true=counts, rate=rates)``,
``ratio_mask_l1(predicted_mask=m, source_magnitude=s, mixture_magnitude=x)``,
so no call can swap them; the Keras ``Loss`` classes take Keras'
``(y_true, y_pred)``. CCoL's MIL losses take only scores and keep them
positional.
"""

from avcourse.losses.contrastive import ContrastiveLoss, contrastive_loss, contrastive_per_pair
from avcourse.losses.grounding import (
    MILGroundingLoss,
    cyclic_grounding_loss,
    cyclic_mixture_grounding_loss,
    gated_separation_loss,
    grounding_mil_loss,
    mask_distances,
    mixture_grounding_loss,
    sounding_cross_entropy,
    sounding_gates,
)
from avcourse.losses.poisson import PoissonNLL, poisson_mode, poisson_nll
from avcourse.losses.separation import BinaryMaskBCE, RatioMaskL1, binary_mask_bce, ratio_mask_l1

__all__ = [
    "BinaryMaskBCE",
    "ContrastiveLoss",
    "MILGroundingLoss",
    "PoissonNLL",
    "RatioMaskL1",
    "binary_mask_bce",
    "contrastive_loss",
    "contrastive_per_pair",
    "cyclic_grounding_loss",
    "cyclic_mixture_grounding_loss",
    "gated_separation_loss",
    "grounding_mil_loss",
    "mask_distances",
    "mixture_grounding_loss",
    "poisson_mode",
    "poisson_nll",
    "ratio_mask_l1",
    "sounding_cross_entropy",
    "sounding_gates",
]
