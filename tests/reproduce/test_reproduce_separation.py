"""The separation reproduction runs end to end at a tiny size and writes its table as data."""

import dataclasses
import json
import math

import numpy as np
import pytest

from avcourse import audio, cli
from avcourse.reproduce import cavl, separation

ROWS = ["Model-Mask", "Model-Center", "oracle-box", "NMF", "grid IRM", "IRM 512", "IBM 512", "mixture"]
COLUMNS = ["method", "sdr", "sir", "sar", "grid_irm_gain_fraction"]


def _tiny_cavl(**changes):
    return dataclasses.replace(
        cavl.RECIPES["demo"], train_scenes=16, batch_size=8, image_size=32, epochs_per_stage=(1, 1, 1), **changes
    )


@pytest.fixture
def tiny_recipe(monkeypatch):
    tiny = dataclasses.replace(
        separation.RECIPES["demo"], cavl=_tiny_cavl(), train_mixtures=8, test_mixtures=2, epochs=1, batch_size=4,
        nmf_components=4,
    )
    monkeypatch.setitem(separation.RECIPES, "demo", tiny)
    return tiny


def test_reproduce_separation_writes_every_row(tiny_recipe, tmp_path):
    assert cli.main(["reproduce", "separation", "--size", "demo", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "separation.md").is_file() and (tmp_path / "separation.html").is_file()
    document = json.loads((tmp_path / "separation.json").read_text())
    assert document["command"] == "avcourse reproduce separation --size demo --seed 0"
    assert list(document["tables"]) == ["separation"]
    separation_table = document["tables"]["separation"]
    assert separation_table["columns"] == COLUMNS
    assert list(separation_table["rows"]) == ROWS == list(separation.ROWS)
    for row, cells in separation_table["rows"].items():
        assert list(cells) == COLUMNS[1:]
        for column, cell in cells.items():
            assert len(cell["per_seed"]) == 1
            if row == "mixture" and column == "sar":
                continue  # nothing but the mixture is in it: (nearly) infinite, stored as a number or null
            assert cell["mean"] is not None and math.isfinite(cell["mean"]), (row, column, cell)
    fractions = {row: cells["grid_irm_gain_fraction"]["mean"] for row, cells in separation_table["rows"].items()}
    assert fractions["mixture"] == 0.0
    assert fractions["grid IRM"] == 1.0
    # The ideal masks score far above the unprocessed mixture even on two short mixtures.
    rows = separation_table["rows"]
    assert rows["IRM 512"]["sdr"]["mean"] > rows["mixture"]["sdr"]["mean"] + 5


def test_the_separator_and_the_cavl_model_have_their_own_grids():
    recipe = separation.RECIPES["small"]
    assert recipe.audio_config.num_warped_bins == 128 and recipe.audio_config.clip_seconds == 2.0
    assert recipe.cavl_audio_config == cavl.RECIPES["small"].audio_config
    assert recipe.cavl_audio_config.num_warped_bins == 64


def test_the_cavl_solo_input_is_the_source_at_unit_gain_on_the_cavl_grid():
    # On one grid the solo input is log1p of the source's magnitude at unit gain (the mixture holds it at 1/2).
    same = dataclasses.replace(separation.RECIPES["demo"], cavl=_tiny_cavl(clip_seconds=0.5, warped_bins=32),
                               clip_seconds=0.5, warped_bins=32)
    data = separation.mixtures(same, 2, 7, "fit", cavl_solo=True, image_size=8)
    assert "source_waveforms" not in data
    np.testing.assert_allclose(data["cavl_solo"][..., 0], np.log1p(2 * data["source_magnitudes"]), rtol=1e-4, atol=1e-4)
    # On two grids it follows the CAVL model's (rows and clip) while the targets follow the separator's.
    finer = dataclasses.replace(same, clip_seconds=1.0, warped_bins=64)
    data = separation.mixtures(finer, 2, 7, "fit", cavl_solo=True, with_waveforms=True, image_size=8)
    config = finer.cavl_audio_config
    assert data["source_magnitudes"].shape[2:] == (64, finer.audio_config.num_frames)
    assert data["cavl_solo"].shape == (2, 2, 32, config.num_frames, 1)
    head = data["source_waveforms"][..., : config.num_samples] * 2
    expected = np.log1p(np.asarray(audio.log_freq_warp(audio.spectrogram(head, config), config)))
    np.testing.assert_allclose(data["cavl_solo"][..., 0], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("changes", "argument"),
    [({"warped_bins": 0}, "warped_bins"), ({"mask_type": "soft"}, "mask_type"), ({"learning_rate": -1.0}, "learning_rate"),
     ({"weighted": 1}, "weighted"), ({"normalize_masks": "yes"}, "normalize_masks"), ({"cavl": None}, "cavl")],
)
def test_the_recipe_rejects_bad_settings(changes, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        dataclasses.replace(separation.RECIPES["small"], **changes)


def test_unknown_size_is_rejected():
    with pytest.raises(ValueError, match="`size` must be one of"):
        separation.run(size="huge")


@pytest.mark.parametrize("normalize_masks", [True, False])
def test_the_recipe_says_whether_the_separators_normalise_their_masks(normalize_masks):
    recipe = dataclasses.replace(separation.RECIPES["demo"], normalize_masks=normalize_masks, depth=2, base_channels=4)
    for conditioning in ("oracle-box", "Model-Mask"):
        model = separation._separator(recipe, conditioning, 16, seed=0)  # noqa: SLF001 - the recipe's own separators
        assert model.normalize_masks is normalize_masks
    masks = np.asarray(model({"mixture": np.ones((2, 8, 6, 1), np.float32), "visual": np.ones((2, 2, 16), np.float32)}))
    assert np.allclose(masks.sum(axis=1), 1.0, atol=1e-5) == normalize_masks
