"""A recipe's config: ``key=value`` overrides checked against the recipe's types, and the checks every run passes.

A recipe is a nested dict read from ``recipes/<task>/config.yaml``;
:func:`apply_overrides` changes it key by key (each value must have the type
of the one it replaces) and :func:`check` refuses, before anything is
written, what cannot train. The helpers at the end read the settings the
task modules share (audio front end, input shapes, the optimizer).
"""

import copy
import difflib
import math
from pathlib import Path

import yaml

from avcourse import audio
from avcourse._validation import check_nonnegative_int, check_number, check_positive_int
from avcourse.training import distribute

__all__ = [
    "NULLABLE",
    "RESUMABLE_CHANGES",
    "SOURCES",
    "adam",
    "apply_overrides",
    "audio_config",
    "audio_shape",
    "check",
    "flatten",
    "image_shape",
    "read_yaml",
]

SOURCES = ("shards", "synthetic")
_REQUIRED = ("task", "seed", "audio", "data", "model", "training")
# Keys that may differ when a run is resumed: they change how, not what, is trained.
RESUMABLE_CHANGES = ("training.strategy", "training.verbose")


def flatten(config, prefix=""):
    """{"a.b": value} for every leaf (dicts are walked; lists are leaves)."""
    flat = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def apply_overrides(config, overrides):
    """A copy of ``config`` with ``key=value`` overrides applied, each checked against the key's type.

    An override must have the type of the value it replaces (the recipe's
    default): an int for an int (``training.epochs=abc`` or ``=2.5`` is
    refused), a finite number for a float (ints and YAML-1.1 strings such as
    ``1e-3`` become floats), true/false for a bool, a string for a string, a
    list for a list (elements as the default's), a mapping for a section.
    A key whose default is ``null`` takes any value; ``null`` replaces a
    non-null default only for :data:`NULLABLE` keys.

    Args:
        config: nested dict (a loaded recipe).
        overrides: iterable of ``"dotted.key=value"`` strings (the value is
            parsed as YAML: ``3``, ``1.0e-4``, ``[1, 2]``, ``null``, ``true``,
            ``vggish``) or a dict ``{"dotted.key": value}``.

    Returns:
        the new nested dict.

    Raises:
        ValueError: for a string without ``=``, a value that is not valid
            YAML, a key the recipe does not have (the message names it and
            the closest known keys) or a value of the wrong type (the message
            names the key, the expected type and the value received).

    Examples:
    >>> apply_overrides({"training": {"batch_size": 32}}, ["training.batch_size=64"])
    {'training': {'batch_size': 64}}
    """
    config = copy.deepcopy(config)
    if isinstance(overrides, dict):
        pairs = list(overrides.items())
    elif isinstance(overrides, str):
        raise ValueError(f"`overrides` must be a list of 'dotted.key=value' strings or a dict; received the string {overrides!r}.")
    else:
        pairs = []
        for item in overrides:
            if not isinstance(item, str) or "=" not in item:
                raise ValueError(f"`overrides` entries must look like 'dotted.key=value'; received {item!r}.")
            key, raw = item.split("=", 1)
            pairs.append((key.strip(), _parse_value(key.strip(), raw)))
    for key, value in pairs:
        flat = flatten(config)
        known = set(flat) | {prefix for name in flat for prefix in _prefixes(name)}
        if not isinstance(key, str) or key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=5, cutoff=0.5)
            raise ValueError(f"unknown config key {key!r} in `overrides`; expected a key of the recipe (closest: {close}).")
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node[part]
        node[leaf] = _typed(key, value, node[leaf])
    return config


# Keys whose non-null default may be replaced by null (no shuffling; the world's default scenes).
NULLABLE = ("data.shuffle_buffer", "data.scene_options")
"""Recipe keys whose non-null default may be replaced by null."""


def _parse_value(key, raw):
    """The YAML value of one ``key=value`` override (empty: null)."""
    if not raw.strip():
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as error:
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise ValueError(f"override {key}={raw!r}: the value is not valid YAML ({problem}).") from None


def _kind(value):
    """The type name an override is checked against (bools are not ints)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


_RECEIVED = {
    "bool": "a bool",
    "int": "an integer",
    "float": "a float",
    "str": "a string",
    "list": "a list",
    "mapping": "a mapping",
    "non-finite number": "not finite",
}
_EXPECTED = {
    "bool": "true or false",
    "int": "an integer",
    "float": "a finite number",
    "str": "a string",
    "list": "a list",
    "mapping": "a mapping",
}


def _typed(key, value, default):
    """``value`` if it has the type of ``default`` (floats: as float; lists: checked per element); else raise."""
    if default is None:
        return list(value) if isinstance(value, tuple) else value
    if value is None:
        if key in NULLABLE:
            return None
        raise ValueError(f"`{key}` must be {_EXPECTED.get(_kind(default), _kind(default))} (the recipe has {_short(default)}); received null.")
    expected = _kind(default)
    received = _kind(value)
    if expected == "float":
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value, received = float(value), "float"
            except ValueError:
                pass
        if received in ("int", "float"):
            if math.isfinite(value):
                return float(value)
            received = "non-finite number"
    elif expected == received:
        if expected != "list":
            return value
        value = list(value)
        if default and all(_kind(item) == _kind(default[0]) for item in default):
            return [_typed(f"{key}[{index}]", item, default[0]) for index, item in enumerate(value)]
        return value
    raise ValueError(
        f"`{key}` must be {_EXPECTED.get(expected, expected)} (the recipe has {_short(default)}); "
        f"received {_short(value)} ({_RECEIVED.get(received, received)})."
    )


def _short(value, limit=60):
    """``repr(value)``, cut to ``limit`` characters (a whole section would fill the line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def _prefixes(key):
    parts = key.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def read_yaml(path, what):
    """The YAML document of ``path``; a syntax error becomes a one-line ValueError naming the file and line."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise ValueError(f"{what} {str(path)!r} is not valid YAML{where}: {problem}.") from None


def check(config, tasks):
    """Check a resolved recipe: its sections, seed, ranges, ``task`` (one of ``tasks``), data source, strategy and audio."""
    missing = [key for key in _REQUIRED if key not in config]
    if missing:
        raise ValueError(f"recipe config lacks the section(s) {missing}; expected {list(_REQUIRED)}.")
    for section in _REQUIRED[2:]:
        if not isinstance(config[section], dict):
            raise ValueError(f"`{section}` must be a mapping (a section of the recipe); received {config[section]!r}.")
    check_nonnegative_int(config["seed"], "seed")
    _check_ranges(config)
    if config["task"] not in tasks:
        raise ValueError(f"`task` must be one of {tuple(tasks)}; received {config['task']!r}.")
    if config["data"].get("source") not in SOURCES:
        raise ValueError(f"`data.source` must be one of {SOURCES}; received {config['data'].get('source')!r}.")
    training = config["training"]
    if training.get("strategy", "default") not in distribute.STRATEGIES:
        raise ValueError(f"`training.strategy` must be one of {distribute.STRATEGIES}; received {training.get('strategy')!r}.")
    check_positive_int(training.get("batch_size"), "training.batch_size")
    audio.AudioConfig(**config["audio"])  # raises on a bad audio setting
    return config


def _check_ranges(config):
    """Values of the right type that still cannot train: zero epochs, a negative learning rate, ..."""
    for key, value in flatten(config).items():
        leaf = key.rsplit(".", 1)[-1]
        values = value if isinstance(value, list) else [value]
        if leaf == "epochs":
            for item in values:
                check_positive_int(item, key)
        elif leaf in ("learning_rate", "learning_rates"):
            for item in values:
                check_number(item, key, minimum=0, exclusive_minimum=True)
        elif key in ("data.image_size", "data.crop_size", "data.num_train", "data.num_test", "data.num_mix"):
            check_positive_int(value, key)
        elif key == "data.shuffle_buffer" and value is not None:
            check_nonnegative_int(value, key)


def audio_config(config):
    """The recipe's :class:`~avcourse.audio.AudioConfig` (its ``audio:`` section)."""
    return audio.AudioConfig(**config["audio"])


def audio_shape(config):
    """The spectrogram input shape (warped bins, frames, 1)."""
    settings = audio_config(config)
    return (settings.num_warped_bins, settings.num_frames, 1)


def image_shape(config):
    """The picture input shape (image_size, image_size, 3)."""
    size = config["data"]["image_size"]
    return (size, size, 3)


def adam(config):
    """``learning_rate → keras.optimizers.Adam`` with the recipe's ``training.clipnorm``."""
    import keras

    clipnorm = config["training"].get("clipnorm")
    return lambda learning_rate: keras.optimizers.Adam(learning_rate, clipnorm=clipnorm)
