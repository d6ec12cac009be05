"""Keras layers of the course: soft clustering and audio-visual alignment (CAVL).

- :class:`SoftKMeans`: differentiable soft k-means over a feature map (Eq 2-3).
- :class:`AlignmentDistance`: distance between audio and visual centres (Eq 4).
- :func:`aligned_assignment`: the visual assignment map aligned with an audio
  centre, CAVL's localization heatmap (Eq 7).
"""

from avcourse.layers.alignment import AlignmentDistance, aligned_assignment
from avcourse.layers.soft_kmeans import SoftKMeans

__all__ = ["AlignmentDistance", "SoftKMeans", "aligned_assignment"]
