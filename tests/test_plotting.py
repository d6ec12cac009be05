"""Tests of avcourse.plotting: what each helper draws, colour bars included."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from avcourse import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def colorbar_labels(fig):
    """Labels of the colour-bar axes of ``fig`` (matplotlib marks them with ``_colorbar``)."""
    return [ax.get_ylabel() for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


@pytest.mark.parametrize(
    "draw, label",
    [
        (lambda ax, **kw: plotting.show_spectrogram(np.ones((8, 5)), ax, **kw), "dB"),
        (lambda ax, **kw: plotting.show_mask(np.full((8, 5), 0.5), ax, **kw), "mask value"),
        (lambda ax, **kw: plotting.overlay_heatmap(np.zeros((16, 16, 3)), np.eye(4), ax, **kw), "heatmap"),
    ],
    ids=["spectrogram", "mask", "heatmap"],
)
def test_colour_bar_by_default_and_on_request_only(draw, label):
    fig, axes = plt.subplots(1, 2)
    draw(axes[0])
    assert colorbar_labels(fig) == [label]
    draw(axes[1], colorbar=False)
    assert colorbar_labels(fig) == [label]


def test_spectrogram_is_decibels_relative_to_its_maximum():
    magnitude = np.array([[1.0, 0.1], [0.01, 1e-9]])
    image = plotting.show_spectrogram(magnitude, colorbar=False)
    expected = 20 * np.log10(np.maximum(magnitude, 1e-5))  # 1e-9 is floored at -100 dB
    np.testing.assert_allclose(np.asarray(image.get_array()), expected, atol=1e-6)
    assert image.get_clim() == (-80, 0)  # the colour range shows [-80, 0] dB


def test_heatmap_is_resized_to_the_picture():
    ax = plotting.overlay_heatmap(np.zeros((32, 24, 3)), np.arange(4.0).reshape(2, 2), colorbar=False)
    assert ax.images[-1].get_array().shape == (32, 24)
