"""Subprocess body of the distribution and resume tests (device setup must precede TF/JAX start).

    python _scale_worker.py MODE OUT_DIR

Modes: ``mirrored`` (two logical CPUs: default vs MirroredStrategy),
``worker`` (one MultiWorkerMirroredStrategy worker; TF_CONFIG set by the
caller), ``jax`` (two XLA host devices: default vs DataParallel) and
``resume`` (a curriculum killed in stage C2, then resumed). Each writes
``OUT_DIR/<mode>.json``; the run directories stay under ``OUT_DIR``.
"""

import json
import os
import sys
from pathlib import Path

MODE, OUT = sys.argv[1], Path(sys.argv[2])
RECIPES = Path(__file__).resolve().parents[2] / "recipes"
COUNTING = RECIPES / "counting_audioset" / "config.yaml"
CAVL = RECIPES / "cavl_audioset_curriculum" / "config.yaml"
# Two steps of four clips, in file order (shuffling would differ between a shard and the whole).
COUNTING_SMOKE = ["data.shuffle_buffer=0", "data.num_train=8", "training.batch_size=4"]
CAVL_SMOKE = ["data.shuffle_buffer=0", "training.stages=1", "training.epochs=[1]"]

if MODE == "mirrored":
    from avcourse.training.distribute import use_logical_cpus

    use_logical_cpus(2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from avcourse.training import recipes  # noqa: E402


def run(config, overrides, strategy, name, **kwargs):
    result = recipes.train(config, overrides + [f"training.strategy={strategy}"], run_dir=OUT / name, smoke=True, **kwargs)
    return {"loss": [value for history in result["histories"].values() for value in history["loss"]], "run_dir": str(result["run_dir"])}


def cavl_replica_check():
    """CAVL under MirroredStrategy: its loss is the mean of the replicas' losses on their halves."""
    import tensorflow as tf

    from avcourse.models import CAVLModel
    from avcourse.training.distribute import make_distribution

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    batch = {"image": rng.random((4, 32, 32, 3), "float32"), "audio": rng.random((4, 32, 22, 1), "float32")}
    kwargs = dict(audio_shape=(32, 22, 1), image_shape=(32, 32, 3), embedding_dim=8, init="farthest", num_audio_clusters=2)
    single = CAVLModel("small_audio", "small_visual", **kwargs)
    single(batch)

    def loss_of(part):
        return float(single.compute_loss(y_pred=single(part)))

    halves = [loss_of({k: v[:2] for k, v in batch.items()}), loss_of({k: v[2:] for k, v in batch.items()})]
    distribution = make_distribution("mirrored")
    with distribution.scope():
        mirrored = CAVLModel("small_audio", "small_visual", **kwargs)
        mirrored(batch)
        mirrored.set_weights(single.get_weights())
        mirrored.compile()
    scores = mirrored.evaluate(tf.data.Dataset.from_tensors(batch), verbose=0, return_dict=True)
    return {"mirrored": scores["loss"], "mean_of_halves": float(np.mean(halves)), "whole_batch": loss_of(batch)}


if MODE == "mirrored":
    report = {
        "default": run(COUNTING, COUNTING_SMOKE, "default", "counting-default"),
        "mirrored": run(COUNTING, COUNTING_SMOKE, "mirrored", "counting-mirrored"),
        "cavl": cavl_replica_check(),
    }
elif MODE == "worker":
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    report = run(COUNTING, COUNTING_SMOKE, "multi_worker", "counting-multi-worker")
    MODE = f"worker{index}"
elif MODE == "jax":
    report = {
        "cavl_default": run(CAVL, CAVL_SMOKE, "default", "jax-cavl-default"),
        "cavl_parallel": run(CAVL, CAVL_SMOKE, "jax_data_parallel", "jax-cavl-parallel"),
    }
elif MODE == "resume":
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    # Two stages, C2 of two epochs of one batch; killed after the batch of C2's second epoch.
    overrides = ["data.shuffle_buffer=0", "data.num_train=4", "training.stages=2", "training.epochs=[1,2]"]

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.model.num_audio_clusters == 2 and self.epoch == 1 and batch == 0:
                raise KeyboardInterrupt("killed in stage C2, epoch 2")

    report = {"uninterrupted": run(CAVL, overrides, "default", "uninterrupted")}
    try:
        run(CAVL, overrides, "default", "interrupted", callbacks=[Kill()])
        report["killed"] = False
    except KeyboardInterrupt:
        report["killed"] = True
    progress = json.loads((OUT / "interrupted" / "progress.json").read_text())
    backup = OUT / "interrupted" / "stages" / "C2" / "backup" / "training_metadata.json"
    report["after_kill"] = {"completed": progress["completed"], "backup": json.loads(backup.read_text())}
    report["resumed"] = run(CAVL, overrides, "default", "interrupted")
else:
    raise SystemExit(f"unknown mode {MODE!r}")

(OUT / f"{MODE}.json").write_text(json.dumps(report))
