"""Your own 2D keypoints: load them, fill gaps, convert the joint layout, normalise, and pick camera intrinsics.

The lifter was trained on 2D keypoints in the Human3.6M 17-joint layout (:data:`ehfusion.skeleton.H36M_17`) in
normalised screen coordinates. Most 2D detectors emit the COCO 17-keypoint layout (:data:`ehfusion.skeleton.COCO_17`)
in pixels, with a confidence per keypoint and the odd missed joint or frame. This package turns such output into model
input in four steps, each a separate function in a module of its own:

1. **load** (:func:`load_keypoints`, :mod:`~ehfusion.keypoints.files`; COCO JSON in
   :mod:`~ehfusion.keypoints.coco_json`): a NumPy array, a ``.npy`` / ``.npz`` file or a COCO-style keypoint ``.json``
   file becomes a :class:`Keypoints2D` (pixels ``(N, K, 2)`` with ``NaN`` where missing, confidences ``(N, K)``);
2. **fill** (:func:`fill_missing`, :mod:`~ehfusion.keypoints.gaps`): joints that are missing or below a confidence
   threshold are replaced, joint by joint, by linear interpolation in time between the nearest confident frames (the
   first/last confident value is held before/after them); a :class:`FillReport` says how many were filled;
3. **convert** (:func:`convert_layout`, :mod:`~ehfusion.keypoints.layouts`): every target joint is a fixed weighted
   sum of source joints (:func:`conversion_matrix`; the COCO to Human3.6M table is in that module), derived joints
   take the minimum confidence of their sources;
4. **normalise** (:func:`normalize_keypoints`, :mod:`~ehfusion.keypoints.prepare`): pixels to
   ``X / w * 2 - [1, h / w]`` (the VideoPose3D convention, :func:`ehfusion.geometry.normalize_screen_coordinates`), and
   the 9-number camera vector from your intrinsics or, for an unknown camera, :func:`default_intrinsics`
   (:mod:`ehfusion.cameras`).

:func:`prepare_keypoints` runs the four steps and returns a :class:`PreparedKeypoints` ready for :mod:`ehfusion.lift`.
"""
from ..cameras import camera_intrinsics, check_image_size, default_intrinsics
from .coco_json import read_coco_json, write_coco_json
from .files import load_keypoints
from .gaps import FillReport, fill_missing
from .keypoints2d import INPUT_LAYOUTS, MIN_FRAMES, Keypoints2D, check_input_layout, keypoints_from_array
from .layouts import (HEAD_EXTENSION, coco_from_h36m, conversion_matrix, convert_layout, converted_mask,
                      source_joints_used)
from .prepare import PreparedKeypoints, normalize_keypoints, pixels_from_normalized, prepare_keypoints

__all__ = [
    "HEAD_EXTENSION",
    "INPUT_LAYOUTS",
    "MIN_FRAMES",
    "Keypoints2D",
    "FillReport",
    "PreparedKeypoints",
    "load_keypoints",
    "keypoints_from_array",
    "check_input_layout",
    "read_coco_json",
    "write_coco_json",
    "conversion_matrix",
    "convert_layout",
    "converted_mask",
    "source_joints_used",
    "coco_from_h36m",
    "fill_missing",
    "normalize_keypoints",
    "pixels_from_normalized",
    "check_image_size",
    "default_intrinsics",
    "camera_intrinsics",
    "prepare_keypoints",
]
