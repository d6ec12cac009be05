"""Differentiable soft k-means clustering of a set of feature vectors (CAVL Eq 2-3)."""

import keras
import numpy as np
from keras import ops

from avcourse._api import register
from avcourse._validation import check_choice, check_finite_tensor, check_number, check_positive_int

__all__ = ["INITS", "SoftKMeans"]

INITS = ("strided", "first", "farthest")
_HALF_DTYPES = ("float16", "bfloat16")


@register
class SoftKMeans(keras.layers.Layer):
    """Soft k-means clustering, unrolled for a fixed number of EM iterations.

    Each sample's feature vectors ``x_1 … x_N`` (the spatial positions of a
    visual feature map, or the time-frequency cells of an audio one) are
    grouped into ``k`` clusters. One iteration is an E-step that softly
    assigns every vector to every centre, followed by an M-step that moves
    each centre to the weighted mean of the vectors:

    ```
    w_ij = softmax_j(-β · d(x_i, c_j)),   d(x, c) = ||x - c||₂   (Eq 2)
    c_j  = Σ_i w_ij x_i / Σ_i w_ij                                (Eq 3)
    ```

    ``d`` is the Euclidean distance itself, not its square. The loop is
    unrolled, so gradients flow from the centres and the assignments back to
    the features: the clustering is part of the network.

    Initial centres (``init``):

    - ``"strided"`` (default, the authors' reference code):
      ``c_j = x_{j·⌊N/k⌋}`` for ``j = 0 … k-1``, vectors spread over the map.
    - ``"first"``: ``c_j = x_j``, the first ``k`` vectors.
    - ``"farthest"`` (ours, not in the paper): farthest-point seeding,
      ``c_0 = x_0`` and ``c_j`` the vector farthest from ``c_0 … c_{j-1}``.
      When a network is trained from scratch, "strided" seeds often land on
      the same (background) region; two identical seeds stay identical through
      every EM step, so the object never gets a cluster of its own. Seeding
      the farthest vector gives it one from the first step.

    All are deterministic, so the layer is a pure function of its input.

    Numerics (``epsilon``):

    - Squared distances are computed as ``||x||² - 2 x·c + ||c||²`` (one
      batched matmul, fast for large ``N`` and ``C``) and clamped at 0, since
      rounding can make them slightly negative.
    - The distance is ``sqrt(sq + epsilon)``: ``sqrt`` has an infinite
      derivative at 0, and the initial centres coincide exactly with input
      vectors, so without ``epsilon`` the first E-step would produce NaN
      gradients. This shifts a zero distance to ``sqrt(epsilon)`` (``1e-4`` for
      the default) and a distance ``d`` by less than ``epsilon / (2 d)``.
    - The M-step is ``c_j = (Σ_i w_ij x_i + epsilon · c_j_prev) /
      (Σ_i w_ij + epsilon)``: a cluster that receives no mass (its weights
      underflow to 0, common with a large ``β``) keeps its previous centre
      instead of dividing by 0; a cluster with mass moves by a negligible
      ``epsilon / Σ_i w_ij`` fraction less than Eq 3 says.
    - With a ``float16``/``bfloat16`` policy the clustering runs in
      ``float32`` (``epsilon`` would underflow) and the outputs are cast back.
      Integer or bool features are clustered as ``float32``.
    - Bad values: called eagerly (numpy arrays, eager tensors), the layer
      raises a ``ValueError`` on NaN or Inf features. Inside a compiled graph
      values are not checked per step; a NaN feature then makes its sample's
      centres and assignments NaN (it is never turned into a finite number),
      so the NaN reaches the loss.

    Args:
        num_clusters: int ``k >= 1``, the number of clusters (CAVL: the number of
            sound sources for audio, one more for vision).
        stiffness: float ``β > 0`` of Eq 2 (default 30.0, the paper's value).
            Larger values give harder assignments.
        iterations: int ``>= 1``, the number of E-step/M-step iterations
            (default 4).
        init: how the centres are initialised, ``"strided"`` (default),
            ``"first"`` or ``"farthest"`` (see above).
        epsilon: float ``> 0`` used in the safe square root and the M-step
            denominator (default ``1e-8``).
        **kwargs: base layer keyword arguments (``name``, ``dtype``, …).

    Call arguments:
        inputs: float tensor of shape ``(batch, N, C)`` with ``N >= num_clusters``.

    Returns:
        A tuple ``(centers, assignments)``: ``centers`` of shape
        ``(batch, num_clusters, C)``, the centres of the last M-step, and
        ``assignments`` of shape ``(batch, N, num_clusters)``, the soft
        assignments of the last E-step (the ones that produced ``centers``);
        each row sums to 1.

    Examples:
        >>> import numpy as np
        >>> layer = SoftKMeans(num_clusters=2, stiffness=30.0, iterations=4)
        >>> x = np.random.default_rng(0).normal(size=(8, 64, 16)).astype("float32")
        >>> centers, assignments = layer(x)
        >>> tuple(centers.shape), tuple(assignments.shape)
        ((8, 2, 16), (8, 64, 2))

    References:
        - Hu, Wang, Xiong, Wang, Nie and Dou, "Curriculum Audiovisual Learning",
          arXiv:2001.09414, 2020, Eq 2-3.
        - Taught in: tutorials/01_soft_clustering.ipynb
    """

    def __init__(self, num_clusters, stiffness=30.0, iterations=4, init="strided", epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(num_clusters, "num_clusters")
        check_positive_int(iterations, "iterations")
        check_number(stiffness, "stiffness", minimum=0, exclusive_minimum=True)
        check_choice(init, "init", INITS)
        check_number(epsilon, "epsilon", minimum=0, exclusive_minimum=True)
        self.num_clusters = num_clusters
        self.stiffness = stiffness
        self.iterations = iterations
        self.init = init
        self.epsilon = epsilon
        self._k = int(num_clusters)
        self._beta = float(stiffness)
        self._iterations = int(iterations)
        self._epsilon = float(epsilon)

    def _check_shape(self, shape):
        shape = tuple(shape)
        if len(shape) != 3:
            raise ValueError(
                f"`inputs` of SoftKMeans must have rank 3 (batch, N, C); received rank {len(shape)} "
                f"with shape {shape}."
            )
        n = shape[1]
        if n is not None and n < self._k:
            raise ValueError(
                f"SoftKMeans needs at least `num_clusters`={self._k} vectors per sample; "
                f"received N={n} (input shape {shape})."
            )

    def build(self, input_shape):
        self._check_shape(input_shape)
        self.built = True

    def _initial_centers(self, x):
        k = self._k
        if self.init == "first":
            return x[:, :k, :]
        if self.init == "farthest":
            return self._farthest_point_centers(x)
        n = x.shape[1]
        if n is None:
            n = ops.shape(x)[1]
        if isinstance(n, int):
            indices = np.arange(k, dtype="int32") * (n // k)
        else:
            indices = ops.arange(k, dtype="int32") * ops.cast(n // k, "int32")
        return ops.take(x, indices, axis=1)

    def _farthest_point_centers(self, x):
        """c_0 = x_0, then repeatedly the vector farthest from every chosen centre."""
        centers = [x[:, 0, :]]
        nearest = ops.sum(ops.square(x - ops.expand_dims(centers[0], 1)), axis=-1)  # (B, N)
        for _ in range(1, self._k):
            index = ops.argmax(nearest, axis=1)  # (B,)
            chosen = ops.take_along_axis(x, ops.reshape(index, (-1, 1, 1)), axis=1)[:, 0, :]
            centers.append(chosen)
            nearest = ops.minimum(nearest, ops.sum(ops.square(x - ops.expand_dims(chosen, 1)), axis=-1))
        return ops.stack(centers, axis=1)

    def call(self, inputs):
        self._check_shape(inputs.shape)
        x = inputs
        dtype = keras.backend.standardize_dtype(x.dtype)
        if dtype.startswith(("int", "uint", "bool")):
            work_dtype = "float32"  # integer features (e.g. a quantised map) are clustered as floats
        elif dtype.startswith(("float", "bfloat")):
            work_dtype = "float32" if dtype in _HALF_DTYPES else dtype
        else:
            raise ValueError(f"`inputs` of SoftKMeans must have a real numeric dtype; received dtype {dtype}.")
        x = ops.cast(x, work_dtype)
        check_finite_tensor(x, "inputs")  # eager: raise; compiled: NaN propagates
        eps = ops.cast(self._epsilon, work_dtype)
        beta = ops.cast(self._beta, work_dtype)
        x_sq = ops.sum(ops.square(x), axis=-1, keepdims=True)  # (B, N, 1)
        centers = self._initial_centers(x)  # (B, k, C)
        assignments = None
        for _ in range(self._iterations):
            # E-step (Eq 2), squared distances via one batched matmul (plain
            # matmul + transpose measured ~25% faster than einsum on TF CPU).
            c_sq = ops.expand_dims(ops.sum(ops.square(centers), axis=-1), 1)  # (B, 1, k)
            cross = ops.matmul(x, ops.transpose(centers, (0, 2, 1)))  # (B, N, k)
            sq = ops.maximum(x_sq - 2.0 * cross + c_sq, 0.0)
            distances = ops.sqrt(sq + eps)
            if self._k == 1:  # softmax over one cluster: every weight is 1
                assignments = ops.ones_like(distances)
            else:
                assignments = ops.softmax(-beta * distances, axis=-1)  # (B, N, k)
            # M-step (Eq 3); an empty cluster keeps its previous centre.
            mass = ops.expand_dims(ops.sum(assignments, axis=1), -1)  # (B, k, 1)
            weighted = ops.matmul(ops.transpose(assignments, (0, 2, 1)), x)  # (B, k, C)
            centers = (weighted + eps * centers) / (mass + eps)
        return ops.cast(centers, self.compute_dtype), ops.cast(assignments, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        self._check_shape(input_shape)
        batch, n, channels = tuple(input_shape)
        return (batch, self._k, channels), (batch, n, self._k)

    def get_config(self):
        return {
            **super().get_config(),
            "num_clusters": self.num_clusters,
            "stiffness": self.stiffness,
            "iterations": self.iterations,
            "init": self.init,
            "epsilon": self.epsilon,
        }
