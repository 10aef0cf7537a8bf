"""The optional ``video`` extra: OpenCV to read videos, MediaPipe BlazePose to detect 2D keypoints.

MediaPipe 0.10.21 is the last release whose wheel ships the BlazePose models (``model_complexity=1``, no download at
run time). Its declared requirements (``numpy<2``, jax, opencv-contrib-python, ...) would pull about 1.1 GB and
downgrade NumPy, so it is installed **without its dependencies**; the few it needs at run time are the ``video`` extra.
"""
from __future__ import annotations

import importlib

__all__ = ["INSTALL_COMMAND", "MEDIAPIPE_VERSION", "VideoExtraMissing", "require"]

MEDIAPIPE_VERSION = "0.10.21"

#: What to run (in the project folder) to install the ``video`` extra; ``make test`` does the same.
INSTALL_COMMAND = f"pip install -e '.[video]' && pip install --no-deps mediapipe=={MEDIAPIPE_VERSION}"


class VideoExtraMissing(ImportError):
    """A package of the ``video`` extra is not installed; the message says how to install it."""


def require(module: str):
    """Import ``module`` (``cv2`` or ``mediapipe``) or raise :class:`VideoExtraMissing` with the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise VideoExtraMissing(
            f"reading videos needs the 'video' extra ({module} is missing: {error}); install it with: {INSTALL_COMMAND}"
        ) from None
