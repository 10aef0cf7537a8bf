"""Shipping a trained run: pick the best seed by validation error, and write a small file without training state.

``python -m ehfusion checkpoints export`` (:mod:`ehfusion.cli.checkpoints`) uses these; `checkpoints/export_shipped.sh`
is the command that made the shipped files.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from .checkpoints import comparable, read_checkpoint, write_payload
from .errors import CheckpointError, ParameterError

__all__ = ["earlier_stage_histories", "strip_training_state", "select_by_validation", "SELECTION_FIELDS",
           "SELECTION_TRAIN_FIELDS"]


def earlier_stage_histories(path: str | Path) -> dict[str, list[dict]]:
    """``{"1": history, ...}`` of the earlier stages of a staged run, from the files beside ``path``.

    For ``det_three-stage_3_best_epoch.bin`` these are ``det_three-stage_1_last_epoch.bin`` and ``..._2_...`` (the
    ``best_epoch`` file where no last one exists); stages whose files are missing are left out.
    """
    path = Path(path)
    match = re.fullmatch(r"(.+)_(\d+)_(best|last)_epoch\.bin", path.name)
    histories = {}
    for stage in range(1, int(match.group(2)) if match else 1):
        for kind in ("last", "best"):
            sibling = path.with_name(f"{match.group(1)}_{stage}_{kind}_epoch.bin")
            if sibling.is_file():
                histories[str(stage)] = read_checkpoint(sibling).get("history", [])
                break
    return histories


def strip_training_state(src: str | Path, dst: str | Path | None = None, half: bool = False,
                         run_history: list[dict] | None = None,
                         stage_histories: dict[str, list[dict]] | None = None) -> Path:
    """Rewrite a checkpoint without optimiser, scheduler and RNG states (a small file for shipping).

    ``run_history`` (the per-epoch records of the whole run, from its last checkpoint) is stored as ``run_history``:
    a best-epoch file's ``history`` stops at the epoch it kept, and the epochs after it show why it was kept.
    ``stage_histories`` (from :func:`earlier_stage_histories`) keeps the histories of the stages before this one.

    ``half=True`` also stores the floating-point weights as float16, halving the file again; loading casts them back
    to the model's float32 parameters (``load_state_dict`` copies across dtypes), so a half-precision checkpoint
    evaluates with the rounded weights it holds. ``dst`` defaults to ``src``; writing is atomic either way.
    """
    payload = read_checkpoint(src)
    for key in ("optimizer_state", "scheduler_state", "rng_state"):
        payload[key] = None
    if run_history is not None:
        payload["run_history"] = [dict(record) for record in run_history]
    if stage_histories:
        payload["stage_histories"] = {str(k): [dict(r) for r in v] for k, v in stage_histories.items()}
    if half:
        payload["model_state"] = {
            name: tensor.half() if tensor.is_floating_point() else tensor
            for name, tensor in payload["model_state"].items()
        }
    dst = Path(dst) if dst is not None else Path(src)
    write_payload(dst, payload)
    return dst


#: What must agree between checkpoints that compete in :func:`select_by_validation` (only the seed may differ).
SELECTION_FIELDS = ("model_config", "strategy", "stage", "dataset", "keypoints", "layout", "receptive_field")
SELECTION_TRAIN_FIELDS = ("epochs", "batch_size", "lr", "lr_decay", "weight_decay", "bn_momentum_start",
                          "bn_momentum_end", "flip_augment", "val_subjects", "subset")


def select_by_validation(candidates: Iterable[str | Path]) -> list[tuple[Path, float]]:
    """Rank runs of one model that differ only in their seed by validation error, best first.

    The error is each file's ``best_metric`` (validation P1 of the epoch it kept, on the training side's validation
    subjects), so choosing the first never looks at the test subjects. Files of different models, stages, data or
    training budgets are refused with the field named: picking among them would compare unlike things.
    """
    ranked, reference = [], None
    for path in map(Path, candidates):
        payload = read_checkpoint(path)
        metric = payload.get("best_metric")
        if metric is None:
            raise CheckpointError(f"{path} has no validation error (best_metric); it was trained without validation "
                             "and cannot be ranked")
        train = payload.get("train_config") or {}
        key = {**{k: payload.get(k) for k in SELECTION_FIELDS},
               **{f"train_config.{k}": comparable(train.get(k)) for k in SELECTION_TRAIN_FIELDS}}
        if reference is None:
            reference = (path, key)
        else:
            differs = [k for k in key if key[k] != reference[1][k]]
            if differs:
                raise CheckpointError(f"{path} and {reference[0]} differ in {', '.join(differs)}; only runs of the same "
                                 "model and budget (different seeds) can be ranked against each other")
        ranked.append((path, float(metric)))
    if not ranked:
        raise ParameterError("no checkpoints to rank: give at least one candidate file")
    return sorted(ranked, key=lambda item: item[1])
