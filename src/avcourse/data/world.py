"""The synthetic audio-visual world: scenes with exact ground truth.

A scene is a picture of a few instruments (emoji sprites rendered once from Noto
Color Emoji, plus drawn ones) on a random background, and the sound of the ones
that play (phrases rendered once with FluidSynth). Because the scene is
composed, everything a real dataset can only approximate is known exactly:
which object sounds, its pixels (``object_masks``, from the sprite's alpha),
its box, its own waveform inside the mixture, how many sources there are, the
AudioSet-style labels (with their ancestors, so the level-3 reduction of CAVL
is exercised) and a consensus map built from three "annotators" whose boxes
are jittered copies of the true ones (DESIGN §3.4).

Two layouts:

* ``"instruments"`` (default): 128 px pictures that show the sounding
  instruments **and at least one silent instrument of another class** (plus
  0-1 non-instrument distractor), sides 0.28-0.40 of the picture, placed
  uniformly without overlap. The question CAVL answers, *which* object
  sounds, cannot be answered without the sound: the picture's centre pixel
  lies on the sounding object in 0.045 of one-source scenes (seeds 0-199),
  and a random object of the picture is right one time in 2-3.
* ``"flickr"``: one large object (sides 0.5-0.7) and nothing else, like
  SoundNet-Flickr's centred sources, for the paper's protocol (consensus map,
  cIoU, AUC). Every such object covers the picture's centre, so the centre
  prior scores high by construction; that is the point of the comparison.

The sound carries timbre rather than a memorised phrase: every source is a
random 2 s-or-so crop (the config's clip length) of one of sixteen phrases of
its instrument, pitch-shifted by up to ±2 semitones (resampling), with a
random gain; the mixture is then brought to a random loudness, so that
neither the level of the mixture nor of a source tells how many play.

Everything is deterministic: the same seed and arguments give the same scene.

Taught in: tutorials/00_audio_visual_world.ipynb
"""

import dataclasses
import functools

import numpy as np
import soxr
from PIL import Image

from avcourse import audio
from avcourse._validation import (
    check_bool,
    check_choice,
    check_nonnegative_int,
    check_number,
    check_positive_int,
)
from avcourse.data import manifest, sample_path

__all__ = [
    "CCOL_TRAIN_SEED",
    "FLICKR_OBJECT_SCALE",
    "INSTRUMENT_OBJECT_SCALE",
    "LAYOUTS",
    "MASK_ALPHA",
    "MIXTURE_RMS",
    "NUM_ANNOTATORS",
    "PRETRAIN_SEED",
    "SEPARATION_TRAIN_SEED",
    "SPLITS",
    "TEST_SEED",
    "VALIDATION_SEED",
    "Scene",
    "crop_object",
    "distractor_names",
    "instrument_names",
    "instrument_phrase",
    "make_scene",
]

SPLITS = ("train", "test", "all", "fit", "validation")
LAYOUTS = ("instruments", "flickr")
NUM_ANNOTATORS = 3
# Sides of the objects as a fraction of the picture, per layout (DESIGN §4).
INSTRUMENT_OBJECT_SCALE = (0.28, 0.40)
FLICKR_OBJECT_SCALE = (0.5, 0.7)
# A sprite pixel belongs to its object where the resized sprite is at least half opaque.
MASK_ALPHA = 0.5
# Loudness of the mixture (RMS) is drawn from this range, or fixed at its middle without random gains.
MIXTURE_RMS = (0.05, 0.12)

# Seeds of the reproductions and tutorials: training scenes draw seeds from 0,
# held-out test scenes from TEST_SEED, validation scenes (for choosing
# recipes) from VALIDATION_SEED, and pretraining scenes from PRETRAIN_SEED, so
# no two roles ever share a scene.
TEST_SEED = 100_000
"""First seed of held-out test scenes (validation: ``VALIDATION_SEED``, pretraining: ``PRETRAIN_SEED``)."""
VALIDATION_SEED = 200_000
PRETRAIN_SEED = 300_000
# Training mixtures of the separation reproduction draw their scenes from
# SEPARATION_TRAIN_SEED + ..., training samples of the CCoL reproduction from CCOL_TRAIN_SEED + ...
SEPARATION_TRAIN_SEED = 20_000
CCOL_TRAIN_SEED = 30_000


@dataclasses.dataclass
class Scene:
    """One synthetic audio-visual scene.

    Attributes:
        image: uint8 (H, W, 3) picture.
        boxes: int (num_objects, 4) tight boxes ``[x1, y1, x2, y2]`` in pixels
            (x2, y2 exclusive) of every object in the picture.
        object_masks: bool (num_objects, H, W), each object's exact pixels (its
            sprite's alpha >= 0.5), in the order of ``boxes``, ``labels`` and
            ``sounding``.
        labels: name of every object (an instrument or ``distractor_<name>``).
        sounding: bool (num_objects,), whether each object plays.
        sources: float32 (num_sources, samples), each sounding object's waveform
            as it sounds inside the mixture (gain applied), in the order of the
            sounding objects.
        mixture: float32 (samples,), the sum of ``sources`` clipped to [-1, 1].
        annotator_boxes: three lists of jittered boxes of the sounding objects.
        consensus_map: float32 (map_size, map_size) ground-truth map
            ``min(Σ annotator masks / 2, 1)``.
        audioset_labels: sorted AudioSet mids of the sounding instruments and
            all their ontology ancestors.
        pitch_shifts: float (num_sources,), each source's pitch shift in semitones.
        seed: the seed the scene was drawn from.
        sample_rate: audio sample rate.
        layout: ``"instruments"`` or ``"flickr"`` (see :func:`make_scene`).
    """

    image: np.ndarray
    boxes: np.ndarray
    object_masks: np.ndarray
    labels: list
    sounding: np.ndarray
    sources: np.ndarray
    mixture: np.ndarray
    annotator_boxes: list
    consensus_map: np.ndarray
    audioset_labels: list
    pitch_shifts: np.ndarray
    seed: int
    sample_rate: int = 11025
    layout: str = "instruments"

    @property
    def num_sources(self):
        """Number of sounding objects."""
        return int(np.sum(self.sounding))

    @property
    def source_labels(self):
        """Names of the sounding objects, in the order of ``sources``."""
        return [label for label, plays in zip(self.labels, self.sounding) if plays]

    @property
    def sounding_boxes(self):
        """Boxes of the sounding objects, in the order of ``sources``."""
        return self.boxes[self.sounding]

    @property
    def sounding_masks(self):
        """Pixel masks (num_sources, H, W) of the sounding objects, in the order of ``sources``."""
        return self.object_masks[self.sounding]

    def spectrograms(self, config=None):
        """Exact per-source and mixture magnitude spectrograms.

        Returns:
            ``(source_magnitudes (num_sources, 512, frames), mixture_magnitude (512, frames))``
            as numpy arrays.
        """
        sources = np.asarray(audio.spectrogram(self.sources, config))
        return sources, np.asarray(audio.spectrogram(self.mixture, config))


def instrument_names():
    """Names of the bundled instruments, sorted."""
    return sorted(manifest()["instruments"])


def distractor_names():
    """Names of the bundled silent distractor objects, sorted."""
    return sorted(manifest()["distractors"])


@functools.lru_cache(maxsize=None)
def _stem(path, sample_rate):
    return audio.load_audio(sample_path(path), audio.AudioConfig(sample_rate=sample_rate))


@functools.lru_cache(maxsize=None)
def _sprite(path):
    return np.asarray(Image.open(sample_path(path)).convert("RGBA"))


def _phrases(instrument, split):
    info = manifest()
    stems = info["instruments"][instrument]["stems"]
    held_out = info["test_phrases"]
    train = stems[:-held_out]
    if split == "train":
        return train
    if split == "test":
        return stems[-held_out:]
    # Choosing a recipe: hold out as many of the training phrases as the test
    # split holds, so validation meets unheard phrases as the test does.
    if split == "fit":
        return train[:-held_out]
    if split == "validation":
        return train[-held_out:]
    return stems


def instrument_phrase(instrument, index=0, config=None):
    """Waveform of one bundled phrase of ``instrument`` at the config's sample rate."""
    config = audio.resolve_config(config)
    check_choice(instrument, "instrument", instrument_names())
    stems = manifest()["instruments"][instrument]["stems"]
    index = check_nonnegative_int(index, "index")
    if index >= len(stems):
        raise ValueError(f"`index` must be < {len(stems)}, the number of {instrument} phrases; received {index}.")
    return _stem(stems[index], config.sample_rate)


def _background(rng, size):
    """A smooth two-colour gradient with mild noise, different for every scene."""
    start, end = rng.uniform(40, 220, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    ramp = (np.cos(angle) * xs + np.sin(angle) * ys)
    ramp = (ramp - ramp.min()) / max(ramp.max() - ramp.min(), 1e-6)
    image = start + ramp[..., None] * (end - start)
    image += rng.normal(0, 6, size=image.shape)
    return np.clip(image, 0, 255)


def _layout(rng, count, low, high, image_size, attempts=50):
    """Non-overlapping square boxes for ``count`` sprites with sides in [low, high] x image_size.

    Random sequential placement; a layout that jams starts again with smaller
    sprites (never below ``low``), so crowded scenes are still drawn.
    """
    for attempt in range(attempts):
        top = high - (high - low) * attempt / max(attempts - 1, 1)
        placed = []
        for _ in range(count):
            side = int(rng.uniform(low, top) * image_size)
            for _ in range(100):
                x, y = (int(v) for v in rng.integers(0, image_size - side + 1, size=2))
                box = (x, y, x + side, y + side)
                if all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in placed):
                    placed.append(box)
                    break
            else:
                break
        if len(placed) == count:
            return placed
    raise ValueError(f"could not place {count} objects without overlap; lower `object_scale` or the number of objects.")


def _paste(canvas, sprite_rgba, box, flip):
    """Alpha-composite a resized sprite into ``canvas``; return its tight box and its pixel mask."""
    x1, y1, x2, y2 = box
    resized = Image.fromarray(sprite_rgba).resize((x2 - x1, y2 - y1), Image.LANCZOS)
    rgba = np.asarray(resized).astype(np.float64)
    if flip:
        rgba = rgba[:, ::-1]
    alpha = rgba[..., 3:] / 255.0
    canvas[y1:y2, x1:x2] = alpha * rgba[..., :3] + (1 - alpha) * canvas[y1:y2, x1:x2]
    rows, cols = np.nonzero(alpha[..., 0] > 0.1)
    mask = np.zeros(canvas.shape[:2], dtype=bool)
    mask[y1:y2, x1:x2] = alpha[..., 0] >= MASK_ALPHA
    return [x1 + cols.min(), y1 + rows.min(), x1 + cols.max() + 1, y1 + rows.max() + 1], mask


def _jitter(rng, box, fraction, image_size):
    """An annotator's version of a true box: each side moved by up to ``fraction`` of its extent."""
    x1, y1, x2, y2 = box
    width, height = x2 - x1, y2 - y1
    dx = rng.uniform(-fraction, fraction, 2) * width
    dy = rng.uniform(-fraction, fraction, 2) * height
    jittered = np.array([x1 + dx[0], y1 + dy[0], x2 + dx[1], y2 + dy[1]])
    return np.clip(jittered, 0, image_size).tolist()


def _play(rng, stem, num_samples, sample_rate, max_shift):
    """A random crop of ``stem``, pitch-shifted by up to ``max_shift`` semitones, ``num_samples`` long.

    The shift resamples: reading the stem as if recorded at ``rate · 2^(s/12)``
    raises every partial by ``s`` semitones (and plays ``2^(s/12)`` times
    faster), the way a tape played fast does. Crops start anywhere that leaves
    a full clip of sound; a clip longer than the phrase (the paper's 6 s
    clips from 4 s phrases) hears the phrase again from its start.
    """
    semitones = rng.uniform(-max_shift, max_shift) if max_shift > 0 else 0.0
    ratio = 2.0 ** (semitones / 12)
    needed = int(np.ceil(num_samples * ratio)) + 1
    if len(stem) < needed:
        stem = np.tile(stem, -(-needed // len(stem)))
    start = int(rng.integers(max(len(stem) - needed, 0) + 1))
    segment = stem[start : start + needed]
    if ratio != 1.0:
        segment = soxr.resample(segment, sample_rate * ratio, sample_rate)
    return audio.fit_length(segment, num_samples).astype(np.float32), semitones


def make_scene(
    num_sources,
    seed,
    *,
    layout="instruments",
    image_size=128,
    num_silent_instruments=None,
    num_distractors=None,
    instruments=None,
    split="all",
    config=None,
    random_gain=True,
    pitch_shift=2.0,
    object_scale=None,
    annotator_jitter=0.15,
    map_size=224,
):
    """Compose one scene deterministically from ``seed``.

    Args:
        num_sources: sounding instruments, 1 to 4.
        seed: integer seed >= 0; the same seed and arguments give the same scene.
        layout: ``"instruments"`` (default: sounding and silent instruments
            anywhere in the picture, sides 0.28-0.40) or ``"flickr"`` (large
            objects, sides 0.5-0.7 for one object, nothing silent by default:
            the paper's protocol). See the module docstring.
        image_size: side of the square picture in pixels (128).
        num_silent_instruments: instruments that are visible but do not play;
            default 1 for ``"instruments"``, 0 for ``"flickr"``.
        num_distractors: silent non-instrument objects (cactus, ball, ...);
            default 0 or 1 at random for ``"instruments"``, 0 for ``"flickr"``.
        instruments: distinct names to draw from (default: all bundled
            instruments). Sounding and silent instruments are all different classes.
        split: ``"train"`` draws phrases from all but the last
            ``manifest()["test_phrases"]`` bundled phrases of each instrument,
            ``"test"`` only from those held-out ones, ``"all"`` from every
            phrase. For choosing settings without the test phrases, the
            training phrases split the same way: ``"validation"`` draws from
            their last ``test_phrases`` and ``"fit"`` from the others, so
            validation scenes play phrases a model fitted on ``"fit"`` never heard.
        config: ``AudioConfig``; its ``sample_rate`` and ``num_samples`` set
            the waveforms.
        random_gain: per-source gains uniform in [0.5, 1.5] and a mixture RMS
            uniform in ``MIXTURE_RMS``; ``False``: equal gains and the middle
            RMS. Either way the mixture's level says nothing about the count.
        pitch_shift: largest pitch shift in semitones (uniform in ±``pitch_shift``; 0: none).
        object_scale: ``(low, high)`` range of sprite sides as a fraction of
            ``image_size``; default the layout's (``INSTRUMENT_OBJECT_SCALE``,
            ``FLICKR_OBJECT_SCALE`` for one object).
        annotator_jitter: how far (fraction of box size) annotators' box sides wander.
        map_size: side of the consensus map (224 in the evaluation protocol).

    Returns:
        a :class:`Scene`.
    """
    from avcourse.metrics.localization import consensus_map

    if config is None:
        config = audio.AudioConfig()
    if not isinstance(config, audio.AudioConfig):
        raise ValueError(f"`config` must be an avcourse.audio.AudioConfig; received {type(config).__name__}.")
    seed = check_nonnegative_int(seed, "seed")
    check_choice(layout, "layout", LAYOUTS)
    check_positive_int(image_size, "image_size")
    check_positive_int(map_size, "map_size")
    random_gain = check_bool(random_gain, "random_gain")
    if instruments is not None:
        if isinstance(instruments, str) or not hasattr(instruments, "__iter__"):
            raise ValueError(f"`instruments` must be a list of instrument names; received {instruments!r}.")
        instruments = list(instruments)
        if not instruments or not all(isinstance(name, str) for name in instruments):
            raise ValueError(f"`instruments` must hold instrument names (strings); received {instruments!r}.")
        repeated = sorted({name for name in instruments if instruments.count(name) > 1})
        if repeated:
            raise ValueError(f"`instruments` must hold distinct names; received {repeated} more than once.")
    pool = sorted(instruments) if instruments is not None else instrument_names()
    unknown = sorted(set(pool) - set(instrument_names()))
    if unknown:
        raise ValueError(f"`instruments` must be bundled instrument names {instrument_names()}; received unknown {unknown}.")
    if isinstance(num_sources, bool) or not isinstance(num_sources, (int, np.integer)) or not 1 <= num_sources <= 4:
        raise ValueError(f"`num_sources` must be an integer from 1 to 4; received {num_sources!r}.")
    check_choice(split, "split", SPLITS)
    try:
        pitch_shift = check_number(pitch_shift, "pitch_shift", minimum=0, maximum=12)
    except ValueError:
        raise ValueError(f"`pitch_shift` must be a number of semitones in [0, 12]; received {pitch_shift!r}.") from None
    try:
        annotator_jitter = check_number(annotator_jitter, "annotator_jitter", minimum=0, maximum=0.5, exclusive_maximum=True)
    except ValueError:
        raise ValueError(f"`annotator_jitter` must be a number in [0, 0.5); received {annotator_jitter!r}.") from None

    rng = np.random.default_rng(seed)
    silent_default, distractor_default = (1, int(rng.integers(2))) if layout == "instruments" else (0, 0)
    num_silent = silent_default if num_silent_instruments is None else check_nonnegative_int(num_silent_instruments, "num_silent_instruments")
    num_distractors = distractor_default if num_distractors is None else check_nonnegative_int(num_distractors, "num_distractors")
    if num_sources + num_silent > len(pool):
        raise ValueError(
            f"`num_sources` + `num_silent_instruments` must be <= the {len(pool)} available instruments; "
            f"received {num_sources} + {num_silent}."
        )
    num_objects = num_sources + num_silent + num_distractors
    if object_scale is None:
        if layout == "instruments":
            object_scale = INSTRUMENT_OBJECT_SCALE
        elif num_objects == 1:
            object_scale = FLICKR_OBJECT_SCALE
        else:  # several large objects: as large as still fits
            high = min(0.42, 0.8 / np.ceil(np.sqrt(num_objects)))
            object_scale = (0.65 * high, high)
    try:
        low, high = (check_number(value, "object_scale") for value in object_scale)
    except (TypeError, ValueError):
        raise ValueError(f"`object_scale` must be a pair of numbers (low, high); received {object_scale!r}.") from None
    if not 0 < low <= high < 1:
        raise ValueError(f"`object_scale` must satisfy 0 < low <= high < 1; received {object_scale}.")
    if num_objects * (low * image_size) ** 2 > 0.5 * image_size**2:
        raise ValueError(
            f"{num_objects} objects of at least {low:.2f} x image_size cannot be placed without overlap; "
            "lower `object_scale` or the number of objects."
        )

    chosen = list(rng.choice(pool, size=num_sources + num_silent, replace=False))
    distractors = list(rng.choice(distractor_names(), size=num_distractors, replace=num_distractors > len(distractor_names())))
    labels = [str(name) for name in chosen] + [f"distractor_{name}" for name in distractors]
    sounding = np.array([True] * num_sources + [False] * (len(labels) - num_sources))
    order = rng.permutation(len(labels))  # sounding objects are not always drawn first
    labels = [labels[i] for i in order]
    sounding = sounding[order]

    canvas = _background(rng, image_size)
    info = manifest()
    boxes, masks = [], []
    for label, box in zip(labels, _layout(rng, len(labels), low, high, image_size)):
        if label in info["instruments"]:
            sprite_path = info["instruments"][label]["sprite"]
        else:
            sprite_path = info["distractors"][label[len("distractor_") :]]
        tight_box, mask = _paste(canvas, _sprite(sprite_path), box, flip=bool(rng.integers(2)))
        boxes.append(tight_box)
        masks.append(mask)
    image = canvas.round().astype(np.uint8)
    boxes = np.asarray(boxes, dtype=np.int64)

    source_names = [label for label, plays in zip(labels, sounding) if plays]
    waveforms, shifts = [], []
    for name in source_names:
        phrases = _phrases(name, split)
        stem = _stem(phrases[int(rng.integers(len(phrases)))], config.sample_rate)
        waveform, semitones = _play(rng, stem, config.num_samples, config.sample_rate, pitch_shift)
        waveforms.append(waveform)
        shifts.append(semitones)
    waveforms = np.stack(waveforms)
    gains = rng.uniform(0.5, 1.5, num_sources) if random_gain else np.ones(num_sources)
    level = rng.uniform(*MIXTURE_RMS) if random_gain else float(np.mean(MIXTURE_RMS))
    unscaled = np.sum(waveforms * gains[:, None], axis=0)
    rms = float(np.sqrt(np.mean(unscaled**2)))
    # The mixture is brought to `level` (never clipped: a peak above 0.99 lowers the level instead).
    scale = min(level / max(rms, 1e-8), 0.99 / max(float(np.max(np.abs(unscaled))), 1e-8))
    mixture, sources = audio.mix_sources(waveforms, gains * scale)

    annotator_boxes = [
        [_jitter(rng, box, annotator_jitter, image_size) for box in boxes[sounding]] for _ in range(NUM_ANNOTATORS)
    ]
    gt_map = consensus_map(annotator_boxes, size=map_size, image_size=(image_size, image_size)).astype(np.float32)
    return Scene(
        image=image,
        boxes=boxes,
        object_masks=np.stack(masks),
        labels=labels,
        sounding=sounding,
        sources=sources,
        mixture=mixture.astype(np.float32),
        annotator_boxes=annotator_boxes,
        consensus_map=gt_map,
        audioset_labels=_audioset_labels(source_names),
        pitch_shifts=np.asarray(shifts, dtype=np.float64),
        seed=seed,
        sample_rate=config.sample_rate,
        layout=layout,
    )


def _audioset_labels(instrument_names_):
    """AudioSet mids of the instruments plus every ontology ancestor, as a clip would be labelled."""
    from avcourse.data.audioset import ancestors, load_ontology

    ontology = load_ontology()
    mids = set()
    for name in instrument_names_:
        mid = manifest()["instruments"][name]["audioset_mid"]
        mids.add(mid)
        mids.update(ancestors(mid, ontology))
    return sorted(mids)


def crop_object(scene, index, size=64):
    """The picture inside object ``index``'s box, resized to ``size`` x ``size`` (uint8)."""
    if not isinstance(scene, Scene):
        raise ValueError(f"`scene` must be a Scene (from make_scene); received {type(scene).__name__}.")
    index = check_nonnegative_int(index, "index")
    if index >= len(scene.boxes):
        raise ValueError(f"`index` must be < {len(scene.boxes)}, the scene's number of objects; received {index}.")
    check_positive_int(size, "size")
    x1, y1, x2, y2 = scene.boxes[index]
    return np.asarray(Image.fromarray(scene.image[y1:y2, x1:x2]).resize((size, size), Image.BILINEAR))
