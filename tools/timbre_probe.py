"""Linear timbre probe of the bundled instrument phrases (development-time tool).

Asks whether the stems in ``data_samples/`` carry the instrument's timbre in a
way that generalises to phrases never heard: a linear classifier fitted on
2-s crops of the world's "fit" phrases is scored on crops of the "validation"
and "test" phrases. It is not shipped with avcourse; run it from the
repository root after ``tools/render_samples.py``::

    python tools/timbre_probe.py                       # data_samples/
    python tools/timbre_probe.py --samples /tmp/out    # a trial render

Splits follow ``avcourse.data.world``: with ``T = manifest["test_phrases"]``
the last ``T`` phrases of an instrument are "test"; of the rest, the last
``T`` are "validation" and the others "fit".

Each crop is augmented as the synthetic world does: a pitch shift uniform in
+-2 semitones by resampling (``soxr.resample(x, sr * 2 ** (s / 12), sr)``), a
random start, and a gain uniform in [0.25, 1.5]. Two feature sets, each the
mean and standard deviation over time of a time-frequency representation:

* ``logspec``: log1p of the STFT magnitude (n_fft 1022, hop 256, centred Hann
  window with reflect padding, as ``avcourse.audio.stft``) warped to 128
  log-frequency rows with ``avcourse.audio.warp_matrix`` (256 numbers);
* ``mfcc``: 20 MFCCs from librosa's 64-band mel spectrogram (40 numbers).

Features are standardised with the fit crops' statistics and a multinomial
logistic regression (scikit-learn) is fitted on them. The script prints
overall and per-instrument accuracy on validation and test crops and the most
frequent confusions, and exits non-zero when ``--gate`` is given and held-out
accuracy (validation and test together) of the ``logspec`` probe is below
0.92 overall or 0.75 for any instrument.
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import soxr
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))
from avcourse.audio import warp_matrix  # noqa: E402  (numpy only; no Keras import)

CROP_SECONDS = 2.0  # the scenes' clip length
MAX_SHIFT_SEMITONES = 2.0
GAIN_RANGE = (0.25, 1.5)
N_FFT, HOP, WARPED_ROWS = 1022, 256, 128
N_MFCC, N_MELS = 20, 64
GATE_OVERALL, GATE_INSTRUMENT = 0.92, 0.75


def phrase_splits(stems, held_out):
    """``{split: [stem, ...]}`` by the world's rule."""
    train = stems[:-held_out]
    return {"fit": train[:-held_out], "validation": train[-held_out:], "test": stems[-held_out:]}


def random_crops(waveform, rate, count, rng):
    """``count`` augmented 2-s crops of ``waveform``."""
    length = int(round(CROP_SECONDS * rate))
    crops = []
    for _ in range(count):
        shift = rng.uniform(-MAX_SHIFT_SEMITONES, MAX_SHIFT_SEMITONES)
        shifted = soxr.resample(waveform, rate * 2 ** (shift / 12), rate)
        if len(shifted) < length:
            raise RuntimeError(f"a stem of {len(waveform) / rate:.2f} s is too short for a shifted crop")
        start = int(rng.integers(0, len(shifted) - length + 1))
        crops.append(shifted[start : start + length] * rng.uniform(*GAIN_RANGE))
    return np.stack(crops)


def logspec_features(crops, warp):
    magnitude = np.abs(librosa.stft(crops, n_fft=N_FFT, hop_length=HOP, center=True, pad_mode="reflect"))
    warped = np.log1p(np.einsum("wf,nft->nwt", warp, magnitude))
    return np.concatenate([warped.mean(axis=-1), warped.std(axis=-1)], axis=1)


def mfcc_features(crops, rate):
    mfcc = librosa.feature.mfcc(y=crops, sr=rate, n_mfcc=N_MFCC, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    return np.concatenate([mfcc.mean(axis=-1), mfcc.std(axis=-1)], axis=1)


def build_dataset(samples, crops_per_phrase, seed):
    manifest = json.loads((samples / "manifest.json").read_text())
    rate, held_out = manifest["sample_rate"], manifest["test_phrases"]
    names = sorted(manifest["instruments"])
    warp = warp_matrix(N_FFT // 2 + 1, WARPED_ROWS)
    rng = np.random.default_rng(seed)
    data = {split: {"logspec": [], "mfcc": [], "label": []} for split in ("fit", "validation", "test")}
    for label, name in enumerate(names):
        for split, stems in phrase_splits(manifest["instruments"][name]["stems"], held_out).items():
            for stem in stems:
                waveform, stem_rate = sf.read(samples / stem, dtype="float32")
                assert stem_rate == rate, stem
                crops = random_crops(waveform, rate, crops_per_phrase, rng).astype(np.float32)
                data[split]["logspec"].append(logspec_features(crops, warp))
                data[split]["mfcc"].append(mfcc_features(crops, rate))
                data[split]["label"].append(np.full(len(crops), label))
    data = {split: {key: np.concatenate(parts) for key, parts in d.items()} for split, d in data.items()}
    return names, manifest, data


def probe(data, feature, regularisation):
    scaler = StandardScaler().fit(data["fit"][feature])
    model = LogisticRegression(C=regularisation, max_iter=5000)
    model.fit(scaler.transform(data["fit"][feature]), data["fit"]["label"])
    return {
        split: model.predict(scaler.transform(data[split][feature]))
        for split in ("fit", "validation", "test")
    }


def per_instrument(labels, predicted, count):
    return np.array([(predicted[labels == i] == i).mean() for i in range(count)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=REPO_ROOT / "data_samples")
    parser.add_argument("--crops", type=int, default=32, help="crops per phrase")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the regression")
    parser.add_argument("--gate", action="store_true", help="exit 1 if the logspec probe misses the gate")
    args = parser.parse_args()

    names, manifest, data = build_dataset(args.samples, args.crops, args.seed)
    held_out = manifest["test_phrases"]
    phrases = len(next(iter(manifest["instruments"].values()))["stems"])
    print(
        f"{args.samples}: {len(names)} instruments x {phrases} phrases of {manifest['clip_seconds']} s; "
        f"fit {phrases - 2 * held_out}, validation {held_out}, test {held_out} phrases; "
        f"{args.crops} crops of {CROP_SECONDS} s per phrase, shift +-{MAX_SHIFT_SEMITONES} st, C={args.C}"
    )
    results = {feature: probe(data, feature, args.C) for feature in ("logspec", "mfcc")}
    columns = [(f, s) for f in ("logspec", "mfcc") for s in ("validation", "test", "held")]
    header = f"{'instrument':<16}" + "".join(f"{f[:4] + ' ' + s[:4]:>11}" for f, s in columns)
    print(header)
    print("-" * len(header))
    table = {}
    for feature in ("logspec", "mfcc"):
        for split in ("validation", "test"):
            table[feature, split] = (data[split]["label"], results[feature][split])
        both = zip(table[feature, "validation"], table[feature, "test"])
        table[feature, "held"] = tuple(np.concatenate(pair) for pair in both)
    per = {key: per_instrument(*pair, len(names)) for key, pair in table.items()}
    for i, name in enumerate(names):
        print(f"{name:<16}" + "".join(f"{per[key][i]:>11.3f}" for key in columns))
    print("-" * len(header))
    overall = {key: float((pair[0] == pair[1]).mean()) for key, pair in table.items()}
    print(f"{'overall':<16}" + "".join(f"{overall[key]:>11.3f}" for key in columns))
    print(f"{'worst':<16}" + "".join(f"{per[key].min():>11.3f}" for key in columns))
    for feature in ("logspec", "mfcc"):
        fit_accuracy = (results[feature]["fit"] == data["fit"]["label"]).mean()
        labels, predicted = table[feature, "held"]
        confusions = Counter((names[a], names[b]) for a, b in zip(labels, predicted) if a != b)
        total = Counter(labels.tolist())
        summary = ", ".join(
            f"{a}->{b} {n / total[names.index(a)]:.0%}" for (a, b), n in confusions.most_common(6)
        )
        print(f"{feature}: fit accuracy {fit_accuracy:.3f}; held-out confusions: {summary or 'none'}")
    key = ("logspec", "held")
    passed = overall[key] >= GATE_OVERALL and per[key].min() >= GATE_INSTRUMENT
    print(
        f"gate (logspec, validation+test): overall {overall[key]:.3f} >= {GATE_OVERALL}, "
        f"worst {names[int(per[key].argmin())]} {per[key].min():.3f} >= {GATE_INSTRUMENT}: "
        f"{'PASS' if passed else 'FAIL'}"
    )
    if args.gate and not passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
