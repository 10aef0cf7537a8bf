"""``--evaluate FILE`` (``python -m ehfusion evaluate FILE``): a checkpoint on the test subjects, and the test table
that training prints for its best epoch too."""
from __future__ import annotations

from ..errors import ParameterError
from .options import check_against, keypoints_of, resolve_with_alias, split_list, subject_split

__all__ = ["say", "load_data", "select_sequences", "evaluate_and_print", "evaluate_command"]


def say(*parts) -> None:
    """Print at once (the lines of a long run appear as they happen)."""
    print(*parts, flush=True)


def load_data(dataset: str, keypoints: str):
    from ..data import load_dataset

    return load_dataset(dataset, keypoints=keypoints)


def select_sequences(ds, subjects, actions) -> list:
    """The sequences of ``subjects`` and ``actions`` (``None``: all); names the dataset lacks are a ParameterError."""
    try:
        seqs = ds.sequences(subjects=subjects, actions=actions)
    except KeyError as err:  # a subject or action the dataset does not have; the message lists the ones it has
        raise ParameterError(err.args[0]) from err
    if not seqs:
        raise ParameterError(f"no sequences for subjects {subjects} and actions {actions or 'all'} in this dataset")
    return seqs


def evaluate_and_print(model, ds, args, test_subjects, actions, title: str) -> dict:
    """Evaluate every branch of ``model`` on the test sequences; print the answer's table and the others' averages."""
    from ..evaluation import evaluate_branches

    seqs = select_sequences(ds, test_subjects, actions)
    results = evaluate_branches(model, seqs, flip_tta=args.test_time_augmentation, skeleton=ds.skeleton,
                                progress=not args.no_progress)
    answer = model.answer_branch
    say(f"\n{title}: {len(seqs)} sequences of {', '.join(test_subjects)}")
    say(results[answer].format_table(by_subject=args.by_subject))
    for branch in (b for b in results if b != answer):
        r = results[branch]
        say(f"branch '{branch}': P1 {r.p1:.1f} mm, P2 {r.p2:.1f} mm (average over actions)")
    return results


def evaluate_command(args) -> int:
    """``--evaluate FILE``: load a checkpoint (refusing a mismatch), evaluate it on the test subjects, print."""
    from ..checkpoints import load_checkpoint
    from ..training import resolve_device

    path = resolve_with_alias(args.evaluate, args)
    ckpt = load_checkpoint(path)
    # the checkpoint knows its strategy: either script evaluates any checkpoint (typed options must still match it)
    expected = {"stage": args.stage} if "stage" in args.explicit else {}
    check_against(ckpt.meta, args, expected, source=f"checkpoint {path.name}")
    dataset = args.dataset if "dataset" in args.explicit else ckpt.meta.get("dataset") or args.dataset
    keypoints = args.keypoints or ckpt.meta.get("keypoints") or keypoints_of(args)
    if keypoints != ckpt.meta.get("keypoints") or dataset != ckpt.meta.get("dataset"):
        say(f"note: the checkpoint was trained on {ckpt.meta.get('dataset')}/{ckpt.meta.get('keypoints')}, "
            f"evaluating on {dataset}/{keypoints}")
    ds = load_data(dataset, keypoints)
    if ds.skeleton.name != ckpt.config.layout:
        raise ParameterError(f"{path.name} predicts the {ckpt.config.layout} layout but {dataset} uses "
                             f"{ds.skeleton.name}")
    args.dataset = dataset
    _, test_subjects, _ = subject_split(args, ds)
    say(f"checkpoint {path}: {ckpt.describe()}")
    evaluate_and_print(ckpt.model.to(resolve_device(args.device)), ds, args, test_subjects, split_list(args.actions),
                       "Test evaluation")
    return 0
