"""Matplotlib helpers shared by the tutorials, the docs and ``avcourse demo``.

They draw on an ``Axes`` you pass (or on a new one) and return what they
drew, so a notebook composes them into its own figures:

```python
fig, axes = plt.subplots(1, 2)
plotting.show_scene(scene, axes[0])
plotting.show_spectrogram(mixture_magnitude, axes[1], title="mixture")  # with a colour bar in dB
```

Spectrograms, masks and heatmaps get a colour bar beside their axes unless
``colorbar=False`` (pass that when several panels share one bar, and add it
with ``fig.colorbar`` yourself).

Matplotlib (and Pillow, for :func:`overlay_heatmap`) is imported on the first
call, so ``import avcourse.plotting`` is cheap.

Taught in: tutorials/00_audio_visual_world.ipynb
"""

import numpy as np

__all__ = ["overlay_heatmap", "show_mask", "show_scene", "show_spectrogram"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _colorbar(ax, image, label):
    # A narrow bar (fraction) keeps small panels of a grid readable.
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03, label=label)


def show_scene(scene, ax=None, *, show_silent=True):
    """The scene's picture with boxes: green for sounding objects, grey dashed for silent ones.

    Args:
        scene: a :class:`avcourse.data.world.Scene` (its ``image``, ``boxes``,
            ``labels`` and ``sounding``).
        ax: the ``Axes`` to draw on (default: a new figure's).
        show_silent: whether to draw the silent objects' boxes too.

    Returns:
        the ``Axes``.
    """
    from matplotlib.patches import Rectangle

    ax = _axes(ax)
    ax.imshow(scene.image)
    for box, label, plays in zip(scene.boxes, scene.labels, scene.sounding):
        if not plays and not show_silent:
            continue
        x1, y1, x2, y2 = box
        colour = "lime" if plays else "0.7"
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.5, ec=colour, ls="-" if plays else "--"))
        ax.text(x1, y1 - 1, label.replace("distractor_", ""), color=colour, fontsize=7, va="bottom")
    ax.set_axis_off()
    return ax


def show_spectrogram(magnitude, ax=None, *, sample_rate=11025, hop_length=256, warped=False, title=None, colorbar=True):
    """A magnitude spectrogram (bins, frames) in dB, time in seconds on x.

    The values are shown as ``20 log10(|S| / max |S|)``, clipped to [-80, 0] dB.

    Args:
        magnitude: ``|S|`` (bins, frames), linear (512 bins up to the Nyquist
            frequency) or warped (log-frequency rows).
        ax: the ``Axes`` to draw on (default: a new figure's).
        sample_rate: the audio's rate in Hz (the time and frequency axes).
        hop_length: the STFT hop in samples (the time axis).
        warped: whether the rows are log-frequency rows (the y axis then counts rows).
        title: optional title.
        colorbar: whether to draw a colour bar (dB) beside the axes.

    Returns:
        the ``AxesImage`` (for a colour bar shared by several panels).
    """
    ax = _axes(ax)
    magnitude = np.asarray(magnitude)
    decibels = 20 * np.log10(np.maximum(magnitude, 1e-5) / max(magnitude.max(), 1e-5))
    seconds = magnitude.shape[1] * hop_length / sample_rate
    top = magnitude.shape[0] if warped else sample_rate / 2
    image = ax.imshow(decibels, origin="lower", aspect="auto", extent=(0, seconds, 0, top), vmin=-80, vmax=0, cmap="magma")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("log-frequency row" if warped else "frequency (Hz)")
    if title:
        ax.set_title(title)
    if colorbar:
        _colorbar(ax, image, "dB")
    return image


def show_mask(mask, ax=None, *, title=None, vmax=None, colorbar=True):
    """A mask (bins, frames) with the low frequencies at the bottom.

    Args:
        mask: (bins, frames) values >= 0 (ratio masks go up to 5).
        ax: the ``Axes`` to draw on (default: a new figure's).
        title: optional title.
        vmax: top of the colour range (default: ``max(1, mask.max())``).
        colorbar: whether to draw a colour bar (mask value) beside the axes.

    Returns:
        the ``AxesImage`` (for a colour bar shared by several panels).
    """
    ax = _axes(ax)
    mask = np.asarray(mask)
    image = ax.imshow(mask, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=vmax or max(1.0, float(mask.max())))
    ax.set_xlabel("frame")
    ax.set_ylabel("row")
    if title:
        ax.set_title(title)
    if colorbar:
        _colorbar(ax, image, "mask value")
    return image


def overlay_heatmap(image, heatmap, ax=None, *, alpha=0.5, title=None, vmin=None, vmax=None, colorbar=True):
    """A heatmap (any size) resized to the picture and drawn over it.

    ``vmin``/``vmax`` fix the colour range (e.g. 0 and 1 for assignment maps,
    so a weak map looks weak); by default each map is scaled to its own range.

    Args:
        image: the picture (H, W, 3).
        heatmap: (h, w) values, resized bilinearly to (H, W).
        ax: the ``Axes`` to draw on (default: a new figure's).
        alpha: opacity of the heatmap.
        title: optional title.
        vmin: bottom of the colour range.
        vmax: top of the colour range.
        colorbar: whether to draw a colour bar (heatmap value) beside the axes.

    Returns:
        the ``Axes``.
    """
    from PIL import Image

    ax = _axes(ax)
    image = np.asarray(image)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    resized = np.asarray(Image.fromarray(heatmap).resize((image.shape[1], image.shape[0]), Image.BILINEAR))
    ax.imshow(image)
    shown = ax.imshow(resized, cmap="jet", alpha=alpha, vmin=vmin, vmax=vmax)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if colorbar:
        _colorbar(ax, shown, "heatmap")
    return ax
