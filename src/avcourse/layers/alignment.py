"""Audio-visual alignment distance between two sets of cluster centres (CAVL Eq 4, Eq 7).

Taught in: tutorials/02_audio_visual_alignment.ipynb, tutorials/04_localization.ipynb
"""

import keras
import numpy as np
from keras import ops

from avcourse._api import register
from avcourse._validation import check_choice, check_concrete, check_finite_tensor, float_tensor

__all__ = ["REDUCTIONS", "AlignmentDistance", "aligned_assignment"]

REDUCTIONS = ("sum", "l2")


def _safe_sqrt(sq):
    """``sqrt(sq)`` for ``sq >= 0`` whose gradient is 0 (not NaN) at ``sq == 0``; NaN stays NaN.

    The "double where": the inner ``where`` keeps ``sqrt`` away from 0, so its
    infinite derivative never meets a zero upstream gradient (which would give
    ``0 * inf = NaN``); the outer one returns the exact value 0. ``sq > 0``
    alone is False for NaN, which would turn a NaN into a distance of 0 (a
    perfect match), so NaN is let through explicitly and comes out NaN.
    (``not sq <= 0`` would say the same, but TensorFlow's graph optimiser
    rewrites it into ``sq > 0``.)
    """
    nonzero = ops.logical_or(sq > 0, ops.isnan(sq))
    return ops.where(nonzero, ops.sqrt(ops.where(nonzero, sq, ops.ones_like(sq))), ops.zeros_like(sq))

def _check_rank3(shape, name):
    shape = tuple(shape)
    if len(shape) != 3:
        raise ValueError(
            f"`{name}` of AlignmentDistance must have rank 3 (batch, k, C); received rank {len(shape)} "
            f"with shape {shape}."
        )
    return shape


@register
class AlignmentDistance(keras.layers.Layer):
    """Distance between a clip's audio centres and an image's visual centres.

    Every audio centre is matched with its nearest visual centre, and the
    distances of these matches are combined (Eq 4 of CAVL):

    ```
    S_av = Σ_i min_j ||c_i^a - c_j^v||₂          (reduction="sum", the paper)
    S_av = sqrt(Σ_i (min_j ||c_i^a - c_j^v||₂)²)  (reduction="l2")
    ```

    ``"sum"`` is the paper's Eq 4 and the default. ``"l2"`` (an L2 norm over
    the per-audio-centre minima instead of their sum) is what the authors'
    simplified reference code computes; it is offered to reproduce that code.
    With one audio centre both are the same.

    The layer also returns, for every audio centre, the index of the visual
    centre it aligned with (``argmin_j``), which localization uses (Eq 7, see
    :func:`aligned_assignment`). CAVL uses ``k_v = k_a + 1`` visual centres (one
    for the background), but any ``k_a, k_v >= 1`` work.

    Distances are computed from the exact differences (the sets are small)
    with a square root whose gradient is 0 rather than NaN at a zero
    distance, so identical centres give ``S_av = 0`` exactly and a finite
    gradient.

    Bad values: called eagerly (numpy arrays, eager tensors), the layer raises
    a ``ValueError`` on NaN or Inf centres. Inside a compiled graph values are
    not checked per step; a NaN centre then gives a NaN distance for its
    sample (never 0, a perfect match).

    Args:
        reduction: ``"sum"`` (default, Eq 4) or ``"l2"`` (the authors'
            simplified code), how the per-audio-centre minimum distances are
            combined.
        **kwargs: base layer keyword arguments (``name``, ``dtype``, …).

    Call arguments:
        inputs: a list ``[audio_centers, visual_centers]`` of float tensors of
            shapes ``(batch, k_a, C)`` and ``(batch, k_v, C)``.

    Returns:
        A tuple ``(distance, aligned_index)``: ``distance`` of shape ``(batch,)``,
        ``S_av`` above, and ``aligned_index`` of shape ``(batch, k_a)`` and dtype
        ``int32``, the index of the visual centre nearest to each audio centre
        (not differentiable).

    Examples:
        >>> import numpy as np
        >>> audio = np.array([[[0.0, 0.0], [3.0, 4.0]]], dtype="float32")
        >>> visual = np.array([[[0.0, 0.0], [3.0, 0.0], [10.0, 10.0]]], dtype="float32")
        >>> distance, index = AlignmentDistance()([audio, visual])
        >>> float(distance[0]), [int(i) for i in index[0]]
        (4.0, [0, 1])

    References:
        - Hu, Wang, Xiong, Wang, Nie and Dou, "Curriculum Audiovisual Learning",
          arXiv:2001.09414, 2020, Eq 4 and Eq 7.
    """

    def __init__(self, reduction="sum", **kwargs):
        super().__init__(**kwargs)
        self.reduction = check_choice(reduction, "reduction", REDUCTIONS)

    def _check_shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                "AlignmentDistance expects a list of two inputs [audio_centers, visual_centers]; "
                f"received {input_shape!r}."
            )
        audio = _check_rank3(input_shape[0], "audio_centers")
        visual = _check_rank3(input_shape[1], "visual_centers")
        if audio[2] is not None and visual[2] is not None and audio[2] != visual[2]:
            raise ValueError(
                "`audio_centers` and `visual_centers` must have the same number of channels C; "
                f"received C={audio[2]} (shape {audio}) and C={visual[2]} (shape {visual})."
            )
        if audio[0] is not None and visual[0] is not None and audio[0] != visual[0]:
            raise ValueError(
                "`audio_centers` and `visual_centers` must have the same batch size; "
                f"received {audio[0]} (shape {audio}) and {visual[0]} (shape {visual})."
            )
        return audio, visual

    def build(self, input_shape):
        self._check_shapes(input_shape)
        self.built = True

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                "AlignmentDistance expects a list of two inputs [audio_centers, visual_centers]; "
                f"received {type(inputs).__name__}."
            )
        audio, visual = inputs
        self._check_shapes([audio.shape, visual.shape])
        audio = check_finite_tensor(float_tensor(audio, "audio_centers", self.compute_dtype), "audio_centers")
        visual = check_finite_tensor(float_tensor(visual, "visual_centers", self.compute_dtype), "visual_centers")
        diff = ops.expand_dims(audio, 2) - ops.expand_dims(visual, 1)  # (B, ka, kv, C)
        pairwise = _safe_sqrt(ops.sum(ops.square(diff), axis=-1))  # (B, ka, kv)
        nearest = ops.min(pairwise, axis=-1)  # (B, ka)
        if self.reduction == "sum":
            distance = ops.sum(nearest, axis=-1)
        else:
            distance = _safe_sqrt(ops.sum(ops.square(nearest), axis=-1))
        aligned_index = ops.cast(ops.argmin(ops.stop_gradient(pairwise), axis=-1), "int32")
        return distance, aligned_index

    def compute_output_shape(self, input_shape):
        audio, _ = self._check_shapes(input_shape)
        return (audio[0],), (audio[0], audio[1])

    def compute_output_spec(self, inputs):
        distance_shape, index_shape = self.compute_output_shape([inputs[0].shape, inputs[1].shape])
        return (
            keras.KerasTensor(distance_shape, dtype=self.compute_dtype),
            keras.KerasTensor(index_shape, dtype="int32"),
        )

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}


def aligned_assignment(assignments_v, aligned_index, audio_center=0):
    """The visual assignment map of the visual centre aligned with an audio centre.

    For the chosen (sounding) audio centre ``i``, take the visual centre
    ``j = aligned_index[:, i]`` nearest to it and return column ``j`` of the
    visual soft assignments: how strongly every visual position belongs to
    the sounding object's cluster. Reshaped to the feature map's ``(h, w)``
    it is CAVL's localization heatmap (Eq 7).

    Args:
        assignments_v: float tensor ``(batch, N, k_v)``, the visual
            ``SoftKMeans`` assignments.
        aligned_index: int tensor ``(batch, k_a)``, the second output of
            :class:`AlignmentDistance`.
        audio_center: which audio centre to follow: an int in ``[0, k_a)``
            (default 0) used for every sample, or an int tensor ``(batch,)``
            with one audio centre per sample.

    Returns:
        Float tensor ``(batch, N)``, differentiable with respect to
        ``assignments_v``.

    Raises:
        ValueError: a wrong rank or batch size, a non-integer ``aligned_index``,
            or (for concrete inputs) an index outside ``[0, k_v)``, an
            ``audio_center`` outside ``[0, k_a)`` or NaN/Inf assignments.
            Inside a compiled graph indices are not checked; a sample whose
            index is out of range gets a NaN map, never an all-zero one.

    Examples:
        >>> import numpy as np
        >>> w = np.array([[[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]], dtype="float32")
        >>> [round(float(v), 2) for v in aligned_assignment(w, np.array([[1]]))[0]]
        [0.1, 0.8, 0.5]

    References:
        - Hu et al., "Curriculum Audiovisual Learning", arXiv:2001.09414, 2020, Eq 7.
    """
    if not hasattr(assignments_v, "shape"):
        assignments_v = np.asarray(assignments_v, dtype="float32")
    if not hasattr(aligned_index, "shape"):
        aligned_index = np.asarray(aligned_index)
    if len(assignments_v.shape) != 3:
        raise ValueError(
            "`assignments_v` must have rank 3 (batch, N, k_v); received rank "
            f"{len(assignments_v.shape)} with shape {tuple(assignments_v.shape)}."
        )
    if len(aligned_index.shape) != 2:
        raise ValueError(
            "`aligned_index` must have rank 2 (batch, k_a); received rank "
            f"{len(aligned_index.shape)} with shape {tuple(aligned_index.shape)}."
        )
    k_v = assignments_v.shape[-1]
    k_a = aligned_index.shape[-1]
    batch_v, batch_i = assignments_v.shape[0], aligned_index.shape[0]
    if batch_v is not None and batch_i is not None and batch_v != batch_i:
        raise ValueError(
            f"`aligned_index` must have the batch size of `assignments_v` ({batch_v}); "
            f"received shape {tuple(aligned_index.shape)}."
        )
    index_dtype = keras.backend.standardize_dtype(aligned_index.dtype)
    if not index_dtype.startswith(("int", "uint")):
        raise ValueError(f"`aligned_index` must have an integer dtype; received dtype {index_dtype}.")
    dtype = keras.backend.standardize_dtype(assignments_v.dtype)
    if not dtype.startswith(("float", "bfloat")):
        dtype = keras.config.floatx()
        assignments_v = ops.cast(assignments_v, dtype)
    check_concrete(assignments_v, "assignments_v")
    if k_v is not None:
        check_concrete(aligned_index, "aligned_index", low=0, high=k_v - 1, note=f" (indices of the k_v={k_v} visual centres)")
    aligned_index = ops.cast(aligned_index, "int32")
    if isinstance(audio_center, (int, np.integer)) and not isinstance(audio_center, bool):
        if k_a is not None and not 0 <= audio_center < k_a:
            raise ValueError(
                f"`audio_center` must be in [0, {k_a}) (the number of audio centres); received {audio_center}."
            )
        visual_index = aligned_index[:, int(audio_center)]
    else:
        if isinstance(audio_center, bool):
            raise ValueError(f"`audio_center` must be an int or an int tensor (batch,); received {audio_center!r}.")
        if k_a is not None:
            check_concrete(audio_center, "audio_center", low=0, high=k_a - 1, note=f" (indices of the k_a={k_a} audio centres)")
        audio_center = ops.reshape(ops.cast(audio_center, "int32"), (-1, 1))
        visual_index = ops.take_along_axis(aligned_index, audio_center, axis=1)[:, 0]
    selector = ops.one_hot(visual_index, k_v, dtype=dtype)  # (B, k_v)
    heatmap = ops.einsum("bnk,bk->bn", assignments_v, selector)
    # Unchecked (symbolic) out-of-range indices give NaN maps, not all-zero ones.
    valid = ops.logical_and(visual_index >= 0, visual_index < k_v)
    return ops.where(ops.expand_dims(valid, -1), heatmap, ops.cast(float("nan"), dtype))
