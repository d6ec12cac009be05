"""MIT MUSIC dataset: video ids, a local video index, decoding, and box annotations.

MUSIC (Zhao et al., "The Sound of Pixels", ECCV 2018) is a list of YouTube
ids of people playing instruments: solo (536 ids, 11 instruments), duet (149
ids, 9 pairs) and MUSIC21 (1,164 solo ids, 21 instruments). The id lists of
https://github.com/roudimit/MUSIC_dataset are bundled; the videos are not.
Download the ones still online (e.g. ``yt-dlp``) and put them as

    <root>/<instrument>/<id>.mp4      (also .mkv or .webm; a flat <root>/<id>.mp4 works too)

where ``<instrument>`` is the key of the id list, e.g. ``violin`` or, for
duets, ``acoustic_guitar violin``. :func:`index_music` finds them,
:func:`decode_video` turns one into frames at 1 fps and 11025 Hz mono audio
(PyAV; tensorflow-io is not used). The sounding-object boxes of DSOL (Hu et
al., NeurIPS 2020) on MUSIC frames are read by :func:`load_music_boxes`.

Used by: avcourse prepare (recipes)
"""

import csv
import json
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from avcourse._validation import check_positive_int
from avcourse.data import sample_path

MUSIC_ID_FILES = {
    "solo": "MUSIC_solo_videos.json",
    "duet": "MUSIC_duet_videos.json",
    "music21": "MUSIC21_solo_videos.json",
}
MUSIC_BOX_FILES = {"solo": "music_solo_boxes_sample.json", "duet": "music_duet_boxes_sample.json"}
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm")
_INDEX_COLUMNS = ("id", "category", "instruments", "path")


def _check_which(which, choices):
    if which not in choices:
        raise ValueError(f"`which` must be one of {sorted(choices)}; received {which!r}.")


def load_music_ids(which="solo", path=None):
    """The MUSIC video ids, grouped by instrument.

    Args:
        which: ``"solo"``, ``"duet"`` or ``"music21"``.
        path: a MUSIC id JSON (``{"videos": {instrument: [ids]}}``); None
            reads the bundled list chosen by ``which``.

    Returns:
        dict instrument -> list of YouTube ids, in the file's order. Duet
        keys name two instruments separated by a space.

    Raises:
        ValueError: if ``which`` is unknown or the file has no ``"videos"``.
        FileNotFoundError: if ``path`` does not exist.
    """
    _check_which(which, MUSIC_ID_FILES)
    path = sample_path("metadata", "music", MUSIC_ID_FILES[which]) if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"MUSIC id list {str(path)!r} does not exist; get it from https://github.com/roudimit/MUSIC_dataset."
        )
    content = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(content, dict) or not isinstance(content.get("videos"), dict):
        raise ValueError(f"{path} is not a MUSIC id list: expected {{'videos': {{instrument: [ids]}}}}.")
    return {instrument: list(ids) for instrument, ids in content["videos"].items()}


def _find_video(root, category, video_id):
    for folder in (root / category, root):
        for suffix in VIDEO_SUFFIXES:
            candidate = folder / f"{video_id}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def index_music(video_root, which="solo", strict=False):
    """Find the downloaded MUSIC videos under ``video_root``.

    Args:
        video_root: folder with ``<instrument>/<id>.mp4`` (or .mkv/.webm, or
            flat ``<id>.mp4``).
        which: which id list to index: ``"solo"``, ``"duet"`` or ``"music21"``.
        strict: raise if any listed video is missing. The default warns
            instead, since many MUSIC videos are no longer on YouTube.

    Returns:
        list of dicts ``{"id", "category", "instruments", "path"}``: the id
        list's key (``"acoustic_guitar violin"``), its instruments as a tuple
        and the video's ``Path``, in the id list's order.

    Raises:
        FileNotFoundError: if ``video_root`` is not a folder, if no listed
            video is found, or if videos are missing and ``strict`` is True;
            the message counts them, names the first 10 and says where to put
            the downloads.
        ValueError: if ``which`` is unknown.
    """
    root = Path(video_root)
    ids = load_music_ids(which)
    if not root.is_dir():
        raise FileNotFoundError(
            f"MUSIC video folder {str(root)!r} does not exist; download the videos of the "
            f"{which} id list and put each at <video_root>/<instrument>/<id>.mp4."
        )
    index, missing = [], []
    for category, video_ids in ids.items():
        for video_id in video_ids:
            path = _find_video(root, category, video_id)
            if path is None:
                missing.append(f"{category}/{video_id}")
            else:
                index.append(
                    {"id": video_id, "category": category, "instruments": tuple(category.split()), "path": path}
                )
    if missing:
        total = len(index) + len(missing)
        message = (
            f"{len(missing)} of {total} MUSIC {which} videos are missing under {root}; "
            f"first {min(10, len(missing))}: {', '.join(missing[:10])}. Download them from "
            "https://www.youtube.com/watch?v=<id> (e.g. with yt-dlp) and put each at "
            f"{root}/<instrument>/<id>.mp4 (.mkv and .webm also work)."
        )
        if strict or not index:
            raise FileNotFoundError(message)
        warnings.warn(message, stacklevel=2)
    return index


def write_index(index, path):
    """Write an index of :func:`index_music` as CSV (``id,category,instruments,path``).

    Args:
        index: list of dicts with those keys; ``instruments`` is a tuple.
        path: the CSV file to write (its folder must exist).
    """
    with Path(path).open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(_INDEX_COLUMNS)
        for entry in index:
            writer.writerow([entry["id"], entry["category"], " ".join(entry["instruments"]), str(entry["path"])])


def read_index(path):
    """Read an index written by :func:`write_index`.

    Args:
        path: the CSV file.

    Returns:
        list of dicts ``{"id", "category", "instruments" (tuple), "path" (Path)}``.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the header is not ``id,category,instruments,path``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MUSIC index {str(path)!r} does not exist; build it with index_music and write_index.")
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        if tuple(reader.fieldnames or ()) != _INDEX_COLUMNS:
            raise ValueError(f"{path}: expected the header {','.join(_INDEX_COLUMNS)}; received {reader.fieldnames}.")
        return [
            {
                "id": row["id"],
                "category": row["category"],
                "instruments": tuple(row["instruments"].split()),
                "path": Path(row["path"]),
            }
            for row in reader
        ]


def decode_video(path, fps=1.0, sample_rate=11025, max_frames=None):
    """Decode a video into frames sampled at ``fps`` and mono audio at ``sample_rate``.

    Frame k is the one on screen at ``k / fps`` seconds after the first
    frame (the last frame whose timestamp is <= that time), so a 3 s video
    at 1 fps gives the frames at 0, 1 and 2 s. The audio is the whole audio
    track from its first sample, resampled by FFmpeg's resampler through
    PyAV and averaged over channels (as ``librosa.load(mono=True)``).

    Args:
        path: a video file PyAV/FFmpeg can read (.mp4, .mkv, .webm, ...).
        fps: frames per second to sample (1 in CAVL, 8 in Sound of Pixels).
        sample_rate: output audio rate in Hz.
        max_frames: keep at most this many frames and the audio of the same
            span (``max_frames / fps`` seconds); None keeps everything.

    Returns:
        ``(frames, audio)``: uint8 array (T, H, W, 3) in RGB and float32
        array (num_samples,).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if an argument is invalid, or the file cannot be decoded
            or lacks a video or audio stream.
    """
    import av  # PyAV loads FFmpeg's libraries: import on first use only.

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {str(path)!r} does not exist.")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise ValueError(f"`fps` must be a positive number; received {fps!r}.")
    sample_rate = check_positive_int(sample_rate, "sample_rate")
    if max_frames is not None:
        max_frames = check_positive_int(max_frames, "max_frames")
    period = 1 / Fraction(fps).limit_denominator(1_000_000)
    max_samples = None if max_frames is None else round(max_frames * period * sample_rate)

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise ValueError(f"cannot read video {str(path)!r}: {error}") from None
    with container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video stream.")
        if not container.streams.audio:
            raise ValueError(f"{path} has no audio stream.")
        video, audio = container.streams.video[0], container.streams.audio[0]
        video.thread_type = "AUTO"
        # Resample every channel, then average them as librosa's mono=True does
        # (FFmpeg's own stereo-to-mono downmix scales the sum by 1/sqrt(2), not 1/2).
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        frames, chunks = [], []
        num_samples, num_decoded, start, target = 0, 0, None, Fraction(0)
        shown = None  # the latest decoded frame: (time, RGB array)
        try:
            for packet in container.demux(video, audio):
                if packet.stream.type == "audio":
                    if max_samples is None or num_samples < max_samples:
                        for frame in packet.decode():
                            for out in resampler.resample(frame):
                                chunks.append(out.to_ndarray().mean(axis=0))
                                num_samples += chunks[-1].size
                    continue
                if max_frames is not None and len(frames) >= max_frames:
                    if max_samples is not None and num_samples >= max_samples:
                        break
                    continue
                for frame in packet.decode():
                    if frame.pts is None:  # no timestamp: assume a constant frame rate
                        time = num_decoded / Fraction(video.average_rate)
                    else:
                        time = frame.pts * frame.time_base
                    num_decoded += 1
                    start = time if start is None else start
                    time -= start
                    # Every target passed by this frame was on screen as the previous one.
                    while shown is not None and time > target:
                        frames.append(shown[1])
                        target += period
                    shown = (time, frame.to_ndarray(format="rgb24"))
            # The last frame covers the targets up to its own time.
            while shown is not None and target <= shown[0]:
                frames.append(shown[1])
                target += period
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().mean(axis=0))
        except av.error.FFmpegError as error:
            raise ValueError(f"cannot decode video {str(path)!r}: {error}") from None
    if not frames:
        raise ValueError(f"{path} has a video stream without decodable frames.")
    if max_frames is not None:
        frames = frames[:max_frames]
    waveform = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if max_samples is not None:
        waveform = waveform[:max_samples]
    return np.stack(frames), waveform


def load_music_boxes(which="solo", path=None):
    """Read DSOL's sounding-object boxes on MUSIC frames.

    The file maps ``"<video>/frame_xxx/nnnnn.jpg"`` to ``{"bbox": [{"box":
    [x, y, w, h], "normbox": [x, y, w, h] / size, "category_id"}], "wdith",
    "height"}`` (``wdith`` is the file's own spelling; ``width`` is accepted
    too). Boxes are returned as corners, ready for
    :func:`avcourse.metrics.union_map`.

    Args:
        which: ``"solo"`` or ``"duet"``.
        path: a DSOL box JSON; None reads the bundled 30-frame sample.

    Returns:
        list of dicts, in file order: ``key``, ``video`` (the key's first
        part), ``frame`` (the rest), ``width``, ``height``, ``category_ids``
        (tuple), ``boxes`` (float array (n, 4) of ``[x1, y1, x2, y2]`` in
        pixels) and ``normalized_boxes`` (the same in [0, 1]).

    Raises:
        ValueError: if ``which`` is unknown or a record is malformed.
        FileNotFoundError: if ``path`` does not exist.
    """
    _check_which(which, MUSIC_BOX_FILES)
    path = sample_path("metadata", "localization", MUSIC_BOX_FILES[which]) if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MUSIC box annotations {str(path)!r} do not exist.")
    records = []
    for key, entry in json.loads(path.read_text(encoding="utf-8")).items():
        try:
            width = entry["wdith"] if "wdith" in entry else entry["width"]
            height = entry["height"]
            pixel = np.array([item["box"] for item in entry["bbox"]], np.float64).reshape(-1, 4)
            normalized = np.array([item["normbox"] for item in entry["bbox"]], np.float64).reshape(-1, 4)
            category_ids = tuple(int(item["category_id"]) for item in entry["bbox"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: malformed record {key!r} ({error!r}).") from None
        video, _, frame = key.partition("/")
        records.append(
            {
                "key": key,
                "video": video,
                "frame": frame,
                "width": int(width),
                "height": int(height),
                "category_ids": category_ids,
                # [x, y, w, h] -> [x1, y1, x2, y2]
                "boxes": np.concatenate([pixel[:, :2], pixel[:, :2] + pixel[:, 2:]], axis=1),
                "normalized_boxes": np.concatenate([normalized[:, :2], normalized[:, :2] + normalized[:, 2:]], axis=1),
            }
        )
    return records
