r"""The four input encodings of EHFusion, computed for all joints of a window at once.

For a window :math:`x \in \mathbb{R}^{B \times T \times J \times 2}` with root joint :math:`r` and reference frame
:math:`c` (the centre frame ``T // 2``, or the last frame ``T - 1`` for a causal model):

* raw: :math:`x_{t,j}`
* positional: :math:`p_{t,j} = x_{t,j} - x_{t,r}` (root-relative, per frame)
* temporal: :math:`d_{t,j} = x_{t,j} - x_{c,j}` (relative to the reference frame)
* motion angle: :math:`a_{t,j} = \exp(\theta_{t,j} - \pi)`, where :math:`\theta_{t,j} \in [0, \pi]` is the angle
  between :math:`p_{t,j}` and :math:`p_{c,j}`.

The angle is computed as :math:`\operatorname{atan2}(|p_t \times p_c|, p_t \cdot p_c)`, which equals the release's
``acos(clamp(cos, -1, 1))`` for non-zero vectors but has finite gradients everywhere (``acos`` has an infinite slope at
``cos = 1``, i.e. at the reference frame itself). When either vector is (numerically) zero, as always for the root
joint, the cosine is taken to be 0 like :func:`torch.nn.functional.cosine_similarity` does, so the angle is
:math:`\pi / 2`, without NaNs in the value or the gradient.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

__all__ = [
    "reference_index",
    "positional_encoding",
    "temporal_encoding",
    "motion_angle",
    "motion_angle_encoding",
    "Encodings",
    "encode_window",
]

#: Below this value of ``|u|^2 |v|^2`` the angle between u and v is treated as undefined (cosine 0).
_ZERO_NORM_PRODUCT = 1e-24


def reference_index(num_frames: int, causal: bool) -> int:
    """Index of the frame a window predicts: the centre (``T // 2``) or, for a causal model, the last frame."""
    if num_frames < 1:
        raise ValueError(f"a window needs at least one frame, got {num_frames}")
    return num_frames - 1 if causal else num_frames // 2


def _check_window(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[-1] != 2:
        raise ValueError(f"expected 2D keypoints of shape (batch, frames, joints, 2), got {tuple(x.shape)}")


def positional_encoding(x: torch.Tensor, root: int) -> torch.Tensor:
    """Every joint minus the root joint, per frame: ``(B, T, J, 2) -> (B, T, J, 2)``."""
    _check_window(x)
    return x - x[:, :, root : root + 1]


def temporal_encoding(x: torch.Tensor, reference: int) -> torch.Tensor:
    """Every frame minus the reference frame: ``(B, T, J, 2) -> (B, T, J, 2)``."""
    _check_window(x)
    return x - x[:, reference : reference + 1]


def motion_angle(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Angle in ``[0, pi]`` between 2D vectors ``u`` and ``v`` (last dimension 2, broadcasting), NaN-free.

    Zero vectors get ``pi / 2`` (cosine 0) with zero gradient.
    """
    dot = u[..., 0] * v[..., 0] + u[..., 1] * v[..., 1]
    cross = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
    norms = (u * u).sum(-1) * (v * v).sum(-1)
    degenerate = norms < _ZERO_NORM_PRODUCT
    # Replace the inputs of atan2 (not its output) so that no NaN or inf can appear in the backward pass either.
    safe_cross = torch.where(degenerate, torch.ones_like(cross), cross.abs())
    safe_dot = torch.where(degenerate, torch.zeros_like(dot), dot)
    return torch.atan2(safe_cross, safe_dot)


def motion_angle_encoding(x: torch.Tensor, root: int, reference: int) -> torch.Tensor:
    """``exp(angle - pi)`` per joint and frame, the angle taken between root-relative vectors at t and the reference.

    ``(B, T, J, 2) -> (B, T, J)``.
    """
    positional = positional_encoding(x, root)
    return torch.exp(motion_angle(positional, positional[:, reference : reference + 1]) - math.pi)


class Encodings(NamedTuple):
    """All encodings of one batch of windows (see the module docstring)."""

    raw: torch.Tensor  # (B, T, J, 2)
    positional: torch.Tensor  # (B, T, J, 2)
    temporal: torch.Tensor  # (B, T, J, 2)
    angle: torch.Tensor  # (B, T, J)

    def stacked(self) -> torch.Tensor:
        """``(B, T, J, 3, 2)``: raw, positional and temporal side by side for every joint."""
        return torch.stack((self.raw, self.positional, self.temporal), dim=3)


def encode_window(x: torch.Tensor, root: int, causal: bool, joints: torch.Tensor | None = None) -> Encodings:
    """Compute every encoding of a batch of windows in one vectorised pass (all joints and frames at once).

    ``joints`` (optional, a 1D index tensor) selects and orders the joints to encode, repeats allowed; the root and
    reference frame still come from the full window. The result then has ``len(joints)`` joints.
    """
    _check_window(x)
    reference = reference_index(x.shape[1], causal)
    root_track = x[:, :, root : root + 1]
    if joints is not None:
        x = x[:, :, joints]  # advanced indexing: much faster than index_select on a middle dimension
    positional = x - root_track
    temporal = x - x[:, reference : reference + 1]
    angle = torch.exp(motion_angle(positional, positional[:, reference : reference + 1]) - math.pi)
    return Encodings(x, positional, temporal, angle)
