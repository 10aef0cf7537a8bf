"""Models: EHFusion (batched over joint groups), its readable per-group form, the VideoPose3D baseline, stages and
introspection.

>>> from ehfusion.models import ModelConfig, build_model
>>> model = build_model(ModelConfig(filter_widths=(3, 3, 3)))
>>> out = model(window, camera)   # doctest: +SKIP  {branch: (B, J, 3)}
"""
from __future__ import annotations

from .base import PoseLifter
from .config import ModelConfig, receptive_field_of
from .ehfusion_net import ENCODER_PARTS, EHFusionNet
from .reference import ReferenceEHFusion, load_from_batched
from .stages import (
    LoadReport,
    freeze_encoders,
    load_stage1_into_stage2,
    load_stage2_into_stage3,
    stage_branches,
    stage_config,
    unfreeze_all,
)
from .videopose3d import VideoPose3D

__all__ = [
    "ModelConfig",
    "build_model",
    "PoseLifter",
    "EHFusionNet",
    "ReferenceEHFusion",
    "load_from_batched",
    "VideoPose3D",
    "ENCODER_PARTS",
    "receptive_field_of",
    "stage_branches",
    "stage_config",
    "freeze_encoders",
    "unfreeze_all",
    "LoadReport",
    "load_stage1_into_stage2",
    "load_stage2_into_stage3",
]


def build_model(config: ModelConfig | dict) -> PoseLifter:
    """Build the model a configuration describes (a dict from ``ModelConfig.to_dict()`` is accepted too)."""
    if isinstance(config, dict):
        config = ModelConfig.from_dict(config)
    if not isinstance(config, ModelConfig):
        raise TypeError(f"build_model expects a ModelConfig (or its dict), got {type(config).__name__}")
    if config.architecture == "videopose3d":
        return VideoPose3D(config)
    return EHFusionNet(config)
