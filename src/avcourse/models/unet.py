"""The U-Net of visually guided separation (CAVL supp. 6.4; Sound of Pixels).

:class:`UNetSeparator` maps the ``log1p`` log-frequency spectrogram of a
mixture, and one visual vector tiled at its bottleneck, to a mask over the
mixture's time-frequency bins. :class:`~avcourse.models.separator.VisuallyGuidedSeparator`
trains it by mix-and-separate; CCoL's
:class:`~avcourse.models.ccol_nets.ObjectConditionedSeparator` uses it without
visual conditioning as its audio network. ``UNetSeparator`` and
``MASK_TYPES`` are importable from :mod:`avcourse.models.separator` as well.

Taught in: tutorials/06_separation.ipynb
"""

import keras
from keras import ops

from avcourse import audio
from avcourse._api import register
from avcourse._validation import check_bool, check_choice, check_nonnegative_int, check_number, check_positive_int
from avcourse.losses.separation import binary_mask_bce_elements, ratio_mask_l1_elements
from avcourse.models.base import ModelLoss, static_shape

__all__ = ["MASK_TYPES", "UNetSeparator", "mixture_magnitude_of"]

MASK_TYPES = ("ratio", "binary")


@register
class UNetSeparator(ModelLoss, keras.Model):
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
    given to ``compile``, the loss is :meth:`mask_loss` (weighted by
    ``sample_weight`` and reduced by the rule of
    :class:`~avcourse.models.base.ModelLoss`).

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
            (:class:`avcourse.models.ccol_nets.ObjectConditionedSeparator`).
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
    >>> import numpy as np
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
            shape = static_shape(inputs["mixture"])
            if len(shape) != 4 or shape[-1] != 1 or shape[1] is None or shape[2] is None:
                raise ValueError(f"'mixture' must have static shape (batch, bins, frames, 1); received {shape}.")
            return inputs["mixture"], None
        if not isinstance(inputs, dict) or "mixture" not in inputs or "visual" not in inputs:
            got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise ValueError(f"`inputs` must be a dict with 'mixture' and 'visual' entries; received {got}.")
        mixture, visual = inputs["mixture"], inputs["visual"]
        mixture_shape, visual_shape = static_shape(mixture), static_shape(visual)
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
        bins, frames = static_shape(mixture)[1:3]
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

    def mask_loss_elements(self, *, predicted_mask, source_magnitude, mixture_magnitude):
        """This separator's mask loss per element (not reduced), the shape of ``source_magnitude``.

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
        magnitudes = dict(source_magnitude=source_magnitude, mixture_magnitude=mixture_magnitude, weight=weight)
        if self.mask_type == "ratio":
            return ratio_mask_l1_elements(predicted_mask=predicted_mask, max_ratio=self.max_ratio, **magnitudes)
        return binary_mask_bce_elements(predicted_mask=predicted_mask, threshold=self.threshold, **magnitudes)

    def mask_loss(self, *, predicted_mask, source_magnitude, mixture_magnitude):
        """This separator's mask loss, the mean of :meth:`mask_loss_elements` over every element."""
        return ops.mean(
            self.mask_loss_elements(
                predicted_mask=predicted_mask, source_magnitude=source_magnitude, mixture_magnitude=mixture_magnitude
            )
        )

    def example_losses(self, x, y, y_pred):
        """The mask loss per element, (B, bins, frames); ``y`` is ``|S_i|`` (B, bins, frames[, 1])."""
        if y is None:
            raise ValueError("UNetSeparator needs `y`, the source magnitude (batch, bins, frames), to compute its loss.")
        if len(static_shape(ops.convert_to_tensor(y))) == 4:
            y = ops.squeeze(y, -1)  # (B, bins, frames, 1) → (B, bins, frames)
        return self.mask_loss_elements(predicted_mask=y_pred, source_magnitude=y, mixture_magnitude=mixture_magnitude_of(x))

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


def mixture_magnitude_of(inputs):
    """``|S_mix|`` (B, bins, frames) of a separator's input dict.

    The dict's ``"mixture_magnitude"``, else ``expm1`` of its ``log1p`` network
    input ``"mixture"`` (B, bins, frames, 1).
    """
    if isinstance(inputs, dict) and "mixture_magnitude" in inputs:
        return inputs["mixture_magnitude"]
    if isinstance(inputs, dict) and "mixture" in inputs:
        return ops.expm1(ops.cast(inputs["mixture"], "float32"))[..., 0]
    raise ValueError("the separator's inputs must be a dict with a 'mixture' (and optionally 'mixture_magnitude') entry.")
