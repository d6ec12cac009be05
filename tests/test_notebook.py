"""The tutorials' setup line and per-epoch progress callback."""

import re

import keras
import numpy as np
import pytest

from avcourse import notebook


def test_epoch_progress_prints_one_line_per_printed_epoch_through_fit(capsys):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=5, verbose=0, callbacks=[notebook.EpochProgress("C1", every=2)])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["[C1] epoch 2/5", "[C1] epoch 4/5", "[C1] epoch 5/5"]
    assert all(re.fullmatch(r"\[C1\] epoch \d/5  loss \d+\.\d{4}  \(\d+ s\)", line) for line in lines)


@pytest.mark.parametrize(("kwargs", "match"), [({"label": 3}, "`label`"), ({"every": 0}, "`every`"), ({"every": True}, "`every`")])
def test_epoch_progress_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        notebook.EpochProgress(**kwargs)


def test_setup_prints_the_mode_first(capsys, monkeypatch):
    monkeypatch.setenv("AVCOURSE_FAST", "1")
    assert notebook.setup() is True
    assert capsys.readouterr().out.splitlines()[0].startswith("mode: fast | avcourse ")


def test_native_stderr_is_silenced_inside_the_block_and_restored_after(capfd):
    import os

    with notebook._native_stderr_silenced():  # noqa: SLF001 - the helper behind the quiet start-up
        os.write(2, b"I0000 a C++ log line\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_run_time_measures_from_setup_and_says_the_mode(capsys, monkeypatch):
    monkeypatch.setattr(notebook, "_setup_time", None)
    with pytest.raises(RuntimeError, match="setup"):
        notebook.run_time()
    monkeypatch.setenv("AVCOURSE_FAST", "0")
    notebook.setup()
    capsys.readouterr()
    seconds = notebook.run_time()
    assert 0 <= seconds < 60
    assert re.fullmatch(r"run time: \d+ s \(\d+\.\d min\) in full mode on \d+ CPU cores\n", capsys.readouterr().out)
