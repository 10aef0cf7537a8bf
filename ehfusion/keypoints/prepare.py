"""Preparing keypoints for a lifter: pixels to normalised screen coordinates (:func:`normalize_keypoints`), and the
whole pipeline (:func:`prepare_keypoints`: load, fill gaps, convert the layout, normalise, the camera vector)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import geometry
from ..cameras import camera_intrinsics, check_image_size
from ..skeleton import get_skeleton
from .files import load_keypoints
from .gaps import FillReport, fill_missing
from .keypoints2d import MIN_FRAMES, Keypoints2D
from .layouts import HEAD_EXTENSION, convert_layout, converted_mask, source_joints_used

__all__ = ["normalize_keypoints", "pixels_from_normalized", "PreparedKeypoints", "prepare_keypoints"]


def normalize_keypoints(xy_pixels, width, height) -> np.ndarray:
    """Pixels to normalised screen coordinates ``X / w * 2 - [1, h / w]`` (x in [-1, 1], y in [-h/w, h/w]).

    The image size is checked (:func:`ehfusion.cameras.check_image_size`); the formula is
    :func:`ehfusion.geometry.normalize_screen_coordinates`. Returns float32.
    """
    width, height = check_image_size(width, height)
    return geometry.normalize_screen_coordinates(np.asarray(xy_pixels, dtype=np.float32), width, height)


def pixels_from_normalized(xy_normalized, width, height) -> np.ndarray:
    """Inverse of :func:`normalize_keypoints`."""
    width, height = check_image_size(width, height)
    return geometry.image_coordinates(np.asarray(xy_normalized, dtype=np.float32), width, height)


@dataclass
class PreparedKeypoints:
    """Keypoints ready for a lifter: target layout, gaps filled, normalised, with a camera vector."""

    keypoints_px: np.ndarray  # (N, J, 2) pixels, target layout, filled
    keypoints: np.ndarray  # (N, J, 2) normalised screen coordinates
    confidence: np.ndarray  # (N, J) the original confidence (derived joints: min of their sources)
    filled: np.ndarray  # (N, J) bool: the joint was filled (or made from a filled source joint)
    intrinsics: np.ndarray  # (9,)
    width: int
    height: int
    layout: str
    source_layout: str
    report: FillReport
    frame_ids: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.keypoints)

    def to_sequence(self, subject: str = "user", action: str = "keypoints", fps: float = 50.0):
        """An :class:`ehfusion.data.Sequence` without 3D (for :func:`ehfusion.evaluation.predict_sequence`)."""
        from ..data.sequence import Sequence

        return Sequence(subject=subject, action=action, camera=0, keypoints_2d=self.keypoints, poses_3d=None,
                        trajectory=None, intrinsics=self.intrinsics, fps=fps)


def _check_pixel_range(keypoints: Keypoints2D, width: int, height: int, min_confidence: float) -> None:
    valid = ~keypoints.missing(min_confidence)
    if not valid.any():
        return
    xy = keypoints.xy[valid]
    if max(width, height) > 8 and np.abs(xy).max() <= 1.5:
        raise ValueError(
            "the keypoints all lie within [-1.5, 1.5]: they look normalised already, but pixels are expected; "
            "convert them back with pixels_from_normalized(xy, width, height)"
        )
    inside = ((xy[:, 0] >= -0.5 * width) & (xy[:, 0] <= 1.5 * width)
              & (xy[:, 1] >= -0.5 * height) & (xy[:, 1] <= 1.5 * height))
    if inside.mean() < 0.5:
        raise ValueError(
            f"most keypoints lie far outside a {width}x{height} image (x in [{xy[:, 0].min():.0f}, "
            f"{xy[:, 0].max():.0f}], y in [{xy[:, 1].min():.0f}, {xy[:, 1].max():.0f}] pixels): check the image size "
            f"(width first, then height) and that the keypoints are pixels of that image"
        )


def prepare_keypoints(source, width=None, height=None, *, layout: str | None = "coco", target: str = "h36m",
                      min_confidence: float = 0.3, intrinsics=None, receptive_field: int | None = None,
                      head_extension: float = HEAD_EXTENSION, **load_options: Any) -> PreparedKeypoints:
    """Load, fill, convert and normalise one person's keypoints (the whole pipeline of :mod:`ehfusion.keypoints`).

    ``source`` is anything :func:`load_keypoints` accepts, or a :class:`Keypoints2D`. ``width``/``height`` are the image
    size in pixels (taken from a VideoPose3D custom file when omitted). Gaps are filled in the *source* layout, only for
    the joints the conversion uses (COCO ears, for example, are never needed), so a derived joint loses nothing when
    just one of its sources was missing. ``head_extension`` is the head estimate's :math:`\\lambda` of the COCO
    conversion (:mod:`ehfusion.keypoints.layouts`). With ``receptive_field``, a sequence shorter than it triggers a warning: its
    windows are padded by repeating the first and last frames.
    """
    keypoints = source if isinstance(source, Keypoints2D) else load_keypoints(source, layout, **load_options)
    if width is None and height is None and keypoints.image_size is not None:
        width, height = keypoints.image_size
    width, height = check_image_size(width, height)
    target_skeleton = get_skeleton(target)
    used = source_joints_used(keypoints.layout, target_skeleton, head_extension=head_extension)
    if keypoints.num_frames >= MIN_FRAMES:
        _check_pixel_range(keypoints, width, height, min_confidence)
    filled_source, filled_mask, report = fill_missing(keypoints, min_confidence, joints=used)
    converted = convert_layout(filled_source, target_skeleton, head_extension=head_extension)
    filled = converted_mask(filled_mask, keypoints.layout, target_skeleton, head_extension=head_extension)
    if receptive_field is not None and keypoints.num_frames < receptive_field:
        warnings.warn(
            f"the sequence has {keypoints.num_frames} frames, fewer than the model's receptive field of "
            f"{receptive_field}: its windows are padded by repeating the first and last frames, which lowers accuracy",
            stacklevel=2,
        )
    return PreparedKeypoints(
        keypoints_px=converted.xy,
        keypoints=normalize_keypoints(converted.xy, width, height),
        confidence=converted.confidence,
        filled=filled,
        intrinsics=camera_intrinsics(width, height, intrinsics),
        width=width,
        height=height,
        layout=target_skeleton.name,
        source_layout=keypoints.layout,
        report=report,
        frame_ids=np.asarray(keypoints.frame_ids),
    )
