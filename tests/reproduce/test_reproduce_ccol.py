"""The CCoL reproduction runs end to end at a tiny size and reports both tables."""

import dataclasses
import math

import pytest

from avcourse.reproduce import ccol
from avcourse.reproduce.tables import markdown_table


@pytest.fixture
def tiny_recipe(monkeypatch):
    tiny = dataclasses.replace(
        ccol.RECIPES["demo"],
        train_samples=4,
        test_samples=2,
        epochs=(1, 1, 1),
        batch_size=4,
        crop_size=16,
        clip_seconds=0.25,
        num_warped_bins=16,
    )
    monkeypatch.setitem(ccol.RECIPES, "demo", tiny)
    return tiny


def test_reproduce_ccol_reports_both_tables(tiny_recipe):
    messages = []
    result = ccol.run("demo", log=messages.append)
    grounding, separation = result["grounding"], result["separation"]
    assert [row[0] for row in grounding[1:]] == ["chance", "Grounding-only", "CoL", "CCoL"]
    for row in grounding[1:]:
        assert all(0.0 <= value <= 1.0 for value in row[1:])
    methods = [row[0] for row in separation[1:]]
    assert methods[:3] == ["Grounding-only", "CoL", "CCoL"] and methods[3].startswith("Oracle")
    assert methods[4] == "mixture (unprocessed)"
    for row in separation[1:]:
        assert math.isfinite(row[1]) and math.isfinite(row[2]) and row[4] == 2 * tiny_recipe.test_samples
    assert any("cyclic" in message for message in messages)
    text = markdown_table(grounding)
    assert text.startswith("| method | accuracy, single sound | accuracy, mixed sound |")
    assert [key for _, key in ccol.SECTIONS] == ["grounding", "separation"]


def test_recipes_and_unknown_size():
    assert set(ccol.RECIPES) == {"demo", "small"}
    assert ccol.decay_steps(12) == (6, 9) and ccol.decay_steps(1) == ()
    with pytest.raises(ValueError, match="`size` must be one of"):
        ccol.run(size="huge")
