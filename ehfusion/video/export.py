"""Export lifted poses: a CSV table and a BVH motion file (Blender, MotionBuilder, ... can load it).

**CSV**: one row per frame: ``frame``, ``time_s`` and ``<joint>_x, <joint>_y, <joint>_z`` for every joint, in metres,
root-relative, camera axes (x right, y down, z forward).

**BVH**: the skeleton's hierarchy (root = hip), Y up, centimetres: a pose point :math:`(x, y, z)` in camera axes becomes
:math:`100\\,(x, -y, -z)` (a half turn about x, so the person stands upright). Offsets come from the subject's own
bones: bone :math:`b` (joint minus parent) gets length :math:`\\bar L_b`, its mean over the frames, and direction
:math:`\\bar{\\mathbf d}_b`, the normalised mean of its unit directions, so the rest pose is the subject's average
posture. Every frame's rotations are derived from the joint positions:

* a joint with several children (hip, thorax) gets the rotation that best maps its children's rest offsets onto their
  observed directions (Kabsch: the SVD of the weighted cross-covariance, determinant fixed to +1);
* a joint with one child keeps its parent's orientation turned by the smallest rotation that aligns the rest offset
  with the observed bone (so the twist about a limb, which positions cannot tell, is never invented);
* leaves (feet, wrists, head) copy their parent's orientation.

Local rotations :math:`R_j = G_{\\mathrm{parent}}^{\\top} G_j` are written as Euler angles in ``Zrotation Xrotation
Yrotation`` order (:math:`R = R_z R_x R_y`, degrees). The BVH therefore holds constant bone lengths: its joints
differ from the lifted poses by how much the lifter's bone lengths vary (:func:`bvh_positions` gives them). The root
has zero position channels: the root trajectory is not estimated.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..io import atomic_write
from ..skeleton import Skeleton, get_skeleton

__all__ = ["write_csv", "write_bvh", "bvh_skeleton", "bvh_positions", "euler_zxy", "matrix_from_euler_zxy"]

_TO_BVH = np.array([1.0, -1.0, -1.0]) * 100.0  # camera axes (metres) -> Y up (centimetres)


def _output(path, suffix: str, overwrite: bool) -> Path:
    from ..lift import checked_output_path

    return checked_output_path(path, suffix, overwrite)


def _check_poses(poses, skeleton: Skeleton) -> np.ndarray:
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(f"poses must have shape (frames, {skeleton.num_joints}, 3), got {poses.shape}")
    if not np.isfinite(poses).all():
        raise ValueError("poses contain NaN or inf; export only frames that were lifted")
    return poses


def write_csv(poses, path, *, skeleton="h36m", fps: float = 30.0, frame_ids=None, overwrite: bool = False) -> Path:
    """Write poses ``(N, J, 3)`` (metres) as a CSV table, atomically; an existing file is kept unless ``overwrite``."""
    skeleton = get_skeleton(skeleton)
    poses = _check_poses(poses, skeleton)
    path = _output(path, ".csv", overwrite)
    frame_ids = np.arange(len(poses)) if frame_ids is None else np.asarray(frame_ids)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["frame", "time_s"] + [f"{name}_{axis}" for name in skeleton.joint_names for axis in "xyz"])
    for frame, pose in zip(frame_ids, poses):
        writer.writerow([int(frame), f"{frame / fps:.4f}"] + [f"{v:.5f}" for v in pose.ravel()])
    with atomic_write(path, "w") as handle:
        handle.write(text.getvalue())
    return path


# ----------------------------------------------------------------------------------------------------- rotations
def matrix_from_euler_zxy(angles_deg) -> np.ndarray:
    """``R = R_z(a) R_x(b) R_y(c)`` for angles ``(..., 3) = (a, b, c)`` in degrees (BVH order Z X Y)."""
    z, x, y = np.moveaxis(np.radians(np.asarray(angles_deg, dtype=np.float64)), -1, 0)
    cz, sz, cx, sx, cy, sy = np.cos(z), np.sin(z), np.cos(x), np.sin(x), np.cos(y), np.sin(y)
    return np.stack([
        np.stack([cz * cy - sz * sx * sy, -sz * cx, cz * sy + sz * sx * cy], -1),
        np.stack([sz * cy + cz * sx * sy, cz * cx, sz * sy - cz * sx * cy], -1),
        np.stack([-cx * sy, sx, cx * cy], -1),
    ], -2)


def euler_zxy(matrices) -> np.ndarray:
    """Angles ``(..., 3)`` in degrees (Z, X, Y) of rotation matrices ``(..., 3, 3)``: the inverse of
    :func:`matrix_from_euler_zxy` (X in [-90, 90])."""
    m = np.asarray(matrices, dtype=np.float64)
    x = np.arcsin(np.clip(m[..., 2, 1], -1.0, 1.0))
    z = np.arctan2(-m[..., 0, 1], m[..., 1, 1])
    y = np.arctan2(-m[..., 2, 0], m[..., 2, 2])
    return np.degrees(np.stack([z, x, y], axis=-1))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotations ``(N, 3, 3)`` best mapping ``source (C, 3)`` onto ``target (N, C, 3)``."""
    covariance = np.einsum("nci,cj->nij", target, source)
    u, _, vt = np.linalg.svd(covariance)
    d = np.sign(np.linalg.det(u @ vt))
    u[:, :, -1] *= d[:, None]
    return u @ vt


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations ``(N, 3, 3)`` turning unit vectors ``a`` onto ``b`` (both ``(N, 3)``; Rodrigues)."""
    v = np.cross(a, b)
    c = np.einsum("ni,ni->n", a, b)
    k = np.zeros((len(a), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    k = k - np.transpose(k, (0, 2, 1))
    factor = 1.0 / np.maximum(1.0 + c, 1e-9)
    rotation = np.eye(3) + k + k @ k * factor[:, None, None]
    opposite = c < -1.0 + 1e-9  # a half turn about any axis perpendicular to a
    if opposite.any():
        axis = _unit(np.cross(a[opposite], np.where(np.abs(a[opposite, :1]) < 0.9, [1.0, 0, 0], [0, 1.0, 0])))
        rotation[opposite] = 2.0 * np.einsum("ni,nj->nij", axis, axis) - np.eye(3)
    return rotation


# ----------------------------------------------------------------------------------------------------- skeleton
def bvh_skeleton(poses, skeleton="h36m") -> tuple[np.ndarray, np.ndarray]:
    """``(offsets (J, 3), global rotations (N, J, 3, 3))`` in BVH axes (centimetres) for poses in camera axes."""
    skeleton = get_skeleton(skeleton)
    points = _check_poses(poses, skeleton) * _TO_BVH
    parents = skeleton.parents
    offsets = np.zeros((skeleton.num_joints, 3))
    bones = {}
    for j, p in enumerate(parents):
        if p >= 0:
            bones[j] = points[:, j] - points[:, p]
            length = np.linalg.norm(bones[j], axis=-1).mean()
            offsets[j] = _unit(_unit(bones[j]).mean(axis=0)) * length
    n = len(points)
    rotations = np.zeros((n, skeleton.num_joints, 3, 3))
    for j in _top_down(parents):
        parent = rotations[:, parents[j]] if parents[j] >= 0 else np.broadcast_to(np.eye(3), (n, 3, 3))
        children = skeleton.children(j)
        if len(children) >= 2:
            target = np.stack([_unit(bones[c]) * np.linalg.norm(offsets[c]) for c in children], axis=1)
            rotations[:, j] = _kabsch(offsets[children], target)
        elif len(children) == 1:
            c = children[0]
            rest = np.einsum("nij,j->ni", parent, _unit(offsets[c]))
            rotations[:, j] = _align(rest, _unit(bones[c])) @ parent
        else:
            rotations[:, j] = parent
    return offsets, rotations


def _top_down(parents) -> list[int]:
    order, pending = [], [j for j, p in enumerate(parents) if p < 0]
    while pending:
        j = pending.pop(0)
        order.append(j)
        pending += [c for c, p in enumerate(parents) if p == j]
    return order


def bvh_positions(poses, skeleton="h36m") -> np.ndarray:
    """The joint positions ``(N, J, 3)`` (metres, camera axes, root-relative) that :func:`write_bvh` encodes: the
    poses with every bone at its mean length (forward kinematics of the exported offsets and rotations)."""
    skeleton = get_skeleton(skeleton)
    offsets, rotations = bvh_skeleton(poses, skeleton)
    out = np.zeros(rotations.shape[:2] + (3,))
    for j in _top_down(skeleton.parents):
        p = skeleton.parents[j]
        if p >= 0:
            out[:, j] = out[:, p] + np.einsum("nij,j->ni", rotations[:, p], offsets[j])
    return out / _TO_BVH


def write_bvh(poses, path, *, skeleton="h36m", fps: float = 30.0, overwrite: bool = False) -> Path:
    """Write poses ``(N, J, 3)`` (metres, camera axes) as a BVH file, atomically (see the module docstring)."""
    skeleton = get_skeleton(skeleton)
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path = _output(path, ".bvh", overwrite)
    offsets, rotations = bvh_skeleton(poses, skeleton)
    parents = skeleton.parents
    local = rotations.copy()
    for j, p in enumerate(parents):
        if p >= 0:
            local[:, j] = np.transpose(rotations[:, p], (0, 2, 1)) @ rotations[:, j]
    angles = euler_zxy(local)  # (N, J, 3)
    lines = ["HIERARCHY"]
    order: list[int] = []

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        root = parents[j] < 0
        lines.append(f"{pad}{'ROOT' if root else 'JOINT'} {skeleton.joint_names[j]}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {offsets[j, 0]:.6f} {offsets[j, 1]:.6f} {offsets[j, 2]:.6f}")
        channels = "Xposition Yposition Zposition " if root else ""
        lines.append(f"{pad}  CHANNELS {6 if root else 3} {channels}Zrotation Xrotation Yrotation")
        order.append(j)
        children = skeleton.children(j)
        for c in children:
            emit(c, depth + 1)
        if not children:  # an end site a tenth of the bone further on
            tip = 0.1 * offsets[j]
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET {tip[0]:.6f} {tip[1]:.6f} {tip[2]:.6f}",
                          pad + "  }"])
        lines.append(pad + "}")

    emit(skeleton.root, 0)
    lines += ["MOTION", f"Frames: {len(angles)}", f"Frame Time: {1.0 / fps:.8f}"]
    for frame in angles:
        values = [0.0, 0.0, 0.0] + [v for j in order for v in frame[j]]
        lines.append(" ".join(f"{v:.6f}" for v in values))
    with atomic_write(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path
