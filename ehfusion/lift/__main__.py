"""``ehfusion-lift`` / ``python -m ehfusion lift`` / ``python -m ehfusion.lift``: lift a video or 2D keypoints to 3D.

    python -m ehfusion.lift --keypoints video.json --width 1920 --height 1080 \\
        --checkpoint det_one-stage_best_epoch.bin --out poses.npz [--gif poses.gif] [--layout coco] \\
        [--min-confidence 0.3] [--overwrite]
    ehfusion-lift --video clip.mp4 --out clip_3d.npz [--gif clip.gif] [--csv clip.csv] [--bvh clip.bvh] \\
        [--calibration Calib.qca.txt --camera cam01]

``--keypoints`` goes through :func:`ehfusion.lift.lift`; ``--video`` runs :mod:`ehfusion.video` (read the frames, detect
2D with MediaPipe BlazePose, convert, fill, lift; it needs the ``video`` extra); ``--csv`` and ``--bvh`` are written by
:mod:`ehfusion.video.export`. The ``.npz`` is :meth:`ehfusion.lift.LiftResult.arrays`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli import USER_ERRORS, add_debug_argument, report_errors
from ..errors import ParameterError
from ..keypoints import INPUT_LAYOUTS
from ..video.deps import VideoExtraMissing
from . import DEFAULT_CHECKPOINT, LiftResult, checked_output_path, lift, write_gif

__all__ = ["LIFT_USER_ERRORS", "build_parser", "main"]

#: What this command prints as one line: the package's errors and a user's path (:data:`ehfusion.cli.USER_ERRORS`),
#: the missing ``video`` extra, and the ``ValueError`` / ``KeyError`` that the keypoint and video readers still raise
#: for a file they cannot use (until they raise :mod:`ehfusion.errors` types, ``--debug`` tells them from bugs).
LIFT_USER_ERRORS = USER_ERRORS + (VideoExtraMissing, ValueError, KeyError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ehfusion.lift",
        description="Lift one person to 3D poses from a video (MediaPipe BlazePose finds the 2D keypoints; needs the "
                    "'video' extra) or from 2D keypoints you already have (COCO-17 JSON from a detector, or a NumPy "
                    "array).",
        epilog="The output .npz holds poses_3d (N, J, 3) in metres (root-relative, camera axes: the root trajectory "
               "is not estimated), the 2D input the model saw (keypoints_px), the confidences, a mask of filled "
               "joints and the camera vector.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", metavar="FILE", help="a video of one person (.mp4, .avi, .mov, ...)")
    source.add_argument("--keypoints", metavar="FILE",
                        help="2D keypoints in pixels: COCO-style .json, or .npy/.npz with (N, K, 2) or (N, K, 3)")
    parser.add_argument("--width", type=float, default=None, help="image width in pixels (keypoints only)")
    parser.add_argument("--height", type=float, default=None, help="image height in pixels (keypoints only)")
    parser.add_argument("--checkpoint", default=None, metavar="NAME",
                        help="a checkpoint name in checkpoints/ or a path (see ehfusion.checkpoints.list_checkpoints); "
                             "default: det_three-stage_3_best_epoch.bin, the most accurate on detector input")
    parser.add_argument("--out", required=True, metavar="FILE.npz", help="where to write the 3D poses")
    parser.add_argument("--gif", default=None, metavar="FILE.gif",
                        help="also write an animation (video: the frame beside the 3D skeleton)")
    parser.add_argument("--csv", default=None, metavar="FILE.csv", help="also write the 3D poses as a CSV table")
    parser.add_argument("--bvh", default=None, metavar="FILE.bvh", help="also write a BVH motion file (Blender)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate for --csv/--bvh (default: the video's; 50 for keypoints)")
    parser.add_argument("--calibration", default=None, metavar="FILE.qca.txt",
                        help="video: take the intrinsics from a Qualisys calibration (default: a camera of about 47 "
                             "degrees horizontal field of view)")
    parser.add_argument("--camera", default=None, metavar="NAME",
                        help="which camera of --calibration filmed the video (default: the video's file name)")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N", help="video: only the first N frames")
    parser.add_argument("--layout", default="coco", choices=INPUT_LAYOUTS, help="joint order of the keypoints")
    parser.add_argument("--min-confidence", type=float, default=None, metavar="C",
                        help="joints below this confidence are treated as missing and filled in (default 0.3; "
                             "video: 0.5 of BlazePose's visibility)")
    parser.add_argument("--focal-length", type=float, default=None, metavar="PIXELS",
                        help="your camera's focal length in pixels (default: Human3.6M's, scaled to the image width)")
    parser.add_argument("--no-tta", dest="flip_tta", action="store_false", help="no flip test-time augmentation")
    parser.add_argument("--streaming", action="store_true",
                        help="lift frame by frame as a live system would (causal checkpoints, keypoints only)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="allow reading a VideoPose3D .npz (pickled): only for files you trust")
    parser.add_argument("--entry", default=None, metavar="VIDEO",
                        help="which video of a VideoPose3D custom .npz to lift")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_debug_argument(parser)
    return parser


def _outputs(args) -> dict[str, Path]:
    """Every output path, checked (suffix, not overwriting) before any work starts."""
    outputs = {"npz": checked_output_path(args.out, ".npz", args.overwrite)}
    for kind in ("gif", "csv", "bvh"):
        if getattr(args, kind):
            outputs[kind] = checked_output_path(getattr(args, kind), f".{kind}", args.overwrite)
    return outputs


def _video_camera(args):
    if args.calibration is None:
        if args.camera is not None:
            raise ParameterError("--camera names a camera of --calibration; give the calibration file too")
        return None
    from ..video.calibration import read_qualisys

    cameras = read_qualisys(args.calibration)
    name = args.camera or Path(args.video).stem
    if name not in cameras:
        raise ParameterError(f"{args.calibration} has no camera {name!r}; its cameras: {', '.join(cameras)} "
                         f"(choose one with --camera)")
    return cameras[name]


def _main_video(args, outputs: dict[str, Path]) -> None:
    import time

    from ..video.pipeline import lift_video

    for option in ("width", "height", "focal_length", "allow_pickle", "entry", "streaming"):
        if getattr(args, option) not in (None, False):
            raise ParameterError(f"--{option.replace('_', '-')} is for --keypoints; a video gives its own size "
                             f"(use --calibration for the camera)")
    camera = _video_camera(args)
    min_confidence = 0.5 if args.min_confidence is None else args.min_confidence
    done = lift_video(args.video, args.checkpoint or DEFAULT_CHECKPOINT, camera=camera,
                      min_confidence=min_confidence, max_frames=args.max_frames,
                      thumbnails=60 if "gif" in outputs else 0, flip_tta=args.flip_tta, progress=args.progress)
    result, detections = done.result, done.detections
    info = detections.info
    print(f"{info.path.name}: {info.width}x{info.height}, {info.fps:g} frames/s; a person was found in "
          f"{int(detections.found.sum())} of {detections.num_frames} frames "
          f"({100 * detections.detection_rate:.1f} %)")
    print(result.report)
    print(f"lifted {result.num_frames} frames with {result.checkpoint} (receptive field {result.receptive_field}); "
          f"camera: {'calibration ' + camera.id if camera is not None else 'default from the frame size'}; the root "
          f"trajectory is not estimated (poses are root-relative)")
    fps = args.fps or info.fps
    start = time.perf_counter()
    result.save(outputs["npz"], overwrite=args.overwrite)
    _write_tables(result, outputs, fps, args.overwrite)
    done.seconds["export"] = time.perf_counter() - start
    if "gif" in outputs:
        from ..video.animation import write_video_gif

        start = time.perf_counter()
        write_video_gif(done, outputs["gif"], overwrite=args.overwrite, progress=args.progress)
        done.seconds["gif"] = time.perf_counter() - start
    rates = done.frames_per_second()
    print("frames/s per stage: " + ", ".join(f"{stage} {rate:.1f}" for stage, rate in rates.items()))
    for kind, path in outputs.items():
        print(f"{kind}: {path}")


def _write_tables(result: LiftResult, outputs: dict[str, Path], fps: float, overwrite: bool) -> None:
    if "csv" in outputs or "bvh" in outputs:
        from ..video.export import write_bvh, write_csv

        if "csv" in outputs:
            write_csv(result.poses_3d, outputs["csv"], skeleton=result.layout, fps=fps, frame_ids=result.frame_ids,
                      overwrite=overwrite)
        if "bvh" in outputs:
            write_bvh(result.poses_3d, outputs["bvh"], skeleton=result.layout, fps=fps, overwrite=overwrite)


def _main_keypoints(args, outputs: dict[str, Path]) -> None:
    for option in ("calibration", "camera", "max_frames"):
        if getattr(args, option) is not None:
            raise ParameterError(f"--{option.replace('_', '-')} is for --video")
    intrinsics = {"focal_length": args.focal_length} if args.focal_length is not None else None
    options = {"allow_pickle": True} if args.allow_pickle else {}
    if args.entry is not None:
        options["entry"] = args.entry
    result = lift(args.keypoints, args.width, args.height, args.checkpoint or DEFAULT_CHECKPOINT, args.layout,
                  min_confidence=0.3 if args.min_confidence is None else args.min_confidence, intrinsics=intrinsics,
                  flip_tta=args.flip_tta, streaming=args.streaming, **options)
    result.save(outputs["npz"], overwrite=args.overwrite)
    print(f"lifted {result.num_frames} frames ({result.source_layout} -> {result.layout}) with "
          f"{result.checkpoint} (receptive field {result.receptive_field})")
    if result.report is not None:
        print(result.report)
    print(f"3D poses: {outputs['npz']}")
    _write_tables(result, outputs, args.fps or 50.0, args.overwrite)
    for kind in ("csv", "bvh"):
        if kind in outputs:
            print(f"{kind}: {outputs[kind]}")
    if "gif" in outputs:
        print(f"animation: {write_gif(result, outputs['gif'], overwrite=args.overwrite)}")


def _run(args) -> int:
    outputs = _outputs(args)
    if args.fps is not None and not args.fps > 0:
        raise ParameterError(f"--fps must be positive, got {args.fps}")
    if args.video is not None:
        _main_video(args, outputs)
    else:
        _main_keypoints(args, outputs)
    return 0


def main(argv=None) -> int:
    """Entry point of ``ehfusion-lift`` / ``python -m ehfusion.lift``; returns the exit status (a user's mistake: one
    line ``error: ...`` and 2; ``--debug`` shows its traceback)."""
    args = build_parser().parse_args(argv)
    return report_errors(lambda: _run(args), debug=args.debug, user_errors=LIFT_USER_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
