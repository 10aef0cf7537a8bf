"""The training recipe of one stage: reuse a finished run, resume an unfinished one, or build, hand over and fit.

Both callers go through here: the ablation runner (:mod:`ehfusion.experiments.runner`) trains every stage with
:func:`train_stage`; the command line (:mod:`ehfusion.cli`) builds its model with :func:`build_stage_model` and starts
stages 2 and 3 with :func:`stage_hand_over`, and keeps its own resume policy and printing.

A stage hands over to the next one (see :mod:`ehfusion.models.stages`): stage 2 starts from stage 1's encoders and
decoders (encoders frozen, fused inputs at zero, so it starts at stage 1's predictions); stage 3 loads all of stage 2.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence as SequenceOf
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import Checkpoint, load_checkpoint, read_checkpoint
from .models import ModelConfig, build_model, load_stage1_into_stage2, load_stage2_into_stage3
from .models.stages import LoadReport
from .training import TrainConfig, Trainer, last_checkpoint_name, seed_everything

__all__ = ["StageRun", "TRAINING_FIELDS", "previous_run", "stage_hand_over", "build_stage_model", "train_stage"]

#: TrainConfig fields a reused or resumed run must share with the requested one.
TRAINING_FIELDS = ("epochs", "batch_size", "lr", "lr_decay", "seed", "subset", "flip_augment", "weight_decay")

#: The hand-over into each stage that starts from the previous one.
HAND_OVERS = {2: load_stage1_into_stage2, 3: load_stage2_into_stage3}


@dataclass
class StageRun:
    """A trained (or reused) stage: its best checkpoint and what it cost."""

    checkpoint: Checkpoint
    epochs: int
    best_epoch: int | None
    seconds: float
    reused: bool


def stage_hand_over(stage: int, previous_state: Mapping[str, torch.Tensor]) -> Callable[[torch.nn.Module], LoadReport]:
    """``initialise(model)`` for three-stage ``stage`` 2 or 3: loads ``previous_state`` (the model state of stage
    ``stage - 1``) into the new stage's model and returns what it did."""
    if stage not in HAND_OVERS:
        raise ValueError(f"only stages 2 and 3 start from a previous stage, got stage {stage}")
    hand_over = HAND_OVERS[stage]
    return lambda model: hand_over(model, previous_state)


def build_stage_model(model_config: ModelConfig, seed: int,
                      initialise: Callable[[torch.nn.Module], object] | None = None) -> torch.nn.Module:
    """Seed every generator with ``seed``, build the model, then ``initialise(model)`` (e.g. a stage hand-over)."""
    seed_everything(seed)
    model = build_model(model_config)
    if initialise is not None:
        initialise(model)
    return model


def previous_run(last_path: Path, train_config: TrainConfig) -> dict | None:
    """The last checkpoint of an earlier run of this stage (``None`` if there is none); refuses one trained with
    another schedule (:data:`TRAINING_FIELDS`), whose weights would silently stand for a different budget."""
    if not last_path.is_file():
        return None
    payload = read_checkpoint(last_path)
    stored = payload.get("train_config") or {}
    wanted = train_config.to_dict()
    differs = {k: (stored.get(k), wanted[k]) for k in TRAINING_FIELDS if k in stored and stored[k] != wanted[k]}
    if differs:
        details = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in differs.items())
        raise ValueError(f"{last_path} was trained with another schedule ({details}); use another checkpoint "
                         f"folder (--checkpoint-dir) or delete it")
    return payload


def train_stage(
    model_config: ModelConfig,
    train_config: TrainConfig,
    train: SequenceOf,
    validation: SequenceOf,
    *,
    skeleton,
    directory: Path,
    name: str,
    run_info: Mapping,
    initialise: Callable[[torch.nn.Module], object] | None = None,
    progress: bool = True,
) -> StageRun:
    """Train one model (one stage) on the ``train`` sequences, keeping its best epoch on ``validation``; or reuse or
    resume it from ``directory``.

    * reuse: a finished run (its last checkpoint ``<name>`` with ``_last_epoch`` reached ``train_config.epochs``, and
      the best checkpoint ``name`` exists) is returned as it is, without training;
    * resume: an unfinished run continues exactly where it stopped (weights, optimiser, generators);
    * fresh: the model is built from ``train_config.seed``, ``initialise(model)`` loads the previous stage (see
      :func:`stage_hand_over`), and it trains.

    A run in ``directory`` made with another schedule (epochs, batch size, learning rate...) is refused.
    """
    best_path = directory / name
    last_path = directory / last_checkpoint_name(name)
    previous = previous_run(last_path, train_config)
    if previous is not None and best_path.is_file() and int(previous["epoch"]) >= train_config.epochs:
        seconds = sum(h.get("seconds", 0.0) for h in previous.get("history", []))
        return StageRun(load_checkpoint(best_path), train_config.epochs, previous.get("best_epoch"), seconds,
                        reused=True)

    model = build_stage_model(model_config, train_config.seed, initialise)
    trainer = Trainer(model, train_config, train, validation, skeleton=skeleton, checkpoint_dir=directory, name=name,
                      run_info=dict(run_info), model_config=model_config, progress=progress)
    if previous is not None:
        trainer.resume(last_path)
    summary = trainer.fit()
    seconds = sum(h.get("seconds", 0.0) for h in trainer.history)
    return StageRun(load_checkpoint(best_path), trainer.epoch, summary.best_epoch, seconds, reused=False)
