"""The ``avcourse`` command line.

``avcourse demo`` runs offline on the bundled samples: it composes scenes of
the synthetic audio-visual world and writes ``avcourse-demo/report.html`` with
the pictures, their ground truth, spectrograms, ideal masks and audio players.

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


# The reproductions `avcourse demo` runs at demo size, in the course's order.
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
        estimates = np.asarray(audio.reconstruct_from_mask(masks, np.stack([scene.mixture] * num_sources), config, warped=False))
        sdrs = [_sdr(reference, estimate) for reference, estimate in zip(scene.sources, estimates)]

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
            [index, num_sources, ", ".join(scene.source_labels), count_sources(scene.audioset_labels), float(np.mean(sdrs))]
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


def _reproduce(args):
    import importlib

    from avcourse.report import HtmlReport
    from avcourse.reproduce import results
    from avcourse.reproduce.tables import markdown_table

    reproduction = importlib.import_module(f"avcourse.reproduce.{args.task}")
    seeds = args.seeds or [args.seed]
    runs = [reproduction.run(size=args.size, seed=seed) for seed in seeds]
    seed_text = f"--seeds {' '.join(map(str, seeds))}" if args.seeds else f"--seed {args.seed}"
    command = f"avcourse reproduce {args.task} --size {args.size} {seed_text}"
    # One aggregation for everything: the JSON document; the markdown and HTML tables are views of it.
    document = results.results_document(command, seeds, args.size, runs, reproduction.SECTIONS)
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
    # The JSON goes to --results-dir; else next to the report when --out is given; else results/.
    results_dir = args.results_dir or (args.out if args.out is not None else "results")
    json_path = results.write_results(document, results_dir, name=args.task)
    print("\n".join(markdown))
    print(f"wrote {(out / f'{args.task}.md').resolve()} and {json_path.resolve()}")
    return 0


def _sdr(reference, estimate):
    import numpy as np

    error = np.sum((reference - estimate) ** 2)
    return float(10 * np.log10(np.sum(reference**2) / max(error, 1e-12)))


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
        choices=["cavl", "separation", "ccol"],
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
    reproduce.set_defaults(run=_reproduce)

    from avcourse.data.prepare import register_cli as register_prepare
    from avcourse.training.recipes import register_cli as register_train

    register_prepare(commands)
    register_train(commands)
    for command in commands.choices.values():  # `avcourse train --traceback ...` works as well
        command.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


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
