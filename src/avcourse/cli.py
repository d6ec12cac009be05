"""The ``avcourse`` command line.

``avcourse demo`` runs offline on the bundled samples: it composes scenes of
the synthetic audio-visual world and writes ``avcourse-demo/report.html`` with
the pictures, their ground truth, spectrograms, ideal masks and audio players.
``avcourse reproduce`` runs a paper's miniature reproduction
(:mod:`avcourse.reproduce`), ``avcourse prepare`` decodes a downloaded dataset
into shards (:func:`avcourse.data.prepare.prepare`), and ``avcourse train`` /
``avcourse evaluate`` run a full-scale recipe
(:mod:`avcourse.training.recipes`). Every argument parser of the command is
here; the library modules only do the work.

A user error (a bad option value, broken YAML, an unknown or ill-typed
override, a missing file or run directory) ends with one line
``avcourse: error: ...`` on stderr and exit status 2; ``--traceback`` shows
the full traceback instead.
"""

import argparse
import re
import sys
import time
from pathlib import Path

__all__ = ["DEMO_REPRODUCTIONS", "USER_ERRORS", "build_parser", "main"]


# The tasks of `avcourse reproduce` (modules of avcourse.reproduce) with their titles, in the course's order;
# `avcourse demo` runs each at demo size.
DEMO_REPRODUCTIONS = [("cavl", "CAVL"), ("separation", "Visually guided separation"), ("ccol", "CCoL")]


def _demo(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from avcourse import audio, plotting
    from avcourse.data import world
    from avcourse.data.audioset import count_sources
    from avcourse.metrics.localization import resize_heatmap
    from avcourse.metrics.separation import bss_eval_batch
    from avcourse.report import HtmlReport

    started = time.perf_counter()
    config = audio.AudioConfig()
    report = HtmlReport("avcourse demo: the synthetic audio-visual world")
    report.text(
        "Each scene below was composed by avcourse.data.world.make_scene from the bundled instrument "
        "sprites and FluidSynth-rendered phrases. Green boxes play, grey dashed boxes are silent. "
        "The ideal ratio mask |S_i| / |S_mix| of each source, applied to the mixture with the mixture's "
        "phase, gives the separation ceiling that tutorials/06_separation compares learned masks with."
    )
    rows = []
    for index in range(args.num_scenes):
        num_sources = index % 4 + 1
        scene = world.make_scene(num_sources, args.seed + index, image_size=args.image_size, num_distractors=1, config=config)
        source_magnitudes, mixture_magnitude = scene.spectrograms(config)
        masks = np.asarray(audio.ratio_mask(source_magnitudes, mixture_magnitude))
        warped_masks = np.asarray(audio.log_freq_warp(masks, config))
        estimates = audio.reconstruct_sources(masks, scene.mixture, config, warped=False)
        sdrs = bss_eval_batch(scene.sources[None], estimates[None])["sdr"]

        report.heading(f"Scene {index} (seed {scene.seed}): {', '.join(scene.source_labels)}")
        columns = 2 + num_sources
        figure, axes = plt.subplots(2, columns, figsize=(3.2 * columns, 6))
        plotting.show_scene(scene, axes[0, 0])
        axes[0, 0].set_title("picture and boxes")
        plotting.overlay_heatmap(scene.image, resize_heatmap(scene.consensus_map, args.image_size), axes[1, 0], title="consensus map")
        plotting.show_spectrogram(mixture_magnitude, axes[0, 1], title="mixture |S|")
        plotting.show_spectrogram(np.asarray(audio.log_freq_warp(mixture_magnitude, config)), axes[1, 1], warped=True, title="mixture, log-frequency warp")
        for k, label in enumerate(scene.source_labels):
            plotting.show_spectrogram(source_magnitudes[k], axes[0, 2 + k], title=f"{label} |S|")
            plotting.show_mask(warped_masks[k], axes[1, 2 + k], title=f"{label} ideal ratio mask", vmax=5)
        figure.tight_layout()
        report.figure(figure, f"scene {index}")
        report.audio(scene.mixture, config.sample_rate, "mixture")
        for label, source, estimate in zip(scene.source_labels, scene.sources, estimates):
            report.audio(source, config.sample_rate, f"{label} (true)")
            report.audio(estimate, config.sample_rate, f"{label} (ideal mask)")
        rows.append(
            [index, num_sources, ", ".join(scene.source_labels), count_sources(scene.audioset_labels), float(np.nanmean(sdrs))]
        )
    report.heading("Summary")
    report.table(["scene", "sources", "instruments", "AudioSet level-3 count", "ideal-mask SDR (dB)"], rows)
    if not args.no_training:
        import importlib

        from avcourse.reproduce.results import to_rows

        for task, title in DEMO_REPRODUCTIONS:
            reproduction = importlib.import_module(f"avcourse.reproduce.{task}")
            print(f"training the demo-size {task} reproduction (avcourse reproduce {task} --size demo) ...")
            tables = reproduction.run(size="demo", seed=args.seed)
            report.heading(f"{title} in miniature (demo size: seconds of training; the full run: avcourse reproduce {task})")
            for section, key in reproduction.SECTIONS:
                rows = to_rows(tables[key])
                report.text(section)
                report.table(rows[0], rows[1:])
    report.text(f"Generated in {time.perf_counter() - started:.1f} s.")
    path = report.save(Path(args.out) / "report.html")
    print(f"wrote {path.resolve()} ({args.num_scenes} scenes, {time.perf_counter() - started:.1f} s)")
    return 0


def _resumable_seeds(results, path, size, recipe):
    """``{seed: (run, commit)}`` of an earlier results document that ran this size and recipe (else ``{}``)."""
    if not path.is_file():
        print(f"--resume: no {path} yet; running every seed", flush=True)
        return {}
    document = results.load_results(path.stem, path.parent)
    if document["size"] != size or document.get("recipe") != results.as_stored(recipe):
        print(f"--resume: {path} holds another size or recipe (or none recorded); running every seed", flush=True)
        return {}
    commits = document.get("commit_per_seed") or [document["commit"]] * len(document["seeds"])
    return {seed: (run, commit) for seed, run, commit in zip(document["seeds"], results.seed_runs(document), commits)}


def _reproduce(args):
    import dataclasses
    import importlib

    from avcourse.report import HtmlReport
    from avcourse.reproduce import cache, results
    from avcourse.reproduce.tables import markdown_table

    reproduction = importlib.import_module(f"avcourse.reproduce.{args.task}")
    seeds = args.seeds or [args.seed]
    # The JSON goes to --results-dir; else next to the report when --out is given; else results/.
    results_dir = args.results_dir or (args.out if args.out is not None else "results")
    recipe = dataclasses.asdict(reproduction.RECIPES[args.size])
    results_file = Path(results_dir) / f"{args.task}.json"
    kept = _resumable_seeds(results, results_file, args.size, recipe) if args.resume else {}
    runs, commits = [], []
    for seed in seeds:
        if seed in kept:
            print(f"seed {seed}: kept from {results_file} (same size and recipe)", flush=True)
            run, commit = kept[seed]
        else:
            with cache.directory(None if args.no_cache else args.cache_dir or cache.default_directory()):
                run, commit = reproduction.run(size=args.size, seed=seed), results.git_commit()
        runs.append(run)
        commits.append(commit)
        # Written after every seed, over the seeds finished so far (its command names only those), so
        # a multi-seed run that is stopped keeps what it measured (and --resume goes on from there).
        finished = seeds[: len(runs)]
        seed_text = f"--seeds {' '.join(map(str, finished))}" if args.seeds else f"--seed {args.seed}"
        command = f"avcourse reproduce {args.task} --size {args.size} {seed_text}"
        # One aggregation for everything: the JSON document; the markdown and HTML tables are views of it.
        document = results.results_document(command, finished, args.size, runs, reproduction.SECTIONS,
                                            commit=commits[-1], recipe=recipe, commit_per_seed=commits)
        json_path = results.write_results(document, results_dir, name=args.task)
        if len(runs) < len(seeds):
            print(f"wrote {json_path.resolve()} (seeds {' '.join(map(str, finished))} of {' '.join(map(str, seeds))})",
                  flush=True)
    out = Path(args.out or "avcourse-reproduce")
    out.mkdir(parents=True, exist_ok=True)
    markdown = [f"# {command}", ""]
    if len(runs) > 1:
        markdown += [f"Mean ± standard deviation over {len(runs)} seeds.", ""]
    report = HtmlReport(f"avcourse reproduce {args.task} ({args.size})")
    for key, entry in document["tables"].items():
        table = results.results_table(document, key)
        markdown += [f"## {entry['title']}", "", markdown_table(table), ""]
        report.heading(entry["title"])
        report.table(table[0], table[1:])
    seconds = ", ".join("?" if s is None else f"{s:.0f}" for s in document["seconds_per_seed"])
    footer = f"Run time (s, per seed): {seconds}. Recipe: {runs[0].get('recipe')}"
    markdown.append(footer)
    (out / f"{args.task}.md").write_text("\n".join(markdown) + "\n")
    report.text(footer)
    report.save(out / f"{args.task}.html")
    print("\n".join(markdown))
    print(f"wrote {(out / f'{args.task}.md').resolve()} and {json_path.resolve()}")
    return 0


def _prepare(args):
    from avcourse.data.prepare import REPORT_NAME, prepare

    report = prepare(
        args.dataset,
        args.root,
        args.output,
        num_workers=args.workers,
        shard_size=args.shard_size,
        frames_per_clip=args.frames_per_clip,
        image_size=args.image_size,
        max_seconds=args.max_seconds,
        audio_format=args.audio_format,
        which=args.which,
        segments=args.segments,
        executor=args.executor,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    rebuilt = f", {len(report['shards_discarded'])} of them rebuilt after failing their SHA-256 or size check" if report["shards_discarded"] else ""
    print(
        f"{report['num_records']} clips in {report['num_shards']} shards under {report['output_dir']} "
        f"({report['shards_written']} written{rebuilt}, {report['shards_reused']} already done); "
        f"{len(report['missing'])} missing and {len(report['corrupt'])} corrupt files listed in "
        f"{Path(report['output_dir']) / REPORT_NAME}."
    )
    return 0


def _train(args):
    from avcourse.training.recipes import train

    overrides = list(args.overrides)
    if args.strategy:
        overrides.append(f"training.strategy={args.strategy}")
    if args.mixed_precision:
        overrides.append("training.mixed_precision=true")
    result = train(args.config, overrides, run_dir=args.run_dir, smoke=args.smoke)
    print(f"trained {result['config']['recipe']}: run directory {result['run_dir']}")
    return 0


def _evaluate(args):
    import json

    from avcourse.training.recipes import evaluate

    metrics = evaluate(args.config, args.overrides, run_dir=args.run_dir, smoke=args.smoke)
    print(json.dumps(metrics, indent=1))
    return 0


def build_parser():
    """The argument parser of the ``avcourse`` command."""
    parser = argparse.ArgumentParser(
        prog="avcourse",
        description="avcourse: a Keras 3 course in audio-visual learning (CAVL and CCoL).",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="show the full Python traceback of an error instead of the one-line message",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    demo = commands.add_parser(
        "demo",
        help="compose synthetic scenes from the bundled samples and write an HTML report (offline)",
        description="Compose scenes of the synthetic audio-visual world from the bundled samples and "
        "write OUT/report.html with pictures, boxes, consensus maps, spectrograms, ideal masks and audio.",
    )
    demo.add_argument("--out", default="avcourse-demo", help="output folder (default: %(default)s)")
    demo.add_argument("--num-scenes", type=int, default=4, help="scenes to compose (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the first scene (default: %(default)s)")
    demo.add_argument("--image-size", type=int, default=128, help="picture side in pixels (default: %(default)s)")
    demo.add_argument(
        "--no-training",
        action="store_true",
        help="only compose scenes; skip the demo-size CAVL, separation and CCoL trainings (about 2 min)",
    )
    demo.set_defaults(run=_demo)

    reproduce = commands.add_parser(
        "reproduce",
        help="train and evaluate a paper's miniature reproduction on held-out synthetic scenes",
        description="Miniature reproduction of a paper's tables on the synthetic world (CPU, minutes). "
        "Writes OUT/<task>.md and OUT/<task>.html, and the numbers as data to RESULTS_DIR/<task>.json.",
    )
    reproduce.add_argument(
        "task",
        choices=[task for task, _ in DEMO_REPRODUCTIONS],
        help="which tables: cavl (localization, curriculum, counting), separation (CAVL Table 4: "
        "visually guided separation against NMF and ideal masks) or ccol (CCoL Tables 1 and 2: "
        "sounding-object grounding and separation)",
    )
    reproduce.add_argument("--size", choices=["demo", "small"], default="small", help="run size (default: %(default)s)")
    seeds = reproduce.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0, help="training seed (default: %(default)s)")
    seeds.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="SEED",
        help="run once per seed and report every number as mean ± standard deviation over the seeds",
    )
    reproduce.add_argument(
        "--out",
        default=None,
        help="folder of the markdown and HTML reports (default: avcourse-reproduce); also of <task>.json "
        "unless --results-dir is given",
    )
    reproduce.add_argument(
        "--results-dir",
        default=None,
        help="folder of the results document <task>.json (mean, sd and per-seed values of every cell; "
        "default: OUT when --out is given, else results/ in the current directory)",
    )
    reproduce.add_argument(
        "--resume",
        action="store_true",
        help="keep the seeds that the results document <task>.json already holds for the same --size and recipe "
        "(written after every seed); run only the others",
    )
    reproduce.add_argument(
        "--cache-dir",
        default=None,
        help="keep work that reproductions repeat (the CAVL trunks' pretraining, shared by cavl and separation) "
        "under this folder; an entry is used only for the same recipe, seed, code and random state "
        "(default: $AVCOURSE_CACHE_DIR, else ~/.cache/avcourse)",
    )
    reproduce.add_argument("--no-cache", action="store_true", help="compute everything; read and write no cache")
    reproduce.set_defaults(run=_reproduce)

    _add_prepare(commands)
    _add_train_and_evaluate(commands)
    for command in commands.choices.values():  # `avcourse train --traceback ...` works as well
        command.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _add_prepare(commands):
    """``avcourse prepare``: :func:`avcourse.data.prepare.prepare` on a downloaded dataset."""
    from avcourse.data.prepare import AUDIO_FORMATS, DATASETS

    parser = commands.add_parser(
        "prepare",
        help="decode a downloaded dataset once into sharded TFRecord files (resumable)",
        description="Index a downloaded dataset (MUSIC, AudioSet, SoundNet-Flickr or ESC-50), decode every clip "
        "once in parallel and write OUTPUT/<dataset>-NNNNN-of-NNNNN.tfrecord, OUTPUT/manifest.json and "
        "OUTPUT/report.json (missing and corrupt files). Rerunning resumes an interrupted run and skips "
        "finished shards. Layouts: docs/prepare.md.",
    )
    parser.add_argument("dataset", choices=DATASETS, help="which dataset the folder holds")
    parser.add_argument("--root", required=True, help="the downloaded dataset folder")
    parser.add_argument("--output", required=True, help="output folder for the shards")
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: every core; 0: none)")
    parser.add_argument("--shard-size", type=int, default=256, help="clips per shard (default: %(default)s)")
    parser.add_argument("--frames-per-clip", type=int, default=None, help="keep at most this many frames per clip")
    parser.add_argument("--image-size", type=int, default=224, help="frame side in pixels (default: %(default)s)")
    parser.add_argument("--max-seconds", type=float, default=None, help="keep at most this many seconds per clip")
    parser.add_argument("--audio-format", choices=AUDIO_FORMATS, default="int16", help="waveform storage (%(default)s)")
    parser.add_argument("--which", choices=("solo", "duet", "music21"), default="solo", help="MUSIC id list (%(default)s)")
    parser.add_argument("--segments", default=None, help="AudioSet segments CSV inside --root (default: the first found)")
    parser.add_argument("--executor", choices=("process", "thread"), default="process", help="worker pool (%(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace shards prepared with other settings")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=_prepare)


def _add_train_and_evaluate(commands):
    """``avcourse train`` and ``avcourse evaluate``: :mod:`avcourse.training.recipes` on a recipe."""
    from avcourse.training.distribute import STRATEGIES

    train = commands.add_parser(
        "train",
        help="train a full-scale recipe (recipes/<task>/config.yaml), resumable",
        description="Train a recipe; key=value arguments override config keys (dotted, YAML-typed).",
    )
    train.add_argument("--config", required=True, help="recipes/<task>/config.yaml")
    train.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. training.batch_size=64")
    train.add_argument("--strategy", choices=STRATEGIES, help="distribution strategy (default: the config's)")
    train.add_argument("--mixed-precision", action="store_true", help="compute in float16 (mixed_float16)")
    train.add_argument("--smoke", action="store_true", help="tiny run on the synthetic world (seconds)")
    train.add_argument("--run-dir", help="run directory (an interrupted run there is resumed)")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser(
        "evaluate", help="evaluate a trained run directory", description="Score a run written by `avcourse train`."
    )
    evaluate.add_argument("--config", help="recipes/<task>/config.yaml (the run's config.yaml is used if present)")
    evaluate.add_argument("--run-dir", required=True, help="run directory written by `avcourse train`")
    evaluate.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. data.test=...")
    evaluate.add_argument("--smoke", action="store_true", help="the recipe's smoke settings (with --config)")
    evaluate.set_defaults(run=_evaluate)


# What a user can cause and fix: a bad argument, config or override, a missing or unreadable file.
# They end in one line on stderr and exit status 2; anything else is a bug and shows its traceback.
USER_ERRORS = (ValueError, TypeError, OSError)


def _error(message):
    """Print ``avcourse: error: <message>`` on one line of stderr; return the exit status 2."""
    print("avcourse: error: " + re.sub(r"\s*[\r\n]+\s*", " ", str(message)).strip(), file=sys.stderr)
    return 2


def main(argv=None):
    """Entry point of the ``avcourse`` console script.

    Returns:
        the exit status: 0 on success, 2 for a user error (one line
        ``avcourse: error: ...`` on stderr; ``--traceback`` re-raises it with
        its full traceback instead).
    """
    args = build_parser().parse_args(argv)
    if getattr(args, "num_scenes", 1) < 1:
        return _error("--num-scenes must be >= 1")
    try:
        return args.run(args)
    except USER_ERRORS as error:
        if args.traceback:
            raise
        message = str(error) or type(error).__name__
        if isinstance(error, OSError) and error.filename is not None and str(error.filename) not in message:
            message = f"{message}: {error.filename!r}"
        return _error(message)


if __name__ == "__main__":
    sys.exit(main())
