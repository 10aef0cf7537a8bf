"""BlazePose's 33 landmarks and their conversion to the COCO-17 and Human3.6M-17 layouts.

BlazePose (MediaPipe Pose) returns 33 landmarks per frame. Seventeen of them are COCO-17's keypoints, in another order:

======================  ==========================================================================
COCO-17 keypoint         BlazePose landmark (index)
======================  ==========================================================================
nose                     nose (0)
left / right eye         left eye (2) / right eye (5) (the eye centres, not the inner or outer corners)
left / right ear         left ear (7) / right ear (8)
shoulders, elbows,       left / right shoulder (11 / 12), elbow (13 / 14), wrist (15 / 16),
wrists, hips, knees,     hip (23 / 24), knee (25 / 26), ankle (27 / 28)
ankles
======================  ==========================================================================

so ``coco = blazepose[COCO_FROM_BLAZEPOSE]``, and from there the Human3.6M joints follow the documented COCO formulas
of :mod:`ehfusion.keypoints` (hip = mid-hips, thorax = mid-shoulders, spine = their midpoint, neck/nose = nose,
head = eyes + 0.5 (eyes - thorax), feet = ankles). :func:`blazepose_to_h36m_matrix` composes the two steps into one
``(17, 33)`` matrix whose rows sum to one, so it applies to pixels and to 3D points alike. The hands' and feet's extra
landmarks (fingers, heels, toes) and the eye corners and mouth are not used.

A BlazePose hip is not a motion-capture hip: it sits where the leg meets the trunk in the image, higher and wider
than Human3.6M's marker-based hip joint centres. The lifter was trained on the latter, which is one reason why results
on real video are compared after Procrustes alignment (P2).
"""
from __future__ import annotations

import numpy as np

from ..keypoints import Keypoints2D, conversion_matrix
from ..skeleton import COCO_17

__all__ = ["BLAZEPOSE_33", "COCO_FROM_BLAZEPOSE", "blazepose_to_coco", "blazepose_to_h36m_matrix"]

#: BlazePose landmark names, in the detector's order (0-32).
BLAZEPOSE_33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)

#: The BlazePose landmark of every COCO-17 keypoint, in COCO order (nose, eyes, ears, shoulders, ..., ankles).
COCO_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


def _check(landmarks: np.ndarray, what: str = "landmarks") -> np.ndarray:
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.ndim != 3 or landmarks.shape[1] != len(BLAZEPOSE_33) or landmarks.shape[2] not in (2, 3):
        raise ValueError(f"BlazePose {what} must have shape (frames, 33, 2 or 3), got {landmarks.shape}")
    return landmarks


def blazepose_to_coco(landmarks, frame_ids=None, image_size=None) -> Keypoints2D:
    """``(N, 33, 3)`` BlazePose pixels + confidence -> a COCO-17 :class:`~ehfusion.keypoints.Keypoints2D`.

    Missing landmarks (``NaN``) stay missing; their confidence becomes 0.
    """
    landmarks = _check(landmarks)
    coco = landmarks[:, COCO_FROM_BLAZEPOSE]
    xy = coco[..., :2]
    confidence = coco[..., 2] if coco.shape[-1] == 3 else np.ones(coco.shape[:2], np.float32)
    confidence = np.where(np.isfinite(xy).all(axis=-1), np.nan_to_num(confidence, nan=0.0), 0.0)
    return Keypoints2D(xy.astype(np.float32), confidence.astype(np.float32), COCO_17.name,
                       frame_ids=None if frame_ids is None else np.asarray(frame_ids), image_size=image_size)


def blazepose_to_h36m_matrix() -> np.ndarray:
    """``(17, 33)`` weights: Human3.6M joints as weighted sums of BlazePose landmarks (rows sum to one)."""
    selection = np.zeros((len(COCO_FROM_BLAZEPOSE), len(BLAZEPOSE_33)))
    selection[np.arange(len(COCO_FROM_BLAZEPOSE)), COCO_FROM_BLAZEPOSE] = 1.0
    return conversion_matrix("coco", "h36m") @ selection
