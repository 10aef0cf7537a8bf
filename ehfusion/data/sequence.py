"""``Sequence``: one subject / action / camera of pose data, the record every part of the package passes around."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Sequence"]


@dataclass
class Sequence:
    """One subject / action / camera: model inputs and (when known) 3D targets in that camera's coordinates."""

    subject: str
    action: str
    camera: int  # index of the camera within the subject's cameras
    keypoints_2d: np.ndarray  # (N, J, 2) float32, normalised screen coordinates
    poses_3d: np.ndarray | None  # (N, J, 3) float32, camera coordinates, metres, root-relative (root joint = 0)
    trajectory: np.ndarray | None  # (N, 3) float32, the root in camera coordinates, metres
    intrinsics: np.ndarray  # (9,) float32: [fx/w*2, fy/w*2, cx_n, cy_n, k1, k2, k3, p1, p2]
    fps: float

    def __len__(self) -> int:
        return len(self.keypoints_2d)
