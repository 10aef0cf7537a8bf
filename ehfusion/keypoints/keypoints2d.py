"""The record of one person's 2D keypoint sequence in pixels (:class:`Keypoints2D`), and wrapping an array in one."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import Skeleton, get_skeleton

__all__ = ["INPUT_LAYOUTS", "MIN_FRAMES", "Keypoints2D", "check_input_layout", "keypoints_from_array"]

#: Layouts that keypoints may come in (``coco`` from detectors; the model layouts when you already have them).
INPUT_LAYOUTS = ("coco", "h36m", "humaneva15")

#: Fewest frames a sequence may have (a temporal model and the gap filling need at least two).
MIN_FRAMES = 2


@dataclass
class Keypoints2D:
    """A 2D keypoint sequence of one person, in pixels.

    ``xy`` is ``(N, K, 2)`` float32 with ``NaN`` where a joint is missing; ``confidence`` is ``(N, K)`` float32 (0 where
    missing, 1 when the source gave no confidence); ``layout`` names the joint order; ``frame_ids`` are the source's
    frame numbers; ``image_size`` is ``(width, height)`` when the file declared it.
    """

    xy: np.ndarray
    confidence: np.ndarray
    layout: str
    frame_ids: np.ndarray | None = None
    image_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        skeleton = get_skeleton(self.layout)
        if self.xy.ndim != 3 or self.xy.shape[-1] != 2:
            raise ValueError(f"Keypoints2D.xy must have shape (frames, joints, 2), got {self.xy.shape}")
        if self.confidence.shape != self.xy.shape[:2]:
            raise ValueError(f"confidence shape {self.confidence.shape} does not match keypoints {self.xy.shape[:2]}")
        if self.xy.shape[1] != skeleton.num_joints:
            raise ValueError(
                f"the {self.layout} layout has {skeleton.num_joints} joints but the keypoints have {self.xy.shape[1]}; "
                f"pass the right layout (known: {', '.join(INPUT_LAYOUTS)})"
            )
        if self.frame_ids is None:
            self.frame_ids = np.arange(len(self.xy))

    @property
    def skeleton(self) -> Skeleton:
        return get_skeleton(self.layout)

    @property
    def num_frames(self) -> int:
        return self.xy.shape[0]

    @property
    def num_joints(self) -> int:
        return self.xy.shape[1]

    def missing(self, min_confidence: float = 0.0) -> np.ndarray:
        """``(N, K)`` bool: joints without finite coordinates or with a confidence below ``min_confidence``."""
        finite = np.isfinite(self.xy).all(axis=-1)
        confident = np.nan_to_num(self.confidence, nan=-1.0) >= min_confidence
        return ~(finite & confident)


def check_input_layout(layout: str | Skeleton) -> str:
    """The name of a layout keypoints may come in (:data:`INPUT_LAYOUTS`); ``KeyError`` for any other."""
    name = get_skeleton(layout).name
    if name not in INPUT_LAYOUTS:
        raise KeyError(f"unknown keypoint layout {name!r}; known layouts: {', '.join(INPUT_LAYOUTS)}")
    return name


def keypoints_from_array(array, layout: str = "coco") -> Keypoints2D:
    """Wrap an array of pixel keypoints.

    ``array`` is ``(N, K, 2)`` (``NaN`` marks a missing joint, every other joint has confidence 1) or ``(N, K, 3)``
    (the third channel is the confidence in [0, 1]); ``K`` must match the layout (17 for ``coco`` and ``h36m``, 15 for
    ``humaneva15``).
    """
    layout = check_input_layout(layout)
    try:
        array = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"keypoints must be numeric, got {type(array).__name__}: {error}") from None
    expected = get_skeleton(layout).num_joints
    if array.ndim == 2 and array.shape[-1] in (2, 3) and array.shape[0] == expected:
        raise ValueError(
            f"got one frame of keypoints {array.shape}; pass a sequence (frames, {expected}, 2 or 3), "
            f"e.g. array[None] for a single frame (at least {MIN_FRAMES} frames are needed)"
        )
    if array.ndim != 3 or array.shape[-1] not in (2, 3):
        raise ValueError(
            f"keypoints must have shape (frames, joints, 2) or (frames, joints, 3) with a confidence, got {array.shape}"
        )
    if array.shape[1] != expected:
        hint = ", ".join(f"{n} ({get_skeleton(n).num_joints} joints)" for n in INPUT_LAYOUTS)
        raise ValueError(
            f"keypoints have {array.shape[1]} joints but layout {layout!r} has {expected}; "
            f"choose the layout your detector uses (known: {hint})"
        )
    xy = array[..., :2]
    if array.shape[-1] == 3:
        confidence = array[..., 2]
    else:
        confidence = np.isfinite(xy).all(axis=-1).astype(np.float64)
    return Keypoints2D(xy.astype(np.float32), confidence.astype(np.float32), layout)
