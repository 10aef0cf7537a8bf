"""Training strategies: one-stage and three-stage configurations, freezing, and the stage-to-stage hand-over.

One model class serves both strategies; only ``ModelConfig.branches`` differs:

* one-stage: ``("unfused", "fused")``, both returned, the loss sums both, ``"fused"`` is the answer;
* three-stage: stage 1 ``("unfused",)`` (encoders + plain decoders); stage 2 ``("fused",)``, encoders frozen;
  stage 3 ``("fused",)``, everything trained.

Our stage-2 hand-over (:func:`load_stage1_into_stage2`), chosen deliberately where the release was accidental:

* **all** stage-1 encoders are loaded and frozen, by module: the five local encoders, the five motion-angle encoders,
  the global encoder and the camera embedding (the release froze "the first 167 parameters", which left the angle
  encoders and the camera embedding restarting from random weights). Frozen parts keep their BatchNorm in evaluation
  mode, so their running statistics stop changing too.
* the fused decoders start as copies of the stage-1 decoders, with the weights of their new fused-feature inputs set
  to zero, so at the start of stage 2 the model predicts exactly what stage 1 predicted and the fusion operators can
  only improve on it (their gradient is zero until those weights move away from zero, after the first step).
* the fusion operators are new (random initialisation).

Stage 3 (:func:`load_stage2_into_stage3`) loads the whole stage-2 model and freezes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import torch

from .config import ModelConfig
from .ehfusion_net import ENCODER_PARTS, EHFusionNet

__all__ = [
    "STRATEGIES",
    "stage_branches",
    "stage_config",
    "freeze_encoders",
    "unfreeze_all",
    "LoadReport",
    "load_stage1_into_stage2",
    "load_stage2_into_stage3",
]

STRATEGIES = ("one-stage", "three-stage")


def stage_branches(strategy: str, stage: int = 1) -> tuple[str, ...]:
    """The output branches of one stage of a strategy: the one place that says which branches each stage has."""
    if strategy == "one-stage":
        if stage != 1:
            raise ValueError(f"the one-stage strategy has only stage 1, got stage {stage}")
        return ("unfused", "fused")
    if strategy == "three-stage":
        if stage not in (1, 2, 3):
            raise ValueError(f"the three-stage strategy has stages 1, 2, 3, got {stage}")
        return ("unfused",) if stage == 1 else ("fused",)
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


def stage_config(config: ModelConfig, strategy: str, stage: int = 1) -> ModelConfig:
    """The configuration for one stage of a strategy (only ``branches`` changes, to :func:`stage_branches`)."""
    return config.replace(branches=stage_branches(strategy, stage))


def _require_ehfusion(model) -> None:
    if not isinstance(model, EHFusionNet):
        raise TypeError(f"stage hand-over needs an EHFusionNet, got {type(model).__name__}")


def freeze_encoders(model: EHFusionNet) -> tuple[str, ...]:
    """Freeze the encoder modules (:data:`~ehfusion.models.ehfusion_net.ENCODER_PARTS`); returns their names.

    Their parameters stop requiring gradients and their BatchNorm layers stay in evaluation mode, also after later
    ``model.train()`` calls. Give the optimiser only ``[p for p in model.parameters() if p.requires_grad]``.
    """
    _require_ehfusion(model)
    model.set_frozen_parts(ENCODER_PARTS)
    return ENCODER_PARTS


def unfreeze_all(model) -> None:
    """Undo :func:`freeze_encoders`."""
    model.set_frozen_parts(())


@dataclass
class LoadReport:
    """What a stage hand-over did."""

    loaded: list[str] = field(default_factory=list)  # tensors copied unchanged
    initialised_from: dict[str, str] = field(default_factory=dict)  # new tensor <- old tensor (with zero padding)
    new: list[str] = field(default_factory=list)  # tensors left at their fresh initialisation
    frozen: tuple[str, ...] = ()  # frozen modules

    def __str__(self) -> str:
        def modules(names) -> str:
            tops = []
            for n in names:
                top = ".".join(n.split(".")[:2]) if n.startswith(("decoders.", "fusion.")) else n.split(".")[0]
                if top not in tops:
                    tops.append(top)
            return ", ".join(tops) if tops else "-"

        lines = [
            f"loaded unchanged : {len(self.loaded)} tensors ({modules(self.loaded)})",
            f"initialised from : {len(self.initialised_from)} tensors "
            f"({modules(self.initialised_from)} <- {modules(self.initialised_from.values())}; "
            f"new input weights zero)",
            f"new              : {len(self.new)} tensors ({modules(self.new)})",
            f"frozen modules   : {', '.join(self.frozen) if self.frozen else '-'}",
        ]
        return "\n".join(lines)


def _copy(target: torch.Tensor, source: torch.Tensor, name: str) -> None:
    if target.shape != source.shape:
        raise ValueError(f"cannot load {name}: checkpoint has shape {tuple(source.shape)}, the model "
                         f"{tuple(target.shape)}; build the model with the checkpoint's ModelConfig")
    target.copy_(source)


def load_stage1_into_stage2(stage2_model: EHFusionNet, stage1_state_dict: Mapping[str, torch.Tensor]) -> LoadReport:
    """Prepare a stage-2 model from a stage-1 state dict (see the module docstring); returns what was done."""
    _require_ehfusion(stage2_model)
    if stage2_model.branches != ("fused",):
        raise ValueError(f"a stage-2 model has branches ('fused',), got {stage2_model.branches}; "
                         f"build it with stage_config(cfg, 'three-stage', 2)")
    if not any(k.startswith("decoders.unfused.") for k in stage1_state_dict):
        raise ValueError("the stage-1 state dict has no 'decoders.unfused.*' tensors: is it a stage-1 checkpoint?")
    report = LoadReport()
    target = stage2_model.state_dict()
    with torch.no_grad():
        for name, tensor in target.items():
            if name.startswith(ENCODER_PARTS):
                if name not in stage1_state_dict:
                    raise KeyError(f"stage-1 state dict lacks {name}; was it saved from the same ModelConfig?")
                _copy(tensor, stage1_state_dict[name], name)
                report.loaded.append(name)
            elif name.startswith("decoders.fused."):
                source_name = "decoders.unfused." + name[len("decoders.fused."):]
                source = stage1_state_dict[source_name]
                if name.endswith("input_layer.weight"):
                    # (groups, 1, local + angle + fused, hidden): the fused rows are new, start at zero
                    if source.shape[2] > tensor.shape[2] or source.shape[:2] + source.shape[3:] != \
                            tensor.shape[:2] + tensor.shape[3:]:
                        raise ValueError(f"cannot initialise {name} {tuple(tensor.shape)} from {source_name} "
                                         f"{tuple(source.shape)}")
                    tensor.zero_()
                    tensor[:, :, : source.shape[2]] = source
                else:
                    _copy(tensor, source, name)
                report.initialised_from[name] = source_name
            else:
                report.new.append(name)
    stage2_model.load_state_dict(target)
    report.frozen = freeze_encoders(stage2_model)
    return report


def load_stage2_into_stage3(stage3_model: EHFusionNet, stage2_state_dict: Mapping[str, torch.Tensor]) -> LoadReport:
    """Stage 3: load the whole stage-2 model (strictly) and freeze nothing."""
    _require_ehfusion(stage3_model)
    if stage3_model.branches != ("fused",):
        raise ValueError(f"a stage-3 model has branches ('fused',), got {stage3_model.branches}")
    missing = sorted(set(stage3_model.state_dict()) - set(stage2_state_dict))
    unexpected = sorted(set(stage2_state_dict) - set(stage3_model.state_dict()))
    if missing or unexpected:
        raise ValueError(f"stage-2 state dict does not match the stage-3 model: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}; build both from the same ModelConfig")
    stage3_model.load_state_dict(stage2_state_dict)
    unfreeze_all(stage3_model)
    return LoadReport(loaded=list(stage2_state_dict))
