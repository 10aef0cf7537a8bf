"""One-stage training and evaluation, with the original release's command line.

    python -m ehfusion.run_onestage -k det --stage 1 -lfd 512 -e 80
    python -m ehfusion.run_onestage -k det --evaluate det_one-stage_best_epoch.bin
    python -m ehfusion.run_onestage -k det --model videopose3d -e 80        # the VideoPose3D baseline

``python -m ehfusion.run_onestage --help`` explains every option (see :mod:`ehfusion.cli`).
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from .cli import run


def main(argv: Sequence[str] | None = None) -> int:
    return run("one-stage", argv)


if __name__ == "__main__":
    sys.exit(main())
