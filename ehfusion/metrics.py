r"""Human3.6M evaluation metrics.

All functions take predicted and ground-truth poses of shape ``(..., J, 3)`` (any unit; the package works in metres and
reports millimetres) and return errors in the same unit.

* **MPJPE** (protocol 1, P1): :math:`\frac{1}{J}\sum_j \lVert \hat p_j - p_j \rVert_2`, averaged over frames.
* **P-MPJPE** (protocol 2, P2): MPJPE after the similarity transform (scale, rotation, translation) that best aligns the
  prediction to the truth, per frame (orthogonal Procrustes; reflections are not allowed).
* **N-MPJPE**: MPJPE after the least-squares optimal scale only, per frame.
* **MPJVE**: MPJPE of the first temporal derivative (velocities), for whole sequences.

``per_frame_*`` variants return one number per frame, which is what per-action aggregation needs: papers report the
mean over actions of each action's mean over its frames (:func:`average_over_actions`).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

__all__ = [
    "joint_distances",
    "joint_errors_mm",
    "mpjpe_loss",
    "per_frame_mpjpe",
    "per_frame_p_mpjpe",
    "per_frame_n_mpjpe",
    "per_frame_mpjve",
    "per_joint_errors",
    "mpjpe",
    "p_mpjpe",
    "n_mpjpe",
    "mpjve",
    "procrustes_align",
    "action_name",
    "average_over_actions",
]


def _check_shapes(predicted, target) -> None:
    if predicted.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(predicted.shape)} differs from target shape {tuple(target.shape)}; "
                         "they must not differ in shape: the same frames and joints, (..., J, 3)")
    if predicted.shape[-1] != 3:
        raise ValueError(f"poses must end in (J, 3) coordinates, got shape {tuple(predicted.shape)}")


# ---------------------------------------------------------------------------------------------------------- training
def mpjpe_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Differentiable MPJPE (mean Euclidean joint distance), the training loss."""
    _check_shapes(predicted, target)
    return torch.linalg.vector_norm(predicted - target, dim=-1).mean()


# -------------------------------------------------------------------------------------------------------- evaluation
def per_frame_mpjpe(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean joint distance per frame: ``(..., J, 3) -> (...)``."""
    return joint_distances(predicted, target).mean(axis=-1)


def joint_distances(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Euclidean distance of every joint: ``(..., J, 3) -> (..., J)`` (the unit of the inputs)."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    _check_shapes(predicted, target)
    return np.linalg.norm(predicted - target, axis=-1)


def joint_errors_mm(prediction, ground_truth) -> np.ndarray:
    """Euclidean error of every joint in millimetres (inputs in metres, same shape ``(..., J, 3)``)."""
    return joint_distances(np.asarray(prediction, dtype=np.float64), np.asarray(ground_truth, dtype=np.float64)) * 1000.0


def per_joint_errors(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean distance per joint over all leading axes: ``(..., J, 3) -> (J,)``."""
    dist = joint_distances(predicted, target)
    return dist.reshape(-1, dist.shape[-1]).mean(axis=0)


def procrustes_align(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Align each prediction frame to its target with the best similarity transform (no reflection).

    Shapes ``(..., J, 3)``. Solves :math:`\\min_{s,R,t} \\sum_j \\lVert s R \\hat p_j + t - p_j \\rVert^2` with
    :math:`\\det R = +1` by the SVD of the cross-covariance (Umeyama's method).
    """
    _check_shapes(predicted, target)
    pred = np.asarray(predicted, dtype=np.float64)
    tgt = np.asarray(target, dtype=np.float64)
    lead = pred.shape[:-2]
    pred = pred.reshape(-1, *pred.shape[-2:])
    tgt = tgt.reshape(-1, *tgt.shape[-2:])

    mu_p = pred.mean(axis=1, keepdims=True)
    mu_t = tgt.mean(axis=1, keepdims=True)
    p0 = pred - mu_p
    t0 = tgt - mu_t
    norm_p = np.sqrt((p0**2).sum(axis=(1, 2), keepdims=True))
    norm_t = np.sqrt((t0**2).sum(axis=(1, 2), keepdims=True))
    norm_p = np.where(norm_p > 0, norm_p, 1.0)
    norm_t = np.where(norm_t > 0, norm_t, 1.0)
    p0 = p0 / norm_p
    t0 = t0 / norm_t

    cov = np.matmul(t0.transpose(0, 2, 1), p0)  # (F, 3, 3): target^T prediction
    u, sigma, vt = np.linalg.svd(cov)
    v = vt.transpose(0, 2, 1)
    # Fix a reflection: flip the axis of the smallest singular value when det(R) would be -1.
    sign = np.sign(np.linalg.det(np.matmul(v, u.transpose(0, 2, 1))))
    sign = np.where(sign == 0, 1.0, sign)
    v[:, :, -1] *= sign[:, None]
    sigma[:, -1] *= sign
    rotation = np.matmul(v, u.transpose(0, 2, 1))  # applied as p0 @ R
    trace = sigma.sum(axis=1, keepdims=True)[..., None]
    scale = trace * norm_t / norm_p
    aligned = scale * np.matmul(pred - mu_p, rotation) + mu_t
    return aligned.reshape(*lead, *aligned.shape[-2:])


def per_frame_p_mpjpe(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """P-MPJPE per frame (protocol 2)."""
    return per_frame_mpjpe(procrustes_align(predicted, target), np.asarray(target, dtype=np.float64))


def per_frame_n_mpjpe(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """N-MPJPE per frame: the prediction is scaled by :math:`s = \\langle \\hat P, P\\rangle / \\lVert \\hat P\\rVert^2`."""
    _check_shapes(predicted, target)
    pred = np.asarray(predicted, dtype=np.float64)
    tgt = np.asarray(target, dtype=np.float64)
    num = (pred * tgt).sum(axis=(-1, -2), keepdims=True)
    den = (pred * pred).sum(axis=(-1, -2), keepdims=True)
    scale = np.divide(num, den, out=np.ones_like(num), where=den > 0)
    return per_frame_mpjpe(scale * pred, tgt)


def per_frame_mpjve(predicted: np.ndarray, target: np.ndarray, axis: int = 0) -> np.ndarray:
    """Velocity error per frame transition of a sequence ``(N, J, 3) -> (N - 1,)`` (per frame, not per second)."""
    _check_shapes(predicted, target)
    if np.asarray(predicted).shape[axis] < 2:
        raise ValueError("MPJVE needs a sequence of at least 2 frames")
    return per_frame_mpjpe(np.diff(predicted, axis=axis), np.diff(target, axis=axis))


def mpjpe(predicted, target) -> float:
    return float(per_frame_mpjpe(predicted, target).mean())


def p_mpjpe(predicted, target) -> float:
    return float(per_frame_p_mpjpe(predicted, target).mean())


def n_mpjpe(predicted, target) -> float:
    return float(per_frame_n_mpjpe(predicted, target).mean())


def mpjve(predicted, target) -> float:
    return float(per_frame_mpjve(predicted, target).mean())


# ------------------------------------------------------------------------------------------------------ aggregation
def action_name(action: str) -> str:
    """The action a take belongs to: Human3.6M names takes 'Walking', 'Walking 1'; both count as 'Walking'."""
    return action.split(" ")[0]


def average_over_actions(frame_errors: Mapping[str, np.ndarray]) -> tuple[dict[str, float], float]:
    """Per-action means and their average, as papers report them.

    ``frame_errors`` maps a take name (e.g. ``'Walking 1'``) to its per-frame errors; takes of one action are pooled
    frame by frame, each action's mean is taken, and the overall number is the unweighted mean over actions.
    """
    pooled: dict[str, list[np.ndarray]] = {}
    for take, errors in frame_errors.items():
        pooled.setdefault(action_name(take), []).append(np.ravel(errors))
    if not pooled:
        raise ValueError("no errors to aggregate: the evaluation produced no frames")
    per_action = {a: float(np.concatenate(e).mean()) for a, e in sorted(pooled.items())}
    return per_action, float(np.mean(list(per_action.values())))
