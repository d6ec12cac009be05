"""Repository-wide pytest set-up (tests/ and the nbval-run tutorials/).

``AVCOURSE_FAST=1`` makes the tutorials shrink their training to fit the test
budget (each notebook says what the full run does); nbval's kernels inherit it.
"""

import os

os.environ.setdefault("AVCOURSE_FAST", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
