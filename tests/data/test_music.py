from pathlib import Path

import av
import numpy as np
import pytest

from avcourse.data import samples_root

from avcourse.data import music

# The real metadata: ../shared/data beside a checkout, else the identical copy bundled in the package.
_CHECKOUT_SHARED = Path(__file__).parents[2].parent / "shared" / "data"
SHARED = _CHECKOUT_SHARED if _CHECKOUT_SHARED.is_dir() else samples_root() / "metadata"
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def _write_video(path, colours=COLOURS, fps=10, size=32, audio_rate=22050, frequency=440.0, with_audio=True):
    """One second of each solid colour, with a stereo sine as AAC."""
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        # Every stream must exist before the first packet is muxed.
        audio = container.add_stream("aac", rate=audio_rate, layout="stereo") if with_audio else None
        for index in range(len(colours) * fps):
            image = np.empty((size, size, 3), np.uint8)
            image[:] = colours[index // fps]
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if with_audio:
            total = len(colours) * audio_rate
            sine = (0.5 * np.sin(2 * np.pi * frequency * np.arange(total) / audio_rate)).astype(np.float32)
            stereo = np.stack([sine, sine])
            for start in range(0, total, 1024):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(stereo[:, start : start + 1024]), format="fltp", layout="stereo"
                )
                frame.sample_rate, frame.pts = audio_rate, start
                container.mux(audio.encode(frame))
            container.mux(audio.encode())
    return path


@pytest.fixture(scope="module")
def video_path(tmp_path_factory):
    return _write_video(tmp_path_factory.mktemp("video") / "clip.mp4")


# --- decoding ------------------------------------------------------------------


def test_decode_video_frames_at_one_fps_and_mono_audio(video_path):
    frames, audio = music.decode_video(video_path)
    assert frames.dtype == np.uint8 and frames.shape == (3, 32, 32, 3)
    np.testing.assert_allclose(frames.reshape(3, -1, 3).mean(axis=1), COLOURS, atol=8)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - 3 * 11025) < 0.05 * 3 * 11025  # AAC pads to whole 1024-sample frames
    frequencies = np.fft.rfftfreq(audio.size, 1 / 11025)
    assert abs(frequencies[np.argmax(np.abs(np.fft.rfft(audio)))] - 440) < 2
    # The two channels (0.5 amplitude each) are averaged, not summed.
    assert np.sqrt(2 * np.mean(audio[2000:-2000] ** 2)) == pytest.approx(0.5, abs=0.02)


def test_decode_video_other_rates_and_max_frames(video_path):
    frames, audio = music.decode_video(video_path, fps=2.5, sample_rate=8000)
    # Frames on screen at 0, 0.4, ..., 2.8 s: red x3, green x2, blue x3.
    centre = frames[:, 16, 16].astype(int)
    assert [int(np.argmax(c)) for c in centre] == [0, 0, 0, 1, 1, 2, 2, 2]
    assert abs(audio.size - 3 * 8000) < 0.05 * 3 * 8000
    frames, audio = music.decode_video(video_path, max_frames=2)
    assert frames.shape[0] == 2 and audio.size == 2 * 11025
    assert np.argmax(frames[1, 16, 16]) == 1


def test_decode_video_errors(tmp_path, video_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        music.decode_video(tmp_path / "missing.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 10)
    with pytest.raises(ValueError, match="cannot read video"):
        music.decode_video(garbage)
    silent = _write_video(tmp_path / "silent.mp4", colours=COLOURS[:1], with_audio=False)
    with pytest.raises(ValueError, match="has no audio stream"):
        music.decode_video(silent)
    with pytest.raises(ValueError, match="`fps` must be a positive number"):
        music.decode_video(video_path, fps=0)
    with pytest.raises(ValueError, match="`sample_rate` must be a positive integer"):
        music.decode_video(video_path, sample_rate=11025.0)
    with pytest.raises(ValueError, match="`max_frames` must be a positive integer"):
        music.decode_video(video_path, max_frames=0)


# --- id lists and the local index ------------------------------------------------


@pytest.mark.skipif(not (SHARED / "music").is_dir(), reason=f"the real MUSIC metadata is not at {SHARED}")
def test_load_music_ids_real_lists():
    solo = music.load_music_ids("solo", SHARED / "music" / "MUSIC_solo_videos.json")
    assert len(solo) == 11 and sum(map(len, solo.values())) == 536
    duet = music.load_music_ids("duet", SHARED / "music" / "MUSIC_duet_videos.json")
    assert len(duet) == 9 and sum(map(len, duet.values())) == 149
    assert duet["flute violin"][0] == "8DHG_hVSw1o"
    music21 = music.load_music_ids("music21", SHARED / "music" / "MUSIC21_solo_videos.json")
    assert len(music21) == 21 and sum(map(len, music21.values())) == 1164
    assert music.load_music_ids("solo") == solo


def test_load_music_ids_errors(tmp_path):
    with pytest.raises(ValueError, match=r"`which` must be one of \['duet', 'music21', 'solo'\]"):
        music.load_music_ids("trio")
    with pytest.raises(FileNotFoundError, match="roudimit/MUSIC_dataset"):
        music.load_music_ids("solo", tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1}')
    with pytest.raises(ValueError, match="is not a MUSIC id list"):
        music.load_music_ids("solo", bad)


def _duet_ids():
    try:
        return music.load_music_ids("duet")
    except FileNotFoundError as error:
        pytest.skip(f"bundled samples not built yet: {error}")


def test_index_music_fake_folder(tmp_path):
    duet = _duet_ids()
    first, second = duet["flute violin"][:2]
    guitar = duet["acoustic_guitar violin"][0]
    (tmp_path / "flute violin").mkdir()
    (tmp_path / "flute violin" / f"{first}.mp4").write_bytes(b"")
    (tmp_path / f"{second}.webm").write_bytes(b"")  # flat layout
    (tmp_path / "acoustic_guitar violin").mkdir()
    (tmp_path / "acoustic_guitar violin" / f"{guitar}.mkv").write_bytes(b"")

    with pytest.warns(UserWarning, match=r"146 of 149 MUSIC duet videos are missing.*first 10: flute violin/"):
        index = music.index_music(tmp_path, which="duet")
    assert [entry["id"] for entry in index] == [first, second, guitar]
    assert index[0] == {
        "id": first,
        "category": "flute violin",
        "instruments": ("flute", "violin"),
        "path": tmp_path / "flute violin" / f"{first}.mp4",
    }
    assert index[1]["path"] == tmp_path / f"{second}.webm"
    with pytest.raises(FileNotFoundError, match=r"146 of 149.*<instrument>/<id>\.mp4"):
        music.index_music(tmp_path, which="duet", strict=True)


def test_index_music_nothing_found(tmp_path):
    _duet_ids()
    with pytest.raises(FileNotFoundError, match="149 of 149"):
        music.index_music(tmp_path, which="duet")
    with pytest.raises(FileNotFoundError, match="folder .* does not exist"):
        music.index_music(tmp_path / "nowhere", which="duet")


def test_write_and_read_index_round_trip(tmp_path):
    index = [
        {"id": "abc", "category": "violin", "instruments": ("violin",), "path": tmp_path / "violin" / "abc.mp4"},
        {"id": "d,e", "category": "flute violin", "instruments": ("flute", "violin"), "path": tmp_path / "d,e.mkv"},
    ]
    music.write_index(index, tmp_path / "index.csv")
    assert (tmp_path / "index.csv").read_text().splitlines()[0] == "id,category,instruments,path"
    assert music.read_index(tmp_path / "index.csv") == index
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="expected the header id,category,instruments,path"):
        music.read_index(tmp_path / "bad.csv")
    with pytest.raises(FileNotFoundError, match="index_music"):
        music.read_index(tmp_path / "none.csv")


# --- DSOL boxes --------------------------------------------------------------------


@pytest.mark.skipif(not (SHARED / "localization").is_dir(), reason=f"the real box annotations are not at {SHARED}")
def test_load_music_boxes_real_sample():
    solo = music.load_music_boxes("solo", SHARED / "localization" / "music_solo_boxes_sample.json")
    assert len(solo) == 30
    first = solo[0]
    assert first["key"] == "-_-TDDxoaAc_0_1000/frame_000/00000.jpg"
    assert first["video"] == "-_-TDDxoaAc_0_1000" and first["frame"] == "frame_000/00000.jpg"
    assert (first["width"], first["height"]) == (640, 360) and first["category_ids"] == (1,)
    # box [210, 44, 150, 306] as x, y, w, h
    np.testing.assert_array_equal(first["boxes"], [[210, 44, 360, 350]])
    np.testing.assert_allclose(first["normalized_boxes"], [[210 / 640, 44 / 360, 360 / 640, 350 / 360]])
    duet = music.load_music_boxes("duet", SHARED / "localization" / "music_duet_boxes_sample.json")
    assert sorted(len(r["boxes"]) for r in duet).count(2) == 29
    for record in solo + duet:
        scale = np.array([record["width"], record["height"]] * 2)
        np.testing.assert_allclose(record["boxes"] / scale, record["normalized_boxes"], atol=1e-3)
    assert [r["key"] for r in music.load_music_boxes("duet")] == [r["key"] for r in duet]


def test_load_music_boxes_errors(tmp_path):
    with pytest.raises(ValueError, match="`which` must be one of"):
        music.load_music_boxes("music21")
    bad = tmp_path / "boxes.json"
    bad.write_text('{"v/frame_000/00000.jpg": {"bbox": [{"box": [1, 2, 3, 4]}], "height": 10}}')
    with pytest.raises(ValueError, match="malformed record 'v/frame_000/00000.jpg'"):
        music.load_music_boxes("solo", bad)


# --- Co-Separation detections → CCoL object crops ---------------------------------------------


def _write_frames(folder, count=4, size=(40, 30)):
    from PIL import Image

    folder.mkdir()
    for index in range(count):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        image[5:15, 10:30] = (255, 0, 0)  # a red object
        image[0, 0] = (index, index, index)
        Image.fromarray(image).save(folder / f"{index + 1:06d}.png")
    return folder


def test_detection_crops_most_confident_box_per_frame(tmp_path):
    frames = _write_frames(tmp_path / "frames")
    rows = np.array(
        [
            # frame, class, conf, x1, y1, x2, y2
            [0, 3, 0.9, 10, 5, 30, 15],  # the red object (most confident)
            [0, 7, 0.2, 0, 15, 40, 30],  # a less confident black box
            [1, 3, 0.8, 10, 5, 30, 15],
            [2, 7, 0.3, 0, 15, 40, 30],  # alone: kept for frame 2
            [2, 3, 0.1, 10, 5, 30, 15],
            [9, 3, 0.99, 10, 5, 30, 15],  # beyond the frames: ignored
        ],
        np.float32,
    )
    path = tmp_path / "video.npy"
    np.save(path, rows)
    detections = music.load_detections(path)
    assert detections.shape == (6, 7)
    assert music.best_boxes(detections)[2] == (0.0, 15.0, 40.0, 30.0)
    crops, chosen = music.detection_crops(frames, path, num_frames=3, crop_size=8)
    assert crops.shape == (3, 8, 8, 3) and crops.dtype == np.uint8
    assert chosen == [0, 1, 2]
    assert np.all(crops[0][..., 0] > 200) and np.all(crops[0][..., 1] < 50)  # red crops
    assert np.all(crops[2] < 50)  # frame 2's best box is the black one
    # The same from an array of frames (as decode_video gives).
    array = np.stack([np.asarray(__import__("PIL.Image").Image.open(p)) for p in sorted(frames.iterdir())])
    crops_array, _ = music.detection_crops(array, detections, num_frames=3, crop_size=8)
    np.testing.assert_array_equal(crops_array, crops)


def test_detection_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Co-Separation"):
        music.load_detections(tmp_path / "missing.npy")
    np.save(tmp_path / "bad_shape.npy", np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"shape \(num_boxes, 7\)"):
        music.load_detections(tmp_path / "bad_shape.npy")
    np.save(tmp_path / "empty.npy", np.zeros((0, 7)))
    with pytest.raises(ValueError, match="no box"):
        music.load_detections(tmp_path / "empty.npy")
    np.save(tmp_path / "flipped.npy", np.array([[0, 1, 0.5, 10, 10, 5, 20]]))
    with pytest.raises(ValueError, match="x2 > x1"):
        music.load_detections(tmp_path / "flipped.npy")
    frames = _write_frames(tmp_path / "frames", count=2)
    one = np.array([[0, 1, 0.5, 1, 1, 5, 5]])
    with pytest.raises(ValueError, match="num_frames=3"):
        music.detection_crops(frames, one)
    with pytest.raises(FileNotFoundError, match="frame folder"):
        music.detection_crops(tmp_path / "nowhere", one, num_frames=1)
    with pytest.raises(ValueError, match="num_frames"):
        music.detection_crops(frames, one, num_frames=0)
