"""ResNet-18 trunk for CCoL's object network (He et al., CVPR 2016).

* ``"resnet18"`` (paper): a 7x7 stride-2 convolution (64) → BN → ReLU → 3x3
  stride-2 max-pool, then four stages of two basic residual blocks with
  64-128-256-512 channels (stride 2 at the start of stages 2-4): a
  224 x 224 x 3 picture becomes a 7 x 7 x 512 map. Global pooling and the
  classifier are left off (CCoL max-pools the map itself).
* ``"small_resnet"``: a CPU config for the tutorials and the miniature
  reproduction: a 3x3 stride-1 stem (16), no max-pool, one basic block per
  stage with 16-32-64-64 channels: a 48 x 48 x 3 crop becomes 6 x 6 x 64.

A basic block is ``conv3x3(stride) → BN → ReLU → conv3x3 → BN``, added to the
input (through a 1x1 strided convolution + BN when the shape changes), then
ReLU. Batch norm uses ``momentum=0.9`` (PyTorch's 0.1) as elsewhere in the
package. Pretrained ImageNet weights cannot be downloaded here: the trunk
starts from random weights and ``weights=path`` loads a ``.weights.h5`` file
saved from the same trunk (``trunk.save_weights(path)``).

Taught in: tutorials/07_cyclic_co_learning.ipynb
"""

import keras

from avcourse._api import register
from avcourse._validation import check_choice, check_positive_int

__all__ = ["RESNET_CONFIGS", "ResidualBlock", "resnet18"]

# stem: (filters, kernel, stride, max-pool?); widths/blocks per stage; input_shape default.
RESNET_CONFIGS = {
    "resnet18": {
        "stem": (64, 7, 2, True),
        "widths": (64, 128, 256, 512),
        "blocks": (2, 2, 2, 2),
        "input_shape": (224, 224, 3),
    },
    "small_resnet": {
        "stem": (16, 3, 1, False),
        "widths": (16, 32, 64, 64),
        "blocks": (1, 1, 1, 1),
        "input_shape": (48, 48, 3),
    },
}


@register
class ResidualBlock(keras.layers.Layer):
    """The basic residual block of ResNet-18/34.

    Args:
        filters: output channels.
        strides: stride of the first convolution (and of the shortcut).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: (B, H, W, C) feature map.
        training: whether batch norm uses batch statistics.

    Returns:
        (B, H / strides, W / strides, filters), ``relu(F(x) + shortcut(x))``.

    Examples:
    >>> import numpy as np
    >>> block = ResidualBlock(8, strides=2)
    >>> tuple(block(np.zeros((1, 8, 8, 4), "float32")).shape)
    (1, 4, 4, 8)
    """

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        filters = check_positive_int(filters, "filters")
        if isinstance(strides, bool) or strides not in (1, 2):
            raise ValueError(f"`strides` must be 1 or 2; received {strides!r}.")
        strides = int(strides)
        self.filters = filters
        self.strides = strides
        self.conv1 = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name="conv1")
        self.bn1 = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn1")
        self.conv2 = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv2")
        self.bn2 = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn2")
        self.shortcut_conv = None
        self.shortcut_bn = None

    def build(self, input_shape):
        channels = input_shape[-1]
        self.conv1.build(input_shape)
        out_shape = (input_shape[0], None, None, self.filters)
        self.bn1.build(out_shape)
        self.conv2.build(out_shape)
        self.bn2.build(out_shape)
        if self.strides != 1 or channels != self.filters:
            self.shortcut_conv = keras.layers.Conv2D(
                self.filters, 1, strides=self.strides, use_bias=False, name="shortcut_conv"
            )
            self.shortcut_bn = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="shortcut_bn")
            self.shortcut_conv.build(input_shape)
            self.shortcut_bn.build(out_shape)
        self.built = True

    def call(self, inputs, training=None):
        x = keras.ops.relu(self.bn1(self.conv1(inputs), training=training))
        x = self.bn2(self.conv2(x), training=training)
        shortcut = inputs
        if self.shortcut_conv is not None:
            shortcut = self.shortcut_bn(self.shortcut_conv(inputs), training=training)
        return keras.ops.relu(x + shortcut)

    def compute_output_shape(self, input_shape):
        def down(size):
            return None if size is None else -(-size // self.strides)

        return (input_shape[0], down(input_shape[1]), down(input_shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


def resnet18(config="resnet18", input_shape=None, weights=None, name=None):
    """A ResNet-18 trunk (or its small CPU config) as a functional ``keras.Model``.

    Args:
        config: ``"resnet18"`` (paper, 224 x 224 x 3 → 7 x 7 x 512) or ``"small_resnet"``.
        input_shape: (height, width, 3); defaults to the config's.
        weights: optional path of a ``.weights.h5`` file saved from the same trunk.
        name: model name (default: the config's).

    Returns:
        a ``keras.Model`` mapping (B, H, W, 3) to the last stage's feature map (ReLU outputs).

    Examples:
    >>> trunk = resnet18("small_resnet")
    >>> tuple(trunk.output.shape)
    (None, 6, 6, 64)
    """
    check_choice(config, "config", sorted(RESNET_CONFIGS))
    spec = RESNET_CONFIGS[config]
    input_shape = spec["input_shape"] if input_shape is None else input_shape
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__") or len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (height, width, channels); received {input_shape!r}.")
    input_shape = tuple(check_positive_int(size, f"input_shape[{i}]") for i, size in enumerate(input_shape))
    filters, kernel, stride, pool = spec["stem"]
    reduction = stride * (2 if pool else 1) * 2 ** (len(spec["widths"]) - 1)
    if input_shape[0] < reduction or input_shape[1] < reduction:
        raise ValueError(
            f"`input_shape` must be at least {reduction} x {reduction} for the {config!r} trunk; received {input_shape}."
        )
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    if pool:
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, (width, count) in enumerate(zip(spec["widths"], spec["blocks"]), start=1):
        for index in range(count):
            strides = 2 if stage > 1 and index == 0 else 1
            x = ResidualBlock(width, strides=strides, name=f"stage{stage}_block{index + 1}")(x)
    model = keras.Model(inputs, x, name=name or config)
    if weights is not None:
        model.load_weights(weights)
    return model
