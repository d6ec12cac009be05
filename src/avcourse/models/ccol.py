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
| oracle | ``l2*`` gated by the true sounding labels | the paper's Oracle (Table 2) |

(equations in :mod:`avcourse.losses.grounding`). ``separate`` is the
"grounding only" baseline of the reproduction: the separator trained with the
gates of a grounding network that separation never feeds back into.
``oracle`` trains the separator with the true sounding labels as its gates
(the batch's ``sounding``), the paper's Oracle.

**Pretrained, frozen nets and per-network rates.** The authors' grounding
frame net is an ImageNet-pretrained ResNet-18 that no optimizer ever sees
(``create_optimizer`` of ``main_grd.py``, ``main_col.py``, ``main_ccol.py``
optimises only ``net_frame.fc``): ``freeze_object_net=True`` keeps the
object net as it was loaded (its batch norm in inference mode), and
``freeze_audio_net`` does the same for the audio net. Each network can train
at its own multiple of the optimizer's learning rate
(``learning_rate_multipliers``; by default the authors' ``train_col.sh``:
the grounding nets at 0.1 x the separation nets' rate in ``colearn``):
:meth:`CCoLModel.compile` hands the multipliers to the optimizer
(:func:`avcourse.training.ccol.network_rate_optimizer`), so that a plain
``model.compile(optimizer=keras.optimizers.Adam(lr)); model.fit(...)`` runs
the authors' rates.

Taught in: tutorials/07_cyclic_co_learning.ipynb
"""

import keras
from keras import ops

from avcourse import audio
from avcourse._api import register
from avcourse._validation import check_bool, check_choice, check_nonnegative_int, check_number, check_positive_int
from avcourse.losses import grounding as grounding_losses
from avcourse.models.base import ModelLoss, check_input_shape
from avcourse.models.ccol_nets import (
    AUDIO_NETS,
    AUDIO_POOLS,
    OBJECT_NETS,
    GroundingNet,
    ObjectConditionedSeparator,
    ccol_audio_net,
    ccol_object_net,
    check_units,
)

__all__ = [
    "CCOL_CONFIGS",
    "CCOL_STAGES",
    "STAGE_LOSS_WEIGHTS",
    "CCoLModel",
    "GroundingNet",
    "ObjectConditionedSeparator",
    "NETWORKS",
    "STAGE_LEARNING_RATE_MULTIPLIERS",
    "ccol_audio_net",
    "ccol_object_net",
]

CCOL_STAGES = ("grounding", "separate", "colearn", "cyclic", "oracle")
# The networks of a CCoLModel, each with its own learning rate (the authors' lr_sound_ground,
# lr_frame_ground, lr_grounding; lr_sound, lr_frame and lr_synthesizer are one rate here, "separator").
NETWORKS = ("audio_net", "object_net", "grounding", "separator")
"""The networks of a :class:`CCoLModel` that each get their own learning rate."""
# The authors' rates relative to the stage's rate (train_grd.sh: all 1e-4; train_col.sh: 1e-4 for the
# separation nets, 1e-5 for the grounding nets; train_ccol.sh: all the same). Unlisted networks: 1.
STAGE_LEARNING_RATE_MULTIPLIERS = {
    "colearn": {"audio_net": 0.1, "object_net": 0.1, "grounding": 0.1},
}
"""Per stage, each network's rate relative to the stage's (the authors' training scripts); unlisted: 1."""

# Loss weights per stage (authors' code: main_col.py `loss_sep + 0.25 * loss_grd`;
# main_ccol.py `loss_sep + 0.25 * (loss_grd_pos + loss_grd_neg) + 0.5 * loss_grd`).
STAGE_LOSS_WEIGHTS = {
    "grounding": {"l1": 1.0},
    "separate": {"l2": 1.0},
    "colearn": {"l2": 1.0, "l1": 0.25, "l3": 0.25},
    "cyclic": {"l2": 1.0, "l3_cyclic": 0.25, "l1_cyclic": 0.5},
    "oracle": {"l2_oracle": 1.0},
}
"""Per CCoL stage, the weight of each loss term (the authors' main_col.py and main_ccol.py)."""

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


def _plain_dict(value):
    """A dict attribute as a plain dict (Keras tracks a layer's dict attributes in a wrapper), or None."""
    return None if value is None else {str(key): float(item) for key, item in value.items()}


@register
class CCoLModel(ModelLoss, keras.Model):
    """Cyclic co-learning of grounding and separation, one stage at a time.

    Args:
        stage: ``"grounding"``, ``"separate"``, ``"colearn"``, ``"cyclic"``
            or ``"oracle"`` (the loss of ``fit``; see the module docstring).
        audio_net: ``"vggish"``, ``"small"`` or ``"object"``.
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
        audio_pool: the audio net's global pool, ``"max"`` (the authors') or ``"average"``.
        freeze_object_net: never train the grounding object net (the
            authors' frozen ImageNet frame net; load pretrained weights first).
        freeze_audio_net: never train the grounding audio net.
        learning_rate_multipliers: dict network (:data:`NETWORKS`) → its
            learning rate as a multiple of the optimizer's; ``None``: the
            stage's default (:data:`STAGE_LEARNING_RATE_MULTIPLIERS`, the
            authors'), kept stage by stage; a dict applies to every stage.
        **kwargs: ``keras.Model`` arguments.

    Call arguments:
        inputs: a batch of :func:`~avcourse.data.pipelines.ccol_dataset`:
            ``objects`` (B, 4, H, W, 3) in the order A, B, C, D; ``audio``
            (B, 2, F, T, 1) the videos' solo sounds; ``mixture`` (B, F, T, 1);
            other keys are ignored by ``call`` (the loss uses
            ``mixture_magnitude`` and ``source_magnitudes``).
        training: batch norm mode.

    Returns:
        a dict: ``pair_logits`` (B, 2, 2, 2, 2) = the grounding logits of video
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
        audio_pool="max",
        freeze_object_net=False,
        freeze_audio_net=False,
        learning_rate_multipliers=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.stage = check_choice(stage, "stage", CCOL_STAGES)
        self.audio_net_config = check_choice(audio_net, "audio_net", AUDIO_NETS)
        self.object_net_config = check_choice(object_net, "object_net", OBJECT_NETS)
        self.audio_shape = check_input_shape(audio_shape, "audio_shape", channels=1)
        self.object_shape = check_input_shape(object_shape, "object_shape", channels=3)
        self.grounding_units = check_units(grounding_units, "grounding_units")
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
        self.audio_pool = check_choice(audio_pool, "audio_pool", AUDIO_POOLS)
        self.freeze_object_net = check_bool(freeze_object_net, "freeze_object_net")
        self.freeze_audio_net = check_bool(freeze_audio_net, "freeze_audio_net")
        if learning_rate_multipliers is not None:
            if not isinstance(learning_rate_multipliers, dict) or set(learning_rate_multipliers) - set(NETWORKS):
                raise ValueError(
                    f"`learning_rate_multipliers` must be a dict with keys in {list(NETWORKS)}; "
                    f"received {learning_rate_multipliers!r}."
                )
            learning_rate_multipliers = {
                k: check_number(v, f"learning_rate_multipliers[{k!r}]", minimum=0) for k, v in learning_rate_multipliers.items()
            }
        self.learning_rate_multipliers = learning_rate_multipliers

        self.audio_net = ccol_audio_net(
            self.audio_net_config, self.audio_shape, audio_weights, name="audio_net", pooling=self.audio_pool
        )
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
        if self.stage in ("separate", "oracle"):  # the separator alone: grounding frozen (batch norm too)
            for net in (self.audio_net, self.object_net, self.grounding):
                net.trainable = False
        if self.stage == "grounding":  # l1 alone: no gradient reaches the separator, so it stays as it is
            self.separator.trainable = False
        if self.freeze_object_net:
            self.object_net.trainable = False
        if self.freeze_audio_net:
            self.audio_net.trainable = False

    @property
    def stage_learning_rate_multipliers(self):
        """Each network's learning rate as a multiple of the optimizer's, in this model's stage (dict over :data:`NETWORKS`)."""
        given = self.learning_rate_multipliers
        if given is None:
            given = STAGE_LEARNING_RATE_MULTIPLIERS.get(self.stage, {})
        return {name: float(given.get(name, 1.0)) for name in NETWORKS}

    def network_variables(self):
        """The trainable variables of each network (dict over :data:`NETWORKS`; frozen networks have none)."""
        if not self.built:
            self.build()
        nets = {"audio_net": self.audio_net, "object_net": self.object_net, "grounding": self.grounding,
                "separator": self.separator}
        return {name: list(nets[name].trainable_variables) for name in NETWORKS}

    def compile(self, optimizer="rmsprop", **kwargs):
        """``keras.Model.compile``, the optimizer running each network at its multiple of the learning rate.

        When a network's multiplier (:attr:`stage_learning_rate_multipliers`)
        differs from 1, ``optimizer`` (an instance or a name) is replaced by
        the same optimizer, same settings, whose step for that network's
        variables is scaled (:func:`avcourse.training.ccol.network_rate_optimizer`).
        """
        multipliers = self.stage_learning_rate_multipliers
        if any(value != 1.0 for value in multipliers.values()):
            from avcourse.training.ccol import network_rate_optimizer

            variables = self.network_variables()
            optimizer = network_rate_optimizer(optimizer, [(variables[name], multipliers[name]) for name in NETWORKS])
        super().compile(optimizer=optimizer, **kwargs)

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
        if training and self.stage == "grounding":
            # The warm-up's loss (l1) never reads the masks: skip the separator (zero masks) while training.
            masks = ops.zeros_like(mixture_logits[..., 0])[..., None, None] + ops.zeros(self.audio_shape[:2], mixture_logits.dtype)
        else:
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
        """Every CCoL loss term on a batch (a dict of scalars): ``l1``, ``l2``, ``l3``, ``l1_cyclic``, ``l3_cyclic``
        (and ``l2_oracle``, ``l2`` gated by the true labels, when the batch holds ``sounding``).

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
        terms = {}
        if "sounding" in x:  # the Oracle's separation loss: the true sounding labels as gates
            true_gates = ops.reshape(ops.cast(x["sounding"], masks.dtype), (-1, 2, 2))
            terms["l2_oracle"] = grounding_losses.gated_separation_loss(
                masks=masks, gates=true_gates, per_example=per_example, **magnitudes
            )
        return terms | {
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
        if "l2_oracle" in self.stage_loss_weights and "l2_oracle" not in components:
            raise ValueError("the 'oracle' stage needs the batch's 'sounding' labels (as ccol_dataset yields).")
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
            "loss_weights": _plain_dict(self.loss_weights),
            "seed": self.seed,
            "audio_weights": self.audio_weights,
            "object_weights": self.object_weights,
            "audio_pool": self.audio_pool,
            "freeze_object_net": self.freeze_object_net,
            "freeze_audio_net": self.freeze_audio_net,
            "learning_rate_multipliers": _plain_dict(self.learning_rate_multipliers),
        }
