"""Convolutional trunks of the audio and visual streams (CAVL supp. 6.2).

* Audio: the VGGish conv stack without its fully connected layers and without
  its last max-pool: blocks of 3x3 convolutions with 64, 128, 256x2, 512x2
  filters and 2x2 max-pools after the first three blocks, so a 512 x 432 x 1
  spectrogram becomes a 64 x 54 x 512 map.
* Visual: the VGG16 conv stack without its last max-pool: a 256 x 256 x 3
  picture becomes a 16 x 16 x 512 map.
* ``"small_audio"``/``"small_visual"`` configs (narrow, shallow) train on a
  CPU in seconds. ``"patch_visual"`` (8 x 8 patches + 1 x 1 convolutions, a
  receptive field of one patch; 64 px pictures, 96 px for the CAVL model of
  ``avcourse reproduce separation``) and ``"patch_mix_visual"`` (8 x 8 patches +
  one 3 x 3 convolution, 96 px pictures) are the visual trunks under which
  CAVL's alignment localizes objects; 3 x 3 stacks like ``"small_visual"``
  let every background cell see the object and do not (docs/results.md).
  ``"object_audio"`` and ``"object_visual"`` are the trunks of
  ``avcourse reproduce cavl`` (128 px pictures, 16 x 16 maps; audio cells
  that see 26 warped bins, enough of a harmonic series to tell timbre).

Pretrained VGGish/VGG16 weights cannot be downloaded at run time: trunks start
from random weights, and ``weights=path`` loads a ``.weights.h5`` file saved
from the same trunk (``trunk.save_weights(path)``).

Taught in: tutorials/02_audio_visual_alignment.ipynb
"""

import keras

__all__ = ["TRUNK_CONFIGS", "audio_trunk", "conv_trunk", "visual_trunk"]

# blocks: conv filters per block; pools: how many blocks end in a 2x2 max-pool;
# patch: optional (filters, size) first layer, a size x size convolution with
# stride size (non-overlapping patches); kernel: conv kernel of the blocks.
# Like the paper's VGG trunks, none has normalisation: with batch norm the
# small trunks matched in-batch pairs on training scenes but stayed at chance
# on held-out ones (docs/results.md).
TRUNK_CONFIGS = {
    "vggish": {"blocks": [[64], [128], [256, 256], [512, 512]], "pools": 3, "input_shape": (512, 432, 1)},
    "vgg16": {
        "blocks": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
        "pools": 4,
        "input_shape": (256, 256, 3),
    },
    "small_audio": {"blocks": [[16], [32], [64]], "pools": 2, "input_shape": (64, 44, 1)},
    "small_visual": {"blocks": [[16], [32], [64], [64]], "pools": 3, "input_shape": (64, 64, 3)},
    # 8 x 8 pixel patches with 1 x 1 convolutions on top: every map cell sees only its
    # own patch, so background cells cannot encode the object (docs/results.md).
    "patch_visual": {"patch": (32, 8), "blocks": [[64, 64]], "kernel": 1, "pools": 0, "input_shape": (64, 64, 3)},
    # The same 8 x 8 patches with one 3 x 3 convolution on top: each cell also sees its
    # eight neighbours (24 px), enough to tell object edges from background on 96 px
    # pictures without letting the whole background see the object (docs/results.md).
    "patch_mix_visual": {"patch": (32, 8), "blocks": [[64]], "kernel": 3, "pools": 0, "input_shape": (96, 96, 3)},
    # small_audio plus one more 3 x 3 convolution: the same 16-row map at 64 warped bins, but
    # each cell sees 26 bins instead of 18, enough of a harmonic series to tell instruments
    # apart (validation solo clips: 0.98-1.00 against small_audio's 0.93-0.96, docs/results.md).
    "object_audio": {"blocks": [[16], [32], [64], [64]], "pools": 2, "input_shape": (64, 44, 1)},
    # 4 x 4 patches, a 3 x 3 convolution, a 2 x 2 max-pool and another 3 x 3 convolution: a
    # 16 x 16 map at 128 px whose cells see 32 px (objects are 36-51 px in the default world).
    "object_visual": {"patch": (32, 4), "blocks": [[64], [64]], "kernel": 3, "pools": 1, "input_shape": (128, 128, 3)},
}


def conv_trunk(config, input_shape=None, weights=None, name=None):
    """A VGG-style conv trunk as a functional ``keras.Model``.

    Args:
        config: a key of ``TRUNK_CONFIGS`` (``"vggish"``, ``"vgg16"``,
            ``"small_audio"``, ``"object_audio"``, ``"small_visual"``, ``"patch_visual"``,
            ``"patch_mix_visual"``, ``"object_visual"``).
        input_shape: (height, width, channels); defaults to the config's.
        weights: optional path of a ``.weights.h5`` file for this trunk.
        name: model name (default: the config's).

    Returns:
        a ``keras.Model`` mapping (B, H, W, C) to the last conv block's
        (B, h, w, filters) feature map (ReLU activations).
    """
    if config not in TRUNK_CONFIGS:
        raise ValueError(f"`config` must be one of {sorted(TRUNK_CONFIGS)}; received {config!r}.")
    spec = TRUNK_CONFIGS[config]
    input_shape = tuple(input_shape or spec["input_shape"])
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (height, width, channels); received {input_shape}.")
    patch = spec.get("patch")
    reduction = 2 ** spec["pools"] * (patch[1] if patch else 1)
    if input_shape[0] < reduction or input_shape[1] < reduction:
        raise ValueError(
            f"`input_shape` must be at least {reduction} x {reduction} for the {config!r} trunk; received {input_shape}."
        )
    inputs = keras.Input(input_shape)
    x = inputs
    if patch:
        filters, size = patch
        x = keras.layers.Conv2D(filters, size, strides=size, activation="relu", name="patch_embedding")(x)
    for block, filters in enumerate(spec["blocks"], start=1):
        for index, width in enumerate(filters, start=1):
            x = keras.layers.Conv2D(
                width, spec.get("kernel", 3), padding="same", activation="relu", name=f"block{block}_conv{index}"
            )(x)
        if block <= spec["pools"]:
            x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    model = keras.Model(inputs, x, name=name or config)
    if weights is not None:
        model.load_weights(weights)
    return model


def audio_trunk(config="vggish", input_shape=None, weights=None):
    """The audio stream's trunk: ``"vggish"`` (paper), ``"small_audio"`` or ``"object_audio"``."""
    return conv_trunk(config, input_shape, weights, name="audio_trunk")


def visual_trunk(config="vgg16", input_shape=None, weights=None):
    """The visual stream's trunk: ``"vgg16"`` (paper), ``"small_visual"``, ``"patch_visual"`` or ``"patch_mix_visual"``."""
    return conv_trunk(config, input_shape, weights, name="visual_trunk")
