"""Benchmark: avcourse's audio front end against Sound of Pixels' own path.

Prints a markdown table (paste it into docs/benchmarks.md) of clips/s for
"waveform -> 512 x 256 STFT magnitude -> 256 x 256 log-frequency warp" on
65535-sample clips at 11025 Hz (5.94 s), at batch 1 and 16, from waveforms in
memory and from FLAC files (written to a temporary folder with soundfile):

* avcourse: ``audio.spectrogram`` then ``audio.log_freq_warp`` on the batch
  (the public functions, numpy in and numpy out); from FLAC, each file read with
  ``audio.load_audio`` and cut with ``audio.fit_length`` first;
* Sound of Pixels (SoP, github.com/hangzhaomit/Sound-of-Pixels, as its
  ``dataset/base.py`` and ``main.py`` do it): ``librosa.stft(n_fft=1022,
  hop_length=256)`` clip by clip with the reflect padding of the librosa it used
  (``pad_mode="reflect"``; librosa >= 0.10 pads with zeros by default) and
  ``np.abs``, the clips stacked into a (B, 1, 512, 256) batch, its ``warpgrid``
  formula (a (B, 256, 256, 2) grid sampling row ``y`` at
  ``(21 ** ((y + 1) / 2) - 11) / 10``, built on every call as SoP's forward
  does) and a bilinear ``grid_sample`` with the align-corners convention of the
  PyTorch it used: ``torch.nn.functional.grid_sample`` when PyTorch is
  installed, otherwise a numpy equivalent written here (bilinear sampling is
  separable and ``warpgrid`` is a meshgrid, so it interpolates along rows,
  then along columns, at the grid's own coordinates; the table's header says
  which one ran). From FLAC, each file is read with
  ``librosa.load(path, sr=None, mono=True)`` (SoP's reader for non-mp3 files)
  and cut to 65535 samples. SoP also computes the phase (``np.angle``), which
  the features here do not need: it is left out, which favours the baseline.
* the last two columns time SoP's path with the grid built once, outside the
  timed call, to show how much of the gap is the grid.

Before timing, the script checks that both paths give the same features. Every
method is warmed up with 6 calls (tracing, and the XLA compilation that
avcourse gives a shape on its first call on TensorFlow; librosa's caches; the
file cache) and timed as the median of all its calls: the table is measured in
several rounds (each round visits every row; within a row the methods' calls
alternate), so that background load on a shared machine hits every row and
method alike; a column gives the range of the per-round avcourse / SoP
ratios. By default every library runs on one thread
(OpenBLAS/OpenMP and PyTorch through environment variables set before any
import, TensorFlow's intra- and inter-op pools); ``--threads 0`` keeps the
libraries' defaults.

Usage (with avcourse installed, e.g. ``pip install -e .``; from the checkout)::

    python bench/frontend.py            # full run
    python bench/frontend.py --quick    # fewer repeats, for a smoke test
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _machine import limit_threads, load_average, machine_line, timed  # noqa: E402

np = None  # imported in main(), after the thread settings are in the environment

SAMPLE_RATE, NUM_SAMPLES, N_FFT, HOP, NUM_WARPED = 11025, 65535, 1022, 256, 256
WARMUP = 6  # calls per method before timing


def torch_or_none(threads):
    """PyTorch pinned to ``threads`` threads, or ``None`` when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    if threads:
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)
    return torch


def machine_info(torch):
    import keras
    import librosa
    import soundfile
    import tensorflow as tf

    versions = {
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": f"{keras.__version__} (backend {keras.backend.backend()})",
        "librosa": librosa.__version__,
        "soundfile": soundfile.__version__,
    }
    versions["torch"] = torch.__version__ if torch is not None else "not installed (numpy grid_sample)"
    return machine_line(versions)


def clips(count, seed=0):
    """``count`` 5.94 s test sounds in [-1, 1]: a few harmonic notes with vibrato plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(NUM_SAMPLES) / SAMPLE_RATE
    sounds = []
    for _ in range(count):
        pitch = 110.0 * 2 ** rng.uniform(0, 3)
        phase = 2 * np.pi * pitch * (t + 0.002 * np.sin(2 * np.pi * 5 * t))
        tone = sum(np.sin(h * phase) / h for h in range(1, 6)) * (0.5 + 0.5 * np.sin(np.pi * t / t[-1]))
        sounds.append(0.3 * tone + 0.01 * rng.standard_normal(NUM_SAMPLES))
    return np.clip(np.stack(sounds), -1, 1).astype(np.float32)


# --------------------------------------------------------------------------- Sound of Pixels' path


def sop_warpgrid(batch, rows, columns):
    """SoP's ``warpgrid(bs, HO, WO, warp=True)``, from its formula: (batch, rows, columns, 2) float32 of (x, y)."""
    x, y = np.meshgrid(np.linspace(-1, 1, columns), np.linspace(-1, 1, rows))
    grid = np.zeros((batch, rows, columns, 2))
    grid[..., 0] = x
    grid[..., 1] = (np.power(21, (y + 1) / 2) - 11) / 10
    return grid.astype(np.float32)


def _lerp_indices(coords, size):
    """Bilinear taps (align corners) of normalised coordinates on an axis of ``size`` samples."""
    position = (coords + 1) / 2 * (size - 1)
    lower = np.clip(np.floor(position).astype(np.int64), 0, size - 1)
    upper = np.minimum(lower + 1, size - 1)
    return lower, upper, (position - lower).astype(np.float32)


def numpy_grid_sample(images, grid):
    """``grid_sample(images, grid, mode="bilinear", align_corners=True)`` for a meshgrid ``grid`` (as ``warpgrid``).

    images (B, C, H, W), grid (B, Ho, Wo, 2) with every row of x and every
    column of y the same: the bilinear weights factor into a row and a column
    interpolation, computed at the grid's own coordinates.
    """
    y_lower, y_upper, y_weight = _lerp_indices(grid[0, :, 0, 1], images.shape[2])
    x_lower, x_upper, x_weight = _lerp_indices(grid[0, 0, :, 0], images.shape[3])
    rows = images[:, :, y_lower, :] * (1 - y_weight)[:, None] + images[:, :, y_upper, :] * y_weight[:, None]
    return rows[..., x_lower] * (1 - x_weight) + rows[..., x_upper] * x_weight


def make_sop(torch, grid_once=None):
    """SoP's features of a list of waveforms: per-clip librosa STFT magnitude, warpgrid, bilinear grid_sample."""
    import librosa

    def features(waveforms):
        magnitudes = np.stack(
            [np.abs(librosa.stft(w, n_fft=N_FFT, hop_length=HOP, pad_mode="reflect")) for w in waveforms]
        )[:, None]  # (B, 1, 512, frames)
        batch, frames = magnitudes.shape[0], magnitudes.shape[-1]
        grid = grid_once if grid_once is not None else sop_warpgrid(batch, NUM_WARPED, frames)
        if torch is not None:
            warped = torch.nn.functional.grid_sample(
                torch.from_numpy(magnitudes), torch.from_numpy(grid[:batch]), mode="bilinear", align_corners=True
            ).numpy()
        else:
            warped = numpy_grid_sample(magnitudes, grid[:batch])
        return warped[:, 0]

    return features


def sop_read(path):
    """SoP's ``_load_audio_file`` for a non-mp3 file, then the clip cut to 65535 samples."""
    import librosa

    waveform, rate = librosa.load(str(path), sr=None, mono=True)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path}: expected {SAMPLE_RATE} Hz, found {rate} Hz")
    return librosa.util.fix_length(waveform, size=NUM_SAMPLES)


# --------------------------------------------------------------------------- the benchmark


def bench(batch_sizes, rounds, repeats, torch, folder):
    import soundfile

    from avcourse import audio

    config = audio.AudioConfig()
    assert (config.n_fft, config.hop_length, config.num_samples) == (N_FFT, HOP, NUM_SAMPLES)
    waveforms = clips(max(batch_sizes))
    paths = []
    for index, waveform in enumerate(waveforms):
        paths.append(Path(folder) / f"clip{index:02d}.flac")
        soundfile.write(paths[-1], waveform, SAMPLE_RATE)  # 16-bit FLAC
    sop = make_sop(torch)
    sop_grid_once = make_sop(torch, grid_once=sop_warpgrid(max(batch_sizes), NUM_WARPED, config.num_frames))

    def ours(batch):
        return audio.log_freq_warp(audio.spectrogram(batch, config), config)

    def ours_batch(batch_size):  # batch 1: a single waveform (samples,), as a caller with one clip passes it
        return waveforms[0] if batch_size == 1 else waveforms[:batch_size]

    def ours_flac(batch_size):
        loaded = [audio.fit_length(audio.load_audio(path, config), NUM_SAMPLES) for path in paths[:batch_size]]
        return ours(loaded[0] if batch_size == 1 else np.stack(loaded))

    # Both paths must compute the same features, or the comparison means nothing.
    reference = sop(list(waveforms))
    difference = float(np.max(np.abs(ours(waveforms) - reference)) / np.max(np.abs(reference)))
    flac_reference = sop([sop_read(path) for path in paths])
    flac_difference = float(np.max(np.abs(ours_flac(len(paths)) - flac_reference)) / np.max(np.abs(flac_reference)))
    if max(difference, flac_difference) > 1e-4:
        raise AssertionError(f"avcourse and SoP disagree: max relative difference {max(difference, flac_difference):.2e}")

    rows = {}
    for source in ("memory", "FLAC"):
        for batch_size in batch_sizes:
            if source == "memory":
                batch, listed = ours_batch(batch_size), list(waveforms[:batch_size])
                methods = [lambda b=batch: ours(b), lambda w=listed: sop(w), lambda w=listed: sop_grid_once(w)]
            else:
                chosen = paths[:batch_size]
                methods = [
                    lambda n=batch_size: ours_flac(n),
                    lambda c=chosen: sop([sop_read(path) for path in c]),
                    lambda c=chosen: sop_grid_once([sop_read(path) for path in c]),
                ]
            for method in methods:  # warm-up: tracing and XLA compilation, librosa's caches, the file cache
                for _ in range(WARMUP):
                    method()
            rows[source, batch_size] = (methods, [[] for _ in methods], [])
    for _ in range(rounds):
        for methods, times, ratios in rows.values():
            round_times = timed(methods, repeats)
            for record, new in zip(times, round_times):
                record.extend(new)
            ratios.append(statistics.median(round_times[1]) / statistics.median(round_times[0]))
    table = []
    for (source, batch_size), (_, times, ratios) in rows.items():
        table.append((source, batch_size, *(statistics.median(record) for record in times), min(ratios), max(ratios)))
    return table, max(difference, flac_difference)


def main():
    global np
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test, noisier numbers)")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the table's rows")
    parser.add_argument("--repeats", type=int, default=9, help="timed calls per method, row and round")
    parser.add_argument("--threads", type=int, default=1, help="threads per library (0: the libraries' defaults)")
    args = parser.parse_args()
    if args.threads:  # before numpy or PyTorch is imported: their thread pools read these once
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
            os.environ[variable] = str(args.threads)
    threads = limit_threads(args.threads)
    import numpy as np

    torch = torch_or_none(args.threads)
    rounds, repeats = (1, 5) if args.quick else (args.rounds, args.repeats)
    started, load_before = time.perf_counter(), load_average()
    with tempfile.TemporaryDirectory() as folder:
        rows, difference = bench((1, 16), rounds, repeats, torch, folder)

    grid_sample = "torch.nn.functional.grid_sample" if torch is not None else "numpy bilinear grid_sample"
    print(f"Machine: {machine_info(torch)}")
    print(
        f"Clip: 65535 samples at 11025 Hz (5.94 s) -> 512 x 256 STFT magnitude -> 256 x 256 warped; {threads}; "
        f"median of {rounds} rounds x {repeats} calls after {WARMUP} warm-up calls; SoP's grid_sample: {grid_sample}; "
        f"avcourse vs SoP features: max relative difference {difference:.1e}."
    )
    print()
    print(
        "| input | batch | avcourse (clips/s) | SoP (clips/s) | avcourse / SoP | per-round ratios "
        "| SoP, grid built once (clips/s) | avcourse / that |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for source, batch, ours, sop, sop_once, low, high in rows:
        print(
            f"| {'waveforms in memory' if source == 'memory' else 'FLAC files'} | {batch} | {batch / ours:,.0f} | "
            f"{batch / sop:,.0f} | **{sop / ours:.2f}x** | {low:.2f}-{high:.2f}x | {batch / sop_once:,.0f} | "
            f"{sop_once / ours:.2f}x |"
        )
    print()
    print(
        f"(total {time.perf_counter() - started:.0f} s; 1-min load average {load_before:.1f} before, "
        f"{load_average():.1f} after)"
    )


if __name__ == "__main__":
    main()
