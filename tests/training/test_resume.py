"""A curriculum killed in the middle of stage C2 resumes at C2, at the right epoch, with the right weights.

The run happens in a subprocess (``_scale_worker.py resume``) with
``tf.config.experimental.enable_op_determinism``: an uninterrupted run of
C1 (one epoch) then C2 (two epochs), and the same run killed by a callback
after the first batch of C2's second epoch, then started again in the same
run directory.
"""

import json

import numpy as np

from _scale import finish, start, weights


def test_killed_curriculum_resumes_to_the_same_weights(tmp_path):
    finish(start("resume", tmp_path))
    report = json.loads((tmp_path / "resume.json").read_text())
    assert report["killed"]
    # The kill left C1 recorded as complete and C2's backup at the end of its first epoch.
    assert report["after_kill"] == {"completed": ["C1"], "backup": {"epoch": 1, "batch": 0}}
    uninterrupted, resumed = report["uninterrupted"], report["resumed"]
    # C1 was not retrained and C2 ran its second epoch only, with the same loss.
    assert len(uninterrupted["loss"]) == 3 and len(resumed["loss"]) == 2
    np.testing.assert_allclose(resumed["loss"], [uninterrupted["loss"][0], uninterrupted["loss"][2]], rtol=0, atol=1e-7)
    progress = json.loads((tmp_path / "interrupted" / "progress.json").read_text())
    assert progress["completed"] == ["C1", "C2"]
    assert not (tmp_path / "interrupted" / "stages" / "C2" / "backup").exists()
    for stage in ("C1", "C2"):
        expected, actual = weights(uninterrupted["run_dir"], stage), weights(resumed["run_dir"], stage)
        assert expected.keys() == actual.keys()
        for key in expected:
            np.testing.assert_array_equal(actual[key], expected[key], err_msg=f"{stage}: {key}")
    assert sorted(p.name for p in (tmp_path / "interrupted" / "stages" / "C2" / "checkpoints").iterdir()) == [
        "epoch-001.weights.h5",
        "epoch-002.weights.h5",
    ]
    assert any((tmp_path / "interrupted" / "logs" / "C2").rglob("*tfevents*"))
