from pathlib import Path

import numpy as np
import pytest

from avcourse.data import samples_root

from avcourse import metrics
from avcourse.data import flickr

# The real metadata: ../shared/data beside a checkout, else the identical copy bundled in the package.
_CHECKOUT_SHARED = Path(__file__).parents[2].parent / "shared" / "data" / "localization"
SHARED = _CHECKOUT_SHARED if _CHECKOUT_SHARED.is_dir() else samples_root() / "metadata" / "localization"

# Three annotators in the layout the LVS / EZ-VSL code reads: a first child, then the coordinates.
XML_THREE_ANNOTATORS = """<?xml version="1.0"?>
<annotation>
  <filename>12345.jpg</filename>
  <object><bbox><annotator>1</annotator><xmin>0</xmin><ymin>0</ymin><xmax>128</xmax><ymax>128</ymax></bbox></object>
  <object><bbox><annotator>2</annotator><xmin>64</xmin><ymin>64</ymin><xmax>192</xmax><ymax>192</ymax></bbox></object>
  <object><bbox><annotator>3</annotator><xmin>0</xmin><ymin>0</ymin><xmax>64</xmax><ymax>256</ymax></bbox></object>
</annotation>
"""


def _write(folder, name, text):
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_read_flickr_boxes(tmp_path):
    path = _write(tmp_path, "12345.xml", XML_THREE_ANNOTATORS)
    assert flickr.read_flickr_boxes(path) == [
        [[0.0, 0.0, 128.0, 128.0]],
        [[64.0, 64.0, 192.0, 192.0]],
        [[0.0, 0.0, 64.0, 256.0]],
    ]


def test_flickr_gt_map_consensus_at_224(tmp_path):
    path = _write(tmp_path, "12345.xml", XML_THREE_ANNOTATORS)
    # 256 -> 224 scales by 7/8: 64 -> 56, 128 -> 112, 192 -> 168, 256 -> 224.
    votes = np.zeros((224, 224))
    votes[0:112, 0:112] += 1
    votes[56:168, 56:168] += 1
    votes[0:224, 0:56] += 1
    expected = np.minimum(votes / 2, 1)
    gt = flickr.flickr_gt_map(path)
    np.testing.assert_array_equal(gt, expected)
    assert gt[0, 0] == 1.0 and gt[60, 60] == 1.0 and gt[200, 10] == 0.5 and gt[150, 150] == 0.5 and gt[200, 200] == 0


def test_positional_coordinates_and_size_element(tmp_path):
    text = """<annotation><size><width>100</width><height>50</height></size>
      <object><bbox><id>a</id><a>0</a><b>0</b><c>50</c><d>25</d></bbox></object>
      <object><bbox><id>b</id><a>0</a><b>0</b><c>50</c><d>25</d></bbox></object></annotation>"""
    path = _write(tmp_path, "x.xml", text)
    assert flickr.read_flickr_boxes(path) == [[[0.0, 0.0, 50.0, 25.0]]] * 2
    assert flickr.read_flickr_annotation(path) == ([[0.0, 0.0, 50.0, 25.0]] * 2, (100.0, 50.0))
    assert flickr.read_flickr_annotation(_write(tmp_path, "y.xml", XML_THREE_ANNOTATORS))[1] == flickr.FLICKR_IMAGE_SIZE
    gt = flickr.flickr_gt_map(path, size=4)
    expected = np.zeros((4, 4))
    expected[:2, :2] = 1
    np.testing.assert_array_equal(gt, expected)


def test_flickr_xml_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="learning_to_localize_sound_source"):
        flickr.read_flickr_boxes(tmp_path / "missing.xml")
    with pytest.raises(ValueError, match="not valid XML"):
        flickr.read_flickr_boxes(_write(tmp_path, "a.xml", "<annotation>"))
    with pytest.raises(ValueError, match="holds no <bbox>"):
        flickr.read_flickr_boxes(_write(tmp_path, "b.xml", "<annotation><object/></annotation>"))
    with pytest.raises(ValueError, match="lacks numeric"):
        flickr.read_flickr_boxes(_write(tmp_path, "c.xml", "<a><o><bbox><xmin>1</xmin></bbox></o></a>"))


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the real localization metadata is not at {SHARED}")
def test_load_flickr_test_ids():
    ids = flickr.load_flickr_test_ids(SHARED / "flickr_test_ids.csv")
    assert len(ids) == 249 == len(set(ids))
    assert ids[0] == "10000130166" and all(i.isdigit() for i in ids)
    assert flickr.load_flickr_test_ids() == ids


def _make_flickr_folder(root, ids, skip=()):
    for item in ids:
        for kind, name in (
            ("image", f"frames/{item}.jpg"),
            ("audio", f"audio/{item}.wav"),
            ("annotation", f"Annotations/{item}.xml"),
        ):
            if (item, kind) not in skip:
                _write(root, name, XML_THREE_ANNOTATORS if kind == "annotation" else "x")


def test_index_flickr_complete_and_missing(tmp_path):
    _make_flickr_folder(tmp_path, ["1", "2", "3"], skip={("2", "audio"), ("3", "image"), ("3", "annotation")})
    expected = r"2 of 3 SoundNet-Flickr ids lack files.*2 \(audio\), 3 \(image, annotation\).*<root>/frames"
    with pytest.raises(FileNotFoundError, match=expected):
        flickr.index_flickr(tmp_path, ids=["1", "2", "3"])
    with pytest.warns(UserWarning, match="2 of 3"):
        index = flickr.index_flickr(tmp_path, ids=["1", "2", "3"], strict=False)
    assert index == [
        {
            "id": "1",
            "image": tmp_path / "frames/1.jpg",
            "audio": tmp_path / "audio/1.wav",
            "annotation": tmp_path / "Annotations/1.xml",
        }
    ]
    assert flickr.flickr_gt_map(index[0]["annotation"]).shape == (224, 224)
    with pytest.raises(FileNotFoundError, match="1 of 1"):
        flickr.index_flickr(tmp_path, ids=["3"], strict=False)
    with pytest.raises(FileNotFoundError, match="folder .* does not exist"):
        flickr.index_flickr(tmp_path / "nowhere")


def test_index_flickr_defaults_to_the_bundled_test_ids(tmp_path):
    try:
        ids = flickr.load_flickr_test_ids()
    except FileNotFoundError as error:
        pytest.skip(f"bundled samples not built yet: {error}")
    _make_flickr_folder(tmp_path, ids[:2])
    with pytest.raises(FileNotFoundError, match="247 of 249"):
        flickr.index_flickr(tmp_path)
    with pytest.warns(UserWarning):
        assert [r["id"] for r in flickr.index_flickr(tmp_path, strict=False)] == ids[:2]


def test_flickr_maps_work_with_ciou(tmp_path):
    gt = flickr.flickr_gt_map(_write(tmp_path, "12345.xml", XML_THREE_ANNOTATORS))
    assert 0 < metrics.ciou(metrics.center_prior_heatmap(224), gt) < 1
