import pytest

from avcourse.data import esc50

HEADER = "filename,fold,target,category,esc10,src_file,take\n"
ROWS = [
    "1-100032-A-0.wav,1,0,dog,True,100032,A",
    "1-100038-A-14.wav,1,14,chirping_birds,False,100038,A",
    "2-100648-A-43.wav,2,43,chainsaw,False,100648,A",
    "3-100018-A-2.wav,3,2,pig,False,100018,A",
    "5-103415-A-2.wav,5,2,pig,False,103415,A",
]


@pytest.fixture
def esc50_root(tmp_path):
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "esc50.csv").write_text(HEADER + "\n".join(ROWS) + "\n")
    (tmp_path / "audio").mkdir()
    for row in ROWS:
        (tmp_path / "audio" / row.split(",")[0]).write_bytes(b"")
    return tmp_path


def test_load_esc50_records(esc50_root):
    records = esc50.load_esc50(esc50_root)
    assert len(records) == 5
    assert records[0] == {
        "filename": "1-100032-A-0.wav",
        "fold": 1,
        "target": 0,
        "category": "dog",
        "esc10": True,
        "src_file": "100032",
        "take": "A",
        "path": esc50_root / "audio" / "1-100032-A-0.wav",
    }
    assert [r["esc10"] for r in records] == [True, False, False, False, False]


def test_esc50_folds(esc50_root):
    records = esc50.load_esc50(esc50_root)
    train, test = esc50.esc50_folds(records, 1)
    assert [r["filename"] for r in test] == ["1-100032-A-0.wav", "1-100038-A-14.wav"]
    assert [r["fold"] for r in train] == [2, 3, 5]
    train, test = esc50.esc50_folds(records, 5)
    assert len(train) == 4 and len(test) == 1
    with pytest.raises(ValueError, match=r"`test_fold` must be one of the folds \[1, 2, 3, 5\]; received 4"):
        esc50.esc50_folds(records, 4)


def test_load_esc50_layout_errors(tmp_path, esc50_root):
    with pytest.raises(FileNotFoundError, match=r"meta/esc50\.csv.*does not exist.*karolpiczak/ESC-50"):
        esc50.load_esc50(tmp_path / "nowhere")
    (esc50_root / "audio" / "3-100018-A-2.wav").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 5 ESC-50 audio files are missing.*3-100018-A-2\.wav"):
        esc50.load_esc50(esc50_root)
    assert len(esc50.load_esc50(esc50_root, check_audio=False)) == 5
    for path in (esc50_root / "audio").iterdir():
        path.unlink()
    (esc50_root / "audio").rmdir()
    with pytest.raises(FileNotFoundError, match="audio folder"):
        esc50.load_esc50(esc50_root)


def test_load_esc50_malformed_csv(esc50_root):
    (esc50_root / "meta" / "esc50.csv").write_text("filename,fold\na.wav,1\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['target'"):
        esc50.load_esc50(esc50_root)
    (esc50_root / "meta" / "esc50.csv").write_text(HEADER + "a.wav,one,0,dog,True,1,A\n")
    with pytest.raises(ValueError, match="line 2: malformed row"):
        esc50.load_esc50(esc50_root, check_audio=False)
