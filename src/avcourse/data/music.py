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
Object detections in Co-Separation's ``.npy`` format (rows ``(frame, class,
conf, x1, y1, x2, y2)``) are read by :func:`load_detections` and turned into
CCoL's object crops (the most confident box per frame, 3 frames at 1 fps) by
:func:`detection_crops`.

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

__all__ = [
    "DETECTION_COLUMNS",
    "MUSIC_BOX_FILES",
    "MUSIC_ID_FILES",
    "VIDEO_SUFFIXES",
    "best_boxes",
    "decode_video",
    "detection_crops",
    "index_music",
    "load_detections",
    "load_music_boxes",
    "load_music_ids",
    "read_index",
    "write_index",
]

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


# --- Object detections (Co-Separation format) ------------------------------------------------

DETECTION_COLUMNS = ("frame", "class", "confidence", "x1", "y1", "x2", "y2")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def load_detections(path):
    """Read one video's object detections in Co-Separation's ``.npy`` format.

    Co-Separation (Gao and Grauman, ICCV 2019) ships, for every MUSIC video,
    a ``.npy`` array of detections, one row per box:
    ``(frame, class, confidence, x1, y1, x2, y2)``, with ``frame`` the index
    of the (1 fps) frame the box is on and the corners in that frame's pixels.
    Download them from the Co-Separation repository (or run any detector and
    write the same rows) and pass the file of one video.

    Args:
        path: the ``.npy`` file of one video.

    Returns:
        float64 array (num_boxes, 7).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the array is not (num_boxes, 7), is empty, or has a box
            with ``x2 <= x1``, ``y2 <= y1`` or a negative frame index.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No detection file at {path}. Expected a Co-Separation-style .npy of rows "
            f"{DETECTION_COLUMNS} for one video (from the Co-Separation repository's MUSIC detections, "
            "or written by your own detector)."
        )
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:  # not an .npy file
        raise ValueError(f"`path` {path} is not a readable .npy array: {error}") from None
    array = np.asarray(array)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"detections in {path} must be numeric; received dtype {array.dtype}.")
    if array.ndim == 1 and array.size == 7:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 7:
        raise ValueError(
            f"detections in {path} must have shape (num_boxes, 7) with columns {DETECTION_COLUMNS}; "
            f"received shape {array.shape}."
        )
    if len(array) == 0:
        raise ValueError(f"detections in {path} hold no box; expected at least one row.")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"detections in {path} contain NaN or Inf values.")
    bad = (array[:, 5] <= array[:, 3]) | (array[:, 6] <= array[:, 4]) | (array[:, 0] < 0)
    if np.any(bad):
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"detection row {row} in {path} is invalid (needs frame >= 0, x2 > x1, y2 > y1); received {array[row].tolist()}."
        )
    return array


def best_boxes(detections):
    """The most confident box of every frame: ``{frame: (x1, y1, x2, y2)}`` (ties: the first row)."""
    detections = np.asarray(detections, np.float64)
    best = {}
    for row in detections[np.argsort(-detections[:, 2], kind="stable")]:
        best.setdefault(int(row[0]), tuple(float(v) for v in row[3:7]))
    return dict(sorted(best.items()))


def _frames_array(frames):
    """Frames from an array (T, H, W, 3), a list of image files, or a folder of images (sorted by name)."""
    from PIL import Image

    if isinstance(frames, (str, Path)):
        folder = Path(frames)
        if not folder.is_dir():
            raise FileNotFoundError(f"No frame folder at {folder}; expected a folder of frame images (1 fps).")
        frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not frames:
            raise FileNotFoundError(f"No frame images ({', '.join(_IMAGE_SUFFIXES)}) in {folder}.")
    if isinstance(frames, (list, tuple)) and frames and isinstance(frames[0], (str, Path)):
        images = []
        for path in frames:
            if not Path(path).is_file():
                raise FileNotFoundError(f"No frame image at {path}.")
            images.append(np.asarray(Image.open(path).convert("RGB")))
        return images
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"`frames` must be (num_frames, height, width, 3), image files or a folder; received shape {array.shape}.")
    return list(array)


def detection_crops(frames, detections, num_frames=3, crop_size=224):
    """Crops of the most confident detected object in ``num_frames`` frames (CCoL's object inputs).

    For every frame that has a detection, the most confident box is kept
    (:func:`best_boxes`); ``num_frames`` of those frames, evenly spaced over
    them (3 frames of the 1 fps frames, as Co-Separation and CCoL), are
    cropped at their box (clipped to the picture) and resized to
    ``crop_size`` x ``crop_size`` (bilinear).

    Args:
        frames: (T, H, W, 3) uint8 frames at 1 fps (e.g. from :func:`decode_video`),
            a list of image files, or a folder of frame images sorted by name.
        detections: (num_boxes, 7) rows of :func:`load_detections`, or the path of the ``.npy``.
        num_frames: how many frames to crop (3).
        crop_size: output side in pixels (224 for the paper's ResNet-18).

    Returns:
        ``(crops, frame_indices)``: uint8 (num_frames, crop_size, crop_size, 3)
        and the frame index of each crop.

    Raises:
        ValueError: fewer frames with a detection than ``num_frames`` (inside
            the given frames), or bad arguments.
        FileNotFoundError: a missing detection file or frame.
    """
    from PIL import Image

    check_positive_int(num_frames, "num_frames")
    check_positive_int(crop_size, "crop_size")
    if isinstance(detections, (str, Path)):
        detections = load_detections(detections)
    detections = np.asarray(detections, np.float64)
    if detections.ndim != 2 or detections.shape[1] != 7:
        raise ValueError(f"`detections` must have shape (num_boxes, 7); received {detections.shape}.")
    images = _frames_array(frames)
    boxes = {frame: box for frame, box in best_boxes(detections).items() if frame < len(images)}
    if len(boxes) < num_frames:
        raise ValueError(
            f"`detections` cover {len(boxes)} of the {len(images)} frames; expected at least num_frames={num_frames} "
            "frames with a box."
        )
    candidates = list(boxes)
    chosen = [candidates[int(i)] for i in np.round(np.linspace(0, len(candidates) - 1, num_frames))]
    crops = []
    for frame in chosen:
        image = np.asarray(images[frame])
        height, width = image.shape[:2]
        x1, y1, x2, y2 = boxes[frame]
        left, top = int(np.clip(np.floor(x1), 0, width - 1)), int(np.clip(np.floor(y1), 0, height - 1))
        right, bottom = int(np.clip(np.ceil(x2), left + 1, width)), int(np.clip(np.ceil(y2), top + 1, height))
        crop = Image.fromarray(image[top:bottom, left:right].astype(np.uint8))
        crops.append(np.asarray(crop.resize((crop_size, crop_size), Image.BILINEAR)))
    return np.stack(crops).astype(np.uint8), chosen
