"""Convolutional trunks of the audio and visual streams (CAVL supp. 6.2).

* Audio: the VGGish conv stack without its fully connected layers and without
  its last max-pool: blocks of 3x3 convolutions with 64, 128, 256x2, 512x2
  filters and 2x2 max-pools after the first three blocks, so a 512 x 432 x 1
  spectrogram becomes a 64 x 54 x 512 map.
* Visual: the VGG16 conv stack without its last max-pool: a 256 x 256 x 3
  picture becomes a 16 x 16 x 512 map.
* ``"small_audio"``/``"small_visual"`` configs (narrow, shallow, with batch
  normalisation) train on a CPU in seconds; the tutorials use them.

Pretrained VGGish/VGG16 weights cannot be downloaded at run time: trunks start
from random weights, and ``weights=path`` loads a ``.weights.h5`` file saved
from the same trunk (``trunk.save_weights(path)``).

Taught in: tutorials/02_audio_visual_alignment.ipynb
"""

import keras

# name -> (conv filters per block, blocks followed by a 2x2 max-pool, default input shape, batch norm)
# The paper's VGG trunks have no normalisation; the small CPU trunks use batch
# normalisation because they train from scratch in a few hundred steps. (Group
# norm trained too, but its per-image statistics let background cells carry
# the object's identity; per-position layer norm did not train in that budget.)
TRUNK_CONFIGS = {
    "vggish": ([[64], [128], [256, 256], [512, 512]], 3, (512, 432, 1), False),
    "vgg16": ([[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]], 4, (256, 256, 3), False),
    "small_audio": ([[16], [32], [64]], 2, (64, 44, 1), True),
    "small_visual": ([[16], [32], [64], [64]], 3, (64, 64, 3), True),
}


def conv_trunk(config, input_shape=None, weights=None, name=None):
    """A VGG-style conv trunk as a functional ``keras.Model``.

    Args:
        config: a key of ``TRUNK_CONFIGS`` (``"vggish"``, ``"vgg16"``,
            ``"small_audio"``, ``"small_visual"``).
        input_shape: (height, width, channels); defaults to the config's.
        weights: optional path of a ``.weights.h5`` file for this trunk.
        name: model name (default: the config's).

    Returns:
        a ``keras.Model`` mapping (B, H, W, C) to the last conv block's
        (B, h, w, filters) feature map (ReLU activations).
    """
    if config not in TRUNK_CONFIGS:
        raise ValueError(f"`config` must be one of {sorted(TRUNK_CONFIGS)}; received {config!r}.")
    blocks, pooled_blocks, default_shape, batch_norm = TRUNK_CONFIGS[config]
    input_shape = tuple(input_shape or default_shape)
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (height, width, channels); received {input_shape}.")
    reduction = 2**pooled_blocks
    if input_shape[0] < reduction or input_shape[1] < reduction:
        raise ValueError(
            f"`input_shape` must be at least {reduction} x {reduction} for {pooled_blocks} max-pools; received {input_shape}."
        )
    inputs = keras.Input(input_shape)
    x = inputs
    for block, filters in enumerate(blocks, start=1):
        for index, width in enumerate(filters, start=1):
            conv_name = f"block{block}_conv{index}"
            if batch_norm:
                x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=conv_name)(x)
                x = keras.layers.BatchNormalization(momentum=0.9, name=f"{conv_name}_bn")(x)
                x = keras.layers.ReLU(name=f"{conv_name}_relu")(x)
            else:
                x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=conv_name)(x)
        if block <= pooled_blocks:
            x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    model = keras.Model(inputs, x, name=name or config)
    if weights is not None:
        model.load_weights(weights)
    return model


def audio_trunk(config="vggish", input_shape=None, weights=None):
    """The audio stream's trunk: ``"vggish"`` (paper) or ``"small_audio"``."""
    return conv_trunk(config, input_shape, weights, name="audio_trunk")


def visual_trunk(config="vgg16", input_shape=None, weights=None):
    """The visual stream's trunk: ``"vgg16"`` (paper) or ``"small_visual"``."""
    return conv_trunk(config, input_shape, weights, name="visual_trunk")
