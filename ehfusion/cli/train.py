"""Training from the release's command line: the options become a :class:`~ehfusion.recipe.RunPolicy` and the
arguments of :func:`ehfusion.recipe.train_stage`; then the run is reported and its best epoch evaluated on test.

The command line's policy: an existing run is never touched unless ``--resume`` continues it (its own settings, unless
typed again) or ``--overwrite`` replaces it; stages 2 and 3 start from the checkpoint ``-p`` / ``-ft`` names; under
``torchrun`` every process runs this with the same arguments and the ones other than rank 0 print nothing.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .. import paths
from ..errors import ParameterError
from .evaluate import evaluate_and_print, load_data, say, select_sequences
from .options import (
    check_against,
    checkpoint_dir,
    default_checkpoint_name,
    keypoints_of,
    model_config_from_args,
    requested_model_fields,
    resolve_with_alias,
    run_strategy,
    split_list,
    subject_split,
    train_config_from_args,
    writable_checkpoint_dir,
)

__all__ = ["train_command"]

#: Data options a resumed run takes from its checkpoint unless typed again.
RESUMED_DATA = {"dataset": "dataset", "keypoints": "keypoints", "subjects_train": "train_subjects",
                "subjects_test": "test_subjects", "actions": "actions"}
#: The stage-2 (-p) and stage-3 (-ft) sources: option destination, flag, the stage the checkpoint must be.
STAGE_SOURCES = {2: ("pretrain", "-p", 1), 3: ("finetune", "-ft", 2)}


def train_command(args) -> int:
    """Train (stage 1, 2 or 3, or one-stage), keep the best epoch by validation, then evaluate it once on test."""
    from ..distributed import cleanup, init_distributed

    try:
        context = init_distributed(device=args.device)
    except (ValueError, RuntimeError) as err:  # the launcher's environment or the device is not usable
        raise ParameterError(f"cannot start distributed training: {err}") from err
    try:
        if context.is_main:
            return _train(args, context)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            return _train(args, context)
    finally:
        cleanup(context)


def _resume_source(args) -> tuple[Path | None, dict | None]:
    """``--resume``: this run's last-epoch checkpoint; ``--resume FILE``: that file (and its folder for new files)."""
    from ..checkpoints import read_checkpoint
    from ..training import last_checkpoint_name

    if args.resume is None:
        return None, None
    if args.resume:
        path = resolve_with_alias(args.resume, args)
        if "checkpoint" not in args.explicit:
            args.checkpoint = str(path.parent)  # keep writing beside it
    else:
        path = checkpoint_dir(args) / last_checkpoint_name(args.name or default_checkpoint_name(args))
        if not path.is_file():
            raise FileNotFoundError(f"nothing to resume: {path} does not exist (run without --resume first, or pass "
                                    "--resume FILE, the same -k/--name/-c as the interrupted run)")
    meta = read_checkpoint(path)
    if args.resume:  # a named file also tells which model and stage it was
        if "model" not in args.explicit and hasattr(args, "model") and meta.get("strategy") == "baseline":
            args.model = "videopose3d"
        if "stage" not in args.explicit and args.strategy == "three-stage" and meta.get("stage") in (1, 2, 3):
            args.stage = int(meta["stage"])
    check_against(meta, args, {"strategy": run_strategy(args), "stage": args.stage}, source=f"checkpoint {path.name}")
    return path, meta


def _adopt_run_settings(args, meta: dict) -> None:
    recorded = dict(meta.get("data") or {})
    recorded.update({k: meta.get(k) for k in ("dataset", "keypoints") if meta.get(k)})
    for dest, key in RESUMED_DATA.items():
        value = recorded.get(key)
        if dest not in args.explicit and value:
            setattr(args, dest, value if isinstance(value, str) else ",".join(value))


def _stage_source(args, keypoints: str):
    """Stage 2 (-p) / stage 3 (-ft): load the checkpoint to start from and check it is the right kind."""
    from ..checkpoints import load_checkpoint

    dest, flag, wanted_stage = STAGE_SOURCES.get(args.stage, (None, None, None))
    if dest is None or not getattr(args, dest, None):
        return None
    path = resolve_with_alias(getattr(args, dest), args)
    source = load_checkpoint(path)
    if (source.meta.get("strategy"), source.meta.get("stage")) != ("three-stage", wanted_stage):
        raise ParameterError(f"{flag} expects a three-stage stage-{wanted_stage} checkpoint, but {path.name} is: "
                             f"{source.describe()}")
    # model options typed on the command line must match the checkpoint we start from, but for dropout (it may
    # change between stages) and the options of parts the checkpoint has no weights for (stage 2 chooses the fusion)
    unchecked = {k for k in requested_model_fields(args) if k == "dropout" or k in source.config.unbuilt_fields}
    check_against(source.meta, args, {}, source=f"checkpoint {path.name}", leave_out=unchecked)
    if source.meta.get("keypoints") != keypoints:
        say(f"note: {path.name} was trained on {source.meta.get('keypoints')} keypoints; this stage trains on "
            f"{keypoints}")
    return source


def _hand_over(args, source):
    """``initialise(model)`` for the recipe: load the previous stage's weights and print what was done."""
    from ..recipe import stage_hand_over

    load = stage_hand_over(args.stage, source.state["model_state"])

    def initialise(model) -> None:
        try:
            report = load(model)
        except (ValueError, KeyError, TypeError) as err:  # the stored weights do not fit the stage's model
            raise ParameterError(f"cannot start stage {args.stage} from {source.path.name}: {err}") from err
        say(f"stage {args.stage} starts from {source.path}:\n{report}")

    return initialise


class _Announcement:
    """``announce(trainer)`` for the recipe: what is trained, on what, where the checkpoints go; keeps the trainer."""

    def __init__(self, args, strategy: str, keypoints: str, config, train_seqs, val_seqs, val_subjects, context):
        self.args, self.strategy, self.keypoints, self.config = args, strategy, keypoints, config
        self.train_seqs, self.val_seqs, self.val_subjects, self.context = train_seqs, val_seqs, val_subjects, context
        self.trainer = None  # the trainer, once the recipe has built it

    def __call__(self, trainer) -> None:
        import torch

        self.trainer = trainer
        if trainer.epoch:
            say(f"resuming {trainer.last_path.name} after epoch {trainer.epoch}")
        model, stage = trainer.model, self.args.stage
        total = sum(p.numel() for p in model.parameters())
        subjects = ", ".join(sorted({s.subject for s in self.train_seqs}))
        say(f"{self.strategy}" + (f" stage {stage}" if self.strategy == "three-stage" else "") +
            f" on {self.args.dataset}/{self.keypoints}: {len(self.train_seqs)} training sequences ({subjects}), "
            f"{len(self.val_seqs)} validation ({', '.join(self.val_subjects)}), {trainer.batcher.num_windows} windows")
        say(f"model: {self.config.architecture}, receptive field {model.receptive_field}, {total / 1e6:.2f}M "
            f"parameters ({trainer.trainable_parameters / 1e6:.2f}M trainable), device {trainer.device}, "
            f"threads {torch.get_num_threads()}")
        say(f"checkpoints: {trainer.best_path} (best), {trainer.last_path} (last, for --resume)")
        if self.context.enabled:
            batch, processes = trainer.config.batch_size, self.context.world_size
            say(f"data parallel: {processes} processes ({self.context.backend}), each {batch} windows per step: "
                f"effective batch {processes * batch}")


def _train(args, context) -> int:
    from ..recipe import RunPolicy, train_stage
    from ..training import split_validation

    # a resumed run continues with its own settings
    resume_path, resume_meta = _resume_source(args)
    if resume_meta is not None:
        _adopt_run_settings(args, resume_meta)
    keypoints = keypoints_of(args)
    strategy = run_strategy(args)
    out_dir = writable_checkpoint_dir(args)
    name = args.name or default_checkpoint_name(args)
    base_config = resume_meta["model_config"] if resume_meta else None
    base_train = (resume_meta.get("train_config") or None) if resume_meta else None

    # stages 2 and 3 start from a checkpoint
    source = _stage_source(args, keypoints)
    if source is not None and base_config is None:
        base_config = dict(source.meta["model_config"])

    ds = load_data(args.dataset, keypoints)
    train_subjects, test_subjects, val_subjects = subject_split(args, ds)
    if base_train and "val_subjects" not in args.explicit:
        val_subjects = list(base_train.get("val_subjects") or val_subjects)
    actions = split_list(args.actions)
    try:
        train_seqs, val_seqs = split_validation(select_sequences(ds, train_subjects, actions), val_subjects)
    except ValueError as err:  # validation subjects that are not training subjects
        raise ParameterError(str(err)) from err

    config = model_config_from_args(args, ds.skeleton.name, base_config)
    train_config = train_config_from_args(args, val_subjects, base_train)
    announcement = _Announcement(args, strategy, keypoints, config, train_seqs, val_seqs, val_subjects, context)
    policy = RunPolicy(
        earlier_run="resume" if resume_path else "replace" if args.overwrite else "refuse", resume_from=resume_path,
        distributed=context, log=say if args.no_progress else None, announce=announcement,
    )
    run_info = {"strategy": strategy, "stage": args.stage, "dataset": args.dataset, "keypoints": keypoints,
                "data": {"train_subjects": train_subjects, "test_subjects": test_subjects,
                         "val_subjects": list(val_subjects), "actions": actions}}
    try:
        run = train_stage(config, train_config, train_seqs, val_seqs, skeleton=ds.skeleton, directory=out_dir,
                          name=name, run_info=run_info, initialise=_hand_over(args, source) if source else None,
                          progress=not args.no_progress, policy=policy)
    except KeyboardInterrupt:
        epoch = announcement.trainer.epoch if announcement.trainer else 0
        say(f"\ninterrupted after epoch {epoch}; continue with the same command and --resume")
        return 130
    best_path = out_dir / name
    if run.best_metric is not None:
        say(f"best epoch {run.best_epoch}: validation P1 {run.best_metric:.1f} mm -> {best_path}")
    else:
        say(f"trained {run.epochs} epochs (no validation) -> {best_path}")

    if not context.is_main:  # rank 0 plots and evaluates
        return 0
    if args.export_training_curves:
        from ..report_plots import plot_training_curves

        figure_path = paths.OUTPUT_DIR / "figures" / f"{Path(name).stem}_curves.png"
        plot_training_curves(run.history, title=name, best_epoch=run.best_epoch, path=figure_path)
        say(f"training curves: {figure_path}")
    if not args.no_eval:
        evaluate_and_print(run.checkpoint.model.to(announcement.trainer.device), ds, args, test_subjects, actions,
                           f"Test evaluation of the best epoch ({run.best_epoch})")
    return 0
