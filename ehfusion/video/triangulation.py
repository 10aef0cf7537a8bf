"""Triangulate 3D points from several calibrated views: confidence-weighted DLT, and its reprojection error.

For a point seen at pixel :math:`(u_v, w_v)` with confidence :math:`c_v` by camera :math:`v` with projection matrix
:math:`P_v` (rows :math:`\\mathbf p_v^1, \\mathbf p_v^2, \\mathbf p_v^3`), the homogeneous point
:math:`\\mathbf X` minimises :math:`\\lVert A \\mathbf X \\rVert` with :math:`\\lVert \\mathbf X \\rVert = 1`,
where every view adds the two rows :math:`c_v (u_v \\mathbf p_v^3 - \\mathbf p_v^1)` and
:math:`c_v (w_v \\mathbf p_v^3 - \\mathbf p_v^2)` (the direct linear transform, each view weighted by its
confidence). The solution is the right singular vector of :math:`A` with the smallest singular value. Views below
``min_confidence`` get weight 0; a point needs two views.
Lens distortion is ignored (pinhole projections).
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["triangulate", "project", "reprojection_errors", "fix_left_right"]


def _check(points_2d, confidence, projections):
    points_2d = np.asarray(points_2d, dtype=np.float64)
    projections = np.asarray(projections, dtype=np.float64)
    if points_2d.ndim < 2 or points_2d.shape[-1] != 2:
        raise ValueError(f"points_2d must have shape (views, ..., 2), got {points_2d.shape}")
    views = points_2d.shape[0]
    if projections.shape != (views, 3, 4):
        raise ValueError(f"projections must have shape ({views}, 3, 4) for {views} views, got {projections.shape}")
    if views < 2:
        raise ValueError("triangulation needs at least two views")
    confidence = np.ones(points_2d.shape[:-1]) if confidence is None else np.asarray(confidence, np.float64)
    if confidence.shape != points_2d.shape[:-1]:
        raise ValueError(f"confidence shape {confidence.shape} does not match the points {points_2d.shape[:-1]}")
    return points_2d, confidence, projections


def triangulate(points_2d, confidence, projections, min_confidence: float = 0.3) -> np.ndarray:
    """3D points ``(..., 3)`` from pixels ``(V, ..., 2)``, confidences ``(V, ...)`` and ``(V, 3, 4)`` projections.

    A point seen confidently (``>= min_confidence``, finite pixels) in fewer than two views is ``NaN``.
    """
    points_2d, confidence, projections = _check(points_2d, confidence, projections)
    views = points_2d.shape[0]
    shape = points_2d.shape[1:-1]
    uv = points_2d.reshape(views, -1, 2)
    weight = confidence.reshape(views, -1)
    usable = np.isfinite(uv).all(axis=-1) & (np.nan_to_num(weight, nan=0.0) >= min_confidence)
    weight = np.where(usable, weight, 0.0)
    uv = np.where(usable[..., None], uv, 0.0)
    # rows (V, M, 2, 4): c (u p3 - p1), c (w p3 - p2)
    rows = uv[..., None] * projections[:, None, 2:3, :] - projections[:, None, :2, :]
    rows = rows * weight[..., None, None]
    a = np.moveaxis(rows, 0, 1).reshape(uv.shape[1], 2 * views, 4)
    homogeneous = np.linalg.svd(a)[2][:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        points = homogeneous[:, :3] / homogeneous[:, 3:]
    points[usable.sum(axis=0) < 2] = np.nan
    return points.reshape(*shape, 3)


def project(points_3d, projections) -> np.ndarray:
    """Pixels ``(V, ..., 2)`` of world points ``(..., 3)`` in every view (pinhole)."""
    points = np.asarray(points_3d, dtype=np.float64)
    homogeneous = np.concatenate((points, np.ones(points.shape[:-1] + (1,))), axis=-1)
    image = np.einsum("vij,...j->v...i", np.asarray(projections, dtype=np.float64), homogeneous)
    return image[..., :2] / image[..., 2:]


def reprojection_errors(points_3d, points_2d, confidence, projections, min_confidence: float = 0.3) -> np.ndarray:
    """Pixel distance ``(V, ...)`` between each view's detection and the reprojected 3D point (``NaN`` where the
    view was not used: below ``min_confidence`` or missing)."""
    points_2d, confidence, projections = _check(points_2d, confidence, projections)
    errors = np.linalg.norm(project(points_3d, projections) - points_2d, axis=-1)
    used = np.isfinite(errors) & (np.nan_to_num(confidence, nan=0.0) >= min_confidence)
    return np.where(used, errors, np.nan)


def fix_left_right(points_2d, confidence, projections, flip, min_confidence: float = 0.3,
                   gain: float = 0.7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undo a 2D detector's left/right swaps before triangulating.

    A single-view detector sometimes labels a person's left limbs as right (seen from behind, or mid-turn), with high
    confidence. For every view in turn and every frame, the joints of that view are swapped (``flip``: the joint
    permutation, e.g. ``COCO_17.flip_permutation()``) when that lowers the frame's mean reprojection error over all
    views to less than ``gain`` times its value. Returns the corrected ``(points_2d, confidence)`` (same shapes,
    ``(V, N, K, 2)`` and ``(V, N, K)``) and the ``(V, N)`` mask of swapped frames.
    """
    points_2d, confidence, projections = _check(points_2d, confidence, projections)
    if points_2d.ndim != 4:
        raise ValueError(f"points_2d must have shape (views, frames, joints, 2), got {points_2d.shape}")
    flip = np.asarray(flip)
    points_2d, confidence = points_2d.copy(), confidence.copy()
    swapped = np.zeros(points_2d.shape[:2], bool)

    def frame_error(points, weights):
        x = triangulate(points, weights, projections, min_confidence)
        errors = reprojection_errors(x, points, weights, projections, min_confidence)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nan_to_num(np.nanmean(errors, axis=(0, 2)), nan=np.inf)

    for view in range(points_2d.shape[0]):
        before = frame_error(points_2d, confidence)
        trial_points, trial_weights = points_2d.copy(), confidence.copy()
        trial_points[view] = points_2d[view][:, flip]
        trial_weights[view] = confidence[view][:, flip]
        better = frame_error(trial_points, trial_weights) < gain * before
        points_2d[view, better] = trial_points[view, better]
        confidence[view, better] = trial_weights[view, better]
        swapped[view] = better
    return points_2d, confidence, swapped
