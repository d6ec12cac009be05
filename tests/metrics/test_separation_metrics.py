"""BSS-eval metrics: the MATLAB toolbox's fixture values, silence handling, checks."""

import json

import numpy as np
import pytest
import soundfile

from avcourse import metrics
from avcourse.data import sample_path
from avcourse.metrics.separation import bss_eval, mixture_sdr, sdr_improvement

SAMPLE_RATE = 8000
KEYS = {"sdr": "Source to Distortion", "sir": "Source to Interference", "sar": "Source to Artifact"}


def _fixture(number):
    folder = sample_path("metadata", "mir_eval_separation")

    def read(kind):
        files = sorted((folder / f"{kind}{number}").glob("*.wav"), key=lambda p: int(p.stem))
        return np.stack([soundfile.read(str(f), dtype="float64")[0] for f in files])

    expected = json.loads((folder / f"output{number}.json").read_text())["Sources"]
    return read("ref"), read("est"), expected


def _tones(*frequencies, seconds=1.0):
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return np.stack([np.sin(2 * np.pi * f * t) for f in frequencies])


def _assert_matches(result, expected):
    for key, name in KEYS.items():
        want = np.asarray(expected[name], dtype=np.float64)  # json reads Infinity as inf
        got = result[key]
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=key)
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], atol=1e-2, rtol=0, err_msg=key)


@pytest.mark.parametrize("number", ["01", "09"])
def test_matches_the_bss_eval_toolbox(number):
    references, estimates, expected = _fixture(number)
    result = bss_eval(references, estimates, compute_permutation=True)
    _assert_matches(result, expected)
    np.testing.assert_array_equal(result["perm"], expected["Source permutation"])
    assert result["skipped"].size == 0


def test_matches_the_toolbox_with_its_permutation_three_sources():
    # The toolbox found estimates (2, 0, 1) for references (0, 1, 2); scoring the
    # estimates in that order without a search gives its values (3 decompositions
    # instead of the search's 9 keeps this test fast).
    references, estimates, expected = _fixture("02")
    order = np.asarray(expected["Source permutation"])
    result = bss_eval(references, estimates[order])
    _assert_matches(result, expected)
    np.testing.assert_array_equal(result["perm"], [0, 1, 2])


def test_permutation_search_reorders_swapped_estimates():
    references = _tones(300, 2500)
    estimates = (references + 0.1 * references[::-1])[::-1]
    result = bss_eval(references, estimates, compute_permutation=True)
    np.testing.assert_array_equal(result["perm"], [1, 0])
    assert np.all(result["sir"] > 19)
    plain = bss_eval(references, estimates)
    assert np.all(plain["sir"] < 0)  # each estimate is mostly the other source


def test_infinite_sir_single_source():
    _, _, expected = _fixture("09")
    assert np.isinf(expected["Source to Interference"][0])
    references, estimates, _ = _fixture("09")
    result = bss_eval(references[0], estimates[0])  # rank 1 = one source
    assert result["sir"].shape == (1,) and result["sir"][0] == np.inf
    assert result["sdr"][0] == pytest.approx(expected["Source to Distortion"][0], abs=1e-2)


def test_sir_of_a_known_leak_from_first_principles():
    # ŝ_1 = s_1 + 0.1 s_2 with orthogonal, equally loud sinusoids far apart in
    # frequency: s_target = s_1, e_interf = 0.1 s_2, e_artif = 0, so
    # SIR = SDR = 10 log10(||s_1||² / ||0.1 s_2||²) = 20 dB and SAR is huge.
    references = _tones(220, 1760)
    assert abs(references[0] @ references[1]) < 1e-6 * (references[0] @ references[0])
    result = bss_eval(references, references + 0.1 * references[::-1])
    np.testing.assert_allclose(result["sir"], 20.0, atol=0.5)
    np.testing.assert_allclose(result["sdr"], 20.0, atol=0.5)
    assert np.all(result["sar"] > 60)
    np.testing.assert_array_equal(result["perm"], [0, 1])


def test_silent_reference_and_estimate_are_skipped_and_counted():
    references = np.concatenate([_tones(220, 1760), np.zeros((1, SAMPLE_RATE))])
    estimates = references + 0.1 * references[[1, 0, 2]]
    estimates[2] = _tones(500)[0]  # a sound estimated for a silent reference
    estimates[1] = 0.0  # a silent estimate
    result = bss_eval(references, estimates)
    np.testing.assert_array_equal(result["skipped"], [1, 2])
    assert np.isnan(result["sdr"][1:]).all() and np.isnan(result["sir"][1:]).all() and np.isnan(result["sar"][1:]).all()
    np.testing.assert_array_equal(result["perm"], [0, -1, -1])
    alone = bss_eval(references[:1], estimates[:1])
    for key in KEYS:
        assert result[key][0] == pytest.approx(alone[key][0])


def test_permutation_sets_silent_references_and_estimates_aside():
    references = np.concatenate([_tones(220, 1760), np.zeros((1, SAMPLE_RATE))])
    estimates = np.stack([np.zeros(SAMPLE_RATE), references[1] + 0.1 * references[0], references[0] + 0.1 * references[1]])
    result = bss_eval(references, estimates, compute_permutation=True)
    np.testing.assert_array_equal(result["skipped"], [2])
    np.testing.assert_array_equal(result["perm"], [2, 1, -1])
    np.testing.assert_allclose(result["sir"][:2], 20.0, atol=0.5)


def test_all_silent_gives_nan_without_mir_eval(monkeypatch):
    import mir_eval.separation

    def fail(*args, **kwargs):
        raise AssertionError("mir_eval must not be called")

    monkeypatch.setattr(mir_eval.separation, "bss_eval_sources", fail)
    result = bss_eval(np.zeros((2, 1000)), np.ones((2, 1000)))
    assert np.isnan(result["sdr"]).all() and np.isnan(result["sir"]).all() and np.isnan(result["sar"]).all()
    np.testing.assert_array_equal(result["skipped"], [0, 1])
    np.testing.assert_array_equal(result["perm"], [-1, -1])
    tiny = np.full((1, 1000), 1e-9)  # Σ|x| = 1e-6 <= 1e-5: silent too
    assert bss_eval(tiny, np.ones((1, 1000)))["skipped"].tolist() == [0]


def test_mixture_sdr_and_improvement():
    references = 0.5 * _tones(220, 1760)
    mixture = references.sum(axis=0)
    np.testing.assert_allclose(mixture_sdr(references, mixture), 0.0, atol=0.3)  # equal loudness: ~0 dB
    estimates = references + 0.1 * references[::-1]
    improvement = sdr_improvement(references, estimates, mixture)
    np.testing.assert_allclose(improvement, bss_eval(references, estimates)["sdr"] - mixture_sdr(references, mixture))
    assert np.all(improvement > 19)


def test_exported_from_metrics():
    assert metrics.bss_eval is bss_eval
    assert metrics.mixture_sdr is mixture_sdr and metrics.sdr_improvement is sdr_improvement


@pytest.mark.parametrize(
    "references, estimates, message",
    [
        (np.zeros((2, 3, 100)), np.zeros((2, 3, 100)), r"`references` must have rank 2 \(num_sources, samples\).*received rank 3"),
        (np.ones((2, 100)), np.ones((3, 100)), r"`estimates` must have the same shape as `references` \(2, 100\).*received \(3, 100\)"),
        (np.full((2, 100), np.nan), np.ones((2, 100)), r"`references` contains 200 NaN or Inf value\(s\); expected only finite"),
        (np.ones((2, 100)), np.r_[np.ones(199), np.inf].reshape(2, 100), r"`estimates` contains 1 NaN or Inf"),
        (np.ones((0, 100)), np.ones((0, 100)), r"`references` is empty"),
        ([["a"]], [["b"]], r"`references` must have a real numeric dtype"),
    ],
)
def test_bad_inputs_name_the_argument(references, estimates, message):
    with pytest.raises(ValueError, match=message):
        bss_eval(references, estimates)


def test_bad_mixture_and_flag():
    references = np.ones((2, 100))
    with pytest.raises(ValueError, match=r"`mixture` must be one waveform of shape \(100,\).*received shape \(2, 100\)"):
        mixture_sdr(references, np.ones((2, 100)))
    with pytest.raises(ValueError, match=r"`mixture` must be one waveform of shape \(100,\).*received shape \(99,\)"):
        sdr_improvement(references, references, np.ones(99))
    with pytest.raises(ValueError, match=r"`compute_permutation` must be True or False; received 'yes'"):
        bss_eval(references, references, compute_permutation="yes")


@pytest.mark.filterwarnings("ignore::FutureWarning")  # mir_eval 0.8 deprecates its separation module
@pytest.mark.parametrize("compute_permutation", [False, True])
def test_batch_matches_mir_eval_on_every_mixture(compute_permutation):
    import mir_eval.separation

    rng = np.random.default_rng(0)
    references = np.stack([_tones(220, 1760), _tones(330, 990)])
    estimates = references + 0.2 * references[:, ::-1] + 0.01 * rng.standard_normal(references.shape)
    estimates[1] = estimates[1, ::-1]  # the second mixture's estimates come swapped
    result = metrics.bss_eval_batch(references, estimates, compute_permutation=compute_permutation)
    assert {key: value.shape for key, value in result.items()} == dict.fromkeys(("sdr", "sir", "sar", "perm", "skipped"), (2, 2))
    for index in range(2):
        sdr, sir, sar, perm = mir_eval.separation.bss_eval_sources(references[index], estimates[index], compute_permutation)
        np.testing.assert_allclose(result["sdr"][index], sdr)
        np.testing.assert_allclose(result["sir"][index], sir)
        np.testing.assert_allclose(result["sar"][index], sar)
        np.testing.assert_array_equal(result["perm"][index], perm)
    assert not result["skipped"].any()


def test_batch_marks_skipped_sources_and_checks_shapes():
    references = np.stack([_tones(220, 1760), np.concatenate([_tones(440), np.zeros((1, SAMPLE_RATE))])])
    result = metrics.bss_eval_batch(references, references + 0.1 * references[:, ::-1])
    np.testing.assert_array_equal(result["skipped"], [[False, False], [False, True]])
    assert np.isnan(result["sdr"][1, 1]) and np.isfinite(result["sdr"][:, 0]).all()
    with pytest.raises(ValueError, match=r"`references` must have rank 3"):
        metrics.bss_eval_batch(references[0], references[0])
    with pytest.raises(ValueError, match=r"`estimates` must have the same shape as `references` \(2, 2, 8000\)"):
        metrics.bss_eval_batch(references, references[:, :1])
