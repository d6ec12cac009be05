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
