"""CCoL's training schedule and evaluation (Tian, Hu and Xu, CVPR 2021).

* :func:`ccol_stages`: the authors' three-stage schedule, run by
  :func:`avcourse.training.curriculum.run_curriculum` like CAVL's curriculum:
  grounding warm-up (``l1``) → co-learning (``l2* + 0.25 (l1 + l3)``) → cyclic
  co-learning (``l2* + 0.25 l3* + 0.5 l1*``), each an ordinary ``model.fit``
  with Adam and a step decay (x0.1) of the learning rate, warm-started from
  the previous stage's weights.
* :func:`grounding_accuracy`: Table 1's protocol: is each object of a video
  sounding or silent, judged with the video's own sound ("single sound") and
  with the mixture of both videos ("mixed sound")?
* :func:`separation_scores`: Table 2's protocol: each video's separated sound
  ``Σ_n gate_n · M_n`` (its objects' masks gated by the binarised grounding,
  or by the true sounding labels for the oracle), reconstructed with the
  mixture's phase and scored with BSS-eval against the video's true sound.
* :func:`network_rate_optimizer`: an optimizer whose step is scaled per
  network, for the authors' learning rate per network (``train_col.sh``);
  :meth:`avcourse.models.CCoLModel.compile` applies it.
* :func:`cycle_choices` and :class:`CycleMonitor`: does the cycle's
  ``argmin_n d_n`` pick the truly sounding object more often than the MIL
  choice does? Measured on a fixed set of samples after every epoch.

Facts from the authors' code (``YapengTian/CCOL-CVPR21``):
``code/scripts/train_grd.sh`` (40 epochs, lr 1e-4, steps at 20 and 30),
``code/scripts/train_col.sh`` (60 epochs, lr 1e-4 for the separation nets and
1e-5 for the grounding nets, steps at 30 and 50, warm-started from the
grounding run), ``code/scripts/train_ccol.sh`` (60 epochs, lr 1e-5, steps at
30 and 50, warm-started from the co-learning run); Adam; the learning rates
are multiplied by 0.1 at each step (``adjust_learning_rate``). One optimizer
learning rate per stage, and each network's multiple of it (the grounding
nets at 0.1 x in co-learning, :data:`~avcourse.models.ccol.STAGE_LEARNING_RATE_MULTIPLIERS`),
is used here. ``train_ccol.sh`` as stored (commit ``32ada71``) sets every
rate to 1e-5, with ``#1e-4`` comments beside the separation nets' rates.

Example:
    ```python
    stages = ccol_stages(epochs=(2, 2, 2))
    result = run_curriculum(CCoLModel(stage="grounding", **CCOL_CONFIGS["small"]),
                            lambda stage: ccol_dataset(256, config=config), stages)
    grounding_accuracy(result.model, test_data)
    ```

Taught in: tutorials/07_cyclic_co_learning.ipynb
"""

import keras
import numpy as np

from avcourse import audio
from avcourse.metrics.separation import bss_eval_batch
from avcourse.training.curriculum import Stage

__all__ = [
    "CCOL_SCHEDULE",
    "CycleMonitor",
    "ccol_stages",
    "collect",
    "cycle_choices",
    "network_rate_optimizer",
    "grounding_accuracy",
    "mixture_scores",
    "predict",
    "separation_gates",
    "separation_scores",
]

# The authors' schedule: (variant, epochs, learning rate, epochs after which the lr is x0.1).
CCOL_SCHEDULE = (
    ("grounding", 40, 1e-4, (20, 30)),
    ("colearn", 60, 1e-4, (30, 50)),
    ("cyclic", 60, 1e-5, (30, 50)),
)


def ccol_stages(epochs=None, *, learning_rates=None, learning_rate_steps=None, decay=0.1, variants=None):
    """CCoL's stages for :func:`~avcourse.training.curriculum.run_curriculum`.

    Args:
        epochs: epochs per stage (a tuple, or one int for every stage); default
            the authors' (40, 60, 60).
        learning_rates: Adam learning rate per stage; default (1e-4, 1e-4, 1e-5).
        learning_rate_steps: per stage, the epochs after which the learning rate
            is multiplied by ``decay``; default ((20, 30), (30, 50), (30, 50)).
        decay: the step decay's factor (0.1).
        variants: the model variants of the stages; default
            ("grounding", "colearn", "cyclic"). ("grounding", "separate") gives
            the grounding-only baseline, ("grounding", "colearn") CoL,
            ("grounding", "oracle") the separator trained with the true gates.

    Returns:
        list of :class:`~avcourse.training.curriculum.Stage` with ``variant``
        set (the cluster counts are unused by CCoL and set to 0).

    Examples:
    >>> stages = ccol_stages()
    >>> " → ".join(f"{s.variant} ({s.epochs} epochs, lr {s.learning_rate:g})" for s in stages)
    'grounding (40 epochs, lr 0.0001) → colearn (60 epochs, lr 0.0001) → cyclic (60 epochs, lr 1e-05)'
    >>> stages[0].learning_rate_steps
    (20, 30)
    """
    defaults = {variant: (e, lr, steps) for variant, e, lr, steps in CCOL_SCHEDULE}
    variants = tuple(variants or ("grounding", "colearn", "cyclic"))
    known = ("grounding", "separate", "colearn", "cyclic", "oracle")
    for variant in variants:
        if variant not in known:
            raise ValueError(f"`variants` must hold names in {known}; received {variant!r}.")
    count = len(variants)

    def per_stage(value, name, default):
        if value is None:
            return [default(v) for v in variants]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return [value] * count
        value = list(value)
        if len(value) != count:
            raise ValueError(f"`{name}` must have one entry per stage ({count}); received {len(value)}.")
        return value

    epochs = per_stage(epochs, "epochs", lambda v: defaults.get(v, defaults["colearn"])[0])
    rates = per_stage(learning_rates, "learning_rates", lambda v: defaults.get(v, defaults["colearn"])[1])
    if learning_rate_steps is None:
        steps = [defaults.get(v, defaults["colearn"])[2] for v in variants]
    else:
        steps = list(learning_rate_steps)
        if len(steps) != count:
            raise ValueError(f"`learning_rate_steps` must have one entry per stage ({count}); received {len(steps)}.")
    stages = []
    for variant, stage_epochs, rate, stage_steps in zip(variants, epochs, rates, steps):
        if isinstance(stage_epochs, bool) or not isinstance(stage_epochs, int) or stage_epochs < 1:
            raise ValueError(f"`epochs` must be positive integers; received {stage_epochs!r}.")
        if not (isinstance(rate, (int, float)) and rate > 0):
            raise ValueError(f"`learning_rates` must be positive numbers; received {rate!r}.")
        stages.append(
            Stage(
                num_sources=(1,),
                num_audio_clusters=0,
                num_visual_clusters=0,
                learning_rate=float(rate),
                epochs=stage_epochs,
                name=variant,
                variant=variant,
                learning_rate_steps=tuple(int(s) for s in stage_steps),
                learning_rate_decay=float(decay),
            )
        )
    return stages


def collect(dataset):
    """Every example of a (batched or unbatched) ``tf.data`` dataset as a dict of numpy arrays."""
    examples = list(dataset.as_numpy_iterator())
    if not examples:
        raise ValueError("`dataset` is empty; expected at least one example.")
    first = examples[0]
    batched = np.ndim(first["sounding"]) == 2
    join = np.concatenate if batched else np.stack
    return {key: join([example[key] for example in examples]) for key in first}


def predict(model, data, batch_size=8):
    """The model's outputs on every sample of ``data`` (dict of numpy arrays or a dataset)."""
    if not isinstance(data, dict):
        data = collect(data)
    keys = ("objects", "audio", "mixture")
    missing = [key for key in keys if key not in data]
    if missing:
        raise ValueError(f"`data` must hold {keys} (as ccol_dataset yields); missing {missing}.")
    count = len(data["objects"])
    batches = []
    for start in range(0, count, batch_size):  # eager calls: no predict function to trace for a few batches
        inputs = {key: np.asarray(data[key][start : start + batch_size], "float32") for key in keys}
        batches.append({key: np.asarray(keras.ops.convert_to_numpy(value)) for key, value in model(inputs).items()})
    return {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}


def grounding_accuracy(model, data, batch_size=8, outputs=None):
    """Grounding accuracy on sounding vs silent objects (CCoL Table 1).

    Every object of every video is judged sounding when the grounding
    network's ``p(sounding) > 0.5``:

    * ``"single"``: with its own video's sound (A with A's sound, B silent, ...);
    * ``"mixed"``: with the mixture of both videos' sounds.

    Chance is 0.5 (two sounding and two silent objects per sample).

    Args:
        model: a trained :class:`~avcourse.models.ccol.CCoLModel`.
        data: dict of numpy arrays or a dataset of ``ccol_dataset`` samples.
        batch_size: prediction batch size.
        outputs: precomputed :func:`predict` outputs (skips the forward pass).

    Returns:
        ``{"single": float, "mixed": float}``.
    """
    if not isinstance(data, dict):
        data = collect(data)
    outputs = outputs if outputs is not None else predict(model, data, batch_size)
    truth = np.asarray(data["sounding"]).reshape(-1, 2, 2) > 0.5
    single = outputs["solo_scores"][..., 0] > 0.5
    mixed = outputs["mixture_scores"][..., 0] > 0.5
    return {"single": float(np.mean(single == truth)), "mixed": float(np.mean(mixed == truth))}


def separation_gates(outputs, data=None, mode="predicted"):
    """The (count, 2, 2) gate of every object for separation.

    ``"predicted"``: ``1[p(sounding | mixture) > 0.5]``; a video none of whose
    objects passes keeps its most sounding-looking one (each video has a
    sound, so an all-silent answer is surely wrong and would give nothing to
    score). ``"oracle"``: the true sounding labels of ``data``.
    """
    if mode == "oracle":
        if data is None:
            raise ValueError("`data` (with 'sounding') is needed for mode='oracle'.")
        return (np.asarray(data["sounding"]).reshape(-1, 2, 2) > 0.5).astype("float32")
    if mode != "predicted":
        raise ValueError(f"`mode` must be 'predicted' or 'oracle'; received {mode!r}.")
    probability = outputs["mixture_scores"][..., 0]
    gates = (probability > 0.5).astype("float32")
    best = np.eye(2, dtype="float32")[np.argmax(probability, axis=-1)]
    empty = gates.sum(axis=-1, keepdims=True) == 0
    return np.where(empty, best, gates)


def separation_scores(model, data, config=None, mode="predicted", batch_size=8, outputs=None):
    """SDR/SIR/SAR of each video's separated sound (CCoL Table 2).

    The separated sound of video ``v`` uses the mask ``Σ_n gate_{v,n} M_{v,n}``
    (:func:`separation_gates`), unwarped to the linear bins, times ``|S_mix|``,
    with the mixture's phase; it is scored against the video's sound in the
    mixture (``source_waveforms``) without permutation search.

    Args:
        model: a trained :class:`~avcourse.models.ccol.CCoLModel`.
        data: dict of numpy arrays of ``ccol_dataset(..., with_waveforms=True)``.
        config: the :class:`~avcourse.audio.AudioConfig` of the data.
        mode: ``"predicted"`` (gates from the grounding) or ``"oracle"`` (true labels).
        batch_size: prediction batch size.
        outputs: precomputed :func:`predict` outputs.

    Returns:
        dict with mean ``"sdr"``, ``"sir"``, ``"sar"`` (dB) over the scored
        sources and ``"scored"``, their number (silent estimates are skipped by BSS-eval).
    """
    if not isinstance(data, dict):
        data = collect(data)
    if "source_waveforms" not in data or "mixture_waveform" not in data:
        raise ValueError("`data` must hold 'mixture_waveform' and 'source_waveforms' (ccol_dataset(with_waveforms=True)).")
    outputs = outputs if outputs is not None else predict(model, data, batch_size)
    gates = separation_gates(outputs, data, mode)
    masks = np.einsum("bvn,bvnft->bvft", gates, outputs["masks"]).astype("float32")
    estimates = audio.reconstruct_sources(masks, np.asarray(data["mixture_waveform"], "float32"), config)
    return _mean_scores(data["source_waveforms"], estimates)


def _mean_scores(references, estimates):
    """Mean SDR, SIR and SAR over the scored sources, and their number."""
    result = bss_eval_batch(references, estimates)
    scored = int(np.sum(np.isfinite(result["sdr"])))
    mean = lambda values: float(np.nanmean(values)) if scored else float("nan")  # noqa: E731
    return {"sdr": mean(result["sdr"]), "sir": mean(result["sir"]), "sar": mean(result["sar"]), "scored": scored}


def mixture_scores(data):
    """BSS-eval of the unprocessed mixture used as every video's estimate (the reference row)."""
    mixtures = np.repeat(np.asarray(data["mixture_waveform"], "float32")[:, None], 2, axis=1)
    return _mean_scores(data["source_waveforms"], mixtures)


class _NetworkRates:
    """Mixin for a Keras optimizer: the step of each variable scaled by its network's multiplier.

    ``update_step(gradient, variable, learning_rate)`` is every Keras
    optimizer's per-variable update, on every backend; scaling its
    ``learning_rate`` scales the step exactly as a separate optimizer with
    that rate would (for Adam, scaling the gradient instead would change
    nothing: Adam's step does not depend on the gradient's scale). The
    step decay of a ``LearningRateScheduler`` acts on the base rate, so the
    ratios between networks stay fixed.
    """

    def set_variable_multipliers(self, groups):
        self._multiplier_groups = [(list(variables), float(multiplier)) for variables, multiplier in groups]

    def build(self, variables):
        super().build(variables)
        by_key = {}
        for group, multiplier in getattr(self, "_multiplier_groups", []):
            for variable in group:
                by_key[self._var_key(variable)] = multiplier
        self._multipliers = [by_key.get(self._var_key(variable), 1.0) for variable in variables]

    def update_step(self, gradient, variable, learning_rate):
        multiplier = self._multipliers[self._get_variable_index(variable)]
        if multiplier != 1.0:
            learning_rate = learning_rate * multiplier
        return super().update_step(gradient, variable, learning_rate)


_RATE_CLASSES = {}


def network_rate_optimizer(optimizer, groups):
    """``optimizer`` (an instance or a name) again, same class and settings, with a learning rate per group of variables.

    Args:
        optimizer: a Keras optimizer instance or identifier (``"adam"``);
            not yet used (its state is not carried over).
        groups: sequence of ``(variables, multiplier)``: those variables
            train at ``multiplier`` x the optimizer's learning rate (0
            freezes them); other variables at the rate itself.

    Returns:
        an instance of a subclass of ``optimizer``'s class whose
        ``update_step`` scales the rate of each variable by its group's
        multiplier; ``learning_rate`` (and a scheduler setting it) stays the
        base rate. Its ``get_config`` is the original's (the multipliers
        belong to the model, not to a saved optimizer).

    Example:
        ```python
        model.compile(optimizer=network_rate_optimizer(
            keras.optimizers.Adam(1e-4), [(model.grounding.trainable_variables, 0.1)]))
        ```
    """
    optimizer = keras.optimizers.get(optimizer)
    mro = type(optimizer).__mro__
    base = mro[mro.index(_NetworkRates) + 1] if isinstance(optimizer, _NetworkRates) else type(optimizer)
    if base not in _RATE_CLASSES:
        _RATE_CLASSES[base] = type(f"NetworkRate{base.__name__}", (_NetworkRates, base), {})
    scaled = _RATE_CLASSES[base].from_config(optimizer.get_config())
    scaled.set_variable_multipliers(groups)
    return scaled


def cycle_choices(model, data, batch_size=8, outputs=None):
    """Which object of each video the cycle and MIL pick as the positive, against the truth.

    For every bag (sample, video), on the given samples:

    * ``"d_n"``: the cycle's positive ``argmin_n d_{v,n}`` (the separator's
      mask distances, :func:`~avcourse.losses.grounding.mask_distances`,
      weighted as the model's loss is);
    * ``"mil"``: ``l1``'s positive ``argmin_n CE(g(a_v, o_{v,n}), sounding)``
      (the video's own sound);
    * ``"mixture_mil"``: ``l3``'s positive (the mixture instead of the own sound).

    Args:
        model: a :class:`~avcourse.models.CCoLModel`.
        data: dict of numpy arrays of ``ccol_dataset`` samples (with
            ``sounding``, ``mixture_magnitude`` and ``source_magnitudes``).
        batch_size: prediction batch size.
        outputs: precomputed :func:`predict` outputs.

    Returns:
        a dict: the share of bags in which each choice is the truly sounding
        object (``"d_n"``, ``"mil"``, ``"mixture_mil"``) and ``"agree"``,
        the share in which ``d_n`` and MIL pick the same object.
    """
    from avcourse.losses import grounding as grounding_losses

    if not isinstance(data, dict):
        data = collect(data)
    outputs = outputs if outputs is not None else predict(model, data, batch_size)
    weight = audio.magnitude_weight(data["mixture_magnitude"]) if model.weighted else None
    distances = np.asarray(
        keras.ops.convert_to_numpy(
            grounding_losses.mask_distances(
                masks=outputs["masks"],
                source_magnitudes=np.asarray(data["source_magnitudes"], "float32"),
                mixture_magnitude=np.asarray(data["mixture_magnitude"], "float32"),
                weight=weight,
            )
        )
    )
    truth = np.argmax(np.asarray(data["sounding"]).reshape(-1, 2, 2), axis=-1)
    by_distance = np.argmin(distances, axis=-1)
    by_mil = np.argmax(outputs["solo_scores"][..., 0], axis=-1)  # min CE toward sounding = max p(sounding)
    by_mixture = np.argmax(outputs["mixture_scores"][..., 0], axis=-1)
    return {
        "d_n": float(np.mean(by_distance == truth)),
        "mil": float(np.mean(by_mil == truth)),
        "mixture_mil": float(np.mean(by_mixture == truth)),
        "agree": float(np.mean(by_distance == by_mil)),
    }


class CycleMonitor(keras.callbacks.Callback):
    """After every epoch, :func:`cycle_choices` on fixed samples, kept in :attr:`records`.

    Args:
        data: dict of numpy arrays of ``ccol_dataset`` samples (e.g. the
            first training samples: the choices the losses make).
        label: a name for the stage, stored with every record.
        batch_size: prediction batch size.

    Attributes:
        records: list of dicts ``{"stage", "epoch", "d_n", "mil", "mixture_mil", "agree"}``
            (one per epoch, 1-based), shared between stages when the same
            monitor is passed again with another ``label``.
    """

    def __init__(self, data, label="", batch_size=8, records=None):
        super().__init__()
        self.data = data
        self.label = label
        self.batch_size = batch_size
        self.records = [] if records is None else records

    def on_epoch_end(self, epoch, logs=None):
        choices = cycle_choices(self.model, self.data, self.batch_size)
        self.records.append({"stage": self.label, "epoch": epoch + 1, **choices})
