"""Build and run the notebook course headlessly with papermill.

Each notebook in ``notebooks/`` is the one source of two versions: the cells tagged ``solution`` (from the
"Answers" heading to the end) are the answers to its exercises.

- ``python -m ehfusion.course build`` writes the **student** version (answer cells removed) to
  ``outputs/course/student/`` and the **with-answers** version to ``outputs/course/answers/``.
- ``python -m ehfusion.course run`` executes the student version of every notebook in order into
  ``outputs/notebooks/`` (the sources are never modified) and prints the time per notebook and where the executed
  notebooks and the figures are; ``--answers`` executes the with-answers version into ``outputs/answers/``.
- ``python -m ehfusion.course list`` lists the notebooks; ``--fast`` runs them in their quick mode; ``--only 03``
  selects notebooks whose file name contains the text.

Parameters are checked before a notebook runs (:func:`check_parameters`): a name its ``parameters`` cell does not
define, or a value of another kind than the default, is an :class:`ehfusion.errors.ParameterError`; command-line
mistakes print one line and exit with status 2 (``--debug`` shows the traceback).
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import EHFusionError, OutputPathError, ParameterError
from .paths import OUTPUT_DIR, REPO_DIR

NOTEBOOK_DIR = REPO_DIR / "notebooks"

#: Cell tag that marks an answer to an exercise (removed from the student version).
SOLUTION_TAG = "solution"
VERSIONS = ("student", "answers")

__all__ = ["NotebookRun", "SOLUTION_TAG", "VERSIONS", "course_notebooks", "notebook_version", "build_versions",
           "notebook_parameters", "check_parameters", "execute_notebook", "main"]

#: The default of a parameter that is not a Python literal (any value is accepted for it).
ANY = object()


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


def is_solution(cell) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def notebook_version(source: Path, version: str):
    """The notebook of ``source`` as an ``nbformat`` node: ``"answers"`` (every cell) or ``"student"`` (no answers)."""
    import nbformat

    if version not in VERSIONS:
        raise ValueError(f"unknown version {version!r}; choose from {', '.join(VERSIONS)}")
    nb = nbformat.read(str(source), as_version=4)
    if version == "student":
        nb.cells = [cell for cell in nb.cells if not is_solution(cell)]
    return nb


def build_versions(out_dir: Path, notebooks: list[Path] | None = None) -> dict[str, list[Path]]:
    """Write both versions of every notebook to ``out_dir/student/`` and ``out_dir/answers/``; returns the paths."""
    import nbformat

    from .io import atomic_write

    written = {}
    for version in VERSIONS:
        folder = Path(out_dir) / version
        folder.mkdir(parents=True, exist_ok=True)
        written[version] = []
        for source in notebooks if notebooks is not None else course_notebooks():
            target = folder / source.name
            with atomic_write(target, "w") as handle:
                handle.write(nbformat.writes(notebook_version(source, version)))
            written[version].append(target)
    return written


def notebook_parameters(source: Path) -> dict:
    """``{name: default}`` of the notebook's cell tagged ``parameters`` (:data:`ANY` for a non-literal default)."""
    try:
        cells = json.loads(Path(source).read_text(encoding="utf-8"))["cells"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ParameterError(f"{source} cannot be read as a notebook ({type(err).__name__}: {err}); "
                             "restore it from the repository") from None
    names: dict = {}
    for cell in cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            code = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for node in ast.parse(code).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        names[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        names[node.targets[0].id] = ANY
    return names


def _same_kind(value, default) -> bool:
    """``value`` may replace ``default``: a number for a number, a bool for a bool, a list for a tuple, or None."""
    if default is ANY or default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and (isinstance(default, float) or isinstance(value, int))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def check_parameters(source: Path, parameters) -> dict:
    """Check papermill ``parameters`` against the notebook's ``parameters`` cell; returns them as a dict.

    Raises :class:`ParameterError` for a non-dict, a name the notebook does not define, or a value of another kind than
    its default (see :func:`_same_kind`; anything goes for a parameter whose default is ``None``).
    """
    if parameters is None:
        return {}
    name = Path(source).name
    if not isinstance(parameters, Mapping) or not all(isinstance(k, str) for k in parameters):
        raise ParameterError(f"parameters of {name} must be a dict {{name: value}}, got "
                             f"{type(parameters).__name__} {str(parameters)[:80]}")
    known = notebook_parameters(source)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ParameterError(f"{name} has no parameter {', '.join(unknown)}; its parameters: "
                             f"{', '.join(known) or 'none'}")
    for key, value in parameters.items():
        if not _same_kind(value, known[key]):
            raise ParameterError(f"{name}: parameter {key} is {str(repr(value))[:60]} ({type(value).__name__}), "
                                 f"expected a value like its default {known[key]!r} ({type(known[key]).__name__})")
    return dict(parameters)


def _output_folder(path: Path) -> Path:
    """``path`` unless a file is in the way of that folder (then an :class:`OutputPathError`)."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                raise OutputPathError(f"{folder} is an existing file, but the output folder {path} (--out) must be "
                                      "a folder; pass another --out")
            break
    return path


#: Environment of a headless run: figures inline (never a window), no progress bars in the executed notebooks.
HEADLESS_ENV = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "TQDM_DISABLE": "1"}


def execute_notebook(source: Path, output: Path, parameters: dict | None = None, timeout: int = 1800,
                     version: str = "answers") -> NotebookRun:
    """Execute one version of a notebook with papermill (kernel ``python3``), working directory ``notebooks/``.

    ``parameters`` are checked first (:func:`check_parameters`): a bad one raises :class:`ParameterError`, nothing runs.
    """
    import papermill

    parameters = check_parameters(source, parameters)
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = None
    env_before = {name: os.environ.get(name) for name in HEADLESS_ENV}
    os.environ.update(HEADLESS_ENV)
    try:
        papermill.execute_notebook(
            notebook_version(source, version), str(output), parameters=parameters or {}, kernel_name="python3",
            cwd=str(source.parent), progress_bar=False, execution_timeout=timeout,
        )
    except papermill.PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})"
    finally:
        for name, value in env_before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return NotebookRun(source, output, time.perf_counter() - start, error)


def _run(args: argparse.Namespace) -> int:
    from .progress import progress_bar, write

    notebooks = course_notebooks(only=args.only)
    if not notebooks:
        print(f"no notebooks found in {NOTEBOOK_DIR}" + (f" matching {args.only!r}" if args.only else ""))
        return 1
    out_dir = Path(args.out).resolve()
    parameters = {"fast": True} if args.fast else {}
    version = "answers" if args.answers else "student"
    executed_dir = _output_folder(out_dir / ("answers" if args.answers else "notebooks"))
    runs = []
    for source in progress_bar(notebooks, desc="notebooks", unit="nb"):
        run = execute_notebook(source, executed_dir / source.name, parameters, version=version)
        runs.append(run)
        status = "ok" if run.error is None else f"FAILED: {run.error}"
        write(f"{source.name:<40s} {run.seconds:6.1f} s  {status}")
    total = sum(r.seconds for r in runs)
    figures = sorted((OUTPUT_DIR / "figures").glob("**/*.*")) if (OUTPUT_DIR / "figures").exists() else []
    print(f"{'total':<40s} {total:6.1f} s  ({total / 60:.1f} min)")
    print()
    print(f"Executed notebooks ({version} version): {executed_dir}")
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
    run.add_argument("--answers", action="store_true",
                     help="execute the with-answers version (into outputs/answers/) instead of the student version")
    run.add_argument("--out", default=str(OUTPUT_DIR), help="output folder (default: outputs/)")
    build = sub.add_parser("build", help="write the student and with-answers versions of every notebook")
    build.add_argument("--out", default=str(OUTPUT_DIR / "course"), help="output folder (default: outputs/course/)")
    for command in (run, build):
        command.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub.add_parser("list", help="list the course notebooks")
    args = parser.parse_args(argv)
    if args.command == "list":
        for path in course_notebooks():
            print(path.name)
        return 0
    try:
        if args.command == "build":
            written = build_versions(_output_folder(Path(args.out)))
            for version, files in written.items():
                print(f"{version:<8s} {len(files)} notebooks in {Path(args.out).resolve() / version}")
            return 0
        return _run(args)
    except EHFusionError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
