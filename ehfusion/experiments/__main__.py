"""Command line of the experiments.

    python -m ehfusion.experiments run --keypoints det --seeds 0 1
    python -m ehfusion.experiments run --keypoints det --seeds 0 1 \\
        --checkpoint one-stage=det_one-stage_best_epoch.bin --checkpoint videopose3d=det_videopose3d_best_epoch.bin \\
        --checkpoint heterogeneous=det_three-stage_3_best_epoch.bin \\
        --checkpoint stage1=checkpoints/runs/det_three-stage_1_best_epoch.bin
    python -m ehfusion.experiments run --keypoints det --seeds 2 --results outputs/seed2.json  # e.g. in parallel
    python -m ehfusion.experiments merge --keypoints det outputs/seed2.json
    python -m ehfusion.experiments summary --keypoints det
    python -m ehfusion.experiments figures --keypoints det

``run`` trains and evaluates every (model, seed) missing from ``results/experiments_<keypoints>.json`` (see
:mod:`ehfusion.experiments.runner` for the budget rules); ``summary`` prints mean and standard deviation over seeds;
``figures`` writes the PNG figures to ``outputs/figures/``; ``merge`` adds the records of other results files
(seeds run in other processes or on other machines) to the results file.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence as SequenceOf
from pathlib import Path

from .. import paths
from ..cli import USER_ERRORS, add_debug_argument, add_run_arguments, filter_widths, report_errors
from ..errors import OutputPathError
from ..io import writable_folder
from .results import MODEL_LABELS, load_results, merge_results, paired_differences, summarise
from .runner import MAPPABLE, MODELS, SPLITS, ExperimentConfig, default_results_path, run_experiments

DEFAULTS = ExperimentConfig()
#: What this command prints as one line: the package's errors and a user's path (:data:`ehfusion.cli.USER_ERRORS`),
#: and the ``ValueError`` / ``KeyError`` that the results files and the runner still raise for inputs they refuse.
EXPERIMENT_USER_ERRORS = USER_ERRORS + (ValueError, KeyError)


def _mapping(items: SequenceOf[str]) -> dict[str, str]:
    out = {}
    for item in items or ():
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise argparse.ArgumentTypeError(f"--checkpoint expects MODEL=FILE, got {item!r}")
        if name not in MAPPABLE:
            raise argparse.ArgumentTypeError(f"--checkpoint: unknown model {name!r}; choose from {', '.join(MAPPABLE)}")
        out[name] = path
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ehfusion.experiments",
                                     description="Ablation experiments: train, evaluate, summarise, plot.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_debug_argument(parser)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="train and evaluate the models missing from the results file",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument("-k", "--keypoints", default=DEFAULTS.keypoints, help="2D keypoints (gt, det, ...)")
    run.add_argument("-d", "--dataset", default=DEFAULTS.dataset)
    run.add_argument("--split", choices=SPLITS, default=DEFAULTS.split,
                     help="subjects: the Human3.6M protocol; motions: also hold the dataset's unseen motions out of "
                          "training (they are the test set), results in results/experiments_<keypoints>_motions.json")
    run.add_argument("--bn-momentum", type=float, nargs=2, default=None, metavar=("START", "END"),
                     help="BatchNorm momentum schedule (default: the trainer's default for the run's length)")
    run.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULTS.seeds))
    run.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    run.add_argument("-e", "--epochs", type=int, default=DEFAULTS.epochs,
                     help="training budget per model in epochs (three-stage models split it over their stages)")
    run.add_argument("--stage-split", type=float, nargs=3, default=list(DEFAULTS.stage_split),
                     metavar=("S1", "S2", "S3"), help="fractions of the budget for stages 1, 2, 3")
    run.add_argument("--stage3-lr-factor", type=float, default=DEFAULTS.stage3_lr_factor)
    run.add_argument("--intermediate-selection", choices=("last", "best"), default=DEFAULTS.intermediate_selection,
                     help="which epoch stages 1 and 2 of the three-stage recipe hand over (best: by validation)")
    run.add_argument("-b", "--batch-size", type=int, default=DEFAULTS.batch_size)
    run.add_argument("--subset", type=float, default=DEFAULTS.subset,
                     help="fraction of the training windows drawn per epoch (same for every model)")
    run.add_argument("-lr", "--learning-rate", type=float, default=DEFAULTS.lr)
    run.add_argument("-lrd", "--lr-decay", type=float, default=DEFAULTS.lr_decay)
    run.add_argument("-arc", "--architecture", type=filter_widths, default=",".join(map(str, DEFAULTS.filter_widths)),
                     help="filter widths")
    run.add_argument("-ch", "--channels", type=int, default=DEFAULTS.channels)
    run.add_argument("-lfd", "--latent", type=int, default=DEFAULTS.latent)
    run.add_argument("-hid", "--hidden", type=int, default=DEFAULTS.hidden)
    run.add_argument("--angle-channels", type=int, default=DEFAULTS.angle_channels)
    run.add_argument("--angle-features", type=int, default=DEFAULTS.angle_features)
    run.add_argument("--camera-features", type=int, default=DEFAULTS.camera_features)
    run.add_argument("--videopose3d-channels", type=int, default=DEFAULTS.videopose3d_channels)
    run.add_argument("--actions", nargs="+", default=None, help="restrict to these actions (default: all)")
    run.add_argument("--cameras", type=int, nargs="+", default=None, help="restrict to these cameras (default: all)")
    run.add_argument("--no-robustness", action="store_true", help="skip the robustness curves")
    run.add_argument("--robustness-cameras", type=int, nargs="+", default=list(DEFAULTS.robustness_cameras),
                     help="test cameras used for the robustness curves")
    run.add_argument("--sigmas", type=float, nargs="+", default=list(DEFAULTS.sigmas_px), help="noise levels (px)")
    run.add_argument("--dropout-rates", type=float, nargs="+", default=list(DEFAULTS.dropout_rates))
    run.add_argument("--checkpoint", action="append", default=[], metavar="MODEL=FILE",
                     help=f"use an already-trained checkpoint as the seed-0 run of MODEL ({', '.join(MAPPABLE)}); "
                          "repeatable")
    run.add_argument("--results", default=None, help="results file (default results/experiments_<keypoints>.json)")
    run.add_argument("--checkpoint-dir", default=None,
                     help="where the experiment checkpoints go (default outputs/experiments/<dataset>_<keypoints>)")
    run.add_argument("--overwrite", action="store_true", help="start the results file afresh")
    add_run_arguments(run, device=DEFAULTS.device)

    for name, text in (("summary", "print mean and standard deviation over seeds"),
                       ("figures", "write the figures to outputs/figures/")):
        sub = commands.add_parser(name, help=text, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        sub.add_argument("-k", "--keypoints", default=DEFAULTS.keypoints)
        sub.add_argument("--split", choices=SPLITS, default=DEFAULTS.split, help="which split's default results file")
        sub.add_argument("--results", default=None, help="results file (default results/experiments_<keypoints>.json)")
        if name == "summary":
            sub.add_argument("--markdown", action="store_true",
                             help="Markdown tables: the summary and the paired differences against heterogeneous")
    merge = commands.add_parser("merge", help="add the records of other results files to the results file",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    merge.add_argument("sources", nargs="+", help="results files to add (same experiment configuration)")
    merge.add_argument("-k", "--keypoints", default=DEFAULTS.keypoints)
    merge.add_argument("--split", choices=SPLITS, default=DEFAULTS.split, help="which split's default results file")
    merge.add_argument("--results", default=None, help="results file (default results/experiments_<keypoints>.json)")
    merge.add_argument("--replace", action="store_true",
                       help="a (model, seed) already present with other results takes the added file's")
    return parser


def config_from_args(args) -> ExperimentConfig:
    return ExperimentConfig(
        keypoints=args.keypoints, dataset=args.dataset, split=args.split, seeds=tuple(args.seeds),
        models=tuple(args.models), bn_momentum=tuple(args.bn_momentum) if args.bn_momentum else None,
        epochs=args.epochs, batch_size=args.batch_size, subset=args.subset, lr=args.learning_rate,
        lr_decay=args.lr_decay, stage_split=tuple(args.stage_split), stage3_lr_factor=args.stage3_lr_factor,
        intermediate_selection=args.intermediate_selection,
        filter_widths=args.architecture, channels=args.channels, latent=args.latent, hidden=args.hidden,
        angle_channels=args.angle_channels, angle_features=args.angle_features,
        camera_features=args.camera_features, videopose3d_channels=args.videopose3d_channels,
        actions=tuple(args.actions) if args.actions else None, cameras=tuple(args.cameras) if args.cameras else None,
        robustness=not args.no_robustness, robustness_cameras=tuple(args.robustness_cameras),
        sigmas_px=tuple(args.sigmas), dropout_rates=tuple(args.dropout_rates), device=args.device,
        threads=args.threads,
    )


def format_summary(summary) -> str:
    lines = [f"{'model':<36}{'seeds':>6}{'P1 (mm)':>16}{'P2 (mm)':>16}{'MPJVE (mm)':>14}{'params':>10}"
             f"{'MACs/frame':>12}"]
    for _, r in summary.iterrows():
        def pm(metric: str, digits: int = 1) -> str:
            std = r[f"{metric} std"]
            return f"{r[f'{metric} mean']:.{digits}f}" + ("" if std != std else f" ± {std:.{digits}f}")
        lines.append(f"{r['label']:<36}{r['seeds']:>6}{pm('P1'):>16}{pm('P2'):>16}{pm('MPJVE', 2):>14}"
                     f"{r['params'] / 1e6:>9.2f}M{r['macs_per_frame'] / 1e6:>11.1f}M")
    return "\n".join(lines)


def format_markdown(results, reference: str = "heterogeneous") -> str:
    """The summary as Markdown: mean ± sample std over seeds, then the paired differences against ``reference``."""
    summary = summarise(results)

    def pm(r, metric: str, digits: int = 1) -> str:
        std = r[f"{metric} std"]
        return f"{r[f'{metric} mean']:.{digits}f}" + ("" if std != std else f" ± {std:.{digits}f}")

    lines = ["| model | seeds | P1 (mm) | P2 (mm) | MPJVE (mm) | parameters | MACs / frame |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for _, r in summary.iterrows():
        lines.append(f"| {r['label']} | {r['seeds']} | {pm(r, 'P1')} | {pm(r, 'P2')} | {pm(r, 'MPJVE', 2)} | "
                     f"{r['params'] / 1e6:.2f}M | {r['macs_per_frame'] / 1e6:.2f}M |")
    if reference in set(summary["model"]):
        paired = paired_differences(results, reference=reference)
        lines += ["", f"| P1 of {MODEL_LABELS.get(reference, reference)} minus | seeds | mean (mm) | 95 % interval | "
                      "per seed | verdict |", "|---|---:|---:|---:|---|---|"]
        for _, r in paired.iterrows():
            interval = "" if r["seeds"] < 2 else f"± {r['ci95']:.1f}"
            per_seed = ", ".join(f"{d:+.1f}" for d in r["per_seed"].values())
            lines.append(f"| {MODEL_LABELS.get(r['model'], r['model'])} | {r['seeds']} | {r['mean']:+.1f} | "
                         f"{interval} | {per_seed} | {r['verdict']} |")
    return "\n".join(lines)


def _results_file(path: Path, option: str = "--results") -> Path:
    """``path`` unless it is a folder (a results file is one JSON file): then an :class:`OutputPathError`."""
    if path.is_dir():
        raise OutputPathError(f"{path} ({option}) is a folder, but a results file is expected, e.g. "
                              f"{path / 'experiments.json'}; pass a file name")
    return path


def main(argv: SequenceOf[str] | None = None) -> int:
    """``python -m ehfusion.experiments``; returns the exit status (a user's mistake: one line ``error: ...`` and 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return report_errors(lambda: _run(args, parser), debug=args.debug, user_errors=EXPERIMENT_USER_ERRORS)


def _run(args, parser: argparse.ArgumentParser) -> int:
    results = Path(args.results) if args.results else default_results_path(args.keypoints, args.split)
    _results_file(results)
    if args.command == "merge":
        for source in args.sources:
            _results_file(Path(source), "a results file to merge")
    if args.command == "run" and args.checkpoint_dir:
        writable_folder(Path(args.checkpoint_dir), "--checkpoint-dir")
    if args.command == "run":
        try:
            mapping = _mapping(args.checkpoint)
        except argparse.ArgumentTypeError as err:
            parser.error(str(err))
        store = run_experiments(config_from_args(args), results_path=results, checkpoint_dir=args.checkpoint_dir,
                                checkpoints=mapping, overwrite=args.overwrite, progress=not args.no_progress)
        print(f"\nresults: {store.path}")
        if store.records:
            print(format_summary(summarise(store)))
    elif args.command == "merge":
        before = len(load_results(results)["records"]) if results.exists() else 0
        store = merge_results(results, args.sources, replace=args.replace)
        print(f"{results}: {before} -> {len(store.records)} records")
        print(format_summary(summarise(store)))
    elif args.command == "summary":
        data = load_results(results)
        print(format_markdown(data) if args.markdown else format_summary(summarise(data)))
    elif args.command == "figures":
        from . import plots

        data = load_results(results)
        stem = results.stem
        out = paths.OUTPUT_DIR / "figures"
        written = [
            plots.plot_accuracy_vs_parameters(data, path=out / f"{stem}_accuracy_vs_parameters.png"),
            plots.plot_per_joint(data, path=out / f"{stem}_per_joint.png"),
            plots.plot_per_action(data, path=out / f"{stem}_per_action.png"),
        ]
        if any(r.get("robustness") for r in data["records"]):
            written.append(plots.plot_robustness(data, path=out / f"{stem}_robustness.png"))
        print(f"{len(written)} figures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
