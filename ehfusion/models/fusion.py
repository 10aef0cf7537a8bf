r"""Heterogeneous fusion: each joint group receives a feature built from the other groups' local features.

For group :math:`i` the input is the concatenation of the other groups' local features, in canonical group order:
:math:`u_i = [f_j]_{j \ne i} \in \mathbb{R}^{(G-1)L}` (``4L`` for five groups). Each group *kind* has its own operator,
shared by every group of that kind:

* :class:`FCFusion`: a fully connected residual block ``(G-1)L -> L`` (hidden ``hidden``, one residual block);
* :class:`NDDRFusion`: the NDDR-style layer, four parallel ``1x1`` convolutions ``(G-1)L -> L/4`` with BatchNorm and
  ReLU whose outputs are concatenated. Four parallel ``1x1`` convolutions over the same input, concatenated, are
  exactly one ``1x1`` convolution with ``L`` outputs (stacked weights), so that is how it is computed.

Variants (``ModelConfig.fusion``): ``"heterogeneous"`` (EHFusion: FC block for the torso, NDDR for the limbs),
``"fc"`` (FC block for both kinds), ``"nddr"`` (NDDR for both), ``"none"`` (no fusion). The torso and limb operators
are always separate modules; the four limbs share one (its BatchNorm statistics are kept per limb, see
:class:`~ehfusion.models.blocks.GroupBatchNorm`).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..skeleton import JointGroup
from .blocks import GroupBatchNorm, GroupedFCBlock, GroupedLinear, fold_batch_norm, folds_batch_norm

__all__ = ["FCFusion", "NDDRFusion", "GroupFusion", "OPERATORS_BY_VARIANT", "other_group_index"]

#: Which operator each group kind uses in each fusion variant.
OPERATORS_BY_VARIANT: dict[str, dict[str, str]] = {
    "heterogeneous": {"torso": "fc", "limb": "nddr"},
    "fc": {"torso": "fc", "limb": "fc"},
    "nddr": {"torso": "nddr", "limb": "nddr"},
}


def other_group_index(num_groups: int) -> torch.Tensor:
    """``(G, G - 1)`` index: row i lists every group except i, in canonical order."""
    return torch.tensor([[j for j in range(num_groups) if j != i] for i in range(num_groups)], dtype=torch.long)


class FCFusion(nn.Module):
    """Fully connected fusion operator ``(G-1)L -> L`` shared by ``groups`` groups."""

    def __init__(self, groups: int, in_features: int, latent: int, hidden: int, blocks: int, dropout: float) -> None:
        super().__init__()
        self.block = GroupedFCBlock(groups, in_features, hidden, latent, blocks, dropout, shared=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class NDDRFusion(nn.Module):
    """NDDR-style operator: ``parts`` parallel 1x1 convolutions ``in -> L/parts`` + BN + ReLU, concatenated to ``L``.

    Computed as one ``in -> L`` linear map (the parallel convolutions' weights stacked; no bias, a BatchNorm follows).
    """

    def __init__(self, groups: int, in_features: int, latent: int, parts: int = 4) -> None:
        super().__init__()
        if latent % parts:
            raise ValueError(f"NDDR fusion: latent size {latent} is not divisible into {parts} parallel parts")
        self.parts = parts
        self.linear = GroupedLinear(groups, in_features, latent, bias=False, shared=True)
        self.bn = GroupBatchNorm(latent, groups, shared_affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if folds_batch_norm(self):  # evaluation without gradients: one product with the BatchNorm folded in
            weight, bias, _ = fold_batch_norm(self.linear, self.bn)
            return F.relu(self.linear.apply_weights(x, weight, bias, None), inplace=True)
        return F.relu(self.bn(self.linear(x)))


class GroupFusion(nn.Module):
    """All fusion operators of a model: builds each group's input and applies its kind's operator.

    ``forward(local)``: ``(rows, G, L)`` local features -> ``(rows, G, L)`` fused features.
    """

    def __init__(self, groups: Sequence[JointGroup], variant: str, latent: int, hidden: int, blocks: int,
                 dropout: float) -> None:
        super().__init__()
        if variant not in OPERATORS_BY_VARIANT:
            raise ValueError(f"fusion variant must be one of {sorted(OPERATORS_BY_VARIANT)}, got {variant!r}")
        if len(groups) < 2:
            raise ValueError("fusion needs at least two joint groups")
        self.variant = variant
        self.num_groups = len(groups)
        self.latent = latent
        kinds = []
        for g in groups:
            if g.kind not in kinds:
                kinds.append(g.kind)
        self.kinds = tuple(kinds)
        in_features = (self.num_groups - 1) * latent
        operators = {}
        for kind in self.kinds:
            members = [i for i, g in enumerate(groups) if g.kind == kind]
            operator = OPERATORS_BY_VARIANT[variant].get(kind)
            if operator is None:
                raise ValueError(f"no fusion operator for group kind {kind!r}; kinds: torso, limb")
            if operator == "fc":
                operators[kind] = FCFusion(len(members), in_features, latent, hidden, blocks, dropout)
            else:
                operators[kind] = NDDRFusion(len(members), in_features, latent)
            self.register_buffer(f"members_{kind}", torch.tensor(members, dtype=torch.long), persistent=False)
        self.operators = nn.ModuleDict(operators)
        self.register_buffer("others", other_group_index(self.num_groups), persistent=False)
        order = torch.cat([getattr(self, f"members_{k}") for k in self.kinds])
        self.register_buffer("restore", torch.argsort(order), persistent=False)
        self._needs_restore = order.tolist() != list(range(self.num_groups))
        # groups of one kind that sit next to each other are read through a view instead of a gather
        self._ranges = {}
        for kind in self.kinds:
            members = getattr(self, f"members_{kind}").tolist()
            contiguous = members == list(range(members[0], members[0] + len(members)))
            self._ranges[kind] = (members[0], members[0] + len(members)) if contiguous else None

    def members(self, kind: str) -> torch.Tensor:
        return getattr(self, f"members_{kind}")

    def fusion_inputs(self, local: torch.Tensor) -> torch.Tensor:
        """``(rows, G, L)`` -> ``(rows, G, (G-1) L)``: group i gets the other groups' features in canonical order."""
        rows = local.shape[0]
        return local[:, self.others.reshape(-1)].reshape(rows, self.num_groups, -1)

    def forward(self, local: torch.Tensor) -> torch.Tensor:
        inputs = self.fusion_inputs(local)
        outputs = []
        for kind in self.kinds:
            span = self._ranges[kind]
            selected = inputs[:, span[0] : span[1]] if span else inputs[:, self.members(kind)]
            outputs.append(self.operators[kind](selected))
        fused = torch.cat(outputs, dim=1)
        return fused[:, self.restore] if self._needs_restore else fused
