"""Miniature reproduction of CCoL's Tables 1 and 2 (``avcourse reproduce ccol``).

Four-clip samples of the synthetic world (:func:`avcourse.data.pipelines.ccol_dataset`:
video 1 shows A and B with A's sound, video 2 shows C and D with C's sound,
the mixture is A + C), 1 s clips on a 64-row log-frequency grid, 48 px object
crops, the small configs of :class:`~avcourse.models.ccol.CCoLModel`.

Training (the authors' schedule, shortened; every stage through
:func:`~avcourse.training.curriculum.run_curriculum` with
:func:`~avcourse.training.ccol.ccol_stages`):

1. **grounding**: ``l1`` only (warm-up);
2. from it, **Grounding-only**: the separator trained with ``l2*`` under the
   frozen grounding's gates (no feedback from separation to grounding);
3. from it, co-learning ``l2* + 0.25 (l1 + l3)``, then two branches at equal
   steps: **CoL** goes on co-learning, **CCoL** switches to
   ``l2* + 0.25 l3* + 0.5 l1*`` (as the authors warm-start the cyclic run from
   the co-learning one). Grounding-only trains its separator for as many
   epochs.

Evaluation on held-out samples (``split="test"``: held-out phrases, seeds from
100000, never drawn in training; nothing is tuned on them):

* Table 1 analogue: grounding accuracy on sounding vs silent objects with the
  video's own sound ("single") and with the mixture ("mixed"); chance is 0.5.
* Table 2 analogue: SDR/SIR/SAR of each video's separated sound, the objects'
  masks gated by the predicted grounding (Grounding-only, CoL, CCoL) or by the
  true sounding labels (Oracle, with CCoL's separator), and the unprocessed
  mixture.

The learning rates are 10x the paper's (1e-3, 1e-3, 1e-4 instead of 1e-4,
1e-4, 1e-5; the same ratios) so that the short CPU runs move; the step decay
keeps the authors' positions scaled to the shorter stages.

Taught in: tutorials/07_cyclic_co_learning.ipynb
"""

import dataclasses
import time

import keras

from avcourse import audio
from avcourse.data import pipelines
from avcourse.data.world import CCOL_TRAIN_SEED as TRAIN_SEED
from avcourse.data.world import TEST_SEED
from avcourse.models.ccol import CCOL_CONFIGS, CCoLModel
from avcourse.training import ccol as ccol_training
from avcourse.training.curriculum import run_curriculum

SECTIONS = [
    ("Grounding accuracy on held-out samples (cf. CCoL Table 1)", "grounding"),
    ("Separation of held-out mixtures (cf. CCoL Table 2)", "separation"),
]


@dataclasses.dataclass(frozen=True)
class CCoLRecipe:
    """Sizes and settings of one CCoL reproduction run (small CPU configs)."""

    train_samples: int = 384
    test_samples: int = 48
    epochs: tuple = (12, 6, 4)  # grounding, co-learning (and grounding-only), cyclic
    learning_rates: tuple = (1e-3, 1e-3, 1e-4)
    batch_size: int = 16
    crop_size: int = 48
    clip_seconds: float = 1.0
    num_warped_bins: int = 64

    @property
    def audio_config(self):
        return audio.AudioConfig(clip_seconds=self.clip_seconds, num_warped_bins=self.num_warped_bins)

    def model_config(self):
        config = dict(CCOL_CONFIGS["small"])
        config["audio_shape"] = (self.num_warped_bins, self.audio_config.num_frames, 1)
        config["object_shape"] = (self.crop_size, self.crop_size, 3)
        return config


RECIPES = {
    "demo": CCoLRecipe(train_samples=32, test_samples=8, epochs=(2, 1, 1), batch_size=16),
    "small": CCoLRecipe(),
}


def decay_steps(epochs):
    """The epochs after which a stage of ``epochs`` epochs decays its rate x0.1 (the authors' positions, scaled).

    At 1/2 and 3/4 of the stage, never at its end (the authors' code: 1/2 and 3/4
    of the grounding run, 1/2 and 5/6 of the others).

    Examples:
    >>> decay_steps(12), decay_steps(4), decay_steps(1)
    ((6, 9), (2, 3), ())
    """
    return tuple(sorted({max(1, round(epochs * f)) for f in (0.5, 0.75)} - {epochs}))


def run(size="small", seed=0, log=print):
    """Run the reproduction; return ``{"grounding", "separation", "seconds", "recipe"}``.

    ``"grounding"``: table (header row first) of method, accuracy with single
    sound, with mixed sound. ``"separation"``: method, mean SDR, SIR, SAR
    (dB) and the number of sources scored.
    """
    if size not in RECIPES:
        raise ValueError(f"`size` must be one of {sorted(RECIPES)}; received {size!r}.")
    recipe = RECIPES[size]
    config = recipe.audio_config
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()

    train = pipelines.ccol_dataset(
        recipe.train_samples,
        seed=TRAIN_SEED + seed,
        batch_size=recipe.batch_size,
        crop_size=recipe.crop_size,
        config=config,
        split="train",
    )
    test = ccol_training.collect(
        pipelines.ccol_dataset(
            recipe.test_samples,
            seed=TEST_SEED,
            batch_size=None,
            crop_size=recipe.crop_size,
            config=config,
            split="test",
            with_waveforms=True,
            cache=False,
        )
    )
    grounding_epochs, colearn_epochs, cyclic_epochs = recipe.epochs
    lr_grounding, lr_colearn, lr_cyclic = recipe.learning_rates

    def stages(variant, epochs, rate):
        return ccol_training.ccol_stages(
            (epochs,), learning_rates=(rate,), learning_rate_steps=(decay_steps(epochs),), variants=(variant,)
        )

    def fit(model, variant, epochs, rate):
        result = run_curriculum(model, lambda stage: train, stages(variant, epochs, rate))
        loss = result.histories[-1]["loss"][-1]
        log(f"[ccol] {variant}: {epochs} epochs at lr {rate:g}, final training loss {loss:.4f}")
        return result.model

    log(f"[ccol] {recipe.train_samples} training samples, {recipe.test_samples} held-out test samples")
    model = CCoLModel(stage="grounding", seed=seed, **recipe.model_config())
    grounded = fit(model, "grounding", grounding_epochs, lr_grounding)
    colearned = fit(grounded, "colearn", colearn_epochs, lr_colearn)
    # Every method gets the same number of epochs after the warm-up: CCoL's cyclic
    # stage starts from co-learning (as the authors' code), and CoL goes on
    # co-learning for as long, so that CCoL's gain is not just more training.
    models = {
        "Grounding-only": fit(grounded, "separate", colearn_epochs + cyclic_epochs, lr_colearn),
        "CoL": fit(colearned, "colearn", cyclic_epochs, lr_cyclic),
        "CCoL": fit(colearned, "cyclic", cyclic_epochs, lr_cyclic),
    }

    log("[ccol] evaluation on the held-out samples")
    return {
        **evaluation_tables(models, test, config, recipe.batch_size),
        "seconds": time.perf_counter() - started,
        "recipe": dataclasses.asdict(recipe),
    }


def evaluation_tables(models, test, config, batch_size=16):
    """The reproduction's two tables (header row first) for trained CCoL models on held-out samples.

    Args:
        models: dict method name → :class:`~avcourse.models.ccol.CCoLModel`
            (its order is the tables' row order); an ``"Oracle"`` row (the
            true sounding labels with ``models["CCoL"]``'s masks) is added
            when a ``"CCoL"`` model is given.
        test: held-out samples, :func:`avcourse.training.ccol.collect` of a
            ``ccol_dataset(..., with_waveforms=True)``.
        config: the :class:`~avcourse.audio.AudioConfig` of the samples.
        batch_size: samples per forward pass.

    Returns:
        ``{"grounding": …, "separation": …}``: method, accuracy with single
        and with mixed sound (chance first); method, mean SDR, SIR, SAR (dB)
        and the number of sources scored (the unprocessed mixture last).
    """
    outputs = {name: ccol_training.predict(model, test, batch_size) for name, model in models.items()}
    grounding = [["method", "accuracy, single sound", "accuracy, mixed sound"]]
    grounding.append(["chance", 0.5, 0.5])
    for name in models:
        accuracy = ccol_training.grounding_accuracy(None, test, outputs=outputs[name])
        grounding.append([name, accuracy["single"], accuracy["mixed"]])

    separation = [["method", "SDR (dB)", "SIR (dB)", "SAR (dB)", "sources scored"]]
    rows = [(name, name, "predicted") for name in models]
    if "CCoL" in models:
        rows.append(("Oracle (true sounding labels, CCoL's masks)", "CCoL", "oracle"))
    for label, name, mode in rows:
        scores = ccol_training.separation_scores(models[name], test, config, mode=mode, outputs=outputs[name])
        separation.append([label, scores["sdr"], scores["sir"], scores["sar"], scores["scored"]])
    scores = ccol_training.mixture_scores(test)
    separation.append(["mixture (unprocessed)", scores["sdr"], scores["sir"], scores["sar"], scores["scored"]])
    return {"grounding": grounding, "separation": separation}
