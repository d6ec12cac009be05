import json
from pathlib import Path

import numpy as np
import pytest

from avcourse.data import samples_root

from avcourse.data import vggss

# The real metadata: ../shared/data beside a checkout, else the identical copy bundled in the package.
_CHECKOUT_SHARED = Path(__file__).parents[2].parent / "shared" / "data" / "localization"
SHARED = _CHECKOUT_SHARED if _CHECKOUT_SHARED.is_dir() else samples_root() / "metadata" / "localization"


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the real localization metadata is not at {SHARED}")
def test_load_vggss_real_sample():
    records = vggss.load_vggss(SHARED / "vggss_sample.json")
    assert len(records) == 20
    first = records[0]
    assert first["file"] == "zpWuikVorYg_000032" and first["class"] == "elk bugling"
    assert first["bbox"] == ((0.403125, 0.253125, 0.6, 0.75),)
    assert sorted(len(r["bbox"]) for r in records).count(1) == 17
    assert vggss.load_vggss() == records


def test_vggss_gt_map_of_the_first_record():
    try:
        record = vggss.load_vggss()[0]
    except FileNotFoundError as error:
        pytest.skip(f"bundled samples not built yet: {error}")
    gt = vggss.vggss_gt_map(record)
    # floor(0.403125 * 224) = 90, floor(0.6 * 224) = 134; floor(0.253125 * 224) = 56, 0.75 * 224 = 168.
    expected = np.zeros((224, 224))
    expected[56:168, 90:134] = 1
    np.testing.assert_array_equal(gt, expected)


def test_vggss_union_of_several_boxes(tmp_path):
    path = tmp_path / "v.json"
    path.write_text(json.dumps([{"file": "a", "class": "c", "bbox": [[0, 0, 0.5, 0.5], [0.25, 0.25, 1.0, 0.5]]}]))
    gt = vggss.vggss_gt_map(vggss.load_vggss(path)[0], size=4)
    expected = np.zeros((4, 4))
    expected[0:2, 0:2] = 1
    expected[1:2, 1:4] = 1
    np.testing.assert_array_equal(gt, expected)


def test_vggss_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Localizing-Visual-Sounds-the-Hard-Way"):
        vggss.load_vggss(tmp_path / "missing.json")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"file": "a", "bbox": [[0, 0, 1, 1]]}]))
    with pytest.raises(ValueError, match="record 0 must have 'file', 'class' and 'bbox'"):
        vggss.load_vggss(path)
    path.write_text(json.dumps([{"file": "a", "class": "c", "bbox": [[0, 0, 1]]}]))
    with pytest.raises(ValueError, match=r"record 0 \(a\) must have \[xmin, ymin, xmax, ymax\] boxes"):
        vggss.load_vggss(path)
