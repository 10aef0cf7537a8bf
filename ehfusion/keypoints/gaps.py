"""Gap filling: joints that are missing or below a confidence threshold are replaced, joint by joint, by linear
interpolation in time between the nearest confident frames (:func:`fill_missing`); a :class:`FillReport` counts them."""
from __future__ import annotations

import math
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass, field

import numpy as np

from .keypoints2d import INPUT_LAYOUTS, MIN_FRAMES, Keypoints2D

__all__ = ["FillReport", "fill_missing"]


@dataclass
class FillReport:
    """How many joints :func:`fill_missing` replaced, per joint of the filled layout."""

    layout: str
    num_frames: int
    min_confidence: float
    filled_per_joint: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.filled_per_joint.values())

    @property
    def fraction(self) -> float:
        """Filled share of all (frame, joint) entries that were checked."""
        checked = self.num_frames * max(1, len(self.filled_per_joint))
        return self.total / checked

    def __str__(self) -> str:
        lines = [f"filled {self.total} of {self.num_frames} x {len(self.filled_per_joint)} joint positions "
                 f"({100 * self.fraction:.1f} %) below confidence {self.min_confidence:g} or missing"]
        lines += [f"  {name:<10} {count:6d} frames" for name, count in self.filled_per_joint.items() if count]
        return "\n".join(lines)


def fill_missing(keypoints: Keypoints2D, min_confidence: float = 0.3, joints: SequenceOf[int] | None = None
                 ) -> tuple[Keypoints2D, np.ndarray, FillReport]:
    """Replace missing / low-confidence joints by linear interpolation in time, joint by joint.

    A joint is missing in a frame when its coordinates are not finite or its confidence is below ``min_confidence``.
    Between two confident frames ``a < f < b`` the value is ``x_a + (f - a) / (b - a) (x_b - x_a)``; before the first
    (after the last) confident frame the first (last) confident value is held. Only ``joints`` are checked (default:
    all). Returns the filled keypoints (filled entries keep their original confidence), the ``(N, K)`` mask of filled
    entries and a :class:`FillReport`.

    Raises ``ValueError`` when a checked joint is never confident (the error names it), when a joint has non-finite
    coordinates but a confidence at or above the threshold (a broken file), or for fewer than :data:`MIN_FRAMES` frames.
    """
    if not 0.0 <= min_confidence <= 1.0 or not math.isfinite(min_confidence):
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    n = keypoints.num_frames
    if n < MIN_FRAMES:
        raise ValueError(
            f"the sequence has {n} frame(s); at least {MIN_FRAMES} are needed (the model is temporal; for a single "
            f"image, repeat it with np.repeat(keypoints, 2, axis=0), knowing that the model then sees a frozen pose)"
        )
    skeleton = keypoints.skeleton
    joints = list(range(keypoints.num_joints)) if joints is None else list(joints)
    finite = np.isfinite(keypoints.xy).all(axis=-1)
    confident = np.nan_to_num(keypoints.confidence, nan=-1.0) >= min_confidence
    broken = ~finite & confident & (keypoints.confidence > 0)
    broken[:, [j for j in range(keypoints.num_joints) if j not in joints]] = False
    if broken.any():
        frame, joint = np.argwhere(broken)[0]
        raise ValueError(
            f"{int(broken.sum())} joint position(s) have NaN/inf coordinates but a confidence >= {min_confidence}, "
            f"first {skeleton.joint_names[joint]} in frame {int(keypoints.frame_ids[frame])}: set their confidence "
            f"to 0 to mark them missing"
        )
    missing = ~(finite & confident)
    xy = keypoints.xy.astype(np.float64).copy()
    filled = np.zeros_like(missing)
    report = FillReport(skeleton.name, n, float(min_confidence))
    frames = np.arange(n)
    for j in joints:
        gaps = missing[:, j]
        if gaps.all():
            raise ValueError(
                f"joint {skeleton.joint_names[j]} ({skeleton.name} index {j}) is missing or below confidence "
                f"{min_confidence:g} in all {n} frames, so it cannot be filled; lower min_confidence, or check the "
                f"layout (got {skeleton.name!r}; known: {', '.join(INPUT_LAYOUTS)})"
            )
        if gaps.any():
            for axis in range(2):
                xy[gaps, j, axis] = np.interp(frames[gaps], frames[~gaps], xy[~gaps, j, axis])
            filled[:, j] = gaps
        report.filled_per_joint[skeleton.joint_names[j]] = int(gaps.sum())
    out = Keypoints2D(xy.astype(np.float32), keypoints.confidence.copy(), keypoints.layout,
                      frame_ids=keypoints.frame_ids, image_size=keypoints.image_size)
    return out, filled, report
