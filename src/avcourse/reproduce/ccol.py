"""Miniature reproduction of CCoL's Tables 1 and 2 (``avcourse reproduce ccol``).

Four-clip samples of the synthetic world (:func:`avcourse.data.pipelines.ccol_dataset`:
video 1 shows A and B with A's sound, video 2 shows C and D with C's sound,
the mixture is A + C); every video is a 128 px picture of the world's default
``"instruments"`` layout, its objects (the sounding instrument and the
world's silent instrument) cropped from their exact boxes to 48 px; 1 s clips
on a 64-row log-frequency grid.

**Pretraining** (the stand-in for the authors' ImageNet-pretrained frame net,
as :mod:`avcourse.reproduce.cavl` pretrains its trunks,
:func:`avcourse.training.pretrain.pretrain_trunk`): the grounding object net
is trained as an instrument classifier on the object crops of CCoL samples
(softmax over instruments, max pooling as the object net pools), the
grounding audio net on solo clips and two-instrument mixtures (one sigmoid a
class, pooled as the recipe's audio net pools, ``audio_pool``), from seeds
no other role draws and the training split's phrases. Labels name
instruments, never which object sounds. The object net is then **frozen**
for grounding (the authors' ``create_optimizer`` never optimises their frame
net: only its ``fc``), and so is the audio net (``freeze_audio_net``,
chosen on validation): the grounding stages fit the grounding head
(:class:`~avcourse.models.ccol_nets.GroundingNet`).
The separator's object net starts from the pretrained object net too (the
authors' separation frame net is ImageNet-pretrained as well) and trains.

**Training** (the authors' schedule, shortened; every stage through
:func:`~avcourse.training.curriculum.run_curriculum` with
:func:`~avcourse.training.ccol.ccol_stages`):

1. **grounding**: ``l1`` only (warm-up);
2. from it, **Grounding-only**: the separator trained with ``l2*`` under the
   frozen grounding's gates (no feedback from separation to grounding), and
   the **Oracle**: the separator trained with the true sounding labels as its
   gates (the paper's Table 2 Oracle), each for as many epochs as CoL and CCoL
   get after the warm-up;
3. from the warm-up, co-learning ``l2* + 0.25 (l1 + l3)``, then two branches
   at equal steps: **CoL** goes on co-learning, **CCoL** switches to
   ``l2* + 0.25 l3* + 0.5 l1*`` (the authors warm-start the cyclic run from
   the co-learning one).

**Learning rates**: the authors' per network, all x10 so that the short CPU
runs move (the same ratios): grounding warm-up 1e-3 (``train_grd.sh``: 1e-4
for every net); co-learning 1e-3 for the separator and 1e-4 for the grounding
nets (``train_col.sh``: 1e-4 and 1e-5; the per-network rate is
:data:`~avcourse.models.ccol.STAGE_LEARNING_RATE_MULTIPLIERS`, applied by
:meth:`~avcourse.models.CCoLModel.compile`); cyclic and CoL continued 1e-4
for every net (``train_ccol.sh`` as stored: 1e-5 for every net). Each stage
decays its rate x0.1 at the authors' positions, scaled (:func:`decay_steps`).
Frozen nets have no rate.

**The cycle, instrumented** (table ``cycle``): after every epoch of
co-learning and of the cyclic stage, on the first ``cycle_samples`` training
samples, how often each choice of the positive picks the truly sounding
object: the cycle's ``argmin_n d_n`` (the separator's mask distances), the
MIL choice of ``l1`` (own sound) and of ``l3`` (mixture)
(:func:`~avcourse.training.ccol.cycle_choices`). The cycle can help only
where ``d_n`` is the better signal.

Evaluation on held-out samples (``split="test"``: held-out phrases, seeds from
100000, never drawn in training; nothing is tuned on them; the recipe's
settings were chosen with ``held_out="validation"``, which trains on the
``"fit"`` phrases and scores ``"validation"`` ones, ``tools/ccol_validation.py``):

* ``grounding`` (Table 1 analogue): accuracy on sounding vs silent objects
  with the video's own sound (``single``) and with the mixture (``mixed``);
  chance is 0.5.
* ``separation`` (Table 2 analogue): SDR of each video's separated sound, the
  objects' masks gated by the predicted grounding (Grounding-only, CoL,
  CCoL), by the true labels for the Oracle, and the unprocessed mixture.

Taught in: tutorials/07_cyclic_co_learning.ipynb
"""

import dataclasses
import time

import keras
import numpy as np

from avcourse import audio
from avcourse.data import pipelines, world
from avcourse.data.world import CCOL_TRAIN_SEED as TRAIN_SEED
from avcourse.data.world import PRETRAIN_SEED, TEST_SEED, VALIDATION_SEED
from avcourse.models.ccol import CCOL_CONFIGS, CCoLModel
from avcourse.training import ccol as ccol_training
from avcourse.training.curriculum import run_curriculum
from avcourse.training.pretrain import pretrain_trunk

__all__ = [
    "HELD_OUT",
    "MIXTURE",
    "ORACLE",
    "RECIPES",
    "SECTIONS",
    "SOLO",
    "CCoLRecipe",
    "decay_steps",
    "evaluation_tables",
    "pretrain",
    "pretrained_model",
    "run",
    "samples",
]

SECTIONS = [
    ("Grounding accuracy on held-out samples (cf. CCoL Table 1)", "grounding"),
    ("Separation of held-out mixtures (cf. CCoL Table 2)", "separation"),
    ("The cycle: how often each choice of the positive is the sounding object (training samples, per epoch)", "cycle"),
]
ORACLE = "Oracle (trained with true gates)"
MIXTURE = "mixture"
HELD_OUT = {"test": ("train", "test", TEST_SEED), "validation": ("fit", "validation", VALIDATION_SEED)}
# Pretraining clips show one instrument alone or two together; their labels name them (multi-hot).
SOLO = {"num_silent_instruments": 0, "num_distractors": 0}


@dataclasses.dataclass(frozen=True)
class CCoLRecipe:
    """Sizes and settings of one CCoL reproduction run (small CPU configs); see the module docstring.

    ``epochs``: grounding warm-up, co-learning (Grounding-only and the Oracle
    train for co-learning + cyclic epochs), cyclic (and CoL continued).
    ``learning_rates``: the stages' base rates (the authors' x10); the
    grounding nets' 0.1 x in co-learning comes from the model
    (:data:`~avcourse.models.ccol.STAGE_LEARNING_RATE_MULTIPLIERS`).

    Chosen on validation samples (``tools/ccol_validation.py``, seed 0):
    the pretrained nets name the instrument of held-out crops and clips at
    1.00 and 0.98; with them frozen, the warm-up on 64 samples x 30 epochs
    grounds at 0.71 / 0.65 (single / mixed; 0.71 / 0.58 with the audio net
    training, hence ``freeze_audio_net``), on 1024 samples x 8 epochs at
    0.96 / 0.67 (seed 1: 0.90 / 0.69). ``audio_pool="average"``: with the
    authors' max pooling (the audio net pretrained with it too) the warm-up
    grounds at 0.72 / 0.60 on seed 0 (``--warmup-only --set
    audio_pool='max'``), where average pooling gives 0.97 / 0.69 (the
    curve's warm-up in docs/results.md). 7-12 minutes a seed on 2 CPU cores
    (pretraining about 1, warm-up 1, the five separator runs 5, evaluation
    1-3.5) on the machine that stored results/ccol.json; on a 2-core machine
    without AVX-512 a validation run with 8 cyclic epochs took 2935 s. A
    longer cyclic stage (8 epochs) was measured on validation and not taken
    (docs/results.md, "Why mixed-sound grounding sits at the bar"); so were
    2048 training samples at twice the steps and the time (mixed-sound
    grounding on validation 0.80 against 0.77 on seed 0, 0.73 against 0.72
    on seed 1).
    """

    train_samples: int = 1024
    test_samples: int = 128
    epochs: tuple = (8, 6, 4)  # grounding, co-learning (and grounding-only / oracle), cyclic
    learning_rates: tuple = (1e-3, 1e-3, 1e-4)
    batch_size: int = 16
    image_size: int = 128
    crop_size: int = 48
    clip_seconds: float = 1.0
    num_warped_bins: int = 64
    audio_net: str = "object"
    audio_pool: str = "average"
    freeze_object_net: bool = True
    freeze_audio_net: bool = True
    grounding_units: tuple = (64, 32)
    object_pretrain_samples: int = 256  # four crops each
    object_pretrain_epochs: int = 5
    audio_pretrain_clips: int = 2048
    audio_pretrain_sources: tuple = (1, 2)
    audio_pretrain_epochs: int = 30
    pretrain_learning_rate: float = 1e-3
    cycle_samples: int = 128

    @property
    def audio_config(self):
        return audio.AudioConfig(clip_seconds=self.clip_seconds, num_warped_bins=self.num_warped_bins)

    def model_config(self):
        """The :class:`~avcourse.models.CCoLModel` keyword arguments of the recipe (without ``stage`` and ``seed``)."""
        config = dict(CCOL_CONFIGS["small"])
        config["audio_net"] = self.audio_net
        config["audio_pool"] = self.audio_pool
        config["audio_shape"] = (self.num_warped_bins, self.audio_config.num_frames, 1)
        config["object_shape"] = (self.crop_size, self.crop_size, 3)
        config["grounding_units"] = tuple(self.grounding_units)
        config["freeze_object_net"] = self.freeze_object_net
        config["freeze_audio_net"] = self.freeze_audio_net
        return config


RECIPES = {
    "demo": CCoLRecipe(
        train_samples=32,
        test_samples=8,
        epochs=(2, 1, 1),
        object_pretrain_samples=16,
        object_pretrain_epochs=1,
        audio_pretrain_clips=32,
        audio_pretrain_epochs=1,
        cycle_samples=8,
    ),
    "small": CCoLRecipe(),
}
"""The reproduction's sizes by name: ``"demo"`` (seconds) and ``"small"`` (the numbers in docs/results.md)."""


def decay_steps(epochs):
    """The epochs after which a stage of ``epochs`` epochs decays its rate x0.1 (the authors' positions, scaled).

    At 1/2 and 3/4 of the stage, never at its end (the authors' code: 1/2 and 3/4
    of the grounding run, 1/2 and 5/6 of the others).

    Examples:
    >>> decay_steps(12), decay_steps(4), decay_steps(1)
    ((6, 9), (2, 3), ())
    """
    return tuple(sorted({max(1, round(epochs * f)) for f in (0.5, 0.75)} - {epochs}))


def samples(recipe, count, seed, split, **kwargs):
    """The one way the reproduction draws CCoL samples: the recipe's pictures, crops and clips."""
    return pipelines.ccol_dataset(
        count,
        seed=seed,
        image_size=recipe.image_size,
        crop_size=recipe.crop_size,
        config=recipe.audio_config,
        split=split,
        **kwargs,
    )


def _crops(dataset, num_classes):
    """Unbatched ``ccol_dataset`` samples → single object crops ``{"image", "labels"}`` (one-hot)."""
    import tensorflow as tf

    def to_crops(sample):
        return {"image": sample["objects"], "labels": tf.one_hot(sample["labels"], num_classes)}

    return dataset.map(to_crops).unbatch()


def _trunk(net):
    """The net without its global pool, sharing its layers (training it trains the net)."""
    return keras.Model(net.input, net.layers[-1].input, name=f"{net.name}_trunk")


def pretrain(model, recipe, seed=0, split="train", held_out_split="test", log=print, callbacks=None):
    """Pretrain ``model``'s grounding object and audio nets in place as instrument classifiers.

    Object net: the ``4 x recipe.object_pretrain_samples`` object crops of
    CCoL samples drawn from ``PRETRAIN_SEED + seed`` (softmax, max pooling).
    Audio net: ``recipe.audio_pretrain_clips`` clips of the world with
    ``recipe.audio_pretrain_sources`` instruments playing alone (one sigmoid a
    class, pooled by ``recipe.audio_pool`` as the net pools for grounding),
    seeds from ``PRETRAIN_SEED + 50_000 + seed``.
    Phrases from ``split``. The separator's object net gets the pretrained
    object net's weights.

    ``callbacks``, a function of the net (``"object"`` or ``"audio"``)
    returning a list of Keras callbacks, gives each net's ``fit`` its
    callbacks (e.g. per-epoch progress).

    Returns:
        held-out top-1 accuracy per net (``{"object": …, "audio": …}``) on
        ``recipe.test_samples`` samples of ``held_out_split`` (crops of CCoL
        samples; one-instrument clips).
    """
    names = world.instrument_names()
    num_classes = len(names)
    held_seed = HELD_OUT["validation" if held_out_split == "validation" else "test"][2]
    model.object_net.trainable = model.audio_net.trainable = True  # frozen after pretraining, not during it
    object_trunk, audio_trunk = _trunk(model.object_net), _trunk(model.audio_net)
    crop_count = 4 * recipe.object_pretrain_samples
    crops = _crops(samples(recipe, recipe.object_pretrain_samples, PRETRAIN_SEED + seed, split, batch_size=None), num_classes)
    crops = crops.cache().shuffle(crop_count, seed=seed, reshuffle_each_iteration=True).batch(recipe.batch_size * 4)
    object_history = pretrain_trunk(object_trunk, crops, modality="image", epochs=recipe.object_pretrain_epochs,
                                    learning_rate=recipe.pretrain_learning_rate, pooling="max",
                                    callbacks=callbacks("object") if callbacks else None)
    clips = pipelines.scene_dataset(
        recipe.audio_pretrain_clips, num_sources=list(recipe.audio_pretrain_sources), seed=PRETRAIN_SEED + 50_000 + seed,
        batch_size=recipe.batch_size * 2, image_size=32, config=recipe.audio_config, split=split, with_labels=True,
        shuffle=recipe.audio_pretrain_clips, scene_options=SOLO,
    )
    audio_history = pretrain_trunk(audio_trunk, clips, modality="audio", epochs=recipe.audio_pretrain_epochs,
                                   learning_rate=recipe.pretrain_learning_rate, pooling=recipe.audio_pool, multi_label=True,
                                   callbacks=callbacks("audio") if callbacks else None)
    model.separator.object_net.set_weights(model.object_net.get_weights())
    model.object_net.trainable = not model.freeze_object_net
    model.audio_net.trainable = not model.freeze_audio_net

    held_crops = _crops(samples(recipe, recipe.test_samples, held_seed, held_out_split, batch_size=None, cache=False),
                        num_classes).batch(64)
    held_clips = pipelines.scene_dataset(recipe.test_samples, num_sources=1, seed=held_seed, batch_size=64, image_size=32,
                                         config=recipe.audio_config, split=held_out_split, with_labels=True,
                                         scene_options=SOLO, cache=False)

    def top1(classifier, dataset, key):
        hits = [np.argmax(classifier(batch[key], training=False), -1) == np.argmax(batch["labels"], -1) for batch in dataset]
        return float(np.mean(np.concatenate(hits)))

    accuracies = {"object": top1(object_history.model, held_crops, "image"),
                  "audio": top1(audio_history.model, held_clips, "audio")}
    log(f"[ccol] pretrained nets, held-out ({held_out_split}) instrument accuracy: object {accuracies['object']:.3f}, "
        f"audio {accuracies['audio']:.3f}")
    return accuracies


def pretrained_model(recipe, seed=0, split="train", held_out_split="test", log=print, callbacks=None):
    """A CCoL model of the recipe (stage ``"grounding"``) with pretrained grounding nets; ``(model, accuracies)``.

    ``callbacks`` as in :func:`pretrain`.
    """
    model = CCoLModel(stage="grounding", seed=seed, **recipe.model_config())
    model.build()
    accuracies = pretrain(model, recipe, seed, split, held_out_split, log=log, callbacks=callbacks)
    return model, accuracies


def run(size="small", seed=0, log=print, held_out="test", recipe=None):
    """Run the reproduction; return ``{"grounding", "separation", "cycle", "pretraining", "seconds", "recipe"}``.

    Args:
        size: a key of :data:`RECIPES`.
        seed: the training seed.
        log: progress messages.
        held_out: ``"test"`` (train on the ``"train"`` phrases, score
            held-out test samples) or ``"validation"`` (train on ``"fit"``,
            score ``"validation"`` samples: for choosing settings).
        recipe: a :class:`CCoLRecipe` to run instead of ``RECIPES[size]``.

    Returns:
        the tables as lists of rows, header row first (:func:`evaluation_tables`
        and ``"cycle"``: per epoch of co-learning and of the cyclic stage, the
        share of training bags in which ``argmin d_n``, the MIL choice on the
        own sound and on the mixture pick the sounding object); also
        ``"pretraining"`` (held-out accuracy of the pretrained nets) and
        ``"warmup_seconds"``.
    """
    if recipe is None:
        if size not in RECIPES:
            raise ValueError(f"`size` must be one of {sorted(RECIPES)}; received {size!r}.")
        recipe = RECIPES[size]
    if held_out not in HELD_OUT:
        raise ValueError(f"`held_out` must be one of {sorted(HELD_OUT)}; received {held_out!r}.")
    split, held_split, held_seed = HELD_OUT[held_out]
    config = recipe.audio_config
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()

    def elapsed():
        return f"{time.perf_counter() - started:.0f} s"

    log(f"[ccol] pretraining the grounding nets ({4 * recipe.object_pretrain_samples} crops, "
        f"{recipe.audio_pretrain_clips} clips) [{elapsed()}]")
    model, pretraining = pretrained_model(recipe, seed, split, held_split, log=log)

    train = samples(recipe, recipe.train_samples, TRAIN_SEED + seed, split, batch_size=recipe.batch_size,
                    shuffle=recipe.train_samples)
    probe = ccol_training.collect(samples(recipe, recipe.cycle_samples, TRAIN_SEED + seed, split, batch_size=None, cache=False))
    test = ccol_training.collect(
        samples(recipe, recipe.test_samples, held_seed, held_split, batch_size=None, with_waveforms=True, cache=False)
    )
    grounding_epochs, colearn_epochs, cyclic_epochs = recipe.epochs
    lr_grounding, lr_colearn, lr_cyclic = recipe.learning_rates
    records = []

    def fit(start, variant, epochs, rate, monitor=None):
        stages = ccol_training.ccol_stages(
            (epochs,), learning_rates=(rate,), learning_rate_steps=(decay_steps(epochs),), variants=(variant,)
        )
        callbacks = [ccol_training.CycleMonitor(probe, monitor, recipe.batch_size, records)] if monitor else None
        result = run_curriculum(start, lambda stage: train, stages, callbacks=callbacks)
        loss = result.histories[-1]["loss"][-1]
        log(f"[ccol] {variant}: {epochs} epochs at lr {rate:g}, final training loss {loss:.4f} [{elapsed()}]")
        return result.model

    log(f"[ccol] {recipe.train_samples} training samples ({split}), {recipe.test_samples} held-out samples ({held_split})")
    grounded = fit(model, "grounding", grounding_epochs, lr_grounding)
    warmup = ccol_training.grounding_accuracy(grounded, test, recipe.batch_size)
    log(f"[ccol] after the warm-up: held-out grounding accuracy single {warmup['single']:.3f}, mixed {warmup['mixed']:.3f}")
    colearned = fit(grounded, "colearn", colearn_epochs, lr_colearn, monitor="co-learning")
    # Every method gets the same number of epochs after the warm-up: CCoL's cyclic stage starts from
    # co-learning (as the authors' code), and CoL goes on co-learning for as long, so that CCoL's gain
    # is not just more training; Grounding-only and the Oracle train their separators for as long.
    models = {
        "Grounding-only": fit(grounded, "separate", colearn_epochs + cyclic_epochs, lr_colearn),
        "CoL": fit(colearned, "colearn", cyclic_epochs, lr_cyclic),
        "CCoL": fit(colearned, "cyclic", cyclic_epochs, lr_cyclic, monitor="cyclic"),
        ORACLE: fit(grounded, "oracle", colearn_epochs + cyclic_epochs, lr_colearn),
    }

    log(f"[ccol] evaluation on the held-out samples [{elapsed()}]")
    tables = evaluation_tables(models, test, config, recipe.batch_size)
    cycle = [["epoch", "argmin d_n", "MIL, own sound", "MIL, mixture"]]
    for record in records:
        cycle.append([f"{record['stage']} {record['epoch']}", record["d_n"], record["mil"], record["mixture_mil"]])
    log(f"[ccol] done [{elapsed()}]")
    return {
        **tables,
        "cycle": cycle,
        "pretraining": pretraining,
        "warmup": warmup,
        "seconds": time.perf_counter() - started,
        "recipe": dataclasses.asdict(recipe),
    }


def evaluation_tables(models, test, config, batch_size=16):
    """The reproduction's two tables (header row first) for trained CCoL models on held-out samples.

    Args:
        models: dict method name → :class:`~avcourse.models.ccol.CCoLModel`
            (its order is the tables' row order). A model of stage
            ``"oracle"`` (trained with the true gates) is scored in
            ``separation`` with the true sounding labels as its gates and left
            out of ``grounding`` (it has no grounding of its own).
        test: held-out samples, :func:`avcourse.training.ccol.collect` of a
            ``ccol_dataset(..., with_waveforms=True)``.
        config: the :class:`~avcourse.audio.AudioConfig` of the samples.
        batch_size: samples per forward pass.

    Returns:
        ``{"grounding": …, "separation": …}``: method, accuracy with single
        (``single``) and with mixed sound (``mixed``); method, mean SDR (dB,
        ``sdr``) over the scored sources, the unprocessed mixture last.
    """
    outputs = {name: ccol_training.predict(model, test, batch_size) for name, model in models.items()}
    grounding = [["method", "single", "mixed"]]
    separation = [["method", "sdr"]]
    for name, model in models.items():
        oracle = getattr(model, "stage", None) == "oracle"
        if not oracle:
            accuracy = ccol_training.grounding_accuracy(None, test, outputs=outputs[name])
            grounding.append([name, accuracy["single"], accuracy["mixed"]])
        mode = "oracle" if oracle else "predicted"
        scores = ccol_training.separation_scores(model, test, config, mode=mode, outputs=outputs[name])
        separation.append([name, scores["sdr"]])
    separation.append([MIXTURE, ccol_training.mixture_scores(test)["sdr"]])
    return {"grounding": grounding, "separation": separation}
