"""Bad input at the command line and in ``avcourse prepare`` (issue 14, items 2 and 3).

The CLI ends every user error with one line ``avcourse: error: ...`` on stderr
and exit status 2 (``--traceback`` shows the trace), checks overrides against
the recipe's types before anything is written, and leaves no half-made run
directory. ``prepare`` verifies every finished shard's SHA-256 before reusing
it, rebuilds a damaged one byte for byte, reports corrupt media with their
paths, and writes the same bytes whatever ``PYTHONHASHSEED`` is.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from avcourse import cli
from avcourse.data import flickr, indexing, music, prepare
from avcourse.training import recipes
from avcourse.training.recipes import config as recipe_config

ROOT = Path(__file__).resolve().parents[2]
COUNTING = ROOT / "recipes" / "counting_audioset" / "config.yaml"
RATE = 11025


# --------------------------------------------------------------------------- helpers


def _tone(seconds, frequency):
    return (0.4 * np.sin(2 * np.pi * frequency * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def make_esc50(root, num_clips=4, seconds=0.1):
    """A fake ESC-50 download: meta/esc50.csv and short wavs."""
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    rows = []
    for index in range(num_clips):
        filename = f"{index % 5 + 1}-{1000 + index}-A-{index % 3}.wav"
        rows.append(f"{filename},{index % 5 + 1},{index % 3},{('dog', 'rain', 'rooster')[index % 3]},False,{1000 + index},A")
        soundfile.write(root / "audio" / filename, _tone(seconds, 200 + 50 * index), RATE)
    (root / "meta" / "esc50.csv").write_text("filename,fold,target,category,esc10,src_file,take\n" + "\n".join(rows) + "\n")
    return root


def shard_bytes(folder):
    return {path.name: path.read_bytes() for path in sorted(Path(folder).glob("*.tfrecord"))}


def run_prepare(root, output, **kwargs):
    return prepare.prepare("esc50", root, output, num_workers=0, shard_size=2, progress=False, **kwargs)


def run_cli(argv, capsys):
    """``avcourse ARGV`` in this process: (exit status, stderr lines)."""
    status = cli.main([str(arg) for arg in argv])
    return status, capsys.readouterr().err.strip().splitlines()


def assert_one_line_error(status, lines, fragment):
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("avcourse: error: "), lines
    assert fragment in lines[0]


@pytest.fixture(scope="module")
def esc50_root(tmp_path_factory):
    return make_esc50(tmp_path_factory.mktemp("esc50"))


@pytest.fixture(scope="module")
def reference(esc50_root, tmp_path_factory):
    """Shards of a clean run (2 shards of 2 clips): what every repaired run must reproduce byte for byte."""
    output = tmp_path_factory.mktemp("reference")
    run_prepare(esc50_root, output)
    return shard_bytes(output)


@pytest.fixture
def prepared(esc50_root, tmp_path):
    output = tmp_path / "shards"
    run_prepare(esc50_root, output)
    return output


# Three `python -m avcourse.cli` processes, started together at the first use (TensorFlow's import
# dominates each): two runs of prepare from scratch with different PYTHONHASHSEED, and a user error.
@pytest.fixture(scope="module")
def subprocesses(esc50_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("subprocesses")
    commands = {
        seed: ["prepare", "esc50", "--root", esc50_root, "--output", folder / f"seed{seed}", "--workers", "0", "--shard-size", "2", "--quiet"]
        for seed in ("0", "12345")
    }
    commands["error"] = ["train", "--config", COUNTING, "--smoke", "training.epochs=abc"]
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", "avcourse.cli", *map(str, arguments)],
            cwd=folder,
            env={**os.environ, "PYTHONHASHSEED": name if name != "error" else "0"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, arguments in commands.items()
    }
    results = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=300)
        results[name] = (process.returncode, out, err)
    return folder, results


# --------------------------------------------------------------------------- CLI: one line, exit 2, nothing written


def _broken_yaml(tmp_path):
    path = tmp_path / "broken" / "config.yaml"
    path.parent.mkdir()
    path.write_text(COUNTING.read_text().replace("  batch_size: 32", "  batch_size: [32"))
    return ["train", "--config", path]


def _list_yaml(tmp_path):
    path = tmp_path / "list" / "config.yaml"
    path.parent.mkdir()
    path.write_text("- task\n- seed\n")
    return ["train", "--config", path]


def _train(*overrides):
    return lambda tmp_path: ["train", "--config", COUNTING, "--smoke", "--run-dir", tmp_path / "run", *overrides]


def _evaluate_missing(tmp_path):
    return ["evaluate", "--run-dir", tmp_path / "run"]


def _evaluate_without_config(tmp_path):
    (tmp_path / "run").mkdir()
    return ["evaluate", "--run-dir", tmp_path / "run"]


def _evaluate_broken_config(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("task: counting\ndata: {source: [synthetic\n")
    return ["evaluate", "--run-dir", tmp_path / "run"]


def _evaluate_unfinished(tmp_path):
    (tmp_path / "run").mkdir()
    config = recipes.load_recipe(COUNTING, smoke=True)
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return ["evaluate", "--run-dir", tmp_path / "run"]


def _prepare_missing_root(tmp_path):
    return ["prepare", "esc50", "--root", tmp_path / "absent", "--output", tmp_path / "run", "--quiet"]


def _prepare_bad_shard_size(tmp_path):
    make_esc50(tmp_path / "esc50", num_clips=1)
    return ["prepare", "esc50", "--root", tmp_path / "esc50", "--output", tmp_path / "run", "--shard-size", "0", "--quiet"]


def _prepare_broken_manifest(tmp_path):
    make_esc50(tmp_path / "esc50", num_clips=1)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / prepare.MANIFEST_NAME).write_text('{"plan": "x", "shards": {')
    return ["prepare", "esc50", "--root", tmp_path / "esc50", "--output", tmp_path / "out", "--quiet"]


@pytest.mark.parametrize(
    "make_argv, fragment",
    [
        (_broken_yaml, "is not valid YAML at line"),
        (_list_yaml, "must hold a YAML mapping"),
        (lambda tmp_path: ["train", "--config", tmp_path / "absent.yaml"], "does not exist; expected recipes/<task>/config.yaml"),
        (_train("training.batch_sise=8"), "unknown config key 'training.batch_sise'"),
        (_train("training.batch_size"), "must look like 'dotted.key=value'"),
        (_train("training.epochs=abc"), "`training.epochs` must be an integer (the recipe has 1); received 'abc' (a string)"),
        (_train("training.epochs=2.5"), "`training.epochs` must be an integer"),
        (_train("training.learning_rate=fast"), "`training.learning_rate` must be a finite number"),
        (_train("training.learning_rate=.inf"), "received inf (not finite)"),
        (_train("training.mixed_precision=2"), "`training.mixed_precision` must be true or false"),
        (_train("training.num_sources=3"), "`training.num_sources` must be a list"),
        (_train("training.num_sources=[1,x]"), "`training.num_sources[1]` must be an integer"),
        (_train("training.epochs=[1,"), "the value is not valid YAML"),
        (_train("model.audio_trunk=null"), "`model.audio_trunk` must be a string"),
        (_train("model=3"), "`model` must be a mapping"),
        (_train("training.epochs=0"), "`training.epochs` must be a positive integer"),
        (_train("training.learning_rate=-1"), "`training.learning_rate` must be a number > 0"),
        (_train("seed=-1"), "`seed` must be an integer >= 0"),
        (_train("training.strategy=tpu"), "`training.strategy` must be one of"),
        (_evaluate_missing, "does not exist or is not a directory"),
        (_evaluate_without_config, "has no config.yaml"),
        (_evaluate_broken_config, "the run's config"),
        (_evaluate_unfinished, "has no final weights of stage 'counting'"),
        (_prepare_missing_root, "Download ESC-50"),
        (_prepare_bad_shard_size, "`shard_size` must be a positive integer"),
        (_prepare_broken_manifest, "is not a manifest of `avcourse prepare`"),
    ],
)
def test_user_errors_are_one_line_with_exit_status_2(make_argv, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the recipe's default run_root, runs/, would go here
    argv = make_argv(tmp_path)
    existed = (tmp_path / "run").exists()
    status, lines = run_cli(argv, capsys)
    assert_one_line_error(status, lines, fragment)
    assert not (tmp_path / "runs").exists()
    if not existed:  # nothing was made
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("where", ["before the command", "after the command"])
def test_traceback_flag_shows_the_full_trace(where, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = ["train", "--config", str(COUNTING), "--smoke", "training.epochs=abc"]
    argv = ["--traceback", *command] if where == "before the command" else [*command, "--traceback"]
    with pytest.raises(ValueError, match="`training.epochs` must be an integer"):
        cli.main(argv)
    assert "avcourse: error" not in capsys.readouterr().err


def test_console_script_prints_one_error_line_and_exits_2(subprocesses):
    folder, results = subprocesses
    status, out, err = results["error"]
    assert status == 2 and out == ""
    ours = [line for line in err.splitlines() if line.startswith("avcourse")]
    # TensorFlow's own import-time log lines may precede it; ours is one line, and the last.
    assert ours == [err.strip().splitlines()[-1]] and "Traceback" not in err
    assert "`training.epochs` must be an integer" in ours[0]
    assert not (folder / "runs").exists()


# --------------------------------------------------------------------------- CLI: a failed start leaves nothing


def _failing_trainer(error):
    def train(run):
        assert (run.root / "config.yaml").is_file()  # the run directory was made before the failure
        (run.root / "logs" / "counting").mkdir(parents=True)
        (run.root / "logs" / "counting" / "events.out.tfevents.0").write_text("")
        raise error

    return train


@pytest.mark.parametrize("run_dir", ["new", "default", "existing empty"])
def test_failed_start_leaves_no_run_directory_and_the_rerun_starts(run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(recipes.TASKS["counting"], "train", _failing_trainer(ValueError("the data cannot be read")))
    folder = {"new": tmp_path / "run", "existing empty": tmp_path / "empty"}.get(run_dir)
    if run_dir == "existing empty":
        folder.mkdir()
    argv = ["train", "--config", COUNTING, "--smoke"] + ([] if folder is None else ["--run-dir", folder])
    assert_one_line_error(*run_cli(argv, capsys), "the data cannot be read")
    if run_dir == "existing empty":
        assert folder.is_dir() and not any(folder.iterdir())
    else:
        assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()
    # The corrected command starts in the same place instead of being refused as "another config".
    monkeypatch.setattr(recipes.TASKS["counting"], "train", lambda run: {"counting": {"loss": [1.0]}})
    assert run_cli(argv + ["training.batch_size=2"], capsys)[0] == 0
    written = folder or next((tmp_path / "runs" / "counting_audioset").iterdir())
    assert yaml.safe_load((written / "config.yaml").read_text())["training"]["batch_size"] == 2


def test_interrupt_in_the_first_epoch_removes_the_run_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(recipes.TASKS["counting"], "train", _failing_trainer(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        recipes.train(COUNTING, run_dir=tmp_path / "run", smoke=True)
    assert not (tmp_path / "run").exists()


def test_a_start_that_saved_an_epoch_is_kept_for_resuming(tmp_path, monkeypatch):
    def train(run):
        checkpoint = run.stage_dir("counting") / "checkpoints" / "epoch-001.weights.h5"
        checkpoint.parent.mkdir(parents=True)
        checkpoint.write_bytes(b"weights")
        raise RuntimeError("killed in epoch 2")

    monkeypatch.setattr(recipes.TASKS["counting"], "train", train)
    with pytest.raises(RuntimeError, match="killed in epoch 2"):
        recipes.train(COUNTING, run_dir=tmp_path / "run", smoke=True)
    assert (tmp_path / "run" / "config.yaml").is_file()
    assert (tmp_path / "run" / "stages" / "counting" / "checkpoints" / "epoch-001.weights.h5").is_file()


def test_a_model_that_cannot_be_built_leaves_no_run_directory(tmp_path):
    # Type-correct, so it passes the override checks and fails inside Keras, after config.yaml was written.
    with pytest.raises(ValueError):
        recipes.train(COUNTING, ["model.hidden_units=-3"], run_dir=tmp_path / "run", smoke=True)
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- override types


CONFIG = {
    "seed": 0,
    "data": {"shuffle_buffer": 16, "train": "a/*.tfrecord", "scene_options": {"layout": "flickr"}},
    "model": {"margin": 1.0, "audio_weights": None, "init": "strided"},
    "training": {"epochs": [1, 1], "steps": [[2, 3], [4]], "curriculum": True, "clipnorm": None},
}


@pytest.mark.parametrize(
    "override, key, expected",
    [
        ("model.margin=1e-3", "model.margin", 0.001),  # YAML 1.1 reads 1e-3 as a string
        ("model.margin=2", "model.margin", 2.0),
        ("model.audio_weights=w.weights.h5", "model.audio_weights", "w.weights.h5"),
        ("training.clipnorm=1.5", "training.clipnorm", 1.5),
        ("data.shuffle_buffer=null", "data.shuffle_buffer", None),
        ("data.scene_options=null", "data.scene_options", None),
        ("training.steps=[[],[1]]", "training.steps", [[], [1]]),
        ("training.curriculum=false", "training.curriculum", False),
    ],
)
def test_well_typed_overrides(override, key, expected):
    result = recipe_config.flatten(recipes.apply_overrides(CONFIG, [override]))
    assert result[key] == expected and type(result[key]) is type(expected)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("seed=0.5", "`seed` must be an integer"),
        ("seed=true", "`seed` must be an integer (the recipe has 0); received True (a bool)"),
        ("training.curriculum=1", "`training.curriculum` must be true or false"),
        ("training.epochs=3", "`training.epochs` must be a list"),
        ("training.steps=[[1],[x]]", "`training.steps[1][0]` must be an integer"),
        ("data.train=[a]", "`data.train` must be a string"),
        ("data.train=null", "`data.train` must be a string"),
        ("model.margin=nan", "not finite"),
        ("data.scene_options=flickr", "`data.scene_options` must be a mapping"),
    ],
)
def test_ill_typed_overrides(override, fragment):
    with pytest.raises(ValueError, match=None) as info:
        recipes.apply_overrides(CONFIG, [override])
    assert fragment in str(info.value)


# --------------------------------------------------------------------------- prepare: damaged shards


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-7])


def _delete(path):
    path.unlink()


def _drop_entry(path):
    """A kill between the shard's rename and the manifest's update: the shard is there, unlisted."""
    manifest = json.loads((path.parent / prepare.MANIFEST_NAME).read_text())
    del manifest["shards"][path.name]
    (path.parent / prepare.MANIFEST_NAME).write_text(json.dumps(manifest))


def _drop_entry_and_leave_a_partial_file(path):
    """A kill while the shard was written: half a temporary file, no manifest entry, no shard."""
    _drop_entry(path)
    path.with_name(path.name + ".tmp").write_bytes(path.read_bytes()[:100])
    path.unlink()


def _forget_the_digest(path):
    manifest = json.loads((path.parent / prepare.MANIFEST_NAME).read_text())
    del manifest["shards"][path.name]["sha256"]
    (path.parent / prepare.MANIFEST_NAME).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "damage, problem",
    [
        (_flip_byte, "SHA-256"),
        (_truncate, "bytes, the manifest says"),
        (_delete, "missing"),
        (_drop_entry, None),
        (_drop_entry_and_leave_a_partial_file, None),
        (_forget_the_digest, "no SHA-256"),
    ],
)
@pytest.mark.parametrize("which", [0, -1])
def test_damaged_shard_is_detected_and_rebuilt(damage, problem, which, esc50_root, reference, prepared):
    name = sorted(reference)[which]
    damage(prepared / name)
    if problem is None:
        report = run_prepare(esc50_root, prepared)
    else:
        with pytest.warns(RuntimeWarning, match="rebuilding 1 finished shard"):
            report = run_prepare(esc50_root, prepared)
        assert [item["shard"] for item in report["shards_discarded"]] == [name]
        assert problem in report["shards_discarded"][0]["problem"]
    assert report["shards_written"] == 1 and report["shards_reused"] == 1
    assert shard_bytes(prepared) == reference  # byte-identical to a clean run
    manifest = json.loads((prepared / prepare.MANIFEST_NAME).read_text())
    assert manifest["shards"][name]["sha256"] == prepare._sha256(prepared / name)
    again = run_prepare(esc50_root, prepared)  # and then nothing is left to do
    assert again["shards_written"] == 0 and again["shards_discarded"] == []


def test_a_broken_manifest_is_refused_or_rebuilt_with_overwrite(esc50_root, reference, prepared):
    (prepared / prepare.MANIFEST_NAME).write_text("[1, 2")
    with pytest.raises(ValueError, match="is not a manifest of `avcourse prepare`.*overwrite=True"):
        run_prepare(esc50_root, prepared)
    report = run_prepare(esc50_root, prepared, overwrite=True)
    assert report["shards_written"] == 2 and shard_bytes(prepared) == reference


def test_prepare_uses_the_music_video_suffixes():
    assert indexing.VIDEO_SUFFIXES is music.VIDEO_SUFFIXES
    assert not hasattr(indexing, "_VIDEO_SUFFIXES")


def test_two_runs_from_scratch_with_different_hash_seeds_give_identical_shards(subprocesses, reference):
    folder, results = subprocesses
    for seed in ("0", "12345"):
        status, out, err = results[seed]
        assert status == 0 and "4 clips in 2 shards" in out, err
    first, second = shard_bytes(folder / "seed0"), shard_bytes(folder / "seed12345")
    assert len(first) == 2 and first == second == reference


# --------------------------------------------------------------------------- prepare: corrupt media


def _nan_wav(path):
    samples = _tone(0.1, 300)
    samples[10] = np.nan
    soundfile.write(path, samples, RATE, subtype="FLOAT")


@pytest.mark.parametrize(
    "write, fragment",
    [
        (lambda path: path.write_bytes(b"RIFF, but not really a wav file"), "could not be decoded as audio"),
        (lambda path: path.write_bytes(b""), "could not be decoded as audio"),
        (_nan_wav, "NaN or Inf"),
    ],
)
def test_corrupt_audio_is_reported_with_its_path(write, fragment, tmp_path):
    root = make_esc50(tmp_path / "esc50", num_clips=3)
    broken = sorted((root / "audio").iterdir())[1]
    write(broken)
    report = run_prepare(root, tmp_path / "out")
    assert report["num_records"] == 2 and [entry["clip_id"] for entry in report["corrupt"]] == [broken.stem]
    entry = report["corrupt"][0]
    assert entry["files"] == [str(broken)] and str(broken) in entry["error"] and fragment in entry["error"]
    assert "\n" not in entry["error"]


def _flickr_root(root, image):
    ids = flickr.load_flickr_test_ids()[:2]
    for folder in ("frames", "audio", "Annotations"):
        (root / folder).mkdir(parents=True)
    for index, item in enumerate(ids):
        from PIL import Image

        Image.new("RGB", (64, 64), (200, 10 * index, 0)).save(root / "frames" / f"{item}.jpg")
        soundfile.write(root / "audio" / f"{item}.wav", _tone(0.1, 300), RATE)
        (root / "Annotations" / f"{item}.xml").write_text(
            "<annotation><object><bbox><xmin>0</xmin><ymin>0</ymin><xmax>32</xmax><ymax>32</ymax></bbox></object></annotation>"
        )
    broken = root / "frames" / f"{ids[1]}.jpg"
    image(broken)
    return ids, broken


@pytest.mark.parametrize(
    "image",
    [
        lambda path: path.write_bytes(b"not a jpeg at all"),
        lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),  # truncated
    ],
    ids=["not an image", "truncated"],
)
def test_corrupt_image_is_reported_with_its_path(image, tmp_path):
    ids, broken = _flickr_root(tmp_path / "flickr", image)
    report = prepare.prepare("flickr", tmp_path / "flickr", tmp_path / "out", num_workers=0, image_size=16, progress=False)
    assert report["num_records"] == 1 and [entry["clip_id"] for entry in report["corrupt"]] == [ids[1]]
    assert str(broken) in report["corrupt"][0]["error"]


def test_corrupt_video_is_reported_with_its_path(tmp_path):
    video_id = music.load_music_ids("solo")["violin"][0]
    (tmp_path / "violin").mkdir()
    broken = tmp_path / "violin" / f"{video_id}.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    report = prepare.prepare("music", tmp_path, tmp_path / "out", num_workers=0, image_size=16, progress=False)
    assert report["num_records"] == 0 and [entry["clip_id"] for entry in report["corrupt"]] == [f"violin/{video_id}"]
    assert "cannot read video" in report["corrupt"][0]["error"] and str(broken) in report["corrupt"][0]["error"]
