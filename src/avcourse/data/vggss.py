"""VGG-Sound Source (VGG-SS) localization annotations.

VGG-SS (Chen et al., "Localizing Visual Sounds the Hard Way", CVPR 2021)
annotates one frame of about 5,000 VGGSound clips with the boxes of the
sounding objects, normalised to [0, 1] as ``[xmin, ymin, xmax, ymax]``. One
annotator per frame, so the ground truth is the union of the boxes. The full
``vggss.json`` comes with the LVS code
(https://github.com/hche11/Localizing-Visual-Sounds-the-Hard-Way,
``metadata/vggss.json``); 20 records are bundled.

Used by: avcourse prepare (recipes)
"""

import json
from pathlib import Path

from avcourse.data import sample_path
from avcourse.metrics.localization import union_map

__all__ = ["load_vggss", "vggss_gt_map"]


def load_vggss(path=None):
    """Load VGG-SS records.

    Args:
        path: a ``vggss.json`` (a list of ``{"file", "class", "bbox"}``);
            None reads the bundled 20-record sample.

    Returns:
        list of dicts ``{"file": str, "class": str, "bbox": tuple of
        (xmin, ymin, xmax, ymax) tuples}``, in file order.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if a record lacks a key or has a box that is not 4 numbers.
    """
    path = sample_path("metadata", "localization", "vggss_sample.json") if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"VGG-SS annotations {str(path)!r} do not exist; get metadata/vggss.json from "
            "https://github.com/hche11/Localizing-Visual-Sounds-the-Hard-Way."
        )
    records = json.loads(path.read_text(encoding="utf-8"))
    loaded = []
    for position, record in enumerate(records):
        if not isinstance(record, dict) or not {"file", "class", "bbox"} <= set(record):
            raise ValueError(f"{path}: record {position} must have 'file', 'class' and 'bbox'; received {record!r}.")
        boxes = tuple(tuple(float(v) for v in box) for box in record["bbox"])
        if not boxes or any(len(box) != 4 for box in boxes):
            raise ValueError(
                f"{path}: record {position} ({record['file']}) must have [xmin, ymin, xmax, ymax] boxes; "
                f"received {record['bbox']!r}."
            )
        loaded.append({"file": record["file"], "class": record["class"], "bbox": boxes})
    return loaded


def vggss_gt_map(record, size=224):
    """Ground-truth map of one VGG-SS record: the union of its boxes.

    Args:
        record: a record of :func:`load_vggss` (only ``"bbox"`` is used).
        size: side of the square map (224 in the papers), or ``(height, width)``.

    Returns:
        float32 array (height, width) of 0 and 1, see
        :func:`avcourse.metrics.union_map`.

    Raises:
        ValueError: if a box is malformed.
    """
    return union_map(record["bbox"], size=size)
