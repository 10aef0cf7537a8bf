"""Geometry: quaternions (w, x, y, z), world <-> camera transforms, projection and screen normalisation.

All functions are vectorised over leading dimensions. The quaternion helpers and the camera transforms are numpy
functions; :func:`project_to_2d` and the screen-normalisation helpers also accept torch tensors (they only use
operations that numpy arrays and torch tensors share), so losses can reuse them.

Conventions (Human3.6M / VideoPose3D):

* a camera's ``orientation`` is the unit quaternion that rotates camera coordinates into world coordinates and its
  ``translation`` is the camera centre in world coordinates, so ``X_cam = R^T (X_world - t)``;
* projection uses Human3.6M's distortion model (three radial, two tangential coefficients), with the normalised image
  coordinates ``x = X / Z`` and ``y = Y / Z`` clamped to ``[-1, 1]`` exactly as VideoPose3D does;
* screen normalisation maps ``[0, w]`` to ``[-1, 1]`` and keeps the aspect ratio: ``X / w * 2 - [1, h / w]``.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "quat_normalize",
    "quat_multiply",
    "quat_conjugate",
    "quat_inverse",
    "quat_rotate",
    "quat_slerp",
    "quat_from_axis_angle",
    "quat_to_matrix",
    "quat_angle",
    "world_to_camera",
    "camera_to_world",
    "project_to_2d",
    "normalize_screen_length",
    "normalize_screen_coordinates",
    "image_coordinates",
]


# ----------------------------------------------------------------------------------------------------- quaternions
def _as_quat(q) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    if q.shape[-1] != 4:
        raise ValueError(f"quaternions need a last dimension of 4 (w, x, y, z), got shape {q.shape}")
    return q


def quat_normalize(q) -> np.ndarray:
    """Scale quaternions to unit length."""
    q = _as_quat(q)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm == 0):
        raise ValueError("cannot normalise a zero quaternion; check the rotation data for missing values")
    return q / norm


def quat_multiply(a, b) -> np.ndarray:
    """Hamilton product ``a * b`` (apply ``b`` first, then ``a``), broadcasting over leading dimensions."""
    a, b = _as_quat(a), _as_quat(b)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ),
        axis=-1,
    )


def quat_conjugate(q) -> np.ndarray:
    """``(w, -x, -y, -z)``: the inverse of a unit quaternion."""
    q = _as_quat(q)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_inverse(q) -> np.ndarray:
    """Multiplicative inverse (also valid for quaternions that are not unit length)."""
    q = _as_quat(q)
    return quat_conjugate(q) / np.sum(q * q, axis=-1, keepdims=True)


def quat_rotate(q, v) -> np.ndarray:
    """Rotate vectors ``v`` (..., 3) by unit quaternions ``q`` (..., 4): ``v' = q v q*``."""
    q = _as_quat(q)
    v = np.asarray(v, dtype=np.float64)
    if v.shape[-1] != 3:
        raise ValueError(f"vectors need a last dimension of 3, got shape {v.shape}")
    w = q[..., :1]
    u = q[..., 1:]
    uv = np.cross(u, v)
    return v + 2.0 * (w * uv + np.cross(u, uv))


def quat_slerp(a, b, t) -> np.ndarray:
    """Spherical linear interpolation from ``a`` (t = 0) to ``b`` (t = 1) along the shorter arc.

    ``t`` broadcasts against the leading dimensions of ``a`` and ``b`` (e.g. ``a, b`` of shape (N, J, 4) and ``t`` of
    shape (N, 1)). Nearly identical quaternions fall back to normalised linear interpolation.
    """
    a, b = quat_normalize(a), quat_normalize(b)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0.0, -b, b)  # q and -q are the same rotation: take the short way round
    dot = np.abs(dot)
    close = dot > 0.9995
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.where(close, 1.0, np.sin(theta))
    wa = np.where(close, 1.0 - t, np.sin((1.0 - t) * theta) / sin_theta)
    wb = np.where(close, t, np.sin(t * theta) / sin_theta)
    return quat_normalize(wa * a + wb * b)


def quat_from_axis_angle(axis, angle) -> np.ndarray:
    """Quaternion of a rotation by ``angle`` (radians) about ``axis`` (unit length is enforced)."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    half = 0.5 * np.asarray(angle, dtype=np.float64)[..., None]
    return np.concatenate((np.cos(half), np.sin(half) * axis), axis=-1)


def quat_to_matrix(q) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of unit quaternions (..., 4)."""
    q = quat_normalize(q)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        (
            np.stack((1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)), axis=-1),
            np.stack((2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)), axis=-1),
            np.stack((2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)), axis=-1),
        ),
        axis=-2,
    )


def quat_angle(q) -> np.ndarray:
    """Rotation angle (radians, in [0, pi]) of unit quaternions."""
    q = quat_normalize(q)
    return 2.0 * np.arccos(np.clip(np.abs(q[..., 0]), 0.0, 1.0))


# ----------------------------------------------------------------------------------------------------- cameras
def world_to_camera(points, orientation, translation) -> np.ndarray:
    """World points (..., 3) to camera coordinates: ``X_cam = R^T (X_world - t)``.

    ``orientation`` is the camera-to-world quaternion (w, x, y, z); ``translation`` is the camera centre in world
    coordinates (same unit as ``points``).
    """
    dtype = np.result_type(np.asarray(points).dtype, np.float32)
    points = np.asarray(points, dtype=np.float64)
    inverse = quat_conjugate(quat_normalize(orientation))
    out = quat_rotate(np.broadcast_to(inverse, points.shape[:-1] + (4,)), points - np.asarray(translation))
    return out.astype(dtype, copy=False)


def camera_to_world(points, orientation, translation) -> np.ndarray:
    """Camera coordinates (..., 3) back to world coordinates: ``X_world = R X_cam + t``."""
    dtype = np.result_type(np.asarray(points).dtype, np.float32)
    points = np.asarray(points, dtype=np.float64)
    q = np.broadcast_to(quat_normalize(orientation), points.shape[:-1] + (4,))
    return (quat_rotate(q, points) + np.asarray(translation)).astype(dtype, copy=False)


# ----------------------------------------------------------------------------------------------------- projection
def _stack_last(a, b):
    """Stack two arrays (numpy or torch) along a new last dimension."""
    if isinstance(a, (np.ndarray, np.generic)):
        return np.stack((a, b), axis=-1)
    import torch  # only reached with torch inputs

    return torch.stack((a, b), dim=-1)


def project_to_2d(points_cam, intrinsics):
    """Project camera-coordinate points (..., 3) with Human3.6M's distortion model.

    ``intrinsics`` is the 9-vector ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]`` (shape (9,) or (..., 9) matching the
    leading dimensions of ``points_cam`` before the joint axis). Pixel intrinsics give pixels; the normalised vector
    of :attr:`ehfusion.cameras.Camera.intrinsics` (``fx / w * 2``, normalised centre) gives normalised screen
    coordinates directly, because screen normalisation is affine. Works for numpy arrays and torch tensors.

    The model: ``x = X / Z, y = Y / Z`` clamped to [-1, 1], ``r2 = x^2 + y^2``,
    ``radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3``, ``tan = p1 x + p2 y``,
    ``x' = x (radial + tan) + p1 r2``, ``y' = y (radial + tan) + p2 r2``, ``u = fx x' + cx``, ``v = fy y' + cy``.
    """
    if points_cam.shape[-1] != 3:
        raise ValueError(
            f"project_to_2d expects points with a last dimension of 3, got shape {tuple(points_cam.shape)}"
        )
    if intrinsics.shape[-1] != 9:
        raise ValueError(
            f"project_to_2d expects the 9 intrinsic numbers [fx, fy, cx, cy, k1, k2, k3, p1, p2], "
            f"got shape {tuple(intrinsics.shape)}"
        )
    cam = intrinsics
    while cam.ndim < points_cam.ndim:  # (B, 9) against (B, J, 3): add the joint axis
        cam = cam[..., None, :]
    f, c, k, p = cam[..., 0:2], cam[..., 2:4], cam[..., 4:7], cam[..., 7:9]
    x = (points_cam[..., 0] / points_cam[..., 2]).clip(-1, 1)
    y = (points_cam[..., 1] / points_cam[..., 2]).clip(-1, 1)
    r2 = x * x + y * y
    radial = 1 + k[..., 0] * r2 + k[..., 1] * r2 * r2 + k[..., 2] * r2 * r2 * r2
    tan = p[..., 0] * x + p[..., 1] * y
    xd = x * (radial + tan) + p[..., 0] * r2
    yd = y * (radial + tan) + p[..., 1] * r2
    return _stack_last(f[..., 0] * xd + c[..., 0], f[..., 1] * yd + c[..., 1])


# ----------------------------------------------------------------------------------------------------- screen
def normalize_screen_length(length, w: int):
    """A length in pixels (a focal length, a noise's standard deviation) in normalised screen units: ``length / w * 2``.

    The scale of :func:`normalize_screen_coordinates` without its shift; numbers, numpy arrays and torch tensors.
    """
    return length / w * 2


def normalize_screen_coordinates(points, w: int, h: int):
    """Pixels to normalised screen coordinates: ``[0, w] -> [-1, 1]`` keeping the aspect ratio.

    ``X / w * 2 - [1, h / w]``; numpy arrays keep their dtype, torch tensors work too.
    """
    if points.shape[-1] != 2:
        raise ValueError(f"screen coordinates need a last dimension of 2, got shape {tuple(points.shape)}")
    offset = points.new_tensor([1.0, h / w]) if not isinstance(points, np.ndarray) else np.array([1.0, h / w])
    out = normalize_screen_length(points, w) - offset
    return out.astype(points.dtype, copy=False) if isinstance(points, np.ndarray) else out


def image_coordinates(points, w: int, h: int):
    """Inverse of :func:`normalize_screen_coordinates`: normalised screen coordinates back to pixels."""
    if points.shape[-1] != 2:
        raise ValueError(f"screen coordinates need a last dimension of 2, got shape {tuple(points.shape)}")
    offset = points.new_tensor([1.0, h / w]) if not isinstance(points, np.ndarray) else np.array([1.0, h / w])
    out = (points + offset) * w / 2
    return out.astype(points.dtype, copy=False) if isinstance(points, np.ndarray) else out
