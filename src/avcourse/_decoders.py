"""The decoders behind :func:`avcourse.audio.load_audio` (private; the public API is ``avcourse.audio``).

soundfile first (libsndfile: WAV, FLAC, OGG), then PyAV for what it cannot
read (video containers, MP3). Both return ``(channels, samples)`` float32 and
the file's native rate; ``load_audio`` checks, mixes down and resamples.
Imports run one way: ``avcourse.audio`` imports this module, never the reverse.
"""

import numpy as np


def read_with_soundfile(path):
    """Decode ``path`` with soundfile (WAV, FLAC, OGG, ...): ``(float32 (channels, samples), native rate)``."""
    import soundfile

    waveform, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return waveform.T, rate  # (channels, samples)


def read_with_pyav(path):
    """Decode ``path``'s first audio stream with PyAV (video containers, MP3, ...): ``(float32 (channels, samples), native rate)``."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError("the file has no audio stream")
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray() for frame in container.decode(stream)]
        rate = stream.rate
    if not chunks:
        return np.zeros((1, 0), np.float32), rate
    planar = stream.format.is_planar if hasattr(stream.format, "is_planar") else True
    channels = stream.channels if hasattr(stream, "channels") else 1
    if planar:
        waveform = np.concatenate(chunks, axis=1)
    else:  # packed samples come interleaved as (1, samples * channels)
        waveform = np.concatenate(chunks, axis=1).reshape(-1, channels).T
    if np.issubdtype(waveform.dtype, np.integer):
        waveform = waveform / float(np.iinfo(waveform.dtype).max)
    return waveform.astype(np.float32), rate
