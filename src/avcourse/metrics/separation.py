"""Separation metrics: SDR, SIR and SAR of BSS-eval (Vincent et al., 2006).

Each estimate ``ŝ_j`` of the true source ``s_j`` is decomposed as

    ŝ_j = s_target + e_interf + e_noise + e_artif

where, with ``P_{s_j}`` the orthogonal projection onto the delayed copies
(delays 0 ... 511 samples, i.e. a time-invariant 512-tap distortion filter) of
``s_j`` and ``P_s`` the projection onto the delayed copies of *all* true
sources,

* ``s_target = P_{s_j} ŝ_j``: the part explained by the true source (up to an
  allowed 512-tap filter),
* ``e_interf = P_s ŝ_j - P_{s_j} ŝ_j``: what the other sources leak in,
* ``e_noise``: sensor noise (no noise reference here, so it is 0),
* ``e_artif = ŝ_j - P_s ŝ_j``: everything else (musical noise, phase errors,
  mask artefacts).

The three ratios, in dB:

    SDR = 10 log10( ||s_target||² / ||e_interf + e_noise + e_artif||² )
    SIR = 10 log10( ||s_target||² / ||e_interf||² )
    SAR = 10 log10( ||s_target + e_interf + e_noise||² / ||e_artif||² )

SDR is the overall quality, SIR how well the other sources are suppressed,
SAR how few artefacts the method itself adds. Higher is better; a perfect
estimate has infinite ratios.

The numbers come from ``mir_eval.separation.bss_eval_sources`` (mir_eval < 0.9,
where the module is deprecated; the warning is silenced here), which matches
the MATLAB BSS_eval toolbox that the papers used to 1e-2 dB. On top of it:

* silent references or estimates (``Σ|x| <= 1e-5``) are skipped and counted
  instead of raising (mir_eval raises on them): their entries are NaN and
  their indices are listed under ``"skipped"``; average with ``np.nanmean``;
* visually guided separators know which source each output is meant to be,
  so evaluate them with ``compute_permutation=False`` (the default here,
  DESIGN §3.5); unlabelled, audio-only methods (NMF) with
  ``compute_permutation=True``, the best assignment in the mean-SIR sense;
* :func:`bss_eval_batch` scores a batch of mixtures at once (one
  :func:`bss_eval` per mixture), as every evaluation of the course does;
* :func:`mixture_sdr` gives the score of doing nothing (the unprocessed
  mixture as every estimate), the "mixture" row of CAVL's Table 4, and
  :func:`sdr_improvement` the gain over it (SDRi).

Taught in: tutorials/06_separation.ipynb
"""

import warnings

import numpy as np

from avcourse._validation import as_float_array

__all__ = ["SILENCE_THRESHOLD", "bss_eval", "bss_eval_batch", "mixture_sdr", "sdr_improvement"]

# A source whose summed absolute amplitude is at or below this is silent.
SILENCE_THRESHOLD = 1e-5


def _sources(value, name):
    """``value`` as a float64 (num_sources, samples) array; rank 1 is one source."""
    array = as_float_array(value, name)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2:
        raise ValueError(
            f"`{name}` must have rank 2 (num_sources, samples), or rank 1 for one source; "
            f"received rank {array.ndim} with shape {array.shape}."
        )
    return array.astype(np.float64)


def _pair(references, estimates):
    references = _sources(references, "references")
    estimates = _sources(estimates, "estimates")
    if estimates.shape != references.shape:
        raise ValueError(
            f"`estimates` must have the same shape as `references` {references.shape} "
            f"(num_sources, samples); received {estimates.shape}."
        )
    return references, estimates


def _is_silent(sources):
    return np.sum(np.abs(sources), axis=1) <= SILENCE_THRESHOLD


def bss_eval(references, estimates, compute_permutation=False):
    """SDR, SIR and SAR of each estimated source against its reference (BSS-eval v3).

    Args:
        references: true sources (num_sources, samples); rank 1 means one source.
        estimates: estimated sources, the same shape.
        compute_permutation: if ``False`` (default), estimate ``i`` is scored
            against reference ``i`` (visually guided separation knows which
            source it extracts). If ``True``, estimates are matched to
            references by the permutation with the best mean SIR, as the
            BSS_eval toolbox does (for unlabelled methods such as NMF).

    Returns:
        dict of numpy arrays, each of length num_sources and in the order of
        ``references``:
        ``"sdr"``, ``"sir"``, ``"sar"`` (dB, float64; NaN for skipped sources),
        ``"perm"`` (int64: the estimate index scored against reference ``i``;
        -1 for skipped sources), and ``"skipped"`` (int64 indices of the
        references that were not scored; ``len(result["skipped"])`` counts them).

        Which sources are skipped: with ``compute_permutation=False``, source
        ``i`` when reference ``i`` or estimate ``i`` is silent. With
        ``compute_permutation=True``, silent references and silent estimates
        are set aside separately when there are as many of each (the search
        runs over the remaining ones); otherwise index ``i`` is set aside on
        both sides as without permutation. If nothing is left, everything is
        NaN and mir_eval is not called.

    Raises:
        ValueError: an input is not rank 1 or 2, the shapes differ, or an
            input holds NaN or Inf.

    Example:
    >>> t = np.arange(8000) / 8000
    >>> refs = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 1760 * t)])
    >>> result = bss_eval(refs, refs + 0.1 * refs[::-1])  # 10% of the other source leaks in
    >>> np.round(result["sir"], 1)  # 10 log10(1 / 0.1²) = 20 dB
    array([20.1, 20.1])

    References:
    - E. Vincent, R. Gribonval and C. Févotte, "Performance measurement in
      blind audio source separation", IEEE TASLP 14(4), 2006.
    - C. Raffel et al., "mir_eval: a transparent implementation of common MIR
      metrics", ISMIR 2014.
    """
    references, estimates = _pair(references, estimates)
    if not isinstance(compute_permutation, (bool, np.bool_)):
        raise ValueError(f"`compute_permutation` must be True or False; received {compute_permutation!r}.")
    num_sources = references.shape[0]
    silent_references = _is_silent(references)
    silent_estimates = _is_silent(estimates)
    if compute_permutation and silent_references.sum() == silent_estimates.sum():
        keep_references, keep_estimates = ~silent_references, ~silent_estimates
    else:
        keep_references = keep_estimates = ~(silent_references | silent_estimates)

    sdr = np.full(num_sources, np.nan)
    sir = np.full(num_sources, np.nan)
    sar = np.full(num_sources, np.nan)
    perm = np.full(num_sources, -1, dtype=np.int64)
    reference_index = np.flatnonzero(keep_references)
    estimate_index = np.flatnonzero(keep_estimates)
    if reference_index.size:
        import mir_eval.separation

        with warnings.catch_warnings():
            # mir_eval 0.8 deprecates its separation module (removed in 0.9).
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            values = mir_eval.separation.bss_eval_sources(
                references[reference_index], estimates[estimate_index], compute_permutation=bool(compute_permutation)
            )
        sdr[reference_index], sir[reference_index], sar[reference_index] = values[:3]
        perm[reference_index] = estimate_index[np.asarray(values[3], dtype=np.int64)]
    return {
        "sdr": sdr,
        "sir": sir,
        "sar": sar,
        "perm": perm,
        "skipped": np.flatnonzero(~keep_references).astype(np.int64),
    }


def bss_eval_batch(references, estimates, compute_permutation=False):
    """:func:`bss_eval` of every mixture of a batch, stacked.

    Args:
        references: true sources (count, num_sources, samples), one group per mixture.
        estimates: estimated sources, the same shape.
        compute_permutation: as in :func:`bss_eval`, for every mixture.

    Returns:
        dict of numpy arrays of shape (count, num_sources): ``"sdr"``,
        ``"sir"``, ``"sar"`` (dB, float64; NaN for skipped sources), ``"perm"``
        (int64; -1 for skipped sources) and ``"skipped"`` (bool: which
        sources :func:`bss_eval` set aside as silent). Average with
        ``np.nanmean``; ``result["skipped"].sum()`` counts the skipped sources.

    Raises:
        ValueError: an input is not rank 3, the shapes differ, or an input
            holds NaN or Inf.

    Example:
    >>> t = np.arange(8000) / 8000
    >>> refs = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 1760 * t)])
    >>> leaks = np.stack([refs + 0.1 * refs[::-1], refs + 0.01 * refs[::-1]])  # 10% and 1% of the other source
    >>> np.round(bss_eval_batch(np.stack([refs, refs]), leaks)["sir"], 1)  # one row per mixture
    array([[20.1, 20.1],
           [40.1, 40.1]])
    """
    references = as_float_array(references, "references", ndim=3)
    estimates = as_float_array(estimates, "estimates", ndim=3)
    if estimates.shape != references.shape:
        raise ValueError(
            f"`estimates` must have the same shape as `references` {references.shape} "
            f"(count, num_sources, samples); received {estimates.shape}."
        )
    results = [bss_eval(reference, estimate, compute_permutation) for reference, estimate in zip(references, estimates)]
    batch = {key: np.stack([result[key] for result in results]) for key in ("sdr", "sir", "sar", "perm")}
    batch["skipped"] = np.zeros(references.shape[:2], bool)
    for row, result in zip(batch["skipped"], results):
        row[result["skipped"]] = True
    return batch

def _mixture(mixture, references):
    mixture = as_float_array(mixture, "mixture")
    if mixture.ndim != 1 or mixture.shape[0] != references.shape[1]:
        raise ValueError(
            f"`mixture` must be one waveform of shape ({references.shape[1]},), as long as the references; "
            f"received shape {mixture.shape}."
        )
    return mixture.astype(np.float64)


def mixture_sdr(references, mixture):
    """SDR of the unprocessed mixture taken as the estimate of every source.

    The score of doing nothing, the "mixture" row of CAVL's Table 4; for two
    equally loud, unrelated sources it is about 0 dB.

    Args:
        references: true sources (num_sources, samples); rank 1 means one source.
        mixture: the mixture waveform (samples,).

    Returns:
        float64 array (num_sources,) of SDRs in dB (NaN for silent references).
    """
    references = _sources(references, "references")
    mixture = _mixture(mixture, references)
    return bss_eval(references, np.tile(mixture, (references.shape[0], 1)))["sdr"]


def sdr_improvement(references, estimates, mixture, compute_permutation=False):
    """SDR improvement (SDRi): ``SDR(estimate) - SDR(mixture)`` per source, in dB.

    Args:
        references: true sources (num_sources, samples).
        estimates: estimated sources, the same shape.
        mixture: the mixture waveform (samples,).
        compute_permutation: as in :func:`bss_eval`.

    Returns:
        float64 array (num_sources,) in the order of ``references`` (NaN where skipped).
    """
    references, estimates = _pair(references, estimates)
    mixture = _mixture(mixture, references)
    separated = bss_eval(references, estimates, compute_permutation=compute_permutation)["sdr"]
    return separated - mixture_sdr(references, mixture)
