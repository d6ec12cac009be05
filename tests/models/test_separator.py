"""U-Net separator (CAVL supp. 6.4), mix-and-separate wrapper, visual vectors, separate()."""

import os

import keras
import numpy as np
import pytest

from avcourse import audio
from avcourse.data.pipelines import mix_separate_dataset
from avcourse.models.cavl import CAVLModel
from avcourse.models.separator import (
    UNetSeparator,
    VisuallyGuidedSeparator,
    cavl_visual_vectors,
    separate,
    visual_vectors_from_labels,
)

SMALL = dict(depth=3, base_channels=4, visual_dim=16, visual_units=8)
CONFIG = audio.AudioConfig(clip_seconds=0.5, num_warped_bins=32)  # 32 x 22 spectrograms


def _numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def _inputs(batch=2, bins=32, frames=22, visual_dim=16, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "mixture": rng.uniform(0, 2, size=(batch, bins, frames, 1)).astype("float32"),
        "visual": rng.normal(size=(batch, visual_dim)).astype("float32"),
    }


def test_paper_config_shapes():
    model = UNetSeparator()
    assert model.encoder_channels == (16, 32, 64, 128, 256, 512)
    assert model.decoder_channels == (256, 128, 64, 32, 16, 1)
    assert len(model.down_convs) == 6 and len(model.up_convs) == 6
    assert [layer.filters for layer in model.down_convs] == [16, 32, 64, 128, 256, 512]
    assert all(layer.kernel_size == (4, 4) and layer.strides == (2, 2) for layer in model.down_convs + model.up_convs)
    mask = _numpy(model({"mixture": np.zeros((1, 256, 256, 1), "float32"), "visual": np.ones((1, 512), "float32")}))
    assert mask.shape == (1, 256, 256, 1)
    assert 0.0 <= mask.min() and mask.max() <= 5.0
    # The visual branch: 512 → Dense 512, concatenated to the 4 x 4 x 512 bottleneck.
    assert model.visual_dense.kernel.shape == (512, 512)
    assert tuple(model.up_convs[5].kernel.shape) == (4, 4, 256, 1024)  # Conv2DTranspose kernel (h, w, out, in)


@pytest.mark.parametrize("bins, frames", [(13, 11), (32, 22), (8, 8), (1, 3)])
def test_odd_sizes_are_padded_and_cropped(bins, frames):
    model = UNetSeparator(**SMALL)
    inputs = _inputs(bins=bins, frames=frames)
    mask = _numpy(model(inputs))
    assert mask.shape == (2, bins, frames, 1)
    # Same as zero-padding the high bins / late frames to a multiple of 8 by hand and cropping.
    padded_bins, padded_frames = -(-bins // 8) * 8, -(-frames // 8) * 8
    padded = np.pad(inputs["mixture"], [(0, 0), (0, padded_bins - bins), (0, padded_frames - frames), (0, 0)])
    full = _numpy(model({"mixture": padded, "visual": inputs["visual"]}))
    assert full.shape == (2, padded_bins, padded_frames, 1)
    np.testing.assert_allclose(mask, full[:, :bins, :frames], atol=1e-6)


def test_mask_types_ranges_and_visual_conditioning():
    inputs = _inputs()
    binary = _numpy(UNetSeparator(mask_type="binary", **SMALL)(inputs))
    assert 0.0 <= binary.min() and binary.max() <= 1.0
    model = UNetSeparator(mask_type="ratio", max_ratio=2.0, **SMALL)
    ratio = _numpy(model(inputs))
    assert 0.0 <= ratio.min() and ratio.max() <= 2.0
    # Two different visual vectors on the same mixture give different masks.
    same_mixture = {"mixture": np.repeat(inputs["mixture"][:1], 2, axis=0), "visual": inputs["visual"]}
    masks = _numpy(model(same_mixture))
    assert np.abs(masks[0] - masks[1]).max() > 1e-3
    # ... and the batch items do not leak into each other in inference mode.
    single = _numpy(model({"mixture": same_mixture["mixture"][:1], "visual": inputs["visual"][:1]}))
    np.testing.assert_allclose(single, masks[:1], atol=1e-5)


def _roundtrip(model, inputs, tmp_path, name):
    before = _numpy(model(inputs))
    path = os.path.join(tmp_path, name)
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is type(model)
    np.testing.assert_allclose(_numpy(reloaded(inputs)), before, atol=1e-6)
    return reloaded


def test_separator_config_and_keras_roundtrip(tmp_path):
    model = UNetSeparator(mask_type="binary", weighted=True, **SMALL)
    config = model.get_config()
    assert UNetSeparator.from_config(config).get_config() == config
    inputs = _inputs()
    model.compile(optimizer="adam")
    model.fit(inputs, np.random.default_rng(1).uniform(0, 1, (2, 32, 22)).astype("float32"), epochs=1, verbose=0)
    reloaded = _roundtrip(model, inputs, tmp_path, "unet.keras")
    assert reloaded.get_config() == config


def _encoder():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(16)(keras.layers.GlobalMaxPooling2D()(x)), name="encoder")


@pytest.mark.parametrize("conditioning", ["oracle", "visual", "encoder"])
def test_wrapper_keras_roundtrip(conditioning, tmp_path):
    rng = np.random.default_rng(0)
    encoder = _encoder() if conditioning == "encoder" else None
    model = VisuallyGuidedSeparator(UNetSeparator(**SMALL), conditioning=conditioning, visual_encoder=encoder)
    inputs = {
        "mixture": rng.uniform(0, 1, (2, 32, 22, 1)).astype("float32"),
        "labels": np.array([[0, 3], [5, 10]], "int32"),
        "visual": rng.normal(size=(2, 2, 16)).astype("float32"),
        "images": rng.uniform(0, 1, (2, 2, 8, 8, 3)).astype("float32"),
    }
    masks = _numpy(model(inputs))
    assert masks.shape == (2, 2, 32, 22)
    assert np.abs(masks[:, 0] - masks[:, 1]).max() > 1e-4  # per-source conditioning
    config = model.get_config()
    assert VisuallyGuidedSeparator.from_config(config).get_config() == config
    _roundtrip(model, inputs, tmp_path, f"wrapper_{conditioning}.keras")


def test_wrapper_outputs_equal_separator_per_source():
    model = VisuallyGuidedSeparator(UNetSeparator(**SMALL), conditioning="oracle")
    mixture = np.random.default_rng(2).uniform(0, 1, (2, 32, 22, 1)).astype("float32")
    labels = np.array([[1, 2], [4, 3]], "int32")
    masks = _numpy(model({"mixture": mixture, "labels": labels}))
    for k in range(2):
        visual = visual_vectors_from_labels(labels[:, k], 11, 16)
        expected = _numpy(model.separator({"mixture": mixture, "visual": visual}))[..., 0]
        np.testing.assert_allclose(masks[:, k], expected, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_dataset():
    return mix_separate_dataset(4, num_mix=2, image_size=16, config=CONFIG, batch_size=2)


@pytest.mark.parametrize("mask_type, weighted", [("ratio", False), ("binary", True)])
def test_fit_on_mix_separate_dataset(tiny_dataset, mask_type, weighted):
    separator = UNetSeparator(mask_type=mask_type, weighted=weighted, **SMALL)
    model = VisuallyGuidedSeparator(separator, conditioning="oracle")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(tiny_dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_compute_loss_averages_the_sources(tiny_dataset):
    batch = next(iter(tiny_dataset))
    batch = {key: value.numpy() for key, value in batch.items()}
    model = VisuallyGuidedSeparator(UNetSeparator(**SMALL), conditioning="oracle")
    masks = model(batch)
    loss = float(_numpy(model.compute_loss(batch, None, masks)))
    masks = _numpy(masks).astype(np.float64)
    mixture = batch["mixture_magnitude"].astype(np.float64)
    per_source = []
    for k in range(2):
        target = np.clip(batch["source_magnitudes"][:, k] / np.maximum(mixture, 1e-8), 0, 5)
        target = np.where(mixture > 1e-8, target, 0.0)
        per_source.append(np.mean(np.abs(masks[:, k] - target)))
    np.testing.assert_allclose(loss, np.mean(per_source), rtol=1e-5)
    # Without 'mixture_magnitude' it is recovered from the log1p input (expm1).
    no_magnitude = {key: value for key, value in batch.items() if key != "mixture_magnitude"}
    np.testing.assert_allclose(float(_numpy(model.compute_loss(no_magnitude, None, model(batch)))), loss, rtol=1e-4)



def test_normalized_masks_are_the_raw_masks_over_their_sum(tiny_dataset, tmp_path):
    batch = {key: value.numpy() for key, value in next(iter(tiny_dataset)).items()}
    raw = VisuallyGuidedSeparator(UNetSeparator(mask_type="binary", weighted=True, **SMALL), conditioning="oracle")
    normalized = VisuallyGuidedSeparator.from_config({**raw.get_config(), "normalize_masks": True})
    raw_masks = _numpy(raw(batch)).astype(np.float64)
    normalized(batch)
    normalized.set_weights(raw.get_weights())
    masks = _numpy(normalized(batch))
    expected = np.empty_like(raw_masks)
    for b in range(raw_masks.shape[0]):
        total = raw_masks[b, 0] + raw_masks[b, 1]
        expected[b, 0], expected[b, 1] = raw_masks[b, 0] / total, raw_masks[b, 1] / total
    np.testing.assert_allclose(masks, expected, rtol=1e-5)
    # The loss (BCE against the binary targets, weighted) is computed on the normalised masks.
    mixture = batch["mixture_magnitude"].astype(np.float64)
    weight = np.clip(np.log1p(mixture), 1e-3, 10)
    bce = []
    for k in range(2):
        target = (batch["source_magnitudes"][:, k] > 0.5 * mixture).astype(np.float64)
        p = np.clip(expected[:, k], 1e-7, 1 - 1e-7)
        bce.append(np.mean(weight * -(target * np.log(p) + (1 - target) * np.log(1 - p))))
    np.testing.assert_allclose(float(_numpy(normalized.compute_loss(batch, None, normalized(batch)))), np.mean(bce), rtol=1e-4)
    normalized.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = normalized.fit(tiny_dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and all(np.all(np.isfinite(w)) for w in normalized.get_weights())
    assert normalized.get_config()["normalize_masks"] is True
    _roundtrip(normalized, batch, tmp_path, "normalized.keras")


def test_normalized_masks_need_two_sources():
    model = VisuallyGuidedSeparator(UNetSeparator(**SMALL), conditioning="oracle", normalize_masks=True)
    with pytest.raises(ValueError, match="normalize_masks=True needs num_mix >= 2"):
        model({"mixture": np.zeros((2, 32, 22, 1), "float32"), "labels": np.array([[0], [1]], "int32")})
    with pytest.raises(ValueError, match="`normalize_masks`"):
        VisuallyGuidedSeparator(UNetSeparator(**SMALL), conditioning="oracle", normalize_masks="yes")

def test_separator_fits_alone_with_source_magnitude_targets():
    model = UNetSeparator(**SMALL)
    inputs = _inputs(batch=4)
    source = np.random.default_rng(3).uniform(0, 1, (4, 32, 22)).astype("float32")
    mask = model(inputs)
    mixture = np.expm1(inputs["mixture"][..., 0].astype(np.float64))
    expected = np.mean(np.abs(_numpy(mask)[..., 0] - np.clip(source / mixture, 0, 5)))
    np.testing.assert_allclose(float(_numpy(model.compute_loss(inputs, source, mask))), expected, rtol=1e-4)
    np.testing.assert_allclose(float(_numpy(model.compute_loss(inputs, source[..., None], mask))), expected, rtol=1e-4)
    model.compile(optimizer="adam")
    history = model.fit(inputs, source, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_visual_vectors_from_labels():
    vectors = visual_vectors_from_labels(np.array([[2, 0], [1, 2]]), num_classes=3, dim=5)
    assert isinstance(vectors, np.ndarray) and vectors.shape == (2, 2, 5)
    np.testing.assert_array_equal(vectors.argmax(-1), [[2, 0], [1, 2]])
    np.testing.assert_array_equal(vectors.sum(-1), np.ones((2, 2)))
    assert not vectors[..., 3:].any()
    with pytest.raises(ValueError, match=r"`dim` \(2\) must be >= `num_classes` \(3\)"):
        visual_vectors_from_labels(np.array([0]), 3, 2)
    with pytest.raises(ValueError, match=r"`labels` must lie in \[0, 3\)"):
        visual_vectors_from_labels(np.array([3]), 3, 4)
    with pytest.raises(ValueError, match="`labels` must hold integer class indices"):
        visual_vectors_from_labels(np.array([0.5]), 3, 4)


def test_cavl_visual_vectors():
    cavl = CAVLModel("small_audio", "small_visual", audio_shape=(32, 22, 1), image_shape=(32, 32, 3), embedding_dim=16)
    rng = np.random.default_rng(4)
    images = rng.uniform(0, 1, (3, 32, 32, 3)).astype("float32")
    sounds = rng.uniform(0, 1, (3, 32, 22, 1)).astype("float32")
    outputs = {k: _numpy(v) for k, v in cavl({"image": images, "audio": sounds}).items()}
    aligned = outputs["aligned_index"][:, 0]
    centers = cavl_visual_vectors(cavl, images, sounds, mode="center", batch_size=2)
    np.testing.assert_allclose(centers, outputs["visual_centers"][np.arange(3), aligned], atol=1e-5)
    masked = cavl_visual_vectors(cavl, images, sounds, mode="mask")
    features = _numpy(cavl.visual_trunk(images)).reshape(3, -1, 64)
    weights = outputs["visual_assignments"][np.arange(3), :, aligned]
    assert masked.shape == (3, 64)
    np.testing.assert_allclose(masked, (weights[:, :, None] * features).max(axis=1), atol=1e-5)
    with pytest.raises(ValueError, match=r"`mode` must be one of \('center', 'mask'\)"):
        cavl_visual_vectors(cavl, images, sounds, mode="mean")
    with pytest.raises(ValueError, match="num_audio_clusters == 1"):
        cavl_visual_vectors(cavl.with_num_clusters(2), images, sounds)
    with pytest.raises(ValueError, match="batches of the same size"):
        cavl_visual_vectors(cavl, images, sounds[:2])


def test_separate_reconstructs_waveforms():
    rng = np.random.default_rng(5)
    mixture = (0.3 * rng.standard_normal((2, CONFIG.num_samples))).astype("float32")
    model = UNetSeparator(**SMALL)
    visual = rng.normal(size=(2, 16)).astype("float32")
    estimate = separate(mixture, visual, model, CONFIG)
    assert estimate.shape == mixture.shape and estimate.dtype == np.float32
    # The same as the mask of the model applied by reconstruct_from_mask.
    features = np.asarray(audio.log1p_magnitude(mixture, CONFIG))[..., None]
    mask = _numpy(model({"mixture": features, "visual": visual}))[..., 0]
    np.testing.assert_allclose(estimate, audio.reconstruct_from_mask(mask, mixture, CONFIG), atol=1e-5)
    # An all-pass mask gives the mixture back; one waveform works without a batch axis.
    whole = separate(mixture[0], visual[0], VisuallyGuidedSeparator(model, conditioning="oracle"), CONFIG, mask_threshold=-1.0)
    assert whole.shape == mixture[0].shape
    np.testing.assert_allclose(whole, mixture[0], atol=1e-4)
    with pytest.raises(ValueError, match="with the same batch"):
        separate(mixture, visual[:1], model, CONFIG)
    with pytest.raises(ValueError, match="`separator` must be a UNetSeparator"):
        separate(mixture, visual, "unet", CONFIG)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="`mask_type` must be one of"):
        UNetSeparator(mask_type="soft")
    with pytest.raises(ValueError, match="`depth` must be a positive integer"):
        UNetSeparator(depth=0)
    with pytest.raises(ValueError, match="`max_ratio` must be a number > 0"):
        UNetSeparator(max_ratio=0)
    with pytest.raises(ValueError, match="`weighted` must be True or False"):
        UNetSeparator(weighted=1)
    model = UNetSeparator(**SMALL)
    inputs = _inputs()
    with pytest.raises(ValueError, match="must be a dict with 'mixture' and 'visual'"):
        model(inputs["mixture"])
    with pytest.raises(ValueError, match=r"'visual' must have shape \(batch, visual_dim=16\)"):
        model({"mixture": inputs["mixture"], "visual": np.zeros((2, 8), "float32")})
    with pytest.raises(ValueError, match=r"'mixture' must have shape \(batch, bins, frames, 1\)"):
        model({"mixture": inputs["mixture"][..., 0], "visual": inputs["visual"]})
    with pytest.raises(ValueError, match="needs `y`, the source magnitude"):
        model.compute_loss(inputs, None, model(inputs))
    with pytest.raises(ValueError, match="`separator` must be a UNetSeparator"):
        VisuallyGuidedSeparator(keras.Sequential([]))
    with pytest.raises(ValueError, match="`visual_encoder` must be given exactly when conditioning='encoder'"):
        VisuallyGuidedSeparator(model, conditioning="encoder")
    with pytest.raises(ValueError, match="`conditioning` must be one of"):
        VisuallyGuidedSeparator(model, conditioning="audio")
    with pytest.raises(ValueError, match="oracle conditioning needs visual_dim >= num_classes"):
        VisuallyGuidedSeparator(model, conditioning="oracle", num_classes=20)
    wrapper = VisuallyGuidedSeparator(model, conditioning="oracle")
    with pytest.raises(ValueError, match="'mixture' and 'labels' entries"):
        wrapper({"mixture": inputs["mixture"]})
    with pytest.raises(ValueError, match="needs the batch's 'source_magnitudes'"):
        wrapper.compute_loss({"mixture": inputs["mixture"]}, None, None)
