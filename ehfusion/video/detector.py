"""2D detectors: a small interface (an RGB frame in, pixels + confidence out) and MediaPipe BlazePose.

Any object with a ``layout`` name, a number of ``landmarks``, ``detect(frame) -> (K, 3)`` (pixel x, pixel y,
confidence in [0, 1]; ``NaN`` and confidence 0 when nobody is found) and ``close()`` can drive
:func:`ehfusion.video.pipeline.detect_video`. Detectors may track the person from frame to frame, so frames must be
given in order and a detector is used for one video.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Protocol

import numpy as np

from .blazepose import BLAZEPOSE_33
from .deps import require

__all__ = ["PoseDetector", "BlazePoseDetector"]


class PoseDetector(Protocol):
    layout: str
    landmarks: int

    def detect(self, frame: np.ndarray) -> np.ndarray:
        """``(landmarks, 3)``: pixel x, pixel y and confidence of one RGB frame ``(H, W, 3)`` uint8."""

    def close(self) -> None:
        """Release the detector's resources."""


class BlazePoseDetector:
    """MediaPipe BlazePose (``model_complexity=1``, the full landmark model shipped in the ``mediapipe`` 0.10.21 wheel).

    The confidence of a landmark is BlazePose's *visibility* (the probability that it is visible in the image and not
    occluded). ``min_detection_confidence`` is the person detector's threshold, ``min_tracking_confidence`` the
    threshold below which the landmark tracker runs the person detector again. Use it as a context manager, or call
    :meth:`close`.
    """

    layout = "blazepose"
    landmarks = len(BLAZEPOSE_33)

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        for name, value in (("min_detection_confidence", min_detection_confidence),
                            ("min_tracking_confidence", min_tracking_confidence)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ start-up messages
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        require("cv2")
        mediapipe = require("mediapipe")
        try:
            solution = mediapipe.solutions.pose
        except AttributeError:
            raise ImportError(
                f"mediapipe {getattr(mediapipe, '__version__', '?')} has no 'solutions.pose' (releases after 0.10.21 "
                f"ship no pose model); install the release the project uses: pip install --no-deps mediapipe==0.10.21"
            ) from None
        # Complexity 1 only: its model ships in the wheel, while complexities 0 and 2 download theirs at run time.
        self._quiet_calls = 3  # MediaPipe's C++ start-up messages come with the first frames
        with _quiet_stderr():
            self._pose = solution.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                       min_detection_confidence=float(min_detection_confidence),
                                       min_tracking_confidence=float(min_tracking_confidence))

    def detect(self, frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"a frame must be an RGB uint8 image (height, width, 3), got {frame.dtype} {frame.shape}")
        height, width = frame.shape[:2]
        if self._quiet_calls > 0:
            self._quiet_calls -= 1
            with _quiet_stderr():
                result = self._pose.process(frame)
        else:
            result = self._pose.process(frame)
        out = np.full((self.landmarks, 3), np.nan, np.float32)
        out[:, 2] = 0.0
        if result.pose_landmarks is not None:
            values = np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark], np.float32)
            out[:, 0] = values[:, 0] * width
            out[:, 1] = values[:, 1] * height
            out[:, 2] = np.clip(values[:, 2], 0.0, 1.0)
        return out

    def close(self) -> None:
        if self._pose is not None:
            with _quiet_stderr():
                self._pose.close()
            self._pose = None

    def __enter__(self) -> "BlazePoseDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def _quiet_stderr():
    """Send the process's standard error (file descriptor 2, where MediaPipe's C++ logging writes) to /dev/null."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
