"""Miniature reproduction of CAVL on the synthetic world (``avcourse reproduce cavl``).

Both trunks are first pretrained as instrument classifiers on labelled
one-object pictures and solo clips (:mod:`avcourse.training.pretrain`), the
synthetic world's stand-in for the paper's ImageNet-pretrained VGG16 and
AudioSet-pretrained VGGish; every CAVL model below starts from those weights.
Then four tables, each an analogue of one of the paper's, on held-out scenes
(``split="test"``: phrases never heard in training, seeds never drawn in
training):

0. Trunk pretraining: training and held-out classification accuracy.
1. Localization (cf. §4.4): cIoU@0.5 and AUC of the C1-trained and C2-trained
   models' aligned-centre heatmaps, the unaligned-centre ablation, and the
   whole-image, centre-prior and random baselines, and a C1 model whose
   trunks start from random weights (what pretraining buys).
2. Curriculum (cf. Fig. 4): C1 → C2 → C3 against the no-curriculum baseline
   (all clips mixed, one k) at an equal number of training steps: final
   contrastive loss and match accuracy on held-out three-source scenes.
3. Counting (cf. Table 2): a Poisson counter from random init, from the
   pretrained audio trunk and from the curriculum-trained audio trunk, with
   the same fine-tuning budget.

Nothing is tuned on the test scenes. Sizes: ``"demo"`` (seconds, run by
``avcourse demo``) and ``"small"`` (minutes, the numbers in docs/results.md).

Taught in: tutorials/03_curriculum.ipynb, tutorials/04_localization.ipynb
"""

import dataclasses
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from avcourse import audio
from avcourse.data import pipelines
from avcourse.metrics.counting import count_accuracy, count_mae
from avcourse.models import CAVLModel, SourceCounter
from avcourse.training.curriculum import curriculum_stages, no_curriculum_stage, run_curriculum
from avcourse.training.evaluation import localization_results
from avcourse.training.pretrain import pretrain_trunk

TEST_SEED = 100_000
PRETRAIN_SEED = 300_000  # pretraining scenes: seeds no CAVL stage, validation or test set draws

# (title, key of run()'s result) of each table, in report order (``avcourse reproduce cavl``).
SECTIONS = [
    ("Trunk pretraining (stand-in for ImageNet / AudioSet)", "pretraining"),
    ("Localization on held-out one-source scenes", "localization"),
    ("Curriculum vs no curriculum at equal steps (held-out three-source scenes)", "curriculum"),
    ("Counting (held-out scenes with 1-4 sources)", "counting"),
]


@dataclasses.dataclass(frozen=True)
class CavlRecipe:
    """Sizes and settings of one reproduction run (small CPU configs).

    ``pretrain_examples`` labelled one-source scenes pretrain each trunk as an
    instrument classifier for ``pretrain_epochs`` (0 examples: trunks from
    random weights). The learning rate is larger than the paper's 1e-4 (and gradients are
    clipped) because the trunks start from random weights instead of
    large labelled sets. The visual trunk has a small receptive
    field (``"patch_visual"``) so that the audio centre aligns with the
    object's cluster rather than with the background's. Pictures are 64 px
    (an 8 x 8 visual map), chosen on validation scenes that play phrases the
    networks never heard (trained on phrases 0-3, validated on 4-5, seeds
    0 and 1; ``split="fit"`` and ``split="validation"`` of the world): C1's
    cIoU@0.5 was 0.328 / 0.324 at 64 px against 0.180 / 0.203 at 96 px
    (docs/results.md). Validation scenes that play the training
    phrases had ranked 96 px first, and misled.
    """

    train_scenes: int = 1024
    test_scenes: int = 256
    epochs_per_stage: tuple = (90, 30, 30)
    batch_size: int = 32
    image_size: int = 64
    embedding_dim: int = 64
    stiffness: float = 30.0
    init: str = "farthest"
    margin: float = 1.0
    learning_rate: float = 1e-3
    clipnorm: float = 1.0
    visual_trunk: str = "patch_visual"
    object_scale: tuple = (0.5, 0.7)
    counting_scenes: int = 1024
    counting_epochs: int = 10
    pretrain_examples: int = 1024
    pretrain_epochs: int = 15

    @property
    def audio_config(self):
        return audio.AudioConfig(clip_seconds=1.0, num_warped_bins=64)


RECIPES = {
    "demo": CavlRecipe(
        train_scenes=128,
        test_scenes=32,
        epochs_per_stage=(2, 1, 1),
        counting_scenes=128,
        counting_epochs=1,
        pretrain_examples=128,
        pretrain_epochs=1,
    ),
    "small": CavlRecipe(),
}


def _scenes(recipe, count, num_sources, seed, split, **kwargs):
    return pipelines.scene_dataset(
        count,
        num_sources=num_sources,
        seed=seed,
        batch_size=recipe.batch_size,
        image_size=recipe.image_size,
        config=recipe.audio_config,
        split=split,
        scene_options={"object_scale": recipe.object_scale} if num_sources == 1 else None,
        **kwargs,
    )


def _model(recipe, weights=None):
    weights = weights or {}
    return CAVLModel(
        "small_audio",
        recipe.visual_trunk,
        audio_shape=(recipe.audio_config.num_warped_bins, recipe.audio_config.num_frames, 1),
        image_shape=(recipe.image_size, recipe.image_size, 3),
        embedding_dim=recipe.embedding_dim,
        stiffness=recipe.stiffness,
        init=recipe.init,
        margin=recipe.margin,
        audio_weights=weights.get("audio"),
        visual_weights=weights.get("image"),
    )


def pretrain(recipe, seed, directory):
    """Pretrain both trunks of a fresh CAVL model as instrument classifiers.

    ``recipe.pretrain_examples`` one-source scenes (seeds from
    ``PRETRAIN_SEED + seed``, training phrases) with their instrument labels;
    the held-out accuracy is measured on test scenes. The trunks' weights are
    saved under ``directory``.

    Returns:
        ``(weights, rows)``: ``{"audio": path, "image": path}`` for
        ``CAVLModel(audio_weights=..., visual_weights=...)``, and the table
        rows ``[trunk, train accuracy, held-out accuracy]``.
    """
    model = _model(recipe)
    train = _scenes(recipe, recipe.pretrain_examples, 1, PRETRAIN_SEED + seed, "train", with_labels=True,
                    shuffle=recipe.pretrain_examples)
    held_out = _scenes(recipe, recipe.test_scenes, 1, TEST_SEED, "test", with_labels=True)
    weights, rows = {}, []
    streams = (
        ("audio", "audio", model.audio_trunk, model.audio_trunk_config),
        ("image", "visual", model.visual_trunk, model.visual_trunk_config),
    )
    for modality, stream, trunk, config in streams:
        history = pretrain_trunk(trunk, train, modality=modality, epochs=recipe.pretrain_epochs,
                                 learning_rate=recipe.learning_rate, validation_data=held_out).history
        weights[modality] = str(Path(directory) / f"{modality}_trunk.weights.h5")
        trunk.save_weights(weights[modality])
        rows.append([f"{stream} ({config})", history["accuracy"][-1], history["val_accuracy"][-1]])
    return weights, rows


def _train_stages(recipe, stages, seed, weights=None):
    def make_dataset(stage):
        return _scenes(recipe, recipe.train_scenes, list(stage.num_sources), seed, "train", shuffle=recipe.train_scenes)

    def optimizer(learning_rate):
        return keras.optimizers.Adam(learning_rate, clipnorm=recipe.clipnorm)

    return run_curriculum(_model(recipe, weights), make_dataset, stages, optimizer=optimizer)


def _c1_stage(recipe):
    return curriculum_stages(1, base_learning_rate=recipe.learning_rate, epochs=[recipe.epochs_per_stage[0]])


def train_c1_model(recipe, seed=0):
    """A CAVL model trained on stage C1 only (one-source scenes, ``k_a = 1``, ``k_v = 2``).

    The trunks are pretrained first (:func:`pretrain`, unless
    ``recipe.pretrain_examples`` is 0), then the first stage of this recipe's
    curriculum runs (``recipe.epochs_per_stage[0]`` epochs at
    ``recipe.learning_rate``), as in :func:`run`; the separation reproduction
    extracts its visual vectors from such a model (CAVL supp. 6.4).
    """
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as directory:
        weights = pretrain(recipe, seed, directory)[0] if recipe.pretrain_examples else None
        return _train_stages(recipe, _c1_stage(recipe), seed, weights).model


def run(size="small", seed=0, log=print):
    """Run the reproduction; return ``{"pretraining", "localization", "curriculum", "counting", "seconds", "recipe"}``.

    Each table is a list of rows (lists) with a header row first.
    """
    if size not in RECIPES:
        raise ValueError(f"`size` must be one of {sorted(RECIPES)}; received {size!r}.")
    recipe = RECIPES[size]
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    base_lr = recipe.learning_rate
    epochs = list(recipe.epochs_per_stage)

    with tempfile.TemporaryDirectory() as directory:
        log(f"[cavl] pretraining both trunks as instrument classifiers ({recipe.pretrain_examples} scenes)")
        weights, pretraining = pretrain(recipe, seed, directory)
        log(f"[cavl] curriculum C1 -> C2 -> C3 ({recipe.train_scenes} scenes a stage, epochs {epochs})")
        stages = curriculum_stages(3, base_learning_rate=base_lr, decay=0.1, epochs=epochs)
        curriculum = _train_stages(recipe, stages, seed, weights)
        c1_model, c2_model = curriculum.stage_models[:2]
        log("[cavl] no-curriculum baseline at the same number of steps")
        mixed = _train_stages(recipe, no_curriculum_stage(3, learning_rate=base_lr, epochs=sum(epochs)), seed, weights)
        audio_shape = curriculum.model.audio_shape
        counter_from_pretraining = SourceCounter("small_audio", audio_shape=audio_shape, audio_weights=weights["audio"])
    log("[cavl] C1 from random trunks (what pretraining buys)")
    scratch_c1 = _train_stages(recipe, _c1_stage(recipe), seed).model

    log("[cavl] localization on held-out one-source scenes")
    test_one = _scenes(recipe, recipe.test_scenes, 1, TEST_SEED, "test", with_ground_truth=True)
    c1 = localization_results(c1_model, test_one, seed=seed)
    c2 = localization_results(c2_model.with_num_clusters(1), test_one, seed=seed)
    localization = [["method", "cIoU@0.5", "AUC"]]
    localization.append(["C1-trained, aligned centre", c1["aligned centre"]["ciou@0.5"], c1["aligned centre"]["auc"]])
    localization.append(["C2-trained, aligned centre", c2["aligned centre"]["ciou@0.5"], c2["aligned centre"]["auc"]])
    localization.append(["C1-trained, unaligned centre", c1["unaligned centre"]["ciou@0.5"], c1["unaligned centre"]["auc"]])
    scratch = localization_results(scratch_c1, test_one, seed=seed)["aligned centre"]
    localization.append(["C1-trained from random trunks, aligned centre", scratch["ciou@0.5"], scratch["auc"]])
    for baseline in ("whole image", "centre prior", "random"):
        localization.append([baseline, c1[baseline]["ciou@0.5"], c1[baseline]["auc"]])

    log("[cavl] curriculum vs no curriculum on held-out three-source scenes")
    test_three = _scenes(recipe, recipe.test_scenes, 3, TEST_SEED, "test")
    curriculum_table = [["training", "steps", "train loss (last epoch)", "test loss", "test match accuracy"]]
    for name, result in (("curriculum C1→C2→C3", curriculum), ("no curriculum (mixed, k_a = 3)", mixed)):
        model = result.model.with_num_clusters(3)
        model.compile()
        scores = model.evaluate(test_three, verbose=0, return_dict=True)
        steps = sum(len(h["loss"]) for h in result.histories) * int(np.ceil(recipe.train_scenes / recipe.batch_size))
        curriculum_table.append([name, steps, result.histories[-1]["loss"][-1], scores["loss"], scores["match_accuracy"]])

    log("[cavl] counting: random init vs curriculum init")
    counting = [["counter init", "test accuracy", "test MAE"]]
    train_counts = _scenes(recipe, recipe.counting_scenes, [1, 2, 3, 4], seed + 50_000, "train", shuffle=recipe.counting_scenes)
    test_counts = _scenes(recipe, recipe.test_scenes, [1, 2, 3, 4], TEST_SEED, "test")
    truth = np.concatenate([np.asarray(batch["num_sources"]) for batch in test_counts])
    for name, counter in (
        ("random", SourceCounter("small_audio", audio_shape=audio_shape)),
        ("pretrained audio trunk (classification only)", counter_from_pretraining),
        ("curriculum-trained audio trunk", SourceCounter.from_cavl(curriculum.model)),
    ):
        counter.compile(optimizer=keras.optimizers.Adam(base_lr))
        counter.fit(train_counts, epochs=recipe.counting_epochs, verbose=0)
        predicted = np.concatenate([counter.predict_counts(batch) for batch in test_counts])
        counting.append([name, count_accuracy(truth, predicted), count_mae(truth, predicted)])
    constant = np.full_like(truth, 2)
    counting.append(["constant 2 (best constant for MAE)", count_accuracy(truth, constant), count_mae(truth, constant)])

    return {
        "pretraining": [["trunk", "train accuracy", "held-out accuracy"]] + pretraining,
        "localization": localization,
        "curriculum": curriculum_table,
        "counting": counting,
        "seconds": time.perf_counter() - started,
        "recipe": dataclasses.asdict(recipe),
    }
