"""Indexing a downloaded dataset: the clips that ``avcourse prepare`` decodes, and the files that are missing.

:func:`index_dataset` reads the folder a user downloaded with the dataset's
own loader (:mod:`avcourse.data.music`, ``audioset``, ``flickr``,
``esc50``) and lists one dict per clip: its id, where its media are and the
metadata its record carries (labels, number of sources, boxes, fold).
:func:`avcourse.data.prepare.prepare` decodes them into shards.

Used by: avcourse.data.prepare
"""

import warnings
from pathlib import Path

from avcourse._validation import check_choice
from avcourse.data.music import VIDEO_SUFFIXES

__all__ = ["DATASETS", "index_dataset"]

DATASETS = ("music", "audioset", "flickr", "esc50")

_AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a")
_AUDIOSET_SEGMENTS = ("balanced_train_segments.csv", "eval_segments.csv", "unbalanced_train_segments.csv")
_AUDIOSET_HINT = (
    "Download a segments CSV (e.g. balanced_train_segments.csv) from "
    "https://research.google.com/audioset/download.html into <root>, and each segment's clip "
    "(trimmed to its 10 s, e.g. with yt-dlp) as <root>/video/<YTID>.mp4 or <root>/audio/<YTID>.wav "
    "(.mkv/.webm, .flac/.ogg/.mp3/.m4a and the names Y<YTID> or <YTID>_<start seconds> also work)."
)


def _clip(clip_id, *, audio=None, video=None, image=None, labels=(), num_sources=0, boxes=(), fold=0):
    """One clip to decode: where its media are and the metadata its record carries."""
    return {
        "clip_id": str(clip_id),
        "audio": None if audio is None else str(audio),
        "video": None if video is None else str(video),
        "image": None if image is None else str(image),
        "labels": [str(label) for label in labels],
        "num_sources": int(num_sources),
        "boxes": [[float(v) for v in box] for box in boxes],
        "fold": int(fold),
    }


def _index_music(root, which="solo"):
    from avcourse.data import music

    with warnings.catch_warnings():  # the missing videos go to the report instead
        warnings.simplefilter("ignore")
        index = music.index_music(root, which=which)
    found = {(entry["category"], entry["id"]) for entry in index}
    missing = [
        f"{category}/{video_id}"
        for category, video_ids in music.load_music_ids(which).items()
        for video_id in video_ids
        if (category, video_id) not in found
    ]
    clips = [
        _clip(
            f"{entry['category'].replace(' ', '+')}/{entry['id']}",
            video=entry["path"],
            labels=entry["instruments"],
            num_sources=len(entry["instruments"]),
        )
        for entry in index
    ]
    return clips, missing


def _find_audioset_clip(root, segment):
    stems = (segment.ytid, f"Y{segment.ytid}", f"{segment.ytid}_{int(segment.start)}")
    places = ((root / "video", VIDEO_SUFFIXES), (root / "audio", _AUDIO_SUFFIXES), (root, VIDEO_SUFFIXES + _AUDIO_SUFFIXES))
    for folder, suffixes in places:
        for stem in stems:
            for suffix in suffixes:
                candidate = folder / f"{stem}{suffix}"
                if candidate.is_file():
                    return candidate
    return None


def _index_audioset(root, segments=None):
    from avcourse.data import audioset

    if not root.is_dir():
        raise FileNotFoundError(f"AudioSet folder {str(root)!r} does not exist. {_AUDIOSET_HINT}")
    if segments is None:
        found = [root / name for name in _AUDIOSET_SEGMENTS if (root / name).is_file()]
        if not found:
            raise FileNotFoundError(
                f"no AudioSet segments CSV ({', '.join(_AUDIOSET_SEGMENTS)}) in {str(root)!r}. {_AUDIOSET_HINT}"
            )
        segments = found[0]
    rows = audioset.read_segments_csv(root / segments)
    # A user's own ontology.json beside the CSV wins over the bundled copy.
    ontology = audioset.load_ontology(root / "ontology.json" if (root / "ontology.json").is_file() else None)
    clips, missing = [], []
    for segment in rows:
        path = _find_audioset_clip(root, segment)
        if path is None:
            missing.append(segment.ytid)
            continue
        is_video = path.suffix in VIDEO_SUFFIXES
        clips.append(
            _clip(
                segment.ytid,
                video=path if is_video else None,
                audio=None if is_video else path,
                labels=segment.labels,
                num_sources=audioset.count_sources(segment.labels, ontology),
            )
        )
    if not clips:
        raise FileNotFoundError(
            f"none of the {len(rows)} AudioSet segments of {segments} has a clip under {root}. {_AUDIOSET_HINT}"
        )
    return clips, missing


def _index_flickr(root):
    from avcourse.data import flickr

    ids = flickr.load_flickr_test_ids()
    with warnings.catch_warnings():  # incomplete ids go to the report instead
        warnings.simplefilter("ignore")
        index = flickr.index_flickr(root, ids=ids, strict=False)
    complete = {entry["id"] for entry in index}
    clips = []
    for entry in index:
        # Boxes are stored normalised, so they stay valid for any frame size.
        boxes, (width, height) = flickr.read_flickr_annotation(entry["annotation"])
        normalised = [[x1 / width, y1 / height, x2 / width, y2 / height] for x1, y1, x2, y2 in boxes]
        clips.append(_clip(entry["id"], audio=entry["audio"], image=entry["image"], boxes=normalised))
    return clips, [item for item in ids if item not in complete]


def _index_esc50(root):
    from avcourse.data import esc50

    records = esc50.load_esc50(root, check_audio=False)
    clips = [
        _clip(Path(r["filename"]).stem, audio=r["path"], labels=[r["category"]], num_sources=1, fold=r["fold"])
        for r in records
        if r["path"].is_file()
    ]
    missing = [r["filename"] for r in records if not r["path"].is_file()]
    if not clips:
        raise FileNotFoundError(
            f"none of the {len(records)} ESC-50 audio files is under {root / 'audio'}. {esc50.DOWNLOAD_HINT}"
        )
    return clips, missing


def index_dataset(dataset, root, *, which="solo", segments=None):
    """List the clips of a downloaded dataset and the files that are missing.

    Args:
        dataset: ``"music"``, ``"audioset"``, ``"flickr"`` or ``"esc50"``.
        root: the folder the user downloaded (layouts in ``docs/prepare.md``).
        which: MUSIC id list: ``"solo"``, ``"duet"`` or ``"music21"``.
        segments: AudioSet segments CSV, relative to ``root`` (default: the
            first of ``balanced_train_segments.csv``, ``eval_segments.csv``,
            ``unbalanced_train_segments.csv`` found there).

    Returns:
        ``(clips, missing)``: one dict per clip found, in the id list's order,
        with ``clip_id``, the media paths (``audio``, ``video``, ``image``),
        ``labels``, ``num_sources``, ``boxes`` and ``fold``; and the names of
        the listed clips whose files are not there.

    Raises:
        ValueError: if ``dataset`` is unknown.
        FileNotFoundError: if ``root`` or its metadata is missing, or no clip
            is there; the message says what to download and where to put it.
    """
    check_choice(dataset, "dataset", DATASETS)
    root = Path(root)
    if dataset == "music":
        return _index_music(root, which)
    if dataset == "audioset":
        return _index_audioset(root, segments)
    if dataset == "flickr":
        return _index_flickr(root)
    return _index_esc50(root)
