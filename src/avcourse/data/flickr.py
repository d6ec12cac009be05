"""SoundNet-Flickr sound-localization test set: boxes, consensus maps, file index.

The test set of Senocak et al. (CVPR 2018) pairs Flickr images (256 x 256)
with their sound; three annotators marked each sounding object with boxes,
stored as one XML file per image. The images, sounds and XML files are for
research use only and are not shipped: download them from
https://github.com/ardasnck/learning_to_localize_sound_source and put them as

    <root>/frames/<id>.jpg    <root>/audio/<id>.wav    <root>/Annotations/<id>.xml

The 249 test ids used by LVS and EZ-VSL are bundled
(:func:`load_flickr_test_ids`).

The XML layout, as the LVS / EZ-VSL evaluation code reads it: every
``<bbox>`` element (under an element of the root) holds one box; its
coordinates are its ``xmin, ymin, xmax, ymax`` children, read by name here
or, when they are named otherwise, as the four children after the first (as
the reference code reads them). That code
adds one mask per ``<bbox>`` to the consensus, so :func:`read_flickr_boxes`
returns each box as one annotator's mark, which reproduces the published
numbers. Boxes are in pixels of a 256 x 256 frame unless the file has a
``<size>`` with ``<width>`` and ``<height>``.

Used by: avcourse prepare (recipes)
"""

import csv
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from avcourse.data import sample_path
from avcourse.metrics.localization import consensus_map

__all__ = [
    "FLICKR_IMAGE_SIZE",
    "flickr_gt_map",
    "index_flickr",
    "load_flickr_test_ids",
    "read_flickr_annotation",
    "read_flickr_boxes",
]

# SoundNet-Flickr images are 256 x 256; the annotations use that frame.
FLICKR_IMAGE_SIZE = (256, 256)

_COORDINATES = ("xmin", "ymin", "xmax", "ymax")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_AUDIO_SUFFIXES = (".wav", ".flac", ".mp3")
_DOWNLOAD_HINT = (
    "Download the SoundNet-Flickr sound localization test set (research use only) from "
    "https://github.com/ardasnck/learning_to_localize_sound_source and arrange it as "
    "<root>/frames/<id>.jpg, <root>/audio/<id>.wav and <root>/Annotations/<id>.xml."
)


def read_flickr_annotation(xml_path):
    """Every annotator's box of one SoundNet-Flickr image, with the image's size.

    Args:
        xml_path: the image's annotation file.

    Returns:
        ``(boxes, (width, height))``: one ``[xmin, ymin, xmax, ymax]`` box per
        ``<bbox>`` (one per annotator) in pixels, and the image's size from its
        ``<size>`` element (256 x 256 when it has none).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not XML, has no ``<bbox>`` or a malformed one.
    """
    xml_path = Path(xml_path)
    if not xml_path.is_file():
        raise FileNotFoundError(f"SoundNet-Flickr annotation {str(xml_path)!r} does not exist. {_DOWNLOAD_HINT}")
    try:
        root = ElementTree.parse(xml_path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f"{xml_path} is not valid XML: {error}") from None
    image_size = FLICKR_IMAGE_SIZE
    size = root.find("size")
    if size is not None and size.find("width") is not None and size.find("height") is not None:
        image_size = (float(size.findtext("width")), float(size.findtext("height")))
    boxes = []
    for bbox in root.iter("bbox"):
        if all(bbox.find(tag) is not None for tag in _COORDINATES):
            texts = [bbox.findtext(tag) for tag in _COORDINATES]
        else:
            texts = [child.text for child in list(bbox)[1:5]]
        try:
            box = [float(text) for text in texts]
        except (TypeError, ValueError):
            box = []
        if len(box) != 4:
            raise ValueError(
                f"{xml_path}: a <bbox> lacks numeric <xmin>, <ymin>, <xmax>, <ymax> children "
                f"(or four numbers after its first child); found {texts}."
            )
        boxes.append(box)
    if not boxes:
        raise ValueError(f"{xml_path} holds no <bbox> element; expected the annotators' boxes.")
    return boxes, image_size


def read_flickr_boxes(xml_path):
    """Read the annotators' boxes of one SoundNet-Flickr image.

    Args:
        xml_path: the image's annotation file.

    Returns:
        list with one list of boxes per annotator (one ``<bbox>`` each, see
        the module docstring), each box ``[xmin, ymin, xmax, ymax]`` in
        pixels of the 256 x 256 image.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not XML, has no ``<bbox>`` or a malformed one.
    """
    boxes, _ = read_flickr_annotation(xml_path)
    return [[box] for box in boxes]


def flickr_gt_map(xml_path, size=224):
    """Consensus ground-truth map of one SoundNet-Flickr image.

    Args:
        xml_path: the image's annotation file.
        size: side of the square map (224 in the papers), or ``(height, width)``.

    Returns:
        float32 array (height, width) with values in {0, 0.5, 1}, see
        :func:`avcourse.metrics.consensus_map`.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file is malformed.
    """
    boxes, image_size = read_flickr_annotation(xml_path)
    return consensus_map([[box] for box in boxes], size=size, image_size=image_size)


def load_flickr_test_ids(path=None):
    """The SoundNet-Flickr test ids used by LVS and EZ-VSL.

    Args:
        path: a CSV whose first column is the id (no header); None reads the
            bundled ``flickr_test_ids.csv`` (249 ids).

    Returns:
        list of id strings in file order.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
    """
    path = sample_path("metadata", "localization", "flickr_test_ids.csv") if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SoundNet-Flickr id list {str(path)!r} does not exist.")
    with path.open(newline="", encoding="utf-8") as file:
        return [row[0].strip() for row in csv.reader(file) if row and row[0].strip()]


def _find(folder, stem, suffixes):
    for suffix in suffixes:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def index_flickr(root, ids=None, strict=True):
    """List the (image, audio, annotation) files of the SoundNet-Flickr test set.

    Args:
        root: folder laid out as in the module docstring (images may also be
            .jpeg/.png, sounds .flac/.mp3).
        ids: the ids to look for; None takes the 249 bundled test ids.
        strict: raise when files are missing (the default: a partial test set
            gives numbers that cannot be compared with the papers'); when
            False, warn and index the complete ids only.

    Returns:
        list of dicts ``{"id", "image", "audio", "annotation"}`` (paths), in
        the order of ``ids``.

    Raises:
        FileNotFoundError: if ``root`` is not a folder, or if files are missing
            and ``strict`` is True (the message counts them, lists the first
            10 and says where to get them), or if no id is complete.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"SoundNet-Flickr folder {str(root)!r} does not exist. {_DOWNLOAD_HINT}")
    ids = load_flickr_test_ids() if ids is None else list(ids)
    index, missing = [], []
    for item in ids:
        files = {
            "image": _find(root / "frames", item, _IMAGE_SUFFIXES),
            "audio": _find(root / "audio", item, _AUDIO_SUFFIXES),
            "annotation": _find(root / "Annotations", item, (".xml",)),
        }
        absent = [kind for kind, path in files.items() if path is None]
        if absent:
            missing.append(f"{item} ({', '.join(absent)})")
        else:
            index.append({"id": item, **files})
    if missing:
        message = (
            f"{len(missing)} of {len(ids)} SoundNet-Flickr ids lack files under {root}; "
            f"first {min(10, len(missing))}: {', '.join(missing[:10])}. {_DOWNLOAD_HINT}"
        )
        if strict or not index:
            raise FileNotFoundError(message)
        warnings.warn(message, stacklevel=2)
    return index
