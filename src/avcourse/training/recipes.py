"""Full-scale recipes: ``avcourse train --config recipes/<task>/config.yaml key=value ...``.

A recipe is a YAML file of the paper's settings (asteroid-style). Running it:

1. :func:`load_recipe` reads the file, applies the recipe's ``smoke:``
   overrides when ``smoke=True`` (tiny sizes on the synthetic world), then the
   command line's ``key=value`` overrides (dotted keys, YAML-typed values:
   ``training.batch_size=64``, ``training.epochs=[2,1,1]``,
   ``model.audio_weights=null``), and checks the result. Each override must
   have the type of the value it replaces (``training.epochs=abc`` is an
   error), and every check runs before anything is written.
2. :func:`train` creates the run directory, saves the resolved config there
   and trains stage by stage with ``model.fit`` and three callbacks per stage:
   ``ModelCheckpoint`` (weights each epoch), ``TensorBoard`` (logs) and
   ``BackupAndRestore`` (the training state at each epoch end).
3. :func:`evaluate` rebuilds the trained model from a run directory and
   scores it as the paper does; the numbers go to ``metrics.json``.

Run directory:

```
<run_dir>/
  config.yaml                   the resolved config (what was trained)
  progress.json                 completed stages and their histories
  stages/<stage>/checkpoints/   epoch-001.weights.h5, ... (ModelCheckpoint)
  stages/<stage>/backup/        BackupAndRestore's state while the stage runs
  stages/<stage>/final.weights.h5
  logs/<stage>/                 TensorBoard event files
  metrics.json                  written by evaluate
```

A start that fails before its first epoch is saved (a model that cannot be
built, unreadable data) removes the run directory it made, so that the
corrected command can start again in the same ``--run-dir``.

Resuming: run the same command with ``--run-dir`` pointing at the killed
run. Completed stages (``progress.json``) are not retrained: their final
weights are loaded. The interrupted stage restarts from its last completed
epoch, with that epoch's weights and optimizer state (``BackupAndRestore``);
later stages follow as usual. So a curriculum killed in the middle of C2
restarts at C2, at the epoch where it stopped, and ends with the weights an
uninterrupted run ends with (given deterministic data and ops).

Tasks (``task:`` in the YAML): ``cavl_curriculum`` (CAVL stages C1..C4,
CAVL §3.2), ``cavl_localization`` (CAVL stage C1, scored with cIoU@0.5 / AUC,
§4.4), ``counting`` (Poisson counter, Table 2), ``separation`` (U-Net guided
by CAVL's visual centre or mask-pooled features, Table 4) and ``ccol``.

Data: ``data.source: shards`` reads the TFRecord shards written by
``avcourse prepare`` (:func:`avcourse.data.shards.shard_dataset`);
``data.source: synthetic`` draws scenes of the synthetic world
(:mod:`avcourse.data.pipelines`).

Example:
    ```python
    result = train("recipes/cavl_audioset_curriculum/config.yaml", ["training.epochs=[1,1,1,1]"], smoke=True)
    evaluate(run_dir=result["run_dir"])["C4"]["match_accuracy"]
    ```
"""

import copy
import datetime
import difflib
import json
import math
import shutil
from pathlib import Path

import keras
import numpy as np
import yaml

from avcourse import audio
from avcourse._validation import check_nonnegative_int, check_number, check_positive_int
from avcourse.training import distribute

__all__ = ["TASKS", "apply_overrides", "build_models", "evaluate", "load_recipe", "register_cli", "train"]

TASKS = ("cavl_curriculum", "cavl_localization", "counting", "separation", "ccol")
SOURCES = ("shards", "synthetic")
_REQUIRED = ("task", "seed", "audio", "data", "model", "training")
# Keys that may differ when a run is resumed: they change how, not what, is trained.
_RESUMABLE_CHANGES = ("training.strategy", "training.verbose")


# ----------------------------------------------------------------------------- config


def _flatten(config, prefix=""):
    """{"a.b": value} for every leaf (dicts are walked; lists are leaves)."""
    flat = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, path + "."))
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
    non-null default only for :data:`_NULLABLE` keys.

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
        flat = _flatten(config)
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
_NULLABLE = ("data.shuffle_buffer", "data.scene_options")


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
        if key in _NULLABLE:
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


def load_recipe(config_path, overrides=(), *, smoke=False):
    """Read a recipe, apply its smoke settings and the overrides, and check it.

    Args:
        config_path: path of a ``recipes/<task>/config.yaml``.
        overrides: ``key=value`` strings (see :func:`apply_overrides`).
        smoke: apply the recipe's ``smoke:`` overrides first (tiny synthetic run).

    Returns:
        the resolved config (nested dict, without the ``smoke`` section), with
        ``recipe`` set to the recipe's folder name.

    Raises:
        FileNotFoundError: if ``config_path`` does not exist.
        ValueError: for a malformed recipe or override.
    """
    path = Path(config_path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe config {str(path)!r} does not exist; expected recipes/<task>/config.yaml.")
    config = _read_yaml(path, "recipe config")
    if not isinstance(config, dict):
        raise ValueError(f"`config_path` {str(path)!r} must hold a YAML mapping; received {type(config).__name__}.")
    smoke_overrides = config.pop("smoke", None) or {}
    config.setdefault("recipe", path.parent.name)
    if smoke:
        config = apply_overrides(config, smoke_overrides)
    return _check(apply_overrides(config, overrides))


def _read_yaml(path, what):
    """The YAML document of ``path``; a syntax error becomes a one-line ValueError naming the file and line."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise ValueError(f"{what} {str(path)!r} is not valid YAML{where}: {problem}.") from None


def _check(config):
    missing = [key for key in _REQUIRED if key not in config]
    if missing:
        raise ValueError(f"recipe config lacks the section(s) {missing}; expected {list(_REQUIRED)}.")
    for section in _REQUIRED[2:]:
        if not isinstance(config[section], dict):
            raise ValueError(f"`{section}` must be a mapping (a section of the recipe); received {config[section]!r}.")
    check_nonnegative_int(config["seed"], "seed")
    _check_ranges(config)
    if config["task"] not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}; received {config['task']!r}.")
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
    for key, value in _flatten(config).items():
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


def _audio_config(config):
    return audio.AudioConfig(**config["audio"])


def _audio_shape(config):
    settings = _audio_config(config)
    return (settings.num_warped_bins, settings.num_frames, 1)


def _image_shape(config):
    size = config["data"]["image_size"]
    return (size, size, 3)


# ----------------------------------------------------------------------------- run directory


class _Run:
    """A run directory: resolved config, stage progress and the per-stage callbacks."""

    def __init__(self, config, root, distribution, callbacks):
        self.config = config
        self.dir = Path(root)
        self.distribution = distribution
        # Only the chief writes the run directory; other workers keep their own
        # checkpoints (BackupAndRestore needs one per worker) under workers/.
        self.root = self.dir if distribution.is_chief else self.dir / "workers" / f"worker-{distribution.worker_index}"
        self.root.mkdir(parents=True, exist_ok=True)
        self.extra_callbacks = list(callbacks or [])
        self.verbose = config["training"].get("verbose", 2)
        progress = self.root / "progress.json"
        self.progress = {"completed": [], "histories": {}}
        if progress.is_file():
            try:
                self.progress = json.loads(progress.read_text())
            except ValueError as error:
                raise ValueError(f"{str(progress)!r} is not valid JSON ({error}); restore it or start a new run_dir.") from None

    def stage_dir(self, stage):
        return self.root / "stages" / stage

    def done(self, stage):
        return stage in self.progress["completed"]

    def callbacks(self, stage):
        folder = self.stage_dir(stage)
        return [
            keras.callbacks.ModelCheckpoint(str(folder / "checkpoints" / "epoch-{epoch:03d}.weights.h5"), save_weights_only=True),
            keras.callbacks.TensorBoard(log_dir=str(self.root / "logs" / stage), write_graph=False),
            # Kept after fit so that a crash between fit's end and progress.json
            # cannot lose the stage; removed once the stage is recorded.
            keras.callbacks.BackupAndRestore(str(folder / "backup"), delete_checkpoint=False),
            *self.extra_callbacks,
        ]

    def fit(self, stage, model, dataset, epochs, **kwargs):
        """``model.fit`` of one stage with the run's callbacks, unless the stage is done."""
        if self.done(stage):
            self.restore(stage, model)
            return self.progress["histories"][stage]
        history = model.fit(dataset, epochs=epochs, callbacks=self.callbacks(stage), verbose=self.verbose, **kwargs)
        self.complete(stage, model, history.history)
        return history.history

    def restore(self, stage, model):
        """Load a completed stage's final weights (optimizer state included) into ``model``."""
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(_final_weights(self.root, stage))

    def complete(self, stage, model, history):
        folder = self.stage_dir(stage)
        folder.mkdir(parents=True, exist_ok=True)
        model.save_weights(str(folder / "final.weights.h5"))
        self.progress["completed"].append(stage)
        self.progress["histories"][stage] = {k: [float(v) for v in values] for k, values in history.items()}
        temporary = self.root / "progress.json.tmp"
        temporary.write_text(json.dumps(self.progress, indent=1))
        temporary.replace(self.root / "progress.json")  # atomic: a kill leaves the old or the new file
        shutil.rmtree(folder / "backup", ignore_errors=True)


def _final_weights(folder, stage):
    """Path (str) of a stage's final weights in a run directory; a clear error if the stage never finished."""
    path = Path(folder) / "stages" / stage / "final.weights.h5"
    if not path.is_file():
        raise FileNotFoundError(
            f"run directory {str(folder)!r} has no final weights of stage {stage!r} ({path}); the stage has not "
            "finished: resume it with `avcourse train --config ... --run-dir` first."
        )
    return str(path)


def _run_dir(config, run_dir):
    if run_dir is not None:
        return Path(run_dir)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(config.get("run_root", "runs")) / config["recipe"] / stamp


def _save_or_compare(config, folder):
    """Save the resolved config, or, resuming, check it matches the saved one."""
    path = folder / "config.yaml"
    if path.is_file():
        saved = _flatten(_read_yaml(path, "the run's config") or {})
        current = _flatten(config)
        differing = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k) and k not in _RESUMABLE_CHANGES)
        if differing:
            raise ValueError(
                f"run directory {str(folder)!r} holds a run of another config (keys {differing} differ); "
                "resume with the same config and overrides, or choose another `run_dir`."
            )
    else:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))


# ----------------------------------------------------------------------------- data


def _tf():
    import tensorflow as tf

    return tf


def _synthetic(config, split):
    """Seed and count of a split of the synthetic world (test scenes never overlap training seeds)."""
    data = config["data"]
    if split == "train":
        return config["seed"], data["num_train"]
    from avcourse.data.world import TEST_SEED

    return TEST_SEED, data["num_test"]


def _shards(config, split, input_context):
    from avcourse.data.shards import shard_dataset

    tf = _tf()
    pattern = config["data"][split]
    if not pattern:
        raise ValueError(f"`data.{split}` must name the shards (a glob pattern) when data.source is 'shards'; received {pattern!r}.")
    return shard_dataset(pattern, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True, input_context=input_context)


def _clip_inputs(config, example, with_ids=False):
    """Model inputs of one shard record: the middle frame and the clip's log1p warped spectrogram."""
    from avcourse.data.shards import scene_inputs

    inputs = scene_inputs(example, _audio_config(config), image_size=config["data"]["image_size"])
    # Keras models need static spectrogram sizes; the padded clip's length is only known at run time.
    inputs["audio"] = _tf().ensure_shape(inputs["audio"], _audio_shape(config))
    if with_ids:
        inputs["clip_id"] = example["clip_id"]
    return inputs


def _batches(config, dataset, batch_size, training):
    tf = _tf()
    if training and config["data"].get("shuffle_buffer"):
        dataset = dataset.shuffle(config["data"]["shuffle_buffer"], seed=config["seed"])
    # Equal batches on every step: replicas split a batch evenly.
    return dataset.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def _scenes(config, split, num_sources, batch_size, input_context=None, with_ground_truth=False):
    """Scenes with ``num_sources`` sources (a tuple): synthetic, or shards filtered by their count."""
    from avcourse.data import pipelines

    data = config["data"]
    training = split == "train"
    if data["source"] == "synthetic":
        seed, count = _synthetic(config, split)
        dataset = pipelines.scene_dataset(
            count,
            num_sources=list(num_sources),
            seed=seed,
            batch_size=0,
            image_size=data["image_size"],
            config=_audio_config(config),
            split=split,
            with_ground_truth=with_ground_truth,
            scene_options=data.get("scene_options"),
        )
        if input_context is not None:
            dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        return _batches(config, dataset, batch_size, training)
    tf = _tf()
    top = max(num_sources)
    wanted = tf.constant(list(num_sources), tf.int32)
    dataset = _shards(config, split, input_context).filter(
        # The last stage also takes busier clips (C4 = "4 or more sources").
        lambda example: tf.reduce_any(tf.equal(tf.minimum(tf.cast(example["num_sources"], tf.int32), top), wanted))
    )
    dataset = dataset.map(lambda example: _clip_inputs(config, example, with_ids=with_ground_truth), num_parallel_calls=tf.data.AUTOTUNE)
    return _batches(config, dataset, batch_size, training)


def _dataset_for_fit(run, make):
    """``make(input_context, batch_size)`` distributed with the run's strategy and global batch."""
    return run.distribution.distribute_datasets(make, run.config["training"]["batch_size"])


# ----------------------------------------------------------------------------- models


def _cavl_model(config, section="model", num_audio_clusters=1):
    from avcourse.models import CAVLModel

    return CAVLModel(
        audio_shape=_audio_shape(config),
        image_shape=_image_shape(config),
        num_audio_clusters=num_audio_clusters,
        **config[section],
    )


def _counter(config):
    from avcourse.models import SourceCounter

    return SourceCounter(audio_shape=_audio_shape(config), **config["model"])


def _unet(config, visual_dim):
    from avcourse.models.separator import UNetSeparator

    return UNetSeparator(visual_dim=visual_dim, **config["model"])


def build_models(config):
    """The recipe's models at their configured sizes, built but untrained.

    Args:
        config: a resolved recipe (:func:`load_recipe`).

    Returns:
        dict name → ``keras.Model``: ``{"cavl"}`` for the CAVL tasks,
        ``{"counter"}`` for counting, ``{"cavl", "separator"}`` for separation
        (``{"ccol"}`` for CCoL).
    """
    task = config["task"]
    if task in ("cavl_curriculum", "cavl_localization"):
        return {"cavl": _cavl_model(config)}
    if task == "counting":
        counter = _counter(config)
        counter.build()
        return {"counter": counter}
    if task == "separation":
        cavl_model = _cavl_model(config, "cavl")
        separator = _unet(config, _vector_dim(config, cavl_model))
        separator.build()
        return {"cavl": cavl_model, "separator": separator}
    return {"ccol": _ccol_model(config)}


# ----------------------------------------------------------------------------- CAVL


def _stages(config):
    from avcourse.training.curriculum import curriculum_stages, no_curriculum_stage

    training = config["training"]
    if training.get("curriculum", True):
        return curriculum_stages(
            training["stages"],
            base_learning_rate=training["learning_rate"],
            decay=training["decay"],
            epochs=training["epochs"],
            accumulate=training.get("accumulate", False),
        )
    epochs = training["epochs"] if isinstance(training["epochs"], int) else sum(training["epochs"])
    return no_curriculum_stage(training["stages"], learning_rate=training["learning_rate"], epochs=epochs)


def _adam(config):
    clipnorm = config["training"].get("clipnorm")
    return lambda learning_rate: keras.optimizers.Adam(learning_rate, clipnorm=clipnorm)


def _run_stages(run, model, stages, make_dataset, optimizer):
    """``run_curriculum`` one stage at a time with the run's callbacks; completed stages are loaded, not retrained.

    Returns:
        ``(model after the last stage, {stage name: history})``.
    """
    from avcourse.training.curriculum import run_curriculum

    histories = {}
    for stage in stages:
        if run.done(stage.name):
            # The model run_curriculum would give the stage, then the weights the stage ended with.
            variant = getattr(stage, "variant", None)
            model = model.for_stage(stage) if variant else model.with_num_clusters(stage.num_audio_clusters, stage.num_visual_clusters)
            model.compile(optimizer=optimizer(stage.learning_rate))
            run.restore(stage.name, model)
        else:
            result = run_curriculum(model, make_dataset, [stage], callbacks=run.callbacks(stage.name), optimizer=optimizer, verbose=run.verbose)
            model = result.model
            run.complete(stage.name, model, result.histories[0])
        histories[stage.name] = run.progress["histories"][stage.name]
    return model, histories


def _train_cavl(run):
    """The curriculum (or its no-curriculum baseline), each stage resumable."""
    config = run.config

    def make_dataset(stage):
        return _dataset_for_fit(run, lambda context, batch: _scenes(config, "train", stage.num_sources, batch, context))

    model, histories = _run_stages(run, _cavl_model(config), _stages(config), make_dataset, _adam(config))
    if run.distribution.is_chief:
        model.audio_trunk.save_weights(str(run.root / "audio_trunk.weights.h5"))
        model.visual_trunk.save_weights(str(run.root / "visual_trunk.weights.h5"))
    return histories


def _trained_cavl(config, folder):
    """The CAVL model of a run directory, as its last stage left it."""
    stages = _stages(config)
    model = _cavl_model(config, num_audio_clusters=stages[-1].num_audio_clusters)
    model(model._dummy_inputs())
    model.load_weights(_final_weights(folder, stages[-1].name))
    return model, stages


def _evaluate_matching(config, folder):
    """Contrastive loss and match accuracy of the final model on held-out clips of each stage."""
    model, stages = _trained_cavl(config, folder)
    scores = {}
    for stage in stages:
        staged = model.with_num_clusters(stage.num_audio_clusters, stage.num_visual_clusters)
        staged.compile()
        test = _scenes(config, "test", stage.num_sources, config["training"]["batch_size"])
        scores[stage.name] = staged.evaluate(test, verbose=0, return_dict=True)
    return scores


def _flickr_maps(config, batch):
    """Consensus maps (B, 224, 224) of shard clips, from their annotation files."""
    from avcourse.data.flickr import flickr_gt_map

    folder = Path(config["data"]["annotations"])
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in np.asarray(batch["clip_id"])]
    return np.stack([flickr_gt_map(folder / f"{clip}.xml") for clip in ids]).astype("float32")


def _evaluate_localization(config, folder):
    """cIoU@0.5 and AUC of the aligned-centre heatmaps and the baselines (CAVL §4.4)."""
    from avcourse.training.evaluation import localization_results

    model, _ = _trained_cavl(config, folder)
    model = model.with_num_clusters(1)
    test = _scenes(config, "test", (1,), config["training"]["batch_size"], with_ground_truth=True)
    if config["data"]["source"] == "shards":
        # Every test clip counts, whatever its label count; the maps come from the annotators' boxes.
        test = _shards(config, "test", None).map(lambda example: _clip_inputs(config, example, with_ids=True))
        test = (
            {"image": batch["image"], "audio": batch["audio"], "consensus_map": _flickr_maps(config, batch)}
            for batch in test.batch(config["training"]["batch_size"]).as_numpy_iterator()
        )
    results = localization_results(model, test, seed=config["seed"])
    return {name: {"ciou@0.5": float(r["ciou@0.5"]), "auc": float(r["auc"])} for name, r in results.items()}


# ----------------------------------------------------------------------------- counting


def _train_counting(run):
    from avcourse.models.counting import counting_lr_schedule, counting_optimizer

    config = run.config
    training = config["training"]
    model = _counter(config)
    model.build()  # BackupAndRestore restores into built models only
    model.compile(optimizer=counting_optimizer(training["learning_rate"], training["momentum"]))
    dataset = _dataset_for_fit(run, lambda context, batch: _scenes(config, "train", tuple(training["num_sources"]), batch, context))
    run.extra_callbacks.append(counting_lr_schedule(training["learning_rate"], training["lr_decay"]))
    return {"counting": run.fit("counting", model, dataset, training["epochs"])}


def _evaluate_counting(config, folder):
    from avcourse.metrics.counting import count_accuracy, count_mae

    model = _counter(config)
    model.build()
    model.load_weights(_final_weights(folder, "counting"))
    test = _scenes(config, "test", tuple(config["training"]["num_sources"]), config["training"]["batch_size"])
    truth, predicted = [], []
    for batch in test.as_numpy_iterator():
        truth.append(batch["num_sources"])
        predicted.append(model.predict_counts(batch["audio"]))
    truth, predicted = np.concatenate(truth), np.concatenate(predicted)
    constant = np.full_like(truth, int(np.median(truth)))
    return {
        "counter": {"accuracy": float(count_accuracy(truth, predicted)), "mae": float(count_mae(truth, predicted))},
        "constant (median count)": {"accuracy": float(count_accuracy(truth, constant)), "mae": float(count_mae(truth, constant))},
    }


# ----------------------------------------------------------------------------- separation


def _mixtures(config, split, batch_size, input_context=None):
    """Batches of mix-and-separate examples (the keys of ``mix_separate_dataset``)."""
    from avcourse.data import pipelines

    data, settings = config["data"], _audio_config(config)
    num_mix = data["num_mix"]
    training = split == "train"
    if data["source"] == "synthetic":
        seed, count = _synthetic(config, split)
        dataset = pipelines.mix_separate_dataset(
            count, num_mix=num_mix, seed=seed, batch_size=0, image_size=data["image_size"], config=settings,
            split=split, with_waveforms=not training,
        )
        if input_context is not None:
            dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        return _batches(config, dataset, batch_size, training)
    tf = _tf()

    def mix(waveforms):
        waveforms = np.stack([audio.fit_length(w, settings.num_samples) for w in waveforms])
        mixture, sources = audio.mix_sources(waveforms, np.full(num_mix, 1.0 / num_mix))
        features, magnitude = pipelines._mixture_features(mixture, settings)
        return (features, magnitude, pipelines._warped_magnitude(sources, settings),
                mixture.astype(np.float32), sources.astype(np.float32))

    def example(group):
        outputs = tf.numpy_function(mix, [group["waveform"]], [tf.float32] * 5)
        bins, frames = settings.num_warped_bins, settings.num_frames
        for tensor, shape in zip(outputs, [(bins, frames, 1), (bins, frames), (num_mix, bins, frames), (settings.num_samples,), (num_mix, settings.num_samples)]):
            tensor.set_shape(shape)
        middle = tf.map_fn(lambda frames_: frames_[tf.shape(frames_)[0] // 2], group["frames"])
        images = tf.image.resize(tf.cast(middle, tf.float32) / 255.0, (data["image_size"],) * 2)
        result = {"images": images, "mixture": outputs[0], "mixture_magnitude": outputs[1], "source_magnitudes": outputs[2]}
        if not training:
            result.update(mixture_waveform=outputs[3], source_waveforms=outputs[4])
        return result

    # Consecutive (shuffled) solo clips form one mixture.
    dataset = _shards(config, split, input_context)
    if training and data.get("shuffle_buffer"):
        dataset = dataset.shuffle(data["shuffle_buffer"], seed=config["seed"])
    dataset = dataset.map(lambda e: {"waveform": e["waveform"], "frames": e["frames"]}).batch(num_mix, drop_remainder=True)
    return dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def _with_visual(config, batches, cavl_model):
    """Add CAVL's visual vectors (B, num_mix, dim) to every batch (``guidance`` center or mask)."""
    from avcourse.models.separator import cavl_visual_vectors

    tf = _tf()
    mode, num_mix = config["guidance"], config["data"]["num_mix"]

    def generate():
        for batch in batches.as_numpy_iterator():
            count = len(batch["images"])
            # Each source's picture with its own solo sound (mixed at gain 1 / num_mix), CAVL supp. 6.4.
            solo = np.log1p(batch["source_magnitudes"] * num_mix)[..., None]
            images = batch["images"].reshape((-1,) + batch["images"].shape[2:])
            vectors = cavl_visual_vectors(cavl_model, images, solo.reshape((-1,) + solo.shape[2:]), mode=mode)
            yield {**batch, "visual": vectors.reshape(count, num_mix, -1)}

    spec = batches.element_spec
    signature = {**spec, "visual": tf.TensorSpec((None, num_mix, _vector_dim(config, cavl_model)), tf.float32)}
    return tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(tf.data.AUTOTUNE)


def _vector_dim(config, cavl_model):
    """Size of the visual vectors: the centre's (``embedding_dim``), or the visual trunk's channels (``mask``)."""
    if cavl_model is None:  # oracle: one-hot identities zero-padded to the centre's size
        return config["cavl"]["embedding_dim"]
    return cavl_model.visual_trunk.output.shape[-1] if config["guidance"] == "mask" else cavl_model.embedding_dim


def _separator_model(config, visual_dim):
    from avcourse.models.separator import VisuallyGuidedSeparator

    conditioning = "oracle" if config["guidance"] == "oracle" else "visual"
    return VisuallyGuidedSeparator(_unet(config, visual_dim), conditioning=conditioning)


def _separation_cavl(config, folder, run=None):
    """The C1 CAVL model giving the visual vectors: from ``cavl_weights``, or trained as stage ``cavl_c1``."""
    model = _cavl_model(config, "cavl")
    model(model._dummy_inputs())
    if config["cavl_weights"]:
        model.load_weights(config["cavl_weights"])
    elif run is None:  # evaluating: the run trained it
        model.load_weights(_final_weights(folder, "cavl_c1"))
    else:
        training = config["cavl_training"]
        model.compile(optimizer=_adam(config)(training["learning_rate"]))
        dataset = _dataset_for_fit(run, lambda context, batch: _scenes(config, "train", (1,), batch, context))
        run.fit("cavl_c1", model, dataset, training["epochs"])
    return model


def _check_guidance(config):
    if config["guidance"] not in ("center", "mask", "oracle"):
        raise ValueError(f"`guidance` must be 'center', 'mask' or 'oracle'; received {config['guidance']!r}.")
    if config["guidance"] == "oracle" and config["data"]["source"] != "synthetic":
        raise ValueError("`guidance` 'oracle' needs the synthetic world's instrument labels; received data.source 'shards'.")
    return config["guidance"] != "oracle"


def _train_separation(run):
    config = run.config
    histories = {}
    cavl_model = _separation_cavl(config, run.root, run) if _check_guidance(config) else None
    if "cavl_c1" in run.progress["histories"]:
        histories["cavl_c1"] = run.progress["histories"]["cavl_c1"]
    model = _separator_model(config, _vector_dim(config, cavl_model))
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(config["training"]["learning_rate"]))

    def make(context, batch):
        batches = _mixtures(config, "train", batch, context)
        return batches if cavl_model is None else _with_visual(config, batches, cavl_model)

    histories["separator"] = run.fit("separator", model, _dataset_for_fit(run, make), config["training"]["epochs"])
    return histories


def _evaluate_separation(config, folder):
    """SDR / SIR / SAR (BSS-eval) of the separated sources and of the unprocessed mixture."""
    from avcourse import baselines
    from avcourse.reproduce.separation import _reconstruct, _scores

    cavl_model = _separation_cavl(config, folder) if _check_guidance(config) else None
    model = _separator_model(config, _vector_dim(config, cavl_model))
    model.build()
    model.load_weights(_final_weights(folder, "separator"))
    test = _mixtures(config, "test", config["training"]["batch_size"])
    if cavl_model is not None:
        test = _with_visual(config, test, cavl_model)
    settings = _audio_config(config)
    scores = {"separator": [[], [], []], "mixture (unprocessed)": [[], [], []]}
    for batch in test.as_numpy_iterator():
        masks = np.asarray(model.predict_on_batch(batch))
        mixtures = np.stack([baselines.mixture_as_estimate(m, masks.shape[1]) for m in batch["mixture_waveform"]])
        for name, estimates in (("separator", _reconstruct(masks, batch, settings)), ("mixture (unprocessed)", mixtures)):
            for total, value in zip(scores[name], _scores(batch["source_waveforms"], estimates)[:3]):
                total.append(value)
    return {
        name: {metric: float(np.nanmean(np.concatenate(values))) for metric, values in zip(("sdr", "sir", "sar"), totals)}
        for name, totals in scores.items()
    }


# ----------------------------------------------------------------------------- CCoL


def _ccol_stages(config):
    from avcourse.training.ccol import ccol_stages

    training = config["training"]
    return ccol_stages(
        training["epochs"],
        learning_rates=training["learning_rates"],
        learning_rate_steps=[tuple(steps) for steps in training["learning_rate_steps"]],
        decay=training["decay"],
        variants=training["variants"],
    )


def _ccol_model(config, stage=None):
    from avcourse.models.ccol import CCoLModel

    crop = config["data"]["crop_size"]
    model = CCoLModel(
        stage=stage or config["training"]["variants"][0], audio_shape=_audio_shape(config), object_shape=(crop, crop, 3), **config["model"]
    )
    model.build()
    return model


def _ccol_data(config, split, batch_size, input_context=None):
    """CCoL's four-clip samples (synthetic world; shards need object detections, see the recipe's README)."""
    from avcourse.data import pipelines

    data = config["data"]
    if data["source"] != "synthetic":
        raise ValueError(
            "the ccol task reads the synthetic world only: its samples need per-object crops, which the shards "
            "of `avcourse prepare` do not hold; received data.source 'shards'."
        )
    seed, count = _synthetic(config, split)
    dataset = pipelines.ccol_dataset(
        count, seed=seed, batch_size=0, image_size=data["image_size"], crop_size=data["crop_size"],
        config=_audio_config(config), split=split, with_waveforms=split != "train",
    )
    if input_context is not None:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return _batches(config, dataset, batch_size, split == "train")


def _train_ccol(run):
    """Grounding warm-up → co-learning → cyclic co-learning (CCoL), each stage resumable."""
    config = run.config
    stages = _ccol_stages(config)

    def make_dataset(stage):
        return _dataset_for_fit(run, lambda context, batch: _ccol_data(config, "train", batch, context))

    _, histories = _run_stages(run, _ccol_model(config), stages, make_dataset, _adam(config))
    return histories


def _evaluate_ccol(config, folder):
    """Grounding accuracy (CCoL Table 1) and separation with predicted and oracle gates (Table 2)."""
    from avcourse.training.ccol import collect, grounding_accuracy, mixture_scores, separation_scores

    last = _ccol_stages(config)[-1]
    model = _ccol_model(config, last.variant)
    model.load_weights(_final_weights(folder, last.name))
    data = collect(_ccol_data(config, "test", config["training"]["batch_size"]))
    settings = _audio_config(config)
    return {
        "grounding accuracy": grounding_accuracy(model, data),
        "separation (predicted grounding)": separation_scores(model, data, config=settings),
        "separation (oracle grounding)": separation_scores(model, data, config=settings, mode="oracle"),
        "mixture (unprocessed)": mixture_scores(data),
    }


_TRAINERS = {
    "cavl_curriculum": (_train_cavl, _evaluate_matching),
    "cavl_localization": (_train_cavl, _evaluate_localization),
    "counting": (_train_counting, _evaluate_counting),
    "separation": (_train_separation, _evaluate_separation),
    "ccol": (_train_ccol, _evaluate_ccol),
}


# ----------------------------------------------------------------------------- entry points


def train(config_path, overrides=(), *, run_dir=None, smoke=False, callbacks=None):
    """Train a recipe, resuming the run in ``run_dir`` if it was interrupted.

    Args:
        config_path: ``recipes/<task>/config.yaml``.
        overrides: ``key=value`` strings (dotted keys, YAML values).
        run_dir: the run directory; default ``<run_root>/<recipe>/<date-time>``.
            An existing one (same config) is resumed.
        smoke: tiny run on the synthetic world (the recipe's ``smoke:`` settings).
        callbacks: further Keras callbacks for every stage's ``fit``.

    Returns:
        dict with ``run_dir`` (a ``Path``), ``config`` (resolved) and
        ``histories`` (stage name → ``history.history``).
    """
    # Everything that can be checked without a model is checked before the run directory is made.
    config = load_recipe(config_path, overrides, smoke=smoke)
    folder = _run_dir(config, run_dir)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"`run_dir` {str(folder)!r} is a file; expected a run directory (new or interrupted).")
    start, chief = _Start(folder), True
    training = config["training"]
    previous_policy = keras.mixed_precision.global_policy()
    distribute.set_mixed_precision(bool(training.get("mixed_precision", False)))
    try:
        distribution = distribute.make_distribution(training.get("strategy", "default"))
        chief = distribution.is_chief
        distribution.per_replica_batch_size(training["batch_size"])
        if distribution.is_chief:
            _save_or_compare(config, folder)
        run = _Run(config, folder, distribution, callbacks)
        keras.utils.set_random_seed(config["seed"])
        with distribution.scope():
            histories = _TRAINERS[config["task"]][0](run)
    except BaseException:
        if chief:  # only the chief owns the run directory
            start.discard_if_empty()
        raise
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return {"run_dir": folder, "config": config, "histories": histories}


class _Start:
    """What a new run's start creates, removed again if the start fails before an epoch is saved.

    A failed start (a model that cannot be built, data that cannot be read,
    an interrupt in the first epoch) then leaves no half-made run directory
    whose ``config.yaml`` would refuse the corrected rerun as "another
    config". A run that saved an epoch, or a resumed one, is kept as it is.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.fresh = not (self.folder / "config.yaml").is_file()
        self.existed = self.folder.is_dir()
        self.before = set(self.folder.iterdir()) if self.existed else set()
        # The folders this start creates: the run directory and its missing parents (runs/<recipe>/).
        self.created = []
        path = self.folder
        while not path.exists() and path != path.parent:
            self.created.append(path)
            path = path.parent

    def has_progress(self):
        if not self.folder.is_dir():
            return False
        try:
            if json.loads((self.folder / "progress.json").read_text()).get("completed"):
                return True
        except (OSError, ValueError, AttributeError):
            pass
        saved = ("stages/*/checkpoints/*", "stages/*/backup/*", "workers/*/stages/*/checkpoints/*")
        return any(any(self.folder.glob(pattern)) for pattern in saved)

    def discard_if_empty(self):
        if not self.fresh or self.has_progress():
            return
        if self.existed:
            for entry in set(self.folder.iterdir()) - self.before:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            return
        shutil.rmtree(self.folder, ignore_errors=True)
        for parent in self.created[1:]:  # runs/<recipe>/ and runs/, if this start made them and they are empty
            try:
                parent.rmdir()
            except OSError:
                break


def evaluate(config_path=None, overrides=(), *, run_dir, smoke=False):
    """Score a trained run the way its paper does; write ``<run_dir>/metrics.json``.

    The run directory's ``config.yaml`` says what was trained; ``overrides``
    may change what is evaluated (e.g. ``data.test=...``).

    Args:
        config_path: the recipe; only read when ``run_dir`` has no ``config.yaml``.
        overrides: ``key=value`` strings applied to the run's config.
        run_dir: a directory written by :func:`train`.
        smoke: with ``config_path``, apply the recipe's smoke settings.

    Returns:
        dict of metrics (e.g. ``{"aligned centre": {"ciou@0.5", "auc"}, ...}``).
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"`run_dir` {str(folder)!r} does not exist or is not a directory; expected a run directory written by "
            "`avcourse train` (runs/<recipe>/<date-time>)."
        )
    saved = folder / "config.yaml"
    if saved.is_file():
        config = _read_yaml(saved, "the run's config")
        if not isinstance(config, dict):
            raise ValueError(f"the run's config {str(saved)!r} must hold a YAML mapping; received {type(config).__name__}.")
        config = _check(apply_overrides(config, overrides))
    elif config_path is not None:
        config = load_recipe(config_path, overrides, smoke=smoke)
    else:
        raise ValueError(f"`run_dir` {str(folder)!r} has no config.yaml and no `config_path` was given.")
    metrics = _TRAINERS[config["task"]][1](config, folder)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def _train_command(args):
    overrides = list(args.overrides)
    if args.strategy:
        overrides.append(f"training.strategy={args.strategy}")
    if args.mixed_precision:
        overrides.append("training.mixed_precision=true")
    result = train(args.config, overrides, run_dir=args.run_dir, smoke=args.smoke)
    print(f"trained {result['config']['recipe']}: run directory {result['run_dir']}")
    return 0


def _evaluate_command(args):
    metrics = evaluate(args.config, args.overrides, run_dir=args.run_dir, smoke=args.smoke)
    print(json.dumps(metrics, indent=1))
    return 0


def register_cli(subparsers):
    """Add ``train`` and ``evaluate`` to the ``avcourse`` command's subparsers.

    Args:
        subparsers: what ``argparse.ArgumentParser.add_subparsers`` returned.
    """
    train_parser = subparsers.add_parser(
        "train",
        help="train a full-scale recipe (recipes/<task>/config.yaml), resumable",
        description="Train a recipe; key=value arguments override config keys (dotted, YAML-typed).",
    )
    train_parser.add_argument("--config", required=True, help="recipes/<task>/config.yaml")
    train_parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. training.batch_size=64")
    train_parser.add_argument("--strategy", choices=distribute.STRATEGIES, help="distribution strategy (default: the config's)")
    train_parser.add_argument("--mixed-precision", action="store_true", help="compute in float16 (mixed_float16)")
    train_parser.add_argument("--smoke", action="store_true", help="tiny run on the synthetic world (seconds)")
    train_parser.add_argument("--run-dir", help="run directory (an interrupted run there is resumed)")
    train_parser.set_defaults(run=_train_command)

    evaluate_parser = subparsers.add_parser(
        "evaluate", help="evaluate a trained run directory", description="Score a run written by `avcourse train`."
    )
    evaluate_parser.add_argument("--config", help="recipes/<task>/config.yaml (the run's config.yaml is used if present)")
    evaluate_parser.add_argument("--run-dir", required=True, help="run directory written by `avcourse train`")
    evaluate_parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. data.test=...")
    evaluate_parser.add_argument("--smoke", action="store_true", help="the recipe's smoke settings (with --config)")
    evaluate_parser.set_defaults(run=_evaluate_command)
