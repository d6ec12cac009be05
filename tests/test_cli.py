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


def test_demo_reports_every_miniature_reproduction(tmp_path, monkeypatch):
    # Each reproduction's real run is tested at a tiny size in tests/reproduce/; here only the demo's wiring.
    import importlib

    calls = []
    for task, _ in cli.DEMO_REPRODUCTIONS:
        module = importlib.import_module(f"avcourse.reproduce.{task}")

        def fake_run(size, seed, task=task, module=module):
            calls.append((task, size, seed))
            return {key: [["method", "score"], [f"{task} row", 0.5]] for _, key in module.SECTIONS}

        monkeypatch.setattr(module, "run", fake_run)
    assert cli.main(["demo", "--out", str(tmp_path), "--num-scenes", "1", "--image-size", "64", "--seed", "3"]) == 0
    assert calls == [("cavl", "demo", 3), ("separation", "demo", 3), ("ccol", "demo", 3)]
    report = (tmp_path / "report.html").read_text()
    for title in ("CAVL in miniature", "Visually guided separation in miniature", "CCoL in miniature"):
        assert title in report
    assert "ccol row" in report and "Separation of held-out mixtures (cf. CCoL Table 2)" in report