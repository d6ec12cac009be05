"""Data: bundled samples, the synthetic audio-visual world and real-data loaders.

``sample_path`` and ``example`` resolve files of the bundled ``data_samples/``
folder both from a source checkout and from an installed wheel (where the folder
is shipped as ``avcourse/data_samples``).
"""

import functools
import json
from pathlib import Path

__all__ = ["example", "manifest", "sample_path", "samples_root"]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def samples_root():
    """Return the folder holding the bundled samples.

    The installed wheel ships them as ``avcourse/data_samples``; a source
    checkout (also an editable install) keeps them at ``<repo>/data_samples``.
    """
    candidates = (_PACKAGE_DIR / "data_samples", _PACKAGE_DIR.parent.parent / "data_samples")
    for candidate in candidates:
        if (candidate / "manifest.json").is_file():
            return candidate
    raise FileNotFoundError(
        "avcourse's bundled samples were not found; looked in "
        + ", ".join(str(c) for c in candidates)
        + ". Reinstall avcourse (`pip install avcourse`) or run from a full checkout."
    )


def sample_path(*parts):
    """Absolute path of a bundled sample file, e.g. ``sample_path("stems", "violin_0.flac")``."""
    path = samples_root().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"bundled sample {'/'.join(map(str, parts))!r} does not exist under {samples_root()}."
        )
    return path


@functools.lru_cache(maxsize=1)
def manifest():
    """The bundled samples' manifest (instruments, stems, sprites, distractors)."""
    return json.loads((samples_root() / "manifest.json").read_text())


def example(key):
    """Path of a bundled audio example, in the spirit of ``librosa.example``.

    Args:
        key: an instrument name (its first phrase, e.g. ``"violin"``) or a stem
            name (``"violin_1"``).

    Returns:
        ``pathlib.Path`` of the audio file.
    """
    instruments = manifest()["instruments"]
    if key in instruments:
        return sample_path(instruments[key]["stems"][0])
    for info in instruments.values():
        for stem in info["stems"]:
            if Path(stem).stem == key:
                return sample_path(stem)
    names = sorted(instruments) + sorted(Path(s).stem for i in instruments.values() for s in i["stems"])
    raise ValueError(f"`key` must name a bundled example, one of {names}; received {key!r}.")
