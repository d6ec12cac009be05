"""Cyclic Co-Learning of sounding object grounding and separation (CCoL; Tian, Hu and Xu, CVPR 2021).

Two networks learn from each other on the four-clip samples of
:func:`avcourse.data.pipelines.ccol_dataset` (video 1 shows A and B with A's
sound, video 2 shows C and D with C's sound, the mixture is A + C):

* **grounding** (§2.2): an audio net (VGGish-like, 4 conv blocks, global max
  pool → 512) and an object net (ResNet-18 trunk, global max pool → 512)
  embed a sound and an object crop; :class:`GroundingNet` (concat 1024 → 512
  → 128 → 2, softmax) says whether the object makes the sound (class 0 =
  sounding).
* **separation** (§2.3): :class:`ObjectConditionedSeparator`, a U-Net maps the
  ``log1p`` mixture spectrogram to ``C`` audio channels ``A(f, t)``; an
  object net maps each object to ``C`` values ``v`` (sigmoid); the object's
  mask is ``M = sigmoid(Σ_c α_c v_c A_c(f, t) + β)``, a linearly transformed
  dot product (Sound of Pixels' "linear" synthesizer).

:class:`CCoLModel` holds both and trains the stage named in its config with
``model.fit(ccol_dataset(...))``:

| stage | loss | authors' code |
|---|---|---|
| grounding | ``l1`` | warm-up of the grounding |
| separate | ``l2*`` (gates from the frozen grounding; baseline) | — |
| colearn | ``l2* + 0.25 (l1 + l3)`` | ``code/main_col.py`` |
| cyclic | ``l2* + 0.25 l3* + 0.5 l1*`` | ``code/main_ccol.py`` |

(equations in :mod:`avcourse.losses.grounding`). ``separate`` is the
"grounding only" baseline of the reproduction: the separator trained with the
gates of a grounding network that separation never feeds back into.

Taught in: tutorials/07_cyclic_co_learning.ipynb
"""

import copy

import keras
from keras import ops

from avcourse import audio
from avcourse._api import register
from avcourse._validation import check_bool, check_choice, check_nonnegative_int, check_number, check_positive_int
from avcourse.losses import grounding as grounding_losses
from avcourse.models.backbones import conv_trunk
from avcourse.models.base import ModelLoss, check_input_shape
from avcourse.models.resnet import resnet18
from avcourse.models.unet import UNetSeparator

__all__ = [
    "CCOL_CONFIGS",
    "CCOL_STAGES",
    "STAGE_LOSS_WEIGHTS",
    "CCoLModel",
    "GroundingNet",
    "ObjectConditionedSeparator",
    "ccol_audio_net",
    "ccol_object_net",
]

# Audio net: a conv trunk of avcourse.models.backbones (VGGish: 64, 128, 256x2, 512x2) + global max pool.
AUDIO_NETS = {"vggish": "vggish", "small": "small_audio"}
OBJECT_NETS = {"resnet18": "resnet18", "small": "small_resnet"}

CCOL_STAGES = ("grounding", "separate", "colearn", "cyclic")

# Loss weights per stage (authors' code: main_col.py `loss_sep + 0.25 * loss_grd`;
# main_ccol.py `loss_sep + 0.25 * (loss_grd_pos + loss_grd_neg) + 0.5 * loss_grd`).
STAGE_LOSS_WEIGHTS = {
    "grounding": {"l1": 1.0},
    "separate": {"l2": 1.0},
    "colearn": {"l2": 1.0, "l1": 0.25, "l3": 0.25},
    "cyclic": {"l2": 1.0, "l3_cyclic": 0.25, "l1_cyclic": 0.5},
}

CCOL_CONFIGS = {
    # Paper: 256 x 256 log-frequency spectrograms, 224 x 224 objects, unet7 with 32 output channels.
    "paper": {
        "audio_net": "vggish",
        "object_net": "resnet18",
        "audio_shape": (256, 256, 1),
        "object_shape": (224, 224, 3),
        "grounding_units": (512, 128),
        "separator_depth": 7,
        "separator_base_channels": 64,
        "separator_channels": 32,
    },
    # CPU: 64-row spectrograms of 1 s clips, 48 px crops.
    "small": {
        "audio_net": "small",
        "object_net": "small",
        "audio_shape": (64, 44, 1),
        "object_shape": (48, 48, 3),
        "grounding_units": (64, 32),
        "separator_depth": 4,
        "separator_base_channels": 16,
        "separator_channels": 16,
    },
}


def ccol_audio_net(config="vggish", input_shape=None, weights=None, name="audio_net"):
    """CCoL's audio net: a VGGish-like trunk (4 conv blocks) + global max pool.

    ``"vggish"``: 64, 128, 256x2, 512x2 filters → 512 values (the authors'
    ``VGGish`` without the fully connected layers; the last 2x2 max-pool is
    left out, which does not change a global max); ``"small"``: 16, 32, 64
    filters → 64 values.

    Args:
        config: ``"vggish"`` or ``"small"``.
        input_shape: (bins, frames, 1); default the trunk's.
        weights: optional ``.weights.h5`` path of this net.
        name: model name.

    Returns:
        a functional ``keras.Model`` (B, bins, frames, 1) → (B, D).

    Examples:
    >>> net = ccol_audio_net("small", input_shape=(64, 44, 1))
    >>> tuple(net.output.shape)
    (None, 64)
    """
    check_choice(config, "config", sorted(AUDIO_NETS))
    trunk = conv_trunk(AUDIO_NETS[config], input_shape, name=f"{name}_trunk")
    outputs = keras.layers.GlobalMaxPooling2D(name=f"{name}_pool")(trunk.output)
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
        self.units = _units(units, "units")
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


def _units(units, name):
    """A non-empty sequence of positive ints as a tuple."""
    if isinstance(units, (str, bytes)) or not hasattr(units, "__len__") or len(units) == 0:
        raise ValueError(f"`{name}` must be a non-empty sequence of positive integers; received {units!r}.")
    return tuple(check_positive_int(u, f"{name}[{i}]") for i, u in enumerate(units))


@register
class CCoLModel(ModelLoss, keras.Model):
    """Cyclic co-learning of grounding and separation, one stage at a time.

    Args:
        stage: ``"grounding"``, ``"separate"``, ``"colearn"`` or ``"cyclic"``
            (the loss of ``fit``; see the module docstring).
        audio_net: ``"vggish"`` or ``"small"``.
        object_net: ``"resnet18"`` or ``"small"``.
        audio_shape: (bins, frames, 1) of the spectrograms.
        object_shape: (H, W, 3) of the object crops.
        grounding_units: hidden widths of :class:`GroundingNet`.
        separator_depth: U-Net depth of the separator.
        separator_base_channels: U-Net's first channels.
        separator_channels: ``C``, the audio map's channels and the object vector's size.
        epsilon: ``ε`` of the cyclic negatives (0.1).
        weighted: weight the separation L1 and ``d_n`` by ``clip(log1p(|S_mix|), 1e-3, 10)`` (the authors' setting).
        loss_weights: optional dict overriding :data:`STAGE_LOSS_WEIGHTS` of the stage.
        seed: seed of the random negative objects.
        audio_weights: optional ``.weights.h5`` path for the grounding audio net.
        object_weights: optional ``.weights.h5`` path for the grounding object net.
        **kwargs: ``keras.Model`` arguments.

    Call arguments:
        inputs: a batch of :func:`~avcourse.data.pipelines.ccol_dataset`:
            ``objects`` (B, 4, H, W, 3) in the order A, B, C, D; ``audio``
            (B, 2, F, T, 1) the videos' solo sounds; ``mixture`` (B, F, T, 1);
            other keys are ignored by ``call`` (the loss uses
            ``mixture_magnitude`` and ``source_magnitudes``).
        training: batch norm mode.

    Returns:
        dict: ``pair_logits`` (B, 2, 2, 2, 2) = the grounding logits of video
        ``a``'s solo sound with object ``n`` of video ``v`` at ``[:, a, v, n]``;
        ``mixture_logits`` (B, 2, 2, 2) the mixture with object ``n`` of video
        ``v``; ``solo_scores`` (B, 2, 2, 2) each video's sound with its own
        objects (probabilities, class 0 = sounding); ``mixture_scores``
        (B, 2, 2, 2); ``masks`` (B, 2, 2, F, T) each object's mask.

    Examples:
    >>> model = CCoLModel(stage="grounding", **CCOL_CONFIGS["small"])
    >>> model.stage
    'grounding'
    """

    def __init__(
        self,
        stage="colearn",
        audio_net="vggish",
        object_net="resnet18",
        audio_shape=(256, 256, 1),
        object_shape=(224, 224, 3),
        grounding_units=(512, 128),
        separator_depth=7,
        separator_base_channels=64,
        separator_channels=32,
        epsilon=0.1,
        weighted=True,
        loss_weights=None,
        seed=0,
        audio_weights=None,
        object_weights=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.stage = check_choice(stage, "stage", CCOL_STAGES)
        self.audio_net_config = check_choice(audio_net, "audio_net", AUDIO_NETS)
        self.object_net_config = check_choice(object_net, "object_net", OBJECT_NETS)
        self.audio_shape = check_input_shape(audio_shape, "audio_shape", channels=1)
        self.object_shape = check_input_shape(object_shape, "object_shape", channels=3)
        self.grounding_units = _units(grounding_units, "grounding_units")
        self.separator_depth = check_positive_int(separator_depth, "separator_depth")
        self.separator_base_channels = check_positive_int(separator_base_channels, "separator_base_channels")
        self.separator_channels = check_positive_int(separator_channels, "separator_channels")
        self.epsilon = check_number(epsilon, "epsilon", minimum=0)
        self.weighted = check_bool(weighted, "weighted")
        if loss_weights is not None:
            known = {key for weights in STAGE_LOSS_WEIGHTS.values() for key in weights}
            if not isinstance(loss_weights, dict) or set(loss_weights) - known:
                raise ValueError(f"`loss_weights` must be a dict with keys in {sorted(known)}; received {loss_weights!r}.")
            loss_weights = {k: check_number(v, f"loss_weights[{k!r}]", minimum=0) for k, v in loss_weights.items()}
        self.loss_weights = loss_weights
        self.seed = None if seed is None else check_nonnegative_int(seed, "seed")
        self.audio_weights = audio_weights
        self.object_weights = object_weights

        self.audio_net = ccol_audio_net(self.audio_net_config, self.audio_shape, audio_weights, name="audio_net")
        self.object_net = ccol_object_net(self.object_net_config, self.object_shape, object_weights, name="object_net")
        self.grounding = GroundingNet(self.grounding_units, name="grounding")
        self.separator = ObjectConditionedSeparator(
            object_config=self.object_net_config,
            object_shape=self.object_shape,
            channels=self.separator_channels,
            depth=self.separator_depth,
            base_channels=self.separator_base_channels,
            name="separator",
        )
        self.seed_generator = keras.random.SeedGenerator(seed)
        if self.stage == "separate":  # the grounding-only baseline: grounding frozen (batch norm too)
            for net in (self.audio_net, self.object_net, self.grounding):
                net.trainable = False
        if self.stage == "grounding":  # l1 alone: no gradient reaches the separator, so it stays as it is
            self.separator.trainable = False

    @property
    def stage_loss_weights(self):
        """The weights of the loss terms in this model's stage."""
        return self.loss_weights if self.loss_weights is not None else dict(STAGE_LOSS_WEIGHTS[self.stage])

    def build(self, input_shape=None):
        self.grounding.build((None, self.audio_net.output.shape[-1]), (None, self.object_net.output.shape[-1]))
        self.separator.build()
        self.built = True

    def _check(self, inputs):
        expected = {
            "objects": (4,) + self.object_shape,
            "audio": (2,) + self.audio_shape,
            "mixture": self.audio_shape,
        }
        if not isinstance(inputs, dict) or any(key not in inputs for key in expected):
            got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise ValueError(f"`inputs` must be a dict with {sorted(expected)} entries (as ccol_dataset yields); received {got}.")
        for key, shape in expected.items():
            got = tuple(inputs[key].shape)[1:]
            if tuple(got) != shape:
                raise ValueError(f"'{key}' must have shape (batch,) + {shape}; received {tuple(inputs[key].shape)}.")

    def call(self, inputs, training=False):
        self._check(inputs)
        objects = ops.cast(inputs["objects"], self.compute_dtype)
        solo = ops.cast(inputs["audio"], self.compute_dtype)
        mixture = ops.cast(inputs["mixture"], self.compute_dtype)
        object_features = self.object_net(ops.reshape(objects, (-1,) + self.object_shape), training=training)
        object_features = ops.reshape(object_features, (-1, 1, 2, 2, object_features.shape[-1]))  # (B, 1, v, n, D)
        solo_features = self.audio_net(ops.reshape(solo, (-1,) + self.audio_shape), training=training)
        solo_features = ops.reshape(solo_features, (-1, 2, 1, 1, solo_features.shape[-1]))  # (B, a, 1, 1, D)
        mixture_features = self.audio_net(mixture, training=training)[:, None, None, :]  # (B, 1, 1, D)

        # Broadcast every sound against every object by adding zeros of the other's shape.
        pair_logits = self.grounding.logits(
            solo_features + ops.zeros_like(object_features[..., :1]),
            object_features + ops.zeros_like(solo_features[..., :1]),
        )  # (B, a, v, n, 2)
        mixture_logits = self.grounding.logits(
            mixture_features + ops.zeros_like(object_features[:, 0, ..., :1]), object_features[:, 0]
        )  # (B, v, n, 2)
        masks = self.separator(mixture, objects, training=training)  # (B, 4, F, T)
        masks = ops.reshape(masks, (-1, 2, 2) + self.audio_shape[:2])
        own = ops.stack([pair_logits[:, 0, 0], pair_logits[:, 1, 1]], axis=1)  # (B, v, n, 2)
        return {
            "pair_logits": pair_logits,
            "mixture_logits": mixture_logits,
            "solo_scores": ops.softmax(own, axis=-1),
            "mixture_scores": ops.softmax(mixture_logits, axis=-1),
            "masks": masks,
        }

    def _negative_logits(self, pair_logits):
        """(B, v, 2): the other video's sound with a random object of video v (a true negative)."""
        batch = ops.shape(pair_logits)[0]
        index = keras.random.randint((batch, 2), 0, 2, seed=self.seed_generator)
        one_hot = ops.one_hot(index, 2, dtype=pair_logits.dtype)  # (B, v, n)
        other = ops.stack([pair_logits[:, 1, 0], pair_logits[:, 0, 1]], axis=1)  # audio of 1-v with objects of v
        return ops.sum(other * one_hot[..., None], axis=2)

    def loss_components(self, x, y_pred, *, per_example=False):
        """Every CCoL loss term on a batch (a dict of scalars): ``l1``, ``l2``, ``l3``, ``l1_cyclic``, ``l3_cyclic``.

        Args:
            x: the batch (needs ``mixture_magnitude`` and ``source_magnitudes``).
            y_pred: the model's outputs on ``x``.
            per_example: give each term's (B,) per-sample values (their mean
                is the term) instead of the scalar.
        """
        if not isinstance(x, dict) or "mixture_magnitude" not in x or "source_magnitudes" not in x:
            raise ValueError(
                "CCoLModel needs the batch's 'mixture_magnitude' (batch, bins, frames) and 'source_magnitudes' "
                "(batch, 2, bins, frames) to compute its loss (as ccol_dataset yields)."
            )
        pair_logits, mixture_logits, masks = y_pred["pair_logits"], y_pred["mixture_logits"], y_pred["masks"]
        mixture_magnitude = ops.cast(x["mixture_magnitude"], masks.dtype)
        sources = ops.cast(x["source_magnitudes"], masks.dtype)
        weight = audio.magnitude_weight(mixture_magnitude) if self.weighted else None
        negatives = self._negative_logits(pair_logits)
        own = [pair_logits[:, 0, 0], pair_logits[:, 1, 1]]
        gates = grounding_losses.sounding_gates(mixture_logits, from_logits=True)
        magnitudes = dict(source_magnitudes=sources, mixture_magnitude=mixture_magnitude, weight=weight)
        distances = grounding_losses.mask_distances(masks=masks, **magnitudes)
        options = dict(from_logits=True, per_example=per_example)
        return {
            "l1": 0.5 * sum(grounding_losses.grounding_mil_loss(own[v], negatives[:, v], **options) for v in range(2)),
            "l2": grounding_losses.gated_separation_loss(masks=masks, gates=gates, per_example=per_example, **magnitudes),
            "l3": grounding_losses.mixture_grounding_loss(mixture_logits, **options),
            "l1_cyclic": 0.5
            * sum(grounding_losses.cyclic_grounding_loss(own[v], negatives[:, v], distances[:, v], **options) for v in range(2)),
            "l3_cyclic": grounding_losses.cyclic_mixture_grounding_loss(mixture_logits, distances, self.epsilon, **options),
        }

    def example_losses(self, x, y, y_pred):
        """The stage's weighted sum of the loss terms, per sample (B,)."""
        components = self.loss_components(x, y_pred, per_example=True)
        return sum(weight * components[name] for name, weight in self.stage_loss_weights.items())

    def with_stage(self, stage):
        """A copy of this model, weights included, that trains ``stage``."""
        check_choice(stage, "stage", CCOL_STAGES)
        config = {**self.get_config(), "stage": stage}
        model = type(self).from_config(config)
        if not self.built:
            self.build()
        model.build()
        model.set_weights(self.get_weights())
        return model

    def for_stage(self, stage):
        """The model for a curriculum :class:`~avcourse.training.curriculum.Stage` (uses ``stage.variant``)."""
        return self.with_stage(stage.variant)

    def get_config(self):
        return {
            **super().get_config(),
            "stage": self.stage,
            "audio_net": self.audio_net_config,
            "object_net": self.object_net_config,
            "audio_shape": list(self.audio_shape),
            "object_shape": list(self.object_shape),
            "grounding_units": list(self.grounding_units),
            "separator_depth": self.separator_depth,
            "separator_base_channels": self.separator_base_channels,
            "separator_channels": self.separator_channels,
            "epsilon": self.epsilon,
            "weighted": self.weighted,
            "loss_weights": copy.deepcopy(self.loss_weights),
            "seed": self.seed,
            "audio_weights": self.audio_weights,
            "object_weights": self.object_weights,
        }
