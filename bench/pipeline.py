"""Benchmark: reading ``avcourse prepare`` shards with ``tf.data`` vs decoding the original files.

Builds two small downloads in a temporary folder from the synthetic world
(``make_scene`` pictures and sounds, under bundled ids), prepares each into
shards with :func:`avcourse.data.prepare.prepare` (2 worker processes, timed
once) and prints a markdown table of clips/s:

* ``music``: MUSIC-shaped videos, ``<root>/<instrument>/<id>.mp4`` (6 s,
  256 x 256 H.264 at 10 fps with the scene drifting, AAC stereo at 44.1 kHz);
* ``flickr``: SoundNet-Flickr-shaped clips (a 256 x 256 JPEG, its 5.94 s
  sound as a 22050 Hz wav, an annotation XML).

Methods, each doing whole passes over the clips:

* baseline: decoding the original files one by one in Python, as a loader
  without shards does every epoch: ``music.decode_video`` (frames at 1 fps,
  audio resampled to 11025 Hz) or ``audio.load_audio`` + PIL, then resizing the
  frames to 224 x 224;
* :func:`avcourse.data.shards.shard_dataset` with ``num_parallel_calls`` 1 and
  2, deterministic and not (waveform and 224 x 224 frames decoded);
* the same plus :func:`avcourse.data.shards.scene_inputs` (the models' input:
  first 65535 samples → STFT → log-frequency warp → log1p, and the picture).

The passes alternate between methods so that background load hits them alike;
the table shows the median over the repeats, after one warm-up pass each. By
default every library runs on one thread (OpenBLAS/OpenMP, TensorFlow's
intra- and inter-op pools; ``tf.data``'s own parallel calls are what is
varied); ``--threads 0`` keeps the libraries' defaults.

Usage (with avcourse installed, e.g. ``pip install -e .``)::

    python bench/pipeline.py            # full run
    python bench/pipeline.py --quick    # fewer clips and repeats, for a smoke test
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _machine import limit_threads, load_average, machine_line  # noqa: E402


def machine_info():
    """One line describing the machine and the library versions."""
    import numpy as np
    import soundfile
    import tensorflow as tf
    from PIL import Image

    return machine_line(
        {
            "numpy": np.__version__,
            "tensorflow": tf.__version__,
            "soundfile": soundfile.__version__,
            "Pillow": Image.__version__,
        }
    )


def build_flickr(root, num_clips):
    """SoundNet-Flickr layout: frames/<id>.jpg, audio/<id>.wav (22050 Hz), Annotations/<id>.xml."""
    import librosa
    import soundfile
    from PIL import Image

    from avcourse.data import flickr, world

    for folder in ("frames", "audio", "Annotations"):
        (root / folder).mkdir(parents=True)
    for index, item in enumerate(flickr.load_flickr_test_ids()[:num_clips]):
        scene = world.make_scene(1 + index % 3, seed=index, image_size=256)
        Image.fromarray(scene.image).save(root / "frames" / f"{item}.jpg", quality=90)
        sound = librosa.resample(scene.mixture, orig_sr=11025, target_sr=22050, res_type="soxr_hq")
        soundfile.write(root / "audio" / f"{item}.wav", sound, 22050, subtype="PCM_16")
        boxes = "".join(
            f"<object><bbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bbox></object>"
            for x1, y1, x2, y2 in scene.sounding_boxes
        )
        (root / "Annotations" / f"{item}.xml").write_text(f"<annotation>{boxes}</annotation>")
    return flickr.index_flickr(root, ids=flickr.load_flickr_test_ids()[:num_clips])


def write_video(path, image, sound, fps=10, seconds=6, audio_rate=44100):
    """An H.264 + AAC mp4 of ``image`` drifting right by a pixel per frame, with ``sound`` in both channels."""
    import av
    import librosa
    import numpy as np

    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    sound = librosa.resample(sound, orig_sr=11025, target_sr=audio_rate, res_type="soxr_hq")
    stereo = np.stack([sound, sound]).astype(np.float32)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height = image.shape[1], image.shape[0]
        video.pix_fmt = "yuv420p"
        track = container.add_stream("aac", rate=audio_rate, layout="stereo")
        for index in range(fps * seconds):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(image, index, axis=1)), format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for start in range(0, stereo.shape[1], 1024):
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, start : start + 1024]), format="fltp", layout="stereo")
            chunk.sample_rate, chunk.pts = audio_rate, start
            container.mux(track.encode(chunk))
        container.mux(track.encode())


def build_music(root, num_clips):
    """MUSIC layout: <instrument>/<id>.mp4, the first ids of the bundled solo list."""
    import warnings

    from avcourse.data import music, world

    ids = [(instrument, video_id) for instrument, video_ids in music.load_music_ids("solo").items() for video_id in video_ids]
    for index, (instrument, video_id) in enumerate(ids[:num_clips]):
        scene = world.make_scene(1, seed=index, image_size=256)
        (root / instrument).mkdir(parents=True, exist_ok=True)
        write_video(root / instrument / f"{video_id}.mp4", scene.image, scene.mixture)
    with warnings.catch_warnings():  # the other ids of the list are "missing" on purpose
        warnings.simplefilter("ignore")
        return music.index_music(root, "solo")


def median_rates(methods, num_clips, repeats):
    """Median clips/s of each ``(key, pass function)`` over ``repeats`` alternating passes (after one warm-up each)."""
    for _, run in methods:
        run()
    times = {key: [] for key, _ in methods}
    for _ in range(repeats):
        for key, run in methods:
            started = time.perf_counter()
            count = run()
            if count != num_clips:
                raise AssertionError(f"{key}: read {count} clips, expected {num_clips}")
            times[key].append(time.perf_counter() - started)
    return {key: num_clips / statistics.median(seconds) for key, seconds in times.items()}


def bench_dataset(dataset, folder, num_clips, shard_size, repeats):
    """Rows ``(dataset, method, parallel calls, deterministic, clips/s, vs baseline)`` and a description line."""
    import numpy as np
    from PIL import Image

    from avcourse import audio
    from avcourse.data import music, prepare, shards

    root, output = folder / dataset, folder / f"{dataset}-shards"
    index = build_music(root, num_clips) if dataset == "music" else build_flickr(root, num_clips)
    started = time.perf_counter()
    report = prepare.prepare(dataset, root, output, num_workers=2, shard_size=shard_size, image_size=224, progress=False)
    prepare_seconds = time.perf_counter() - started
    if report["num_records"] != num_clips or report["corrupt"]:
        raise AssertionError(f"prepare wrote {report['num_records']} of {num_clips} clips: {report['corrupt']}")

    def resize(frame):
        return np.asarray(Image.fromarray(frame).resize((224, 224), Image.BILINEAR))

    def baseline():
        for entry in index:
            if dataset == "music":
                frames, _ = music.decode_video(entry["path"])
                [resize(frame) for frame in frames]
            else:
                audio.load_audio(entry["audio"])
                with Image.open(entry["image"]) as image:
                    resize(np.asarray(image.convert("RGB")))
        return len(index)

    def reader(parallel, deterministic, features=False):
        dataset_ = shards.shard_dataset(output, num_parallel_calls=parallel, deterministic=deterministic)
        if features:
            dataset_ = dataset_.map(shards.scene_inputs, num_parallel_calls=parallel, deterministic=deterministic)
        return lambda: sum(1 for _ in dataset_)

    methods = [(("baseline: decode the original files one by one", 1, True), baseline)]
    for parallel in (1, 2):
        for deterministic in (True, False):
            methods.append((("`shard_dataset` (waveform + frames)", parallel, deterministic), reader(parallel, deterministic)))
    for parallel in (1, 2):
        methods.append((("`shard_dataset` + `scene_inputs` (STFT features)", parallel, True), reader(parallel, True, True)))
    rates = median_rates(methods, num_clips, repeats)
    baseline_rate = rates[methods[0][0]]
    rows = [(dataset, *key, rate, rate / baseline_rate) for key, rate in rates.items()]
    megabytes = [sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20 for path in (root, output)]
    line = (
        f"{dataset}: {num_clips} clips, originals {megabytes[0]:.1f} MB -> {report['num_shards']} shards "
        f"{megabytes[1]:.1f} MB, prepared in {prepare_seconds:.1f} s"
    )
    return rows, line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips and repeats (a smoke test, noisier numbers)")
    parser.add_argument("--threads", type=int, default=1, help="threads per library (0: the libraries' defaults)")
    args = parser.parse_args()
    threads = limit_threads(args.threads)
    num_clips, shard_size, repeats = (12, 4, 2) if args.quick else (48, 8, 5)

    started = time.perf_counter()
    load_before = load_average()
    rows, lines = [], []
    with tempfile.TemporaryDirectory() as temporary:
        for dataset in ("music", "flickr"):
            dataset_rows, line = bench_dataset(dataset, Path(temporary), num_clips, shard_size, repeats)
            rows += dataset_rows
            lines.append(line)

    print(f"Machine: {machine_info()}")
    print(
        f"Shards: int16 audio at 11025 Hz, 224 x 224 JPEG frames at 1 fps, {shard_size} clips per shard, "
        f"prepared with 2 worker processes; {threads}; median of {repeats} passes after 1 warm-up pass."
    )
    for line in lines:
        print(f"- {line}")
    print()
    print("| data | method | parallel calls | deterministic | clips/s | vs baseline |")
    print("|---|---|---:|---|---:|---:|")
    for dataset, method, parallel, deterministic, rate, ratio in rows:
        print(f"| {dataset} | {method} | {parallel} | {'yes' if deterministic else 'no'} | {rate:,.1f} | {ratio:.2f}x |")
    print()
    load_after = load_average()
    print(f"(total {time.perf_counter() - started:.0f} s; 1-min load average {load_before:.1f} before, {load_after:.1f} after)")


if __name__ == "__main__":
    main()
