import json

import numpy as np
import pytest
import soundfile
from PIL import Image
from test_music import COLOURS, _write_video

from avcourse import audio, cli
from avcourse.data import audioset, flickr, music, prepare, shards

RATE = 11025


def _tone(seconds, frequency, rate=RATE):
    time = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


def make_esc50_root(root, num_clips=4, seconds=0.3, corrupt=(), missing=()):
    """A fake ESC-50 download: meta/esc50.csv and short wavs (some broken or absent on request)."""
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    rows = []
    for index in range(num_clips):
        category = ("dog", "rooster", "rain")[index % 3]
        filename = f"{index % 5 + 1}-{1000 + index}-A-{index % 3}.wav"
        rows.append(f"{filename},{index % 5 + 1},{index % 3},{category},False,{1000 + index},A")
        path = root / "audio" / filename
        if index in corrupt:
            path.write_bytes(b"RIFF, but not really a wav file")
        elif index not in missing:
            soundfile.write(path, _tone(seconds, 200 + 50 * index), RATE)
    header = "filename,fold,target,category,esc10,src_file,take\n"
    (root / "meta" / "esc50.csv").write_text(header + "\n".join(rows) + "\n")
    return root


def read_records(output_dir):
    return [{k: v.numpy() for k, v in element.items()} for element in shards.shard_dataset(output_dir, num_parallel_calls=1, cycle_length=1)]


def shard_bytes(output_dir):
    return {path.name: path.read_bytes() for path in sorted(output_dir.glob("*.tfrecord"))}


@pytest.fixture(scope="module")
def esc50_root(tmp_path_factory):
    return make_esc50_root(tmp_path_factory.mktemp("esc50"), num_clips=5, corrupt=(2,), missing=(4,))


@pytest.fixture(scope="module")
def esc50_reference(esc50_root, tmp_path_factory):
    """A clean run: its shards are what every resumed or repeated run must reproduce byte for byte."""
    output = tmp_path_factory.mktemp("esc50_out")
    report = prepare.prepare("esc50", esc50_root, output, num_workers=2, executor="thread", shard_size=2, progress=False)
    return output, report, shard_bytes(output)


# --- records ---------------------------------------------------------------------------


def test_esc50_records_round_trip_and_report(esc50_root, esc50_reference):
    output, report, _ = esc50_reference
    records = read_records(output)
    assert [r["clip_id"].decode() for r in records] == ["1-1000-A-0", "2-1001-A-1", "4-1003-A-0"]
    for record in records:
        original = audio.load_audio(esc50_root / "audio" / f"{record['clip_id'].decode()}.wav")
        assert record["waveform"].dtype == np.float32 and record["waveform"].shape == original.shape
        # int16 with the peak at 32767: the error is at most half a step.
        np.testing.assert_allclose(record["waveform"], original, atol=np.abs(original).max() / 32767)
        assert record["frames"].shape == (0, 224, 224, 3) and record["boxes"].shape == (0, 4)
        assert record["num_sources"] == 1
    assert [list(r["labels"]) for r in records] == [[b"dog"], [b"rooster"], [b"dog"]]
    assert [int(r["fold"]) for r in records] == [1, 2, 4]
    assert report["num_clips"] == 4 and report["num_records"] == 3 and report["num_shards"] == 2
    assert report["missing"] == ["5-1004-A-1.wav"]
    assert [entry["clip_id"] for entry in report["corrupt"]] == ["3-1002-A-2"]
    assert "could not be decoded" in report["corrupt"][0]["error"]
    assert json.loads((output / prepare.REPORT_NAME).read_text()) == report


def test_float32_audio_is_exact(esc50_root, tmp_path):
    prepare.prepare("esc50", esc50_root, tmp_path, num_workers=0, audio_format="float32", max_seconds=0.1, progress=False)
    record = read_records(tmp_path)[0]
    original = audio.load_audio(esc50_root / "audio" / "1-1000-A-0.wav", duration=0.1)
    np.testing.assert_array_equal(record["waveform"], original)


def test_music_videos_give_frames_audio_and_instruments(tmp_path):
    ids = music.load_music_ids("solo")
    (tmp_path / "violin").mkdir()
    _write_video(tmp_path / "violin" / f"{ids['violin'][0]}.mp4")
    _write_video(tmp_path / f"{ids['flute'][0]}.mp4", colours=COLOURS[::-1])  # the flat layout works too
    report = prepare.prepare("music", tmp_path, tmp_path / "out", num_workers=0, image_size=32, progress=False)
    assert report["num_records"] == 2
    assert len(report["missing"]) == sum(map(len, ids.values())) - 2
    assert f"violin/{ids['violin'][0]}" not in report["missing"]
    records = {r["clip_id"].decode(): r for r in read_records(tmp_path / "out")}
    violin = records[f"violin/{ids['violin'][0]}"]
    frames, waveform = music.decode_video(tmp_path / "violin" / f"{ids['violin'][0]}.mp4")
    assert violin["frames"].shape == (3, 32, 32, 3)
    np.testing.assert_allclose(violin["frames"].reshape(3, -1, 3).mean(axis=1), COLOURS, atol=10)
    np.testing.assert_allclose(violin["waveform"], waveform, atol=np.abs(waveform).max() / 32767)
    assert list(violin["labels"]) == [b"violin"] and violin["num_sources"] == 1
    flute = records[f"flute/{ids['flute'][0]}"]
    np.testing.assert_allclose(flute["frames"].reshape(3, -1, 3).mean(axis=1), COLOURS[::-1], atol=10)


def test_flickr_images_audio_and_normalised_boxes(tmp_path):
    ids = flickr.load_flickr_test_ids()[:3]
    for folder in ("frames", "audio", "Annotations"):
        (tmp_path / folder).mkdir()
    for index, item in enumerate(ids):
        Image.new("RGB", (256, 256), COLOURS[index]).save(tmp_path / "frames" / f"{item}.jpg")
        (tmp_path / "Annotations" / f"{item}.xml").write_text(
            "<annotation><object><bbox><xmin>32</xmin><ymin>64</ymin><xmax>128</xmax><ymax>256</ymax></bbox></object>"
            "<object><bbox><xmin>0</xmin><ymin>0</ymin><xmax>64</xmax><ymax>64</ymax></bbox></object></annotation>"
        )
        if index < 2:  # the third id lacks its sound
            soundfile.write(tmp_path / "audio" / f"{item}.wav", _tone(0.2, 300), RATE)
    report = prepare.prepare("flickr", tmp_path, tmp_path / "out", num_workers=0, image_size=64, progress=False)
    assert report["num_records"] == 2 and ids[2] in report["missing"] and ids[0] not in report["missing"]
    record = read_records(tmp_path / "out")[0]
    assert record["clip_id"].decode() == ids[0] and record["frames"].shape == (1, 64, 64, 3)
    np.testing.assert_allclose(record["frames"][0].reshape(-1, 3).mean(axis=0), COLOURS[0], atol=6)
    np.testing.assert_allclose(record["boxes"], [[0.125, 0.25, 0.5, 1.0], [0, 0, 0.25, 0.25]])
    assert record["waveform"].shape == (int(0.2 * RATE),)


def test_audioset_labels_counts_and_file_names(tmp_path):
    rows = audioset.read_segments_csv()[:3]
    lines = [f'{r.ytid}, {r.start:.3f}, {r.end:.3f}, "{",".join(r.labels)}"' for r in rows]
    (tmp_path / "balanced_train_segments.csv").write_text("# YTID, start_seconds, end_seconds, positive_labels\n" + "\n".join(lines) + "\n")
    (tmp_path / "audio").mkdir()
    soundfile.write(tmp_path / "audio" / f"{rows[0].ytid}.wav", _tone(0.2, 300, 22050), 22050)
    soundfile.write(tmp_path / f"Y{rows[1].ytid}.flac", _tone(0.2, 500), RATE)
    report = prepare.prepare("audioset", tmp_path, tmp_path / "out", num_workers=0, progress=False)
    assert report["missing"] == [rows[2].ytid]
    records = read_records(tmp_path / "out")
    assert [r["clip_id"].decode() for r in records] == [rows[0].ytid, rows[1].ytid]
    for record, row in zip(records, rows):
        assert [label.decode() for label in record["labels"]] == list(row.labels)
        assert record["num_sources"] == audioset.count_sources(row.labels)
    resampled = audio.load_audio(tmp_path / "audio" / f"{rows[0].ytid}.wav")
    np.testing.assert_allclose(records[0]["waveform"], resampled, atol=np.abs(resampled).max() / 32767)


# --- resuming, idempotence, plans ------------------------------------------------------


def test_rerun_does_no_work_and_rebuilds_a_lost_shard_identically(esc50_root, esc50_reference, tmp_path):
    output, _, reference = esc50_reference
    again = prepare.prepare("esc50", esc50_root, output, num_workers=2, executor="thread", shard_size=2, progress=False)
    assert again["shards_written"] == 0 and again["shards_reused"] == 2 and len(again["corrupt"]) == 1
    assert shard_bytes(output) == reference
    name = sorted(reference)[1]
    (output / name).unlink()
    resumed = prepare.prepare("esc50", esc50_root, output, num_workers=0, shard_size=2, progress=False)
    assert resumed["shards_written"] == 1 and shard_bytes(output) == reference


def test_resume_after_a_crash_mid_run(esc50_root, esc50_reference, tmp_path, monkeypatch):
    _, _, reference = esc50_reference
    decode = prepare._decode_media

    def crash_on_fourth(clip, settings):
        if clip["clip_id"] == "4-1003-A-0":
            raise RuntimeError("simulated crash")
        return decode(clip, settings)

    monkeypatch.setattr(prepare, "_decode_media", crash_on_fourth)
    with pytest.raises(RuntimeError, match="simulated crash"):  # in-process, so the crash comes after shard 0
        prepare.prepare("esc50", esc50_root, tmp_path, num_workers=0, shard_size=2, progress=False)
    manifest = json.loads((tmp_path / prepare.MANIFEST_NAME).read_text())
    assert sorted(manifest["shards"]) == [sorted(reference)[0]]
    monkeypatch.setattr(prepare, "_decode_media", decode)
    report = prepare.prepare("esc50", esc50_root, tmp_path, num_workers=0, shard_size=2, progress=False)
    assert report["shards_written"] == 1 and report["shards_reused"] == 1
    assert shard_bytes(tmp_path) == reference


def test_process_pool_writes_the_same_shards(esc50_root, esc50_reference, tmp_path):
    _, _, reference = esc50_reference
    prepare.prepare("esc50", esc50_root, tmp_path, num_workers=2, executor="process", shard_size=2, progress=False)
    assert shard_bytes(tmp_path) == reference


def test_other_settings_in_the_same_folder(esc50_root, esc50_reference, tmp_path):
    output, _, _ = esc50_reference
    with pytest.raises(ValueError, match="other settings"):
        prepare.prepare("esc50", esc50_root, output, num_workers=0, shard_size=3, progress=False)
    prepare.prepare("esc50", esc50_root, tmp_path, num_workers=0, shard_size=2, progress=False)
    report = prepare.prepare("esc50", esc50_root, tmp_path, num_workers=0, shard_size=3, overwrite=True, progress=False)
    assert report["shards"] == ["esc50-00000-of-00002.tfrecord", "esc50-00001-of-00002.tfrecord"]
    assert report["shards_written"] == 2 and report["num_records"] == 3


# --- errors and the command line -------------------------------------------------------


@pytest.mark.parametrize(
    "dataset, phrase",
    [("music", "download the videos"), ("audioset", "segments CSV"), ("flickr", "Download the SoundNet-Flickr"), ("esc50", "Download ESC-50")],
)
def test_missing_root_says_what_to_download(dataset, phrase, tmp_path):
    with pytest.raises(FileNotFoundError, match=phrase):
        prepare.prepare(dataset, tmp_path / "absent", tmp_path / "out", num_workers=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dataset": "vggsound"}, "`dataset` must be one of"),
        ({"shard_size": 0}, "shard_size"),
        ({"image_size": -1}, "image_size"),
        ({"audio_format": "mp3"}, "`audio_format`"),
        ({"num_workers": -1}, "`num_workers`"),
        ({"max_seconds": 0}, "`max_seconds`"),
        ({"executor": "gpu"}, "`executor`"),
        ({"jpeg_quality": 100}, "`jpeg_quality`"),
    ],
)
def test_invalid_arguments(kwargs, match, tmp_path):
    arguments = {"dataset": "esc50", "root": tmp_path, "output_dir": tmp_path / "out"} | kwargs
    with pytest.raises(ValueError, match=match):
        prepare.prepare(arguments.pop("dataset"), arguments.pop("root"), arguments.pop("output_dir"), **arguments)


def test_cli_subcommand(esc50_root, esc50_reference, tmp_path, capsys):
    args = cli.build_parser().parse_args(
        ["prepare", "esc50", "--root", str(esc50_root), "--output", str(tmp_path), "--workers", "0", "--shard-size", "2", "--quiet"]
    )
    assert args.run(args) == 0
    assert "3 clips in 2 shards" in capsys.readouterr().out
    assert shard_bytes(tmp_path) == esc50_reference[2]
