"""``python -m ehfusion checkpoints {export,show,list}``: ship the best-validation run, describe checkpoint files.

``export DST CANDIDATE...`` ranks the candidates (runs of one model with different seeds) by validation error, prints
the ranking and writes the best one to ``DST`` without training state, in float16 (``--full`` keeps float32), with the
whole run's history and, for stage 3, the histories of the earlier stages. ``show FILE...`` prints one line per
checkpoint; ``list [FOLDER]`` describes every checkpoint in a folder (default ``CHECKPOINT_DIR``), skipping malformed
files with a warning. ``python -m ehfusion export DST CANDIDATE...`` is short for ``checkpoints export``. Errors print
one line and exit with status 2 (``--debug`` shows the traceback).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Sequence

from .. import paths
from ..checkpoints import describe, list_checkpoints, read_checkpoint, resolve_checkpoint
from ..shipping import earlier_stage_histories, select_by_validation, strip_training_state
from . import HelpFormatter, add_debug_argument, report_errors

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ehfusion checkpoints", description=__doc__.split("\n")[0],
                                     formatter_class=HelpFormatter)
    add_debug_argument(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write the best-validation candidate as a shipping file")
    export.add_argument("destination")
    export.add_argument("candidates", nargs="+", help="runs of the same model and budget, different seeds")
    export.add_argument("--full", action="store_true", help="keep float32 weights")
    show = commands.add_parser("show", help="describe checkpoint files")
    show.add_argument("files", nargs="+")
    listing = commands.add_parser("list", help="describe every checkpoint in a folder")
    listing.add_argument("folder", nargs="?", default=None, help="default: the checkpoints folder")
    return parser


def export(destination: str, candidates: Sequence[str], full: bool = False) -> Path:
    """Write the best-validation candidate to ``destination`` as a shipping file; print the ranking."""
    ranked = select_by_validation(candidates)
    for i, (path, metric) in enumerate(ranked):
        print(f"  {'->' if i == 0 else '  '} validation P1 {metric:6.2f} mm  {path}")
    best = ranked[0][0]
    last = best.with_name(best.name.replace("_best_epoch.bin", "_last_epoch.bin"))
    run_history = read_checkpoint(last).get("history") if last != best and last.is_file() else None
    earlier = earlier_stage_histories(best)
    written = strip_training_state(best, destination, half=not full, run_history=run_history,
                                   stage_histories=earlier or None)
    print(f"{written} ({written.stat().st_size / 2 ** 20:.1f} MiB) from {best}"
          + (f", with the whole run's history from {last.name}" if run_history else "")
          + (f" and the histories of stage(s) {', '.join(earlier)}" if earlier else ""))
    return written


def list_folder(folder: str | None) -> None:
    """Print one line per readable checkpoint in ``folder``; warnings (on stderr) name the skipped files."""
    folder = Path(folder) if folder else paths.CHECKPOINT_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; pass a folder of checkpoints")
    with warnings.catch_warnings(record=True) as skipped:
        warnings.simplefilter("always")
        described = list_checkpoints(folder)
    for name, text in described.items():
        if not text.startswith("(unreadable"):
            print(f"{name}: {text}")
    for warning in skipped:
        print(f"warning: {warning.message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def command() -> int:
        if args.command == "export":
            export(args.destination, args.candidates, args.full)
        elif args.command == "list":
            list_folder(args.folder)
        else:
            for name in args.files:
                print(f"{name}: {describe(read_checkpoint(resolve_checkpoint(name)))}")
        return 0

    return report_errors(command, args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
