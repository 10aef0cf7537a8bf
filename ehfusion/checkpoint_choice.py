"""Which checkpoint to show first: the most accurate one for the 2D input, by the validation error it stores.

The validation subject is held out from the training subjects (:mod:`ehfusion.data.splits`), so this choice never
looks at the test subjects. The pose explorer starts with it, and notebook 05 names it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .checkpoints import Checkpoint, load_checkpoint

__all__ = ["validation_p1", "best_checkpoint"]


def validation_p1(checkpoint: Checkpoint) -> float | None:
    """The validation P1 (mm) of the checkpoint's answer branch as stored in its metrics (else its ``best_metric``),
    or ``None`` when the file stores no validation error."""
    metrics = checkpoint.meta.get("metrics") or {}
    value = metrics.get(f"val_p1_{checkpoint.config.answer_branch}", checkpoint.meta.get("best_metric"))
    return None if value is None else float(value)


def best_checkpoint(names: Iterable[str], keypoints: str | None = None,
                    directory: str | Path | None = None) -> str | None:
    """The most accurate of the checkpoint files ``names`` (names in ``directory``, default ``CHECKPOINT_DIR``): the
    lowest validation P1 of its answer branch.

    Only checkpoints trained on ``keypoints`` (``"gt"``, ``"det"``...) compete when any of them is: errors measured on
    different 2D inputs are not comparable. Files that cannot be read are no candidates. Returns ``None`` when no file
    stores a validation error.
    """
    directories = None if directory is None else [Path(directory)]
    scored = []
    for name in names:
        try:
            checkpoint = load_checkpoint(name, directories=directories, build=False)
        except (OSError, ValueError):   # a missing or damaged file (CheckpointError is a ValueError)
            continue
        p1 = validation_p1(checkpoint)
        if p1 is not None:
            other_input = keypoints is not None and checkpoint.meta.get("keypoints") != keypoints
            scored.append((other_input, p1, name))
    return min(scored)[2] if scored else None
