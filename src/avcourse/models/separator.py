"""Visually guided sound separation: a U-Net conditioned on a visual vector (CAVL §3.3.2).

The separator looks at the log-frequency spectrogram of a mixture and at one
visual vector describing the object to hear, and predicts a mask over the
mixture's time-frequency bins: the share of each bin that belongs to that
object. Multiplying the (unwarped) mask with the mixture magnitude and reusing
the mixture's phase gives the separated waveform
(:func:`avcourse.audio.reconstruct_from_mask`, :func:`separate`).

* :class:`UNetSeparator`: the U-Net of CAVL supp. 6.4 with the visual vector
  tiled and concatenated at the bottleneck.
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
from avcourse._validation import (
    as_float_array,
    check_bool,
    check_choice,
    check_nonnegative_int,
    check_number,
    check_positive_int,
)
from avcourse.losses._replicas import per_replica
from avcourse.losses.separation import binary_mask_bce_elements, ratio_mask_l1_elements

__all__ = [
    "MASK_TYPES",
    "UNetSeparator",
    "VisuallyGuidedSeparator",
    "cavl_visual_vectors",
    "separate",
    "visual_vectors_from_labels",
]

MASK_TYPES = ("ratio", "binary")
CONDITIONINGS = ("visual", "oracle", "encoder")


def _static(tensor):
    return tuple(None if d is None else int(d) for d in tensor.shape)


@register
class UNetSeparator(keras.Model):
    """U-Net mask predictor conditioned on a visual vector (CAVL supp. 6.4).

    Architecture (paper values for the defaults):

    * Encoder: ``depth`` (6) blocks ``Conv2D(4x4, stride 2, "same")`` →
      ``BatchNormalization`` → ``LeakyReLU(0.2)`` with
      ``min(base_channels · 2^i, max_channels)`` channels, 16-32-64-128-256-512.
      Batch norm is on every encoder block, the first one included, as the
      CAVL supplement says (pix2pix and Sound of Pixels leave it off the first).
      Convolutions followed by batch norm have no bias. Every batch norm
      uses ``momentum=0.9`` (PyTorch's 0.1, as the authors' code) so that its
      moving statistics settle within the short CPU trainings of the course.
    * Visual conditioning: the visual vector (``visual_dim``, 512) →
      ``Dense(visual_units)`` (512) → ``BatchNormalization`` →
      ``LeakyReLU(0.2)``, tiled over the bottleneck's positions and
      concatenated to its channels.
    * Decoder: ``depth`` blocks ``Conv2DTranspose(4x4, stride 2, "same")``
      with skip connections (the output of each block is concatenated with the
      mirror encoder map), laid out as in pix2pix / Sound of Pixels: the
      decoder's levels carry 512-256-128-64-32-16 channels (each up-convolution
      outputs the channels of the encoder map it is concatenated with), every
      block but the last has ``BatchNormalization`` → ``ReLU``, and the last
      up-convolution outputs 1 channel (with a bias, no norm) followed by the
      mask activation.
    * Mask activation: ``mask_type="binary"``: ``sigmoid`` (Sound of Pixels'
      binary mask, CAVL's "last layer sigmoid"); ``mask_type="ratio"``:
      ``max_ratio · sigmoid`` so the mask covers the ratio targets' range
      [0, max_ratio] (= [0, 5]) while keeping the paper's sigmoid output layer
      (Sound of Pixels' ratio variant uses an unbounded ReLU instead; a
      bounded output cannot overshoot the clipped target).

    The network is fully convolutional. Inputs whose bins or frames are not
    multiples of ``2^depth`` (e.g. the tutorials' 64 x 44 spectrograms with
    ``depth=4``) are zero-padded at the top and right (high bins, late frames)
    up to the next multiple inside :meth:`call`, and the mask is cropped back to
    the input's size. Zero is silence in the ``log1p`` input, so the padding
    adds silent bins. The spatial sizes must be static (known when the model
    is traced), as they are for ``tf.data`` pipelines with fixed clip lengths.

    Training: :class:`VisuallyGuidedSeparator` trains this network by
    mix-and-separate. It can also be fitted on its own: ``y`` is the source
    magnitude ``|S_i|`` (B, bins, frames) on the mask's grid, and the mixture
    magnitude comes from the input dict's ``"mixture_magnitude"`` or, when that
    is missing, from ``expm1`` of the ``log1p`` network input. Unless a loss is
    given to ``compile``, the loss is :meth:`mask_loss`.

    Args:
        depth: number of down (and up) sampling blocks (6 in the paper).
        base_channels: channels of the first encoder block (16 in the paper).
        max_channels: cap of the encoder channels (512 in the paper).
        visual_dim: size of the visual vector (512 in the paper).
        visual_units: width of the visual ``Dense`` layer (512 in the paper).
        mask_type: ``"ratio"`` (targets ``clip(|S_i|/|S_mix|, 0, max_ratio)``,
            L1 loss, CAVL Eq 8) or ``"binary"`` (targets
            ``|S_i| > threshold·|S_mix|``, BCE, Sound of Pixels).
        max_ratio: range of a ratio mask and clip of its targets (5).
        threshold: the binary targets' threshold (0.5).
        weighted: weight the loss per bin by ``clip(log1p(|S_mix|), 1e-3, 10)``.
        output_channels: ``None`` (default): the network outputs the one-channel
            mask described above. An int ``C``: the last up-convolution outputs
            ``C`` channels and the network returns that map unactivated, an
            audio feature map (B, bins, frames, C) such as CCoL's, whose masks
            come from a dot product with an object vector
            (:class:`avcourse.models.ccol.ObjectConditionedSeparator`).
        visual_dim: ``0`` builds the U-Net without visual conditioning (no
            ``"visual"`` input); used with ``output_channels``.

    Call arguments:
        inputs: dict with ``"mixture"`` (B, bins, frames, 1), the ``log1p``
            warped magnitude of the mixture, and ``"visual"`` (B, visual_dim)
            (unless ``visual_dim == 0``); other keys are ignored.
        training: whether batch norm uses batch statistics.

    Returns:
        the mask (B, bins, frames, 1), in [0, 1] (binary) or [0, max_ratio] (ratio).

    Examples:
    >>> separator = UNetSeparator(depth=4, base_channels=8, visual_dim=16, visual_units=16)
    >>> mask = separator({"mixture": np.zeros((2, 64, 44, 1)), "visual": np.zeros((2, 16))})
    >>> tuple(mask.shape)
    (2, 64, 44, 1)
    >>> separator.encoder_channels
    (8, 16, 32, 64)

    References:
        - Hu et al., "Curriculum Audiovisual Learning", arXiv:2001.09414, 2020,
          §3.3.2, Eq 8, supplementary 6.4.
        - Zhao et al., "The Sound of Pixels", ECCV 2018.
        - Ronneberger, Fischer and Brox, "U-Net", MICCAI 2015; Isola et al.,
          "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017.
    """

    def __init__(
        self,
        depth=6,
        base_channels=16,
        max_channels=512,
        visual_dim=512,
        visual_units=512,
        mask_type="ratio",
        max_ratio=5.0,
        threshold=0.5,
        weighted=False,
        output_channels=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.depth = check_positive_int(depth, "depth")
        self.base_channels = check_positive_int(base_channels, "base_channels")
        self.max_channels = check_positive_int(max_channels, "max_channels")
        self.visual_dim = check_nonnegative_int(visual_dim, "visual_dim")
        self.output_channels = None if output_channels is None else check_positive_int(output_channels, "output_channels")
        self.visual_units = check_positive_int(visual_units, "visual_units")
        self.mask_type = check_choice(mask_type, "mask_type", MASK_TYPES)
        self.max_ratio = check_number(max_ratio, "max_ratio", minimum=0, exclusive_minimum=True)
        self.threshold = check_number(threshold, "threshold", minimum=0)
        self.weighted = check_bool(weighted, "weighted")

        channels = self.encoder_channels
        self.down_convs = [
            keras.layers.Conv2D(c, 4, strides=2, padding="same", use_bias=False, name=f"down{i}_conv")
            for i, c in enumerate(channels)
        ]
        self.down_norms = [keras.layers.BatchNormalization(momentum=0.9, name=f"down{i}_bn") for i in range(self.depth)]
        if self.visual_dim:
            self.visual_dense = keras.layers.Dense(self.visual_units, use_bias=False, name="visual_dense")
            self.visual_norm = keras.layers.BatchNormalization(momentum=0.9, name="visual_bn")
        else:
            self.visual_dense = self.visual_norm = None
        out = self.output_channels or 1
        # up{i} brings level i + 1 to level i (resolution 1 / 2^i); it outputs the
        # channels of encoder map i - 1 (its skip partner), or 1 for the last.
        self.up_convs = [
            keras.layers.Conv2DTranspose(
                channels[i - 1] if i > 0 else out, 4, strides=2, padding="same", use_bias=i == 0, name=f"up{i}_conv"
            )
            for i in range(self.depth)
        ]
        self.up_norms = [keras.layers.BatchNormalization(momentum=0.9, name=f"up{i}_bn") for i in range(1, self.depth)]

    @property
    def encoder_channels(self):
        """Channels of the encoder blocks, e.g. (16, 32, 64, 128, 256, 512)."""
        return tuple(min(self.base_channels * 2**i, self.max_channels) for i in range(self.depth))

    @property
    def decoder_channels(self):
        """Channels output by the up-convolutions, from the bottleneck up, e.g. (256, 128, 64, 32, 16, 1)."""
        channels = self.encoder_channels
        return tuple(channels[i - 1] if i > 0 else (self.output_channels or 1) for i in reversed(range(self.depth)))

    @property
    def size_multiple(self):
        """Inputs are padded to multiples of this (``2^depth``) inside :meth:`call`."""
        return 2**self.depth

    def build(self, input_shape=None):
        """Create every weight (the network is fully convolutional: no call needed)."""
        channels = self.encoder_channels
        previous = 1
        for conv, norm, width in zip(self.down_convs, self.down_norms, channels):
            conv.build((None, None, None, previous))
            norm.build((None, None, None, width))
            previous = width
        if self.visual_dim:
            self.visual_dense.build((None, self.visual_dim))
            self.visual_norm.build((None, self.visual_units))
        incoming = channels[-1] + (self.visual_units if self.visual_dim else 0)
        for i in reversed(range(self.depth)):
            self.up_convs[i].build((None, None, None, incoming))
            if i > 0:
                self.up_norms[i - 1].build((None, None, None, channels[i - 1]))
                incoming = 2 * channels[i - 1]
        self.built = True

    def _inputs(self, inputs):
        if not self.visual_dim and isinstance(inputs, dict) and "mixture" in inputs:
            shape = _static(inputs["mixture"])
            if len(shape) != 4 or shape[-1] != 1 or shape[1] is None or shape[2] is None:
                raise ValueError(f"'mixture' must have static shape (batch, bins, frames, 1); received {shape}.")
            return inputs["mixture"], None
        if not isinstance(inputs, dict) or "mixture" not in inputs or "visual" not in inputs:
            got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise ValueError(f"`inputs` must be a dict with 'mixture' and 'visual' entries; received {got}.")
        mixture, visual = inputs["mixture"], inputs["visual"]
        mixture_shape, visual_shape = _static(mixture), _static(visual)
        if len(mixture_shape) != 4 or mixture_shape[-1] != 1:
            raise ValueError(f"'mixture' must have shape (batch, bins, frames, 1); received {mixture_shape}.")
        if mixture_shape[1] is None or mixture_shape[2] is None:
            raise ValueError(f"'mixture' must have static bins and frames; received {mixture_shape}.")
        if len(visual_shape) != 2 or visual_shape[-1] != self.visual_dim:
            raise ValueError(
                f"'visual' must have shape (batch, visual_dim={self.visual_dim}); received {visual_shape}."
            )
        return mixture, visual

    def call(self, inputs, training=False):
        mixture, visual = self._inputs(inputs)
        dtype = self.compute_dtype
        mixture = ops.cast(mixture, dtype)
        bins, frames = _static(mixture)[1:3]
        multiple = self.size_multiple
        pad_bins, pad_frames = -bins % multiple, -frames % multiple
        x = mixture
        if pad_bins or pad_frames:
            x = ops.pad(x, [(0, 0), (0, pad_bins), (0, pad_frames), (0, 0)])

        skips = []
        for conv, norm in zip(self.down_convs, self.down_norms):
            x = ops.leaky_relu(norm(conv(x), training=training), negative_slope=0.2)
            skips.append(x)

        if self.visual_dim:
            visual = ops.cast(visual, dtype)
            condition = ops.leaky_relu(
                self.visual_norm(self.visual_dense(visual), training=training), negative_slope=0.2
            )
            tiled = condition[:, None, None, :] * ops.ones_like(x[..., :1])
            x = ops.concatenate([x, tiled], axis=-1)

        for i in reversed(range(self.depth)):
            x = self.up_convs[i](x)
            if i > 0:
                x = ops.relu(self.up_norms[i - 1](x, training=training))
                x = ops.concatenate([x, skips[i - 1]], axis=-1)
        if self.output_channels is not None:
            return ops.cast(x, "float32")[:, :bins, :frames, :]
        mask = ops.sigmoid(ops.cast(x, "float32"))
        if self.mask_type == "ratio":
            mask = self.max_ratio * mask
        return mask[:, :bins, :frames, :]

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape["mixture"])
        return shape[:3] + (self.output_channels or 1,)

    def mask_loss(self, predicted_mask, source_magnitude, mixture_magnitude):
        """This separator's mask loss, the mean over every element.

        ``mask_type="ratio"``: L1 to ``clip(|S_i|/|S_mix|, 0, max_ratio)``
        (:func:`avcourse.losses.ratio_mask_l1`); ``"binary"``: BCE to
        ``|S_i| > threshold·|S_mix|`` (:func:`avcourse.losses.binary_mask_bce`);
        each weighted by ``clip(log1p(|S_mix|), 1e-3, 10)`` if ``weighted``.

        Args:
            predicted_mask: (..., bins, frames) or (..., bins, frames, 1).
            source_magnitude: ``|S_i|`` (..., bins, frames).
            mixture_magnitude: ``|S_mix|``, broadcastable to ``source_magnitude``.
        """
        weight = audio.magnitude_weight(ops.convert_to_tensor(mixture_magnitude)) if self.weighted else None
        if self.mask_type == "ratio":
            loss = ratio_mask_l1_elements(predicted_mask, source_magnitude, mixture_magnitude, weight, self.max_ratio)
        else:
            loss = binary_mask_bce_elements(predicted_mask, source_magnitude, mixture_magnitude, weight, self.threshold)
        return ops.mean(loss)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self._compile_loss is not None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if y is None:
            raise ValueError("UNetSeparator needs `y`, the source magnitude (batch, bins, frames), to compute its loss.")
        if len(_static(ops.convert_to_tensor(y))) == 4:
            y = ops.squeeze(y, -1)  # (B, bins, frames, 1) → (B, bins, frames)
        loss = self.mask_loss(y_pred, y, _mixture_magnitude(x))
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), loss.dtype)
        return per_replica(loss, self)

    def get_config(self):
        return {
            **super().get_config(),
            "depth": self.depth,
            "base_channels": self.base_channels,
            "max_channels": self.max_channels,
            "visual_dim": self.visual_dim,
            "visual_units": self.visual_units,
            "mask_type": self.mask_type,
            "max_ratio": self.max_ratio,
            "threshold": self.threshold,
            "weighted": self.weighted,
            "output_channels": self.output_channels,
        }


def _mixture_magnitude(x):
    """``|S_mix|`` (B, bins, frames): the dict's ``mixture_magnitude``, else ``expm1`` of the log1p input."""
    if isinstance(x, dict) and "mixture_magnitude" in x:
        return x["mixture_magnitude"]
    if isinstance(x, dict) and "mixture" in x:
        return ops.expm1(ops.cast(x["mixture"], "float32"))[..., 0]
    raise ValueError("the separator's inputs must be a dict with a 'mixture' (and optionally 'mixture_magnitude') entry.")


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
class VisuallyGuidedSeparator(keras.Model):
    """Mix-and-separate training of a :class:`UNetSeparator` (Sound of Pixels, CAVL §3.3.2).

    A batch of :func:`avcourse.data.pipelines.mix_separate_dataset` holds, per
    example, one mixture of ``num_mix`` sources and one picture per source.
    The model runs the separator once per source on the same mixture, each
    time with that source's visual vector, and ``compute_loss`` averages the
    separator's :meth:`UNetSeparator.mask_loss` over the sources (the mask
    type, clip, threshold and weighting are the separator's). The
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

    def __init__(self, separator, conditioning=None, visual_encoder=None, num_classes=None, **kwargs):
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
            shape = _static(images)
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
        shape = _static(inputs[key])
        if len(shape) < 2 or shape[1] is None:
            raise ValueError(f"{key!r} must have shape (batch, num_mix, ...) with a static num_mix; received {shape}.")
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
        bins, frames = _static(masks)[1:3]
        return ops.reshape(masks, (-1, num_mix, bins, frames))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(x, dict) or "source_magnitudes" not in x:
            raise ValueError(
                "VisuallyGuidedSeparator needs the batch's 'source_magnitudes' (batch, num_mix, bins, frames) "
                "to compute its loss (as mix_separate_dataset yields)."
            )
        mixture_magnitude = _mixture_magnitude(x)[:, None]
        loss = self.separator.mask_loss(y_pred, x["source_magnitudes"], mixture_magnitude)
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), loss.dtype)
        return per_replica(loss, self)

    def get_config(self):
        return {
            **super().get_config(),
            "separator": keras.saving.serialize_keras_object(self.separator),
            "conditioning": self.conditioning,
            "visual_encoder": None
            if self.visual_encoder is None
            else keras.saving.serialize_keras_object(self.visual_encoder),
            "num_classes": self.num_classes,
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
    config = audio._config(config)
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
