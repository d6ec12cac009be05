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


def test_manifest_lists_at_least_eight_music_instruments():
    instruments = data.manifest()["instruments"]
    assert len(set(instruments) & MUSIC_INSTRUMENTS) >= 8
    assert data.samples_root().is_dir()


@pytest.mark.parametrize("name", sorted(data.manifest()["instruments"]))
def test_every_stem_and_sprite_loads(name):
    info = data.manifest()["instruments"][name]
    assert len(info["stems"]) >= 2
    for stem in info["stems"]:
        waveform, rate = soundfile.read(data.sample_path(stem))
        assert rate == 11025 and waveform.ndim == 1 and len(waveform) >= 65535
        assert 0.1 < np.abs(waveform).max() <= 1.0
    sprite = np.asarray(Image.open(data.sample_path(info["sprite"])))
    assert sprite.ndim == 3 and sprite.shape[2] == 4 and sprite[..., 3].max() > 0


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
