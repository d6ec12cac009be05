"""Shared test set-up.

librosa JIT-compiles (numba) on its first call in a fresh environment; warming
it once per session keeps that cost out of every individual test.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def warm_librosa():
    import librosa

    librosa.stft(np.zeros(2048, np.float32), n_fft=1022, hop_length=256)
    librosa.resample(np.zeros(2048, np.float32), orig_sr=22050, target_sr=11025, res_type="soxr_hq")
    return librosa


@pytest.fixture
def tiny_ccol():
    """Keyword arguments of a CCoLModel small enough for one-step tests (16 x 11 spectrograms, 16 px crops)."""
    return dict(
        audio_net="small",
        object_net="small",
        audio_shape=(16, 11, 1),
        object_shape=(16, 16, 3),
        grounding_units=(8, 4),
        separator_depth=2,
        separator_base_channels=4,
        separator_channels=4,
    )
