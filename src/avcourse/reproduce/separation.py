"""Miniature reproduction of CAVL's separation table (``avcourse reproduce separation``).

An analogue of CAVL's Table 4 on held-out two-source mixtures of the
synthetic world (``split="test"``: phrases never heard in training, seeds from
100000, never drawn in training):

1. A CAVL model is trained on stage C1 (one-source scenes) with the CAVL
   reproduction's recipe (:func:`avcourse.reproduce.cavl.train_c1_model`:
   2 s clips on its 64-row log-frequency grid, 128 px pictures). Its
   pretrained trunks are the CAVL reproduction's for the same seed: with
   ``avcourse reproduce --cache-dir`` (the CLI's default) a separation run
   after a CAVL run reads them (:mod:`avcourse.reproduce.cache`).
2. The same small :class:`~avcourse.models.UNetSeparator` is trained three
   times by mix-and-separate, with the same data, seed and budget, on the
   separation recipe's own grid (``SeparationRecipe.audio_config``: 2 s
   clips, 128 warped rows; the 64-row grid capped any mask, see
   ``SeparationRecipe``), and one visual vector per source from:

   * **Model-Mask**: the CAVL visual trunk's features max-pooled under the
     aligned visual centre's assignment
     (:func:`~avcourse.models.separator.cavl_visual_vectors`, ``mode="mask"``);
   * **Model-Center**: CAVL's aligned visual centre of the source's picture
     (``mode="center"``);
   * **oracle-box**: the instrument's one-hot vector
     (:func:`~avcourse.models.separator.visual_vectors_from_labels`), i.e.
     what a perfect recogniser reads from the object's exact box. The one-hot
     was chosen over trunk features max-pooled inside the true box because
     it takes the visual network out of the comparison altogether: it is the
     upper reference of visual conditioning, so the gap between it and
     Model-Center/Mask is the price of CAVL's unsupervised visual vectors, and
     its gap to the grid's ideal ratio mask is the separator's own.

   As in CAVL supp. 6.4, the vectors are extracted without labels from
   one-source scenes: each source's picture together with that source's own
   solo sound, for training and test mixtures alike. The solo sound is the
   CAVL model's own input, ``log1p`` of the source's warped magnitude on the
   CAVL recipe's 64-row grid, computed from the source's waveform at unit
   gain (the mixture holds it at gain ``1 / num_mix``) cut to the CAVL clip
   (:func:`mixtures` with ``cavl_solo=True``), so the CAVL model sees exactly
   the kind of input it was trained on while the separator works on its finer grid.
3. Every method is scored with BSS-eval (:func:`avcourse.metrics.bss_eval`):
   the visually guided outputs and the ideal masks without permutation
   search (they know which source they extract), NMF with it.

The table ``separation`` (``results/separation.json``) has the rows
``Model-Mask``, ``Model-Center``, ``oracle-box``, ``NMF`` (NMF-MFCC,
``nmf_components`` components, audio only), ``grid IRM`` (the ideal ratio mask
on the separator's log-frequency grid, unwarped for reconstruction as the
network's masks are: the true ceiling of the learned model), ``IRM 512`` and
``IBM 512`` (the ideal ratio and binary masks on the 512 linear bins) and
``mixture`` (the unprocessed mixture); the columns ``sdr``, ``sir``, ``sar``
(dB, mean over every source of the held-out mixtures) and
``grid_irm_gain_fraction``, the fraction of the grid IRM's SDR gain over the
mixture that each method reaches, ``(SDR - SDR_mix) / (SDR_grid-IRM - SDR_mix)``.

Nothing is tuned on the test mixtures (``tools/separation_validation.py``
makes the choices on validation mixtures). Sizes: ``"demo"`` (seconds) and
``"small"`` (minutes, the numbers in docs/results.md).

Taught in: tutorials/06_separation.ipynb
"""

import dataclasses
import time

import keras
import numpy as np

from avcourse import audio, baselines
from avcourse._validation import check_choice, check_number, check_positive_int
from avcourse.data import pipelines, world
from avcourse.data.world import SEPARATION_TRAIN_SEED as TRAIN_SEED  # training mixtures draw their scenes from seeds 20000 + ...
from avcourse.data.world import TEST_SEED
from avcourse.metrics.separation import bss_eval_batch
from avcourse.models.separator import MASK_TYPES, UNetSeparator, VisuallyGuidedSeparator, cavl_visual_vectors
from avcourse.reproduce import cavl as cavl_reproduction
from avcourse.reproduce.results import table

__all__ = [
    "COLUMNS",
    "CONDITIONINGS",
    "RECIPES",
    "ROWS",
    "SECTIONS",
    "SeparationRecipe",
    "baseline_estimates",
    "mixtures",
    "run",
    "score",
    "separate_mixtures",
    "train_separator",
]

SECTIONS = [("Separation of held-out two-source mixtures (cf. CAVL Table 4)", "separation")]

# The visually guided separators, in the table's order.
CONDITIONINGS = ("Model-Mask", "Model-Center", "oracle-box")
# Rows and columns of the table ``separation``.
ROWS = (*CONDITIONINGS, "NMF", "grid IRM", "IRM 512", "IBM 512", "mixture")
COLUMNS = ("method", "sdr", "sir", "sar", "grid_irm_gain_fraction")


@dataclasses.dataclass(frozen=True)
class SeparationRecipe:
    """Sizes and settings of one separation reproduction run (small CPU configs).

    Two audio grids. The CAVL model that gives the visual vectors is the CAVL
    reproduction's C1 model (``cavl``: 128 px pictures of the world's default
    layout, 2 s clips on 64 warped rows, ``cavl_audio_config``), trained on
    the kind of scenes it is used on. The separator and the mixtures use
    ``audio_config``: ``clip_seconds`` clips on ``warped_bins`` log-frequency
    rows. The grid caps any mask the network predicts: on 50 validation
    mixtures (2 s) the ideal ratio mask on a 64-row grid scored 12.46 dB
    SDR, on 128 rows 17.10 dB, on 256 rows 20.30 dB, against 21.89 dB on the
    512 linear bins (the ideal binary mask there 21.34 dB, NMF 5.53 dB, the
    mixture 0.19 dB; the previous world, 1 s clips: 11.79 dB at 64 rows,
    22.85 dB at 512 bins). 128 rows gains 4.6 dB of ceiling at twice the
    64-row U-Net's cost; 256 rows would double that cost again for 3.2 dB.

    The separator is the paper's U-Net shrunk to those spectrograms
    (``depth`` blocks, channels ``base_channels`` doubling per block, a
    ``visual_units``-unit visual layer), Adam ``learning_rate``, ``epochs``
    over ``train_mixtures`` mixtures. ``mask_type`` and ``weighted`` are the
    separator's (CAVL Eq 8 is ``"ratio"`` with L1, unweighted; Sound of
    Pixels' is ``"binary"`` with BCE under the ``log1p(|S_mix|)`` weighting).
    ``normalize_masks`` divides each mixture's two masks by their sum in
    every bin, in training and at inference
    (``VisuallyGuidedSeparator(normalize_masks=True)``; neither paper does:
    both predict each source's mask on its own, so the separated sources
    need not add up to the mixture; on in ``"small"``, chosen on validation
    below).

    Choices, made with the oracle identity on validation mixtures
    (``tools/separation_validation.py``: trained on ``split="fit"`` mixtures,
    phrases the validation never plays; SDR on 50 ``split="validation"``
    mixtures, seeds from ``VALIDATION_SEED``; the test split never read;
    grid IRM 17.10 dB). With 512 mixtures and 8 epochs: the binary mask
    (BCE) under the ``log1p(|S_mix|)`` weighting 6.92 dB, unweighted 4.15 dB;
    the ratio mask (L1) weighted 5.46 dB, unweighted (CAVL's Eq 8) 3.70 dB;
    at the binary weighted setting depth 5 6.99 dB, 32 base channels
    7.06 dB (twice the training time), batch 8 6.99 dB (1.6 times the
    time), learning rate 3e-3 7.28 dB; 16 epochs 8.17 dB (12: 7.29 dB). The
    width and depth buy nothing the budget cannot buy better as data and
    epochs: 2048 mixtures gave 8.60 dB after 4 epochs and 10.68 dB after 8
    (learning rate 1e-3); at learning rate 3e-3, 10.84 dB after 8 epochs,
    12.41 dB after 14 and 12.97 dB after the previous recipe's 20, 4.1 dB
    below the grid's ceiling; 12.75 dB after 26 and 12.83 dB after 32 while
    the training loss kept falling (0.049 to 0.039). 4096 mixtures for 10
    epochs (the same steps) gave 13.46 dB; dividing the trained model's
    two masks by their sum at inference 14.09 dB; training with the
    normalised masks 14.16 dB (14.24 dB normalised again), 2.9 dB under
    the grid's ceiling: the ``"small"`` recipe (before it, 2048 mixtures x
    20 epochs without normalisation; ``results/separation.json`` as of
    commit b19eebe). Not taken: a cosine decay of the rate (12.54 dB;
    13.26 dB normalised at inference); BCE against the ratio mask clipped
    to [0, 1] instead of the binary mask (1024 mixtures x 8 epochs: 8.90
    against 8.85 dB); sharpening the normalised masks (``m^γ``, γ = 1.5:
    +0.1 dB).
    """

    cavl: cavl_reproduction.CavlRecipe = cavl_reproduction.RECIPES["small"]
    train_mixtures: int = 4096
    test_mixtures: int = 100
    epochs: int = 10
    batch_size: int = 16
    learning_rate: float = 3e-3
    depth: int = 4
    base_channels: int = 16
    visual_units: int = 64
    nmf_components: int = 16
    mask_type: str = "binary"
    weighted: bool = True
    normalize_masks: bool = True
    clip_seconds: float = 2.0
    warped_bins: int = 128

    def __post_init__(self):
        if not isinstance(self.cavl, cavl_reproduction.CavlRecipe):
            raise ValueError(f"`cavl` must be a CavlRecipe; received {type(self.cavl).__name__}.")
        for name in ("train_mixtures", "test_mixtures", "epochs", "batch_size", "depth", "base_channels",
                     "visual_units", "nmf_components", "warped_bins"):
            check_positive_int(getattr(self, name), name)
        check_number(self.learning_rate, "learning_rate", minimum=0, exclusive_minimum=True)
        check_choice(self.mask_type, "mask_type", MASK_TYPES)
        for name in ("weighted", "normalize_masks"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` must be a bool; received {getattr(self, name)!r}.")
        if self.audio_config.sample_rate != self.cavl_audio_config.sample_rate:
            raise ValueError(
                f"`cavl` must use the separator's sample rate ({self.audio_config.sample_rate} Hz); "
                f"received {self.cavl_audio_config.sample_rate} Hz."
            )

    @property
    def audio_config(self):
        """The separator's grid: ``clip_seconds`` clips on ``warped_bins`` rows (mixtures, masks, targets)."""
        return audio.AudioConfig(clip_seconds=self.clip_seconds, num_warped_bins=self.warped_bins)

    @property
    def cavl_audio_config(self):
        """The CAVL model's grid (its recipe's: 64 rows), on which the solo sounds are computed."""
        return self.cavl.audio_config


RECIPES = {
    "demo": SeparationRecipe(
        cavl=dataclasses.replace(cavl_reproduction.RECIPES["demo"], train_scenes=64, epochs_per_stage=(1, 1, 1)),
        train_mixtures=16,
        test_mixtures=3,
        epochs=1,
    ),
    "small": SeparationRecipe(),
}


def mixtures(recipe, count, seed, split, *, with_waveforms=False, cavl_solo=False, image_size=None, chunk=256):
    """Every example of ``mix_separate_dataset`` on the recipe's grid, as numpy arrays (dict of (count, ...) arrays).

    Args:
        recipe: a :class:`SeparationRecipe` (its ``audio_config``; pictures of
            ``recipe.cavl.image_size`` px unless ``image_size`` is given).
        count: how many mixtures to draw.
        seed: the first scene seed (``mix_separate_dataset``'s).
        split: the phrases the scenes play (``"train"``, ``"test"``, ...).
        with_waveforms: keep ``mixture_waveform`` and ``source_waveforms``.
        cavl_solo: add ``"cavl_solo"`` (count, num_mix, rows, frames, 1): each
            source's solo sound as the CAVL model's input, ``log1p`` of its
            warped magnitude on ``recipe.cavl_audio_config`` from its waveform
            at unit gain, cut or padded to the CAVL clip.
        image_size: picture size (e.g. small when only the oracle is trained).
        chunk: examples per batched front-end call of the solo sounds.
    """
    dataset = pipelines.mix_separate_dataset(
        count,
        num_mix=2,
        seed=seed,
        batch_size=None,
        image_size=recipe.cavl.image_size if image_size is None else image_size,
        config=recipe.audio_config,
        split=split,
        with_waveforms=with_waveforms or cavl_solo,
        cache=False,
    )
    cavl_config = recipe.cavl_audio_config
    examples, solo, pending = [], [], []

    def flush():
        if pending:
            sources = audio.fit_length(np.stack(pending), cavl_config.num_samples)
            solo.append(pipelines.log1p_features(sources, cavl_config))
            pending.clear()

    for example in dataset.as_numpy_iterator():
        if cavl_solo:
            sources = example["source_waveforms"]
            pending.append(sources * len(sources))  # mixed at gain 1 / num_mix; float32 * 2 is exact
            if len(pending) == chunk:
                flush()
        if not with_waveforms:
            example.pop("mixture_waveform", None)
            example.pop("source_waveforms", None)
        examples.append(example)
    flush()
    data = {key: np.stack([example[key] for example in examples]) for key in examples[0]}
    if cavl_solo:
        data["cavl_solo"] = np.concatenate(solo)
    return data


def _visual_vectors(model, data, mode):
    """CAVL vectors (count, num_mix, dim) from each source's picture and its solo sound on the CAVL grid."""
    count, num_mix = data["labels"].shape
    solo = data["cavl_solo"]
    images = data["images"].reshape((-1,) + data["images"].shape[2:])
    vectors = cavl_visual_vectors(model, images, solo.reshape((-1,) + solo.shape[2:]), mode=mode)
    return vectors.reshape(count, num_mix, -1)


def _separator(recipe, conditioning, visual_dim, seed):
    keras.utils.set_random_seed(seed)
    unet = UNetSeparator(
        depth=recipe.depth,
        base_channels=recipe.base_channels,
        visual_dim=visual_dim,
        visual_units=recipe.visual_units,
        mask_type=recipe.mask_type,
        weighted=recipe.weighted,
    )
    model = VisuallyGuidedSeparator(
        unet, conditioning="oracle" if conditioning == "oracle-box" else "visual", normalize_masks=recipe.normalize_masks
    )
    model.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate))
    return model


def _inputs(data, visual):
    keys = ("mixture", "mixture_magnitude", "source_magnitudes", "labels")
    inputs = {key: data[key] for key in keys}
    if visual is not None:
        inputs["visual"] = visual
    return inputs


def train_separator(recipe, conditioning, data, visual, seed, callbacks=None):
    """A :class:`VisuallyGuidedSeparator` of the recipe trained on ``data`` (:func:`mixtures`); ``(model, final loss)``.

    ``conditioning`` is ``"oracle-box"`` (the one-hot of ``data["labels"]``;
    ``visual`` is ``None``) or another name, whose vectors are ``visual``
    (count, num_mix, dim).
    """
    import tensorflow as tf

    visual_dim = len(world.instrument_names()) if visual is None else visual.shape[-1]
    model = _separator(recipe, conditioning, visual_dim, seed)
    dataset = (
        tf.data.Dataset.from_tensor_slices(_inputs(data, visual))
        .shuffle(len(data["labels"]), seed=seed, reshuffle_each_iteration=True)
        .batch(recipe.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    history = model.fit(dataset, epochs=recipe.epochs, verbose=0, callbacks=callbacks)
    return model, history.history["loss"][-1]


def separate_mixtures(recipe, model, data, visual=None):
    """The separated waveforms (count, num_mix, samples) of ``data``'s mixtures (needs ``with_waveforms``)."""
    masks = model.predict(_inputs(data, visual), batch_size=recipe.batch_size, verbose=0)
    return np.asarray(audio.reconstruct_sources(np.asarray(masks), data["mixture_waveform"], recipe.audio_config))


def score(references, estimates, permute=False):
    """Mean SDR, SIR and SAR (dB) over every scored source: ``{"sdr", "sir", "sar"}`` floats."""
    result = bss_eval_batch(references, estimates, permute)
    return {key: float(np.nanmean(result[key])) for key in ("sdr", "sir", "sar")}


def baseline_estimates(recipe, data, seed=0, names=None):
    """The audio-only rows' estimates ``{row: (waveforms, permute)}`` on ``data`` (needs ``with_waveforms``).

    ``names``: the rows to compute, among ``"NMF"``, ``"grid IRM"``,
    ``"IRM 512"``, ``"IBM 512"`` and ``"mixture"`` (default: all of them).
    """
    known = ("grid IRM", "NMF", "IRM 512", "IBM 512", "mixture")
    if names is not None and (isinstance(names, str) or not set(names) <= set(known)):
        raise ValueError(f"`names` must be a list of rows among {list(known)}; received {names!r}.")
    config = recipe.audio_config
    estimates = {}
    grid_masks = np.asarray(audio.ratio_mask(data["source_magnitudes"], data["mixture_magnitude"][:, None]))
    estimates["grid IRM"] = (np.asarray(audio.reconstruct_sources(grid_masks, data["mixture_waveform"], config)), False)
    per_mixture = {
        "NMF": (lambda s, m: baselines.nmf_separation(m, len(s), config, n_components=recipe.nmf_components, seed=seed), True),
        "IRM 512": (lambda s, m: baselines.ideal_ratio_mask_separation(s, m, config), False),
        "IBM 512": (lambda s, m: baselines.ideal_binary_mask_separation(s, m, config), False),
        "mixture": (lambda s, m: baselines.mixture_as_estimate(m, len(s)), False),
    }
    for name, (method, permute) in per_mixture.items():
        if names is not None and name not in names:
            continue
        outputs = np.stack([method(s, m) for s, m in zip(data["source_waveforms"], data["mixture_waveform"])])
        estimates[name] = (outputs, permute)
    return {name: estimates[name] for name in known if names is None or name in names}


def run(size="small", seed=0, log=print):
    """Run the reproduction; return ``{"separation": table, "seconds", "recipe"}``.

    ``"separation"`` is an :func:`avcourse.reproduce.results.table` with the
    rows :data:`ROWS` and the columns :data:`COLUMNS`: mean SDR, SIR and SAR
    in dB over every source of the held-out mixtures, and the fraction of the
    grid IRM's SDR gain over the mixture.
    """
    if size not in RECIPES:
        raise ValueError(f"`size` must be one of {sorted(RECIPES)}; received {size!r}.")
    recipe = RECIPES[size]
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()

    def elapsed():
        return f"{time.perf_counter() - started:.0f} s"

    log(f"[separation] CAVL C1 ({recipe.cavl.train_scenes} one-source scenes, {recipe.cavl.epochs_per_stage[0]} epochs, "
        f"{recipe.cavl_audio_config.num_warped_bins} rows)")
    cavl_model = cavl_reproduction.train_c1_model(recipe.cavl, seed, log=log)

    log(f"[separation] {recipe.train_mixtures} training mixtures, {recipe.test_mixtures} held-out test mixtures "
        f"({recipe.clip_seconds:g} s, {recipe.warped_bins} rows) [{elapsed()}]")
    train = mixtures(recipe, recipe.train_mixtures, TRAIN_SEED + seed, "train", cavl_solo=True)
    test = mixtures(recipe, recipe.test_mixtures, TEST_SEED, "test", with_waveforms=True, cavl_solo=True)
    references = test["source_waveforms"]

    estimates = {}
    for conditioning in CONDITIONINGS:
        mode = {"Model-Center": "center", "Model-Mask": "mask"}.get(conditioning)
        train_visual = None if mode is None else _visual_vectors(cavl_model, train, mode)
        test_visual = None if mode is None else _visual_vectors(cavl_model, test, mode)
        model, loss = train_separator(recipe, conditioning, train, train_visual, seed)
        log(f"[separation] {conditioning}: {recipe.epochs} epochs, final training loss {loss:.4f} [{elapsed()}]")
        estimates[conditioning] = (separate_mixtures(recipe, model, test, test_visual), False)

    log(f"[separation] baselines and BSS-eval [{elapsed()}]")
    estimates.update(baseline_estimates(recipe, test, seed))
    scores = {name: score(references, outputs, permute) for name, (outputs, permute) in estimates.items()}
    mixture_sdr, ceiling_sdr = scores["mixture"]["sdr"], scores["grid IRM"]["sdr"]
    rows = {
        name: {**scores[name], "grid_irm_gain_fraction": (scores[name]["sdr"] - mixture_sdr) / (ceiling_sdr - mixture_sdr)}
        for name in ROWS
    }
    log(f"[separation] done [{elapsed()}]")
    return {
        "separation": table(list(COLUMNS), rows),
        "seconds": time.perf_counter() - started,
        "recipe": dataclasses.asdict(recipe),
    }
