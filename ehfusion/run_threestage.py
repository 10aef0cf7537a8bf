"""Three-stage training and evaluation, with the original release's command line.

    python -m ehfusion.run_threestage -k det --stage 1 -lfd 512 -e 80
    python -m ehfusion.run_threestage -k det --stage 2 -lfd 512 -p stage_1_best_model.bin -e 80
    python -m ehfusion.run_threestage -k det --stage 3 -lfd 512 -ft stage_2_best_model.bin -lr 0.0005 -e 80
    python -m ehfusion.run_threestage -k det --evaluate det_three-stage_3_best_epoch.bin --stage 3

``stage_N_best_model.bin`` (the release's names) finds ``<k>_three-stage_N_best_epoch.bin`` in the checkpoint folder.
``python -m ehfusion.run_threestage --help`` explains every option (see :mod:`ehfusion.cli`).
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from .cli import run


def main(argv: Sequence[str] | None = None) -> int:
    return run("three-stage", argv)


if __name__ == "__main__":
    sys.exit(main())
