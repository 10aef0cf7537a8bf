"""The command-line surface: the argument groups every command shares, the release's parser, and the error policy.

People who know the release (and VideoPose3D) type the same commands::

    python -m ehfusion.run_onestage   -k det --stage 1 -lfd 512 -e 80
    python -m ehfusion.run_threestage -k det --stage 1 -lfd 512 -e 80
    python -m ehfusion.run_threestage -k det --stage 2 -lfd 512 -p stage_1_best_model.bin -e 80
    python -m ehfusion.run_threestage -k det --stage 3 -lfd 512 -ft stage_2_best_model.bin -lr 0.0005 -e 80
    python -m ehfusion.run_onestage   -k det --evaluate det_one-stage_best_epoch.bin

(``python -m ehfusion train one-stage ...``, ``python -m ehfusion evaluate FILE ...`` are the same commands.)

Differences from the release, all deliberate: the default dataset is the embedded one (works with no download); the
best epoch is chosen on a validation subject held out from the training subjects (``--val-subjects``, default S8) and
the test subjects are evaluated once at the end; model options that are not given on the command line are taken from
the checkpoint being evaluated, fine-tuned or resumed (and options that *are* given must match it); existing
checkpoints are never overwritten without ``--overwrite``.

Several GPUs (or CPU processes): start the same command with PyTorch's launcher, e.g.
``torchrun --nproc_per_node=4 -m ehfusion.run_onestage -k det --stage 1 -lfd 512 -e 80``. Each process trains on its
share of every epoch's windows (DistributedDataParallel; the effective batch is ``N x -b``); rank 0 alone prints,
validates, writes the checkpoints and evaluates the best epoch (see :mod:`ehfusion.distributed`).

The modules of the command line:

==============================  ===================================================================================
module                          job
==============================  ===================================================================================
:mod:`ehfusion.cli`             argument groups (data, checkpoints, model, training, running, reporting), the
                                release's parser, the options a user typed (``args.explicit``), the error policy,
                                ``run(strategy, argv)``: parse, then train or evaluate (both release scripts)
:mod:`ehfusion.cli.options`     what the options mean: configurations, checkpoint names and folders, subject splits
:mod:`ehfusion.cli.evaluate`    ``--evaluate FILE``, and the test table both commands print
:mod:`ehfusion.cli.train`       training: the command line's resume policy handed to :func:`ehfusion.recipe.train_stage`
==============================  ===================================================================================

Errors: a command prints an :mod:`ehfusion.errors` error, or an ``OSError`` about a path the user gave, as one line
``error: ...`` and exits with status 2 (``--debug`` shows its traceback); anything else is a bug and keeps its
traceback.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence as SequenceOf

from ..data import DATASETS
from ..errors import EHFusionError

__all__ = [
    "USER_ERRORS",
    "HelpFormatter",
    "filter_widths",
    "add_data_arguments",
    "add_checkpoint_arguments",
    "add_model_arguments",
    "add_training_arguments",
    "add_run_arguments",
    "add_reporting_arguments",
    "add_debug_argument",
    "build_parser",
    "parse_args",
    "report_errors",
    "run",
]

#: Errors a command prints as one line (exit status 2): the package's own, and ``OSError`` about a path the user gave.
USER_ERRORS = (EHFusionError, OSError)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: ...)`` only for real values (not for switches or defaults that depend on other options)."""

    def _get_help_string(self, action):
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


# ---------------------------------------------------------------------------------------------------- value types
def filter_widths(text: str) -> tuple[int, ...]:
    """``-arc 3,3,3`` -> ``(3, 3, 3)``."""
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


# ---------------------------------------------------------------------------------------------------- argument groups
def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Dataset, keypoints, subjects, actions and the share of windows drawn each epoch."""
    data = parser.add_argument_group("data")
    data.add_argument("-d", "--dataset", default="embedded", metavar="NAME", choices=sorted(DATASETS),
                      help=f"dataset: {', '.join(sorted(DATASETS))} (embedded ships with the package; the others read "
                           "VideoPose3D files in data/)")
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


def add_checkpoint_arguments(parser: argparse.ArgumentParser, strategy: str) -> None:
    """Where checkpoints go and come from: -c, --name, --resume, --evaluate, --overwrite (three-stage: -p, -ft)."""
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


def add_model_arguments(parser: argparse.ArgumentParser, strategy: str) -> None:
    """The model's options; those left out are taken from the checkpoint being evaluated, fine-tuned or resumed."""
    model = parser.add_argument_group("model (left out: taken from the checkpoint being evaluated/fine-tuned/resumed)")
    model.add_argument("--stage", type=int, default=1, choices=(1, 2, 3) if strategy == "three-stage" else (1,),
                       help="training stage" + (" (1, 2 or 3)" if strategy == "three-stage" else " (always 1 here)"))
    if strategy == "one-stage":
        model.add_argument("--model", default="ehfusion", choices=("ehfusion", "videopose3d"),
                           help="ehfusion, or the VideoPose3D baseline (temporal convolutions, no groups)")
    model.add_argument("-arc", "--architecture", type=filter_widths, default="3,3,3", metavar="LAYERS",
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


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The training schedule, augmentation, validation and the seed."""
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


def add_run_arguments(parser: argparse.ArgumentParser, device: str = "auto") -> None:
    """Where a command runs and how it reports progress: --device, --threads, --no-progress."""
    run = parser.add_argument_group("running")
    run.add_argument("--device", default=device, help="auto (CUDA when available), cpu, cuda or cuda:N")
    run.add_argument("--threads", type=int, default=None, metavar="N", help="torch CPU threads")
    run.add_argument("--no-progress", action="store_true", help="no progress bars (one line per epoch only)")


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    """``--debug``: show the traceback of an error instead of its one-line message (see :func:`report_errors`)."""
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the full traceback instead of the one-line message")


def add_reporting_arguments(parser: argparse.ArgumentParser) -> None:
    """What the train and evaluate commands print and draw, and ``--debug``."""
    output = parser.add_argument_group("reporting")
    output.add_argument("--by-subject", action="store_true", help="also break the test error down by subject")
    output.add_argument("--export-training-curves", action="store_true",
                        help="save the training curves as a PNG in outputs/figures/")
    add_debug_argument(output)


# ---------------------------------------------------------------------------------------------------- the parser
class _TypedOptionsParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose result records the options the user typed, in ``args.explicit``.

    Every option's action notes its destination when argparse calls it, which it does only for options on the command
    line (defaults are set without calling the action).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in (None, "store", "store_const", "store_true", "store_false"):  # None: the default, store
            self.register("action", name, _recording(self._registry_get("action", name)))

    def parse_args(self, args=None, namespace=None):
        namespace = super().parse_args(args, namespace)
        namespace.explicit = frozenset(vars(namespace).pop("_typed", ()))
        return namespace


def _recording(action_class: type[argparse.Action]) -> type[argparse.Action]:
    class Recording(action_class):
        def __call__(self, parser, namespace, values, option_string=None):
            vars(namespace).setdefault("_typed", set()).add(self.dest)
            super().__call__(parser, namespace, values, option_string)

    return Recording


def build_parser(strategy: str) -> argparse.ArgumentParser:
    """The argument parser of ``run_onestage`` (``strategy="one-stage"``) or ``run_threestage``."""
    from ..models.stages import STRATEGIES

    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    script = "run_onestage" if strategy == "one-stage" else "run_threestage"
    parser = _TypedOptionsParser(
        prog=f"python -m ehfusion.{script}",
        description=(
            "Train or evaluate EHFusion with the one-stage strategy (encoders, plain and fused decoders trained "
            "together; --model videopose3d trains the VideoPose3D baseline)." if strategy == "one-stage" else
            "Train or evaluate EHFusion with the three-stage strategy: --stage 1 trains encoders and plain decoders, "
            "--stage 2 (-p STAGE1) freezes them and trains the fusion and fused decoders, --stage 3 (-ft STAGE2) "
            "fine-tunes everything."
        ),
        epilog="Errors are in mm. Checkpoints go to checkpoints/runs/ unless -c says otherwise.",
        formatter_class=HelpFormatter,
    )
    add_data_arguments(parser)
    add_checkpoint_arguments(parser, strategy)
    add_model_arguments(parser, strategy)
    add_training_arguments(parser)
    add_run_arguments(parser)
    add_reporting_arguments(parser)
    return parser


def parse_args(strategy: str, argv: SequenceOf[str] | None = None) -> argparse.Namespace:
    """Parse a command line; ``args.explicit`` is the set of options the user actually typed."""
    parser = build_parser(strategy)
    args = parser.parse_args(argv)
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


# ---------------------------------------------------------------------------------------------------- errors
def report_errors(command: Callable[[], int], debug: bool,
                  user_errors: tuple[type[BaseException], ...] = USER_ERRORS) -> int:
    """Run ``command()``; a user's mistake (``user_errors``) prints one line ``error: ...`` and gives status 2.

    With ``debug`` the mistake keeps its traceback; any other exception is a bug and always does.
    """
    try:
        return command()
    except user_errors as err:
        if debug:
            raise
        print(f"error: {err.args[0] if len(err.args) == 1 else err}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------------------------------------------- the release's run
def run(strategy: str, argv: SequenceOf[str] | None = None) -> int:
    """Parse a command line of ``strategy`` (``one-stage`` or ``three-stage``), then train or evaluate; returns the
    exit status (a user's mistake: one line ``error: ...`` and 2, see :func:`report_errors`)."""
    from .evaluate import evaluate_command
    from .train import train_command

    args = parse_args(strategy, argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    command = evaluate_command if args.evaluate else train_command
    return report_errors(lambda: command(args), debug=args.debug)
