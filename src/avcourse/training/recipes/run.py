"""The run directory of a recipe: the resolved config, stage progress, checkpoints and logs.

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

:class:`Run` trains the stages of a task with the run's callbacks and records
each finished one; a completed stage is loaded, not retrained.
:class:`Start` removes what a failed start created, so that the corrected
command can start again in the same folder.
"""

import datetime
import json
import shutil
from pathlib import Path

import keras
import yaml

from avcourse.training.recipes.config import RESUMABLE_CHANGES, flatten, read_yaml

__all__ = ["Run", "Start", "final_weights", "resolve_dir", "save_or_compare"]


class Run:
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

    def dataset(self, make):
        """``make(input_context, batch_size)`` distributed with the run's strategy and global batch."""
        return self.distribution.distribute_datasets(make, self.config["training"]["batch_size"])

    def fit(self, stage, model, dataset, epochs, **kwargs):
        """``model.fit`` of one stage with the run's callbacks, unless the stage is done."""
        if self.done(stage):
            self.restore(stage, model)
            return self.progress["histories"][stage]
        history = model.fit(dataset, epochs=epochs, callbacks=self.callbacks(stage), verbose=self.verbose, **kwargs)
        self.complete(stage, model, history.history)
        return history.history

    def run_stages(self, model, stages, make_dataset, optimizer):
        """``run_curriculum`` one stage at a time with the run's callbacks; completed stages are loaded, not retrained.

        Returns:
            ``(model after the last stage, {stage name: history})``.
        """
        from avcourse.training.curriculum import run_curriculum

        histories = {}
        for stage in stages:
            if self.done(stage.name):
                # The model run_curriculum would give the stage, then the weights the stage ended with.
                variant = getattr(stage, "variant", None)
                model = model.for_stage(stage) if variant else model.with_num_clusters(stage.num_audio_clusters, stage.num_visual_clusters)
                model.compile(optimizer=optimizer(stage.learning_rate))
                self.restore(stage.name, model)
            else:
                result = run_curriculum(model, make_dataset, [stage], callbacks=self.callbacks(stage.name), optimizer=optimizer, verbose=self.verbose)
                model = result.model
                self.complete(stage.name, model, result.histories[0])
            histories[stage.name] = self.progress["histories"][stage.name]
        return model, histories

    def restore(self, stage, model):
        """Load a completed stage's final weights (optimizer state included) into ``model``."""
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(final_weights(self.root, stage))

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


def final_weights(folder, stage):
    """Path (str) of a stage's final weights in a run directory; a clear error if the stage never finished."""
    path = Path(folder) / "stages" / stage / "final.weights.h5"
    if not path.is_file():
        raise FileNotFoundError(
            f"run directory {str(folder)!r} has no final weights of stage {stage!r} ({path}); the stage has not "
            "finished: resume it with `avcourse train --config ... --run-dir` first."
        )
    return str(path)


def resolve_dir(config, folder):
    """``folder``, or by default ``<run_root>/<recipe>/<date-time>``."""
    if folder is not None:
        return Path(folder)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(config.get("run_root", "runs")) / config["recipe"] / stamp


def save_or_compare(config, folder):
    """Save the resolved config, or, resuming, check it matches the saved one."""
    path = folder / "config.yaml"
    if path.is_file():
        saved = flatten(read_yaml(path, "the run's config") or {})
        current = flatten(config)
        differing = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k) and k not in RESUMABLE_CHANGES)
        if differing:
            raise ValueError(
                f"run directory {str(folder)!r} holds a run of another config (keys {differing} differ); "
                "resume with the same config and overrides, or choose another `run_dir`."
            )
    else:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))


class Start:
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
