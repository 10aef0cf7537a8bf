"""What every pose lifter shares: the model contract of ``docs/design.md``.

``model(window, camera)`` -> ``{branch: (B, J, 3)}``; ``model.forward_sequence(keypoints, camera)`` ->
``{branch: (V, N, J, 3)}``; ``answer_branch``; ``receptive_field``; ``set_bn_momentum(m)``; plus frozen parts that stay
in evaluation mode across ``model.train()`` calls (used by three-stage training).
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from .config import ModelConfig

__all__ = ["PoseLifter", "DEFAULT_CHUNK_WINDOWS"]

#: Windows evaluated together by the windowed whole-sequence mode (bounds memory: about 0.5 GB at 243 frames).
DEFAULT_CHUNK_WINDOWS = 256


class PoseLifter(nn.Module):
    """Base class of :class:`EHFusionNet` and :class:`VideoPose3D`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.skeleton = config.skeleton
        self.frozen_parts: tuple[str, ...] = ()

    # ------------------------------------------------------------------ contract
    @property
    def branches(self) -> tuple[str, ...]:
        return tuple(self.config.branches)

    @property
    def answer_branch(self) -> str:
        """The branch whose output is the model's prediction."""
        return self.config.answer_branch

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field

    @property
    def num_joints(self) -> int:
        return self.skeleton.num_joints

    def set_bn_momentum(self, momentum: float) -> None:
        """Set the momentum of every BatchNorm (VideoPose3D decays it from 0.1 to 0.001 during training)."""
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm momentum must lie in [0, 1], got {momentum}")
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = momentum

    # ------------------------------------------------------------------ frozen parts
    def set_frozen_parts(self, names: Iterable[str]) -> None:
        """Freeze these child modules: no gradients, BatchNorm in evaluation mode, kept so by :meth:`train`."""
        names = tuple(names)
        for name in names:
            if not isinstance(getattr(self, name, None), nn.Module):
                raise KeyError(f"{type(self).__name__} has no part {name!r}")
        for name in self.frozen_parts:
            for p in getattr(self, name).parameters():
                p.requires_grad_(True)
        self.frozen_parts = names
        for name in names:
            for p in getattr(self, name).parameters():
                p.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> "PoseLifter":
        super().train(mode)
        for name in self.frozen_parts:
            getattr(self, name).train(False)
        return self

    # ------------------------------------------------------------------ input checks
    def check_window(self, window: torch.Tensor, camera: torch.Tensor) -> None:
        expected = (self.receptive_field, self.num_joints, 2)
        if window.dim() != 4 or tuple(window.shape[1:]) != expected:
            raise ValueError(f"window must have shape (batch, {expected[0]}, {expected[1]}, 2) for this model "
                             f"(receptive field {self.receptive_field}, layout {self.skeleton.name!r}), "
                             f"got {tuple(window.shape)}")
        if camera.dim() != 2 or camera.shape[0] != window.shape[0] or camera.shape[1] < 4:
            raise ValueError(f"camera must have shape (batch, 9) with batch = {window.shape[0]}, "
                             f"got {tuple(camera.shape)}")

    def check_sequence(self, keypoints: torch.Tensor, camera: torch.Tensor) -> None:
        if keypoints.dim() != 4 or tuple(keypoints.shape[2:]) != (self.num_joints, 2):
            raise ValueError(f"keypoints must have shape (views, frames + {self.receptive_field - 1}, "
                             f"{self.num_joints}, 2), got {tuple(keypoints.shape)}")
        if keypoints.shape[1] < self.receptive_field:
            raise ValueError(f"a padded sequence needs at least {self.receptive_field} frames (the receptive field); "
                             f"got {keypoints.shape[1]}: pad it with ehfusion.data.batching.sequence_inputs")
        if camera.dim() != 2 or camera.shape[0] != keypoints.shape[0] or camera.shape[1] < 4:
            raise ValueError(f"camera must have shape (views, 9) with views = {keypoints.shape[0]}, "
                             f"got {tuple(camera.shape)}")

    # ------------------------------------------------------------------ whole sequences, window by window
    def forward_windows(self, keypoints: torch.Tensor, camera: torch.Tensor,
                        chunk_windows: int = DEFAULT_CHUNK_WINDOWS) -> dict[str, torch.Tensor]:
        """Exact whole-sequence evaluation: run :meth:`forward` on every window of the padded sequence.

        ``keypoints`` ``(V, N + T - 1, J, 2)``, ``camera`` ``(V, 9)`` -> ``{branch: (V, N, J, 3)}``. The windows are
        views of the input (no copy); they are evaluated ``chunk_windows`` at a time to bound memory.
        """
        self.check_sequence(keypoints, camera)
        if chunk_windows < 1:
            raise ValueError(f"chunk_windows must be >= 1, got {chunk_windows}")
        views, padded = keypoints.shape[:2]
        frames = padded - self.receptive_field + 1
        outputs: dict[str, list[torch.Tensor]] = {b: [] for b in self.branches}
        chunks = [(v, start) for v in range(views) for start in range(0, frames, chunk_windows)]
        for v, start in chunks:
            stop = min(start + chunk_windows, frames)
            # windows start..stop-1 of view v as a (windows, T, J, 2) view of the input (no copy)
            windows = keypoints[v, start : stop + self.receptive_field - 1].unfold(0, self.receptive_field, 1)
            windows = windows.permute(0, 3, 1, 2)
            result = self.forward(windows, camera[v : v + 1].expand(stop - start, -1))
            for branch, value in result.items():
                outputs[branch].append(value)
        return {b: torch.cat(v).view(views, frames, self.num_joints, 3) for b, v in outputs.items()}
