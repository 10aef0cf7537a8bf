"""Run the notebook course headlessly with papermill.

``python -m ehfusion.course run`` executes every notebook in ``notebooks/`` in order into ``outputs/notebooks/`` (the
sources are never modified) and prints where the executed notebooks and the figures are.
``python -m ehfusion.course list`` lists the notebooks; ``--fast`` runs them in their quick mode; ``--only 03``
selects notebooks whose file name contains the text.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .paths import OUTPUT_DIR, REPO_DIR

NOTEBOOK_DIR = REPO_DIR / "notebooks"

__all__ = ["NotebookRun", "course_notebooks", "execute_notebook", "main"]


@dataclass
class NotebookRun:
    source: Path
    output: Path
    seconds: float
    error: str | None = None


def course_notebooks(directory: Path = NOTEBOOK_DIR, only: str | None = None) -> list[Path]:
    """The course's notebooks in teaching order (by file name: 01_..., 02_...)."""
    notebooks = sorted(p for p in Path(directory).glob("[0-9][0-9]_*.ipynb"))
    if only:
        notebooks = [p for p in notebooks if only in p.name]
    return notebooks


def execute_notebook(source: Path, output: Path, parameters: dict | None = None, timeout: int = 1800) -> NotebookRun:
    """Execute one notebook with papermill (kernel ``python3`` of this interpreter), working directory ``notebooks/``."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = None
    env_before = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures inline, never a window
    try:
        papermill.execute_notebook(
            str(source), str(output), parameters=parameters or {}, kernel_name="python3",
            cwd=str(source.parent), progress_bar=False, execution_timeout=timeout,
        )
    except papermill.PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})"
    finally:
        if env_before is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = env_before
    return NotebookRun(source, output, time.perf_counter() - start, error)


def _run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    notebooks = course_notebooks(only=args.only)
    if not notebooks:
        print(f"no notebooks found in {NOTEBOOK_DIR}" + (f" matching {args.only!r}" if args.only else ""))
        return 1
    out_dir = Path(args.out).resolve()
    parameters = {"fast": True} if args.fast else {}
    runs = []
    for source in tqdm(notebooks, desc="notebooks", unit="nb"):
        run = execute_notebook(source, out_dir / "notebooks" / source.name, parameters)
        runs.append(run)
        status = "ok" if run.error is None else f"FAILED: {run.error}"
        tqdm.write(f"{source.name:<40s} {run.seconds:6.1f} s  {status}")
    figures = sorted((OUTPUT_DIR / "figures").glob("**/*.*")) if (OUTPUT_DIR / "figures").exists() else []
    print()
    print(f"Executed notebooks: {out_dir / 'notebooks'}")
    print(f"Figures and animations ({len(figures)} files): {OUTPUT_DIR / 'figures'}")
    failed = [r for r in runs if r.error]
    if failed:
        print(f"{len(failed)} notebook(s) failed; open the executed copies above to see the failing cell:")
        for r in failed:
            print(f"  {r.output}: {r.error}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ehfusion.course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the notebooks into outputs/")
    run.add_argument("--fast", action="store_true", help="run every notebook in its quick mode (fast=True)")
    run.add_argument("--only", help="only notebooks whose file name contains this text, e.g. 03")
    run.add_argument("--out", default=str(OUTPUT_DIR), help="output folder (default: outputs/)")
    sub.add_parser("list", help="list the course notebooks")
    args = parser.parse_args(argv)
    if args.command == "list":
        for path in course_notebooks():
            print(path.name)
        return 0
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
