"""Losses of the course.

- :func:`contrastive_loss` / :class:`ContrastiveLoss`: CAVL's audio-visual
  contrastive loss (Eq 5).
- :func:`poisson_nll` / :class:`PoissonNLL`: Poisson negative log-likelihood
  for source counting (Eq 6), and :func:`poisson_mode`, the predicted count.
"""

from avcourse.losses.contrastive import ContrastiveLoss, contrastive_loss, contrastive_per_pair
from avcourse.losses.poisson import PoissonNLL, poisson_mode, poisson_nll

__all__ = [
    "ContrastiveLoss",
    "PoissonNLL",
    "contrastive_loss",
    "contrastive_per_pair",
    "poisson_mode",
    "poisson_nll",
]
