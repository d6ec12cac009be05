"""The reproduction cache: a read result, and everything drawn after it, equal what computing it gives."""

import random
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from avcourse.reproduce import cache


def _draws():
    """One number from every global random source a reproduction uses."""
    return (
        random.random(),
        float(np.random.rand()),
        float(tf.random.uniform(())),  # no op seed: TensorFlow draws one from its global generator
    )


class _Work:
    """A computation that writes a file, draws random numbers and counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, folder):
        self.calls += 1
        Path(folder).mkdir(parents=True, exist_ok=True)
        path = Path(folder) / "weights.txt"
        path.write_text("trained")
        return {"path": str(path), "draws": _draws(), "nested": [str(path), 3]}


def _run(work, folder, key=None, seed=1):
    keras.utils.set_random_seed(seed)
    value = cache.memoize("work", key or {"a": 1}, work, folder, log=lambda message: None)
    return value, _draws()


def test_without_a_directory_it_computes_in_the_given_folder(tmp_path):
    work = _Work()
    value, _ = _run(work, str(tmp_path))
    _run(work, str(tmp_path))
    assert work.calls == 2
    assert value["path"] == str(tmp_path / "weights.txt")
    assert not any(p.name.startswith("work-") for p in tmp_path.iterdir())


def test_a_read_result_and_the_draws_after_it_equal_the_computed_ones(tmp_path):
    work = _Work()
    uncached_value, uncached_after = _run(work, str(tmp_path / "plain"))
    with cache.directory(tmp_path / "cache"):
        stored_value, stored_after = _run(work, str(tmp_path / "unused"))
        read_value, read_after = _run(work, str(tmp_path / "unused"))
    assert work.calls == 2  # plain, then the store; the third call read it
    # The reference is the run without any cache: same draws inside and after.
    assert stored_value["draws"] == uncached_value["draws"] == read_value["draws"]
    assert stored_after == uncached_after
    assert read_after == uncached_after
    # Paths point into the entry, and survive the round trip in nested containers.
    (entry,) = (tmp_path / "cache").iterdir()
    assert read_value["path"] == str(entry / "weights.txt") == read_value["nested"][0]
    assert Path(read_value["path"]).read_text() == "trained"
    assert not (tmp_path / "unused").exists()


@pytest.mark.parametrize("change", ["key", "seed", "code"])
def test_another_key_random_state_or_code_computes_again(tmp_path, monkeypatch, change):
    work = _Work()
    with cache.directory(tmp_path):
        _run(work, None)
        if change == "code":
            monkeypatch.setattr(cache, "code_fingerprint", lambda: "edited sources")
        _run(work, None, key={"a": 2} if change == "key" else None, seed=2 if change == "seed" else 1)
    assert work.calls == 2
    assert len(list(tmp_path.iterdir())) == 2


def test_a_failed_computation_leaves_no_entry(tmp_path):
    def failing(folder):
        (Path(folder) / "half.txt").write_text("half")
        raise RuntimeError("stopped")

    with cache.directory(tmp_path):
        with pytest.raises(RuntimeError):
            cache.memoize("work", {}, failing, None, log=lambda message: None)
        assert list(tmp_path.iterdir()) == []
        work = _Work()
        _run(work, None)
        _run(work, None)
    assert work.calls == 1


def test_the_directory_is_set_only_inside_the_block(tmp_path):
    work = _Work()
    with cache.directory(tmp_path):
        with cache.directory(None):
            _run(work, str(tmp_path / "plain"))
        _run(work, None)
    _run(work, str(tmp_path / "plain"))
    assert work.calls == 3
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("work-")]) == 1


def test_default_directory_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AVCOURSE_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.default_directory() == tmp_path / "mine"
    monkeypatch.delenv("AVCOURSE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_directory() == tmp_path / "xdg" / "avcourse"


def test_a_c1_model_on_cached_trunks_equals_one_on_computed_trunks(tmp_path):
    """The separation reproduction's CAVL model, its trunks pretrained, then read from the cache."""
    from avcourse.reproduce import cavl, separation

    recipe = separation.RECIPES["demo"].cavl
    computed = cavl.train_c1_model(recipe, seed=3, log=lambda message: None)
    messages = []
    with cache.directory(tmp_path):
        cavl.train_c1_model(recipe, seed=3, log=messages.append)
        read = cavl.train_c1_model(recipe, seed=3, log=messages.append)
    assert [m.split(":")[1].split()[0] for m in messages] == ["stored", "read"]
    for expected, received in zip(computed.get_weights(), read.get_weights(), strict=True):
        np.testing.assert_array_equal(received, expected)


def test_the_separation_reproduction_pretrains_the_cavl_reproductions_trunks():
    """Same recipe (and both seed themselves the same way), so a separation run reads what a CAVL run stored."""
    from avcourse.reproduce import cavl, separation

    assert separation.RECIPES["small"].cavl == cavl.RECIPES["small"]
