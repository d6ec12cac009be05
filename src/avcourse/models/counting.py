"""CAVL's sound-source counter: audio trunk → Poisson rate λ (Hu et al. 2020, §3.2).

How many sources are playing in a clip? The counter reads only the sound: the
audio trunk's feature map is max-pooled over time and frequency, two ``Dense``
layers map it to one number, and a softplus makes it a Poisson rate
``λ > 0``. Training maximises the Poisson likelihood of the true count ``y``
(Eq 6, ``λ − y ln λ``); the predicted count is the most likely one,
``argmax_y P(y | λ)`` (:func:`avcourse.losses.poisson_mode`).

Table 2 of the paper compares a counter whose audio trunk starts from random
weights with one initialised from the curriculum-trained CAVL audio trunk:
:meth:`SourceCounter.from_cavl` builds the latter.

The paper's optimiser, SGD with momentum 0.9 and a learning rate of 0.01
decayed as ``0.01 / (1 + 0.5 · epoch)``, is :func:`counting_optimizer` plus the
callback :func:`counting_lr_schedule`.

Taught in: tutorials/05_counting.ipynb
"""

import keras
import numpy as np
from keras import ops

from avcourse._api import register
from avcourse._validation import check_bool, check_choice, check_nonnegative_int, check_number, check_positive_int
from avcourse.losses import poisson_mode, poisson_nll
from avcourse.models.backbones import TRUNK_CONFIGS, conv_trunk
from avcourse.models.base import ModelLoss, check_input_shape

__all__ = ["POOLINGS", "SourceCounter", "counting_learning_rate", "counting_lr_schedule", "counting_optimizer"]

POOLINGS = ("max", "mean_std", "max_mean_std")
"""How :class:`SourceCounter` turns the trunk's map into one vector (its ``pooling``); ``"max"`` is the paper's."""


@register
class SourceCounter(ModelLoss, keras.Model):
    """Counts the sound sources of a clip with a Poisson rate (CAVL §3.2, Eq 6).

    Architecture: audio trunk → ``GlobalMaxPool2D`` → ``Dense(hidden_units,
    relu)`` → ``Dense(1)`` → ``λ = softplus(z) + min_rate``. Softplus (rather
    than ``exp``, which the paper's formulation also allows) grows linearly
    for large ``z``, so a large logit cannot overflow the rate or blow up the
    gradient of ``λ``; ``min_rate`` keeps ``ln λ`` finite when ``z`` is very
    negative (softplus underflows to 0 in float32 below ``z ≈ -100``).
    Options beyond the paper: other poolings (``pooling``), a
    ``LayerNormalization`` after the pooling (``feature_norm``) and a frozen
    trunk (``freeze_trunk``); the defaults are the paper's head.

    Training goes through ``model.fit``: unless a ``loss`` is given to
    ``compile``, ``compute_loss`` is the Poisson negative log-likelihood
    ``mean(λ − y ln λ)`` (:func:`avcourse.losses.poisson_nll`, weighted by
    ``sample_weight`` and reduced by the rule of
    :class:`~avcourse.models.base.ModelLoss`), and
    ``compute_metrics`` reports ``count_accuracy`` (predicted count ==
    ``y``) and ``count_mae`` (``|predicted − y|``), with the predicted count
    ``argmax_y P(y | λ)``. The count ``y`` is the ``y`` given to ``fit``, or,
    when ``fit`` gets no ``y``, the ``"num_sources"`` entry of the input dict,
    so ``model.fit(scene_dataset(...))`` works as is.

    Args:
        audio_trunk: trunk config name (``"vggish"`` for the paper,
            512 x 432 x 1 → 64 x 54 x 512; ``"small_audio"`` for tutorials).
        audio_shape: (bins, frames, 1) input shape; default the trunk's.
        hidden_units: width of the hidden ``Dense`` layer (512 in the paper).
        max_count: largest count considered when predicting (the argmax runs
            over ``0 … max_count``).
        min_rate: floor added to the softplus so that ``λ >= min_rate > 0``.
        pooling: how the trunk's map becomes one vector: ``"max"`` (the
            paper's ``GlobalMaxPool2D``), ``"mean_std"`` (the mean and the
            standard deviation of each channel over time and frequency,
            concatenated: how much of the clip each feature covers and how
            unevenly, not only its peak), or ``"max_mean_std"`` (all three).
            Mean+std on a frozen trunk counted better than max on validation
            (0.60 against 0.52) but collapsed when the trunk trained too.
        feature_norm: when ``True`` a ``LayerNormalization`` follows the
            pooling (not the paper's head). A pretrained trunk's ReLU features
            are large (the reproduction's pretrained audio trunk: mean 20,
            peaks near 400), so the head's first steps give huge logits, and
            at Adam's 1e-3 its ReLUs died on validation; normalised features
            keep the head's inputs at unit scale whatever the trunk.
        freeze_trunk: when ``True`` the audio trunk is not trained
            (``audio_trunk.trainable = False``): ``fit`` moves only the head,
            on the features of the trunk as it was loaded (e.g. from
            :meth:`from_cavl` or ``audio_weights``), the usual protocol for
            a pretrained trunk and a cheap one. Default ``False`` (the paper
            trains the whole counter): on the CAVL reproduction's validation
            scenes the frozen instrument-classifier trunk's features limit
            the count (rounding accuracy 0.52-0.64, against 0.70-0.75 trained
            end to end).
        audio_weights: optional ``.weights.h5`` path for the audio trunk
            (not part of the config; the saved model carries the weights).

    Call arguments:
        inputs: the spectrogram (B, bins, frames, 1), or a dict with an
            ``"audio"`` entry (other keys, such as ``"image"`` and
            ``"num_sources"``, are ignored).
        training: unused (no dropout or batch norm).

    Returns:
        the Poisson rate ``λ``, float tensor (B,), every value ``>= min_rate``.

    Examples:
    >>> counter = SourceCounter("small_audio", audio_shape=(32, 22, 1), hidden_units=8)
    >>> rates = counter(np.zeros((2, 32, 22, 1), "float32"))
    >>> tuple(rates.shape), bool(np.all(keras.ops.convert_to_numpy(rates) > 0))
    ((2,), True)
    >>> counter.predict_counts(np.zeros((2, 32, 22, 1), "float32")).tolist()
    [0, 0]

    References:
        - Hu, Qian, Li, Wang, Dou, "Curriculum Audiovisual Learning",
          arXiv:2001.09414, 2020, §3.2 (sound counting), Eq 6, Table 2.
    """

    def __init__(
        self,
        audio_trunk="vggish",
        audio_shape=None,
        hidden_units=512,
        max_count=10,
        min_rate=1e-4,
        pooling="max",
        feature_norm=False,
        freeze_trunk=False,
        audio_weights=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice(audio_trunk, "audio_trunk", sorted(TRUNK_CONFIGS))
        self.hidden_units = check_positive_int(hidden_units, "hidden_units")
        self.max_count = check_positive_int(max_count, "max_count")
        self.min_rate = check_number(min_rate, "min_rate", minimum=0, exclusive_minimum=True)
        self.audio_trunk_config = audio_trunk
        self.audio_shape = check_input_shape(audio_shape, "audio_shape", TRUNK_CONFIGS[audio_trunk]["input_shape"])
        self.pooling = check_choice(pooling, "pooling", POOLINGS)
        self.feature_norm = check_bool(feature_norm, "feature_norm")
        self.freeze_trunk = check_bool(freeze_trunk, "freeze_trunk")
        self.audio_trunk = conv_trunk(audio_trunk, self.audio_shape, audio_weights, name="audio_trunk")
        self.audio_trunk.trainable = not self.freeze_trunk
        self.pool = keras.layers.GlobalMaxPooling2D(name="pool")
        self.norm = keras.layers.LayerNormalization(name="feature_norm") if self.feature_norm else None
        self.hidden = keras.layers.Dense(self.hidden_units, activation="relu", name="hidden")
        self.logit = keras.layers.Dense(1, name="logit")
        self.accuracy_tracker = keras.metrics.Mean(name="count_accuracy")
        self.mae_tracker = keras.metrics.Mean(name="count_mae")

    @classmethod
    def from_cavl(cls, cavl_model, **kwargs):
        """A counter whose audio trunk starts from a CAVL model's audio trunk (Table 2).

        The counter gets the same trunk config and input shape as
        ``cavl_model`` and a copy of its audio-trunk weights (later training
        of either model leaves the other unchanged); the ``Dense`` head starts
        from random weights.

        Args:
            cavl_model: a :class:`avcourse.models.CAVLModel` (e.g. the last
                curriculum stage's).
            **kwargs: other constructor arguments (``hidden_units``,
                ``max_count``, ``min_rate``, ``pooling``, ``feature_norm``,
                ``freeze_trunk``, ``name``).

        Returns:
            a new :class:`SourceCounter`.
        """
        if not (hasattr(cavl_model, "audio_trunk") and hasattr(cavl_model, "audio_trunk_config")):
            raise ValueError(
                f"`cavl_model` must be a CAVLModel (with `audio_trunk` and `audio_trunk_config`); "
                f"received {type(cavl_model).__name__}."
            )
        for key in ("audio_trunk", "audio_shape", "audio_weights"):
            if key in kwargs:
                raise ValueError(f"`{key}` comes from `cavl_model`; do not pass it to `from_cavl`.")
        counter = cls(audio_trunk=cavl_model.audio_trunk_config, audio_shape=cavl_model.audio_shape, **kwargs)
        counter.audio_trunk.set_weights(cavl_model.audio_trunk.get_weights())
        return counter

    def _audio(self, inputs):
        if isinstance(inputs, dict):
            if "audio" not in inputs:
                raise ValueError(f"`inputs` dict must have an 'audio' entry; received keys {sorted(inputs)}.")
            inputs = inputs["audio"]
        shape = tuple(getattr(inputs, "shape", np.shape(inputs)))
        if len(shape) != 4 or tuple(shape[1:]) != self.audio_shape:
            raise ValueError(
                f"audio inputs must have shape (batch,) + {self.audio_shape}; received shape {shape}."
            )
        return inputs

    def build(self, input_shape=None):
        """Create the head's weights (the trunk is built at construction); no call needed."""
        channels = self.audio_trunk.output.shape[-1] * len(self.pooling.split("_"))
        self.pool.build(tuple(self.audio_trunk.output.shape))
        if self.norm is not None:
            self.norm.build((None, channels))
        self.hidden.build((None, channels))
        self.logit.build((None, self.hidden_units))
        self.built = True

    def _pooled(self, feature_map):
        """The trunk's (B, h, w, C) map as (B, C) (``"max"``) or (B, 2C / 3C) vectors."""
        statistics = {
            "max": lambda: self.pool(feature_map),
            "mean": lambda: ops.mean(feature_map, axis=(1, 2)),
            "std": lambda: ops.std(feature_map, axis=(1, 2)),
        }
        parts = [statistics[name]() for name in self.pooling.split("_")]
        features = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)
        return features if self.norm is None else self.norm(features)

    def call(self, inputs, training=False):
        features = self._pooled(self.audio_trunk(self._audio(inputs)))
        logit = self.logit(self.hidden(features))[:, 0]
        return ops.softplus(logit) + ops.cast(self.min_rate, logit.dtype)

    def _counts(self, x, y):
        """The true counts: ``y``, or the input dict's ``"num_sources"``."""
        if y is None:
            if isinstance(x, dict) and "num_sources" in x:
                return x["num_sources"]
            raise ValueError(
                "SourceCounter needs the true counts: pass `y` to fit/evaluate, or inputs as a dict with a "
                "'num_sources' entry (as `scene_dataset` yields)."
            )
        if isinstance(y, dict):
            if "num_sources" not in y:
                raise ValueError(f"`y` dict must have a 'num_sources' entry; received keys {sorted(y)}.")
            return y["num_sources"]
        return y

    def loss_target(self, x, y):
        """A compiled loss compares the rates with the true counts (``y`` or ``x["num_sources"]``)."""
        return self._counts(x, y)

    def example_losses(self, x, y, y_pred):
        """Eq 6 per clip, ``λ − y ln λ`` (B,), computed in float32."""
        return poisson_nll(y_true=self._counts(x, y), rate=ops.cast(y_pred, "float32"))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        counts = ops.cast(ops.reshape(self._counts(x, y), (-1,)), "float32")
        predicted = ops.cast(poisson_mode(y_pred, self.max_count), "float32")
        self.accuracy_tracker.update_state(ops.cast(ops.equal(predicted, counts), "float32"), sample_weight)
        self.mae_tracker.update_state(ops.abs(predicted - counts), sample_weight)
        return super().compute_metrics(x, counts, y_pred, sample_weight)

    def predict_counts(self, inputs, batch_size=None, verbose=0, rule="mode"):
        """Predicted counts from the rates λ.

        Args:
            inputs: what :meth:`call` takes (array or dict), or a
                ``tf.data.Dataset`` of them (batched).
            batch_size: passed to ``predict`` for array inputs.
            verbose: passed to ``predict``.
            rule: ``"mode"``, the paper's ``argmax_y P(y | λ)`` for
                ``y = 0 … max_count`` (that is ⌊λ⌋), or ``"round"``, λ rounded to
                the nearest count and clipped to ``0 … max_count``. A counter
                trained to ``λ ≈ y`` sits on the tie between ``y - 1`` and ``y``
                under the mode (``P(y-1 | λ=y) = P(y | λ=y)``), so the mode rule
                loses about half of the right answers that rounding keeps.

        Returns:
            numpy int32 array (N,) of counts.
        """
        check_choice(rule, "rule", ("mode", "round"))
        return self.counts_from_rates(self.predict(inputs, batch_size=batch_size, verbose=verbose), rule)

    def counts_from_rates(self, rates, rule="mode"):
        """Counts from rates λ already predicted, under ``rule`` (see :meth:`predict_counts`).

        One prediction then serves both rules (the reproduction reports both).

        Args:
            rates: the rates λ, array (N,).
            rule: ``"mode"`` or ``"round"``.

        Returns:
            numpy int32 array (N,) of counts.
        """
        check_choice(rule, "rule", ("mode", "round"))
        if rule == "round":
            return np.clip(np.rint(np.asarray(rates, dtype=np.float64)), 0, self.max_count).astype("int32")
        return np.asarray(ops.convert_to_numpy(poisson_mode(rates, self.max_count))).astype("int32")

    def get_config(self):
        return {
            **super().get_config(),
            "audio_trunk": self.audio_trunk_config,
            "audio_shape": self.audio_shape,
            "hidden_units": self.hidden_units,
            "max_count": self.max_count,
            "min_rate": self.min_rate,
            "pooling": self.pooling,
            "feature_norm": self.feature_norm,
            "freeze_trunk": self.freeze_trunk,
        }


def counting_learning_rate(epoch, initial=0.01, decay=0.5):
    """The paper's counting learning rate at ``epoch`` (0-based): ``initial / (1 + decay · epoch)``."""
    epoch = check_nonnegative_int(epoch, "epoch")
    initial = check_number(initial, "initial", minimum=0, exclusive_minimum=True)
    decay = check_number(decay, "decay", minimum=0)
    return initial / (1.0 + decay * epoch)


def counting_optimizer(learning_rate=0.01, momentum=0.9):
    """The paper's counting optimiser: SGD with momentum 0.9, learning rate 0.01.

    Use it with the callback :func:`counting_lr_schedule` for the decay.

    Examples:
    >>> opt = counting_optimizer()
    >>> type(opt).__name__, round(float(opt.learning_rate), 4), opt.momentum
    ('SGD', 0.01, 0.9)
    """
    if not callable(learning_rate):  # a LearningRateSchedule (or a callable) is checked by Keras
        check_number(learning_rate, "learning_rate", minimum=0, exclusive_minimum=True)
    check_number(momentum, "momentum", minimum=0, maximum=1, exclusive_maximum=True)
    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)


def counting_lr_schedule(initial=0.01, decay=0.5, verbose=0):
    """A ``LearningRateScheduler`` setting the rate to ``initial / (1 + decay · epoch)`` each epoch.

    Epoch 0 trains at 0.01, epoch 1 at 0.00667, epoch 2 at 0.005, … (the
    paper's ``0.01 / (1 + 0.5 · epoch)``).

    Examples:
    >>> counter = SourceCounter("small_audio", audio_shape=(32, 22, 1), hidden_units=8)
    >>> counter.compile(optimizer=counting_optimizer())
    >>> # counter.fit(dataset, epochs=10, callbacks=[counting_lr_schedule()])
    """

    counting_learning_rate(0, initial, decay)  # check `initial` and `decay` now, not at the first epoch

    def schedule(epoch, learning_rate=None):
        return counting_learning_rate(epoch, initial, decay)

    return keras.callbacks.LearningRateScheduler(schedule, verbose=verbose)
