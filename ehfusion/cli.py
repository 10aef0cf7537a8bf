"""The command lines of ``run_onestage`` and ``run_threestage``: the original release's flags, working.

People who know the release (and VideoPose3D) type the same commands::

    python -m ehfusion.run_onestage   -k det --stage 1 -lfd 512 -e 80
    python -m ehfusion.run_threestage -k det --stage 1 -lfd 512 -e 80
    python -m ehfusion.run_threestage -k det --stage 2 -lfd 512 -p stage_1_best_model.bin -e 80
    python -m ehfusion.run_threestage -k det --stage 3 -lfd 512 -ft stage_2_best_model.bin -lr 0.0005 -e 80
    python -m ehfusion.run_onestage   -k det --evaluate det_one-stage_best_epoch.bin

Differences from the release, all deliberate: the default dataset is the embedded one (works with no download); the
best epoch is chosen on a validation subject held out from the training subjects (``--val-subjects``, default S8) and
the test subjects are evaluated once at the end; model options that are not given on the command line are taken from
the checkpoint being evaluated, fine-tuned or resumed (and options that *are* given must match it); existing
checkpoints are never overwritten without ``--overwrite``.

Several GPUs (or CPU processes): start the same command with PyTorch's launcher, e.g.
``torchrun --nproc_per_node=4 -m ehfusion.run_onestage -k det --stage 1 -lfd 512 -e 80``. Each process trains on its
share of every epoch's windows (DistributedDataParallel; the effective batch is ``N x -b``); rank 0 alone prints,
validates, writes the checkpoints and evaluates the best epoch (see :mod:`ehfusion.distributed`).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Sequence as SequenceOf
from dataclasses import fields
from pathlib import Path

from . import paths
from .errors import EHFusionError
from .io import writable_folder

__all__ = [
    "STRATEGIES",
    "UserError",
    "build_parser",
    "parse_args",
    "default_checkpoint_name",
    "model_config_from_args",
    "train_config_from_args",
    "run",
]

STRATEGIES = ("one-stage", "three-stage")
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


class UserError(EHFusionError):
    """A mistake on the command line or in the files it names: printed as one clear message, no traceback."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: ...)`` only for real values (not for switches or defaults that depend on other options)."""

    def _get_help_string(self, action):
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


# ------------------------------------------------------------------------------------------------------------- parser
def _filter_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected filter widths like 3,3,3, got {text!r}") from None
    if not widths or any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"filter widths must be positive integers like 3,3,3, got {text!r}")
    return widths


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text}")
    return value


def _momentum_range(text: str) -> tuple[float, float]:
    """``START[,END]`` BatchNorm momenta; one number means a constant momentum."""
    try:
        values = [float(t) for t in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or not 0 < values[1] <= values[0] <= 1:
        raise argparse.ArgumentTypeError(
            f"expected START[,END] with 0 < END <= START <= 1 (for example 0.1,0.001 or 0.1), got {text!r}")
    return values[0], values[1]


def build_parser(strategy: str) -> argparse.ArgumentParser:
    """The argument parser of ``run_onestage`` (``strategy="one-stage"``) or ``run_threestage``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    script = "run_onestage" if strategy == "one-stage" else "run_threestage"
    parser = argparse.ArgumentParser(
        prog=f"python -m ehfusion.{script}",
        description=(
            "Train or evaluate EHFusion with the one-stage strategy (encoders, plain and fused decoders trained "
            "together; --model videopose3d trains the VideoPose3D baseline)." if strategy == "one-stage" else
            "Train or evaluate EHFusion with the three-stage strategy: --stage 1 trains encoders and plain decoders, "
            "--stage 2 (-p STAGE1) freezes them and trains the fusion and fused decoders, --stage 3 (-ft STAGE2) "
            "fine-tunes everything."
        ),
        epilog="Errors are in mm. Checkpoints go to checkpoints/runs/ unless -c says otherwise.",
        formatter_class=_HelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument("-d", "--dataset", default="embedded", metavar="NAME",
                      help="dataset: embedded (ships with the package), h36m or humaneva15 (VideoPose3D files in data/)")
    data.add_argument("-k", "--keypoints", default=None, metavar="NAME",
                      help="2D keypoints: gt, det (embedded), cpn_ft_h36m_dbb, detectron_pt_coco... "
                           "(default: det for embedded, cpn_ft_h36m_dbb for h36m; with --evaluate the checkpoint's)")
    data.add_argument("-str", "--subjects-train", default=None, metavar="LIST",
                      help="training subjects, comma-separated (default S1,S5,S6,S7,S8)")
    data.add_argument("-ste", "--subjects-test", default=None, metavar="LIST",
                      help="test subjects, comma-separated (default S9,S11)")
    data.add_argument("--val-subjects", default=None, metavar="LIST",
                      help="validation subjects, held out from the training subjects, that choose the best epoch "
                           "(default S8)")
    data.add_argument("-a", "--actions", default="*", metavar="LIST",
                      help="actions to train and test on, comma-separated, or * for all")
    data.add_argument("--subset", type=_fraction, default=1.0, metavar="FRACTION",
                      help="fraction of the training windows drawn each epoch")

    files = parser.add_argument_group("checkpoints")
    files.add_argument("-c", "--checkpoint", default=None, metavar="DIR",
                       help="checkpoint folder (default: checkpoints/runs for training; names given to --evaluate, "
                            "-p, -ft are also looked up in checkpoints/)")
    files.add_argument("--name", default=None, metavar="FILE",
                       help="file name of the best checkpoint (default like the release: <k>_one-stage_best_epoch.bin, "
                            "<k>_three-stage_<stage>_best_epoch.bin); a resumable <..._last_epoch.bin> goes beside it")
    files.add_argument("-r", "--resume", nargs="?", const="", default=None, metavar="FILE",
                       help="continue an interrupted run from its last-epoch checkpoint (or from FILE) exactly")
    files.add_argument("--evaluate", default=None, metavar="FILE",
                       help="evaluate a checkpoint (a path or a name in -c / checkpoints/) on the test subjects")
    files.add_argument("--overwrite", action="store_true", help="replace existing checkpoints of the same name")
    if strategy == "three-stage":
        files.add_argument("-p", "--pretrain", default=None, metavar="FILE",
                           help="stage 2: the stage-1 checkpoint to start from (e.g. stage_1_best_model.bin)")
        files.add_argument("-ft", "--finetune", default=None, metavar="FILE",
                           help="stage 3: the stage-2 checkpoint to fine-tune (e.g. stage_2_best_model.bin)")

    model = parser.add_argument_group("model (left out: taken from the checkpoint being evaluated/fine-tuned/resumed)")
    model.add_argument("--stage", type=int, default=1, choices=(1, 2, 3) if strategy == "three-stage" else (1,),
                       help="training stage" + (" (1, 2 or 3)" if strategy == "three-stage" else " (always 1 here)"))
    if strategy == "one-stage":
        model.add_argument("--model", default="ehfusion", choices=("ehfusion", "videopose3d"),
                           help="ehfusion, or the VideoPose3D baseline (temporal convolutions, no groups)")
    model.add_argument("-arc", "--architecture", type=_filter_widths, default="3,3,3", metavar="LAYERS",
                       help="filter widths separated by commas; the receptive field is their product (3,3,3 -> 27)")
    model.add_argument("--causal", action="store_true", default=False,
                       help="causal convolutions (the output frame is the window's last) for real-time use")
    model.add_argument("-ch", "--channels", type=int, default=256, metavar="N",
                       help="channels of the temporal convolutions")
    model.add_argument("-lfd", "--latent-features-dim", type=int, default=256, metavar="N",
                       help="latent size L of the local and global features (the release: 256 for gt, 512 for det)")
    model.add_argument("-hid", "--hidden", type=int, default=1024, metavar="N",
                       help="hidden size of the fully connected blocks")
    model.add_argument("--angle-channels", type=int, default=None, metavar="N",
                       help="channels of the motion-angle encoders (default: the model's default)")
    model.add_argument("--angle-features", type=int, default=None, metavar="N",
                       help="motion-angle features per group (default: the model's default)")
    model.add_argument("--camera-features", type=int, default=None, metavar="N",
                       help="camera embedding size (default: the model's default)")
    model.add_argument("-drop", "--dropout", type=float, default=None, metavar="P",
                       help="dropout probability (default: the model's default)")
    model.add_argument("--fusion", default="heterogeneous", choices=("heterogeneous", "fc", "nddr", "none"),
                       help="fusion operator: heterogeneous (FC for the torso, NDDR for limbs), fc, nddr, or none")

    train = parser.add_argument_group("training")
    train.add_argument("-e", "--epochs", type=int, default=80, metavar="N", help="training epochs")
    train.add_argument("-b", "--batch-size", type=int, default=1024, metavar="N", help="batch size in frames")
    train.add_argument("-lr", "--learning-rate", type=float, default=0.001, metavar="LR",
                       help="initial learning rate (the release fine-tunes stage 3 with 0.0005)")
    train.add_argument("-lrd", "--lr-decay", type=float, default=0.95, metavar="FACTOR",
                       help="learning-rate decay per epoch")
    train.add_argument("--bn-momentum", type=_momentum_range, default=(0.1, None), metavar="START[,END]",
                       help="BatchNorm momentum at the first epoch and at the end, decaying exponentially in between; "
                            "one number keeps it constant (default: VideoPose3D's 0.1,0.001 for runs of 80 epochs or "
                            "more and for the VideoPose3D model, a constant 0.1 for shorter EHFusion runs)")
    train.add_argument("-no-da", "--no-data-augmentation", dest="data_augmentation", action="store_false",
                       help="disable train-time flipping")
    train.add_argument("-no-tta", "--no-tta", "--no-test-time-augmentation", dest="test_time_augmentation",
                       action="store_false", help="disable flip test-time augmentation (validation and evaluation)")
    train.add_argument("--no-eval", action="store_true",
                       help="skip the evaluation of the best epoch on the test subjects after training (validation "
                            "still picks the best epoch)")
    train.add_argument("--no-val", action="store_true",
                       help="skip the per-epoch validation: faster, and the last epoch is kept as the 'best'")
    train.add_argument("--seed", type=int, default=0, help="random seed (initial weights, shuffling, dropout)")
    train.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    train.add_argument("--threads", type=int, default=None, metavar="N", help="torch CPU threads")
    train.add_argument("--no-progress", action="store_true", help="no progress bars (one line per epoch only)")

    output = parser.add_argument_group("reporting")
    output.add_argument("--by-subject", action="store_true", help="also break the test error down by subject")
    output.add_argument("--export-training-curves", action="store_true",
                        help="save the training curves as a PNG in outputs/figures/")
    output.add_argument("--debug", action="store_true",
                        help="on an error, show the full traceback instead of the one-line message")
    return parser


def parse_args(strategy: str, argv: SequenceOf[str] | None = None) -> argparse.Namespace:
    """Parse a command line; ``args.explicit`` is the set of options the user actually typed."""
    parser = build_parser(strategy)
    args = parser.parse_args(argv)
    shadow = build_parser(strategy)
    for action in shadow._actions:  # the same parser with no defaults tells which options were typed
        action.default = argparse.SUPPRESS
    args.explicit = frozenset(vars(shadow.parse_args(argv)))
    args.strategy = strategy
    if args.resume is not None and args.evaluate:
        parser.error("--resume and --evaluate cannot be used together")
    if strategy == "three-stage" and args.evaluate is None:
        if args.stage == 2 and not args.pretrain and args.resume is None:
            parser.error("stage 2 starts from a stage-1 checkpoint: add -p stage_1_best_model.bin (or a path)")
        if args.stage == 3 and not args.finetune and args.resume is None:
            parser.error("stage 3 fine-tunes a stage-2 checkpoint: add -ft stage_2_best_model.bin (or a path)")
        if args.pretrain and args.stage != 2:
            parser.error("-p (the stage-1 checkpoint) only applies to --stage 2")
        if args.finetune and args.stage != 3:
            parser.error("-ft (the stage-2 checkpoint) only applies to --stage 3")
    return args


# ----------------------------------------------------------------------------------------------------- configurations
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
    from .models import ModelConfig, stage_branches

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
    from .training import TrainConfig, bn_momentum_end_for

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


def _split_list(text: str | None) -> list[str] | None:
    if text is None or text.strip() in ("", "*"):
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def subject_split(args, ds) -> tuple[list[str], list[str], list[str]]:
    """(training, test, validation) subjects from the flags, with the dataset's own splits as defaults."""
    train = _split_list(args.subjects_train) or list(ds.split_subjects("train"))
    test = _split_list(args.subjects_test) or list(ds.split_subjects("test"))
    val = _split_list(args.val_subjects) or list(ds.split_subjects("validation"))
    if args.val_subjects is None and not set(val) & set(train):
        val = train[-1:]  # custom training subjects without the default validation subject: use the last one
    overlap = sorted(set(train) & set(test))
    if overlap:
        raise UserError(f"subjects {', '.join(overlap)} are both training and test subjects; separate -str and -ste")
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
    dirs = [Path(args.checkpoint).expanduser()] if args.checkpoint else []
    return dirs + [paths.CHECKPOINT_DIR, paths.CHECKPOINT_DIR / RUNS_DIR_NAME]


def resolve_with_alias(name: str, args) -> Path:
    """Resolve a checkpoint name; the release's ``stage_N_best_model.bin`` also finds ``<k>_three-stage_N_...``."""
    from .checkpoints import resolve_checkpoint

    dirs = lookup_directories(args)
    try:
        return resolve_checkpoint(name, dirs)
    except FileNotFoundError as err:
        match = SEED_ALIAS.match(Path(name).name)
        if match and len(Path(name).parts) == 1:
            alias = f"{keypoints_of(args).split('_')[0]}_three-stage_{match.group(1)}_best_epoch.bin"
            try:
                return resolve_checkpoint(alias, dirs)
            except FileNotFoundError:
                pass
        raise UserError(str(err)) from None


def _labels() -> dict[str, str]:
    labels = {field_name: label for field_name, label in MODEL_FLAGS.values()}
    labels.update({"stage": "stage (--stage)", "strategy": "strategy (run_onestage / run_threestage, --model)"})
    return labels


def check_against(meta: dict, args, expected: dict, source: str) -> None:
    """Refuse a checkpoint whose fields differ from the expected ones or from the model options the user typed."""
    from .checkpoints import check_compatible

    try:
        check_compatible(meta, expected | requested_model_fields(args), labels=_labels(), source=source)
    except ValueError as err:
        raise UserError(str(err)) from None


# ------------------------------------------------------------------------------------------------------------- running
def _print(*parts) -> None:
    print(*parts, flush=True)


def _load_data(dataset: str, keypoints: str):
    from .data import load_dataset

    return load_dataset(dataset, keypoints=keypoints)


def _sequences(ds, subjects, actions):
    seqs = ds.sequences(subjects=subjects, actions=actions)
    if not seqs:
        raise UserError(f"no sequences for subjects {subjects} and actions {actions or 'all'} in this dataset")
    return seqs


def _evaluate_and_print(model, ds, args, test_subjects, actions, title: str) -> dict:
    from .evaluation import evaluate_branches

    seqs = _sequences(ds, test_subjects, actions)
    results = evaluate_branches(model, seqs, flip_tta=args.test_time_augmentation, skeleton=ds.skeleton,
                                progress=not args.no_progress)
    answer = model.answer_branch
    _print(f"\n{title}: {len(seqs)} sequences of {', '.join(test_subjects)}")
    _print(results[answer].format_table(by_subject=args.by_subject))
    others = [b for b in results if b != answer]
    for branch in others:
        r = results[branch]
        _print(f"branch '{branch}': P1 {r.p1:.1f} mm, P2 {r.p2:.1f} mm (average over actions)")
    return results


def evaluate_command(args) -> int:
    """``--evaluate FILE``: load a checkpoint (refusing a mismatch), evaluate it on the test subjects, print."""
    from .checkpoints import load_checkpoint

    path = resolve_with_alias(args.evaluate, args)
    try:
        ckpt = load_checkpoint(path)
    except ValueError as err:
        raise UserError(str(err)) from None
    # the checkpoint knows its strategy: either script evaluates any checkpoint (typed options must still match it)
    expected = {"stage": args.stage} if "stage" in args.explicit else {}
    check_against(ckpt.meta, args, expected, source=f"checkpoint {path.name}")
    dataset = args.dataset if "dataset" in args.explicit else ckpt.meta.get("dataset") or args.dataset
    keypoints = args.keypoints or ckpt.meta.get("keypoints") or keypoints_of(args)
    if keypoints != ckpt.meta.get("keypoints") or dataset != ckpt.meta.get("dataset"):
        _print(f"note: the checkpoint was trained on {ckpt.meta.get('dataset')}/{ckpt.meta.get('keypoints')}, "
               f"evaluating on {dataset}/{keypoints}")
    ds = _load_data(dataset, keypoints)
    if ds.skeleton.name != ckpt.config.layout:
        raise UserError(f"{path.name} predicts the {ckpt.config.layout} layout but {dataset} uses {ds.skeleton.name}")
    args.dataset = dataset
    _, test_subjects, _ = subject_split(args, ds)
    from .training import resolve_device

    _print(f"checkpoint {path}: {ckpt.describe()}")
    _evaluate_and_print(ckpt.model.to(resolve_device(args.device)), ds, args, test_subjects,
                        _split_list(args.actions), "Test evaluation")
    return 0


def _source_checkpoint(args):
    """The checkpoint a run starts from (-p or -ft) with (flag, stage it must come from), or (None, None)."""
    if args.stage == 2 and getattr(args, "pretrain", None):
        return args.pretrain, ("-p", 1)
    if args.stage == 3 and getattr(args, "finetune", None):
        return args.finetune, ("-ft", 2)
    return None, (None, None)


def _read_meta(path: Path) -> dict:
    from .checkpoints import read_checkpoint

    try:
        return read_checkpoint(path)
    except ValueError as err:
        raise UserError(str(err)) from None


def _resume_source(args) -> tuple[Path | None, dict | None]:
    """``--resume``: this run's last-epoch checkpoint; ``--resume FILE``: that file (and its folder for new files)."""
    from .training import last_checkpoint_name

    if args.resume is None:
        return None, None
    if args.resume:
        path = resolve_with_alias(args.resume, args)
        if "checkpoint" not in args.explicit:
            args.checkpoint = str(path.parent)  # keep writing beside it
    else:
        path = checkpoint_dir(args) / last_checkpoint_name(args.name or default_checkpoint_name(args))
        if not path.is_file():
            raise UserError(f"nothing to resume: {path} does not exist (run without --resume first, or pass "
                            "--resume FILE, the same -k/--name/-c as the interrupted run)")
    meta = _read_meta(path)
    if args.resume:  # a named file also tells which model and stage it was
        if "model" not in args.explicit and hasattr(args, "model") and meta.get("strategy") == "baseline":
            args.model = "videopose3d"
        if "stage" not in args.explicit and args.strategy == "three-stage" and meta.get("stage") in (1, 2, 3):
            args.stage = int(meta["stage"])
    check_against(meta, args, {"strategy": run_strategy(args), "stage": args.stage}, source=f"checkpoint {path.name}")
    return path, meta


#: Data options a resumed run takes from its checkpoint unless typed again.
RESUMED_DATA = {"dataset": "dataset", "keypoints": "keypoints", "subjects_train": "train_subjects",
                "subjects_test": "test_subjects", "actions": "actions"}


def _adopt_run_settings(args, meta: dict) -> None:
    recorded = dict(meta.get("data") or {})
    recorded.update({k: meta.get(k) for k in ("dataset", "keypoints") if meta.get(k)})
    for dest, key in RESUMED_DATA.items():
        value = recorded.get(key)
        if dest not in args.explicit and value:
            setattr(args, dest, value if isinstance(value, str) else ",".join(value))


def _stage_source(args, keypoints: str):
    """Stage 2 (-p) / stage 3 (-ft): load the checkpoint to start from and check it is the right kind."""
    from .checkpoints import check_compatible, load_checkpoint

    source_name, (flag, wanted_stage) = _source_checkpoint(args)
    if not source_name:
        return None
    path = resolve_with_alias(source_name, args)
    try:
        source = load_checkpoint(path)
    except ValueError as err:
        raise UserError(str(err)) from None
    if (source.meta.get("strategy"), source.meta.get("stage")) != ("three-stage", wanted_stage):
        raise UserError(f"{flag} expects a three-stage stage-{wanted_stage} checkpoint, but {path.name} is: "
                        f"{source.describe()}")
    # model options typed on the command line must match the checkpoint we start from, but for dropout (it may
    # change between stages) and the options of parts the checkpoint has no weights for (stage 2 chooses the fusion)
    fixed = {k: v for k, v in requested_model_fields(args).items()
             if k != "dropout" and k not in source.config.unbuilt_fields}
    try:
        check_compatible(source.meta, fixed, labels=_labels(), source=f"checkpoint {path.name}")
    except ValueError as err:
        raise UserError(str(err)) from None
    if source.meta.get("keypoints") != keypoints:
        _print(f"note: {path.name} was trained on {source.meta.get('keypoints')} keypoints; "
               f"this stage trains on {keypoints}")
    return source


def train_command(args) -> int:
    """Train (stage 1, 2 or 3, or one-stage), keep the best epoch by validation, then evaluate it once on test.

    Under ``torchrun`` every process runs this with the same arguments; the ones other than rank 0 print nothing.
    """
    from .distributed import cleanup, init_distributed

    try:
        context = init_distributed(device=args.device)
    except (ValueError, RuntimeError) as err:
        raise UserError(f"cannot start distributed training: {err}") from None
    try:
        if context.is_main:
            return _train(args, context)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            return _train(args, context)
    finally:
        cleanup(context)


def _train(args, context) -> int:
    import torch

    from .checkpoints import load_checkpoint
    from .models import stages
    from .recipe import build_stage_model, stage_hand_over
    from .training import Trainer, split_validation

    # ----------------------------------------------------------- a resumed run continues with its own settings
    resume_path, resume_meta = _resume_source(args)
    if resume_meta is not None:
        _adopt_run_settings(args, resume_meta)
    keypoints = keypoints_of(args)
    strategy = run_strategy(args)
    out_dir = writable_checkpoint_dir(args)
    name = args.name or default_checkpoint_name(args)
    best_path = out_dir / name
    if resume_meta is None and best_path.exists() and not args.overwrite:
        raise UserError(f"{best_path} already exists; continue it with --resume, choose another --name, "
                        "or pass --overwrite to replace it")
    base_config = resume_meta["model_config"] if resume_meta else None
    base_train = (resume_meta.get("train_config") or None) if resume_meta else None

    # ----------------------------------------------------------- stages 2 and 3 start from a checkpoint
    source = _stage_source(args, keypoints)
    if source is not None and base_config is None:
        base_config = dict(source.meta["model_config"])

    # ----------------------------------------------------------- data
    ds = _load_data(args.dataset, keypoints)
    train_subjects, test_subjects, val_subjects = subject_split(args, ds)
    if base_train and "val_subjects" not in args.explicit:
        val_subjects = list(base_train.get("val_subjects") or val_subjects)
    actions = _split_list(args.actions)
    all_train = _sequences(ds, train_subjects, actions)
    try:
        train_seqs, val_seqs = split_validation(all_train, val_subjects)
    except ValueError as err:
        raise UserError(str(err)) from None

    # ----------------------------------------------------------- model
    config = model_config_from_args(args, ds.skeleton.name, base_config)
    train_config = train_config_from_args(args, val_subjects, base_train)
    model = build_stage_model(config, args.seed)
    if source is not None:
        try:
            report = stage_hand_over(args.stage, source.state["model_state"])(model)
        except (ValueError, KeyError, TypeError) as err:
            raise UserError(f"cannot start stage {args.stage} from {source.path.name}: {err}") from None
        _print(f"stage {args.stage} starts from {source.path}:\n{report}")
    if strategy == "three-stage" and args.stage == 2:
        stages.freeze_encoders(model)  # also when resuming: the optimiser must see the same parameters

    trainer = Trainer(
        model, train_config, train_seqs, val_seqs, skeleton=ds.skeleton, checkpoint_dir=out_dir, name=name,
        run_info={"strategy": strategy, "stage": args.stage, "dataset": args.dataset, "keypoints": keypoints,
                  "data": {"train_subjects": train_subjects, "test_subjects": test_subjects,
                           "val_subjects": list(val_subjects), "actions": actions}},
        model_config=config, progress=not args.no_progress, log=_print if args.no_progress else None,
        distributed=context,
    )
    if resume_path is not None:
        try:
            done = trainer.resume(resume_path)
        except ValueError as err:
            raise UserError(str(err)) from None
        _print(f"resuming {resume_path.name} after epoch {done}")

    total = sum(p.numel() for p in model.parameters())
    _print(f"{strategy}" + (f" stage {args.stage}" if strategy == "three-stage" else "") +
           f" on {args.dataset}/{keypoints}: {len(train_seqs)} training sequences ({', '.join(sorted({s.subject for s in train_seqs}))}), "
           f"{len(val_seqs)} validation ({', '.join(val_subjects)}), {trainer.batcher.num_windows} windows")
    _print(f"model: {config.architecture}, receptive field {model.receptive_field}, {total / 1e6:.2f}M parameters "
           f"({trainer.trainable_parameters / 1e6:.2f}M trainable), device {trainer.device}, "
           f"threads {torch.get_num_threads()}")
    _print(f"checkpoints: {trainer.best_path} (best), {trainer.last_path} (last, for --resume)")
    if context.enabled:
        _print(f"data parallel: {context.world_size} processes ({context.backend}), each {train_config.batch_size} "
               f"windows per step: effective batch {context.world_size * train_config.batch_size}")
    try:
        summary = trainer.fit()
    except KeyboardInterrupt:
        _print(f"\ninterrupted after epoch {trainer.epoch}; continue with the same command and --resume")
        return 130
    if summary.best_metric is not None:
        _print(f"best epoch {summary.best_epoch}: validation P1 {summary.best_metric:.1f} mm -> {best_path}")
    else:
        _print(f"trained {trainer.epoch} epochs (no validation) -> {best_path}")

    if not context.is_main:  # rank 0 plots and evaluates
        return 0
    if args.export_training_curves:
        from .report_plots import plot_training_curves

        figure_path = paths.OUTPUT_DIR / "figures" / f"{Path(name).stem}_curves.png"
        plot_training_curves(trainer.history, title=name, best_epoch=summary.best_epoch, path=figure_path)
        _print(f"training curves: {figure_path}")
    if not args.no_eval:
        best = load_checkpoint(best_path)
        _evaluate_and_print(best.model.to(trainer.device), ds, args, test_subjects, actions,
                            f"Test evaluation of the best epoch ({summary.best_epoch})")
    return 0


def run(strategy: str, argv: SequenceOf[str] | None = None) -> int:
    """Entry point of both scripts: parse, then train or evaluate; user mistakes print one line, exit status 2.

    The mistakes are :class:`UserError` and the :mod:`ehfusion.errors` types of the files it reads and writes
    (``--debug`` shows their traceback); anything else is a bug and keeps its traceback.
    """
    args = parse_args(strategy, argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        return evaluate_command(args) if args.evaluate else train_command(args)
    except (FileNotFoundError, ValueError, KeyError, IndexError) as err:  # ValueError: every ehfusion.errors type
        if args.debug:
            raise
        message = err.args[0] if err.args else str(err)
        print(f"error: {message}", file=sys.stderr)
        return 2
