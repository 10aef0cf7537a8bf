"""The training recipe of one stage: reuse a finished run, resume an unfinished one, or build, hand over and fit.

Both callers train every stage with :func:`train_stage`; they differ only in their :class:`RunPolicy`: the ablation
runner (:mod:`ehfusion.experiments.runner`) reuses finished runs and resumes unfinished ones by itself; the command line
(:mod:`ehfusion.cli.train`) refuses to touch an earlier run unless told to resume it (``--resume``) or to replace it
(``--overwrite``), may train data-parallel, and reports the run before its first epoch.

A stage hands over to the next one (see :mod:`ehfusion.models.stages`): stage 2 starts from stage 1's encoders and
decoders (encoders frozen, fused inputs at zero, so it starts at stage 1's predictions); stage 3 loads all of stage 2.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence as SequenceOf
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .checkpoints import Checkpoint, load_checkpoint, read_checkpoint
from .errors import CheckpointError, OutputPathError
from .models import ModelConfig, build_model, load_stage1_into_stage2, load_stage2_into_stage3
from .models.stages import LoadReport, freeze_encoders
from .training import TrainConfig, Trainer, last_checkpoint_name, seed_everything

__all__ = ["StageRun", "RunPolicy", "EARLIER_RUN", "TRAINING_FIELDS", "previous_run", "stage_hand_over",
           "build_stage_model", "train_stage"]

#: TrainConfig fields a reused or resumed run must share with the requested one.
TRAINING_FIELDS = ("epochs", "batch_size", "lr", "lr_decay", "seed", "subset", "flip_augment", "weight_decay")

#: The hand-over into each stage that starts from the previous one.
HAND_OVERS = {2: load_stage1_into_stage2, 3: load_stage2_into_stage3}


#: What :func:`train_stage` may do with an earlier run of the same name in its folder (:attr:`RunPolicy.earlier_run`).
EARLIER_RUN = {
    "continue": "reuse it when finished, resume it exactly when not; refuse one trained with another schedule",
    "resume": "resume it exactly (its last checkpoint, or RunPolicy.resume_from) with the requested schedule",
    "refuse": "stop with an error when its best checkpoint exists",
    "replace": "train from the seed and write over it",
}


@dataclass(frozen=True)
class RunPolicy:
    """How :func:`train_stage` treats an earlier run and reports a new one.

    ``earlier_run``: one of :data:`EARLIER_RUN` (the ablation runner: ``"continue"``; the command line: ``"refuse"``,
    ``"resume"`` with ``--resume``, ``"replace"`` with ``--overwrite``). ``resume_from``: the last-epoch checkpoint
    ``"resume"`` continues (default: the folder's own). ``distributed``: a
    :class:`~ehfusion.distributed.DistributedContext` to train data-parallel. ``log``: where the one line per epoch
    goes (the trainer's default without it). ``announce(trainer)``: called once the trainer is built (and resumed),
    before the first epoch.
    """

    earlier_run: str = "continue"
    resume_from: Path | None = None
    distributed: object = None
    log: Callable[[str], None] | None = None
    announce: Callable[[Trainer], None] | None = None

    def __post_init__(self) -> None:
        if self.earlier_run not in EARLIER_RUN:
            raise ValueError(f"earlier_run must be one of {', '.join(EARLIER_RUN)}, got {self.earlier_run!r}")
        if self.resume_from is not None and self.earlier_run != "resume":
            raise ValueError("resume_from is only used with earlier_run='resume'")


@dataclass
class StageRun:
    """A trained (or reused) stage: its best checkpoint, what it cost and its per-epoch record."""

    checkpoint: Checkpoint
    epochs: int
    best_epoch: int | None
    seconds: float
    reused: bool
    best_metric: float | None = None
    history: list[dict] = field(default_factory=list)


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
    policy: RunPolicy = RunPolicy(),
) -> StageRun:
    """Train one model (one stage) on the ``train`` sequences, keeping its best epoch on ``validation``; or reuse or
    resume it from ``directory``, as ``policy.earlier_run`` says (:data:`EARLIER_RUN`).

    * reuse (``"continue"``): a finished run (its last checkpoint ``<name>`` with ``_last_epoch`` reached
      ``train_config.epochs``, and the best checkpoint ``name`` exists) is returned as it is, without training;
    * resume (``"continue"``, ``"resume"``): an unfinished run continues exactly where it stopped (weights, optimiser,
      generators);
    * fresh: the model is built from ``train_config.seed``, ``initialise(model)`` loads the previous stage (see
      :func:`stage_hand_over`), and it trains.

    Three-stage stage 2 trains with its encoders frozen, also when it resumes without a hand-over. ``"continue"``
    refuses a run in ``directory`` made with another schedule (epochs, batch size, learning rate...); ``"refuse"``
    refuses any run whose best checkpoint exists (an :class:`~ehfusion.errors.OutputPathError`).
    """
    best_path = directory / name
    last_path = directory / last_checkpoint_name(name)
    resume_path = None
    if policy.earlier_run == "continue":
        previous = previous_run(last_path, train_config)
        if previous is not None and best_path.is_file() and int(previous["epoch"]) >= train_config.epochs:
            seconds = sum(h.get("seconds", 0.0) for h in previous.get("history", []))
            return StageRun(load_checkpoint(best_path), train_config.epochs, previous.get("best_epoch"), seconds,
                            reused=True, best_metric=previous.get("best_metric"), history=previous.get("history", []))
        resume_path = last_path if previous is not None else None
    elif policy.earlier_run == "resume":
        resume_path = policy.resume_from or last_path
    elif policy.earlier_run == "refuse" and best_path.exists():
        raise OutputPathError(f"{best_path} already exists; continue it with --resume, choose another --name, "
                              "or pass --overwrite to replace it")

    model = build_stage_model(model_config, train_config.seed, initialise)
    if (run_info.get("strategy"), run_info.get("stage")) == ("three-stage", 2):
        freeze_encoders(model)  # also when resuming: the optimiser must see the same parameters
    trainer = Trainer(model, train_config, train, validation, skeleton=skeleton, checkpoint_dir=directory, name=name,
                      run_info=dict(run_info), model_config=model_config, progress=progress, log=policy.log,
                      distributed=policy.distributed)
    if resume_path is not None:
        try:
            trainer.resume(resume_path)
        except ValueError as err:  # the file does not fit this run (finished, another model, no optimiser state)
            raise CheckpointError(str(err)) from err
    if policy.announce is not None:
        policy.announce(trainer)
    summary = trainer.fit()
    seconds = sum(h.get("seconds", 0.0) for h in trainer.history)
    return StageRun(load_checkpoint(best_path), trainer.epoch, summary.best_epoch, seconds, reused=False,
                    best_metric=summary.best_metric, history=trainer.history)
