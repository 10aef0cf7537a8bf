"""What the options of the release's command line mean: model and training configurations, checkpoint names and
folders, subject splits, and the check of a checkpoint against the options the user typed (``args.explicit``)."""
from __future__ import annotations

import re
from collections.abc import Sequence as SequenceOf
from dataclasses import fields
from pathlib import Path

from .. import paths
from ..errors import ParameterError
from ..io import writable_folder

__all__ = [
    "keypoints_of",
    "run_strategy",
    "default_checkpoint_name",
    "requested_model_fields",
    "model_config_from_args",
    "train_config_from_args",
    "split_list",
    "subject_split",
    "checkpoint_dir",
    "writable_checkpoint_dir",
    "resolve_with_alias",
    "model_labels",
    "check_against",
]

#: Default 2D keypoints per dataset (the release's default is CPN detections on Human3.6M).
DEFAULT_KEYPOINTS = {"embedded": "det", "h36m": "cpn_ft_h36m_dbb"}
RUNS_DIR_NAME = "runs"
#: Model options, their ModelConfig field and how a mismatch is named in messages.
MODEL_FLAGS = {
    "architecture": ("filter_widths", "filter widths (-arc)"),
    "channels": ("channels", "channels (-ch)"),
    "latent_features_dim": ("latent", "latent size (-lfd)"),
    "hidden": ("hidden", "hidden size (-hid)"),
    "angle_channels": ("angle_channels", "angle channels (--angle-channels)"),
    "angle_features": ("angle_features", "angle features (--angle-features)"),
    "camera_features": ("camera_features", "camera features (--camera-features)"),
    "dropout": ("dropout", "dropout (-drop)"),
    "causal": ("causal", "causal (--causal)"),
    "fusion": ("fusion", "fusion (--fusion)"),
    "model": ("architecture", "architecture (--model)"),
}
SEED_ALIAS = re.compile(r"^stage_(\d)_best_model(\.bin)?$")


def keypoints_of(args) -> str:
    return args.keypoints or DEFAULT_KEYPOINTS.get(args.dataset, "gt")


def run_strategy(args) -> str:
    """What the checkpoint records: one-stage, three-stage, or baseline (the VideoPose3D model)."""
    if args.strategy == "one-stage" and getattr(args, "model", "ehfusion") == "videopose3d":
        return "baseline"
    return args.strategy


def default_checkpoint_name(args) -> str:
    """The release's naming: ``<k>_one-stage_best_epoch.bin``, ``<k>_three-stage_<stage>_best_epoch.bin``."""
    prefix = keypoints_of(args).split("_")[0]
    strategy = run_strategy(args)
    if strategy == "baseline":
        return f"{prefix}_videopose3d_best_epoch.bin"
    if strategy == "one-stage":
        return f"{prefix}_one-stage_best_epoch.bin"
    return f"{prefix}_three-stage_{args.stage}_best_epoch.bin"


def requested_model_fields(args) -> dict:
    """ModelConfig fields the user typed (to check against a checkpoint), by field name."""
    out = {}
    for dest, (field_name, _label) in MODEL_FLAGS.items():
        if dest in args.explicit:
            out[field_name] = getattr(args, dest)
    return out


def model_config_from_args(args, layout: str, base: dict | None = None):
    """The ``ModelConfig`` a command line asks for; fields not typed come from ``base`` (a checkpoint's config)."""
    from ..models import ModelConfig, stage_branches

    known = {f.name for f in fields(ModelConfig)}
    values = dict(base or {})
    if not base:
        # a fresh model: the command line's values (including its defaults) for the options it has
        for dest, (field_name, _label) in MODEL_FLAGS.items():
            value = getattr(args, dest, None)
            if value is not None and field_name in known:
                values[field_name] = value
    else:
        values.update({k: v for k, v in requested_model_fields(args).items() if k in known})
    values["layout"] = layout
    strategy = run_strategy(args)
    # three-stage: the stage's branches; one-stage and the baseline: ModelConfig chooses (one-stage's plain and fused,
    # plain only with --fusion none; the baseline's single pose)
    values["branches"] = stage_branches(strategy, args.stage) if strategy == "three-stage" else None
    if "filter_widths" in values:
        values["filter_widths"] = tuple(values["filter_widths"])
    return ModelConfig.from_dict({k: v for k, v in values.items() if k in known})


#: Training options and their TrainConfig field (a resumed run takes the fields not typed from its checkpoint).
TRAIN_FLAGS = {
    "epochs": "epochs", "batch_size": "batch_size", "learning_rate": "lr", "lr_decay": "lr_decay",
    "data_augmentation": "flip_augment", "test_time_augmentation": "flip_tta", "no_val": "validate",
    "seed": "seed", "device": "device", "val_subjects": "val_subjects", "subset": "subset", "threads": "num_threads",
}


def train_config_from_args(args, val_subjects: SequenceOf[str], base: dict | None = None):
    """The ``TrainConfig`` of a command line; with ``base`` (a resumed checkpoint's), only typed options override it."""
    from ..training import TrainConfig, bn_momentum_end_for

    bn_start, bn_end = args.bn_momentum
    if bn_end is None:
        bn_end = bn_momentum_end_for(args.epochs, bn_start, architecture=getattr(args, "model", "ehfusion"))
    typed = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.learning_rate, lr_decay=args.lr_decay,
        flip_augment=args.data_augmentation, flip_tta=args.test_time_augmentation, validate=not args.no_val,
        seed=args.seed, device=args.device, val_subjects=tuple(val_subjects), subset=args.subset,
        num_threads=args.threads, bn_momentum_start=bn_start, bn_momentum_end=bn_end,
    )
    if not base:
        return typed
    merged = TrainConfig.from_dict(base).to_dict()
    for dest, field_name in TRAIN_FLAGS.items():
        if dest in args.explicit or field_name in ("device", "num_threads"):
            merged[field_name] = getattr(typed, field_name)
    if "bn_momentum" in args.explicit:
        merged["bn_momentum_start"], merged["bn_momentum_end"] = typed.bn_momentum_start, typed.bn_momentum_end
    return TrainConfig.from_dict(merged)


def split_list(text: str | None) -> list[str] | None:
    if text is None or text.strip() in ("", "*"):
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def subject_split(args, ds) -> tuple[list[str], list[str], list[str]]:
    """(training, test, validation) subjects from the flags, with the dataset's own splits as defaults."""
    train = split_list(args.subjects_train) or list(ds.split_subjects("train"))
    test = split_list(args.subjects_test) or list(ds.split_subjects("test"))
    val = split_list(args.val_subjects) or list(ds.split_subjects("validation"))
    if args.val_subjects is None and not set(val) & set(train):
        val = train[-1:]  # custom training subjects without the default validation subject: use the last one
    overlap = sorted(set(train) & set(test))
    if overlap:
        raise ParameterError(f"subjects {', '.join(overlap)} are both training and test subjects; "
                             "separate -str and -ste")
    return train, test, val


# ---------------------------------------------------------------------------------------------------- checkpoint files
def checkpoint_dir(args) -> Path:
    """Where training writes: -c, or checkpoints/runs."""
    return Path(args.checkpoint).expanduser() if args.checkpoint else paths.CHECKPOINT_DIR / RUNS_DIR_NAME


def writable_checkpoint_dir(args) -> Path:
    """:func:`checkpoint_dir`, created if needed; a path that is a file or cannot be created is an
    :class:`~ehfusion.errors.OutputPathError`."""
    return writable_folder(checkpoint_dir(args), "-c")


def lookup_directories(args) -> list[Path]:
    """Where checkpoint names are looked up: -c, checkpoints/, checkpoints/runs."""
    dirs = [Path(args.checkpoint).expanduser()] if args.checkpoint else []
    return dirs + [paths.CHECKPOINT_DIR, paths.CHECKPOINT_DIR / RUNS_DIR_NAME]


def resolve_with_alias(name: str, args) -> Path:
    """Resolve a checkpoint name; the release's ``stage_N_best_model.bin`` also finds ``<k>_three-stage_N_...``."""
    from ..checkpoints import resolve_checkpoint

    dirs = lookup_directories(args)
    try:
        return resolve_checkpoint(name, dirs)
    except FileNotFoundError:
        match = SEED_ALIAS.match(Path(name).name)
        if match and len(Path(name).parts) == 1:
            alias = f"{keypoints_of(args).split('_')[0]}_three-stage_{match.group(1)}_best_epoch.bin"
            try:
                return resolve_checkpoint(alias, dirs)
            except FileNotFoundError:
                pass
        raise


def model_labels() -> dict[str, str]:
    """How each checked field is named in messages: the option that sets it."""
    labels = {field_name: label for field_name, label in MODEL_FLAGS.values()}
    labels.update({"stage": "stage (--stage)", "strategy": "strategy (run_onestage / run_threestage, --model)"})
    return labels


def check_against(meta: dict, args, expected: dict, source: str, leave_out=()) -> None:
    """Refuse a checkpoint whose fields differ from the expected ones or from the model options the user typed (but
    for the fields in ``leave_out``)."""
    from ..checkpoints import check_compatible

    typed = {k: v for k, v in requested_model_fields(args).items() if k not in leave_out}
    try:
        check_compatible(meta, expected | typed, labels=model_labels(), source=source)
    except ValueError as err:  # the checkpoint and the typed options differ: the message names each field
        raise ParameterError(str(err)) from err
