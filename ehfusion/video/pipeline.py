"""Video -> 2D -> 3D: decode the frames, detect the person, convert and fill the keypoints, lift them.

:func:`detect_video` runs a detector (default :class:`~ehfusion.video.detector.BlazePoseDetector`) over every frame and
keeps small copies of some frames for the animation; :func:`lift_video` adds the rest of the pipeline:

1. BlazePose's 33 landmarks -> COCO-17 (:func:`~ehfusion.video.blazepose.blazepose_to_coco`);
2. joints below ``min_confidence`` (and frames without a person) are marked missing and filled by interpolation in
   time, then converted to Human3.6M-17 and normalised (:func:`ehfusion.keypoints.prepare_keypoints`);
3. the camera: a calibration's intrinsics when given, otherwise :func:`ehfusion.keypoints.default_intrinsics`
   (focal length 1.147 x the image width, principal point at the centre);
4. the lifter (default :data:`DEFAULT_VIDEO_CHECKPOINT`, the most accurate detector-input checkpoint) on the whole
   sequence with flip test-time augmentation (:func:`ehfusion.lift.lift_prepared`).

The poses are **root-relative**: the root trajectory (where the person is in the room) is not estimated.
Every stage is timed (:attr:`VideoLift.seconds`), so its frames per second can be reported.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..keypoints import Keypoints2D, prepare_keypoints
from ..lift import DEFAULT_CHECKPOINT, LiftResult, lift_prepared, load_lifter, model_skeleton
from .blazepose import blazepose_to_coco
from .reading import VideoInfo, iter_frames, video_info

__all__ = ["DEFAULT_VIDEO_CHECKPOINT", "MIN_DETECTION_RATE", "VideoDetections", "VideoLift", "detect_video",
           "check_detection_rate", "lift_video", "video_intrinsics"]

#: The shipped checkpoint with the lowest test error on detector-like 2D input (checkpoints/README.md).
DEFAULT_VIDEO_CHECKPOINT = DEFAULT_CHECKPOINT

#: The lowest share of frames with a person found for which a video is lifted at all.
MIN_DETECTION_RATE = 0.5


@dataclass
class VideoDetections:
    """The detector's output for every frame of a video, with timings and a few small frames for pictures."""

    landmarks: np.ndarray  # (N, K, 3) pixel x, pixel y, confidence; NaN / 0 where nobody was found
    layout: str  # the detector's landmark layout, e.g. "blazepose"
    info: VideoInfo
    seconds: dict[str, float] = field(default_factory=dict)  # "decode", "detect"
    thumbnails: dict[int, np.ndarray] = field(default_factory=dict)  # frame index -> small RGB frame
    thumbnail_scale: float = 1.0  # thumbnail pixels per video pixel

    @property
    def num_frames(self) -> int:
        return len(self.landmarks)

    @property
    def found(self) -> np.ndarray:
        """``(N,)`` bool: a person was found in the frame."""
        return np.isfinite(self.landmarks[..., :2]).all(axis=(-1, -2))

    @property
    def detection_rate(self) -> float:
        return float(self.found.mean()) if self.num_frames else 0.0

    def to_coco(self) -> Keypoints2D:
        if self.layout != "blazepose":
            raise ValueError(f"no conversion from the {self.layout!r} landmarks to COCO-17")
        return blazepose_to_coco(self.landmarks, image_size=(self.info.width, self.info.height))


def detect_video(path, detector=None, *, max_frames: int | None = None, thumbnails: int = 0,
                 thumbnail_width: int = 320, progress: bool = True) -> VideoDetections:
    """Run a 2D detector over the frames of a video (at most ``max_frames``).

    ``thumbnails`` small RGB copies (``thumbnail_width`` pixels wide) of evenly spaced frames are kept for the
    animation; ``progress`` shows a progress bar.
    """
    from ..progress import progress_bar

    info = video_info(path)
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    expected = min(info.num_frames or 0, max_frames) if max_frames else info.num_frames
    step = max(1, int(np.ceil((expected or 1) / thumbnails))) if thumbnails else 0
    scale = min(1.0, thumbnail_width / info.width)
    own = detector is None
    if own:
        from .detector import BlazePoseDetector

        detector = BlazePoseDetector()
    landmarks, kept = [], {}
    decode = detect = 0.0
    try:
        frames = iter_frames(info.path, max_frames)
        bar = progress_bar(total=expected or None, enabled=progress, desc="decode + detect 2D", unit="frame")
        while True:
            start = time.perf_counter()
            frame = next(frames, None)
            middle = time.perf_counter()
            decode += middle - start
            if frame is None:
                break
            landmarks.append(detector.detect(frame))
            detect += time.perf_counter() - middle
            if step and len(landmarks) % step == 1 % step:
                kept[len(landmarks) - 1] = _thumbnail(frame, scale)
            bar.update(1)
        bar.close()
    finally:
        if own:
            detector.close()
    return VideoDetections(np.stack(landmarks).astype(np.float32), detector.layout, info,
                           {"decode": decode, "detect": detect}, kept, scale)


def _thumbnail(frame: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return frame.copy()
    from .deps import require

    cv2 = require("cv2")
    size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def check_detection_rate(detections: VideoDetections, minimum: float = MIN_DETECTION_RATE) -> None:
    """Raise a clear ``ValueError`` when a person was found in fewer than ``minimum`` of the frames."""
    found = int(detections.found.sum())
    if detections.num_frames == 0 or found < minimum * detections.num_frames:
        raise ValueError(
            f"{detections.info.path.name}: a person was found in only {found} of {detections.num_frames} frames "
            f"(at least {100 * minimum:.0f} % are needed): the detector needs one person, whole body in view, "
            f"not too small (a few hundred pixels tall); trim the video to the part where the person is visible"
        )


def video_intrinsics(info: VideoInfo, camera=None) -> np.ndarray | None:
    """Pixel intrinsics ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]`` of a calibrated camera for this video, checked
    against the video's size (``None`` without a camera: the lifter then uses the default from the frame size)."""
    if camera is None:
        return None
    if abs(camera.res_w - info.width) > 0.02 * info.width or abs(camera.res_h - info.height) > 0.02 * info.height:
        raise ValueError(f"camera {camera.id} was calibrated for {camera.res_w}x{camera.res_h} images but "
                         f"{info.path.name} is {info.width}x{info.height}: choose the camera that filmed this video")
    return camera.intrinsics_pixels


@dataclass
class VideoLift:
    """A video lifted to 3D: the detections, the lifter's result and the time every stage took."""

    detections: VideoDetections
    result: LiftResult
    seconds: dict[str, float]  # decode, detect, convert/fill, lift (and export stages when written)

    @property
    def fps(self) -> float:
        return self.detections.info.fps

    def frames_per_second(self) -> dict[str, float]:
        """Frames processed per second of each stage, and end to end (``total``)."""
        n = self.result.num_frames
        rates = {stage: n / seconds if seconds > 0 else float("inf") for stage, seconds in self.seconds.items()}
        rates["total"] = n / sum(self.seconds.values())
        return rates


def lift_video(path, checkpoint=DEFAULT_VIDEO_CHECKPOINT, *, camera=None, min_confidence: float = 0.5,
               detector=None, max_frames: int | None = None, thumbnails: int = 0, flip_tta: bool = True,
               progress: bool = True, detections: VideoDetections | None = None) -> VideoLift:
    """Lift the person in a video to root-relative 3D poses (metres, camera axes): see the module docstring.

    ``camera``: an :class:`ehfusion.cameras.Camera` (e.g. from :func:`ehfusion.video.calibration.read_qualisys`) whose
    intrinsics are used; ``min_confidence``: BlazePose visibilities below it count as missing and are filled in;
    ``detections``: reuse an earlier :func:`detect_video` run of the same video instead of detecting again.
    """
    if isinstance(checkpoint, (str, Path)):
        from ..checkpoints import load_checkpoint

        checkpoint = load_checkpoint(checkpoint)  # fail on a bad checkpoint before the slow detection
    model, _ = load_lifter(checkpoint)
    if detections is None:
        detections = detect_video(path, detector, max_frames=max_frames, thumbnails=thumbnails, progress=progress)
    check_detection_rate(detections)
    intrinsics = video_intrinsics(detections.info, camera)
    start = time.perf_counter()
    prepared = prepare_keypoints(detections.to_coco(), detections.info.width, detections.info.height,
                                 target=model_skeleton(model).name, min_confidence=min_confidence,
                                 intrinsics=intrinsics)
    middle = time.perf_counter()
    result = lift_prepared(prepared, checkpoint, flip_tta=flip_tta)
    seconds = dict(detections.seconds)
    seconds["convert/fill"] = middle - start
    seconds["lift"] = time.perf_counter() - middle
    return VideoLift(detections, result, seconds)
