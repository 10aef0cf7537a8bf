"""From a video of one person to 3D poses, offline: read frames, detect 2D, lift to 3D, export.

One module per job, each usable on its own:

* :mod:`~ehfusion.video.deps` the optional ``video`` extra (OpenCV, MediaPipe) and the exact command to install it;
* :mod:`~ehfusion.video.reading` frames, frame rate and size of a video file (OpenCV);
* :mod:`~ehfusion.video.blazepose` BlazePose's 33 landmarks and their conversion to COCO-17 / Human3.6M-17;
* :mod:`~ehfusion.video.detector` the detector interface (frames in, pixels + confidence out) and MediaPipe BlazePose;
* :mod:`~ehfusion.video.pipeline` video -> 2D -> 3D with per-stage timings (:func:`lift_video`);
* :mod:`~ehfusion.video.calibration` Qualisys ``.qca.txt`` calibrations as :class:`ehfusion.cameras.Camera` objects;
* :mod:`~ehfusion.video.triangulation` confidence-weighted DLT triangulation and reprojection errors;
* :mod:`~ehfusion.video.export` CSV and BVH files of the lifted poses;
* :mod:`~ehfusion.video.animation` the video frame beside the 3D skeleton, as a GIF;
* :mod:`~ehfusion.video.realcheck` the check on real footage: Pose2Sim's four calibrated views (``data/pose2sim_demo``).

Nothing here estimates the root trajectory: poses are root-relative, as the lifter predicts them.
"""
from .deps import INSTALL_COMMAND, VideoExtraMissing

__all__ = ["INSTALL_COMMAND", "VideoExtraMissing"]
