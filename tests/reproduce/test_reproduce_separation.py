"""The separation reproduction runs end to end at a tiny size and reports every row."""

import dataclasses
import math
import re

import pytest

from avcourse import cli
from avcourse.reproduce import cavl, separation

ROWS = (
    "Model-Center",
    "Model-Mask",
    "oracle-box",
    "ideal ratio mask, network grid",
    "ideal ratio mask (512 bins)",
    "ideal binary mask (512 bins)",
    "NMF-MFCC",
    "mixture (unprocessed)",
)


@pytest.fixture
def tiny_recipe(monkeypatch):
    tiny_cavl = dataclasses.replace(cavl.RECIPES["demo"], train_scenes=16, batch_size=8, image_size=32, epochs_per_stage=(1, 1, 1))
    tiny = dataclasses.replace(
        separation.RECIPES["demo"], cavl=tiny_cavl, train_mixtures=8, test_mixtures=2, epochs=1, batch_size=4, nmf_components=4
    )
    monkeypatch.setitem(separation.RECIPES, "demo", tiny)
    return tiny


def test_reproduce_separation_reports_every_row(tiny_recipe, tmp_path):
    assert cli.main(["reproduce", "separation", "--size", "demo", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "separation.md").read_text()
    assert (tmp_path / "separation.html").is_file()
    lines = [line for line in text.splitlines() if line.startswith("| ")][1:]  # data rows of the table
    assert len(lines) == len(ROWS)
    for row in ROWS:
        (line,) = [line for line in lines if row in line]
        cells = [cell.strip() for cell in line.strip("|").split("|")][1:]
        sdr, sir, sar, scored, fraction = cells
        values = [sdr, sir, fraction] if row == "mixture (unprocessed)" else [sdr, sir, sar, fraction]
        for value in values:  # the mixture's SAR is (nearly) infinite: nothing but the mixture is in it
            assert re.fullmatch(r"-?\d+\.\d{3}", value) and math.isfinite(float(value)), (row, value)
        assert int(scored) == 2 * tiny_recipe.test_mixtures
    fractions = {line.split("|")[1].strip(): float(line.split("|")[-2]) for line in lines}
    assert fractions["mixture (unprocessed)"] == 0.0
    assert fractions["ideal ratio mask, network grid (learned model's ceiling)"] == 1.0


def test_unknown_size_is_rejected():
    with pytest.raises(ValueError, match="`size` must be one of"):
        separation.run(size="huge")
