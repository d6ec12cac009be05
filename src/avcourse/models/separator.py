"""Visually guided sound separation: a U-Net conditioned on a visual vector (CAVL §3.3.2).

The separator looks at the log-frequency spectrogram of a mixture and at one
visual vector describing the object to hear, and predicts a mask over the
mixture's time-frequency bins: the share of each bin that belongs to that
object. Multiplying the (unwarped) mask with the mixture magnitude and reusing
the mixture's phase gives the separated waveform
(:func:`avcourse.audio.reconstruct_from_mask`, :func:`separate`).

* :class:`~avcourse.models.unet.UNetSeparator` (in :mod:`avcourse.models.unet`,
  importable from here too): the U-Net of CAVL supp. 6.4 with the visual
  vector tiled and concatenated at the bottleneck.
* :class:`VisuallyGuidedSeparator`: mix-and-separate training with
  ``model.fit(mix_separate_dataset(...))``: one mixture, ``num_mix`` visual
  vectors, one mask each, the mask loss averaged over the sources.
* Visual vectors: :func:`visual_vectors_from_labels` (the "oracle": the true
  identity of the sounding object) and :func:`cavl_visual_vectors` (CAVL's
  aligned visual centre, ``"center"``, or the visual features max-pooled under
  that centre's assignment, ``"mask"``; Table 4).

Taught in: tutorials/06_separation.ipynb
"""

import copy

import keras
import numpy as np
from keras import ops

from avcourse import audio
from avcourse._api import register
from avcourse._validation import as_float_array, check_bool, check_choice, check_number, check_positive_int
from avcourse.models.base import ModelLoss, static_shape
from avcourse.models.unet import MASK_TYPES, UNetSeparator, mixture_magnitude_of

__all__ = [
    "MASK_TYPES",
    "UNetSeparator",
    "VisuallyGuidedSeparator",
    "cavl_visual_vectors",
    "separate",
    "visual_vectors_from_labels",
]

CONDITIONINGS = ("visual", "oracle", "encoder")


def visual_vectors_from_labels(labels, num_classes, dim):
    """Oracle visual vectors: one-hot instrument classes zero-padded to ``dim``.

    The "oracle" conditioning gives the separator the true identity of the
    sounding object instead of something a visual network computed: vector
    ``k`` has a 1 at index ``labels[k]`` and zeros elsewhere. It is the upper
    reference for visual conditioning (a perfect visual recogniser).

    Args:
        labels: integer class indices of any shape (e.g. (B, num_mix) from
            :func:`avcourse.data.pipelines.mix_separate_dataset`).
        num_classes: number of classes (``len(world.instrument_names())``).
        dim: the vector size, ``>= num_classes`` (the separator's ``visual_dim``).

    Returns:
        float32 (..., dim); numpy for numpy input, a tensor for tensor input.

    Examples:
    >>> visual_vectors_from_labels(np.array([2, 0]), num_classes=3, dim=4).tolist()
    [[0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    dim = check_positive_int(dim, "dim")
    if dim < num_classes:
        raise ValueError(f"`dim` ({dim}) must be >= `num_classes` ({num_classes}) for one-hot oracle vectors.")
    is_tensor = ops.is_tensor(labels)
    if not is_tensor:
        array = np.asarray(labels)
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"`labels` must hold integer class indices; received dtype {array.dtype}.")
        if array.size and (array.min() < 0 or array.max() >= num_classes):
            raise ValueError(f"`labels` must lie in [0, {num_classes}); received values in [{array.min()}, {array.max()}].")
    vectors = ops.one_hot(ops.cast(labels, "int32"), num_classes, dtype="float32")
    if dim > num_classes:
        rank = len(vectors.shape)
        vectors = ops.pad(vectors, [(0, 0)] * (rank - 1) + [(0, dim - num_classes)])
    return vectors if is_tensor else np.asarray(ops.convert_to_numpy(vectors))


@register
class VisuallyGuidedSeparator(ModelLoss, keras.Model):
    """Mix-and-separate training of a :class:`UNetSeparator` (Sound of Pixels, CAVL §3.3.2).

    A batch of :func:`avcourse.data.pipelines.mix_separate_dataset` holds, per
    example, one mixture of ``num_mix`` sources and one picture per source.
    The model runs the separator once per source on the same mixture, each
    time with that source's visual vector, and ``compute_loss`` averages the
    separator's :meth:`UNetSeparator.mask_loss` over the sources (the mask
    type, clip, threshold and weighting are the separator's; ``sample_weight``
    and the reduction follow :class:`~avcourse.models.base.ModelLoss`). The
    ``num_mix`` copies go through the U-Net as one batch of ``B · num_mix``.

    Where the visual vectors come from (``conditioning``):

    * ``"visual"``: the batch's ``"visual"`` entry (B, num_mix, visual_dim),
      e.g. precomputed with :func:`cavl_visual_vectors`;
    * ``"oracle"``: :func:`visual_vectors_from_labels` of the batch's
      ``"labels"`` (the true instrument of each source);
    * ``"encoder"``: ``visual_encoder`` applied to the batch's ``"images"``
      (B, num_mix, H, W, 3) → (B · num_mix, visual_dim), trained jointly.

    Args:
        separator: a :class:`UNetSeparator`.
        conditioning: ``"visual"``, ``"oracle"`` or ``"encoder"`` (default:
            ``"encoder"`` when ``visual_encoder`` is given, else ``"visual"``).
        visual_encoder: a Keras model from images (N, H, W, 3) to
            (N, visual_dim); only with ``conditioning="encoder"``.
        num_classes: number of instrument classes for ``"oracle"`` (default:
            the synthetic world's instruments).
        normalize_masks: divide the ``num_mix`` masks of each mixture by their
            sum in every bin (:func:`avcourse.audio.normalize_source_masks`), in
            training and at inference, so that the separated sources add up to
            the mixture. Each mask is predicted on its own, from its own visual
            vector; nothing else makes them share the mixture. Not in CAVL or
            Sound of Pixels (default ``False``); the separation reproduction
            trains with it (``SeparationRecipe.normalize_masks``, chosen on
            validation mixtures there). Needs
            ``num_mix >= 2``.

    Call arguments:
        inputs: a dict with ``"mixture"`` (B, bins, frames, 1) and the entry
            the conditioning reads (``"visual"``, ``"labels"`` or ``"images"``);
            other keys (``"mixture_magnitude"``, ``"source_magnitudes"``, ...)
            are ignored by the call and read by ``compute_loss``.
        training: passed to the separator (and the encoder).

    Returns:
        the masks (B, num_mix, bins, frames), one per source.

    Examples:
    >>> unet = UNetSeparator(depth=2, base_channels=4, visual_dim=16, visual_units=8)
    >>> model = VisuallyGuidedSeparator(unet, conditioning="oracle")
    >>> masks = model({"mixture": np.zeros((2, 8, 6, 1)), "labels": np.array([[0, 1], [2, 3]])})
    >>> tuple(masks.shape)
    (2, 2, 8, 6)

    References:
        - Zhao et al., "The Sound of Pixels", ECCV 2018 (mix-and-separate).
        - Hu et al., "Curriculum Audiovisual Learning", arXiv:2001.09414, 2020, §3.3.2, Eq 8.
    """

    def __init__(
        self, separator, conditioning=None, visual_encoder=None, num_classes=None, normalize_masks=False, **kwargs
    ):
        super().__init__(**kwargs)
        if not isinstance(separator, UNetSeparator):
            raise ValueError(f"`separator` must be a UNetSeparator; received {type(separator).__name__}.")
        if conditioning is None:
            conditioning = "encoder" if visual_encoder is not None else "visual"
        check_choice(conditioning, "conditioning", CONDITIONINGS)
        if (conditioning == "encoder") != (visual_encoder is not None):
            raise ValueError(
                f"`visual_encoder` must be given exactly when conditioning='encoder'; received conditioning="
                f"{conditioning!r} and visual_encoder={type(visual_encoder).__name__}."
            )
        if num_classes is None:
            from avcourse.data import world

            num_classes = len(world.instrument_names())
        self.num_classes = check_positive_int(num_classes, "num_classes")
        if conditioning == "oracle" and self.num_classes > separator.visual_dim:
            raise ValueError(
                f"oracle conditioning needs visual_dim >= num_classes; received visual_dim="
                f"{separator.visual_dim} and num_classes={self.num_classes}."
            )
        self.separator = separator
        self.conditioning = conditioning
        self.visual_encoder = visual_encoder
        self.normalize_masks = check_bool(normalize_masks, "normalize_masks")

    def build(self, input_shape=None):
        """Build the separator (and the encoder); no call needed."""
        if not self.separator.built:
            self.separator.build()
        self.built = True

    def _visual(self, inputs, training):
        if self.conditioning == "visual":
            visual = inputs["visual"]
        elif self.conditioning == "oracle":
            visual = visual_vectors_from_labels(inputs["labels"], self.num_classes, self.separator.visual_dim)
        else:
            images = inputs["images"]
            shape = static_shape(images)
            if len(shape) != 5:
                raise ValueError(f"'images' must have shape (batch, num_mix, height, width, 3); received {shape}.")
            flat = ops.reshape(images, (-1,) + shape[2:])
            visual = self.visual_encoder(flat, training=training)
        visual = ops.reshape(ops.cast(visual, self.compute_dtype), (-1, self.separator.visual_dim))
        return visual

    def _check(self, inputs):
        key = {"visual": "visual", "oracle": "labels", "encoder": "images"}[self.conditioning]
        if not isinstance(inputs, dict) or "mixture" not in inputs or key not in inputs:
            got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise ValueError(
                f"`inputs` must be a dict with 'mixture' and {key!r} entries (conditioning={self.conditioning!r}); "
                f"received {got}."
            )
        shape = static_shape(inputs[key])
        if len(shape) < 2 or shape[1] is None:
            raise ValueError(f"{key!r} must have shape (batch, num_mix, ...) with a static num_mix; received {shape}.")
        if self.normalize_masks and shape[1] < 2:
            raise ValueError(
                f"normalize_masks=True needs num_mix >= 2 sources a mixture (one mask divided by itself is 1); "
                f"received {key!r} with shape {shape}."
            )
        if self.conditioning == "visual" and (len(shape) != 3 or shape[2] != self.separator.visual_dim):
            raise ValueError(
                f"'visual' must have shape (batch, num_mix, visual_dim={self.separator.visual_dim}); received {shape}."
            )
        return shape[1]

    def call(self, inputs, training=False):
        num_mix = self._check(inputs)
        mixture = inputs["mixture"]
        visual = self._visual(inputs, training)
        repeated = ops.repeat(mixture, num_mix, axis=0)  # b0, b0, b1, b1, ... as the flattened vectors
        masks = self.separator({"mixture": repeated, "visual": visual}, training=training)
        bins, frames = static_shape(masks)[1:3]
        masks = ops.reshape(masks, (-1, num_mix, bins, frames))
        return audio.normalize_source_masks(masks) if self.normalize_masks else masks

    def example_losses(self, x, y, y_pred):
        """The separator's mask loss per element, (B, num_mix, bins, frames)."""
        if not isinstance(x, dict) or "source_magnitudes" not in x:
            raise ValueError(
                "VisuallyGuidedSeparator needs the batch's 'source_magnitudes' (batch, num_mix, bins, frames) "
                "to compute its loss (as mix_separate_dataset yields)."
            )
        return self.separator.mask_loss_elements(
            predicted_mask=y_pred,
            source_magnitude=x["source_magnitudes"],
            mixture_magnitude=mixture_magnitude_of(x)[:, None],
        )

    def get_config(self):
        return {
            **super().get_config(),
            "separator": keras.saving.serialize_keras_object(self.separator),
            "conditioning": self.conditioning,
            "visual_encoder": None
            if self.visual_encoder is None
            else keras.saving.serialize_keras_object(self.visual_encoder),
            "num_classes": self.num_classes,
            "normalize_masks": self.normalize_masks,
        }

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)  # deserialize_keras_object consumes nested configs
        config["separator"] = keras.saving.deserialize_keras_object(config["separator"])
        if config.get("visual_encoder") is not None:
            config["visual_encoder"] = keras.saving.deserialize_keras_object(config["visual_encoder"])
        return cls(**config)


def cavl_visual_vectors(cavl_model, images, audio_features, mode="center", batch_size=32):
    """Visual vectors for the separator from a trained CAVL model (Table 4).

    The CAVL model must cluster with ``k_a = 1`` (one sounding object per
    picture; ``cavl_model.with_num_clusters(1)`` makes one from any stage).
    For each picture and its sound the model gives ``k_v`` visual centres and
    the index ``j*`` of the one aligned with the audio centre (Eq 4); then

    * ``mode="center"``: the vector is that aligned visual centre
      (``embedding_dim`` values);
    * ``mode="mask"``: the visual trunk's feature map ``f_n`` (N = h·w
      positions, ``C`` channels) max-pooled under the aligned centre's soft
      assignment ``a_n = w_{n j*}`` (Eq 2): ``v_c = max_n a_n · f_{n,c}``.
      The trunk's features are ReLU outputs (≥ 0), so positions the cluster
      does not own (``a_n ≈ 0``) cannot win the max; no threshold is needed
      and a cluster with little mass still gives a vector (of small values).

    Args:
        cavl_model: a :class:`avcourse.models.CAVLModel` with ``num_audio_clusters == 1``.
        images: (N, H, W, 3) pictures, one object to separate each.
        audio_features: (N, bins, frames, 1) the sound to align each picture
            with (the ``log1p`` spectrogram CAVL takes): the source's own solo
            sound when available (training), or the mixture, which contains it.
        mode: ``"center"`` or ``"mask"``.
        batch_size: pictures per forward pass.

    Returns:
        numpy float32 (N, embedding_dim) for ``"center"``, (N, C) for ``"mask"``.
    """
    check_choice(mode, "mode", ("center", "mask"))
    if not hasattr(cavl_model, "visual_kmeans") or not hasattr(cavl_model, "visual_trunk"):
        raise ValueError(f"`cavl_model` must be a CAVLModel; received {type(cavl_model).__name__}.")
    if cavl_model.num_audio_clusters != 1:
        raise ValueError(
            "`cavl_model` must have num_audio_clusters == 1 (one object per picture); received "
            f"{cavl_model.num_audio_clusters}. Use `cavl_model.with_num_clusters(1)`."
        )
    images = as_float_array(images, "images", ndim=4).astype("float32", copy=False)
    audio_features = as_float_array(audio_features, "audio_features", ndim=4).astype("float32", copy=False)
    if len(images) != len(audio_features):
        raise ValueError(
            "`images` (N, H, W, 3) and `audio_features` (N, bins, frames, 1) must be batches of the same size; "
            f"received {images.shape} and {audio_features.shape}."
        )
    batch_size = check_positive_int(batch_size, "batch_size")
    vectors = []
    for start in range(0, len(images), batch_size):
        batch = {"image": images[start : start + batch_size], "audio": audio_features[start : start + batch_size]}
        outputs = cavl_model(batch, training=False)
        aligned = np.asarray(ops.convert_to_numpy(outputs["aligned_index"]))[:, 0].astype(int)
        if mode == "center":
            centers = np.asarray(ops.convert_to_numpy(outputs["visual_centers"]))
            vectors.append(centers[np.arange(len(aligned)), aligned])
        else:
            assignments = np.asarray(ops.convert_to_numpy(outputs["visual_assignments"]))
            weights = assignments[np.arange(len(aligned)), :, aligned]  # (b, N)
            features = np.asarray(ops.convert_to_numpy(cavl_model.visual_trunk(batch["image"], training=False)))
            features = features.reshape(len(features), -1, features.shape[-1])  # (b, N, C)
            vectors.append((weights[:, :, None] * features).max(axis=1))
    return np.concatenate(vectors).astype("float32")


def separate(mixture_waveform, visual_vector, separator, config=None, *, mask_threshold=None):
    """Separate one source from a mixture waveform, guided by a visual vector.

    Steps: ``log1p`` of the warped mixture magnitude → the separator's mask →
    optionally binarised at ``mask_threshold`` (Sound of Pixels thresholds
    binary masks at 0.5 for evaluation) →
    :func:`avcourse.audio.reconstruct_from_mask` (unwarp to 512 bins, times
    ``|S_mix|``, the mixture's phase, inverse STFT).

    Args:
        mixture_waveform: (samples,) or (B, samples) at the config's rate.
        visual_vector: (visual_dim,) or (B, visual_dim).
        separator: a :class:`UNetSeparator` (or a :class:`VisuallyGuidedSeparator`,
            whose separator is used).
        config: the :class:`avcourse.audio.AudioConfig` of the features the
            separator was trained on.
        mask_threshold: if given, the mask becomes ``mask > mask_threshold``.

    Returns:
        numpy float32 waveform with the mixture's shape.
    """
    if isinstance(separator, VisuallyGuidedSeparator):
        separator = separator.separator
    if not isinstance(separator, UNetSeparator):
        raise ValueError(f"`separator` must be a UNetSeparator; received {type(separator).__name__}.")
    mixture = as_float_array(mixture_waveform, "mixture_waveform", min_ndim=1).astype("float32", copy=False)
    visual = as_float_array(visual_vector, "visual_vector", min_ndim=1).astype("float32", copy=False)
    if mask_threshold is not None:
        mask_threshold = check_number(mask_threshold, "mask_threshold")
    single = mixture.ndim == 1
    if single:
        mixture = mixture[None]
        if visual.ndim == 1:
            visual = visual[None]
    if mixture.ndim != 2 or visual.ndim != 2 or len(visual) != len(mixture):
        raise ValueError(
            "`mixture_waveform` (samples,) or (B, samples) needs `visual_vector` (visual_dim,) or (B, visual_dim) "
            f"with the same batch; received {np.shape(mixture_waveform)} and {np.shape(visual_vector)}."
        )
    features = np.asarray(audio.log1p_magnitude(mixture, config))[..., None]
    mask = np.asarray(ops.convert_to_numpy(separator({"mixture": features, "visual": visual}, training=False)))[..., 0]
    if mask_threshold is not None:
        mask = (mask > mask_threshold).astype("float32")
    waveform = np.asarray(audio.reconstruct_from_mask(mask, mixture, config)).astype("float32")
    return waveform[0] if single else waveform
