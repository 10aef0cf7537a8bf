r"""EHFusion: group-based 2D-to-3D lifting with heterogeneous fusion, every per-group part batched over the groups.

Data flow for a batch of windows ``(B, T, J, 2)`` (``T`` = receptive field) and intrinsic vectors ``(B, 9)``:

1. encodings (:mod:`~ehfusion.models.encodings`), once for all joints;
2. each group's ``(raw, positional, temporal)`` channels -> its local temporal encoder -> ``L`` local features; each
   group's motion-angle channels -> its angle encoder -> ``A`` features (the five encoders of each kind are one
   :class:`~ehfusion.models.blocks.GroupedTemporalEncoder`);
3. the reference frame's ``2J`` coordinates -> global encoder -> ``L``; intrinsics -> camera embedding -> ``K``;
4. fusion (:class:`~ehfusion.models.fusion.GroupFusion`): group i gets the other groups' local features -> ``L``;
5. decoders, one set per branch, each group's ``[local, global, angle, camera (, fused)]`` -> its joints' 3D
   coordinates; scattered back to the layout's joint order.

Branches: ``"unfused"`` decoders see ``[local, global, angle, camera]``; ``"fused"`` decoders see the fused features
too.

Whole-sequence mode. VideoPose3D evaluates a long sequence with dilated convolutions, sharing the work of
neighbouring outputs. That sharing is *not* exact for EHFusion: the temporal encoding :math:`x_t - x_c` and the motion
angle are relative to the output frame :math:`c` itself, so every intermediate activation depends on which frame is
being predicted (the first convolution is linear, so :math:`W * (x - x_c)` still splits into a shared term minus
:math:`(\sum W) x_c`, but the BatchNorm + LeakyReLU right after it makes the features of one output frame useless for
the next). EHFusion's :meth:`EHFusionNet.forward_sequence` therefore evaluates every window exactly
(:meth:`~ehfusion.models.base.PoseLifter.forward_windows`: views of the padded sequence, in chunks), which costs one
training-mode forward per output frame.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import DEFAULT_CHUNK_WINDOWS, PoseLifter
from .blocks import CameraEmbedding, GroupedFCBlock, GroupedTemporalEncoder
from .config import ModelConfig
from .encodings import encode_window, reference_index
from .fusion import GroupFusion

__all__ = ["EHFusionNet", "ENCODER_PARTS"]

#: The encoder modules (by attribute name), frozen in stage 2 of three-stage training.
ENCODER_PARTS = ("local_encoders", "angle_encoders", "global_encoder", "camera_embedding")

#: Encodings per joint and coordinate fed to the local encoders: raw, positional, temporal.
_LOCAL_ENCODINGS = 3


class EHFusionNet(PoseLifter):
    """The EHFusion model (see the module docstring). Build it with :func:`ehfusion.models.build_model`."""

    def __init__(self, config: ModelConfig) -> None:
        if config.architecture != "ehfusion":
            raise ValueError(f"EHFusionNet needs architecture='ehfusion', got {config.architecture!r}")
        super().__init__(config)
        skeleton = self.skeleton
        skeleton.require_groups()
        groups = skeleton.groups
        self.num_groups = len(groups)
        self.group_sizes = tuple(len(g) for g in groups)
        self.max_group_size = max(self.group_sizes)
        self.root = skeleton.root
        cfg = config

        # joint slot s of group g reads joint group_joints[g, s]; padded slots repeat the group's first joint (their
        # weights are masked, so the value never matters)
        slots = [list(g.joints) + [g.joints[0]] * (self.max_group_size - len(g)) for g in groups]
        self.register_buffer("group_joints", torch.tensor(slots, dtype=torch.long).reshape(-1), persistent=False)
        # joint j's output lives at flat slot g * max_group_size + s
        output_slot = [0] * skeleton.num_joints
        for g, group in enumerate(groups):
            for s, joint in enumerate(group.joints):
                output_slot[joint] = g * self.max_group_size + s
        self.register_buffer("output_slot", torch.tensor(output_slot, dtype=torch.long), persistent=False)

        n = self.max_group_size
        self.local_encoders = GroupedTemporalEncoder(
            self.num_groups, n * _LOCAL_ENCODINGS * 2, cfg.channels, cfg.latent, cfg.filter_widths, cfg.dropout,
            cfg.causal, in_sizes=[k * _LOCAL_ENCODINGS * 2 for k in self.group_sizes])
        self.angle_encoders = GroupedTemporalEncoder(
            self.num_groups, n, cfg.angle_channels, cfg.angle_features, cfg.filter_widths, cfg.dropout, cfg.causal,
            in_sizes=self.group_sizes)
        self.global_encoder = GroupedFCBlock(1, 2 * skeleton.num_joints, cfg.hidden, cfg.latent, cfg.global_blocks,
                                             cfg.dropout)
        self.camera_embedding = CameraEmbedding(cfg.camera_features, cfg.camera_hidden, cfg.dropout)
        # only a model with a fused branch has a fusion module (stage 1 and fusion="none" have none)
        self.fusion = (GroupFusion(groups, cfg.fusion, cfg.latent, cfg.hidden, cfg.fusion_blocks, cfg.dropout)
                       if cfg.builds_fusion else None)
        self.decoders = nn.ModuleDict({
            branch: GroupedFCBlock(
                self.num_groups, self.decoder_group_inputs(branch), cfg.hidden, 3 * n, cfg.decoder_blocks,
                cfg.dropout, shared_in_features=cfg.latent + cfg.camera_features,
                out_sizes=[3 * k for k in self.group_sizes])
            for branch in cfg.branches
        })

    def decoder_group_inputs(self, branch: str) -> int:
        """Per-group decoder input size: local L + angle A (+ fused L); global L and camera K come as shared input."""
        cfg = self.config
        return cfg.latent + cfg.angle_features + (cfg.latent if branch == "fused" else 0)

    # ------------------------------------------------------------------ pieces (also used by the notebooks)
    def group_inputs(self, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a window and arrange it per group.

        Returns ``local_in`` ``(B, T, G, n_max * 6)`` (per joint slot: raw, positional, temporal, each x and y) and
        ``angle_in`` ``(B, T, G, n_max)``.
        """
        batch, frames = window.shape[:2]
        enc = encode_window(window, self.root, self.config.causal, joints=self.group_joints)
        local_in = enc.stacked().view(batch, frames, self.num_groups, self.max_group_size * _LOCAL_ENCODINGS * 2)
        angle_in = enc.angle.view(batch, frames, self.num_groups, self.max_group_size)
        return local_in, angle_in

    def encode(self, window: torch.Tensor, camera: torch.Tensor) -> dict[str, torch.Tensor]:
        """All encoder outputs: ``local`` (B, G, L), ``angle`` (B, G, A), ``global`` (B, L), ``camera`` (B, K)."""
        batch, frames = window.shape[:2]
        local_in, angle_in = self.group_inputs(window)
        reference = window[:, reference_index(frames, self.config.causal)].reshape(batch, 1, -1)
        return {
            "local": self.local_encoders(local_in),
            "angle": self.angle_encoders(angle_in),
            "global": self.global_encoder(reference).view(batch, -1),
            "camera": self.camera_embedding(camera),
        }

    def fuse(self, local: torch.Tensor) -> torch.Tensor:
        """Fused features ``(B, G, L)`` from local features (detached first if ``detach_fusion_input``)."""
        if self.fusion is None:
            raise RuntimeError(f"this model has no fusion module (branches {self.branches}, fusion "
                               f"{self.config.fusion!r}); only a model with a 'fused' branch has one")
        if self.config.detach_fusion_input:
            local = local.detach()
        return self.fusion(local)

    def decode(self, branch: str, features: dict[str, torch.Tensor], fused: torch.Tensor | None = None) -> torch.Tensor:
        """One branch's decoders: features -> ``(B, J, 3)`` in the layout's joint order."""
        parts = [features["local"], features["angle"]] + ([fused] if branch == "fused" else [])
        shared = torch.cat([features["global"], features["camera"]], dim=1)
        out = self.decoders[branch](torch.cat(parts, dim=2), shared)  # (B, G, 3 n_max)
        batch = out.shape[0]
        return out.reshape(batch, -1, 3)[:, self.output_slot]

    # ------------------------------------------------------------------ contract
    def forward(self, window: torch.Tensor, camera: torch.Tensor) -> dict[str, torch.Tensor]:
        """``window`` ``(B, T, J, 2)``, ``camera`` ``(B, 9)`` -> ``{branch: (B, J, 3)}`` (root-relative, metres)."""
        self.check_window(window, camera)
        features = self.encode(window, camera)
        fused = self.fuse(features["local"]) if "fused" in self.branches else None
        return {branch: self.decode(branch, features, fused) for branch in self.branches}

    def forward_sequence(self, keypoints: torch.Tensor, camera: torch.Tensor,
                         chunk_windows: int = DEFAULT_CHUNK_WINDOWS) -> dict[str, torch.Tensor]:
        """Every frame of a padded sequence: ``(V, N + T - 1, J, 2)`` -> ``{branch: (V, N, J, 3)}``.

        Exact windowed evaluation (see the module docstring for why EHFusion cannot share work between outputs).
        Uses the model's current mode: call ``model.eval()`` first for inference.
        """
        return self.forward_windows(keypoints, camera, chunk_windows)
