"""Trunk shapes: the paper configs build with the stated feature-map shapes."""

import pytest

from avcourse.models import audio_trunk, conv_trunk, visual_trunk


def test_paper_audio_trunk_maps_512x432_to_64x54x512():
    trunk = audio_trunk("vggish")
    assert tuple(trunk.input.shape) == (None, 512, 432, 1)
    assert tuple(trunk.output.shape) == (None, 64, 54, 512)
    assert [layer.filters for layer in trunk.layers if hasattr(layer, "filters")] == [64, 128, 256, 256, 512, 512]


def test_paper_visual_trunk_maps_256x256_to_16x16x512():
    trunk = visual_trunk("vgg16")
    assert tuple(trunk.output.shape) == (None, 16, 16, 512)
    assert sum(1 for layer in trunk.layers if hasattr(layer, "filters")) == 13  # VGG16's 13 convolutions


def test_small_trunks_and_weights_round_trip(tmp_path):
    trunk = conv_trunk("small_audio", (32, 22, 1))
    assert tuple(trunk.output.shape) == (None, 8, 5, 64)
    path = tmp_path / "audio.weights.h5"
    trunk.save_weights(path)
    reloaded = conv_trunk("small_audio", (32, 22, 1), weights=path)
    for a, b in zip(trunk.get_weights(), reloaded.get_weights()):
        assert (a == b).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"config": "resnet"}, "`config` must be one of"),
        ({"config": "small_visual", "input_shape": (4, 4, 3)}, "must be at least 8 x 8"),
        ({"config": "small_visual", "input_shape": (64, 64)}, "`input_shape` must be \\(height, width, channels\\)"),
    ],
)
def test_trunk_rejects_bad_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        conv_trunk(**kwargs)


def test_trunks_are_named_after_their_stream():
    assert audio_trunk("small_audio").name == "audio_trunk"
    assert visual_trunk("small_visual").name == "visual_trunk"
    assert conv_trunk("small_visual").name == "small_visual"


def test_patch_trunk_cells_see_only_their_own_patch():
    import numpy as np

    trunk = visual_trunk("patch_visual")
    assert tuple(trunk.output.shape) == (None, 8, 8, 64)
    image = np.zeros((1, 64, 64, 3), "float32")
    changed = image.copy()
    changed[0, 8:16, 16:24] = 1.0  # touch only the patch of cell (1, 2)
    difference = np.abs(np.asarray(trunk(changed)) - np.asarray(trunk(image))).sum(axis=-1)[0]
    assert difference[1, 2] > 0
    difference[1, 2] = 0
    assert np.all(difference == 0)


def test_patch_mix_trunk_sees_one_ring_of_neighbouring_patches():
    import numpy as np

    trunk = visual_trunk("patch_mix_visual")
    assert tuple(trunk.output.shape) == (None, 12, 12, 64)
    image = np.zeros((1, 96, 96, 3), "float32")
    changed = image.copy()
    changed[0, 40:48, 40:48] = 1.0  # the patch of cell (5, 5)
    touched = np.abs(np.asarray(trunk(changed)) - np.asarray(trunk(image))).sum(axis=-1)[0] > 0
    rows, cols = np.nonzero(touched)
    assert rows.min() >= 4 and rows.max() <= 6 and cols.min() >= 4 and cols.max() <= 6


def test_object_audio_cells_see_more_of_the_spectrum_than_small_audio():
    import keras
    import numpy as np

    from avcourse.models.backbones import audio_trunk

    keras.utils.set_random_seed(0)
    spectrogram = np.zeros((1, 64, 87, 1), "float32")
    changed = spectrogram.copy()
    changed[0, 32, :, 0] = 1.0  # one warped bin, every frame
    rows = {}
    for config in ("small_audio", "object_audio"):
        trunk = audio_trunk(config, input_shape=(64, 87, 1))
        assert tuple(trunk.output.shape) == (None, 16, 21, 64)
        touched = np.abs(np.asarray(trunk(changed)) - np.asarray(trunk(spectrogram))).sum(axis=(0, 2, 3)) > 0
        rows[config] = int(touched.sum())
    # Receptive fields of 18 and 26 bins at a stride of 4 bins: a bin reaches at most 5 and 7 output rows.
    assert rows["small_audio"] <= 5 < rows["object_audio"] <= 7
