"""Read a video's frames (RGB, one at a time), frame rate and size with OpenCV (its wheel carries ffmpeg)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .deps import require

__all__ = ["VideoInfo", "video_info", "iter_frames"]


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    width: int
    height: int
    num_frames: int  # as the container declares it (the decoded count can differ by a frame or two)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


def _open(path):
    cv2 = require("cv2")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"video {path} not found")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise ValueError(f"{path} cannot be decoded as a video (OpenCV/ffmpeg could not open it); "
                         f"convert it to .mp4 (H.264), e.g. ffmpeg -i {path.name} clip.mp4")
    return cv2, capture, path


def video_info(path) -> VideoInfo:
    """Frame rate, size and declared frame count of a video file."""
    cv2, capture, path = _open(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    if width < 1 or height < 1:
        raise ValueError(f"{path} holds no video frames (size {width}x{height})")
    if not np.isfinite(fps) or fps <= 0:
        fps = 30.0  # some containers do not declare a rate; the poses do not depend on it
    return VideoInfo(path, fps, width, height, max(count, 0))


def iter_frames(path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield the frames of a video as RGB ``uint8`` arrays ``(height, width, 3)``, at most ``max_frames``."""
    cv2, capture, path = _open(path)
    try:
        count = 0
        while max_frames is None or count < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            count += 1
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()
    if count == 0:
        raise ValueError(f"{path}: no frame could be decoded; is it a video file?")
