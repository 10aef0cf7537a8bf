"""The speed benchmark's reference point: the per-group model holding the batched model's weights.

The per-group form is the package's readable model, :class:`~ehfusion.models.reference.ReferenceEHFusion` (one
``nn.Conv1d`` / ``nn.BatchNorm1d`` / ``nn.Linear`` network per joint group, called in Python loops, the structure of
the original release's code); :func:`release_style_from` builds one with the weights of a batched
:class:`~ehfusion.models.ehfusion_net.EHFusionNet`, so the benchmark compares the same function computed two ways.
"""
from __future__ import annotations

import torch
from torch import nn

from ehfusion.models.ehfusion_net import EHFusionNet
from ehfusion.models.ops import bernoulli_keep_mask
from ehfusion.models.reference import ReferenceEHFusion, load_from_batched

__all__ = ["ByteMaskDropout", "release_style_from"]


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


def _use_byte_mask_dropout(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Dropout):
            setattr(module, name, ByteMaskDropout(child.p))
        else:
            _use_byte_mask_dropout(child)


def release_style_from(model: EHFusionNet, byte_mask_dropout: bool = False) -> ReferenceEHFusion:
    """A per-group model computing exactly what ``model`` computes (weights and statistics copied).

    ``byte_mask_dropout=True`` swaps ``nn.Dropout`` for :class:`ByteMaskDropout` (benchmark breakdown only).
    """
    if not isinstance(model, EHFusionNet):
        raise TypeError(f"expected an EHFusionNet, got {type(model).__name__}")
    reference = ReferenceEHFusion(model.config)
    if byte_mask_dropout:
        _use_byte_mask_dropout(reference)
    first = next(model.parameters())
    reference.to(device=first.device, dtype=first.dtype)
    load_from_batched(reference, model.state_dict())
    reference.set_frozen_parts(model.frozen_parts)
    return reference.train(model.training)
