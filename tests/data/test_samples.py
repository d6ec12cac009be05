"""The bundled samples resolve and are what the manifest says."""

import numpy as np
import pytest
import soundfile
from PIL import Image

from avcourse import data

MUSIC_INSTRUMENTS = {
    "accordion", "acoustic_guitar", "cello", "clarinet", "erhu", "flute",
    "saxophone", "trumpet", "tuba", "violin", "xylophone",
}
SAMPLE_RATE = 11025
PHRASES = 16
TEST_PHRASES = 4
CLIP_SECONDS = 4.0
# Scenes crop 2-s clips at a random start and pitch-shift them up to +2
# semitones by resampling, which needs 2 * 2 ** (2 / 12) = 2.24 s of a stem.
MIN_STEM_SECONDS = 2.3


def test_manifest_lists_at_least_eight_music_instruments():
    instruments = data.manifest()["instruments"]
    assert len(set(instruments) & MUSIC_INSTRUMENTS) >= 8
    assert data.samples_root().is_dir()


def test_manifest_counts_and_clip_length():
    manifest = data.manifest()
    assert manifest["sample_rate"] == SAMPLE_RATE
    assert manifest["clip_seconds"] == CLIP_SECONDS >= MIN_STEM_SECONDS
    assert manifest["test_phrases"] == TEST_PHRASES
    for name, info in manifest["instruments"].items():
        assert info["stems"] == [f"stems/{name}_{k}.flac" for k in range(PHRASES)], name


@pytest.mark.parametrize("name", sorted(data.manifest()["instruments"]))
def test_every_stem_and_sprite_loads(name):
    info = data.manifest()["instruments"][name]
    assert len(info["stems"]) == PHRASES
    for stem in info["stems"]:
        waveform, rate = soundfile.read(data.sample_path(stem))
        assert rate == SAMPLE_RATE and waveform.ndim == 1, stem
        assert len(waveform) == round(CLIP_SECONDS * SAMPLE_RATE), stem
        assert abs(np.abs(waveform).max() - 0.7) < 0.01, stem  # peak-normalised
        assert np.abs(waveform[: SAMPLE_RATE // 20]).max() > 0.01, stem  # starts at a note
        window_rms = np.sqrt((waveform.reshape(-1, SAMPLE_RATE) ** 2).mean(axis=1))
        assert window_rms.min() > 0.01, stem  # sound throughout, no silent second
    sprite = np.asarray(Image.open(data.sample_path(info["sprite"])))
    assert sprite.ndim == 3 and sprite.shape[2] == 4 and sprite[..., 3].max() > 0


def test_splits_hold_out_whole_phrases():
    """The world's split rule leaves whole phrases to each split: fit 8, validation 4, test 4.

    Test is the last ``test_phrases`` stems; of the rest (train), validation is the
    last ``test_phrases`` and fit the others (``avcourse.data.world``).
    """
    manifest = data.manifest()
    held_out = manifest["test_phrases"]
    for name, info in manifest["instruments"].items():
        stems = info["stems"]
        train, test = stems[:-held_out], stems[-held_out:]
        fit, validation = train[:-held_out], train[-held_out:]
        assert (len(fit), len(validation), len(test)) == (8, 4, 4), name
        assert test == [f"stems/{name}_{k}.flac" for k in range(12, 16)]
        assert validation == [f"stems/{name}_{k}.flac" for k in range(8, 12)]
        assert len(set(fit) | set(validation) | set(test)) == PHRASES


def test_phrases_are_different_recordings():
    """No two phrases of an instrument are the same audio (held-out phrases are unheard)."""
    for name, info in data.manifest()["instruments"].items():
        waveforms = [soundfile.read(data.sample_path(stem))[0] for stem in info["stems"]]
        for i in range(len(waveforms)):
            for j in range(i + 1, len(waveforms)):
                assert not np.allclose(waveforms[i], waveforms[j], atol=1e-3), (name, i, j)


def test_example_resolves_instrument_and_stem_names():
    assert data.example("violin").name == "violin_0.flac"
    assert data.example("cello_1").name == "cello_1.flac"
    with pytest.raises(ValueError, match="`key` must name a bundled example"):
        data.example("kazoo")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.sample_path("nope.wav")


def test_real_metadata_is_bundled():
    for key, relative in data.manifest()["metadata"].items():
        assert data.sample_path(relative).exists(), key
    assert (data.samples_root() / "NOTICE.md").is_file()
