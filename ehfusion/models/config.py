"""``ModelConfig``: every size and switch of a model, as a plain dataclass that checkpoints can store."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..skeleton import get_skeleton

__all__ = ["ModelConfig", "receptive_field_of", "ARCHITECTURES", "FUSIONS", "EHFUSION_BRANCHES"]

ARCHITECTURES = ("ehfusion", "videopose3d")
FUSIONS = ("heterogeneous", "fc", "nddr", "none")
#: Output branches of EHFusion, in the order they are returned: the plain decoders and the fused decoders.
EHFUSION_BRANCHES = ("unfused", "fused")
VIDEOPOSE3D_BRANCH = "pose"
#: Fields that only shape the fusion module.
FUSION_FIELDS = ("fusion", "fusion_blocks", "detach_fusion_input")


def receptive_field_of(filter_widths: tuple[int, ...]) -> int:
    """Frames one output sees: the product of the filter widths (``3,3,3`` -> 27, ``3,3,3,3,3`` -> 243)."""
    return int(math.prod(filter_widths))


@dataclass
class ModelConfig:
    """Sizes and switches of an EHFusion model or of the VideoPose3D baseline.

    ``branches`` defaults to ``("unfused", "fused")`` (one-stage training), to ``("unfused",)`` when
    ``fusion="none"``, and to ``("pose",)`` for ``architecture="videopose3d"``. Three-stage training uses
    ``("unfused",)`` in stage 1 and ``("fused",)`` in stages 2 and 3 (see :func:`ehfusion.models.stages.stage_config`).
    Only a model with a ``"fused"`` branch has a fusion module (:attr:`builds_fusion`); elsewhere the fusion fields
    shape nothing (:attr:`unbuilt_fields`).
    """

    layout: str = "h36m"
    filter_widths: tuple[int, ...] = (3, 3, 3)
    channels: int = 256  # C: width of every temporal convolution network (``-ch``)
    latent: int = 256  # L: local/global/fused feature size (``-lfd``; 256 for GT inputs, 512 for detections)
    hidden: int = 1024  # width of the fully connected blocks (global encoder, torso fusion, decoders)
    angle_channels: int = 256  # C of the motion-angle encoders
    angle_features: int = 64  # output size of each motion-angle encoder
    camera_features: int = 64  # output size of the camera embedding
    dropout: float = 0.25
    causal: bool = False
    fusion: str = "heterogeneous"
    architecture: str = "ehfusion"
    branches: tuple[str, ...] | None = None
    detach_fusion_input: bool = False  # one-stage: stop the fused branch's gradient at the fusion input
    global_blocks: int = 2  # residual blocks of the global encoder
    decoder_blocks: int = 1  # residual blocks of each decoder
    fusion_blocks: int = 1  # residual blocks of the torso's fully connected fusion block
    camera_hidden: int = 32  # hidden width of the camera embedding

    def __post_init__(self) -> None:
        self.filter_widths = tuple(int(w) for w in self.filter_widths)
        if self.branches is not None:
            self.branches = tuple(self.branches)
        self._validate()
        if self.branches is None:
            if self.architecture == "videopose3d":
                self.branches = (VIDEOPOSE3D_BRANCH,)
            elif self.fusion == "none":
                self.branches = ("unfused",)
            else:
                self.branches = EHFUSION_BRANCHES
        self._validate_branches()

    # ------------------------------------------------------------------ derived facts
    @property
    def receptive_field(self) -> int:
        return receptive_field_of(self.filter_widths)

    @property
    def skeleton(self):
        return get_skeleton(self.layout)

    @property
    def builds_fusion(self) -> bool:
        """True when the model has a fusion module: only EHFusion models with a ``"fused"`` branch do."""
        return self.architecture == "ehfusion" and "fused" in self.branches

    @property
    def unbuilt_fields(self) -> tuple[str, ...]:
        """Fields that shape no part of this model (the fusion options of a model without a fusion module)."""
        return () if self.builds_fusion else FUSION_FIELDS

    @property
    def answer_branch(self) -> str:
        """The branch that is the model's prediction: ``"fused"`` when present, else the only/first branch."""
        return "fused" if "fused" in self.branches else self.branches[0]

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict (tuples become lists)."""
        out = asdict(self)
        out["filter_widths"] = list(self.filter_widths)
        out["branches"] = list(self.branches)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise (a typo would otherwise be silently ignored)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**dict(data))

    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with some fields changed (``branches`` is re-derived unless given)."""
        data = self.to_dict()
        if "branches" not in changes and ({"fusion", "architecture"} & set(changes)):
            data["branches"] = None
        data.update(changes)
        return ModelConfig.from_dict(data)

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        get_skeleton(self.layout)  # raises KeyError with the known layouts
        if self.architecture == "ehfusion":
            self.skeleton.require_groups()
        if not self.filter_widths:
            raise ValueError("filter_widths must name at least one width, e.g. (3, 3, 3) for 27 frames")
        bad = [w for w in self.filter_widths if w < 1 or w % 2 == 0]
        if bad:
            raise ValueError(f"filter widths must be odd positive integers (centre frame well defined), got "
                             f"{self.filter_widths}; use e.g. (3, 3, 3) for 27 frames or (3, 3, 3, 3, 3) for 243")
        for name in ("channels", "latent", "hidden", "angle_channels", "angle_features", "camera_features",
                     "camera_hidden"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        for name in ("global_blocks", "decoder_blocks", "fusion_blocks"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.fusion in ("heterogeneous", "nddr") and self.latent % 4:
            raise ValueError(f"the NDDR fusion layer splits the latent size into four parts: latent must be a "
                             f"multiple of 4, got {self.latent}")

    def _validate_branches(self) -> None:
        if self.architecture == "videopose3d":
            if self.branches != (VIDEOPOSE3D_BRANCH,):
                raise ValueError(f"the VideoPose3D baseline has the single branch ('pose',), got {self.branches}")
            return
        if not self.branches:
            raise ValueError("branches must name at least one of 'unfused', 'fused'")
        unknown = [b for b in self.branches if b not in EHFUSION_BRANCHES]
        if unknown or len(set(self.branches)) != len(self.branches):
            raise ValueError(f"branches must be distinct names from {EHFUSION_BRANCHES}, got {self.branches}")
        self.branches = tuple(b for b in EHFUSION_BRANCHES if b in self.branches)  # canonical order
        if "fused" in self.branches and self.fusion == "none":
            raise ValueError("branch 'fused' needs a fusion operator, but fusion='none'; "
                             "use branches=('unfused',) or fusion='heterogeneous'")
