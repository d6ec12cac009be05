"""CAVL's two-stream audio-visual clustering model (Hu et al. 2020, §3.1).

Each modality's trunk gives a feature map that is reshaped to ``N`` vectors,
projected by ``Dense(embedding_dim)`` and clustered by :class:`SoftKMeans` into
``k_a`` audio centres and ``k_v = k_a + 1`` visual centres (the extra visual
centre absorbs the background). :class:`AlignmentDistance` scores how well the
two sets of centres align (Eq 4), and the contrastive loss (Eq 5) pulls
matched clips together and pushes mismatched ones apart by a margin.

Training goes through ``model.fit``: ``compute_loss`` draws the mismatched
pairs inside the batch (sample ``i``'s picture with sample ``i+1``'s sound, so
the trunks run once per batch; under a TensorFlow distribution strategy, inside
each replica's share of the batch) and ``compute_metrics`` reports the match
accuracy: a pair is called "same clip" when its distance is below
``margin / 2``, from the pair distances ``compute_loss`` computed (once per
step on TensorFlow). The loss follows the rule of every model of the
course (:class:`~avcourse.models.base.ModelLoss`): one value per clip, the mean
of its matched and its mismatched pair's Eq 5 terms, so ``sample_weight``
weights clips, and a loss given to ``compile`` replaces Eq 5.

Taught in: tutorials/02_audio_visual_alignment.ipynb
"""

import keras
import numpy as np
from keras import ops

from avcourse._api import register
from avcourse._validation import check_bool, check_choice, check_number, check_positive_int
from avcourse.layers import AlignmentDistance, SoftKMeans
from avcourse.losses import contrastive_per_pair
from avcourse.models.backbones import TRUNK_CONFIGS, conv_trunk
from avcourse.models.base import ModelLoss, check_input_shape

__all__ = ["CAVLModel"]


@register
class CAVLModel(ModelLoss, keras.Model):
    """Audio-visual soft clustering with alignment, trained contrastively.

    Args:
        audio_trunk: trunk config name for the audio stream (``"vggish"`` for
            the paper, 512 x 432 x 1 → 64 x 54 x 512; ``"small_audio"``).
        visual_trunk: trunk config name for the visual stream (``"vgg16"``,
            256 x 256 x 3 → 16 x 16 x 512; ``"small_visual"``).
        audio_shape: (bins, frames, 1) input shape; default the trunk's.
        image_shape: (height, width, 3) input shape; default the trunk's.
        num_audio_clusters: ``k_a``, the number of sound sources the stage expects.
        num_visual_clusters: ``k_v``; default ``k_a + 1`` (one background centre).
        embedding_dim: width of the per-modality ``Dense`` projection (512 in the paper).
        stiffness: β of the soft k-means (30 in the authors' code).
        iterations: unrolled soft k-means iterations.
        init: soft k-means seeding, ``"strided"`` (the authors' code) or
            ``"farthest"`` (farthest-point seeding; the small from-scratch
            configs of the tutorials need it, see :class:`SoftKMeans`).
        margin: contrastive margin; pairs closer than ``margin / 2`` count as matches.
        reduction: ``"sum"`` (Eq 4) or ``"l2"`` (the authors' simplified code).
        audio_weights: optional ``.weights.h5`` path for the audio trunk.
        visual_weights: optional ``.weights.h5`` path for the visual trunk.
        normalize: spherical clustering (ours, not in the paper; default
            ``False``): every feature vector is projected onto the unit sphere
            after the ``Dense`` projection, and so is every centre after the
            soft k-means. Distances then lie in [0, 2] whatever the weights
            do: the embeddings cannot shrink until every soft assignment is
            uniform at a fixed β, and a spread-out cluster, whose plain mean
            is short, is not nearer to every audio centre than a tight one.

    Call arguments:
        inputs: dict with ``"image"`` (B, H, W, 3) and ``"audio"`` (B, bins, frames, 1);
            other keys are ignored.

    Returns:
        dict with ``distance`` (B,), ``aligned_index`` (B, k_a), ``audio_centers``
        (B, k_a, D), ``visual_centers`` (B, k_v, D), ``audio_assignments``
        (B, N_a, k_a) and ``visual_assignments`` (B, N_v, k_v).

    Examples:
    >>> model = CAVLModel("small_audio", "small_visual", audio_shape=(32, 22, 1),
    ...                   image_shape=(32, 32, 3), embedding_dim=16)
    >>> out = model({"image": np.zeros((2, 32, 32, 3)), "audio": np.zeros((2, 32, 22, 1))})
    >>> tuple(out["visual_assignments"].shape)
    (2, 16, 2)

    References:
        - Hu, Wang, Xiong, Wang, Nie and Dou, "Curriculum Audiovisual Learning",
          arXiv:2001.09414, 2020, §3.1, Eq 2-5.
    """

    def __init__(
        self,
        audio_trunk="vggish",
        visual_trunk="vgg16",
        audio_shape=None,
        image_shape=None,
        num_audio_clusters=1,
        num_visual_clusters=None,
        embedding_dim=512,
        stiffness=30.0,
        iterations=4,
        init="strided",
        margin=1.0,
        reduction="sum",
        audio_weights=None,
        visual_weights=None,
        normalize=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice(audio_trunk, "audio_trunk", sorted(TRUNK_CONFIGS))
        check_choice(visual_trunk, "visual_trunk", sorted(TRUNK_CONFIGS))
        check_number(margin, "margin", minimum=0, exclusive_minimum=True)
        check_positive_int(num_audio_clusters, "num_audio_clusters")
        if num_visual_clusters is not None:
            check_positive_int(num_visual_clusters, "num_visual_clusters")
        check_positive_int(embedding_dim, "embedding_dim")
        check_number(stiffness, "stiffness", minimum=0, exclusive_minimum=True)
        check_positive_int(iterations, "iterations")
        self.audio_trunk_config = audio_trunk
        self.visual_trunk_config = visual_trunk
        self.audio_shape = check_input_shape(audio_shape, "audio_shape", TRUNK_CONFIGS[audio_trunk]["input_shape"])
        self.image_shape = check_input_shape(image_shape, "image_shape", TRUNK_CONFIGS[visual_trunk]["input_shape"])
        self.embedding_dim = embedding_dim
        self.stiffness = stiffness
        self.iterations = iterations
        self.init = init
        self.margin = margin
        self.reduction = reduction
        self.normalize = check_bool(normalize, "normalize")
        self.audio_trunk = conv_trunk(audio_trunk, self.audio_shape, audio_weights, name="audio_trunk")
        self.visual_trunk = conv_trunk(visual_trunk, self.image_shape, visual_weights, name="visual_trunk")
        self.audio_projection = keras.layers.Dense(embedding_dim, name="audio_projection")
        self.visual_projection = keras.layers.Dense(embedding_dim, name="visual_projection")
        # Under a mixed precision policy the clustering and the alignment compute in float32:
        # squared distances between 512-d features overflow float16 (largest value 65504).
        self._distance_dtype = "float32" if self.dtype_policy.name.startswith("mixed") else None
        self.alignment = AlignmentDistance(reduction=reduction, name="alignment", dtype=self._distance_dtype)
        self.match_accuracy = keras.metrics.BinaryAccuracy(name="match_accuracy")
        self.num_audio_clusters = num_audio_clusters
        self.num_visual_clusters = num_audio_clusters + 1 if num_visual_clusters is None else num_visual_clusters
        kmeans = dict(stiffness=stiffness, iterations=iterations, init=init, dtype=self._distance_dtype)
        self.audio_kmeans = SoftKMeans(self.num_audio_clusters, name="audio_kmeans", **kmeans)
        self.visual_kmeans = SoftKMeans(self.num_visual_clusters, name="visual_kmeans", **kmeans)
        self._pair_cache = None  # (outputs["distance"], pair_distances(outputs)) of the step in progress

    def with_num_clusters(self, num_audio_clusters, num_visual_clusters=None):
        """A copy of this model, weights included, clustering into other numbers of centres.

        The soft k-means layers hold no weights, so a model trained with
        ``k_a = 1`` warm-starts a curriculum stage with ``k_a = 2`` (and
        ``k_v = 3``) exactly: every trunk and projection weight is carried over,
        and so is each layer's ``trainable`` flag (a frozen trunk stays frozen).
        """
        config = {**self.get_config(), "num_audio_clusters": num_audio_clusters, "num_visual_clusters": num_visual_clusters}
        model = type(self).from_config(config)
        model.build()
        if not self.built:
            self.build()
        # Flags before weights: a frozen layer lists its variables among the
        # non-trainable ones, which changes the order of get_weights().
        _copy_trainable(self, model)
        model.set_weights(self.get_weights())
        return model

    def build(self, input_shape=None):
        """Create every weight from the model's own shapes (no call needed), e.g. before ``load_weights``.

        The trunks are built at construction; the projections take the trunks'
        channels, the clustering and the alignment hold no weights. ``input_shape``
        (what Keras passes on a first call) is not needed: the shapes are the
        model's ``audio_shape`` and ``image_shape``.
        """
        shapes = []
        for trunk, projection, kmeans in (
            (self.audio_trunk, self.audio_projection, self.audio_kmeans),
            (self.visual_trunk, self.visual_projection, self.visual_kmeans),
        ):
            _, height, width, channels = trunk.output.shape
            shapes += [(projection, (None, height * width, channels)), (kmeans, (None, height * width, self.embedding_dim))]
        centres = [(None, self.num_audio_clusters, self.embedding_dim), (None, self.num_visual_clusters, self.embedding_dim)]
        for layer, shape in shapes + [(self.alignment, centres)]:
            if not layer.built:  # a layer called on its own before (e.g. a projection) is built already
                layer.build(shape)
        self.built = True

    @property
    def visual_map_shape(self):
        """(h, w) of the visual feature map, the resolution of localization heatmaps."""
        return tuple(self.visual_trunk.output.shape[1:3])

    def _embed(self, trunk, projection, x):
        features = trunk(x)
        batch = ops.shape(features)[0]
        height, width, channels = features.shape[1], features.shape[2], features.shape[3]
        embedded = projection(ops.reshape(features, (batch, height * width, channels)))
        return _unit(embedded) if self.normalize else embedded

    def _check_inputs(self, inputs):
        """``inputs`` must be a dict with rank-4 ``"image"`` and ``"audio"`` batches (a static check, no values)."""
        expected = {"audio": self.audio_shape, "image": self.image_shape}
        if not isinstance(inputs, dict) or any(key not in inputs for key in expected):
            got = sorted(map(str, inputs)) if isinstance(inputs, dict) else type(inputs).__name__
            raise ValueError(
                f"`inputs` must be a dict with {sorted(expected)} entries (other keys are ignored); received {got}."
            )
        for key, shape in expected.items():
            got = tuple(getattr(inputs[key], "shape", np.shape(inputs[key])))
            if len(got) != 4:
                raise ValueError(f"'{key}' must have shape (batch,) + {shape}, rank 4; received shape {got}.")

    def call(self, inputs, training=False):
        self._check_inputs(inputs)
        audio_features = self._embed(self.audio_trunk, self.audio_projection, inputs["audio"])
        visual_features = self._embed(self.visual_trunk, self.visual_projection, inputs["image"])
        audio_centers, audio_assignments = self.audio_kmeans(audio_features)
        visual_centers, visual_assignments = self.visual_kmeans(visual_features)
        if self.normalize:
            # Spherical k-means: a centre (a mean of unit vectors) is brought back to the sphere, so
            # the alignment compares directions; a spread-out cluster (a short mean) is not closer
            # to everything than a tight one.
            audio_centers = _unit(audio_centers)
            visual_centers = _unit(visual_centers)
        distance, aligned_index = self.alignment([audio_centers, visual_centers])
        return {
            "distance": distance,
            "aligned_index": aligned_index,
            "audio_centers": audio_centers,
            "visual_centers": visual_centers,
            "audio_assignments": audio_assignments,
            "visual_assignments": visual_assignments,
        }

    def pair_distances(self, outputs):
        """Distances of the batch's matched pairs and of its in-batch mismatched pairs.

        Mismatched pair ``i`` is picture ``i`` with the sound of sample
        ``i + 1`` (cyclically): a different clip, without re-running a trunk.

        Returns:
            ``(distance (2B,), is_match (2B,))``.
        """
        shifted_audio = ops.roll(outputs["audio_centers"], shift=1, axis=0)
        mismatched, _ = self.alignment([shifted_audio, outputs["visual_centers"]])
        distance = ops.concatenate([outputs["distance"], mismatched], axis=0)
        is_match = ops.concatenate([ops.ones_like(mismatched), ops.zeros_like(mismatched)], axis=0)
        return distance, is_match

    def _pairs(self, outputs):
        """:meth:`pair_distances` of ``outputs``, computed once per step.

        ``compute_loss`` and ``compute_metrics`` receive the same outputs; the
        second call finds the pairs the first one computed (recognised by the
        identity of ``outputs["distance"]``, so other outputs never get stale pairs).
        On JAX, whose trainer differentiates ``compute_loss`` in a trace of its
        own and hands ``compute_metrics`` new output tensors, the mismatched
        pairs are aligned again (one :class:`AlignmentDistance` call on the
        centres; no trunk runs twice).
        """
        cached = self._pair_cache
        if cached is not None and cached[0] is outputs["distance"]:
            return cached[1]
        pairs = self.pair_distances(outputs)
        self._pair_cache = (outputs["distance"], pairs)
        return pairs

    def example_losses(self, x, y, y_pred):
        """Eq 5 per clip, (B, 2): the terms of its matched pair and of its mismatched pair.

        Their mean over the batch is Eq 5, the mean over the ``2B`` pairs.
        """
        distance, is_match = self._pairs(y_pred)
        per_pair = contrastive_per_pair(distance=distance, is_match=is_match, margin=self.margin)  # (2B,)
        return ops.transpose(ops.reshape(per_pair, (2, -1)))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        distance, is_match = self._pairs(y_pred)
        self._pair_cache = None  # the step is over: hold no tensor
        weight = None if sample_weight is None else ops.tile(ops.reshape(sample_weight, (-1,)), (2,))
        self.match_accuracy.update_state(is_match, ops.cast(distance < self.margin / 2, "float32"), sample_weight=weight)
        return self.get_metrics_result()

    def localization_maps(self, inputs, *, aligned=True, per_centre=False):
        """Localization heatmaps (B, h, w) on the visual feature grid (Eq 7).

        For every audio centre take the visual centre it aligned with, and
        combine their assignment columns with a pixel-wise max (one sounding
        object per audio centre). With ``aligned=False`` (the "unaligned
        centre" ablation) take instead the visual centre farthest from every
        audio centre, the one the alignment treats as background.

        Args:
            inputs: dict with ``"image"`` and ``"audio"`` batches.
            aligned: the aligned centres (Eq 7) or the unaligned-centre ablation.
            per_centre: return one heatmap per audio centre, (B, k_a, h, w),
                instead of their max (with ``aligned=False`` every centre gets
                the one unaligned map).

        Returns:
            numpy array (B, h, w), or (B, k_a, h, w) with ``per_centre``, values in [0, 1].
        """
        outputs = self(inputs, training=False)
        assignments = ops.convert_to_numpy(outputs["visual_assignments"])
        if aligned:
            chosen = ops.convert_to_numpy(outputs["aligned_index"])
        else:
            audio = ops.convert_to_numpy(outputs["audio_centers"])
            visual = ops.convert_to_numpy(outputs["visual_centers"])
            gaps = np.linalg.norm(audio[:, :, None, :] - visual[:, None, :, :], axis=-1).min(axis=1)
            chosen = np.repeat(gaps.argmax(axis=1)[:, None], self.num_audio_clusters, axis=1)
        columns = np.take_along_axis(assignments, chosen[:, None, :].astype(int), axis=2)  # (B, N, k_a)
        if per_centre:
            return np.moveaxis(columns, 2, 1).reshape((len(assignments), columns.shape[2]) + self.visual_map_shape)
        return columns.max(axis=2).reshape((len(assignments),) + self.visual_map_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "audio_trunk": self.audio_trunk_config,
            "visual_trunk": self.visual_trunk_config,
            "audio_shape": self.audio_shape,
            "image_shape": self.image_shape,
            "num_audio_clusters": self.num_audio_clusters,
            "num_visual_clusters": self.num_visual_clusters,
            "embedding_dim": self.embedding_dim,
            "stiffness": self.stiffness,
            "iterations": self.iterations,
            "init": self.init,
            "margin": self.margin,
            "reduction": self.reduction,
            "normalize": self.normalize,
        }


def _unit(vectors):
    """``vectors`` scaled to unit Euclidean norm along the last axis (epsilon inside the root: zeros stay finite)."""
    return vectors / ops.sqrt(ops.sum(ops.square(vectors), axis=-1, keepdims=True) + 1e-12)


def _copy_trainable(source, target):
    """Give ``target`` (same layer structure) the ``trainable`` flag of each of ``source``'s layers.

    The config says nothing of which layers the user froze; without this a
    frozen trunk would silently train again in the next curriculum stage.
    """
    target.trainable = source.trainable  # setting a parent also sets its children: fix them after
    for source_layer, target_layer in zip(source.layers, target.layers):
        if hasattr(source_layer, "layers"):
            _copy_trainable(source_layer, target_layer)
        else:
            target_layer.trainable = source_layer.trainable
