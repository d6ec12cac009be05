"""The avcourse command line."""

import dataclasses
import subprocess
import sys
from pathlib import Path

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

@dataclasses.dataclass(frozen=True)
class FakeRecipe:
    epochs: tuple = (1, 1)
    rate: float = 1e-3


def _fake_reproduction(monkeypatch, task="separation"):
    """Put a fake ``avcourse.reproduce.<task>`` in place: one named table and one list-of-rows table."""
    import types

    module = types.ModuleType(f"avcourse.reproduce.{task}")
    module.SECTIONS = [("Separation (fake)", "separation"), ("Timing (fake)", "timing")]
    module.RECIPES = {"demo": FakeRecipe(), "small": FakeRecipe(epochs=(4, 2))}
    module.calls = []

    def run(size, seed):
        from avcourse.reproduce.results import table

        module.calls.append((size, seed))
        separation = table(["method", "SDR", "scored"], {"model": [1.0 + seed, 8], "mixture": {"scored": 8, "SDR": 0.0}})
        timing = [["stage", "steps"], ["fit", 10 * (seed + 1)]]  # the old list-of-rows form
        return {"separation": separation, "timing": timing, "seconds": 2.0, "recipe": {}}

    module.run = run
    monkeypatch.setitem(sys.modules, f"avcourse.reproduce.{task}", module)
    return module


def test_reproduce_writes_the_results_document_and_renders_it(tmp_path, monkeypatch):
    import json

    from avcourse.reproduce import results
    from avcourse.reproduce.tables import markdown_table

    module = _fake_reproduction(monkeypatch)
    arguments = ["reproduce", "separation", "--size", "demo", "--seeds", "0", "2"]
    assert cli.main(arguments + ["--out", str(tmp_path / "out"), "--results-dir", str(tmp_path / "res")]) == 0
    assert module.calls == [("demo", 0), ("demo", 2)]
    assert not (tmp_path / "out" / "separation.json").exists()
    document = json.loads((tmp_path / "res" / "separation.json").read_text())
    assert list(document) == ["command", "commit", "seeds", "size", "seconds_per_seed", "tables", "commit_per_seed", "recipe"]
    assert document["recipe"] == {"epochs": [1, 1], "rate": 1e-3}
    assert document["commit_per_seed"] == [document["commit"]] * 2
    assert document["command"] == "avcourse reproduce separation --size demo --seeds 0 2"
    assert document["seeds"] == [0, 2] and document["size"] == "demo" and document["seconds_per_seed"] == [2.0, 2.0]
    assert document["tables"]["separation"] == {
        "title": "Separation (fake)",
        "columns": ["method", "SDR", "scored"],
        "rows": {
            "model": {
                "SDR": {"mean": 2.0, "sd": 2**0.5, "per_seed": [1.0, 3.0]},
                "scored": {"mean": 8.0, "sd": 0.0, "per_seed": [8, 8]},
            },
            "mixture": {
                "SDR": {"mean": 0.0, "sd": 0.0, "per_seed": [0.0, 0.0]},
                "scored": {"mean": 8.0, "sd": 0.0, "per_seed": [8, 8]},
            },
        },
    }
    markdown = (tmp_path / "out" / "separation.md").read_text()
    for key in ("separation", "timing"):  # the markdown report is a view of the same document
        assert markdown_table(results.results_table(document, key)) in markdown
    assert "| model | 2.000 ± 1.414 | 8 |" in markdown and "| fit | 20.000 ± 14.142 |" in markdown
    assert "Mean ± standard deviation over 2 seeds." in markdown
    assert "Separation (fake)" in (tmp_path / "out" / "separation.html").read_text()


def test_reproduce_keeps_the_finished_seeds_when_a_later_seed_fails(tmp_path, monkeypatch):
    import json

    module = _fake_reproduction(monkeypatch)
    finish_seed = module.run

    def run(size, seed):
        if seed == 2:
            raise KeyboardInterrupt  # a multi-seed run stopped by hand during its second seed
        return finish_seed(size, seed)

    module.run = run
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["reproduce", "separation", "--size", "demo", "--seeds", "0", "2", "--results-dir", str(tmp_path)])
    document = json.loads((tmp_path / "separation.json").read_text())
    assert document["command"] == "avcourse reproduce separation --size demo --seeds 0" and document["seeds"] == [0]
    assert document["tables"]["separation"]["rows"]["model"]["SDR"] == {"mean": 1.0, "sd": None, "per_seed": [1.0]}


def test_reproduce_resume_keeps_the_seeds_of_the_same_recipe_and_runs_the_others(tmp_path, monkeypatch, capsys):
    import json

    module = _fake_reproduction(monkeypatch)
    monkeypatch.chdir(tmp_path)  # the markdown and HTML reports go to ./avcourse-reproduce
    arguments = ["reproduce", "separation", "--size", "demo", "--results-dir", str(tmp_path)]
    assert cli.main(arguments + ["--seeds", "0"]) == 0
    first = json.loads((tmp_path / "separation.json").read_text())
    first["commit_per_seed"] = ["an earlier commit"]  # seed 0 ran at another commit of the same recipe
    (tmp_path / "separation.json").write_text(json.dumps(first))
    module.calls.clear()
    assert cli.main(arguments + ["--seeds", "0", "2", "--resume"]) == 0
    assert module.calls == [("demo", 2)]  # seed 0 kept, seed 2 run
    assert "seed 0: kept from" in capsys.readouterr().out
    document = json.loads((tmp_path / "separation.json").read_text())
    assert document["command"] == "avcourse reproduce separation --size demo --seeds 0 2" and document["seeds"] == [0, 2]
    assert document["commit_per_seed"] == ["an earlier commit", document["commit"]]
    assert document["tables"]["separation"]["rows"]["model"]["SDR"] == {"mean": 2.0, "sd": 2**0.5, "per_seed": [1.0, 3.0]}
    assert document["tables"]["timing"]["rows"]["fit"]["steps"]["per_seed"] == [10, 30]
    assert document["seconds_per_seed"] == [2.0, 2.0]

    # Another recipe (here: another size's) keeps nothing.
    module.calls.clear()
    assert cli.main(["reproduce", "separation", "--size", "small", "--seeds", "0", "--resume", "--results-dir", str(tmp_path)]) == 0
    assert module.calls == [("small", 0)]
    assert "another size or recipe" in capsys.readouterr().out


def test_reproduce_writes_results_under_the_current_directory_by_default(tmp_path, monkeypatch):
    import json

    _fake_reproduction(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["reproduce", "separation", "--size", "demo", "--seed", "4"]) == 0
    document = json.loads((tmp_path / "results" / "separation.json").read_text())
    assert document["command"] == "avcourse reproduce separation --size demo --seed 4" and document["seeds"] == [4]
    assert document["tables"]["timing"]["rows"]["fit"]["steps"] == {"mean": 50.0, "sd": None, "per_seed": [50]}
    assert "| model | 5.000 | 8 |" in (tmp_path / "avcourse-reproduce" / "separation.md").read_text()


def test_reproduce_help_names_the_results_folder(capsys):
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--help"])
    assert "--results-dir" in capsys.readouterr().out


@pytest.mark.parametrize("flags", [[], ["--cache-dir", "chosen"], ["--no-cache"]])
def test_reproduce_runs_each_seed_inside_its_cache_directory(tmp_path, monkeypatch, flags):
    from avcourse.reproduce import cache

    module = _fake_reproduction(monkeypatch)
    computed = []

    def run(size, seed):
        # A reproduction seeds itself, then caches its repeated work through cache.memoize.
        import keras

        keras.utils.set_random_seed(seed)
        cache.memoize("fake", {"seed": seed}, lambda folder: computed.append(folder) or "value", str(tmp_path / "plain"))
        return {"separation": [["method", "SDR"], ["model", 1.0]], "timing": [["stage", "steps"], ["fit", 1]], "seconds": 1.0, "recipe": {}}

    module.run = run
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AVCOURSE_CACHE_DIR", str(tmp_path / "default"))
    arguments = ["reproduce", "separation", "--size", "demo", "--seeds", "0", "1", *flags]
    assert cli.main(arguments) == 0 and cli.main(arguments) == 0
    if flags == ["--no-cache"]:
        assert computed == [str(tmp_path / "plain")] * 4
        assert not (tmp_path / "default").exists()
    else:
        folder = tmp_path / ("chosen" if flags else "default")
        assert len(computed) == 2 and all(Path(f).parent == folder for f in computed)  # the second run read both
        assert len([entry for entry in folder.iterdir() if entry.name.startswith("fake-")]) == 2
