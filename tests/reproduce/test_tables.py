"""Result tables: markdown rendering and mean ± sd over seeds."""

import json

import numpy as np
import pytest

from avcourse import cli
from avcourse.reproduce import cavl
from avcourse.reproduce.tables import aggregate_seeds, markdown_table


def test_markdown_table_formats_floats():
    assert markdown_table([["a", "b"], ["x", 0.12345]]) == "| a | b |\n|---|---|\n| x | 0.123 |"


def test_aggregate_seeds_reports_mean_and_sample_sd_of_numbers_that_differ():
    runs = [[["method", "cIoU", "steps"], ["C1", value, 100]] for value in (0.2, 0.3, 0.7)]
    values = np.array([0.2, 0.3, 0.7])
    expected = f"{values.mean():.3f} ± {np.sqrt(((values - values.mean()) ** 2).sum() / 2):.3f}"
    assert aggregate_seeds(runs) == [["method", "cIoU", "steps"], ["C1", expected, 100]]


def test_aggregate_seeds_skips_nan_and_keeps_one_run_as_is():
    runs = [[["m", "x"], ["a", 1.0]], [["m", "x"], ["a", float("nan")]], [["m", "x"], ["a", 3.0]]]
    assert aggregate_seeds(runs)[1][1] == "2.000 ± 1.414"
    single = [["m", "x"], ["a", 0.5]]
    assert aggregate_seeds([single]) == single


def test_aggregate_seeds_keeps_constant_cells_and_joins_text_that_differs():
    runs = [[["m", "x", "steps", "note"], ["a", 0.25, 100, word]] for word in ("ok", "ok", "late")]
    assert aggregate_seeds(runs) == [["m", "x", "steps", "note"], ["a", 0.25, 100, "ok / late"]]


def test_aggregate_seeds_rejects_tables_that_do_not_line_up():
    with pytest.raises(ValueError, match="`tables` must hold at least one table"):
        aggregate_seeds([])
    with pytest.raises(ValueError, match="row labels"):
        aggregate_seeds([[["m", "x"], ["a", 1.0]], [["m", "x"], ["b", 1.0]]])


def test_reproduce_with_several_seeds_reports_mean_and_sd(monkeypatch, tmp_path):
    def fake_run(size, seed):
        table = [["method", "cIoU@0.5", "AUC"], ["C1-trained, aligned centre", 0.1 * (seed + 1), 0.5]]
        return {**{key: table for _, key in cavl.SECTIONS}, "seconds": 1.0, "recipe": {"size": size}}

    monkeypatch.setattr(cavl, "run", fake_run)
    assert cli.main(["reproduce", "cavl", "--size", "demo", "--seeds", "0", "1", "2", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "cavl.md").read_text()
    assert "--seeds 0 1 2" in text and "over 3 seeds" in text
    assert "| C1-trained, aligned centre | 0.200 ± 0.100 | 0.500 |" in text
    assert (tmp_path / "cavl.html").is_file()
    document = json.loads((tmp_path / "cavl.json").read_text())  # --out without --results-dir: next to the report
    assert document["command"] == "avcourse reproduce cavl --size demo --seeds 0 1 2"
    assert document["seeds"] == [0, 1, 2] and document["seconds_per_seed"] == [1.0, 1.0, 1.0]
    assert list(document["tables"]) == [key for _, key in cavl.SECTIONS]
    assert [entry["title"] for entry in document["tables"].values()] == [title for title, _ in cavl.SECTIONS]
    cell = document["tables"]["localization"]["rows"]["C1-trained, aligned centre"]["cIoU@0.5"]
    assert cell["per_seed"] == pytest.approx([0.1, 0.2, 0.3])
    assert cell["mean"] == pytest.approx(0.2) and cell["sd"] == pytest.approx(0.1)
