r"""The readable EHFusion: one module per joint group, plain PyTorch layers, read top to bottom.

This is the teaching form of :class:`~ehfusion.models.ehfusion_net.EHFusionNet`. It computes the same function (the
tests compare outputs, gradients and BatchNorm statistics with :func:`load_from_batched`), but every group has its own
``nn.Conv1d`` / ``nn.BatchNorm1d`` / ``nn.Linear`` modules called in a Python loop, as in VideoPose3D's ``model.py``.
It is slower; train and ship with :class:`EHFusionNet`.

**Inputs.** A window :math:`x \in \mathbb{R}^{T \times J \times 2}` of normalised 2D keypoints (per example of a
batch), the root joint :math:`r`, the frame to predict :math:`c` (the centre ``T // 2``, the last frame if causal), and
the camera's intrinsics :math:`(f_x, f_y, c_x, c_y)`. The joint groups :math:`\mathcal{J}_1, \dots, \mathcal{J}_G`
come from ``skeleton.groups`` (torso first, then the limbs).

**1. Encodings** (:mod:`~ehfusion.models.encodings`), per frame :math:`t` and joint :math:`j`:

.. math::
    p_{t,j} = x_{t,j} - x_{t,r}, \qquad d_{t,j} = x_{t,j} - x_{c,j}, \qquad
    a_{t,j} = \exp(\angle(p_{t,j}, p_{c,j}) - \pi).

Group :math:`g` reads
:math:`u_{g,t} = [x_{t,j}, p_{t,j}, d_{t,j}]_{j \in \mathcal{J}_g} \in \mathbb{R}^{6|\mathcal{J}_g|}` and
:math:`a_{g,t} = [a_{t,j}]_{j \in \mathcal{J}_g}`.

**2. Temporal encoders** (:class:`TemporalEncoder`, VideoPose3D's network in its strided one-output form). With
:math:`\sigma = \mathrm{Dropout} \circ \mathrm{LeakyReLU}_{0.2}` and :math:`W \circledast_w` a convolution of kernel and
stride :math:`w`, for filter widths :math:`w_0, \dots, w_K` (:math:`T = \prod_k w_k`):

.. math::
    h_0 = \sigma(\mathrm{BN}(W_0 \circledast_{w_0} u)), \qquad
    h_k = h_{k-1}[\tau_k :: w_k] + \sigma(\mathrm{BN}(V_k\, \sigma(\mathrm{BN}(W_k \circledast_{w_k} h_{k-1})))),
    \qquad E(u) = S\, h_K + b,

where :math:`\tau_k` is the centre tap (the last tap if causal). Each group has its own local encoder and angle
encoder: :math:`f_g = E^{\mathrm{loc}}_g(u_g) \in \mathbb{R}^L`, :math:`\alpha_g = E^{\mathrm{ang}}_g(a_g) \in
\mathbb{R}^A`.

**3. Global and camera features.** A fully connected residual block (:class:`FCBlock`)

.. math::
    F(v) = W_{\mathrm{out}} h_B + b, \quad h_0 = \sigma(\mathrm{BN}(W_{\mathrm{in}} v + b)), \quad
    h_i = h_{i-1} + \sigma(\mathrm{BN}(W'_i\, \sigma(\mathrm{BN}(W_i h_{i-1} + b_i)) + b'_i))

encodes the frame to predict, :math:`z = F^{\mathrm{glob}}([x_{c,j}]_j) \in \mathbb{R}^L`; :class:`CameraEmbedding`
gives :math:`k = \sigma(U_2\, \sigma(U_1 [\log f_x, \log f_y, c_x, c_y, 1]))` (all zeros and a 0 flag for an unknown
camera).

**4. Fusion.** Group :math:`g` receives the other groups' local features,
:math:`m_g = \Phi_{\kappa(g)}([f_h]_{h \ne g})`, with one operator per group kind :math:`\kappa` (torso, limb) chosen
by :data:`~ehfusion.models.fusion.OPERATORS_BY_VARIANT`: an :class:`FCBlock`, or :class:`NDDR`
:math:`\Phi(v) = \mathrm{ReLU}(\mathrm{BN}([P_1 v; P_2 v; P_3 v; P_4 v]))`. The four limbs share one operator (its
weights and BatchNorm scale and shift); each limb keeps its own BatchNorm statistics
(:class:`SharedAffineBatchNorm`). With ``detach_fusion_input`` the :math:`f_h` enter as constants.

**5. Decoders**, one :class:`FCBlock` per group and branch, scattered back to the layout's joint order:

.. math::
    y^{\mathrm{unfused}}_g = D^{\mathrm{unfused}}_g([f_g, z, \alpha_g, k]), \qquad
    y^{\mathrm{fused}}_g = D^{\mathrm{fused}}_g([f_g, z, \alpha_g, k, m_g]) \in \mathbb{R}^{3|\mathcal{J}_g|}.

What differs from :class:`EHFusionNet`: only how it is computed (no padding, masks, hand-written backward passes or
folded dropout), and the dropout masks (``nn.Dropout`` draws its own, so with ``dropout > 0`` two training-mode calls
differ; with ``dropout = 0`` or in evaluation mode the two models agree). ``forward_sequence`` evaluates every window
exactly, like the fast model.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from .base import DEFAULT_CHUNK_WINDOWS, PoseLifter
from .blocks import CameraEmbedding as _BatchedCameraEmbedding
from .config import ModelConfig
from .ehfusion_net import EHFusionNet
from .encodings import motion_angle_encoding, positional_encoding, reference_index, temporal_encoding
from .fusion import OPERATORS_BY_VARIANT

__all__ = ["ReferenceEHFusion", "load_from_batched", "reference_state_from_batched", "check_batched_state"]

#: Negative slope of every LeakyReLU (as in VideoPose3D).
LEAKY_SLOPE = 0.2


def activation(dropout: float) -> nn.Sequential:
    """:math:`\\sigma`: LeakyReLU(0.2), then dropout."""
    return nn.Sequential(nn.LeakyReLU(LEAKY_SLOPE), nn.Dropout(dropout))


class TemporalEncoder(nn.Module):
    """One group's temporal convolution network: ``(B, in_channels, T)`` -> ``(B, out_features)``."""

    def __init__(self, in_channels: int, channels: int, out_features: int, filter_widths: tuple[int, ...],
                 dropout: float, causal: bool) -> None:
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
        self.shrink = nn.Conv1d(channels, out_features, 1)
        self.act = activation(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.expand_bn(self.expand_conv(x)))
        for i, width in enumerate(self.filter_widths[1:]):
            tap = width - 1 if self.causal else width // 2
            residual = x[:, :, tap::width]
            x = self.act(self.layers_bn[2 * i](self.layers_conv[2 * i](x)))
            x = residual + self.act(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x)))
        return self.shrink(x)[:, :, 0]


class SharedAffineBatchNorm(nn.Module):
    """A BatchNorm used by ``calls`` groups: one scale and shift, statistics of its own for each group."""

    def __init__(self, features: int, calls: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        self.statistics = nn.ModuleList(nn.BatchNorm1d(features, affine=False) for _ in range(calls))

    def forward(self, x: torch.Tensor, call: int) -> torch.Tensor:
        return self.statistics[call](x) * self.weight + self.bias


def batch_norm(features: int, calls: int) -> nn.Module:
    """A plain BatchNorm for a module one group uses, a :class:`SharedAffineBatchNorm` for a shared one."""
    return nn.BatchNorm1d(features) if calls == 1 else SharedAffineBatchNorm(features, calls)


def normalise(bn: nn.Module, x: torch.Tensor, call: int) -> torch.Tensor:
    return bn(x, call) if isinstance(bn, SharedAffineBatchNorm) else bn(x)


class FCBlock(nn.Module):
    """``Linear -> BN -> act``, ``blocks`` residual blocks of two such layers, ``Linear`` out: ``(B, in) -> (B, out)``.

    ``calls`` > 1: the block is shared by that many groups; ``forward(x, call)`` says which group is calling.
    """

    def __init__(self, in_features: int, hidden: int, out_features: int, blocks: int, dropout: float,
                 calls: int = 1) -> None:
        super().__init__()
        self.fc_in = nn.Linear(in_features, hidden)
        self.bn_in = batch_norm(hidden, calls)
        self.layers_fc = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(2 * blocks))
        self.layers_bn = nn.ModuleList(batch_norm(hidden, calls) for _ in range(2 * blocks))
        self.fc_out = nn.Linear(hidden, out_features)
        self.act = activation(dropout)

    def forward(self, x: torch.Tensor, call: int = 0) -> torch.Tensor:
        x = self.act(normalise(self.bn_in, self.fc_in(x), call))
        for i in range(0, len(self.layers_fc), 2):
            r = self.act(normalise(self.layers_bn[i], self.layers_fc[i](x), call))
            x = x + self.act(normalise(self.layers_bn[i + 1], self.layers_fc[i + 1](r), call))
        return self.fc_out(x)


class NDDR(nn.Module):
    """Four parallel 1x1 convolutions ``in -> L/4``, concatenated, BatchNorm, ReLU: ``(B, in) -> (B, L)``."""

    def __init__(self, in_features: int, latent: int, calls: int = 1, parts: int = 4) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(in_features, latent // parts, 1, bias=False) for _ in range(parts))
        self.bn = batch_norm(latent, calls)

    def forward(self, x: torch.Tensor, call: int = 0) -> torch.Tensor:
        h = torch.cat([conv(x[:, :, None]) for conv in self.convs], dim=1)[:, :, 0]
        return torch.relu(normalise(self.bn, h, call))


class CameraEmbedding(nn.Module):
    """Intrinsics -> ``features`` numbers: ``Linear(5, hidden) -> act -> Linear(hidden, features) -> act``."""

    def __init__(self, features: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(5, hidden), activation(dropout), nn.Linear(hidden, features),
                                    activation(dropout))

    def forward(self, camera: torch.Tensor) -> torch.Tensor:
        # (log fx, log fy, cx, cy, known), zeros for an unknown camera (see blocks.CameraEmbedding)
        return self.layers(_BatchedCameraEmbedding.camera_inputs(camera))


class ReferenceEHFusion(PoseLifter):
    """EHFusion written per group (see the module docstring); same configuration and contract as EHFusionNet."""

    def __init__(self, config: ModelConfig) -> None:
        if config.architecture != "ehfusion":
            raise ValueError(f"ReferenceEHFusion needs architecture='ehfusion', got {config.architecture!r}")
        super().__init__(config)
        self.skeleton.require_groups()
        cfg = config
        self.groups = self.skeleton.groups
        p = cfg.dropout

        # 2. per-group temporal encoders
        self.local_encoders = nn.ModuleList(
            TemporalEncoder(6 * len(g), cfg.channels, cfg.latent, cfg.filter_widths, p, cfg.causal)
            for g in self.groups)
        self.angle_encoders = nn.ModuleList(
            TemporalEncoder(len(g), cfg.angle_channels, cfg.angle_features, cfg.filter_widths, p, cfg.causal)
            for g in self.groups)
        # 3. global and camera features
        self.global_encoder = FCBlock(2 * self.skeleton.num_joints, cfg.hidden, cfg.latent, cfg.global_blocks, p)
        self.camera_embedding = CameraEmbedding(cfg.camera_features, cfg.camera_hidden, p)
        # 4. fusion: one operator per group kind (only a model with a fused branch has one)
        kinds = list(dict.fromkeys(g.kind for g in self.groups))
        members = {kind: [g for g, group in enumerate(self.groups) if group.kind == kind] for kind in kinds}
        self.fusion_call = [members[group.kind].index(g) for g, group in enumerate(self.groups)]
        self.fusion = nn.ModuleDict()
        if cfg.builds_fusion:
            fusion_in = (len(self.groups) - 1) * cfg.latent
            for kind in kinds:
                calls = len(members[kind])
                if OPERATORS_BY_VARIANT[cfg.fusion][kind] == "fc":
                    self.fusion[kind] = FCBlock(fusion_in, cfg.hidden, cfg.latent, cfg.fusion_blocks, p, calls)
                else:
                    self.fusion[kind] = NDDR(fusion_in, cfg.latent, calls)
        # 5. decoders: one per group and branch
        self.decoders = nn.ModuleDict()
        for branch in cfg.branches:
            in_features = 2 * cfg.latent + cfg.angle_features + cfg.camera_features
            in_features += cfg.latent if branch == "fused" else 0
            self.decoders[branch] = nn.ModuleList(
                FCBlock(in_features, cfg.hidden, 3 * len(g), cfg.decoder_blocks, p) for g in self.groups)

    def forward(self, window: torch.Tensor, camera: torch.Tensor) -> dict[str, torch.Tensor]:
        """``window`` ``(B, T, J, 2)``, ``camera`` ``(B, 9)`` -> ``{branch: (B, J, 3)}`` (root-relative, metres)."""
        self.check_window(window, camera)
        batch, frames = window.shape[:2]
        root, c = self.skeleton.root, reference_index(frames, self.config.causal)

        # 1. encodings of every joint: (B, T, J, 3 * 2) and (B, T, J)
        coordinates = torch.stack([window, positional_encoding(window, root), temporal_encoding(window, c)], dim=3)
        coordinates = coordinates.reshape(batch, frames, self.num_joints, 6)
        angles = motion_angle_encoding(window, root, c)

        # 2. each group's encoders (channels first, as nn.Conv1d wants)
        local, angle = [], []
        for g, group in enumerate(self.groups):
            joints = list(group.joints)
            local.append(self.local_encoders[g](coordinates[:, :, joints].reshape(batch, frames, -1).transpose(1, 2)))
            angle.append(self.angle_encoders[g](angles[:, :, joints].transpose(1, 2)))

        # 3. global and camera features
        global_features = self.global_encoder(window[:, c].reshape(batch, -1))
        camera_features = self.camera_embedding(camera)

        # 4. fusion: group g reads the other groups' local features
        fused = []
        if "fused" in self.branches:
            source = [f.detach() for f in local] if self.config.detach_fusion_input else local
            for g, group in enumerate(self.groups):
                others = torch.cat([f for h, f in enumerate(source) if h != g], dim=1)
                fused.append(self.fusion[group.kind](others, self.fusion_call[g]))

        # 5. decoders, each group's joints written to their places in the layout
        outputs = {}
        for branch in self.branches:
            pose = window.new_zeros(batch, self.num_joints, 3)
            for g, group in enumerate(self.groups):
                parts = [local[g], global_features, angle[g], camera_features]
                if branch == "fused":
                    parts.append(fused[g])
                joints_3d = self.decoders[branch][g](torch.cat(parts, dim=1)).view(batch, len(group), 3)
                pose[:, list(group.joints)] = joints_3d
            outputs[branch] = pose
        return outputs

    def forward_sequence(self, keypoints: torch.Tensor, camera: torch.Tensor,
                         chunk_windows: int = DEFAULT_CHUNK_WINDOWS) -> dict[str, torch.Tensor]:
        """Every frame of a padded sequence ``(V, N + T - 1, J, 2)`` -> ``{branch: (V, N, J, 3)}``, window by window."""
        return self.forward_windows(keypoints, camera, chunk_windows)


# ---------------------------------------------------------------------------------------------------------------------
# weights of the batched model -> the reference model


class _Source:
    """The batched model's tensors by name (a state dict, or its parameters' gradients laid out the same way)."""

    def __init__(self, tensors: Mapping[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def __contains__(self, key: str) -> bool:
        return key in self.tensors

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self.tensors:
            raise KeyError(f"the batched state dict has no {key!r}; is it an EHFusionNet of the same configuration?")
        return self.tensors[key]


def _batch_norm(out: dict, ref: str, src: _Source, key: str, features: int, group: int, calls: int = 1) -> None:
    """A batched BatchNorm's slice for ``group`` (or, shared by ``calls`` groups, its affine and every statistic)."""
    shared = f"{key}.shared_weight" in src
    part = slice(group * features, (group + 1) * features)
    out[f"{ref}.weight"] = src[f"{key}.shared_weight"] if shared else src[f"{key}.weight"][part]
    out[f"{ref}.bias"] = src[f"{key}.shared_bias"] if shared else src[f"{key}.bias"][part]
    for call in range(calls):
        stats = ref if calls == 1 else f"{ref}.statistics.{call}"
        part = slice((group + call) * features, (group + call + 1) * features)
        out[f"{stats}.running_mean"] = src[f"{key}.running_mean"][part]
        out[f"{stats}.running_var"] = src[f"{key}.running_var"][part]
        out[f"{stats}.num_batches_tracked"] = src[f"{key}.num_batches_tracked"]


def _conv(src: _Source, key: str, group: int, in_size: int, out_size: int) -> torch.Tensor:
    """``(groups, taps, in, out)`` grouped weight -> ``nn.Conv1d`` weight ``(out, in, taps)``, padding removed."""
    return src[key][group, :, :in_size, :out_size].permute(2, 1, 0)


def _temporal(out: dict, ref: str, src: _Source, key: str, group: int, in_size: int, channels: int,
              out_size: int, levels: int) -> None:
    out[f"{ref}.expand_conv.weight"] = _conv(src, f"{key}.expand.weight", group, in_size, channels)
    _batch_norm(out, f"{ref}.expand_bn", src, f"{key}.expand_bn", channels, group)
    for i in range(levels):
        out[f"{ref}.layers_conv.{2 * i}.weight"] = _conv(src, f"{key}.convs.{i}.weight", group, channels,
                                                         channels)
        _batch_norm(out, f"{ref}.layers_bn.{2 * i}", src, f"{key}.conv_bns.{i}", channels, group)
        out[f"{ref}.layers_conv.{2 * i + 1}.weight"] = _conv(src, f"{key}.pointwise.{i}.weight", group,
                                                             channels, channels)
        _batch_norm(out, f"{ref}.layers_bn.{2 * i + 1}", src, f"{key}.pointwise_bns.{i}", channels, group)
    out[f"{ref}.shrink.weight"] = _conv(src, f"{key}.shrink.weight", group, channels, out_size)
    out[f"{ref}.shrink.bias"] = src[f"{key}.shrink.bias"][group, :out_size]


def _linear(src: _Source, key: str, group: int, in_size: int, out_size: int) -> torch.Tensor:
    return src[f"{key}.weight"][group, 0, :in_size, :out_size].t()


def _fc_block(out: dict, ref: str, src: _Source, key: str, group: int, in_weight: torch.Tensor, hidden: int,
              out_size: int, blocks: int, calls: int = 1) -> None:
    """One group's FC block (``group`` 0 and ``calls`` groups for a shared one); ``in_weight`` is its input layer."""
    out[f"{ref}.fc_in.weight"] = in_weight
    out[f"{ref}.fc_in.bias"] = src[f"{key}.input_layer.bias"][group, :hidden]
    _batch_norm(out, f"{ref}.bn_in", src, f"{key}.input_bn", hidden, group, calls)
    for i in range(2 * blocks):
        out[f"{ref}.layers_fc.{i}.weight"] = _linear(src, f"{key}.block_layers.{i}", group, hidden, hidden)
        out[f"{ref}.layers_fc.{i}.bias"] = src[f"{key}.block_layers.{i}.bias"][group]
        _batch_norm(out, f"{ref}.layers_bn.{i}", src, f"{key}.block_bns.{i}", hidden, group, calls)
    out[f"{ref}.fc_out.weight"] = _linear(src, f"{key}.output_layer", group, hidden, out_size)
    out[f"{ref}.fc_out.bias"] = src[f"{key}.output_layer.bias"][group, :out_size]


def _decoder_input_weight(src: _Source, key: str, group: int, cfg: ModelConfig, fused: bool) -> torch.Tensor:
    """Reorder the batched decoder's inputs (own ``[local, angle (, fused)]``, shared ``[global, camera]``) into the
    reference's ``[local, global, angle, camera (, fused)]``."""
    L, A, K, H = cfg.latent, cfg.angle_features, cfg.camera_features, cfg.hidden
    own = src[f"{key}.input_layer.weight"][group, 0, :, :H]  # (L + A (+ L), H)
    shared = src[f"{key}.input_layer.shared_weight"][:, group, :H]  # (L + K, H)
    rows = [own[:L], shared[:L], own[L : L + A], shared[L : L + K]] + ([own[L + A : L + A + L]] if fused else [])
    return torch.cat(rows, dim=0).t()


def reference_state_from_batched(config: ModelConfig, batched: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The reference model's state dict computed from an EHFusionNet state dict of the same configuration.

    Works on any name -> tensor mapping laid out like the state dict (for example the parameters' gradients).
    """
    cfg = config
    groups = cfg.skeleton.groups
    sizes = [len(g) for g in groups]
    levels = len(cfg.filter_widths) - 1
    src = _Source(batched)
    out: dict[str, torch.Tensor] = {}
    for g, size in enumerate(sizes):
        _temporal(out, f"local_encoders.{g}", src, "local_encoders", g, 6 * size, cfg.channels, cfg.latent, levels)
        _temporal(out, f"angle_encoders.{g}", src, "angle_encoders", g, size, cfg.angle_channels, cfg.angle_features,
                  levels)
    _fc_block(out, "global_encoder", src, "global_encoder", 0,
              _linear(src, "global_encoder.input_layer", 0, 2 * cfg.skeleton.num_joints, cfg.hidden),
              cfg.hidden, cfg.latent, cfg.global_blocks)
    for ref, key in (("layers.0", "hidden_layer"), ("layers.2", "output_layer")):
        for name in ("weight", "bias"):
            out[f"camera_embedding.{ref}.{name}"] = src[f"camera_embedding.{key}.{name}"]
    if cfg.builds_fusion:
        fusion_in = (len(groups) - 1) * cfg.latent
        for kind in dict.fromkeys(g.kind for g in groups):
            calls = sum(g.kind == kind for g in groups)
            key = f"fusion.operators.{kind}"
            if OPERATORS_BY_VARIANT[cfg.fusion][kind] == "fc":
                _fc_block(out, f"fusion.{kind}", src, f"{key}.block", 0,
                          _linear(src, f"{key}.block.input_layer", 0, fusion_in, cfg.hidden),
                          cfg.hidden, cfg.latent, cfg.fusion_blocks, calls)
            else:
                weight = src[f"{key}.linear.weight"][0, 0]  # (in, L): the four parts' weights side by side
                part = cfg.latent // 4
                for i in range(4):
                    out[f"fusion.{kind}.convs.{i}.weight"] = weight[:, i * part : (i + 1) * part].t()[:, :, None]
                _batch_norm(out, f"fusion.{kind}.bn", src, f"{key}.bn", cfg.latent, 0, calls)
    for branch in cfg.branches:
        for g, size in enumerate(sizes):
            key = f"decoders.{branch}"
            _fc_block(out, f"{key}.{g}", src, key, g, _decoder_input_weight(src, key, g, cfg, branch == "fused"),
                      cfg.hidden, 3 * size, cfg.decoder_blocks)
    return out


def check_batched_state(config: ModelConfig, batched_state_dict: Mapping[str, torch.Tensor]) -> None:
    """Raise ``ValueError`` unless the names and shapes are those of an :class:`EHFusionNet` of ``config``.

    The fusion module that older files of a model without a fused branch carry is allowed (it computes nothing there).
    """
    expected = {k: tuple(v.shape) for k, v in EHFusionNet(config).state_dict().items()}
    found = {k: tuple(v.shape) for k, v in batched_state_dict.items()
             if config.builds_fusion or not k.startswith("fusion.")}
    wrong = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
    missing, unexpected = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    if wrong or missing or unexpected:
        raise ValueError(f"the batched state dict is not that of an EHFusionNet of this configuration: "
                         f"wrong shapes {wrong[:3]}, missing {missing[:3]}, unexpected {unexpected[:3]}")


@torch.no_grad()
def load_from_batched(reference: ReferenceEHFusion, batched_state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy an :class:`EHFusionNet` state dict (same configuration) into ``reference``, padding removed.

    The names and shapes are checked first (:func:`check_batched_state`).
    """
    check_batched_state(reference.config, batched_state_dict)
    state = reference_state_from_batched(reference.config, batched_state_dict)
    reference.load_state_dict({k: v.clone() for k, v in state.items()})
