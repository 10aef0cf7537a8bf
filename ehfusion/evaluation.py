r"""Whole-sequence prediction and the Human3.6M evaluation protocol.

:func:`predict_sequence` runs a model over a whole sequence at once (its ``forward_sequence`` mode, in chunks so that
long sequences fit in memory) and returns one root-relative 3D pose per frame. With flip test-time augmentation the
mirrored copy of the input is predicted too, its output mirrored back (negate x, swap left and right joints) and the two
predictions averaged:

.. math:: \hat P = \tfrac12\left(f(X) + \mathrm{flip}\big(f(\mathrm{flip}(X))\big)\right)

:func:`evaluate` predicts every sequence and reports the protocol numbers in millimetres: P1 (MPJPE), P2 (P-MPJPE),
N-MPJPE and MPJVE, per action, per subject and per joint. Takes of one action are merged as in VideoPose3D
(``"Walking 1"`` counts as ``"Walking"``); each action's error is the mean over all its frames (all subjects and
cameras), and the overall number is the **unweighted mean over actions**, as papers report it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence as SequenceOf
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from . import metrics
from .data.augmentation import flip_pose
from .data.batching import sequence_inputs
from .progress import progress_bar
from .skeleton import Skeleton, get_skeleton, SKELETONS

__all__ = [
    "METRICS",
    "EvaluationResult",
    "model_skeleton",
    "predict_branches",
    "predict_sequence",
    "evaluate",
    "evaluate_branches",
    "result_from_predictions",
    "compare_results",
]

#: Reported metrics (all in millimetres), in table order.
METRICS = ("P1", "P2", "N-MPJPE", "MPJVE")
DEFAULT_CHUNK_FRAMES = 4096


# ------------------------------------------------------------------------------------------------------------ helpers
def _config_value(model: torch.nn.Module, name: str, default=None):
    """A model fact (``causal``, ``layout``...) from the model itself or its ``config``."""
    if hasattr(model, name) and not callable(getattr(model, name)):
        return getattr(model, name)
    config = getattr(model, "config", None)
    return getattr(config, name, default) if config is not None else default


def model_skeleton(model: torch.nn.Module, num_joints: int | None = None) -> Skeleton:
    """The skeleton layout a model works in (from its config's ``layout``, else guessed from the joint count)."""
    layout = _config_value(model, "layout")
    if layout:
        return get_skeleton(layout)
    matches = [s for s in SKELETONS.values() if s.num_joints == num_joints and s.groups]
    if len(matches) == 1:
        return matches[0]
    raise ValueError("cannot tell the model's skeleton layout: pass skeleton=... (e.g. ehfusion.skeleton.H36M_17)")


def _device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


# --------------------------------------------------------------------------------------------------------- prediction
@torch.inference_mode()  # no autograd bookkeeping: 5-12 % more frames/s than no_grad on a whole sequence here
def predict_branches(
    model: torch.nn.Module,
    seq,
    *,
    flip_tta: bool = True,
    skeleton: Skeleton | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
) -> dict[str, np.ndarray]:
    """Predict every branch of ``model`` for a whole sequence: ``{branch: (N, J, 3)}`` metres, root-relative.

    The model runs in eval mode (its previous mode is restored afterwards). ``chunk_frames`` output frames are
    computed per forward pass; the result does not depend on it (up to float rounding).
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be positive, got {chunk_frames}")
    skeleton = skeleton or model_skeleton(model, np.shape(seq.keypoints_2d)[1])
    receptive_field = int(model.receptive_field)
    causal = bool(_config_value(model, "causal", False))
    inputs = sequence_inputs(seq, receptive_field, skeleton=skeleton, causal=causal, flip=flip_tta)
    device = _device(model)
    keypoints = inputs.keypoints.to(device)
    camera = inputs.camera.to(device)

    was_training = model.training
    model.eval()
    try:
        pieces: dict[str, list[torch.Tensor]] = {}
        for start in range(0, inputs.num_frames, chunk_frames):
            stop = min(start + chunk_frames, inputs.num_frames)
            out = model.forward_sequence(keypoints[:, start : stop + receptive_field - 1], camera)
            for branch, value in out.items():
                if value.shape[1] != stop - start:
                    raise RuntimeError(
                        f"forward_sequence returned {value.shape[1]} frames for {stop - start} expected "
                        f"(branch {branch}); the model's receptive field does not match its padding"
                    )
                pieces.setdefault(branch, []).append(value)
    finally:
        model.train(was_training)

    result = {}
    for branch, chunks in pieces.items():
        views = torch.cat(chunks, dim=1).float().cpu().numpy()  # (V, N, J, 3)
        if flip_tta:
            prediction = 0.5 * (views[0] + flip_pose(views[1], skeleton))
        else:
            prediction = views[0]
        result[branch] = prediction.astype(np.float32)
    return result


def predict_sequence(
    model: torch.nn.Module,
    seq,
    flip_tta: bool = True,
    branch: str | None = None,
    *,
    skeleton: Skeleton | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
) -> np.ndarray:
    """Predict one branch (default: the model's answer branch) for a whole sequence: ``(N, J, 3)`` metres."""
    predictions = predict_branches(model, seq, flip_tta=flip_tta, skeleton=skeleton, chunk_frames=chunk_frames)
    return predictions[_pick_branch(model, predictions, branch)]


def _pick_branch(model, available: Iterable[str], branch: str | None) -> str:
    available = list(available)
    if branch is None:
        branch = getattr(model, "answer_branch", None) or available[-1]
    if branch not in available:
        raise KeyError(f"the model has no branch {branch!r}; its branches are: {', '.join(available)}")
    return branch


# --------------------------------------------------------------------------------------------------------- evaluation
@dataclass
class EvaluationResult:
    """Protocol numbers of one model branch on a set of sequences (errors in mm).

    ``per_sequence``: one row per sequence (subject, take, action, camera, frames, metrics).
    ``per_action``: one row per action (takes merged), each metric the mean over the action's frames.
    ``by_subject``: one row per subject, each metric the mean over that subject's actions.
    ``per_joint``: one row per joint, MPJPE of that joint averaged over actions (``mean(per_joint.P1) == P1``).
    ``overall``: the mean over actions of ``per_action`` (what papers report).
    """

    branch: str
    flip_tta: bool
    per_sequence: pd.DataFrame
    per_action: pd.DataFrame
    by_subject: pd.DataFrame
    per_joint: pd.DataFrame
    overall: dict[str, float] = field(default_factory=dict)

    @property
    def p1(self) -> float:
        return self.overall["P1"]

    @property
    def p2(self) -> float:
        return self.overall["P2"]

    def format_table(self, by_subject: bool = False) -> str:
        """Per-action table with the average over actions, as text (the command line prints it)."""
        header = (
            f"Evaluation of branch '{self.branch}' ({'with' if self.flip_tta else 'without'} flip test-time "
            f"augmentation), errors in mm; averages are over actions"
        )
        table = self.per_action.set_index("action")[["frames", *METRICS]].copy()
        table.loc[f"Average ({len(self.per_action)} actions)"] = [self.per_action["frames"].sum()] + [
            self.overall[m] for m in METRICS
        ]
        lines = [header, _format_frame(table)]
        if by_subject:
            lines += ["", "By subject (mean over each subject's actions):",
                      _format_frame(self.by_subject.set_index("subject")[["frames", *METRICS]])]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_table()


def _format_frame(table: pd.DataFrame) -> str:
    formatters = {m: "{:.1f}".format for m in METRICS}
    formatters["frames"] = lambda v: f"{int(v)}"
    return table.to_string(formatters=formatters, index_names=False)


def result_from_predictions(
    pairs: SequenceOf[tuple[object, np.ndarray]],
    skeleton: Skeleton,
    branch: str = "prediction",
    flip_tta: bool = False,
) -> EvaluationResult:
    """Build an :class:`EvaluationResult` from ``(sequence, prediction (N, J, 3) metres)`` pairs."""
    if not pairs:
        raise ValueError("nothing to evaluate: the sequence list is empty (check the subjects and actions selected)")
    rows, frames_p1, frames_p2, frames_n, frames_v, joint_errors = [], [], [], [], [], []
    for seq, prediction in pairs:
        if seq.poses_3d is None:
            raise ValueError(f"sequence {seq.subject}/{seq.action} has no ground-truth 3D poses to evaluate against")
        truth = np.asarray(seq.poses_3d, np.float64)
        prediction = np.asarray(prediction, np.float64)
        p1 = metrics.per_frame_mpjpe(prediction, truth) * 1000
        p2 = metrics.per_frame_p_mpjpe(prediction, truth) * 1000
        nm = metrics.per_frame_n_mpjpe(prediction, truth) * 1000
        vel = metrics.per_frame_mpjve(prediction, truth) * 1000 if len(truth) > 1 else np.zeros(0)
        joints = np.linalg.norm(prediction - truth, axis=-1) * 1000  # (N, J)
        key = (seq.subject, metrics.action_name(seq.action))
        frames_p1.append((key, p1)), frames_p2.append((key, p2)), frames_n.append((key, nm))
        frames_v.append((key, vel)), joint_errors.append((key, joints))
        rows.append({
            "subject": seq.subject, "take": seq.action, "action": key[1], "camera": seq.camera,
            "frames": len(truth), "P1": p1.mean(), "P2": p2.mean(), "N-MPJPE": nm.mean(),
            "MPJVE": vel.mean() if len(vel) else np.nan,
        })
    per_sequence = pd.DataFrame(rows)

    def pooled(items, by: str):
        """Mean of the pooled per-frame values for each (subject, action) or action."""
        groups: dict = {}
        for (subject, action), values in items:
            groups.setdefault(action if by == "action" else (subject, action), []).append(values)
        return {k: np.concatenate(v).mean(axis=0) if sum(len(x) for x in v) else np.nan for k, v in groups.items()}

    def table(by: str) -> pd.DataFrame:
        p1, p2, nm, vel = (pooled(x, by) for x in (frames_p1, frames_p2, frames_n, frames_v))
        frames = per_sequence.groupby("action" if by == "action" else ["subject", "action"])["frames"].sum()
        out = pd.DataFrame({"frames": frames, "P1": pd.Series(p1), "P2": pd.Series(p2),
                            "N-MPJPE": pd.Series(nm), "MPJVE": pd.Series(vel)})
        return out

    per_action = table("action").rename_axis("action").reset_index()
    per_subject_action = table("subject_action")
    per_subject_action.index.names = ["subject", "action"]
    by_subject = per_subject_action.groupby(level="subject")[list(METRICS)].mean()
    by_subject.insert(0, "frames", per_subject_action.groupby(level="subject")["frames"].sum())
    by_subject = by_subject.reset_index()

    joint_by_action = pooled(joint_errors, "action")  # action -> (J,)
    joint_mean = np.mean(np.stack(list(joint_by_action.values())), axis=0)
    per_joint = pd.DataFrame({
        "joint": list(skeleton.joint_names),
        "group": [skeleton.groups[skeleton.group_of(j)].name if skeleton.groups else "" for j in range(len(joint_mean))],
        "side": [skeleton.side_of(j) for j in range(len(joint_mean))],
        "P1": joint_mean,
    })
    overall = {m: float(per_action[m].mean()) for m in METRICS}
    return EvaluationResult(branch, flip_tta, per_sequence, per_action, by_subject, per_joint, overall)


def evaluate_branches(
    model: torch.nn.Module,
    sequences: SequenceOf,
    flip_tta: bool = True,
    *,
    skeleton: Skeleton | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    progress: bool = False,
) -> dict[str, EvaluationResult]:
    """Evaluate every branch of ``model`` with one pass over ``sequences``: ``{branch: EvaluationResult}``."""
    sequences = list(sequences)
    if not sequences:
        raise ValueError("nothing to evaluate: the sequence list is empty (check the subjects and actions selected)")
    skeleton = skeleton or model_skeleton(model, np.shape(sequences[0].keypoints_2d)[1])
    pairs: dict[str, list] = {}
    for seq in progress_bar(sequences, enabled=progress, desc="evaluating", unit="seq", leave=False):
        for branch, prediction in predict_branches(
            model, seq, flip_tta=flip_tta, skeleton=skeleton, chunk_frames=chunk_frames
        ).items():
            pairs.setdefault(branch, []).append((seq, prediction))
    return {b: result_from_predictions(p, skeleton, b, flip_tta) for b, p in pairs.items()}


def evaluate(
    model: torch.nn.Module,
    sequences: SequenceOf,
    flip_tta: bool = True,
    branch: str | None = None,
    *,
    skeleton: Skeleton | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    progress: bool = False,
) -> EvaluationResult:
    """Evaluate one branch (default: the model's answer branch) on ``sequences``; see :class:`EvaluationResult`."""
    results = evaluate_branches(model, sequences, flip_tta, skeleton=skeleton, chunk_frames=chunk_frames,
                                progress=progress)
    return results[_pick_branch(model, results, branch)]


def compare_results(results: Mapping[str, EvaluationResult], metric: str = "P1") -> pd.DataFrame:
    """One column per labelled result, one row per action plus ``Average``: ``metric`` in mm.

    >>> compare_results({"unfused": r1, "fused": r2})   # doctest: +SKIP
    """
    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    columns = {label: r.per_action.set_index("action")[metric] for label, r in results.items()}
    table = pd.DataFrame(columns)
    table.loc["Average"] = [r.overall[metric] for r in results.values()]
    return table
