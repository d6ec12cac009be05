"""The CCoL reproduction runs end to end at a tiny size and reports its three tables."""

import dataclasses
import math

import pytest

from avcourse.reproduce import ccol, results
from avcourse.reproduce.tables import markdown_table


@pytest.fixture
def tiny_recipe(monkeypatch):
    tiny = dataclasses.replace(
        ccol.RECIPES["demo"],
        train_samples=4,
        test_samples=2,
        epochs=(1, 1, 1),
        batch_size=4,
        image_size=64,
        crop_size=16,
        clip_seconds=0.25,
        num_warped_bins=16,
        object_pretrain_samples=2,
        object_pretrain_epochs=1,
        audio_pretrain_clips=4,
        audio_pretrain_epochs=1,
        cycle_samples=2,
    )
    monkeypatch.setitem(ccol.RECIPES, "demo", tiny)
    return tiny


def test_reproduce_ccol_reports_its_tables(tiny_recipe):
    messages = []
    result = ccol.run("demo", log=messages.append)
    grounding, separation, cycle = result["grounding"], result["separation"], result["cycle"]
    assert grounding[0] == ["method", "single", "mixed"]
    assert [row[0] for row in grounding[1:]] == ["Grounding-only", "CoL", "CCoL"]
    for row in grounding[1:]:
        assert all(0.0 <= value <= 1.0 for value in row[1:])
    assert separation[0] == ["method", "sdr"]
    assert [row[0] for row in separation[1:]] == ["Grounding-only", "CoL", "CCoL", ccol.ORACLE, "mixture"]
    assert all(math.isfinite(row[1]) for row in separation[1:])
    # One cycle row per epoch of co-learning and of the cyclic stage.
    assert [row[0] for row in cycle[1:]] == ["co-learning 1", "cyclic 1"]
    assert all(0.0 <= value <= 1.0 for row in cycle[1:] for value in row[1:])
    assert set(result["pretraining"]) == {"object", "audio"}
    assert any("cyclic" in message for message in messages) and any("oracle" in message for message in messages)
    assert markdown_table(grounding).startswith("| method | single | mixed |")
    assert [key for _, key in ccol.SECTIONS] == ["grounding", "separation", "cycle"]
    document = results.aggregate([result], ccol.SECTIONS)
    assert list(document["separation"]["rows"]) == ["Grounding-only", "CoL", "CCoL", "Oracle (trained with true gates)", "mixture"]


def test_recipes_and_arguments():
    assert set(ccol.RECIPES) == {"demo", "small"}
    assert ccol.decay_steps(12) == (6, 9) and ccol.decay_steps(1) == ()
    small = ccol.RECIPES["small"]
    config = small.model_config()
    assert config["freeze_object_net"] and config["audio_pool"] == "average"
    assert small.image_size == 128  # the world's default layout
    with pytest.raises(ValueError, match="`size` must be one of"):
        ccol.run(size="huge")
    with pytest.raises(ValueError, match="`held_out` must be one of"):
        ccol.run(size="demo", held_out="train")


@pytest.mark.parametrize("audio_pool", ["max", "average"])
def test_pretraining_pools_each_net_as_it_pools_for_grounding(tiny_recipe, monkeypatch, audio_pool):
    pooled = {}
    original = ccol.pretrain_trunk

    def recording_pretrain_trunk(trunk, dataset, *, modality, pooling, **kwargs):
        pooled[modality] = pooling
        return original(trunk, dataset, modality=modality, pooling=pooling, **kwargs)

    monkeypatch.setattr(ccol, "pretrain_trunk", recording_pretrain_trunk)
    recipe = dataclasses.replace(tiny_recipe, audio_pool=audio_pool)
    model, accuracies = ccol.pretrained_model(recipe, log=lambda message: None)
    assert pooled == {"image": "max", "audio": audio_pool}
    assert model.audio_pool == audio_pool and set(accuracies) == {"object", "audio"}
