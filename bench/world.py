"""Benchmark: the synthetic world and the audio front end.

Prints a markdown table (paste it into docs/benchmarks.md):

* ``make_scene`` throughput (scenes/s) at 1, 2 and 4 sources, 128 px pictures,
  default audio config (65535-sample clips);
* the front end "decode -> STFT -> log-frequency warp" (clips/s) on the bundled
  FLAC stems, avcourse (``load_audio`` + ``audio.spectrogram`` +
  ``audio.log_freq_warp``, batched with ``keras.ops``) against a numpy/librosa
  baseline (``soundfile.read`` + ``librosa.stft(pad_mode="reflect")`` +
  ``W @ |S|`` with ``W`` built here from the Sound of Pixels formula), with
  decoding (batch 8) and without it (batch 1 and 8).

Every method is warmed up first (TensorFlow kernels, librosa's caches), then
timed as the median of several repeats; the methods' calls alternate so that
background load hits them alike. By default every library runs on one thread
(OpenBLAS/OpenMP via environment variables, TensorFlow's intra- and inter-op
pools), which compares the algorithms rather than thread pools and keeps the
numbers stable on a shared machine; ``--threads 0`` keeps the libraries'
defaults.

Usage (with avcourse installed, e.g. ``pip install -e .``)::

    python bench/world.py            # full run
    python bench/world.py --quick    # fewer repeats, for a smoke test
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _machine import limit_threads, load_average, machine_line, timed  # noqa: E402

np = None  # imported in main(), after the thread settings are in the environment


def machine_info():
    """One line describing the machine and the library versions."""
    import keras
    import librosa
    import soundfile
    import tensorflow as tf

    return machine_line(
        {
            "numpy": np.__version__,
            "tensorflow": tf.__version__,
            "keras": f"{keras.__version__} (backend {keras.backend.backend()})",
            "librosa": librosa.__version__,
            "soundfile": soundfile.__version__,
        }
    )


def median_seconds(*functions, repeats, warmup=2):
    """Median wall time of each function over ``repeats`` calls, after ``warmup`` calls each.

    With several functions the calls alternate (a, b, a, b, ...), so that a
    background load or CPU frequency change during the run affects all of them
    alike. Returns one median per function.
    """
    for function in functions:
        for _ in range(warmup):
            function()
    times = timed(functions, repeats)
    medians = [statistics.median(record) for record in times]
    return medians[0] if len(medians) == 1 else medians


def baseline_warp_matrix(num_bins=512, num_warped=256):
    """Sound of Pixels' warp grid written out independently of avcourse.

    Output row ``r`` (coordinate ``y = -1 + 2r/(num_warped-1)``) samples the
    linear axis at ``(21 ** ((y + 1) / 2) - 11) / 10`` (normalised, align
    corners), with linear interpolation between the two nearest bins.
    """
    y = np.linspace(-1.0, 1.0, num_warped)
    position = ((21.0 ** ((y + 1.0) / 2.0) - 11.0) / 10.0 + 1.0) / 2.0 * (num_bins - 1)
    lower = np.clip(np.floor(position).astype(int), 0, num_bins - 1)
    upper = np.minimum(lower + 1, num_bins - 1)
    fraction = position - lower
    matrix = np.zeros((num_warped, num_bins), np.float32)
    for row in range(num_warped):
        matrix[row, lower[row]] += 1.0 - fraction[row]
        matrix[row, upper[row]] += fraction[row]
    return matrix


def bench_scenes(repeats, scenes_per_repeat):
    from avcourse.data import manifest, world
    from avcourse.data.world import make_scene

    # Decode every bundled phrase once (make_scene caches them), so the timing
    # measures composing scenes, not first-time FLAC decoding.
    for name in world.instrument_names():
        for index in range(len(manifest()["instruments"][name]["stems"])):
            world.instrument_phrase(name, index)
    rows = []
    for num_sources in (1, 2, 4):
        counter = iter(range(10**9))

        def draw():
            for _ in range(scenes_per_repeat):
                make_scene(num_sources, seed=next(counter), image_size=128)

        seconds = median_seconds(draw, repeats=repeats)
        rows.append((f"`make_scene`, {num_sources} source{'s' if num_sources > 1 else ''}, 128 px", "-", scenes_per_repeat / seconds))
    return rows


def bench_front_end(repeats):
    import librosa
    import soundfile

    from avcourse import audio
    from avcourse.data import manifest, sample_path

    config = audio.AudioConfig()
    num_samples = config.num_samples
    instruments = sorted(manifest()["instruments"])[:8]
    paths = [sample_path(manifest()["instruments"][name]["stems"][0]) for name in instruments]
    warp = baseline_warp_matrix(config.num_bins, config.num_warped_bins)

    def ours_features(batch):
        return np.asarray(audio.log_freq_warp(audio.spectrogram(batch, config), config))

    def ours_decode():
        waveforms = np.stack([audio.fit_length(audio.load_audio(path, config), num_samples) for path in paths])
        return ours_features(waveforms)

    def baseline_features(batch):
        spectrum = librosa.stft(batch, n_fft=config.n_fft, hop_length=config.hop_length, window="hann", center=True, pad_mode="reflect")
        return np.matmul(warp, np.abs(spectrum))

    def baseline_decode():
        waveforms = []
        for path in paths:
            waveform, rate = soundfile.read(str(path), dtype="float32")
            if rate != config.sample_rate:
                raise ValueError(f"{path.name}: expected {config.sample_rate} Hz, found {rate} Hz")
            waveforms.append(librosa.util.fix_length(waveform, size=num_samples))
        return baseline_features(np.stack(waveforms))

    # Both pipelines must compute the same features, or the comparison means nothing.
    ours, reference = ours_decode(), baseline_decode()
    difference = float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))
    if difference > 1e-4:
        raise AssertionError(f"avcourse and the baseline disagree: max relative difference {difference:.2e}")

    clips = np.stack([audio.fit_length(audio.load_audio(path, config), num_samples) for path in paths])
    ours_seconds, baseline_seconds = median_seconds(ours_decode, baseline_decode, repeats=repeats)
    rows = [("decode FLAC + STFT + warp", 8, 8 / ours_seconds, 8 / baseline_seconds)]
    for batch_size in (1, 8):
        batch = clips[:batch_size] if batch_size > 1 else clips[0]
        ours_seconds, baseline_seconds = median_seconds(
            lambda: ours_features(batch), lambda: baseline_features(batch), repeats=repeats
        )
        rows.append(("STFT + warp (waveforms in memory)", batch_size, batch_size / ours_seconds, batch_size / baseline_seconds))
    return rows, difference


def main():
    global np
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test, noisier numbers)")
    parser.add_argument("--threads", type=int, default=1, help="threads per library (0: the libraries' defaults)")
    args = parser.parse_args()
    threads = limit_threads(args.threads)
    import numpy as np

    repeats = 3 if args.quick else 25
    scenes_per_repeat = 10 if args.quick else 50

    started = time.perf_counter()
    load_before = load_average()
    scene_rows = bench_scenes(repeats, scenes_per_repeat)
    front_end_rows, difference = bench_front_end(repeats)

    print(f"Machine: {machine_info()}")
    print(f"Clip: 65535 samples at 11025 Hz (5.94 s) -> 512 x 256 STFT -> 256 x 256 warped; "
          f"{threads}; median of {repeats} repeats after 2 warm-up calls; "
          f"avcourse vs baseline features: max relative difference {difference:.1e}.")
    print()
    print("| benchmark | batch | avcourse (per s) | baseline (per s) | avcourse / baseline |")
    print("|---|---:|---:|---:|---:|")
    for name, batch, rate in scene_rows:
        print(f"| {name} | {batch} | {rate:,.0f} scenes | - | - |")
    for name, batch, ours, baseline in front_end_rows:
        print(f"| {name} | {batch} | {ours:,.0f} clips | {baseline:,.0f} clips | {ours / baseline:.2f}x |")
    print()
    load_after = load_average()
    print(f"(total {time.perf_counter() - started:.0f} s; 1-min load average {load_before:.1f} before, {load_after:.1f} after)")


if __name__ == "__main__":
    main()
