"""Strategies give the single-device step: mirrored (2 logical CPUs), multi-worker (2 processes), JAX DataParallel.

Each scenario runs ``tests/training/_scale_worker.py`` in a subprocess, because
devices must be configured before TensorFlow or JAX starts. The TensorFlow
strategies run the counting recipe's smoke run (two steps of four clips), whose
loss is a mean over clips, so they must reproduce the single-device loss and
weights; JAX DataParallel runs the CAVL recipe's, whose in-batch pairs span the
global batch there.
"""

import json
import socket

import numpy as np
import pytest
from _scale import finish, max_weight_gap, start

from avcourse.training.distribute import Distribution, make_distribution, per_replica_batch_size


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    out = tmp_path_factory.mktemp("mirrored")
    finish(start("mirrored", out))
    return json.loads((out / "mirrored.json").read_text())


def test_mirrored_two_cpus_matches_one_device(mirrored):
    single, parallel = mirrored["default"], mirrored["mirrored"]
    np.testing.assert_allclose(parallel["loss"], single["loss"], rtol=0, atol=1e-5)
    assert max_weight_gap(single["run_dir"], parallel["run_dir"], "counting") < 1e-5


def test_mirrored_cavl_pairs_inside_each_replica(mirrored):
    # The in-batch mismatches pair clips inside each replica's half, and the loss is scaled per replica.
    cavl = mirrored["cavl"]
    np.testing.assert_allclose(cavl["mirrored"], cavl["mean_of_halves"], rtol=1e-5)


def test_multi_worker_two_processes_match_one_device(mirrored, tmp_path):
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("localhost", 0))
            ports.append(probe.getsockname()[1])
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = [
        start("worker", tmp_path, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
        for i in range(2)
    ]
    for process in workers:
        finish(process)
    chief = json.loads((tmp_path / "worker0.json").read_text())
    other = json.loads((tmp_path / "worker1.json").read_text())
    np.testing.assert_allclose(chief["loss"], mirrored["default"]["loss"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(other["loss"], chief["loss"], rtol=0, atol=1e-6)
    assert max_weight_gap(mirrored["default"]["run_dir"], chief["run_dir"], "counting") < 1e-5
    # only the chief writes the run directory; the other worker keeps its own checkpoints
    assert (tmp_path / "counting-multi-worker" / "workers" / "worker-1" / "stages" / "counting" / "final.weights.h5").is_file()


def test_jax_data_parallel_two_devices_matches_one_device(tmp_path):
    finish(start("jax", tmp_path, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2"))
    report = json.loads((tmp_path / "jax.json").read_text())
    single, parallel = report["cavl_default"], report["cavl_parallel"]
    # DataParallel traces the step on the global batch: CAVL's in-batch pairs span it, as on one device.
    np.testing.assert_allclose(parallel["loss"], single["loss"], rtol=0, atol=1e-5)
    assert max_weight_gap(single["run_dir"], parallel["run_dir"], "C1") < 1e-5


def test_per_replica_batch_size():
    assert per_replica_batch_size(64, 4) == 16
    assert make_distribution("default").per_replica_batch_size(8) == 8
    with pytest.raises(ValueError, match="multiple of the number of replicas \\(3\\); received 64"):
        Distribution("mirrored", 3).per_replica_batch_size(64)
    with pytest.raises(ValueError, match="`global_batch_size` must be a positive integer"):
        per_replica_batch_size(0, 2)


def test_strategy_validation(monkeypatch):
    with pytest.raises(ValueError, match="`name` must be one of"):
        make_distribution("tpu")
    with pytest.raises(ValueError, match="needs the jax Keras backend"):
        make_distribution("jax_data_parallel")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        make_distribution("multi_worker")
