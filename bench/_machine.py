"""What every benchmark shares: thread pinning and the machine line above its table (run scripts from bench/'s parent)."""

import os
import platform
import time


def load_average():
    """The 1-minute load average (NaN where the system has none): benchmarks print it before and after."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def machine_line(versions):
    """Cores, CPU model, 1-minute load and Python, then ``name version`` for each entry of ``versions``."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = load_average()
    libraries = ", ".join(f"{name} {version}" for name, version in versions.items())
    return f"{cores} cores ({model}), 1-min load {load:.1f}, Python {platform.python_version()}, {libraries}"


def limit_threads(threads):
    """Pin numpy's BLAS/OpenMP and TensorFlow to ``threads`` threads each (0: leave the libraries' defaults).

    Call it before numpy is imported: the BLAS reads its variables once, at import.

    Returns:
        the setting in words, for the benchmark's header.
    """
    if not threads:
        return "library-default threads"
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return f"{threads} thread(s) per library"


def timed(functions, repeats):
    """Wall times of ``repeats`` calls of each function, the functions' calls alternating."""
    times = [[] for _ in functions]
    for _ in range(repeats):
        for function, record in zip(functions, times):
            started = time.perf_counter()
            function()
            record.append(time.perf_counter() - started)
    return times
