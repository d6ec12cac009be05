"""Helpers of the distribution and resume tests: run ``_scale_worker.py`` and read weights files."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

WORKER = Path(__file__).with_name("_scale_worker.py")
SRC = str(Path(__file__).resolve().parents[2] / "src")


def start(mode, out, **env):
    """Start ``_scale_worker.py MODE OUT`` with ``src`` importable and extra environment variables."""
    base = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "TF_CPP_MIN_LOG_LEVEL": "2"}
    base.pop("TF_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, str(out)], env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(process, timeout=300):
    """Wait for a worker; fail with the end of its output if it failed."""
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]


def weights(run_dir, stage):
    """Every array of a stage's final weights file (model and optimizer), by its path in the file."""
    arrays = {}

    def keep(name, item):
        if isinstance(item, h5py.Dataset):
            arrays[name] = item[()]

    with h5py.File(Path(run_dir) / "stages" / stage / "final.weights.h5", "r") as file:
        file.visititems(keep)
    return arrays


def max_weight_gap(first, second, stage):
    """Largest absolute difference between two runs' final weights of a stage."""
    a, b = weights(first, stage), weights(second, stage)
    assert a.keys() == b.keys() and a
    return max(float(np.max(np.abs(np.asarray(a[k], float) - np.asarray(b[k], float)), initial=0.0)) for k in a)
