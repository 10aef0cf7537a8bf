"""VideoPose3D (Pavllo et al., CVPR 2019) temporal convolution network, the baseline.

Same filter widths, channels and dropout options as EHFusion's temporal encoders; the camera vector is accepted and
ignored; the single branch is ``"pose"``. Training mode uses strided convolutions (one output per window, like
VideoPose3D's ``TemporalModelOptimized1f``); :meth:`VideoPose3D.forward_sequence` runs the *same weights* as dilated
convolutions over the whole padded sequence (``TemporalModel``), which is exact here because the input encoding (raw
coordinates) does not depend on the output frame.
"""
from __future__ import annotations

import torch

from .base import PoseLifter
from .blocks import GroupedTemporalEncoder
from .config import ModelConfig

__all__ = ["VideoPose3D"]


class VideoPose3D(PoseLifter):
    """The VideoPose3D baseline; build it with ``build_model(ModelConfig(architecture="videopose3d", ...))``."""

    def __init__(self, config: ModelConfig) -> None:
        if config.architecture != "videopose3d":
            raise ValueError(f"VideoPose3D needs architecture='videopose3d', got {config.architecture!r}")
        super().__init__(config)
        joints = self.skeleton.num_joints
        self.network = GroupedTemporalEncoder(1, 2 * joints, config.channels, 3 * joints, config.filter_widths,
                                              config.dropout, config.causal)

    def forward(self, window: torch.Tensor, camera: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, T, J, 2)`` -> ``{"pose": (B, J, 3)}``; ``camera`` is ignored."""
        self.check_window(window, camera)
        batch, frames = window.shape[:2]
        out = self.network(window.reshape(batch, frames, 1, -1))
        return {"pose": out.view(batch, self.num_joints, 3)}

    def forward_sequence(self, keypoints: torch.Tensor, camera: torch.Tensor, **_ignored) -> dict[str, torch.Tensor]:
        """``(V, N + T - 1, J, 2)`` -> ``{"pose": (V, N, J, 3)}`` with dilated convolutions (one pass per view)."""
        self.check_sequence(keypoints, camera)
        views, padded = keypoints.shape[:2]
        out = self.network.forward_dilated(keypoints.reshape(views, padded, 1, -1))
        return {"pose": out.view(views, out.shape[1], self.num_joints, 3)}
