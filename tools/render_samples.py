"""Regenerate avcourse's bundled sample assets in ``data_samples/``.

This is a development-time tool. Users of avcourse never run it and never need
FluidSynth: its small outputs are committed to the repository and shipped in the
wheel. Run it from the repository root after installing the Debian packages
``fluidsynth``, ``fluid-soundfont-gm`` and ``fonts-noto-color-emoji``::

    apt-get install -y fluidsynth fluid-soundfont-gm fonts-noto-color-emoji
    python tools/render_samples.py            # everything
    python tools/render_samples.py --check    # only re-check what is there

What it writes (all paths relative to ``data_samples/``):

* ``stems/<instrument>_<k>.flac``: for each of the 11 MUSIC-dataset instruments,
  16 different melodic phrases (k = 0..15); the synthetic world tests on the
  last four (``test_phrases`` in the manifest) and trains on the first twelve,
  which its "fit" (0-7) and "validation" (8-11) splits divide further. Each
  phrase is composed here (seeded random walk on a scale, rhythm templates, a
  little dynamics; phrases 0-2 use one fixed style each, phrases 3-15 draw
  scale, tempo, rhythm, dynamics and register per instrument, so the held-out
  phrases come from the same distribution as the training ones),
  written as a Standard MIDI File with a hand-rolled writer, rendered by the
  ``fluidsynth`` CLI with the FluidR3_GM soundfont at 44.1 kHz, mixed to mono,
  resampled to 11025 Hz, started at the first note, cut to exactly 4.0 s,
  peak-normalised to 0.7 and saved as 16-bit FLAC. ``tools/timbre_probe.py``
  checks that a linear probe tells the instruments apart on held-out phrases.
* ``sprites/<instrument>.png`` and ``sprites/distractor_<name>.png``: 96x96 RGBA
  pictures on a transparent background, cropped tightly to the object. Six
  instruments and all distractors come from the Noto Color Emoji font; the
  instruments without an emoji (cello, clarinet, erhu, tuba, xylophone) are
  drawn here with Pillow.
* ``metadata/``: real metadata files copied from ``../shared/data/``.
* ``manifest.json`` (index of all of the above) and ``NOTICE.md`` (licences).

Everything is deterministic: random choices use fixed seeds derived from the
instrument name and phrase index, and FluidSynth renders offline with chorus
and reverb off (stems render in parallel, one process each, which does not
change a byte). After writing, the outputs are checked (phrase counts, lengths,
levels, no silent gaps, no stray stems, sprite sizes, folder size) and the
script exits non-zero if a check fails.
"""

import argparse
import dataclasses
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from PIL import Image, ImageDraw, ImageFont

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "data_samples"
DEFAULT_SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
DEFAULT_EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")

SAMPLE_RATE = 11025
# Scenes cut 2-s clips at a random start from a stem and pitch-shift them by up
# to +-2 semitones by resampling (a 2-s clip shifted up needs 2.25 s), so 4 s
# leave room for the random start while keeping 16 phrases per instrument small.
CLIP_SECONDS = 4.0
CLIP_SAMPLES = int(SAMPLE_RATE * CLIP_SECONDS)
RENDER_RATE = 44100
TARGET_PEAK = 0.7
PHRASES_PER_INSTRUMENT = 16
# The last phrases of every instrument are held out: the world's test split plays
# only them. Of the remaining 12, the world's "validation" split plays the last 4
# and "fit" the first 8.
TEST_PHRASES = 4
SPRITE_SIZE = 96
MAX_FOLDER_BYTES = 12 * 1024 * 1024


# --------------------------------------------------------------------------
# Instruments
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Instrument:
    """How one MUSIC instrument is synthesised, drawn and labelled."""

    name: str
    gm_program: int  # 0-based General MIDI program number
    low: int  # lowest MIDI note of the natural register the phrases use
    high: int  # highest MIDI note of that register
    sustained: bool  # bowed/blown (held notes, expression shapes dynamics) vs struck/plucked
    audioset_name: str  # display name of the most specific AudioSet class
    emoji: str | None = None  # None: the sprite is drawn by this script
    tint: tuple | None = None  # per-channel RGB gains that recolour the emoji
    restrike_beats: float = 1.0  # struck/plucked only: longest gap between strikes
    slides: bool = False  # occasional pitch-bend slides into notes (erhu style)
    vibrato_cents: float = 0.0  # depth of a pitch-bend vibrato on held notes (0: none)


INSTRUMENTS = (
    Instrument("accordion", 21, 57, 81, True, "Accordion", emoji="\U0001FA97"),
    Instrument("acoustic_guitar", 25, 45, 74, False, "Acoustic guitar", emoji="\U0001F3B8"),
    Instrument("cello", 42, 38, 64, True, "Cello"),
    Instrument("clarinet", 71, 55, 79, True, "Clarinet"),
    # Erhu has no General MIDI program. GM "Fiddle" (110) plays FluidR3's violin
    # samples, so a timbre probe could not tell it from the violin; GM "Viola"
    # (other recordings) played in the erhu's register, with slides and a wide
    # vibrato, can.
    Instrument(
        "erhu", 41, 62, 86, True, "Bowed string instrument", slides=True, vibrato_cents=35.0
    ),
    Instrument("flute", 73, 67, 91, True, "Flute", emoji="\U0001FA88"),
    Instrument("saxophone", 65, 56, 77, True, "Saxophone", emoji="\U0001F3B7"),
    # The trumpet and saxophone emoji share one yellow: a copper (rose-brass)
    # trumpet keeps their colour histograms apart.
    Instrument("trumpet", 56, 60, 79, True, "Trumpet", emoji="\U0001F3BA", tint=(1.0, 0.7, 0.5)),
    # AudioSet has no tuba class; "Brass instrument" is its closest parent.
    Instrument("tuba", 58, 33, 55, True, "Brass instrument"),
    Instrument("violin", 40, 60, 86, True, "Violin, fiddle", emoji="\U0001F3BB"),
    Instrument("xylophone", 13, 67, 93, False, "Marimba, xylophone", restrike_beats=0.5),
)

DISTRACTOR_EMOJI = {
    "ball": "\u26BD",
    "books": "\U0001F4DA",
    "cactus": "\U0001F335",
    "chair": "\U0001FA91",
}

# Paths under ../shared/data/ copied to metadata/ (same subfolders), with the
# manifest key each is listed under.
METADATA_FILES = {
    "audioset_ontology": "audioset/ontology.json",
    "audioset_class_labels": "audioset/class_labels_indices.csv",
    "audioset_segments_head": "audioset/balanced_train_segments_head.csv",
    "music_solo": "music/MUSIC_solo_videos.json",
    "music_duet": "music/MUSIC_duet_videos.json",
    "music21_solo": "music/MUSIC21_solo_videos.json",
    "flickr_test_ids": "localization/flickr_test_ids.csv",
    "vggss_sample": "localization/vggss_sample.json",
    "music_solo_boxes": "localization/music_solo_boxes_sample.json",
    "music_duet_boxes": "localization/music_duet_boxes_sample.json",
    "bss_eval_fixtures": "mir_eval_separation",
}
# Copied as well (licences travel with the data) but not listed in the manifest.
METADATA_LICENCES = ("localization/LICENSE-DSOL-MIT.txt", "localization/LICENSE-LVS-Apache-2.0.txt")


# --------------------------------------------------------------------------
# Phrase composition
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PhraseStyle:
    """Scale, tempo, rhythm, dynamic shape and register of one phrase."""

    scale: tuple  # semitone offsets of the scale degrees within an octave
    bpm: float
    rhythm: tuple  # note lengths in beats, repeated until the clip is full
    dynamics: str  # "crescendo", "swell" or "accented"
    # The part of the instrument's register the phrase walks in, as fractions
    # (bottom, top) of the span from Instrument.low to Instrument.high.
    register: tuple = (0.0, 1.0)


SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "pentatonic": (0, 2, 4, 7, 9),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}
RHYTHMS = (
    (1, 1, 1, 1, 2, 1, 1, 2, 2),
    (1.5, 0.5, 1, 1, 1.5, 0.5, 2),
    (0.5, 0.5, 0.5, 0.5, 1, 1, 0.5, 0.5, 0.5, 0.5, 2),
    (1, 0.5, 0.5, 1, 1, 3),
    (0.75, 0.25, 0.5, 0.5, 1, 1, 2),
)
DYNAMICS = ("crescendo", "swell", "accented")
# Phrases 0-2 keep the styles the first release bundled (``example("violin")``
# plays the same melody); later phrases draw their style per instrument.
FIXED_STYLES = (
    PhraseStyle(SCALES["major"], 96, RHYTHMS[0], "crescendo"),
    PhraseStyle(SCALES["minor"], 112, RHYTHMS[1], "swell"),
    PhraseStyle(SCALES["pentatonic"], 132, RHYTHMS[2], "accented"),
)

# Compose a little past the clip so the cut never falls into a decaying tail.
COMPOSE_SECONDS = CLIP_SECONDS + 0.6
PLUCKED_RING_SECONDS = 1.5


@dataclasses.dataclass
class Note:
    start: float  # seconds
    end: float  # seconds (note-off)
    pitch: int  # MIDI note number
    velocity: int


def phrase_seed(instrument, k):
    # crc32, not hash(): Python salts str hashes per process.
    return zlib.crc32(f"{instrument.name}/{k}".encode())


def phrase_style(instrument, k):
    """Style of phrase ``k``: fixed for k < 3, otherwise drawn from the pools.

    Drawing per instrument (not one style per k for every instrument) keeps a
    held-out phrase's scale, tempo and rhythm from being a style that no
    training phrase of any instrument has.
    """
    if k < len(FIXED_STYLES):
        return FIXED_STYLES[k]
    rng = np.random.default_rng(phrase_seed(instrument, k) + 2)
    scale = list(SCALES.values())[int(rng.integers(len(SCALES)))]
    bpm = float(rng.integers(88, 141))
    rhythm = RHYTHMS[int(rng.integers(len(RHYTHMS)))]
    dynamics = DYNAMICS[int(rng.integers(len(DYNAMICS)))]
    # A window of 85-100 % of the register, anywhere in it: some phrases lean
    # low, some high. Narrower windows (60 %) made a 2-s crop's spectrum tell
    # the phrase more than the instrument (tools/timbre_probe.py).
    width = float(rng.uniform(0.85, 1.0))
    bottom = float(rng.uniform(0.0, 1.0 - width))
    return PhraseStyle(scale, bpm, rhythm, dynamics, register=(bottom, bottom + width))


def loudness(style, t, on_downbeat=False):
    """Dynamic level in [0, 1] at time ``t`` seconds for the phrase style."""
    progress = min(t / CLIP_SECONDS, 1.0)
    if style.dynamics == "crescendo":
        level = 0.35 + 0.65 * progress
    elif style.dynamics == "swell":
        level = 0.45 + 0.55 * math.sin(math.pi * progress)
    else:  # "accented": gentle diminuendo with stressed downbeats
        level = 0.85 - 0.3 * progress + (0.15 if on_downbeat else 0.0)
    return min(max(level, 0.0), 1.0)


def scale_pitches(instrument, tonic, style):
    """All MIDI notes of the scale that lie in the style's part of the instrument's register."""
    span = instrument.high - instrument.low
    low = instrument.low + round(style.register[0] * span)
    high = instrument.low + round(style.register[1] * span)
    return [n for n in range(low, high + 1) if (n - tonic) % 12 in style.scale]


def compose_phrase(instrument, k):
    """Notes of phrase ``k`` for ``instrument``: a seeded random walk on a scale."""
    style = phrase_style(instrument, k)
    rng = np.random.default_rng(phrase_seed(instrument, k))
    pitches = scale_pitches(instrument, tonic=int(rng.integers(12)), style=style)
    index = min(max(len(pitches) // 2 + int(rng.integers(-2, 3)), 0), len(pitches) - 1)
    seconds_per_beat = 60.0 / style.bpm

    notes, beat, step = [], 0.0, 0
    while beat * seconds_per_beat < COMPOSE_SECONDS:
        length = style.rhythm[step % len(style.rhythm)]
        # Struck and plucked notes decay, so long notes are re-struck (a roll on
        # the xylophone, repeated plucks on the guitar) to keep the clip filled.
        strikes = 1 if instrument.sustained else max(1, round(length / instrument.restrike_beats))
        for strike in range(strikes):
            start_beat = beat + strike * length / strikes
            start = start_beat * seconds_per_beat
            level = loudness(style, start, on_downbeat=start_beat % 2 == 0)
            velocity = int(np.clip(40 + 87 * level + rng.integers(-5, 6), 30, 127))
            if instrument.sustained:
                # A short gap before the next note keeps articulations audible.
                end = start + 0.95 * length * seconds_per_beat
            else:
                end = start + PLUCKED_RING_SECONDS
            notes.append(Note(start, end, pitches[index], velocity))
        beat += length
        step += 1
        move = int(rng.choice([-3, -2, -1, 1, 2, 3], p=[0.05, 0.2, 0.25, 0.25, 0.2, 0.05]))
        if not 0 <= index + move < len(pitches):
            move = -move  # bounce off the edges of the register
        index = min(max(index + move, 0), len(pitches) - 1)
    release_before_restrike(notes)
    return notes


def release_before_restrike(notes):
    """End each note before the same key is struck again.

    A MIDI note-off names only the key, so an overlapping note-on of the same key
    would have its sound cut by the earlier note's late note-off.
    """
    last_by_pitch = {}
    for note in notes:
        previous = last_by_pitch.get(note.pitch)
        if previous is not None and previous.end > note.start:
            previous.end = note.start
        last_by_pitch[note.pitch] = note


# --------------------------------------------------------------------------
# Standard MIDI File writing
# --------------------------------------------------------------------------

TICKS_PER_BEAT = 480
MICROSECONDS_PER_BEAT = 500_000  # 120 bpm, so one second is 960 ticks
TICKS_PER_SECOND = TICKS_PER_BEAT * 1_000_000 // MICROSECONDS_PER_BEAT
CHANNEL = 0
# Events at the same tick: note-offs first (free the key), then controllers,
# then note-ons, so a controller change applies to the note starting with it.
NOTE_OFF_ORDER, CONTROL_ORDER, NOTE_ON_ORDER = 0, 1, 2
CC_VOLUME, CC_EXPRESSION = 7, 11
PITCH_BEND_CENTRE = 8192
PITCH_BEND_RANGE_SEMITONES = 2  # the General MIDI default
EXPRESSION_STEP_SECONDS = 0.05
SLIDE_PROBABILITY = 0.35
SLIDE_SEMITONES = -0.6
SLIDE_SECONDS = 0.12
BEND_STEP_SECONDS = 0.02
VIBRATO_HZ = 6.0
VIBRATO_DELAY_SECONDS = 0.08
VIBRATO_FADE_SECONDS = 0.15


def variable_length_quantity(value):
    """MIDI's big-endian base-128 integer (continuation bit on all but the last byte)."""
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(groups))


def ticks(seconds):
    return int(round(seconds * TICKS_PER_SECOND))


def pitch_bend_event(semitones):
    value = PITCH_BEND_CENTRE + round(semitones / PITCH_BEND_RANGE_SEMITONES * PITCH_BEND_CENTRE)
    value = min(max(value, 0), 16383)
    return bytes([0xE0 | CHANNEL, value & 0x7F, value >> 7])


def control_event(controller, value):
    return bytes([0xB0 | CHANNEL, controller, int(value)])


def note_bends(instrument, note, slide):
    """Pitch-bend curve ``[(seconds, semitones), ...]`` for one note.

    A slide rises from SLIDE_SEMITONES below the note over SLIDE_SECONDS; the
    vibrato (sine, VIBRATO_HZ, fading in after VIBRATO_DELAY_SECONDS) adds to
    it. A bent note ends on a return to the centre so the next note starts in tune.
    """
    if not slide and not instrument.vibrato_cents:
        return []
    times = np.arange(note.start, note.end, BEND_STEP_SECONDS)
    elapsed = times - note.start
    bend = np.zeros_like(times)
    if slide:
        bend += SLIDE_SEMITONES * np.clip(1 - elapsed / SLIDE_SECONDS, 0, 1)
    if instrument.vibrato_cents:
        fade_in = np.clip((elapsed - VIBRATO_DELAY_SECONDS) / VIBRATO_FADE_SECONDS, 0, 1)
        bend += instrument.vibrato_cents / 100 * fade_in * np.sin(2 * np.pi * VIBRATO_HZ * elapsed)
    return [*zip(times, bend), (note.end, 0.0)]


def phrase_events(instrument, k, notes):
    """Timed MIDI events ``(tick, order, bytes)`` that play ``notes`` with dynamics."""
    style = phrase_style(instrument, k)
    rng = np.random.default_rng(phrase_seed(instrument, k) + 1)
    events = [
        (0, CONTROL_ORDER, bytes([0xC0 | CHANNEL, instrument.gm_program])),
        (0, CONTROL_ORDER, control_event(CC_VOLUME, 110)),
    ]
    if instrument.sustained:
        # Held notes only change loudness through the expression controller.
        end = max(note.end for note in notes)
        for t in np.arange(0.0, end, EXPRESSION_STEP_SECONDS):
            expression = control_event(CC_EXPRESSION, 60 + 67 * loudness(style, t))
            events.append((ticks(t), CONTROL_ORDER, expression))
    else:
        events.append((0, CONTROL_ORDER, control_event(CC_EXPRESSION, 127)))
    for note in notes:
        slide = instrument.slides and rng.random() < SLIDE_PROBABILITY
        for t, semitones in note_bends(instrument, note, slide):
            events.append((ticks(t), CONTROL_ORDER, pitch_bend_event(semitones)))
        note_on = bytes([0x90 | CHANNEL, note.pitch, note.velocity])
        note_off = bytes([0x80 | CHANNEL, note.pitch, 0])
        events.append((ticks(note.start), NOTE_ON_ORDER, note_on))
        events.append((ticks(note.end), NOTE_OFF_ORDER, note_off))
    return sorted(events, key=lambda event: (event[0], event[1]))


def standard_midi_file(events):
    """Bytes of a format-0 Standard MIDI File holding ``events`` on one track."""
    tempo = b"\xff\x51\x03" + MICROSECONDS_PER_BEAT.to_bytes(3, "big")
    track = bytearray(variable_length_quantity(0) + tempo)
    previous_tick = 0
    for tick, _, message in events:
        track += variable_length_quantity(tick - previous_tick) + message
        previous_tick = tick
    track += variable_length_quantity(0) + b"\xff\x2f\x00"  # end of track
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_BEAT)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


# --------------------------------------------------------------------------
# Audio rendering
# --------------------------------------------------------------------------


def render_with_fluidsynth(midi_path, wav_path, soundfont):
    """Render a MIDI file offline to a float WAV at RENDER_RATE.

    Chorus and reverb are off: dry stems mix cleanly, and the render stays
    short of reverb tails. Float output avoids clipping and dither noise.
    """
    command = [
        "fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5",
        "-r", str(RENDER_RATE), "-O", "float", "-T", "wav",
        "-F", str(wav_path), str(soundfont), str(midi_path),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)


def shape_clip(stereo, rate):
    """Mono, SAMPLE_RATE, first note at the start, exactly CLIP_SECONDS, peak TARGET_PEAK."""
    mono = stereo.mean(axis=1) if stereo.ndim == 2 else stereo
    audio = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    threshold = np.abs(audio).max() * 10 ** (-40 / 20)
    onset = int(np.argmax(np.abs(audio) > threshold))
    start = max(0, onset - int(0.005 * SAMPLE_RATE))  # keep the attack's first few ms
    clip = audio[start : start + CLIP_SAMPLES]
    if len(clip) < CLIP_SAMPLES:
        raise RuntimeError(f"render too short: {len(clip)} samples after the onset")
    # A 50 ms fade-out so the cut through a sounding note does not click.
    fade = int(0.05 * SAMPLE_RATE)
    clip = clip.copy()
    clip[-fade:] *= 0.5 * (1 + np.cos(np.linspace(0, np.pi, fade)))
    return clip * (TARGET_PEAK / np.abs(clip).max())


def render_stem(instrument, k, soundfont, work_dir, out_path):
    notes = compose_phrase(instrument, k)
    midi_path = work_dir / f"{instrument.name}_{k}.mid"
    wav_path = work_dir / f"{instrument.name}_{k}.wav"
    midi_path.write_bytes(standard_midi_file(phrase_events(instrument, k, notes)))
    render_with_fluidsynth(midi_path, wav_path, soundfont)
    stereo, rate = sf.read(wav_path, dtype="float64")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    clip = shape_clip(stereo, rate)
    sf.write(out_path, clip, SAMPLE_RATE, format="FLAC", subtype="PCM_16", compression_level=1.0)


def render_all_stems(out_dir, soundfont):
    if shutil.which("fluidsynth") is None:
        sys.exit("fluidsynth is not installed: apt-get install -y fluidsynth fluid-soundfont-gm")
    jobs = [(instrument, k) for instrument in INSTRUMENTS for k in range(PHRASES_PER_INSTRUMENT)]
    # Each stem is its own seeded composition and its own fluidsynth process, so
    # rendering them in parallel gives the same bytes as rendering them in turn.
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        futures = [
            pool.submit(render_stem, instrument, k, soundfont, Path(tmp), out_dir / stem_path(instrument, k))
            for instrument, k in jobs
        ]
        for future in futures:
            future.result()


def stem_path(instrument, k):
    return f"stems/{instrument.name}_{k}.flac"


# --------------------------------------------------------------------------
# Sprites
# --------------------------------------------------------------------------

EMOJI_BITMAP_SIZE = 109  # the only size Noto Color Emoji's CBDT bitmaps come in
CANVAS = 512  # drawn sprites are drawn large, then downscaled (antialiasing)


def fit_to_sprite(image):
    """Crop to the alpha bounding box, pad to a centred square, resize to SPRITE_SIZE."""
    image = image.crop(image.getchannel("A").getbbox())
    side = max(image.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    # Resample premultiplied so transparent pixels' colour does not bleed into edges.
    small = square.convert("RGBa").resize((SPRITE_SIZE, SPRITE_SIZE), Image.Resampling.LANCZOS)
    return small.convert("RGBA")


def render_emoji(character, font_path):
    font = ImageFont.truetype(str(font_path), EMOJI_BITMAP_SIZE)
    image = Image.new("RGBA", (2 * EMOJI_BITMAP_SIZE, 2 * EMOJI_BITMAP_SIZE), (0, 0, 0, 0))
    ImageDraw.Draw(image).text(
        (EMOJI_BITMAP_SIZE // 2, EMOJI_BITMAP_SIZE // 2), character, font=font, embedded_color=True
    )
    if image.getchannel("A").getbbox() is None:
        raise RuntimeError(f"emoji U+{ord(character):04X} rendered blank with {font_path}")
    return image


def recolour(image, gains):
    """Scale the RGB channels of ``image`` by ``gains``, leaving alpha alone."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64) * np.asarray(gains)
    recoloured = Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), "RGB")
    recoloured.putalpha(image.getchannel("A"))
    return recoloured


def new_canvas():
    image = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    return image, ImageDraw.Draw(image)


def draw_cello():
    """An upright dark-brown cello: large waisted body, black fingerboard, endpin."""
    image, draw = new_canvas()
    wood, wood_light, edge = (104, 48, 22), (146, 72, 32), (52, 22, 8)
    black, string, silver = (24, 20, 18), (230, 222, 200), (175, 178, 186)
    centre, top, bottom = 256, 120, 452

    def half_width(y):
        # An ellipse (round ends), narrower towards the top, pinched at the waist.
        u = (y - top) / (bottom - top)
        ellipse = math.sqrt(max(1 - (2 * u - 1) ** 2, 0.0))
        taper = 0.8 + 0.2 * u
        waist = 1 - 0.36 * math.exp(-(((u - 0.48) / 0.1) ** 2))
        return 150 * ellipse * taper * waist

    ys = np.linspace(top, bottom, 120)
    outline = [(centre + half_width(y), y) for y in ys] + [(centre - half_width(y), y) for y in ys[::-1]]
    inner = [(centre + 0.82 * (x - centre), top + 14 + 0.9 * (y - top)) for x, y in outline]
    draw.polygon(outline, fill=wood, outline=edge, width=8)
    draw.polygon(inner, fill=wood_light)
    for side in (-1, 1):  # f-holes
        x = centre + side * 56
        draw.line([(x - side * 8, 262), (x + side * 6, 300), (x - side * 6, 342)], fill=black, width=8)
        draw.ellipse((x - side * 8 - 7, 255, x - side * 8 + 7, 269), fill=black)
        draw.ellipse((x - side * 6 - 7, 335, x - side * 6 + 7, 349), fill=black)
    draw.polygon([(centre - 13, 40), (centre + 13, 40), (centre + 19, 290), (centre - 19, 290)], fill=black)
    draw.polygon([(centre - 22, 360), (centre + 22, 360), (centre + 14, 428), (centre - 14, 428)], fill=black)
    draw.rectangle((centre - 36, 314, centre + 36, 326), fill=(222, 184, 120))  # bridge
    for offset in (-9, -3, 3, 9):
        draw.line([(centre + offset * 0.7, 50), (centre + offset * 1.4, 362)], fill=string, width=3)
    draw.ellipse((centre - 24, 2, centre + 24, 50), fill=wood, outline=edge, width=6)  # scroll
    draw.ellipse((centre - 9, 17, centre + 9, 35), fill=edge)
    for y in (62, 86):  # pegs
        draw.line([(centre - 34, y), (centre + 34, y)], fill=edge, width=10)
    draw.line([(centre, bottom - 4), (centre, 510)], fill=silver, width=9)  # endpin
    return image


def draw_clarinet():
    """A black clarinet with silver keys, mouthpiece top-left and bell bottom-right."""
    image, draw = new_canvas()
    black, black_shine = (22, 22, 26), (70, 70, 80)
    silver, silver_dark = (205, 208, 216), (120, 124, 134)
    x = 256
    draw.polygon([(x - 10, 20), (x + 10, 20), (x + 16, 78), (x - 16, 78)], fill=black)  # mouthpiece
    draw.polygon([(x - 17, 78), (x + 17, 78), (x + 17, 400), (x - 17, 400)], fill=black)  # body
    draw.polygon(  # flared bell
        [(x - 17, 400), (x + 17, 400), (x + 28, 440), (x + 48, 490), (x - 48, 490), (x - 28, 440)],
        fill=black,
    )
    draw.line([(x - 7, 90), (x - 7, 395)], fill=black_shine, width=4)  # highlight along the tube
    for y in (76, 128, 136, 262, 270, 398):  # ligature and joint rings
        draw.rectangle((x - 20, y, x + 20, y + 6), fill=silver, outline=silver_dark, width=1)
    draw.rectangle((x - 49, 486, x + 49, 494), fill=silver, outline=silver_dark, width=1)
    draw.line([(x + 12, 150), (x + 12, 380)], fill=silver, width=4)  # key rod
    for y in range(160, 390, 30):  # ring keys over the tone holes, with levers
        draw.ellipse((x - 11, y - 11, x + 11, y + 11), fill=silver, outline=silver_dark, width=2)
        draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=black)
        draw.line([(x + 10, y + 6), (x + 24, y + 14)], fill=silver, width=5)
    return image.rotate(40, resample=Image.Resampling.BICUBIC, expand=True)


def draw_tuba():
    """A silver-plated tuba: wide upward bell, oval coil, four valves, mouthpipe.

    Silver (not yellow brass) keeps its colours apart from the trumpet and
    saxophone emoji.
    """
    image, draw = new_canvas()
    silver, light, dark, inside = (186, 194, 206), (236, 240, 246), (96, 104, 120), (58, 62, 74)
    draw.ellipse((120, 230, 392, 500), outline=dark, width=52)  # the coiled tubing
    draw.ellipse((126, 236, 386, 494), outline=silver, width=40)
    draw.arc((140, 250, 372, 480), 200, 300, fill=light, width=8)
    bell_x = 300
    ys = np.linspace(60, 330, 60)
    widths = [30 + 120 * math.exp(-(y - 60) / 55) for y in ys]
    bell = [(bell_x + w, y) for y, w in zip(ys, widths)] + [
        (bell_x - w, y) for y, w in zip(ys[::-1], widths[::-1])
    ]
    draw.polygon(bell, fill=silver, outline=dark, width=5)
    draw.line([(bell_x - 12, 90), (bell_x - 12, 320)], fill=light, width=8)
    draw.ellipse((bell_x - 152, 30, bell_x + 152, 92), fill=silver, outline=dark, width=5)  # rim
    draw.ellipse((bell_x - 128, 42, bell_x + 128, 82), fill=inside)  # opening
    for i in range(4):  # valve casings with finger buttons
        left = 150 + i * 28
        draw.rectangle((left, 250, left + 22, 360), fill=silver, outline=dark, width=3)
        draw.rectangle((left + 7, 226, left + 15, 250), fill=dark)
        draw.ellipse((left - 2, 212, left + 24, 230), fill=light, outline=dark, width=3)
    draw.line([(150, 300), (80, 240), (60, 180)], fill=silver, width=16, joint="curve")  # mouthpipe
    draw.ellipse((42, 150, 78, 186), fill=silver, outline=dark, width=4)  # mouthpiece cup
    return image


def draw_erhu():
    """An erhu: red hexagonal sound box with a snakeskin face, long thin neck, two
    pegs, two strings and a horizontal bow."""
    image, draw = new_canvas()
    lacquer, lacquer_dark = (158, 32, 26), (92, 16, 12)
    neck, skin, scale = (46, 26, 16), (222, 212, 186), (120, 104, 80)
    string, hair, stick = (210, 214, 222), (240, 230, 200), (118, 70, 34)
    x = 220
    draw.line([(x, 36), (x, 500)], fill=neck, width=18)  # neck (the pole through the box)
    draw.arc((x - 6, 10, x + 44, 60), 180, 330, fill=neck, width=16)  # curled head
    for y in (84, 130):  # two tuning pegs
        draw.polygon([(x - 10, y - 8), (x + 80, y - 11), (x + 80, y + 11), (x - 10, y + 8)], fill=stick)
        draw.ellipse((x + 70, y - 16, x + 98, y + 16), fill=neck)
    hexagon = [(x - 70, 360), (x + 90, 360), (x + 118, 420), (x + 90, 480), (x - 70, 480), (x - 98, 420)]
    draw.polygon(hexagon, fill=lacquer, outline=lacquer_dark, width=8)
    draw.line([(x - 70, 392), (x + 100, 392)], fill=lacquer_dark, width=5)  # wood panel edges
    draw.line([(x - 70, 448), (x + 100, 448)], fill=lacquer_dark, width=5)
    draw.ellipse((x + 74, 362, x + 164, 478), fill=skin, outline=lacquer_dark, width=7)  # python skin
    for i in range(20):  # scale pattern on the skin
        cx, cy = x + 94 + (i % 4) * 16, 382 + (i // 4) * 19
        draw.ellipse((cx - 5, cy - 4, cx + 5, cy + 4), fill=scale)
    for offset, y_top in ((16, 88), (26, 134)):  # two strings from the pegs to the box
        draw.line([(x + offset, y_top), (x + offset, 420)], fill=string, width=4)
    draw.rectangle((x + 6, 250, x + 36, 262), fill=(40, 40, 40))  # qianjin string loop
    draw.line([(60, 334), (460, 320)], fill=stick, width=12)  # bow stick
    draw.line([(74, 348), (450, 336)], fill=hair, width=8)  # bow hair between the strings
    draw.rectangle((52, 320, 80, 360), fill=neck)  # frog
    return image


def draw_xylophone():
    """A xylophone: rainbow bars shortening left to right on a wooden frame, two mallets."""
    image, draw = new_canvas()
    wood, wood_dark, nail = (150, 98, 50), (96, 60, 28), (210, 212, 220)
    colours = [
        (228, 40, 48), (245, 130, 32), (250, 208, 40), (80, 184, 72),
        (40, 170, 200), (48, 96, 210), (128, 70, 190), (220, 80, 170),
    ]  # fmt: skip
    bar_width, gap, left = 44, 10, 40
    top_rail = [(left - 20, 200), (left + 8 * (bar_width + gap) + 10, 250)]
    bottom_rail = [(left - 20, 450), (left + 8 * (bar_width + gap) + 10, 400)]
    for rail in (top_rail, bottom_rail):
        draw.line(rail, fill=wood_dark, width=26)
        draw.line(rail, fill=wood, width=18)
    for i, colour in enumerate(colours):
        x0 = left + i * (bar_width + gap)
        shrink = i * 12  # higher notes are shorter bars
        y0, y1 = 170 + shrink / 2 + i * 4, 480 - shrink / 2 - i * 4
        darker = tuple(int(c * 0.65) for c in colour)
        draw.rounded_rectangle((x0, y0, x0 + bar_width, y1), radius=8, fill=colour, outline=darker, width=4)
        for rail in (top_rail, bottom_rail):  # a nail where the bar sits on each rail
            (rx0, ry0), (rx1, ry1) = rail
            cx = x0 + bar_width / 2
            cy = ry0 + (ry1 - ry0) * (cx - rx0) / (rx1 - rx0)
            draw.ellipse((cx - 6, cy - 6, cx + 6, cy + 6), fill=nail)
    for (x0, y0), (x1, y1) in (((300, 20), (200, 300)), ((470, 60), (330, 320))):  # mallets
        draw.line([(x0, y0), (x1, y1)], fill=wood_dark, width=10)
        draw.ellipse((x1 - 24, y1 - 24, x1 + 24, y1 + 24), fill=(200, 30, 40), outline=(110, 10, 20), width=4)
    return image


DRAWN_SPRITES = {
    "cello": draw_cello,
    "clarinet": draw_clarinet,
    "erhu": draw_erhu,
    "tuba": draw_tuba,
    "xylophone": draw_xylophone,
}


def sprite_source(instrument):
    if instrument.emoji is not None and instrument.tint is not None:
        return f"Noto Color Emoji U+{ord(instrument.emoji):04X}, recoloured"
    if instrument.emoji is not None:
        return f"Noto Color Emoji U+{ord(instrument.emoji):04X}"
    return "drawn by tools/render_samples.py"


def render_all_sprites(out_dir, emoji_font):
    sprite_dir = out_dir / "sprites"
    sprite_dir.mkdir(parents=True, exist_ok=True)
    for instrument in INSTRUMENTS:
        if instrument.emoji is not None:
            image = render_emoji(instrument.emoji, emoji_font)
            if instrument.tint is not None:
                image = recolour(image, instrument.tint)
        else:
            image = DRAWN_SPRITES[instrument.name]()
        fit_to_sprite(image).save(sprite_dir / f"{instrument.name}.png", optimize=True)
    for name, character in DISTRACTOR_EMOJI.items():
        fit_to_sprite(render_emoji(character, emoji_font)).save(
            sprite_dir / f"distractor_{name}.png", optimize=True
        )


# --------------------------------------------------------------------------
# Metadata, AudioSet labels, manifest and notice
# --------------------------------------------------------------------------


def copy_metadata(shared_data, out_dir):
    """Copy the real metadata files, keeping their subfolders, as writable files."""
    target = out_dir / "metadata"
    if target.exists():
        shutil.rmtree(target)
    for relative in (*METADATA_FILES.values(), *METADATA_LICENCES):
        source = shared_data / relative
        destination = target / relative
        if source.is_dir():
            # copyfile, not copy2: the shared originals are read-only.
            shutil.copytree(source, destination, copy_function=shutil.copyfile)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)


def audioset_mids(shared_data):
    """Map each instrument to the mid of its AudioSet class, checked against both the
    ontology and the 527 labelled classes."""
    ontology = json.loads((shared_data / "audioset" / "ontology.json").read_text())
    mid_by_name = {node["name"]: node["id"] for node in ontology}
    labelled = (shared_data / "audioset" / "class_labels_indices.csv").read_text()
    mids = {}
    for instrument in INSTRUMENTS:
        mid = mid_by_name.get(instrument.audioset_name)
        if mid is None or f",{mid}," not in labelled:
            raise RuntimeError(f"{instrument.audioset_name!r} is not a labelled AudioSet class")
        mids[instrument.name] = mid
    return mids


def build_manifest(mids):
    instruments = {
        instrument.name: {
            "stems": [stem_path(instrument, k) for k in range(PHRASES_PER_INSTRUMENT)],
            "sprite": f"sprites/{instrument.name}.png",
            "gm_program": instrument.gm_program,
            "audioset_mid": mids[instrument.name],
            "audioset_name": instrument.audioset_name,
            "sprite_source": sprite_source(instrument),
        }
        for instrument in INSTRUMENTS
    }
    return {
        "sample_rate": SAMPLE_RATE,
        "clip_seconds": CLIP_SECONDS,
        "test_phrases": TEST_PHRASES,
        "instruments": instruments,
        "distractors": {name: f"sprites/distractor_{name}.png" for name in DISTRACTOR_EMOJI},
        "metadata": {key: f"metadata/{path}" for key, path in METADATA_FILES.items()},
    }


def write_manifest(out_dir, manifest):
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (out_dir / "manifest.json").write_text(text)


def metadata_table(shared_data):
    """The attribution table of the shared data's NOTICE, verbatim."""
    lines = (shared_data / "NOTICE.md").read_text().splitlines()
    table = [line for line in lines if line.startswith("|")]
    if not table:
        raise RuntimeError(f"no attribution table found in {shared_data / 'NOTICE.md'}")
    return "\n".join(table)


def notice_text(shared_data):
    emoji_rows = [
        f"| `sprites/{i.name}.png` | {sprite_source(i)} |" for i in INSTRUMENTS if i.emoji is not None
    ] + [
        f"| `sprites/distractor_{name}.png` | Noto Color Emoji U+{ord(c):04X} |"
        for name, c in DISTRACTOR_EMOJI.items()
    ]
    drawn = ",\n".join(f"`sprites/{name}.png`" for name in DRAWN_SPRITES)
    return f"""# data_samples: sources and licences

Everything in this folder except `metadata/` is generated by
`tools/render_samples.py` (deterministic; see its docstring to regenerate).

## Instrument stems (`stems/*.flac`)

{PHRASES_PER_INSTRUMENT} short phrases per instrument (the last {TEST_PHRASES} are the synthetic
world's held-out test phrases), composed by `tools/render_samples.py`
(seeded random walks on a scale), written as MIDI and rendered with
[FluidSynth](https://www.fluidsynth.org/) using the **FluidR3_GM** General MIDI
soundfont by **Frank Wen** and contributors, licensed under the **MIT licence**
(Debian package `fluid-soundfont-gm`). Rendered audio: {SAMPLE_RATE} Hz, mono, {CLIP_SECONDS} s,
peak {TARGET_PEAK}, 16-bit FLAC. The phrases themselves are ours (MIT, like avcourse).

Approximations:
- **erhu** has no General MIDI program; it is rendered with GM program 41
  "Viola" in the erhu's register (D4 to D6) with a wide pitch-bend vibrato and
  occasional slides into notes. (GM 110 "Fiddle" plays the same FluidR3 samples
  as the violin.) It is a bowed string, not a real erhu. Its AudioSet label is
  the parent class "Bowed string instrument" (AudioSet has no erhu class).
- **tuba** has no AudioSet class; its label is the parent "Brass instrument".
- **acoustic_guitar** uses GM program 25 "Acoustic Guitar (steel)"; its sprite
  is the Noto guitar emoji, which shows an electric-style red guitar.

## Sprites (`sprites/*.png`)

| file | source |
|---|---|
{chr(10).join(emoji_rows)}

Emoji images are from **Noto Color Emoji** by **Google**, licensed under the
**SIL Open Font License 1.1** (Debian package `fonts-noto-color-emoji`),
rasterised, cropped and downscaled to 96x96. The trumpet emoji is recoloured to
copper (RGB gains 1.0, 0.7, 0.5) so it does not share the saxophone's yellow.

{drawn}
are drawn with Pillow by `tools/render_samples.py` (ours, **MIT**). The tuba is
drawn silver-plated so its colours differ from the yellow trumpet and saxophone
emoji.

## Real metadata (`metadata/`)

Copied unchanged from the course's shared data (paths below are relative to
`metadata/`). Licence texts travel with them: `localization/LICENSE-DSOL-MIT.txt`,
`localization/LICENSE-LVS-Apache-2.0.txt`, `mir_eval_separation/LICENSE-mir_eval.txt`.

{metadata_table(shared_data)}

Cite the MUSIC dataset as: Zhao et al., "The Sound of Pixels", ECCV 2018.
"""


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


def stem_problems(path):
    audio, rate = sf.read(path, dtype="float64", always_2d=True)
    problems = []
    if rate != SAMPLE_RATE or audio.shape != (CLIP_SAMPLES, 1):
        return [f"{path.name}: {rate} Hz, shape {audio.shape}"]
    audio = audio[:, 0]
    if abs(np.abs(audio).max() - TARGET_PEAK) > 0.01:
        problems.append(f"{path.name}: peak {np.abs(audio).max():.3f}")
    if np.abs(audio[: int(0.05 * SAMPLE_RATE)]).max() < 0.01:
        problems.append(f"{path.name}: silent first 50 ms")
    window_rms = np.sqrt((audio.reshape(-1, SAMPLE_RATE) ** 2).mean(axis=1))
    if window_rms.min() <= 0.01:
        problems.append(f"{path.name}: quiet 1-s window, RMS {window_rms.min():.4f}")
    return problems


def sprite_problems(path):
    image = Image.open(path)
    if image.mode != "RGBA" or image.size != (SPRITE_SIZE, SPRITE_SIZE):
        return [f"{path.name}: {image.mode} {image.size}"]
    if image.getchannel("A").getbbox() is None:
        return [f"{path.name}: fully transparent"]
    return []


def check_outputs(out_dir):
    """Return a list of problems with the written assets (empty when all is well)."""
    manifest = json.loads((out_dir / "manifest.json").read_text())
    problems = []
    expected = {"sample_rate": SAMPLE_RATE, "clip_seconds": CLIP_SECONDS, "test_phrases": TEST_PHRASES}
    for key, value in expected.items():
        if manifest.get(key) != value:
            problems.append(f"manifest {key} is {manifest.get(key)!r}, not {value!r}")
    listed = set()
    for name, info in manifest["instruments"].items():
        if len(info["stems"]) != PHRASES_PER_INSTRUMENT:
            problems.append(f"{name}: {len(info['stems'])} stems, not {PHRASES_PER_INSTRUMENT}")
        for stem in info["stems"]:
            problems += stem_problems(out_dir / stem)
            listed.add(stem)
        problems += sprite_problems(out_dir / info["sprite"])
    for path in sorted((out_dir / "stems").glob("*")):
        if path.relative_to(out_dir).as_posix() not in listed:
            problems.append(f"stray file {path.relative_to(out_dir)} (not in the manifest)")
    for sprite in manifest["distractors"].values():
        problems += sprite_problems(out_dir / sprite)
    for path in manifest["metadata"].values():
        if not (out_dir / path).exists():
            problems.append(f"missing {path}")
    size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
    if size > MAX_FOLDER_BYTES:
        problems.append(f"{out_dir} is {size / 2**20:.2f} MiB, over the budget")
    print(f"{out_dir}: {size / 2**20:.2f} MiB")
    return problems


# --------------------------------------------------------------------------


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--shared-data", type=Path, default=DEFAULT_SHARED_DATA)
    parser.add_argument("--soundfont", type=Path, default=DEFAULT_SOUNDFONT)
    parser.add_argument("--emoji-font", type=Path, default=DEFAULT_EMOJI_FONT)
    parser.add_argument("--check", action="store_true", help="only check the existing outputs")
    return parser.parse_args()


def main():
    args = parse_args()
    if not args.check:
        args.out.mkdir(parents=True, exist_ok=True)
        mids = audioset_mids(args.shared_data)
        render_all_stems(args.out, args.soundfont)
        render_all_sprites(args.out, args.emoji_font)
        copy_metadata(args.shared_data, args.out)
        write_manifest(args.out, build_manifest(mids))
        (args.out / "NOTICE.md").write_text(notice_text(args.shared_data))
    problems = check_outputs(args.out)
    for problem in problems:
        print("FAIL", problem)
    if problems:
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
