"""A disk cache for work that reproductions repeat (``avcourse reproduce --cache-dir``).

The CAVL reproduction pretrains its trunks for every seed, and the separation
reproduction pretrains the very same trunks (same recipe, same seed) for the
CAVL model that gives its visual vectors; a rerun after a change elsewhere
pretrains them again. :func:`memoize` keeps such a result on disk so that the
second time costs a file read.

A cached result must give exactly what computing it would have given, and so
must everything that runs after it. Three things make that hold:

* The key holds the caller's arguments, a fingerprint of the code (every
  ``.py`` file of the installed ``avcourse`` and the versions of Keras,
  TensorFlow and NumPy: any edit recomputes), and the random state on entry
  (Python's ``random``, NumPy's global generator, TensorFlow's global seed and
  its operation-seed generator). Keras's global ``SeedGenerator`` (unseeded
  ``keras.random`` calls) is left out: no public API reads it, and the
  reproductions draw through layers' own seeded generators.
* The random state on exit is stored with the result and restored on a hit, so
  the work that follows draws the same numbers whether the result was computed
  or read (``tests/reproduce/test_cache.py`` checks both, and a pretraining
  read from the cache against one computed).
* An entry counts only once complete: it is written under a temporary name
  and renamed.

Caching is off unless a directory is set (:func:`directory`, which the CLI
uses); library calls and tutorials never read or write a cache. Entries are
pickles (a few hundred kB for the small recipe's trunks): keep the folder your
own, and delete it to empty the cache.
"""

import contextlib
import functools
import hashlib
import json
import os
import pickle
import random
import shutil
import uuid
from pathlib import Path

import numpy as np

__all__ = ["code_fingerprint", "default_directory", "directory", "memoize", "random_state", "set_random_state"]

_DIRECTORY = None
# Paths inside an entry are stored relative to it, after this marker, so that a moved cache still works.
_ENTRY = "{entry}"


def default_directory():
    """``$AVCOURSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/avcourse``, else ``~/.cache/avcourse``."""
    if os.environ.get("AVCOURSE_CACHE_DIR"):
        return Path(os.environ["AVCOURSE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "avcourse"


@contextlib.contextmanager
def directory(path):
    """Within the block, :func:`memoize` keeps its results under ``path`` (``None``: no caching)."""
    global _DIRECTORY
    previous, _DIRECTORY = _DIRECTORY, None if path is None else Path(path).absolute()
    try:
        yield _DIRECTORY
    finally:
        _DIRECTORY = previous


def _tf_context():
    from tensorflow.python.eager import context

    return context.context()


def random_state():
    """Every global random state a reproduction draws from, as a picklable tuple."""
    tf_context = _tf_context()
    tf_rng = getattr(tf_context, "_rng", None)
    return random.getstate(), np.random.get_state(), tf_context._seed, None if tf_rng is None else tf_rng.getstate()


def set_random_state(state):
    """Restore what :func:`random_state` returned."""
    import tensorflow as tf

    python_state, numpy_state, tf_seed, tf_rng_state = state
    random.setstate(python_state)
    np.random.set_state(numpy_state)
    tf.random.set_seed(tf_seed)  # sets the seed and a fresh operation-seed generator, whose state is set next
    if tf_rng_state is not None:
        _tf_context()._rng.setstate(tf_rng_state)


@functools.lru_cache(maxsize=1)
def code_fingerprint():
    """SHA-256 over the installed ``avcourse`` sources and the Keras, TensorFlow and NumPy versions."""
    import keras
    import tensorflow as tf

    import avcourse

    digest = hashlib.sha256(f"{keras.__version__} {tf.__version__} {np.__version__}".encode())
    root = Path(avcourse.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _entry_name(name, key):
    digest = hashlib.sha256()
    digest.update(json.dumps(key, sort_keys=True, default=repr).encode())
    digest.update(code_fingerprint().encode())
    digest.update(pickle.dumps(random_state(), protocol=4))
    return f"{name}-{digest.hexdigest()[:24]}"


def _replace_paths(value, old, new):
    """``value`` with every string that starts with ``old`` starting with ``new`` (in dicts, lists, tuples)."""
    if isinstance(value, str):
        return new + value[len(old):] if value.startswith(old) else value
    if isinstance(value, dict):
        return {k: _replace_paths(v, old, new) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_replace_paths(v, old, new) for v in value)
    return value


def memoize(name, key, compute, folder, log=print):
    """``compute(folder)``, or its result stored by an earlier call with the same key, code and random state.

    Args:
        name: what is cached (the entry's prefix, e.g. ``"cavl-pretrain"``).
        key: JSON-able arguments that determine the result (with the code and
            the random state on entry, see the module docstring).
        compute: a function of a folder, where it may write files; it
            returns a picklable value (paths into the folder are stored
            relative to the entry).
        folder: the folder ``compute`` writes to when nothing is cached
            (with a cache directory it writes into the new entry instead).
        log: where a hit or a store is reported.
    """
    if _DIRECTORY is None:
        return compute(folder)
    entry = _DIRECTORY / _entry_name(name, key)
    stored = entry / "result.pkl"
    if stored.is_file():
        with open(stored, "rb") as file:
            value, state = pickle.load(file)
        set_random_state(state)
        log(f"[cache] {name}: read from {entry}")
        return _replace_paths(value, _ENTRY, str(entry))
    partial = entry.with_name(f"{entry.name}.partial-{uuid.uuid4().hex[:8]}")
    partial.mkdir(parents=True)
    try:
        value = compute(str(partial))
        with open(partial / "result.pkl", "wb") as file:
            pickle.dump((_replace_paths(value, str(partial), _ENTRY), random_state()), file)
        if entry.exists():  # another run stored it meanwhile: same key, same result
            shutil.rmtree(partial)
        else:
            partial.rename(entry)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    log(f"[cache] {name}: stored in {entry}")
    return _replace_paths(value, str(partial), str(entry))
