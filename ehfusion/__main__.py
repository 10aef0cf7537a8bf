"""One command for everything: ``python -m ehfusion COMMAND [options]``.

=============  ==========================================================================================
command        what it runs (``python -m ehfusion COMMAND --help`` shows the options)
=============  ==========================================================================================
train          training with the original release's flags: ``train one-stage ...`` is ``run_onestage``,
               ``train three-stage ...`` is ``run_threestage``
evaluate       ``evaluate FILE [options]``: a checkpoint on the test subjects (the file knows its strategy)
lift           your own keypoints or video to 3D (``ehfusion-lift``)
export         ``export DST CANDIDATE...``: ship the best-validation run as a small checkpoint
checkpoints    list or describe checkpoint files
experiments    the ablation: run, summary, figures, merge
course         build and run the notebook course
=============  ==========================================================================================

The scripts people who know the release type (``python -m ehfusion.run_onestage`` / ``run_threestage``) stay, and
take the same options; each command here only passes its arguments on.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence


def _train(argv: list[str]) -> int:
    from .cli import run
    from .models.stages import STRATEGIES

    if not argv or argv[0] not in STRATEGIES:
        print(f"usage: python -m ehfusion train {{{','.join(STRATEGIES)}}} [options]  (--help after the strategy "
              "lists the options)", file=sys.stderr)
        return 2
    return run(argv[0], argv[1:])


def _evaluate(argv: list[str]) -> int:
    from .cli import run

    if not argv or argv[0].startswith("-"):
        print("usage: python -m ehfusion evaluate FILE [options]  (the options of run_onestage --evaluate)",
              file=sys.stderr)
        return 2
    return run("one-stage", ["--evaluate", argv[0], *argv[1:]])


def _lift(argv: list[str]) -> int:
    from .lift.__main__ import main

    return main(argv)


def _checkpoints(argv: list[str]) -> int:
    from .cli.checkpoints import main

    return main(argv)


def _export(argv: list[str]) -> int:
    return _checkpoints(["export", *argv])


def _experiments(argv: list[str]) -> int:
    from .experiments.__main__ import main

    return main(argv)


def _course(argv: list[str]) -> int:
    from .course import main

    return main(argv)


COMMANDS = {"train": _train, "evaluate": _evaluate, "lift": _lift, "export": _export, "checkpoints": _checkpoints,
            "experiments": _experiments, "course": _course}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"error: unknown command {argv[0]!r}; choose one of {', '.join(COMMANDS)} "
              "(python -m ehfusion --help)", file=sys.stderr)
        return 2
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
