"""The avcourse command line."""

import subprocess
import sys

import pytest

from avcourse import cli


def test_demo_writes_a_self_contained_report(tmp_path):
    assert cli.main(["demo", "--out", str(tmp_path / "out"), "--num-scenes", "2", "--image-size", "64", "--no-training"]) == 0
    report = (tmp_path / "out" / "report.html").read_text()
    assert report.count("<audio controls") >= 2 + 2 * 3  # mixtures plus true and ideal-mask sources
    assert report.count("data:image/png;base64") == 2
    assert "http" not in report.split("<body>")[1]  # nothing fetched when opened


@pytest.mark.parametrize("command", [[], ["demo"]])
def test_help_is_available_for_every_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(command + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: avcourse" in capsys.readouterr().out


def test_console_script_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "avcourse.cli", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "demo" in result.stdout


def test_bad_arguments_exit_with_a_message(capsys):
    assert cli.main(["demo", "--num-scenes", "0"]) == 2
    assert "--num-scenes must be >= 1" in capsys.readouterr().err


def test_reproduce_help_lists_the_tasks(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["reproduce", "--help"])
    assert exit_info.value.code == 0
    assert "cavl" in capsys.readouterr().out


def test_demo_trains_the_miniature_cavl_reproduction(tmp_path, monkeypatch):
    import dataclasses

    from avcourse.reproduce import cavl

    tiny = dataclasses.replace(cavl.RECIPES["demo"], train_scenes=16, test_scenes=8, batch_size=8, counting_scenes=16, image_size=32)
    monkeypatch.setitem(cavl.RECIPES, "demo", tiny)
    assert cli.main(["demo", "--out", str(tmp_path), "--num-scenes", "1", "--image-size", "64"]) == 0
    report = (tmp_path / "report.html").read_text()
    assert "CAVL in miniature" in report and "C1-trained, aligned centre" in report
