"""Horizontal flip augmentation: mirror a pose, its 2D keypoints and the camera vector.

A horizontal flip of the image negates the x coordinate (in normalised screen coordinates and in camera coordinates
alike) and turns every left joint into a right one, so the joint order is permuted with the layout's symmetry table.
In the 9-number intrinsic vector the principal point's x (index 2) and the tangential coefficient p1 (index 7) change
sign. Flipping twice gives the original back.
"""
from __future__ import annotations

import numpy as np
import torch

from ..skeleton import Skeleton

#: Entries of the intrinsic vector ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]`` that change sign under a horizontal flip.
CAMERA_FLIP_INDICES = (2, 7)


def flip_pose(pose, skeleton: Skeleton):
    """Mirror 2D or 3D joints ``(..., J, C)``: negate x, swap left and right. Works on numpy arrays and tensors."""
    if pose.shape[-2] != skeleton.num_joints:
        raise ValueError(
            f"cannot flip poses with {pose.shape[-2]} joints using the {skeleton.name} layout "
            f"({skeleton.num_joints} joints)"
        )
    perm = skeleton.flip_permutation()
    if isinstance(pose, torch.Tensor):
        out = pose[..., torch.as_tensor(perm, device=pose.device), :].clone()
    else:
        out = np.array(pose[..., perm, :], copy=True)
    out[..., 0] *= -1
    return out


def flip_camera(camera):
    """Mirror intrinsic vectors ``(..., 9)`` (numpy or torch); vectors shorter than 9 flip the entries they have."""
    out = camera.clone() if isinstance(camera, torch.Tensor) else np.array(camera, copy=True)
    for index in CAMERA_FLIP_INDICES:
        if index < out.shape[-1]:
            out[..., index] *= -1
    return out
