"""Full-scale recipes: ``avcourse train --config recipes/<task>/config.yaml key=value ...``.

A recipe is a YAML file of the paper's settings (asteroid-style). Running it:

1. :func:`load_recipe` reads the file, applies the recipe's ``smoke:``
   overrides when ``smoke=True`` (tiny sizes on the synthetic world), then the
   command line's ``key=value`` overrides (dotted keys, YAML-typed values:
   ``training.batch_size=64``, ``training.epochs=[2,1,1]``,
   ``model.audio_weights=null``), and checks the result. Each override must
   have the type of the value it replaces (``training.epochs=abc`` is an
   error), and every check runs before anything is written
   (:mod:`avcourse.training.recipes.config`).
2. :func:`train` creates the run directory, saves the resolved config there
   and trains stage by stage with ``model.fit`` and three callbacks per stage:
   ``ModelCheckpoint`` (weights each epoch), ``TensorBoard`` (logs) and
   ``BackupAndRestore`` (the training state at each epoch end).
3. :func:`evaluate` rebuilds the trained model from a run directory and
   scores it as the paper does; the numbers go to ``metrics.json``.

The run directory (``<run_dir>/config.yaml``, ``progress.json``,
``stages/<stage>/...`` with each stage's checkpoints and final weights,
``logs/<stage>/``, ``metrics.json``) is laid out in
:mod:`avcourse.training.recipes.run`.

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

Tasks (``task:`` in the YAML), the keys of :data:`TASKS`, each run by one
module with ``train(run)``, ``evaluate(config, folder)`` and
``build_models(config)``: ``cavl_curriculum`` (CAVL stages C1..C4, CAVL
§3.2) and ``cavl_localization`` (CAVL stage C1, scored with cIoU@0.5 / AUC,
§4.4) in :mod:`~avcourse.training.recipes.cavl`; ``counting`` (Poisson
counter, Table 2) in :mod:`~avcourse.training.recipes.counting`;
``separation`` (U-Net guided by CAVL's visual centre or mask-pooled features,
Table 4) in :mod:`~avcourse.training.recipes.separation`; and ``ccol`` in
:mod:`~avcourse.training.recipes.ccol`.

Data (:mod:`avcourse.training.recipes.inputs`): ``data.source: shards``
reads the TFRecord shards written by ``avcourse prepare``
(:func:`avcourse.data.shards.shard_dataset`); ``data.source: synthetic``
draws scenes of the synthetic world (:mod:`avcourse.data.pipelines`).

Example:
    ```python
    result = train("recipes/cavl_audioset_curriculum/config.yaml", ["training.epochs=[1,1,1,1]"], smoke=True)
    evaluate(run_dir=result["run_dir"])["C4"]["match_accuracy"]
    ```
"""

import json
from pathlib import Path

import keras

from avcourse.training import distribute
from avcourse.training.recipes import cavl, ccol, counting, separation
from avcourse.training.recipes.config import apply_overrides, check, read_yaml
from avcourse.training.recipes.run import Run, Start, resolve_dir, save_or_compare

__all__ = ["TASKS", "apply_overrides", "build_models", "evaluate", "load_recipe", "train"]

TASKS = {
    "cavl_curriculum": cavl,
    "cavl_localization": cavl,
    "counting": counting,
    "separation": separation,
    "ccol": ccol,
}
"""The task registry: a recipe's ``task:`` → the module that trains (``train(run)``),
scores (``evaluate(config, folder)``) and builds (``build_models(config)``) it."""


def _checked(config):
    return check(config, tuple(TASKS))


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
    config = read_yaml(path, "recipe config")
    if not isinstance(config, dict):
        raise ValueError(f"`config_path` {str(path)!r} must hold a YAML mapping; received {type(config).__name__}.")
    smoke_overrides = config.pop("smoke", None) or {}
    config.setdefault("recipe", path.parent.name)
    if smoke:
        config = apply_overrides(config, smoke_overrides)
    return _checked(apply_overrides(config, overrides))


def build_models(config):
    """The recipe's models at their configured sizes, built but untrained.

    Args:
        config: a resolved recipe (:func:`load_recipe`).

    Returns:
        dict name → ``keras.Model``: ``{"cavl"}`` for the CAVL tasks,
        ``{"counter"}`` for counting, ``{"cavl", "separator"}`` for separation
        (``{"ccol"}`` for CCoL).
    """
    return TASKS[config["task"]].build_models(config)


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
    folder = resolve_dir(config, run_dir)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"`run_dir` {str(folder)!r} is a file; expected a run directory (new or interrupted).")
    start, chief = Start(folder), True
    training = config["training"]
    previous_policy = keras.mixed_precision.global_policy()
    distribute.set_mixed_precision(bool(training.get("mixed_precision", False)))
    try:
        distribution = distribute.make_distribution(training.get("strategy", "default"))
        chief = distribution.is_chief
        distribution.per_replica_batch_size(training["batch_size"])
        if distribution.is_chief:
            save_or_compare(config, folder)
        run = Run(config, folder, distribution, callbacks)
        keras.utils.set_random_seed(config["seed"])
        with distribution.scope():
            histories = TASKS[config["task"]].train(run)
    except BaseException:
        if chief:  # only the chief owns the run directory
            start.discard_if_empty()
        raise
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return {"run_dir": folder, "config": config, "histories": histories}


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
        config = read_yaml(saved, "the run's config")
        if not isinstance(config, dict):
            raise ValueError(f"the run's config {str(saved)!r} must hold a YAML mapping; received {type(config).__name__}.")
        config = _checked(apply_overrides(config, overrides))
    elif config_path is not None:
        config = load_recipe(config_path, overrides, smoke=smoke)
    else:
        raise ValueError(f"`run_dir` {str(folder)!r} has no config.yaml and no `config_path` was given.")
    metrics = TASKS[config["task"]].evaluate(config, folder)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
