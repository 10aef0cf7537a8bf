"""The same EHFusion maths written the release's way, as the speed benchmark's reference point.

Five separate per-group encoder modules (``nn.Conv1d`` with stride, ``nn.BatchNorm1d``, ``nn.LeakyReLU``,
``nn.Dropout``), encodings computed per group, per-group fusion calls and five decoders per branch (``nn.Linear`` on
concatenated features), all called in Python loops over the groups. Nothing here is meant for training real models:
:func:`release_style_from` copies the weights of a batched :class:`~ehfusion.models.ehfusion_net.EHFusionNet` into it,
and the tests check that both give the same outputs, so the benchmark compares the same function computed two ways.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ehfusion.models.blocks import (
    CameraEmbedding, GroupBatchNorm, GroupedFCBlock, GroupedLinear, GroupedTemporalEncoder,
)
from ehfusion.models.config import ModelConfig
from ehfusion.models.ehfusion_net import EHFusionNet
from ehfusion.models.encodings import motion_angle, reference_index
from ehfusion.models.fusion import FCFusion, NDDRFusion, OPERATORS_BY_VARIANT
from ehfusion.models.ops import bernoulli_keep_mask

__all__ = ["ReleaseStyleEHFusion", "release_style_from"]


class ByteMaskDropout(nn.Module):
    """Dropout with the batched model's cheaper mask sampler (:func:`~ehfusion.models.ops.bernoulli_keep_mask`).

    Only used to measure how much of the speed-up comes from the sampler rather than from batching.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * bernoulli_keep_mask(tuple(x.shape), 1.0 - self.p, device=x.device, dtype=x.dtype) / (1.0 - self.p)


def _act(dropout: float, dropout_module: type = nn.Dropout) -> nn.Sequential:
    return nn.Sequential(nn.LeakyReLU(0.2), dropout_module(dropout))


class SharedAffineBatchNorm(nn.Module):
    """A BatchNorm whose scale/shift is shared by several calls (limbs) and whose statistics are per call."""

    def __init__(self, features: int, calls: int) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.BatchNorm1d(features, affine=False) for _ in range(calls))
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, x: torch.Tensor, call: int) -> torch.Tensor:
        return self.norms[call](x) * self.weight + self.bias


class TemporalEncoder(nn.Module):
    """One group's VideoPose3D-style network in the single-frame (strided) form, channels-first like the release."""

    def __init__(self, in_channels: int, channels: int, out_channels: int, filter_widths, dropout: float,
                 causal: bool, dropout_module: type = nn.Dropout) -> None:
        super().__init__()
        self.filter_widths = tuple(filter_widths)
        self.causal = causal
        self.expand_conv = nn.Conv1d(in_channels, channels, filter_widths[0], stride=filter_widths[0], bias=False)
        self.expand_bn = nn.BatchNorm1d(channels)
        self.layers_conv = nn.ModuleList()
        self.layers_bn = nn.ModuleList()
        for width in filter_widths[1:]:
            self.layers_conv.append(nn.Conv1d(channels, channels, width, stride=width, bias=False))
            self.layers_bn.append(nn.BatchNorm1d(channels))
            self.layers_conv.append(nn.Conv1d(channels, channels, 1, bias=False))
            self.layers_bn.append(nn.BatchNorm1d(channels))
        self.shrink = nn.Conv1d(channels, out_channels, 1)
        self.act = _act(dropout, dropout_module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T) -> (B, out)
        x = self.act(self.expand_bn(self.expand_conv(x)))
        for i, width in enumerate(self.filter_widths[1:]):
            tap = width - 1 if self.causal else width // 2
            residual = x[:, :, tap::width]
            x = self.act(self.layers_bn[2 * i](self.layers_conv[2 * i](x)))
            x = residual + self.act(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x)))
        return self.shrink(x)[:, :, 0]


class FCBlock(nn.Module):
    """Linear -> BN -> LeakyReLU -> Dropout, residual blocks, Linear out; ``calls`` > 1 = shared by several groups."""

    def __init__(self, in_features: int, hidden: int, out_features: int, blocks: int, dropout: float,
                 calls: int = 1, dropout_module: type = nn.Dropout) -> None:
        super().__init__()
        self.calls = calls
        norm = (lambda: nn.BatchNorm1d(hidden)) if calls == 1 else (lambda: SharedAffineBatchNorm(hidden, calls))
        self.fc_in = nn.Linear(in_features, hidden)
        self.bn_in = norm()
        self.fcs = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(2 * blocks))
        self.bns = nn.ModuleList(norm() for _ in range(2 * blocks))
        self.fc_out = nn.Linear(hidden, out_features)
        self.act = _act(dropout, dropout_module)

    def _bn(self, bn: nn.Module, x: torch.Tensor, call: int) -> torch.Tensor:
        return bn(x) if self.calls == 1 else bn(x, call)

    def forward(self, x: torch.Tensor, call: int = 0) -> torch.Tensor:
        x = self.act(self._bn(self.bn_in, self.fc_in(x), call))
        for i in range(0, len(self.fcs), 2):
            r = self.act(self._bn(self.bns[i], self.fcs[i](x), call))
            r = self.act(self._bn(self.bns[i + 1], self.fcs[i + 1](r), call))
            x = x + r
        return self.fc_out(x)


class NDDR(nn.Module):
    """Four parallel 1x1 convolutions ``in -> L/4`` + BN + ReLU, concatenated; ``calls`` groups share it."""

    def __init__(self, in_features: int, latent: int, calls: int = 1, parts: int = 4) -> None:
        super().__init__()
        self.calls = calls
        self.convs = nn.ModuleList(nn.Conv1d(in_features, latent // parts, 1, bias=False) for _ in range(parts))
        self.bn = nn.BatchNorm1d(latent) if calls == 1 else SharedAffineBatchNorm(latent, calls)

    def forward(self, x: torch.Tensor, call: int = 0) -> torch.Tensor:  # (B, in) -> (B, L)
        h = torch.cat([conv(x[:, :, None]) for conv in self.convs], dim=1)[:, :, 0]
        return torch.relu(self.bn(h) if self.calls == 1 else self.bn(h, call))


class ReleaseStyleEHFusion(nn.Module):
    """EHFusion as per-group modules called in loops (same maths as :class:`EHFusionNet`; see the module docstring).

    ``byte_mask_dropout=True`` swaps ``nn.Dropout`` for :class:`ByteMaskDropout` (benchmark breakdown only).
    """

    def __init__(self, config: ModelConfig, byte_mask_dropout: bool = False) -> None:
        super().__init__()
        if config.architecture != "ehfusion":
            raise ValueError("the release-style model exists for architecture='ehfusion' only")
        cfg = self.config = config
        self.skeleton = config.skeleton
        self.groups = self.skeleton.groups
        self.branches = tuple(config.branches)
        p = cfg.dropout
        drop = ByteMaskDropout if byte_mask_dropout else nn.Dropout
        self.local_encoders = nn.ModuleList(
            TemporalEncoder(6 * len(g), cfg.channels, cfg.latent, cfg.filter_widths, p, cfg.causal, drop)
            for g in self.groups)
        self.angle_encoders = nn.ModuleList(
            TemporalEncoder(len(g), cfg.angle_channels, cfg.angle_features, cfg.filter_widths, p, cfg.causal, drop)
            for g in self.groups)
        self.global_encoder = FCBlock(2 * self.skeleton.num_joints, cfg.hidden, cfg.latent, cfg.global_blocks, p,
                                     dropout_module=drop)
        self.camera_embedding = CameraEmbedding(cfg.camera_features, cfg.camera_hidden, p)
        self.fusion = nn.ModuleDict()
        if cfg.fusion != "none":
            fusion_in = (len(self.groups) - 1) * cfg.latent
            for kind in dict.fromkeys(g.kind for g in self.groups):
                calls = sum(g.kind == kind for g in self.groups)
                if OPERATORS_BY_VARIANT[cfg.fusion][kind] == "fc":
                    self.fusion[kind] = FCBlock(fusion_in, cfg.hidden, cfg.latent, cfg.fusion_blocks, p, calls, drop)
                else:
                    self.fusion[kind] = NDDR(fusion_in, cfg.latent, calls)
        self.decoders = nn.ModuleDict()
        for branch in self.branches:
            extra = cfg.latent if branch == "fused" else 0
            in_features = 2 * cfg.latent + cfg.angle_features + cfg.camera_features + extra
            self.decoders[branch] = nn.ModuleList(
                FCBlock(in_features, cfg.hidden, 3 * len(g), cfg.decoder_blocks, p, dropout_module=drop)
                for g in self.groups)

    @property
    def answer_branch(self) -> str:
        return self.config.answer_branch

    def forward(self, window: torch.Tensor, camera: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.config
        batch, frames = window.shape[:2]
        ref = reference_index(frames, cfg.causal)
        root = self.skeleton.root
        local, angle = [], []
        for g, group in enumerate(self.groups):
            joints = list(group.joints)
            xg = window[:, :, joints]
            positional = xg - window[:, :, root : root + 1]
            temporal = xg - xg[:, ref : ref + 1]
            features = torch.stack([xg, positional, temporal], dim=3).reshape(batch, frames, -1)
            local.append(self.local_encoders[g](features.transpose(1, 2)))
            angles = torch.exp(motion_angle(positional, positional[:, ref : ref + 1]) - math.pi)
            angle.append(self.angle_encoders[g](angles.transpose(1, 2)))
        global_features = self.global_encoder(window[:, ref].reshape(batch, -1))
        camera_features = self.camera_embedding(camera)
        fused = []
        if "fused" in self.branches:
            source = [f.detach() for f in local] if cfg.detach_fusion_input else local
            calls: dict[str, int] = {}
            for g, group in enumerate(self.groups):
                others = torch.cat([source[j] for j in range(len(self.groups)) if j != g], dim=1)
                call = calls.get(group.kind, 0)
                calls[group.kind] = call + 1
                fused.append(self.fusion[group.kind](others, call))
        outputs = {}
        for branch in self.branches:
            pose = window.new_zeros(batch, self.skeleton.num_joints, 3)
            for g, group in enumerate(self.groups):
                parts = [local[g], global_features, angle[g], camera_features]
                if branch == "fused":
                    parts.append(fused[g])
                out = self.decoders[branch][g](torch.cat(parts, dim=1)).view(batch, len(group), 3)
                pose = pose.index_copy(1, torch.tensor(group.joints, device=window.device), out)
            outputs[branch] = pose
        return outputs


# ---------------------------------------------------------------------------------------------------------------------
# weight copying from the batched model


def _copy_group_bn(target: nn.Module, source: GroupBatchNorm, group: int, call: int | None = None) -> None:
    """Copy group ``group``'s slice of a batched BatchNorm into a per-group one (``call``: its per-call statistics)."""
    c = source.group_features
    weight, bias = source.affine_parameters()
    sl = slice(group * c, (group + 1) * c)
    if isinstance(target, SharedAffineBatchNorm):
        target.weight.copy_(weight[sl])
        target.bias.copy_(bias[sl])
        norm = target.norms[call]
    else:
        target.weight.copy_(weight[sl])
        target.bias.copy_(bias[sl])
        norm = target
    norm.running_mean.copy_(source.running_mean[sl])
    norm.running_var.copy_(source.running_var[sl])
    norm.num_batches_tracked.copy_(source.num_batches_tracked)


def _copy_conv(target: nn.Conv1d, source: GroupedLinear, group: int) -> None:
    w = source.effective_weight()[group if source.weight.shape[0] > 1 else 0]  # (taps, in, out)
    target.weight.copy_(w[:, : target.in_channels, : target.out_channels].permute(2, 1, 0))
    if target.bias is not None:
        target.bias.copy_(source.effective_bias()[group, : target.out_channels])


def _copy_temporal(target: TemporalEncoder, source: GroupedTemporalEncoder, group: int) -> None:
    _copy_conv(target.expand_conv, source.expand, group)
    _copy_group_bn(target.expand_bn, source.expand_bn, group)
    for i in range(len(source.convs)):
        _copy_conv(target.layers_conv[2 * i], source.convs[i], group)
        _copy_group_bn(target.layers_bn[2 * i], source.conv_bns[i], group)
        _copy_conv(target.layers_conv[2 * i + 1], source.pointwise[i], group)
        _copy_group_bn(target.layers_bn[2 * i + 1], source.pointwise_bns[i], group)
    _copy_conv(target.shrink, source.shrink, group)


def _copy_linear(target: nn.Linear, source: GroupedLinear, group: int, rows: list[tuple[str, int, int]] | None = None
                 ) -> None:
    """Copy one group's weights; ``rows`` maps the target's input columns to (grouped/shared, start, stop) pieces."""
    wg = 0 if source.weight.shape[0] == 1 else group
    out = target.out_features
    grouped = source.effective_weight()[wg, 0]  # (in, out)
    shared = source.effective_shared_weight()
    if rows is None:
        target.weight.copy_(grouped[:, :out].t())
    else:
        pieces = [(grouped if kind == "grouped" else shared[:, wg])[a:b, :out] for kind, a, b in rows]
        target.weight.copy_(torch.cat(pieces, dim=0).t())
    target.bias.copy_(source.effective_bias()[wg, :out])


def _copy_fc(target: FCBlock, source: GroupedFCBlock, group: int, input_rows=None, call: int | None = None) -> None:
    bn_group = group if call is None else call
    _copy_linear(target.fc_in, source.input_layer, group, input_rows)
    _copy_group_bn(target.bn_in, source.input_bn, bn_group, call)
    for i, (layer, bn) in enumerate(zip(source.block_layers, source.block_bns)):
        _copy_linear(target.fcs[i], layer, group)
        _copy_group_bn(target.bns[i], bn, bn_group, call)
    _copy_linear(target.fc_out, source.output_layer, group)


@torch.no_grad()
def release_style_from(model: EHFusionNet, byte_mask_dropout: bool = False) -> ReleaseStyleEHFusion:
    """A :class:`ReleaseStyleEHFusion` computing exactly what ``model`` computes (weights and statistics copied)."""
    if not isinstance(model, EHFusionNet):
        raise TypeError(f"expected an EHFusionNet, got {type(model).__name__}")
    cfg = model.config
    release = ReleaseStyleEHFusion(cfg, byte_mask_dropout)
    for g in range(model.num_groups):
        _copy_temporal(release.local_encoders[g], model.local_encoders, g)
        _copy_temporal(release.angle_encoders[g], model.angle_encoders, g)
    _copy_fc(release.global_encoder, model.global_encoder, 0)
    release.camera_embedding.load_state_dict(model.camera_embedding.state_dict())
    if model.fusion is not None:
        for kind, operator in model.fusion.operators.items():
            target = release.fusion[kind]
            calls = len(model.fusion.members(kind))
            for call in range(calls):
                shared_call = call if calls > 1 else None
                if isinstance(operator, FCFusion):
                    _copy_fc(target, operator.block, 0, call=shared_call)
                elif isinstance(operator, NDDRFusion):
                    w = operator.linear.effective_weight()[0, 0]  # (in, L)
                    part = w.shape[1] // len(target.convs)
                    for i, conv in enumerate(target.convs):
                        conv.weight.copy_(w[:, i * part : (i + 1) * part].t()[:, :, None])
                    _copy_group_bn(target.bn, operator.bn, call, shared_call)
    L, A, K = cfg.latent, cfg.angle_features, cfg.camera_features
    for branch in cfg.branches:
        # release input order: local, global, angle, camera (, fused); batched: grouped [local, angle, fused],
        # shared [global, camera]
        rows = [("grouped", 0, L), ("shared", 0, L), ("grouped", L, L + A), ("shared", L, L + K)]
        if branch == "fused":
            rows.append(("grouped", L + A, L + A + L))
        for g in range(model.num_groups):
            _copy_fc(release.decoders[branch][g], model.decoders[branch], g, rows)
    release.train(model.training)
    return release
