"""Sizes of a model: receptive field, parameters per part, multiply-accumulates per output frame, and a table.

Parameter counts leave out the padding of the batched layers (only weights that can influence an output count), so
they equal the counts of the equivalent per-group modules. Multiply-accumulates (MACs) are counted by forward hooks on
every linear/convolution layer during a one-window forward pass in training (single-frame) form, which is how the
release's figures were obtained; elementwise work (BatchNorm, activations, encodings) is not counted.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import torch
from torch import nn

from .blocks import GroupedLinear, batch_norm_unfolded, count_real_parameters
from .config import ModelConfig

__all__ = ["receptive_field", "parameter_counts", "count_macs", "sequence_macs_per_frame", "model_table"]


def receptive_field(model_or_config) -> int:
    """Frames seen by one output (the product of the filter widths)."""
    return int(model_or_config.receptive_field)


def parameter_counts(model: nn.Module, trainable_only: bool = False) -> dict[str, int]:
    """Real parameters per part; keys are the model's top-level parts (decoders split by branch) and ``"total"``."""
    counts: dict[str, int] = {}
    for name, child in model.named_children():
        if name == "decoders" and isinstance(child, nn.ModuleDict):
            for branch, decoder in child.items():
                counts[f"decoders.{branch}"] = count_real_parameters(decoder, trainable_only)
        elif name == "fusion" and hasattr(child, "operators"):
            for kind, operator in child.operators.items():
                counts[f"fusion.{kind}"] = count_real_parameters(operator, trainable_only)
        else:
            counts[name] = count_real_parameters(child, trainable_only)
    counts["total"] = sum(counts.values())
    return counts


def _rows(tensor: torch.Tensor) -> int:
    return int(tensor.shape[0])


def count_macs(model: nn.Module, layout_joints: int | None = None) -> int:
    """Multiply-accumulates for one output frame (one window in training form), counted by forward hooks.

    Works for the batched models, the VideoPose3D baseline and the release-style model.
    """
    total = 0

    def grouped_hook(module: GroupedLinear, inputs, output):
        nonlocal total
        if isinstance(output, tuple):  # (output, kept input tap), see GroupedLinear.forward
            output = output[0]
        total += _rows(output) * module.real_macs_per_row(output.shape[1])

    def linear_hook(module: nn.Linear, inputs, output):
        nonlocal total
        total += output.numel() // module.out_features * module.in_features * module.out_features

    def conv_hook(module: nn.Conv1d, inputs, output):
        nonlocal total
        positions = output.shape[0] * output.shape[2]
        total += positions * module.out_channels * (module.in_channels // module.groups) * module.kernel_size[0]

    handles = []
    for module in model.modules():
        if isinstance(module, GroupedLinear):
            handles.append(module.register_forward_hook(grouped_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
        elif isinstance(module, nn.Conv1d):
            handles.append(module.register_forward_hook(conv_hook))
    was_training = model.training
    try:
        model.eval()
        joints = layout_joints or model.skeleton.num_joints
        window = torch.zeros(1, model.receptive_field if hasattr(model, "receptive_field")
                             else model.config.receptive_field, joints, 2)
        camera = torch.tensor([[2.29, 2.29, 0.03, 0.03, 0, 0, 0, 0, 0]], dtype=torch.float32)
        with torch.no_grad(), batch_norm_unfolded():  # every layer runs as itself, so that its hook counts it
            model(window, camera)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total


def sequence_macs_per_frame(model: nn.Module) -> int:
    """MACs per output frame when a long sequence is processed in whole-sequence mode.

    For VideoPose3D (dilated convolutions) every layer computes one output per frame, which is much cheaper than the
    training form; for EHFusion whole-sequence mode evaluates every window, so it equals :func:`count_macs`.
    """
    if getattr(model.config, "architecture", None) == "videopose3d":
        return sum(m.real_macs_per_row() for m in model.modules() if isinstance(m, GroupedLinear))
    return count_macs(model)


def model_table(configs: Mapping[str, ModelConfig] | Iterable[ModelConfig], seed: int = 0):
    """A tidy ``pandas.DataFrame``, one row per configuration: sizes, real parameters per part and in total, and
    multiply-accumulates per output frame (training form and whole-sequence mode). Counts are plain integers;
    parts a model does not have count 0.
    """
    import pandas as pd

    from . import build_model

    if not isinstance(configs, Mapping):
        configs = {f"config {i}": c for i, c in enumerate(configs)}
    rows = []
    for name, cfg in configs.items():
        torch.manual_seed(seed)
        model = build_model(cfg)
        row = {
            "name": name,
            "architecture": cfg.architecture,
            "fusion": cfg.fusion if cfg.architecture == "ehfusion" else "-",
            "branches": "+".join(cfg.branches),
            "frames": cfg.receptive_field,
            "latent": cfg.latent if cfg.architecture == "ehfusion" else 0,
            "channels": cfg.channels,
        }
        row.update({f"params.{part}": count for part, count in parameter_counts(model).items()})
        row["macs_per_frame"] = count_macs(model)
        row["macs_per_frame_sequence"] = sequence_macs_per_frame(model)
        rows.append(row)
        del model
    table = pd.DataFrame(rows)
    params = [c for c in table.columns if c.startswith("params.") and c != "params.total"]
    table[params] = table[params].fillna(0).astype("int64")
    order = [c for c in table.columns if not c.startswith(("params.", "macs"))] + params + \
        ["params.total", "macs_per_frame", "macs_per_frame_sequence"]
    return table[order]
