"""The machine line every benchmark prints above its table (run scripts from bench/'s parent)."""

import os
import platform


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
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    libraries = ", ".join(f"{name} {version}" for name, version in versions.items())
    return f"{cores} cores ({model}), 1-min load {load:.1f}, Python {platform.python_version()}, {libraries}"
