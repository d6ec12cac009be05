"""Miniature reproduction of CAVL on the synthetic world (``avcourse reproduce cavl``).

Every scene comes from the world's default ``"instruments"`` layout: 128 px
pictures in which the sounding instruments stand beside at least one silent
instrument of another class, anywhere in the picture, so that finding the
sounding object needs the sound. Training and test scenes of a stage are drawn
by one function (:func:`scene_data`) with the same layout and the same number
of sources; only seeds and phrases differ (the test split plays phrases no
stage heard, from seeds no stage drew).

Both trunks are first pretrained as instrument classifiers on one-object
pictures and solo clips (:mod:`avcourse.training.pretrain`), the world's
stand-in for the paper's ImageNet-pretrained VGG16 and AudioSet-pretrained
VGGish; every CAVL model starts from those weights. Tables (named as in
``results/cavl.json``):

* ``timbre``: can the audio tell instruments apart on unheard phrases? A linear
  probe on the mean and standard deviation over time of the network's input
  spectrogram, and the pretrained audio trunk.
* ``localization`` / ``localization_two_sources``: pointing and mask IoU of
  the aligned centre's heatmap (Eq 7) per sounding source, C1- and C2-trained,
  the unaligned-centre ablation and the baselines (centre prior, whole
  image, random object, all objects, oracle).
* ``c2_alignment``: which visual centre each audio centre of the C2 model
  picks on two-source scenes (the sounding objects, a silent object, the
  background; both centres on the same visual centre).
* ``curriculum`` (Fig. 4b): one and the same C3 stage (``fig4b_epochs``
  epochs on three-source scenes at the base rate) started from the
  curriculum's C2 model, from the pretrained trunks alone, and, as mixed
  1-3-source training, from the pretrained trunks, scored by the ROC-AUC of
  matched vs mismatched distances and per-source pointing on held-out
  three-source scenes; ``curriculum (lr x0.3 a stage)`` is the curriculum's
  own C3 stage and ``paper lr`` the curriculum with the paper's x0.1 a stage.
* ``curriculum_curve``: the ROC-AUC of those three runs after every epoch
  of the C3 stage, the analogue of Fig. 4b's curves.
* ``counting`` (Table 2): Poisson counters from random, pretrained and
  curriculum-trained audio trunks, under rounding and the paper's ⌊λ⌋ rule.
* ``flickr_protocol`` (Table 3 analogue): the C1 model on the ``"flickr"``
  layout (one large object), cIoU@0.5 and AUC against consensus maps.

Nothing is tuned on the test scenes: the recipe's choices were made on
``split="validation"`` scenes (phrases no ``split="fit"`` model heard).
Sizes: ``"demo"`` (seconds, run by ``avcourse demo``) and ``"small"``
(minutes, the numbers in docs/results.md and results/cavl.json).

Taught in: tutorials/03_curriculum.ipynb, tutorials/04_localization.ipynb
"""

import dataclasses
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from avcourse import audio
from avcourse._validation import check_choice
from avcourse.data import pipelines, world
from avcourse.data.world import PRETRAIN_SEED, TEST_SEED
from avcourse.metrics.counting import count_accuracy, count_mae
from avcourse.models import CAVLModel, SourceCounter
from avcourse.reproduce import cache
from avcourse.reproduce.results import table
from avcourse.training.curriculum import CurriculumResult, curriculum_stages, no_curriculum_stage, run_curriculum
from avcourse.training.evaluation import (
    MatchRocAucCurve,
    localization_results,
    match_roc_auc,
    object_localization_results,
)
from avcourse.training.pretrain import POOLINGS, pretrain_trunk
from avcourse.training.probe import linear_probe

__all__ = [
    "FREEZE_AUDIO_TRUNK",
    "RECIPES",
    "SECTIONS",
    "SOLO",
    "CavlRecipe",
    "alignment_targets",
    "build_model",
    "c1_stage",
    "calibrate_margin",
    "counting_adam",
    "pretrain",
    "run",
    "scene_data",
    "timbre_probe",
    "train_c1_model",
    "train_stages",
]

# (title, table name) of each table, in report order (``avcourse reproduce cavl``).
SECTIONS = [
    ("Timbre: instrument accuracy on unheard phrases", "timbre"),
    ("Localization on held-out one-source scenes", "localization"),
    ("Localization on held-out two-source scenes (per source)", "localization_two_sources"),
    ("What the C2 model's audio centres align to (two-source scenes)", "c2_alignment"),
    ("Curriculum as Fig. 4b: the C3 stage from C2, from the pretrained trunks, or mixed (equal steps)", "curriculum"),
    ("Fig. 4b's curves: three-source ROC-AUC after each epoch of the C3 stage", "curriculum_curve"),
    ("Counting on held-out scenes with 1-4 sources", "counting"),
    ("The paper's protocol on the flickr layout (one large object)", "flickr_protocol"),
]
# When the audio trunk is frozen: in every stage, in stage C1 only, or never.
FREEZE_AUDIO_TRUNK = ("always", "c1", "never")
# Pretraining pictures show the one instrument whose label they carry (as ImageNet pictures do).
SOLO = {"num_silent_instruments": 0, "num_distractors": 0}


@dataclasses.dataclass(frozen=True)
class CavlRecipe:
    """Sizes and settings of one reproduction run (small CPU configs), chosen on validation scenes.

    Pretraining (the stand-in for ImageNet / AudioSet): the audio trunk
    classifies ``pretrain_examples`` solo clips (average pooling, so that
    every time-frequency cell carries the instrument, as a CAVL audio centre,
    a mean over cells, needs; one sigmoid a class, ``audio_multi_label``, so
    that an instrument absent from the clip gets a negative logit as one
    absent from a picture does: a softmax leaves every clip's logits an
    arbitrary offset); the visual trunk names every instrument in
    ``visual_pretrain_scenes`` pictures of the default layout (1-3 sounding
    plus the silent ones; multi-label, max pooling: each object's cells must
    fire for their own class and no background cell may;
    ``visual_pretrain_pooling="average"`` spreads the class over the object's
    extent instead, see docs/results.md). Labels say what is in a picture,
    never where.

    CAVL: ``"object_audio"`` (a 16-row map at 64 warped bins whose cells see
    26 bins) and ``"object_visual"`` (a 16 x 16 map at 128 px, a 32 px
    receptive field); each projection initialised from its pretraining
    classifier's logits layer (``projection_init="classifier"``, so the
    embedding has one axis per instrument; ``"random"`` is the paper's Dense
    init), minus the layer's mean over classes (``centre_projection``: the
    background, negative for every class, moves to the origin). The trunks
    are frozen (``freeze_audio_trunk="always"``; ``"c1"`` freezes the audio
    trunk in stage C1 only, ``"never"`` trains it throughout; the visual
    trunk is frozen as the authors of CCoL freeze their ImageNet frame net),
    so the curriculum fits the two projections. Distances are the paper's
    Euclidean ones between unnormalised centres (``normalize=False``), so
    they are measured in logit units and the paper's margin of 1 would leave
    every mismatched pair beyond it: ``margin=None`` sets the margin to the
    median mismatched distance of the pretrained model on its first training
    scenes (:func:`calibrate_margin`), and with ``margin_per_source`` a stage
    with ``k_a`` audio centres uses ``k_a`` times it (S_av sums ``k_a``
    distances). ``extra_visual_clusters`` is ``k_v - k_a``: 1 is the paper's
    single background centre; the pictures here also hold a silent
    instrument and sometimes a distractor, each of which needs a centre of
    its own. ``stage_decay`` multiplies the learning rate from one curriculum
    stage to the next (the paper's 0.1 is its own row of the curriculum
    table). Fig. 4b compares starts of one C3 stage, ``fig4b_epochs`` epochs
    at ``learning_rate`` for every start: at the curriculum's own C3 rate
    (x0.09) the C3 stage barely moves the model (validation ROC-AUC 0.506
    after C1, 0.509 after C3). docs/results.md lists the validation runs
    behind every choice.

    Counting (Table 2): every counter trains end to end on
    ``counting_scenes`` scenes with 1-4 sources for ``counting_epochs``
    epochs, Adam from ``counting_learning_rate`` with a cosine decay to 0
    over all steps; the paper's head (max pool, Dense 512, Dense 1,
    softplus) with a ``LayerNormalization`` after the pool
    (``counting_feature_norm``: the pretrained trunk's features reach 400,
    and fine-tuning it at 1e-3 without it killed the head's ReLUs). On 512
    validation scenes (tools/counting_validation.py, pretrained trunk,
    rounding accuracy): 8192 scenes x 10 epochs at 2e-3 0.746, 0.701 and
    0.701 (counter seeds 0-2, mean 0.716; the random trunk 0.736, seed 0),
    short of the issue's 0.75; at 1e-3 0.691; 8192 x 20 at 1e-3 0.744
    (twice the steps); 4096 x 20 at 2e-3 0.705; 8192 x 5 at 2e-3 or 3e-3
    0.70; 2048 x 40 at 1e-3 0.646; 2048 x 40 at 1e-4 constant without the norm (the
    previous recipe's setting, twice its epochs) 0.525. A frozen trunk
    (``counting_freeze_trunk``) trains only the head but its features
    cannot count well enough: head 0.52-0.64 (max or mean+std pooling, up to
    8192 scenes), a logistic regression on them 0.64 and an MLP 0.69. Mean+std
    pooling trained end to end collapsed. The curriculum's audio trunk is
    the pretrained one when the recipe freezes it (``freeze_audio_trunk``
    ``"always"``): that row is then the pretrained row's counter, trained
    once.
    """

    train_scenes: int = 1024
    test_scenes: int = 256
    epochs_per_stage: tuple = (6, 4, 4)
    batch_size: int = 32
    image_size: int = 128
    stiffness: float = 30.0
    init: str = "farthest"
    margin: float = None
    learning_rate: float = 1e-3
    stage_decay: float = 0.3
    paper_stage_decay: float = 0.1
    clipnorm: float = 1.0
    audio_trunk: str = "object_audio"
    visual_trunk: str = "object_visual"
    extra_visual_clusters: int = 7
    normalize: bool = False
    projection_init: str = "classifier"
    centre_projection: bool = True
    audio_multi_label: bool = True
    freeze_audio_trunk: str = "always"
    margin_per_source: bool = True
    embedding_dim: int = 64
    freeze_visual_trunk: bool = True
    fig4b_epochs: int = 14
    counting_scenes: int = 8192
    counting_epochs: int = 10
    counting_learning_rate: float = 2e-3
    counting_feature_norm: bool = True
    counting_freeze_trunk: bool = False
    pretrain_examples: int = 2048
    pretrain_epochs: int = 40
    pretrain_learning_rate: float = 1e-3
    visual_pretrain_scenes: int = 2048
    visual_pretrain_epochs: int = 40
    visual_pretrain_pooling: str = "max"
    clip_seconds: float = 2.0
    warped_bins: int = 64

    @property
    def audio_config(self):
        return audio.AudioConfig(clip_seconds=self.clip_seconds, num_warped_bins=self.warped_bins)


RECIPES = {
    "demo": CavlRecipe(
        train_scenes=64,
        test_scenes=32,
        epochs_per_stage=(2, 1, 1),
        fig4b_epochs=2,
        counting_scenes=64,
        counting_epochs=1,
        pretrain_examples=64,
        pretrain_epochs=1,
        visual_pretrain_scenes=64,
        visual_pretrain_epochs=1,
    ),
    "small": CavlRecipe(),
}


def scene_data(recipe, count, num_sources, seed, split, **kwargs):
    """The one way every table draws scenes: the default layout, the recipe's picture and clip.

    Training and test sets differ only in ``count``, ``seed`` and ``split``;
    ``kwargs`` go to :func:`~avcourse.data.pipelines.scene_dataset` (labels,
    ground truth, shuffling, ``scene_options``).
    """
    return pipelines.scene_dataset(
        count,
        num_sources=num_sources,
        seed=seed,
        batch_size=recipe.batch_size,
        image_size=recipe.image_size,
        config=recipe.audio_config,
        split=split,
        **kwargs,
    )


def build_model(recipe, pretrained=None):
    """A CAVL model of the recipe, from the pretrained trunks (and logits layers) when given.

    Raises:
        ValueError: when ``recipe.margin`` is ``None`` (not yet calibrated:
            :func:`calibrate_margin` sets it).
    """
    if recipe.margin is None:
        raise ValueError("`recipe.margin` is None: set it, or call calibrate_margin(recipe, pretrained) first.")
    classifier_init = recipe.projection_init == "classifier"
    model = CAVLModel(
        recipe.audio_trunk,
        recipe.visual_trunk,
        audio_shape=(recipe.audio_config.num_warped_bins, recipe.audio_config.num_frames, 1),
        image_shape=(recipe.image_size, recipe.image_size, 3),
        num_visual_clusters=1 + recipe.extra_visual_clusters,
        embedding_dim=len(world.instrument_names()) if classifier_init else recipe.embedding_dim,
        stiffness=recipe.stiffness,
        init=recipe.init,
        margin=recipe.margin,
        normalize=recipe.normalize,
    )
    model.build()  # before loading weights
    if pretrained is not None:
        model.audio_trunk.load_weights(pretrained["audio"])
        model.visual_trunk.load_weights(pretrained["image"])
        if classifier_init:
            model.audio_projection.set_weights(_projection(pretrained["audio_logits"], recipe.centre_projection))
            model.visual_projection.set_weights(_projection(pretrained["image_logits"], recipe.centre_projection))
    if recipe.freeze_visual_trunk:
        model.visual_trunk.trainable = False
    if recipe.freeze_audio_trunk == "always":
        model.audio_trunk.trainable = False
    return model


def _projection(logits_layer, centre):
    """A classifier's logits layer ``[kernel, bias]`` as a projection; ``centre``: minus its mean over classes.

    Subtracting the mean over classes from every column (a fixed linear map
    after the layer) removes what all classes share: the picture's
    background, whose logits are negative for every class, moves to the
    origin, and a cell or a clip keeps only how much more it says one
    instrument than the others.
    """
    kernel, bias = (np.asarray(weights) for weights in logits_layer)
    if centre:
        kernel, bias = kernel - kernel.mean(axis=1, keepdims=True), bias - bias.mean()
    return [kernel, bias]


def calibrate_margin(recipe, pretrained, seed=0, split="train", scenes=256):
    """``recipe`` with its contrastive margin set from the data, when ``recipe.margin`` is ``None``.

    The margin becomes the median distance of the in-batch mismatched pairs
    (:meth:`~avcourse.models.CAVLModel.pair_distances`) that the pretrained
    model gives on ``scenes`` one-source training scenes of stage C1 (the
    same seeds and split it trains on; no held-out scene is read). Half the
    mismatched pairs then start inside the margin, and the loss has
    something to push on both sides.
    """
    if recipe.margin is not None:
        return recipe
    model = build_model(dataclasses.replace(recipe, margin=1.0), pretrained)
    distances = []
    for batch in scene_data(recipe, scenes, 1, seed, split):
        distance, is_match = (np.asarray(x) for x in model.pair_distances(model(batch, training=False)))
        distances.append(distance[is_match == 0])
    return dataclasses.replace(recipe, margin=float(np.median(np.concatenate(distances))))


def _with_sources(model, num_sources, extra_visual_clusters):
    """The model clustering into ``num_sources`` audio centres and ``extra_visual_clusters`` more visual ones."""
    return model.with_num_clusters(num_sources, num_sources + extra_visual_clusters)


def pretrain(recipe, seed, directory, split="train", held_out_split="test", modalities=("audio", "image"), callbacks=None):
    """Pretrain the trunks of a fresh CAVL model as instrument classifiers.

    Audio: ``recipe.pretrain_examples`` solo clips (one instrument; seeds from
    ``PRETRAIN_SEED + seed``), average pooling, one sigmoid a class
    (``recipe.audio_multi_label``; a softmax over instruments otherwise).
    Visual: ``recipe.visual_pretrain_scenes`` pictures of the default layout
    with 1-3 sounding instruments and the silent ones, every visible
    instrument named (multi-label, ``recipe.visual_pretrain_pooling``). Phrases from ``split``;
    held-out accuracy on scenes of ``held_out_split`` (solo clips for audio;
    for the pictures the per-class binary accuracy). The trunks' weights are
    saved under ``directory``. ``callbacks``, a function of the modality
    (``"audio"`` or ``"image"``) returning a list of Keras callbacks, gives
    each trunk's ``fit`` its callbacks (e.g. ``lambda modality:
    [EpochProgress(modality, every=10)]``).

    Returns:
        ``(pretrained, accuracies)``: ``{"audio": path, "image": path,
        "audio_logits": [kernel, bias], "image_logits": [kernel, bias]}`` for
        :func:`build_model`, and the held-out accuracy per modality.
    """
    # Both trunks train here, whatever the recipe freezes in the CAVL stages.
    model = build_model(dataclasses.replace(recipe, freeze_visual_trunk=False, freeze_audio_trunk="never",
                                            margin=recipe.margin or 1.0))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pretrained, accuracies = {}, {}
    if "audio" in modalities:
        solo = scene_data(recipe, recipe.pretrain_examples, 1, PRETRAIN_SEED + seed, split, with_labels=True,
                          shuffle=recipe.pretrain_examples, scene_options=SOLO)
        held_out = scene_data(recipe, recipe.test_scenes, 1, TEST_SEED, held_out_split, with_labels=True, scene_options=SOLO)
        history = pretrain_trunk(model.audio_trunk, solo, modality="audio", epochs=recipe.pretrain_epochs,
                                 learning_rate=recipe.pretrain_learning_rate, pooling="average",
                                 multi_label=recipe.audio_multi_label, callbacks=callbacks("audio") if callbacks else None)
        pretrained["audio_logits"] = history.model.get_layer("logits").get_weights()
        accuracies["audio"] = _top1_accuracy(history.model, held_out)
    if "image" in modalities:
        pictures = scene_data(recipe, recipe.visual_pretrain_scenes, [1, 2, 3], PRETRAIN_SEED + 50_000 + seed, split,
                              with_labels=True, shuffle=recipe.visual_pretrain_scenes)
        held_out = scene_data(recipe, recipe.test_scenes, [1, 2, 3], TEST_SEED, held_out_split, with_labels=True)
        check_choice(recipe.visual_pretrain_pooling, "recipe.visual_pretrain_pooling", POOLINGS)
        history = pretrain_trunk(model.visual_trunk, pictures, modality="image", epochs=recipe.visual_pretrain_epochs,
                                 learning_rate=recipe.pretrain_learning_rate, validation_data=held_out,
                                 label_key="visible_labels", multi_label=True, pooling=recipe.visual_pretrain_pooling,
                                 callbacks=callbacks("image") if callbacks else None)
        pretrained["image_logits"] = history.model.get_layer("logits").get_weights()
        accuracies["image"] = history.history["val_accuracy"][-1]
    for modality, trunk in (("audio", model.audio_trunk), ("image", model.visual_trunk)):
        pretrained[modality] = str(directory / f"{modality}_trunk.weights.h5")
        trunk.save_weights(pretrained[modality])
    return pretrained, accuracies


def _top1_accuracy(classifier, dataset):
    """Share of ``dataset``'s clips whose largest logit is their instrument's (softmax or one sigmoid a class)."""
    hits = [np.argmax(classifier(batch["audio"], training=False), axis=-1) == np.argmax(batch["labels"], axis=-1)
            for batch in dataset]
    return float(np.mean(np.concatenate(hits)))


def _spectral_statistics(dataset):
    """Mean and standard deviation over time of each warped row of the network's input, and the labels."""
    features, labels = [], []
    for batch in dataset:
        spectrogram = np.asarray(batch["audio"])[..., 0]
        features.append(np.concatenate([spectrogram.mean(axis=2), spectrogram.std(axis=2)], axis=1))
        labels.append(np.asarray(batch["labels"]).argmax(axis=1))
    return np.concatenate(features), np.concatenate(labels)


def timbre_probe(recipe, seed, split, held_out_split):
    """Held-out accuracy of a linear probe on spectral statistics of solo clips (``split`` → ``held_out_split``)."""
    train = scene_data(recipe, recipe.pretrain_examples, 1, PRETRAIN_SEED + seed, split, with_labels=True, scene_options=SOLO)
    test = scene_data(recipe, recipe.test_scenes, 1, TEST_SEED, held_out_split, with_labels=True, scene_options=SOLO)
    return linear_probe(*_spectral_statistics(train), *_spectral_statistics(test),
                        num_classes=len(world.instrument_names()), seed=seed)["test_accuracy"]


def train_stages(recipe, stages, seed, model, split="train", callbacks=None):
    """Train ``model`` through curriculum ``stages`` on the recipe's scenes (``split``'s phrases); a :class:`CurriculumResult`.

    Each stage clusters into ``k_a`` audio centres (its number of sources)
    and ``k_a + recipe.extra_visual_clusters`` visual ones, and draws
    ``recipe.train_scenes`` scenes with its numbers of sources.
    ``callbacks`` go to every stage's ``fit``.
    """

    def make_dataset(stage):
        return scene_data(recipe, recipe.train_scenes, list(stage.num_sources), seed, split, shuffle=recipe.train_scenes)

    def optimizer(learning_rate):
        return keras.optimizers.Adam(learning_rate, clipnorm=recipe.clipnorm)

    check_choice(recipe.freeze_audio_trunk, "recipe.freeze_audio_trunk", FREEZE_AUDIO_TRUNK)
    stages = [dataclasses.replace(s, num_visual_clusters=s.num_audio_clusters + recipe.extra_visual_clusters) for s in stages]
    results = []
    for stage in stages:
        # A copy: the flags and margin set below must not change the previous stage's model.
        model = model.with_num_clusters(stage.num_audio_clusters, stage.num_visual_clusters)
        # With the audio trunk frozen a stage fits only the two projections: the pretrained trunk
        # already names the instrument, and letting C1's loss move it lowered pointing.
        is_c1 = tuple(stage.num_sources) == (1,)
        model.audio_trunk.trainable = not (recipe.freeze_audio_trunk == "always" or (recipe.freeze_audio_trunk == "c1" and is_c1))
        if recipe.margin_per_source:
            # S_av sums k_a nearest distances (Eq 4), so a mismatched pair's distance grows with k_a;
            # a margin fixed at C1's scale would leave every mismatched pair of C2 beyond it.
            model.margin = recipe.margin * stage.num_audio_clusters
        results.append(run_curriculum(model, make_dataset, [stage], optimizer=optimizer, callbacks=callbacks))
        model = results[-1].model
    return CurriculumResult(
        stage_models=[r.model for r in results], stages=stages, histories=[r.histories[0] for r in results]
    )


def c1_stage(recipe):
    """Stage C1 of the recipe's curriculum alone (one source, its rate and epochs), as a one-element list."""
    return curriculum_stages(1, base_learning_rate=recipe.learning_rate, epochs=[recipe.epochs_per_stage[0]])


def _cached_pretrain(recipe, seed, directory, log=print, **options):
    """:func:`pretrain` through the reproduction cache (:func:`avcourse.reproduce.cache.memoize`).

    The CAVL and separation reproductions pretrain the same trunks for a
    recipe and seed (both start from ``keras.utils.set_random_seed(seed)``);
    with ``avcourse reproduce --cache-dir`` the second one reads them.
    """
    key = {"recipe": dataclasses.asdict(recipe), "seed": seed, **options}
    return cache.memoize("cavl-pretrain", key, lambda folder: pretrain(recipe, seed, folder, **options), directory, log=log)


def train_c1_model(recipe, seed=0, log=print):
    """A CAVL model trained on stage C1 only (one-source scenes, ``k_a = 1``).

    The trunks are pretrained first (:func:`pretrain`, read from the
    reproduction cache when one is set and holds them), then the first stage
    of this recipe's curriculum runs, as in :func:`run`; the separation
    reproduction extracts its visual vectors from such a model (CAVL supp. 6.4).
    """
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as directory:
        pretrained, _ = _cached_pretrain(recipe, seed, directory, log=log)
        recipe = calibrate_margin(recipe, pretrained, seed)
        return train_stages(recipe, c1_stage(recipe), seed, build_model(recipe, pretrained)).model


def alignment_targets(model, dataset):
    """For every audio centre: does its aligned visual centre's mass lie on a sounding object, a silent one or the background?"""
    counts = {"sounding object": 0, "silent object": 0, "background": 0, "same visual centre": 0}
    centres = scenes = 0
    for batch in dataset:
        outputs = model(batch, training=False)
        assignments = np.asarray(outputs["visual_assignments"])  # (B, N, k_v)
        chosen = np.asarray(outputs["aligned_index"])  # (B, k_a)
        masks = np.asarray(batch["object_masks"]) > 0.5
        sounding = np.asarray(batch["object_sounding"]) > 0.5
        side = int(np.sqrt(assignments.shape[1]))
        for index in range(len(chosen)):
            scale = masks.shape[-1] // side
            cells = masks[index].reshape(masks.shape[1], side, scale, side, scale).mean(axis=(2, 4)).reshape(masks.shape[1], -1)
            region = {
                "sounding object": cells[sounding[index]].sum(axis=0),
                "silent object": cells[~sounding[index]].sum(axis=0),
            }
            region["background"] = np.clip(1 - region["sounding object"] - region["silent object"], 0, 1)
            for centre in chosen[index]:
                mass = {name: float(assignments[index, :, centre] @ cells_) for name, cells_ in region.items()}
                counts[max(mass, key=mass.get)] += 1
                centres += 1
            counts["same visual centre"] += int(len(set(chosen[index].tolist())) < len(chosen[index]))
            scenes += 1
    return {name: value / (scenes if name == "same visual centre" else centres) for name, value in counts.items()}


def _counter_options(recipe):
    """The :class:`~avcourse.models.SourceCounter` arguments of the recipe (feature norm, frozen trunk)."""
    return {"feature_norm": recipe.counting_feature_norm, "freeze_trunk": recipe.counting_freeze_trunk}


def counting_adam(recipe):
    """The reproduction's counting optimiser: Adam from ``recipe.counting_learning_rate``, cosine-decayed to 0 over the counting epochs' steps.

    Taught in: tutorials/05_counting.ipynb.
    """
    steps = recipe.counting_epochs * -(-recipe.counting_scenes // recipe.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(recipe.counting_learning_rate, steps)
    return keras.optimizers.Adam(schedule, clipnorm=recipe.clipnorm)


def _same_weights(first, second):
    """Whether two lists of weight arrays are equal."""
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))


def _counting(recipe, seed, counters, log=print):
    train = scene_data(recipe, recipe.counting_scenes, [1, 2, 3, 4], seed + 50_000, "train", shuffle=recipe.counting_scenes)
    test = scene_data(recipe, recipe.test_scenes, [1, 2, 3, 4], TEST_SEED, "test")
    truth = np.concatenate([np.asarray(batch["num_sources"]) for batch in test])
    rows, starts = {}, {}
    for name, counter in counters.items():
        # A counter whose trunk starts from the weights an earlier one's did (the curriculum's audio trunk
        # is the pretrained one when the recipe freezes it) repeats that experiment: it gets that row.
        start = counter.audio_trunk.get_weights()
        twin = next((other for other, weights in starts.items() if _same_weights(weights, start)), None)
        if twin is not None:
            log(f"[cavl] counting: the {name} starts from the {twin}'s weights; its row is that counter's")
            rows[name] = dict(rows[twin])
            continue
        starts[name] = start
        counter.compile(optimizer=counting_adam(recipe))
        counter.fit(train, epochs=recipe.counting_epochs, verbose=0)
        rates = np.concatenate([counter.predict(batch, verbose=0) for batch in test])  # once, for both rules
        rounded, floored = counter.counts_from_rates(rates, "round"), counter.counts_from_rates(rates, "mode")
        rows[name] = {
            "accuracy_round": count_accuracy(truth, rounded),
            "accuracy_floor": count_accuracy(truth, floored),
            "mae": count_mae(truth, rounded),
        }
    return rows


def run(size="small", seed=0, log=print):
    """Run the reproduction; return ``{table name: table, "seconds", "recipe"}``.

    Each table is an :func:`avcourse.reproduce.results.table`: ``{"columns":
    [label column, ...], "rows": {row: {column: value}}}``.
    """
    if size not in RECIPES:
        raise ValueError(f"`size` must be one of {sorted(RECIPES)}; received {size!r}.")
    recipe = RECIPES[size]
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    epochs = list(recipe.epochs_per_stage)
    tables = {}

    def elapsed():
        return f"{time.perf_counter() - started:.0f} s"

    with tempfile.TemporaryDirectory() as directory:
        log(f"[cavl] timbre: linear probes and trunk pretraining ({recipe.pretrain_examples} solo scenes) [{elapsed()}]")
        pretrained, held_out = _cached_pretrain(recipe, seed, directory, log=log)
        # The validation column: the audio trunk again, fitted on the "fit" phrases, scored on "validation" ones.
        _, validation = _cached_pretrain(recipe, seed, Path(directory) / "validation", log=log, split="fit",
                                         held_out_split="validation", modalities=("audio",))
        tables["timbre"] = table(
            ["classifier", "validation", "test"],
            {
                "linear probe (spectral mean+std)": {
                    "validation": timbre_probe(recipe, seed, "fit", "validation"),
                    "test": timbre_probe(recipe, seed, "train", "test"),
                },
                "pretrained audio trunk": {"validation": validation["audio"], "test": held_out["audio"]},
            },
        )

        recipe = calibrate_margin(recipe, pretrained, seed)
        log(f"[cavl] contrastive margin {recipe.margin:.2f} (median mismatched distance on C1 training scenes)")

        def pretrained_model():
            return build_model(recipe, pretrained)

        log(f"[cavl] curriculum C1 -> C2 -> C3, lr x{recipe.stage_decay} a stage, epochs {epochs} [{elapsed()}]")
        stages = curriculum_stages(3, base_learning_rate=recipe.learning_rate, decay=recipe.stage_decay, epochs=epochs)
        curriculum = train_stages(recipe, stages, seed, pretrained_model())
        c1_model, c2_model = curriculum.stage_models[:2]
        log(f"[cavl] C1 with the paper's k_v = k_a + 1 [{elapsed()}]")
        paper_clusters = dataclasses.replace(recipe, extra_visual_clusters=1)
        c1_paper_model = train_stages(paper_clusters, c1_stage(recipe), seed, build_model(paper_clusters, pretrained)).model
        log(f"[cavl] the paper's lr x{recipe.paper_stage_decay} a stage [{elapsed()}]")
        paper_stages = curriculum_stages(3, base_learning_rate=recipe.learning_rate, decay=recipe.paper_stage_decay, epochs=epochs)
        paper = train_stages(recipe, paper_stages[1:], seed, c1_model)
        log(f"[cavl] Fig. 4b: one C3 stage ({recipe.fig4b_epochs} epochs at {recipe.learning_rate}) from C2, from the "
            f"pretrained trunks, and mixed 1-3 sources [{elapsed()}]")
        test_three = scene_data(recipe, recipe.test_scenes, 3, TEST_SEED, "test", with_ground_truth=True)
        c3_stage = [dataclasses.replace(stages[2], epochs=recipe.fig4b_epochs, learning_rate=recipe.learning_rate)]
        starts = {
            "C3 from C2": (c3_stage, c2_model),
            "C3 from pretrained": (c3_stage, pretrained_model()),
            "mixed": (no_curriculum_stage(3, learning_rate=recipe.learning_rate, epochs=recipe.fig4b_epochs),
                      pretrained_model()),
        }
        fig4b, curves = {}, {}
        for name, (schedule, start) in starts.items():
            curve = MatchRocAucCurve(test_three, 3, 3 + recipe.extra_visual_clusters)
            fig4b[name] = train_stages(recipe, schedule, seed, start, callbacks=[curve])
            curves[name] = curve.values
        options = _counter_options(recipe)
        counters = {
            "random": SourceCounter(recipe.audio_trunk, audio_shape=c1_model.audio_shape, **options),
            "pretrained trunk": SourceCounter(recipe.audio_trunk, audio_shape=c1_model.audio_shape,
                                              audio_weights=pretrained["audio"], **options),
            "curriculum trunk": SourceCounter.from_cavl(curriculum.model, **options),
        }

    log(f"[cavl] localization on held-out one- and two-source scenes [{elapsed()}]")
    columns = ["method", "pointing", "mask_iou"]

    def localization(models, num_sources):
        test = scene_data(recipe, recipe.test_scenes, num_sources, TEST_SEED, "test", with_ground_truth=True)
        rows = {}
        for name, (model, extra) in models.items():
            clustered = _with_sources(model, num_sources, extra)
            result = object_localization_results(clustered, test, seed=seed)
            rows[f"{name} aligned"] = result["aligned"]
            if name == "C1":
                rows["C1 unaligned"] = result["unaligned"]
        for baseline in ("centre prior", "whole image", "random object", "all objects", "oracle"):
            rows[baseline] = result[baseline]
        return table(columns, rows), test

    extra = recipe.extra_visual_clusters
    models = {"C1": (c1_model, extra), "C2": (c2_model, extra), "C1 (paper k_v = k_a + 1)": (c1_paper_model, 1)}
    tables["localization"], _ = localization(models, 1)
    tables["localization_two_sources"], test_two = localization(models, 2)
    alignment = alignment_targets(_with_sources(c2_model, 2, recipe.extra_visual_clusters), test_two)
    tables["c2_alignment"] = table(["aligned visual centre lies on", "share"], {name: [value] for name, value in alignment.items()})

    log(f"[cavl] curriculum on held-out three-source scenes [{elapsed()}]")
    rows = {}
    for name, result in (*fig4b.items(), (f"curriculum (lr x{recipe.stage_decay} a stage)", curriculum), ("paper lr", paper)):
        model = _with_sources(result.model, 3, recipe.extra_visual_clusters)
        rows[name] = {
            "roc_auc": match_roc_auc(model, test_three),
            "pointing": object_localization_results(model, test_three, seed=seed)["aligned"]["pointing"],
        }
    tables["curriculum"] = table(["training", "roc_auc", "pointing"], rows)
    tables["curriculum_curve"] = table(
        ["start of the C3 stage"] + [f"epoch {epoch}" for epoch in range(1, recipe.fig4b_epochs + 1)], curves
    )

    log(f"[cavl] counting: random, pretrained and curriculum trunks [{elapsed()}]")
    tables["counting"] = table(["counter init", "accuracy_round", "accuracy_floor", "mae"], _counting(recipe, seed, counters, log))

    log(f"[cavl] the paper's protocol on the flickr layout [{elapsed()}]")
    flickr = scene_data(recipe, recipe.test_scenes, 1, TEST_SEED, "test", with_ground_truth=True,
                        scene_options={"layout": "flickr"})
    result = localization_results(c1_model, flickr, seed=seed)
    names = {"aligned centre": "C1 aligned", "unaligned centre": "C1 unaligned"}
    tables["flickr_protocol"] = table(
        ["method", "ciou@0.5", "auc"],
        {names.get(name, name): [values["ciou@0.5"], values["auc"]] for name, values in result.items()},
    )
    log(f"[cavl] done [{elapsed()}]")
    return {**tables, "seconds": time.perf_counter() - started, "recipe": dataclasses.asdict(recipe)}
