"""CCoL's networks (Tian, Hu, Xu, CVPR 2021, §2): the audio and object nets, the grounding head, the object-conditioned separator.

:class:`~avcourse.models.ccol.CCoLModel` puts them together; they are
importable from :mod:`avcourse.models.ccol` as well.

Taught in: tutorials/07_cyclic_co_learning.ipynb
"""

import keras
from keras import ops

from avcourse._api import register
from avcourse._validation import check_choice, check_positive_int
from avcourse.models.backbones import conv_trunk
from avcourse.models.base import check_input_shape
from avcourse.models.resnet import resnet18
from avcourse.models.unet import UNetSeparator

__all__ = [
    "AUDIO_NETS",
    "AUDIO_POOLS",
    "OBJECT_NETS",
    "GroundingNet",
    "ObjectConditionedSeparator",
    "ccol_audio_net",
    "ccol_object_net",
    "check_units",
]

# Audio net: a conv trunk of avcourse.models.backbones (VGGish: 64, 128, 256x2, 512x2) + global max pool.
AUDIO_NETS = {"vggish": "vggish", "small": "small_audio", "object": "object_audio"}
OBJECT_NETS = {"resnet18": "resnet18", "small": "small_resnet"}
AUDIO_POOLS = ("max", "average")


def ccol_audio_net(config="vggish", input_shape=None, weights=None, name="audio_net", pooling="max"):
    """CCoL's audio net: a VGGish-like trunk (4 conv blocks) + global max pool.

    ``"vggish"``: 64, 128, 256x2, 512x2 filters → 512 values (the authors'
    ``VGGish`` without the fully connected layers; the last 2x2 max-pool is
    left out, which does not change a global max); ``"small"``: 16, 32, 64
    filters → 64 values; ``"object"``: the ``"object_audio"`` trunk of
    ``avcourse reproduce cavl`` (16, 32, 64, 64: cells that see 26 warped
    bins, enough to tell timbre) → 64 values.

    Args:
        config: ``"vggish"``, ``"small"`` or ``"object"``.
        input_shape: (bins, frames, 1); default the trunk's.
        weights: optional ``.weights.h5`` path of this net.
        name: model name.
        pooling: ``"max"`` (the authors') or ``"average"`` over the trunk's
            map (every cell then carries the instrument, as a trunk
            pretrained with average pooling learns,
            :func:`avcourse.training.pretrain.pretrain_trunk`).

    Returns:
        a functional ``keras.Model`` (B, bins, frames, 1) → (B, D).

    Examples:
    >>> net = ccol_audio_net("small", input_shape=(64, 44, 1))
    >>> tuple(net.output.shape)
    (None, 64)
    """
    check_choice(config, "config", sorted(AUDIO_NETS))
    check_choice(pooling, "pooling", AUDIO_POOLS)
    trunk = conv_trunk(AUDIO_NETS[config], input_shape, name=f"{name}_trunk")
    pool = keras.layers.GlobalMaxPooling2D if pooling == "max" else keras.layers.GlobalAveragePooling2D
    outputs = pool(name=f"{name}_pool")(trunk.output)
    model = keras.Model(trunk.input, outputs, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def ccol_object_net(config="resnet18", input_shape=None, weights=None, name="object_net"):
    """CCoL's object net: a ResNet-18 trunk + global max pool (512 values; 64 for ``"small"``).

    Args:
        config: ``"resnet18"`` (224 x 224 x 3 → 7 x 7 x 512 → 512) or ``"small"``.
        input_shape: (height, width, 3); default the trunk's.
        weights: optional ``.weights.h5`` path of this net.
        name: model name.

    Returns:
        a functional ``keras.Model`` (B, H, W, 3) → (B, D).
    """
    check_choice(config, "config", sorted(OBJECT_NETS))
    trunk = resnet18(OBJECT_NETS[config], input_shape, name=f"{name}_trunk")
    outputs = keras.layers.GlobalMaxPooling2D(name=f"{name}_pool")(trunk.output)
    model = keras.Model(trunk.input, outputs, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


@register
class GroundingNet(keras.layers.Layer):
    """Does this object make this sound? (CCoL §2.2).

    ``concat(audio, object)`` (1024) → Dense 512 → ReLU → Dense 128 → ReLU →
    Dense 2, the logits scaled by 2 as in the authors' ``grounding_net.py``;
    the output is their softmax, class 0 = sounding.

    Args:
        units: hidden widths ((512, 128) in the paper).
        **kwargs: base layer arguments.

    Call arguments:
        audio_features: (..., Da) audio net output.
        object_features: (..., Do) object net output.

    Returns:
        (..., 2) probabilities (sounding, silent); :meth:`logits` gives the logits.

    Examples:
    >>> import numpy as np
    >>> net = GroundingNet(units=(8, 4))
    >>> tuple(net(np.zeros((3, 5), "float32"), np.zeros((3, 6), "float32")).shape)
    (3, 2)
    """

    def __init__(self, units=(512, 128), **kwargs):
        super().__init__(**kwargs)
        self.units = check_units(units, "units")
        self.hidden = [keras.layers.Dense(u, activation="relu", name=f"fc{i + 1}") for i, u in enumerate(self.units)]
        self.classifier = keras.layers.Dense(2, name=f"fc{len(self.units) + 1}")

    def build(self, audio_features_shape, object_features_shape=None):
        if object_features_shape is None:  # build((audio_shape, object_shape))
            audio_features_shape, object_features_shape = audio_features_shape
        width = audio_features_shape[-1] + object_features_shape[-1]
        for layer in self.hidden:
            layer.build((None, width))
            width = layer.units
        self.classifier.build((None, width))
        self.built = True

    def logits(self, audio_features, object_features):
        """The (..., 2) logits (``2 ·`` the last layer's output)."""
        x = ops.concatenate([audio_features, object_features], axis=-1)
        for layer in self.hidden:
            x = layer(x)
        return 2.0 * self.classifier(x)

    def call(self, audio_features, object_features):
        return ops.softmax(self.logits(audio_features, object_features), axis=-1)

    def compute_output_shape(self, audio_features_shape, object_features_shape=None):
        return tuple(audio_features_shape[:-1]) + (2,)

    def get_config(self):
        return {**super().get_config(), "units": list(self.units)}


@register
class ObjectConditionedSeparator(keras.layers.Layer):
    """CCoL's separator (§2.3): a U-Net audio map with ``C`` channels, an object vector in ``C``.

    Formula:
    ```
    A = UNet(log1p |S_mix|)                       (B, F, T, C), no activation
    v = sigmoid(Dense_C(objectnet(o)))            (B, K, C)
    M_k(f, t) = sigmoid(Σ_c α_c v_{k,c} A_c(f, t) + β)
    ```

    The U-Net is :class:`~avcourse.models.separator.UNetSeparator` without
    visual conditioning (``visual_dim=0``) and with ``output_channels=C``.

    Args:
        object_config: object net config (``"resnet18"`` or ``"small"``).
        object_shape: (H, W, 3) of the object crops.
        channels: ``C`` (32 in the authors' code).
        depth: U-Net depth (7 in the authors' code).
        base_channels: U-Net's first encoder channels (64 in the authors' code).
        **kwargs: base layer arguments.

    Call arguments:
        mixture: (B, F, T, 1) ``log1p`` of the warped mixture magnitude.
        objects: (B, K, H, W, 3) object crops.
        training: batch norm mode.

    Returns:
        (B, K, F, T) masks in [0, 1], one per object.
    """

    def __init__(
        self, object_config="resnet18", object_shape=(224, 224, 3), channels=32, depth=7, base_channels=64, **kwargs
    ):
        super().__init__(**kwargs)
        self.object_config = check_choice(object_config, "object_config", sorted(OBJECT_NETS))
        self.object_shape = check_input_shape(object_shape, "object_shape", channels=3)
        self.channels = check_positive_int(channels, "channels")
        self.depth = check_positive_int(depth, "depth")
        self.base_channels = check_positive_int(base_channels, "base_channels")
        self.unet = UNetSeparator(
            depth=depth, base_channels=base_channels, visual_dim=0, output_channels=channels, name="audio_unet"
        )
        self.object_net = ccol_object_net(object_config, self.object_shape, name="separation_object_net")
        self.object_projection = keras.layers.Dense(channels, activation="sigmoid", name="object_projection")

    def build(self, mixture_shape=None, objects_shape=None):
        self.unet.build()
        self.object_projection.build((None, self.object_net.output.shape[-1]))
        self.scale = self.add_weight(shape=(self.channels,), initializer="ones", name="scale")
        self.bias = self.add_weight(shape=(), initializer="zeros", name="bias")
        self.built = True

    def object_vectors(self, objects, training=False):
        """(B, K, C) object vectors ``v``."""
        shape = tuple(objects.shape)
        flat = ops.reshape(objects, (-1,) + shape[2:])
        vectors = self.object_projection(self.object_net(flat, training=training))
        return ops.reshape(vectors, (-1, shape[1], self.channels))

    def call(self, mixture, objects, training=False):
        features = self.unet({"mixture": mixture}, training=training)  # (B, F, T, C)
        vectors = self.object_vectors(objects, training=training) * self.scale  # (B, K, C)
        # The U-Net's audio map is float32; under a mixed policy v, α and β come in the compute dtype.
        vectors, bias = ops.cast(vectors, features.dtype), ops.cast(self.bias, features.dtype)
        logits = ops.einsum("bftc,bkc->bkft", features, vectors) + bias
        return ops.sigmoid(logits)

    def compute_output_shape(self, mixture_shape, objects_shape):
        return (mixture_shape[0], objects_shape[1], mixture_shape[1], mixture_shape[2])

    def get_config(self):
        return {
            **super().get_config(),
            "object_config": self.object_config,
            "object_shape": list(self.object_shape),
            "channels": self.channels,
            "depth": self.depth,
            "base_channels": self.base_channels,
        }


def check_units(units, name):
    """A non-empty sequence of positive ints as a tuple."""
    if isinstance(units, (str, bytes)) or not hasattr(units, "__len__") or len(units) == 0:
        raise ValueError(f"`{name}` must be a non-empty sequence of positive integers; received {units!r}.")
    return tuple(check_positive_int(u, f"{name}[{i}]") for i, u in enumerate(units))
