"""The CAVL reproduction runs end to end at a tiny size and reports every table."""

import dataclasses

import pytest

from avcourse import cli
from avcourse.reproduce import cavl


@pytest.fixture
def tiny_recipe(monkeypatch):
    tiny = dataclasses.replace(
        cavl.RECIPES["demo"], train_scenes=16, test_scenes=8, batch_size=8, counting_scenes=16, image_size=32
    )
    monkeypatch.setitem(cavl.RECIPES, "demo", tiny)
    return tiny


def test_reproduce_cavl_writes_all_tables(tiny_recipe, tmp_path):
    assert cli.main(["reproduce", "cavl", "--size", "demo", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "cavl.md").read_text()
    for row in ("C1-trained, aligned centre", "C1-trained, unaligned centre", "whole image", "centre prior", "random",
                "curriculum C1→C2→C3", "no curriculum", "curriculum-trained audio trunk"):
        assert row in text
    assert (tmp_path / "cavl.html").is_file()




def test_unknown_size_is_rejected():
    with pytest.raises(ValueError, match="`size` must be one of"):
        cavl.run(size="huge")
