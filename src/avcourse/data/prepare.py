"""``avcourse prepare``: decode a downloaded dataset once into sharded TFRecord files.

Training on the real datasets reads every clip many times; decoding a video
(or resampling a 44.1 kHz wav) each time costs far more than the network step
on a small model. :func:`prepare` indexes the folder a user downloaded with
the dataset's own loader (:mod:`avcourse.data.music`, ``audioset``,
``flickr``, ``esc50``), decodes each clip once, in parallel, and writes

    <output_dir>/<dataset>-00000-of-00042.tfrecord ...   the shards
    <output_dir>/manifest.json                           settings + finished shards
    <output_dir>/report.json                             missing and corrupt files

Each record holds one clip: its id, the waveform at 11025 Hz (int16 with a
scale, or float32), its frames at 1 fps as JPEG bytes resized to
``image_size`` x ``image_size``, its labels, its number of sound sources and,
where the dataset has them, boxes (SoundNet-Flickr) and a fold (ESC-50).
:func:`avcourse.data.shards.shard_dataset` reads them back as a ``tf.data``
pipeline.

The run is resumable and idempotent: the clips are split into shards in the
index's order, a shard is written to a temporary name and renamed when
complete, and the manifest (also renamed into place) lists the finished
shards with their size and SHA-256. A rerun with the same settings checks each
finished shard against both and skips it only if it matches, so an
interrupted run picks up where it stopped, a finished one does nothing and a
damaged shard (truncated, a flipped byte) is rebuilt. Decoding, JPEG encoding
and serialisation (``SerializeToString(deterministic=True)``) are
deterministic, so a rebuilt shard is byte-identical to the lost one, and two
runs from scratch give byte-identical shards whatever ``PYTHONHASHSEED`` is.
A file that cannot be decoded (or decodes to NaN or Inf samples) is skipped
and reported with its path, never fatal.

The clips come from :func:`avcourse.data.indexing.index_dataset` (also
importable from here); the ``avcourse prepare`` command line is in
:mod:`avcourse.cli`.

Used by: avcourse prepare, avcourse.training.recipes
"""

import concurrent.futures
import hashlib
import io
import json
import math
import multiprocessing
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from avcourse._validation import check_choice, check_nonnegative_int, check_number, check_positive_int
from avcourse.data.indexing import DATASETS, index_dataset

__all__ = ["AUDIO_FORMATS", "FORMAT_VERSION", "MANIFEST_NAME", "REPORT_NAME", "prepare"]

MANIFEST_NAME = "manifest.json"
REPORT_NAME = "report.json"
# Bumped when the record layout changes, so old shards are never mixed with new ones.
FORMAT_VERSION = 1
AUDIO_FORMATS = ("int16", "float32")


# --------------------------------------------------------------------------- decoding (in the workers)


def _encode_jpeg(frame, image_size, quality):
    from PIL import Image

    image = Image.fromarray(frame).convert("RGB")
    if image.size != (image_size, image_size):
        # Square resize, as CAVL feeds 256 x 256 frames; the aspect ratio is not kept.
        image = image.resize((image_size, image_size), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _decode_media(clip, settings):
    """(waveform float32 at 11025 Hz, list of RGB frames) of one clip."""
    from avcourse import audio

    max_seconds, fps, rate = settings["max_seconds"], settings["fps"], settings["sample_rate"]
    if clip["video"] is not None:
        from avcourse.data.music import decode_video

        max_frames = None if max_seconds is None else max(1, math.ceil(max_seconds * fps))
        frames, waveform = decode_video(clip["video"], fps=fps, sample_rate=rate, max_frames=max_frames)
        frames = list(frames)
    else:
        waveform = audio.load_audio(clip["audio"], duration=max_seconds)
        frames = []
        if clip["image"] is not None:
            from PIL import Image

            try:
                with Image.open(clip["image"]) as image:
                    frames = [np.asarray(image.convert("RGB"))]
            except (OSError, ValueError) as error:  # not an image, or a truncated one
                raise ValueError(f"image {clip['image']!r} could not be decoded: {error}") from None
    if max_seconds is not None:
        waveform = waveform[: int(round(max_seconds * rate))]
    if settings["frames_per_clip"] is not None:
        frames = frames[: settings["frames_per_clip"]]
    return waveform, frames


def _decode_clip(clip, settings):
    """Decode one clip into the payload of its record; a broken file gives an error entry instead.

    Runs in a worker, so it returns plain bytes and numbers (cheap to pickle)
    and leaves building the ``tf.train.Example`` to the writing process.
    """
    files = [clip[kind] for kind in ("video", "audio", "image") if clip[kind] is not None]
    try:
        waveform, frames = _decode_media(clip, settings)
        waveform = np.asarray(waveform, np.float32)
        if not np.all(np.isfinite(waveform)):
            bad = int(waveform.size - np.count_nonzero(np.isfinite(waveform)))
            raise ValueError(f"{files[0]!r} decodes to {bad} NaN or Inf sample(s); expected finite audio.")
        jpegs = [_encode_jpeg(frame, settings["image_size"], settings["jpeg_quality"]) for frame in frames]
    except (ValueError, OSError) as error:  # undecodable, truncated or vanished file
        message = f"{type(error).__name__}: {error}".replace("\r", " ").replace("\n", " ")  # one line
        if not any(path in message for path in files):
            message = f"{', '.join(files)}: {message}"
        return {"clip_id": clip["clip_id"], "files": files, "error": message}
    if settings["audio_format"] == "int16":
        peak = float(np.max(np.abs(waveform))) if waveform.size else 0.0
        # Scale the peak to full range (best precision); silence keeps a unit-free scale.
        scale = peak / 32767.0 if peak > 0 else 1.0 / 32767.0
        data = np.round(waveform / scale).clip(-32767, 32767).astype("<i2").tobytes()
    else:
        scale, data = 1.0, waveform.astype("<f4").tobytes()
    return {"clip_id": clip["clip_id"], "waveform": data, "scale": scale, "jpegs": jpegs}


def _serialize(clip, payload, settings):
    import tensorflow as tf

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    def strings(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    features = {
        "clip_id": strings([clip["clip_id"].encode()]),
        "waveform": strings([payload["waveform"]]),
        "waveform_bits": ints([16 if settings["audio_format"] == "int16" else 32]),
        "waveform_scale": floats([payload["scale"]]),
        "sample_rate": ints([settings["sample_rate"]]),
        "frames": strings(payload["jpegs"]),
        "frame_size": ints([settings["image_size"], settings["image_size"]]),
        "labels": strings([label.encode() for label in clip["labels"]]),
        "num_sources": ints([clip["num_sources"]]),
        "boxes": floats([value for box in clip["boxes"] for value in box]),
        "fold": ints([clip["fold"]]),
    }
    # deterministic=True writes the feature map in key order. Without it the order changes from one
    # process to the next (a per-process hash seed), and two runs give different bytes for the same records.
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString(deterministic=True)


# --------------------------------------------------------------------------- manifest, report, progress


def _write_json(path, content):
    """Write JSON to a temporary name, then rename: a crash never leaves half a file."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shard_problem(path, entry):
    """Why a shard the manifest lists as finished cannot be reused, or None if it can.

    The size is checked first (cheap), then the SHA-256 of the whole file: a
    flipped byte keeps the size but not the digest.
    """
    if not isinstance(entry, dict):
        return "a malformed manifest entry"
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != entry.get("bytes"):
        return f"{size} bytes, the manifest says {entry.get('bytes')}"
    if not entry.get("sha256"):
        return "no SHA-256 in the manifest"
    digest = _sha256(path)
    if digest != entry["sha256"]:
        return f"SHA-256 {digest[:12]}..., the manifest says {entry['sha256'][:12]}..."
    return None


def _plan_key(settings, clips):
    """Fingerprint of the settings and the clip list: shards are reusable only under the same plan."""
    content = json.dumps({"settings": settings, "clips": clips}, sort_keys=True).encode()
    return hashlib.sha256(content).hexdigest()


class _Progress:
    """A one-line progress bar on stderr (tqdm is not a dependency)."""

    def __init__(self, total, label, enabled):
        self.total, self.label, self.enabled = total, label, enabled and total > 0
        self.done, self.started, self.shown = 0, time.perf_counter(), 0.0

    def update(self, count=1):
        self.done += count
        now = time.perf_counter()
        if self.enabled and (now - self.shown > 0.2 or self.done == self.total):
            self.shown = now
            width = 30
            filled = int(width * self.done / self.total)
            rate = self.done / max(now - self.started, 1e-9)
            sys.stderr.write(
                f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} clips, {rate:.1f}/s"
            )
            if self.done == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


# --------------------------------------------------------------------------- prepare


def _check_optional_positive(value, name, kind=int):
    if value is None:
        return None
    if kind is int:
        return check_positive_int(value, name)
    return check_number(value, name, minimum=0, exclusive_minimum=True)


def _executor(num_workers, executor):
    if num_workers == 0:
        return None
    if executor == "thread":
        return concurrent.futures.ThreadPoolExecutor(num_workers)
    # "spawn": forking a process that has loaded TensorFlow (and its threads) can deadlock.
    return concurrent.futures.ProcessPoolExecutor(num_workers, mp_context=multiprocessing.get_context("spawn"))


def _decoded(clips, settings, pool, window):
    """Yield ``(position, payload)`` of each clip, decoding at most ``window`` ahead of the slowest."""
    if pool is None:
        for position, clip in enumerate(clips):
            yield position, _decode_clip(clip, settings)
        return
    pending, upcoming = {}, iter(enumerate(clips))
    try:
        for position, clip in upcoming:
            pending[pool.submit(_decode_clip, clip, settings)] = position
            if len(pending) >= window:
                break
        while pending:
            done, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
            for position, clip in upcoming:
                pending[pool.submit(_decode_clip, clip, settings)] = position
                if len(pending) >= window:
                    break
    finally:
        for future in pending:
            future.cancel()


def _write_shard(path, members, payloads, settings):
    """Write one shard (to a temporary name, then rename) and return its manifest entry."""
    import tensorflow as tf

    temporary = path.with_name(path.name + ".tmp")
    corrupt, num_records = [], 0
    with tf.io.TFRecordWriter(str(temporary)) as writer:
        for clip, payload in zip(members, payloads):
            if "error" in payload:
                corrupt.append({"clip_id": payload["clip_id"], "files": payload["files"], "error": payload["error"]})
                continue
            writer.write(_serialize(clip, payload, settings))
            num_records += 1
    os.replace(temporary, path)
    return {
        "num_records": num_records,
        "clip_ids": [clip["clip_id"] for clip in members],
        "corrupt": corrupt,
        "bytes": path.stat().st_size,
        "sha256": _sha256(path),
    }


def prepare(
    dataset,
    root,
    output_dir,
    *,
    num_workers=None,
    shard_size=256,
    frames_per_clip=None,
    image_size=224,
    max_seconds=None,
    fps=1.0,
    audio_format="int16",
    jpeg_quality=90,
    which="solo",
    segments=None,
    executor="process",
    overwrite=False,
    progress=True,
):
    """Decode a downloaded dataset once into sharded TFRecord files (resumable).

    Args:
        dataset: ``"music"``, ``"audioset"``, ``"flickr"`` or ``"esc50"``.
        root: the folder the user downloaded (layouts in ``docs/prepare.md``).
        output_dir: where shards, ``manifest.json`` and ``report.json`` go
            (created if needed).
        num_workers: decoding processes (or threads); None uses every core,
            0 decodes in this process (easiest to debug).
        shard_size: clips per shard (a few hundred MB per shard reads well).
        frames_per_clip: keep at most this many frames per clip; None keeps
            every frame (1 per second of video; one for a Flickr image).
        image_size: frames are resized to ``image_size`` x ``image_size``.
        max_seconds: keep at most this many seconds of each clip (audio and
            frames); None keeps whole clips.
        fps: frames per second sampled from videos (1 in CAVL).
        audio_format: ``"int16"`` (half the size; the record stores the scale
            that maps the peak to 32767) or ``"float32"`` (exact).
        jpeg_quality: JPEG quality of the frames (1-95).
        which: MUSIC id list: ``"solo"``, ``"duet"`` or ``"music21"``.
        segments: AudioSet segments CSV relative to ``root`` (see
            :func:`index_dataset`).
        executor: ``"process"`` (a ``spawn`` process pool, for real runs: a
            script calling :func:`prepare` needs the ``if __name__ ==
            "__main__":`` guard) or ``"thread"`` (a thread pool: starts at
            once, shares memory).
        overwrite: discard shards made with other settings or another clip
            list instead of raising.
        progress: draw a progress bar on stderr.

    Returns:
        the report, also written to ``output_dir/report.json``: ``dataset``,
        ``root``, ``output_dir``, ``num_clips`` (indexed), ``num_records``
        (written in all shards), ``num_shards``, ``shards_written`` and
        ``shards_reused`` (this run), ``shards_discarded`` (``{"shard",
        "problem"}`` of finished shards whose file was missing or no longer
        matched the manifest's size and SHA-256, rebuilt by this run),
        ``missing`` (listed clips without files), ``corrupt`` (``{"clip_id",
        "files", "error"}`` of clips whose files could not be decoded or
        decode to NaN/Inf samples, skipped), ``shards`` (file names) and
        ``seconds``.

    Raises:
        ValueError: if an argument is invalid, or ``output_dir`` holds shards
            of another plan and ``overwrite`` is False.
        FileNotFoundError: if ``root`` or its metadata is missing (the
            message says what to download and where).

    Examples:
        >>> report = prepare("esc50", "~/data/ESC-50", "~/data/esc50-shards", num_workers=4)  # doctest: +SKIP
        >>> report["num_records"], len(report["corrupt"])  # doctest: +SKIP
        (2000, 0)
    """
    started = time.perf_counter()
    check_choice(dataset, "dataset", DATASETS)
    shard_size = check_positive_int(shard_size, "shard_size")
    image_size = check_positive_int(image_size, "image_size")
    frames_per_clip = _check_optional_positive(frames_per_clip, "frames_per_clip")
    max_seconds = _check_optional_positive(max_seconds, "max_seconds", float)
    fps = _check_optional_positive(fps, "fps", float)
    if fps is None:
        raise ValueError("`fps` must be a positive number; received None.")
    check_choice(audio_format, "audio_format", AUDIO_FORMATS)
    if check_positive_int(jpeg_quality, "jpeg_quality") > 95:
        raise ValueError(f"`jpeg_quality` must be an integer in [1, 95]; received {jpeg_quality!r}.")
    check_choice(executor, "executor", ("process", "thread"))
    if num_workers is None:
        num_workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    num_workers = check_nonnegative_int(num_workers, "num_workers")

    root, output_dir = Path(root).expanduser(), Path(output_dir).expanduser()
    clips, missing = index_dataset(dataset, root, which=which, segments=segments)
    from avcourse.audio import AudioConfig

    settings = {
        "format_version": FORMAT_VERSION,
        "dataset": dataset,
        "shard_size": shard_size,
        "image_size": image_size,
        "frames_per_clip": frames_per_clip,
        "max_seconds": max_seconds,
        "fps": fps,
        "audio_format": audio_format,
        "jpeg_quality": jpeg_quality,
        "sample_rate": AudioConfig().sample_rate,
    }
    # Paths are left out of the plan, so a moved download still reuses its shards.
    plan = _plan_key(settings, [{k: v for k, v in clip.items() if k not in ("audio", "video", "image")} for clip in clips])
    num_shards = math.ceil(len(clips) / shard_size)
    names = [f"{dataset}-{index:05d}-of-{num_shards:05d}.tfrecord" for index in range(num_shards)]

    output_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = output_dir / MANIFEST_NAME
    manifest = {"plan": plan, "settings": settings, "num_clips": len(clips), "shards": {}}
    if manifest_path.is_file():
        try:
            previous = json.loads(manifest_path.read_text(encoding="utf-8"))
            if not isinstance(previous, dict) or not isinstance(previous.get("shards", {}), dict):
                raise ValueError("expected a JSON object with a 'shards' object")
        except ValueError as error:  # also UnicodeDecodeError and JSONDecodeError
            if not overwrite:
                raise ValueError(
                    f"{str(manifest_path)!r} is not a manifest of `avcourse prepare` ({error}); the shards beside it "
                    "cannot be checked. Use a new output_dir, or overwrite=True to rebuild them."
                ) from None
            previous = {"shards": {name: {} for name in names}}
        if previous.get("plan") == plan:
            manifest["shards"] = previous.get("shards", {})
        elif not overwrite:
            raise ValueError(
                f"`output_dir` {str(output_dir)!r} holds shards prepared with other settings or another clip list "
                f"(theirs: {previous.get('settings')}, {previous.get('num_clips')} clips; "
                f"this run: {settings}, {len(clips)} clips). Use a new output_dir, or overwrite=True to replace them."
            )
        else:
            for name in previous.get("shards", {}):
                (output_dir / name).unlink(missing_ok=True)
    # A shard counts as finished only if its file is still there, whole and unchanged.
    finished, discarded = {}, []
    for name, entry in manifest["shards"].items():
        if name in names:
            problem = _shard_problem(output_dir / name, entry)
            if problem is None:
                finished[name] = entry
            else:
                discarded.append({"shard": name, "problem": problem})
                (output_dir / name).unlink(missing_ok=True)
    if discarded:
        warnings.warn(
            f"prepare: rebuilding {len(discarded)} finished shard(s) that no longer match the manifest: "
            + "; ".join(f"{item['shard']} ({item['problem']})" for item in discarded),
            RuntimeWarning,
            stacklevel=2,
        )
    manifest["shards"] = finished
    _write_json(manifest_path, manifest)

    todo = {
        index: clips[index * shard_size : (index + 1) * shard_size] for index, name in enumerate(names) if name not in finished
    }
    work = [(index, clip) for index, members in todo.items() for clip in members]
    bar = _Progress(len(work), f"prepare {dataset}", progress)
    pool = _executor(num_workers, executor) if work else None
    try:
        decoded = {index: {} for index in todo}
        for position, payload in _decoded([clip for _, clip in work], settings, pool, window=4 * max(num_workers, 1)):
            bar.update()
            index = work[position][0]
            decoded[index][position] = payload
            if len(decoded[index]) < len(todo[index]):
                continue
            payloads = [payload for _, payload in sorted(decoded.pop(index).items())]
            manifest["shards"][names[index]] = _write_shard(output_dir / names[index], todo[index], payloads, settings)
            _write_json(manifest_path, manifest)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    shards = manifest["shards"]
    report = {
        "dataset": dataset,
        "root": str(root),
        "output_dir": str(output_dir),
        "num_clips": len(clips),
        "num_records": sum(shards[name]["num_records"] for name in names),
        "num_shards": num_shards,
        "shards_written": len(todo),
        "shards_reused": num_shards - len(todo),
        "shards_discarded": discarded,
        "missing": missing,
        "corrupt": [entry for name in names for entry in shards[name]["corrupt"]],
        "shards": names,
        "seconds": round(time.perf_counter() - started, 3),
    }
    _write_json(output_dir / REPORT_NAME, report)
    return report
