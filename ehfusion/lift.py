"""Lift your own 2D keypoints to 3D with a trained checkpoint: a function, a frame-by-frame lifter and a command line.

Whole sequences (:func:`lift`): the keypoints go through :func:`ehfusion.keypoints.prepare_keypoints` (load, fill gaps
by interpolation, convert COCO to the model's layout, normalise) and then through the model in whole-sequence mode with
flip test-time augmentation (:func:`ehfusion.evaluation.predict_sequence`).

Live input (:class:`StreamingLifter`): feed one frame at a time and get that frame's 3D pose at once. Only a
**causal** checkpoint (trained with ``--causal``: its window ends at the frame it predicts) can do that; gaps are filled
by holding the joint's last confident position, since later frames are not known yet.

Command line::

    python -m ehfusion.lift --keypoints video.json --width 1920 --height 1080 \\
        --checkpoint det_one-stage_best_epoch.bin --out poses.npz [--gif poses.gif] [--layout coco] \\
        [--min-confidence 0.3] [--overwrite]
    ehfusion-lift --video clip.mp4 --out clip_3d.npz [--gif clip.gif] [--csv clip.csv] [--bvh clip.bvh] \\
        [--calibration Calib.qca.txt --camera cam01]

``--video`` runs :mod:`ehfusion.video` (read the frames, detect 2D with MediaPipe BlazePose, convert, fill, lift;
it needs the ``video`` extra); ``--csv`` and ``--bvh`` are written by :mod:`ehfusion.video.export`.

The output ``.npz`` holds plain arrays (no pickles): ``poses_3d`` (N, J, 3) metres, root-relative, camera axes (x right,
y down, z forward); ``keypoints_px`` (N, J, 2) the filled 2D input in the model's layout; ``keypoints_normalized``;
``confidence``; ``filled`` (N, J) bool; ``intrinsics`` (9,); ``frame_ids``; ``joint_names``; ``layout``; ``checkpoint``;
``width``; ``height``.
"""
from __future__ import annotations

import argparse
import collections
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .keypoints import (
    INPUT_LAYOUTS,
    FillReport,
    PreparedKeypoints,
    camera_intrinsics,
    check_image_size,
    conversion_matrix,
    normalize_keypoints,
    prepare_keypoints,
)
from .skeleton import Skeleton, get_skeleton

__all__ = ["LiftResult", "lift", "lift_prepared", "StreamingLifter", "load_lifter", "write_gif", "build_parser",
           "main"]


# ----------------------------------------------------------------------------------------------------- model loading
def load_lifter(checkpoint) -> tuple[torch.nn.Module, str]:
    """``(model, name)`` from a checkpoint name / path, a loaded :class:`ehfusion.checkpoints.Checkpoint`, or a model.

    A model must follow the model contract (``receptive_field``, ``answer_branch``, ``config.layout``).
    """
    if isinstance(checkpoint, torch.nn.Module):
        return checkpoint.eval(), type(checkpoint).__name__
    if hasattr(checkpoint, "model") and hasattr(checkpoint, "config"):
        if checkpoint.model is None:
            raise ValueError("the checkpoint was loaded with build=False; load it with load_checkpoint(name)")
        return checkpoint.model.eval(), checkpoint.name
    from .checkpoints import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    return loaded.model.eval(), loaded.name


def _model_fact(model: torch.nn.Module, name: str, default=None):
    from .evaluation import _config_value

    return _config_value(model, name, default)


def _model_skeleton(model: torch.nn.Module) -> Skeleton:
    layout = _model_fact(model, "layout")
    if not layout:
        raise ValueError("the model does not say which joint layout it predicts (its config has no 'layout')")
    return get_skeleton(layout)


# ----------------------------------------------------------------------------------------------------- whole sequences
@dataclass
class LiftResult:
    """3D poses lifted from one person's 2D keypoints, with the 2D input the model actually saw."""

    poses_3d: np.ndarray  # (N, J, 3) metres, root-relative (root = 0), camera axes
    keypoints_px: np.ndarray  # (N, J, 2) pixels in the model's layout, gaps filled
    keypoints: np.ndarray  # (N, J, 2) normalised screen coordinates (the model input)
    confidence: np.ndarray  # (N, J) the detector's confidence (derived joints: min of their sources)
    filled_mask: np.ndarray  # (N, J) bool: the joint was filled in (interpolated / held)
    intrinsics: np.ndarray  # (9,) the camera vector used
    width: int
    height: int
    layout: str  # the model's layout, e.g. "h36m"
    source_layout: str  # the layout the keypoints came in, e.g. "coco"
    checkpoint: str
    receptive_field: int
    report: FillReport | None
    frame_ids: np.ndarray

    @property
    def skeleton(self) -> Skeleton:
        return get_skeleton(self.layout)

    @property
    def num_frames(self) -> int:
        return len(self.poses_3d)

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything as plain NumPy arrays (strings as unicode arrays), the content of the saved ``.npz``."""
        return {
            "poses_3d": self.poses_3d.astype(np.float32),
            "keypoints_px": self.keypoints_px.astype(np.float32),
            "keypoints_normalized": self.keypoints.astype(np.float32),
            "confidence": self.confidence.astype(np.float32),
            "filled": self.filled_mask.astype(bool),
            "intrinsics": self.intrinsics.astype(np.float32),
            "frame_ids": np.asarray(self.frame_ids),
            "joint_names": np.asarray(self.skeleton.joint_names),
            "layout": np.asarray(self.layout),
            "source_layout": np.asarray(self.source_layout),
            "checkpoint": np.asarray(self.checkpoint),
            "width": np.asarray(self.width),
            "height": np.asarray(self.height),
        }

    def save(self, path, overwrite: bool = False) -> Path:
        """Write :meth:`arrays` to ``path`` (``.npz``) atomically; an existing file is kept unless ``overwrite``."""
        from .io import atomic_savez

        path = _output_path(path, ".npz", overwrite)
        atomic_savez(path, **self.arrays())
        return path


def _output_path(path, suffix: str, overwrite: bool) -> Path:
    path = Path(path).expanduser()
    if path.suffix.lower() != suffix:
        raise ValueError(f"{path}: the file name must end in {suffix}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another name or allow overwriting (--overwrite)")
    return path


def lift(keypoints, width=None, height=None, checkpoint="det_one-stage_best_epoch.bin", layout: str = "coco", *,
         min_confidence: float = 0.3, intrinsics=None, flip_tta: bool = True, branch: str | None = None,
         streaming: bool = False, **load_options) -> LiftResult:
    """Lift one person's 2D keypoints (pixels) to root-relative 3D poses in metres.

    ``keypoints``: anything :func:`ehfusion.keypoints.load_keypoints` reads (array ``(N, K, 2|3)``, ``.npy``, ``.npz``,
    COCO ``.json``) or a :class:`~ehfusion.keypoints.Keypoints2D`; ``width`` / ``height``: the image size in pixels;
    ``checkpoint``: a checkpoint name or path, a loaded checkpoint, or a model; ``layout``: the keypoints' joint order
    (``coco`` or a model layout); ``intrinsics``: your camera (see :func:`ehfusion.keypoints.camera_intrinsics`),
    default a Human3.6M-like camera scaled to the image.

    ``streaming=False`` (default) predicts every frame from a window around it, with gaps filled by interpolation and
    flip test-time augmentation. ``streaming=True`` replays the sequence through :class:`StreamingLifter` (causal
    checkpoints only): what a live system would have produced, frame by frame.
    """
    model, name = load_lifter(checkpoint)
    skeleton = _model_skeleton(model)
    receptive_field = int(model.receptive_field)
    prepared = prepare_keypoints(keypoints, width, height, layout=layout, target=skeleton.name,
                                 min_confidence=min_confidence, intrinsics=intrinsics,
                                 receptive_field=receptive_field, **load_options)
    if streaming:
        return _lift_streaming(model, name, keypoints, prepared, layout, min_confidence, intrinsics, flip_tta, branch,
                               load_options)
    return _predict(model, name, prepared, flip_tta, branch)


def lift_prepared(prepared: PreparedKeypoints, checkpoint, *, flip_tta: bool = True,
                  branch: str | None = None) -> LiftResult:
    """Lift keypoints already prepared by :func:`ehfusion.keypoints.prepare_keypoints` (in the model's layout)."""
    model, name = load_lifter(checkpoint)
    return _predict(model, name, prepared, flip_tta, branch)


def _predict(model, name: str, prepared: PreparedKeypoints, flip_tta: bool, branch: str | None) -> LiftResult:
    from .evaluation import predict_sequence

    skeleton = _model_skeleton(model)
    if prepared.layout != skeleton.name:
        raise ValueError(f"the keypoints were prepared in the {prepared.layout} layout but {name} predicts "
                         f"{skeleton.name}; prepare them with target={skeleton.name!r}")
    poses = predict_sequence(model, prepared.to_sequence(), flip_tta=flip_tta, branch=branch, skeleton=skeleton)
    return _result(poses, prepared, name, int(model.receptive_field))


def _result(poses: np.ndarray, prepared: PreparedKeypoints, name: str, receptive_field: int,
            **overrides) -> LiftResult:
    values = dict(
        poses_3d=np.asarray(poses, np.float32), keypoints_px=prepared.keypoints_px, keypoints=prepared.keypoints,
        confidence=prepared.confidence, filled_mask=prepared.filled, intrinsics=prepared.intrinsics,
        width=prepared.width, height=prepared.height, layout=prepared.layout, source_layout=prepared.source_layout,
        checkpoint=name, receptive_field=receptive_field, report=prepared.report, frame_ids=prepared.frame_ids,
    )
    values.update(overrides)
    return LiftResult(**values)


def _lift_streaming(model, name, keypoints, prepared, layout, min_confidence, intrinsics, flip_tta, branch,
                    load_options) -> LiftResult:
    from .keypoints import Keypoints2D, load_keypoints

    source = keypoints if isinstance(keypoints, Keypoints2D) else load_keypoints(keypoints, layout, **load_options)
    streamer = StreamingLifter(model, prepared.width, prepared.height, layout=source.layout,
                               min_confidence=min_confidence, intrinsics=intrinsics, flip_tta=flip_tta, branch=branch)
    frames = np.concatenate((source.xy, source.confidence[..., None]), axis=-1)
    poses, inputs, inputs_px, filled = [], [], [], []
    for frame in frames:
        pose = streamer.push(frame)
        poses.append(np.full((streamer.skeleton.num_joints, 3), np.nan, np.float32) if pose is None else pose)
        inputs_px.append(streamer.last_keypoints_px)
        filled.append(streamer.last_filled)
    inputs_px = np.stack(inputs_px)
    inputs = normalize_keypoints(inputs_px, prepared.width, prepared.height)
    return _result(np.stack(poses), prepared, name, streamer.receptive_field, keypoints_px=inputs_px,
                   keypoints=inputs, filled_mask=np.stack(filled), report=None)


# ----------------------------------------------------------------------------------------------------- streaming
class StreamingLifter:
    """Lift a live stream one frame at a time with a **causal** checkpoint.

    ``push(frame)`` takes one frame of pixel keypoints ``(K, 2)`` or ``(K, 3)`` (with confidence) in ``layout`` and
    returns that frame's 3D pose ``(J, 3)`` (metres, root-relative), computed from a rolling window of the last
    ``receptive_field`` frames. Before the window is full, the first frame is repeated in front of it (exactly the
    padding of whole-sequence causal inference). A joint that is missing or below ``min_confidence`` keeps its last
    confident position (``last_filled`` marks those); until every joint the conversion needs has been seen once,
    ``push`` returns ``None``.
    """

    def __init__(self, checkpoint, width, height, *, layout: str = "coco", min_confidence: float = 0.3,
                 intrinsics=None, flip_tta: bool = True, branch: str | None = None) -> None:
        self.model, self.name = load_lifter(checkpoint)
        if not bool(_model_fact(self.model, "causal", False)):
            raise ValueError(
                f"{self.name} was trained with centred windows (causal=False): its answer for a frame needs "
                f"{int(self.model.receptive_field) // 2} future frames, so it cannot lift a live stream. Lift whole "
                f"sequences with ehfusion.lift.lift(...), or train a causal model (run_onestage --causal)"
            )
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        self.skeleton = _model_skeleton(self.model)
        self.source = get_skeleton(layout)
        if self.source.name not in INPUT_LAYOUTS:
            raise KeyError(f"unknown keypoint layout {layout!r}; known layouts: {', '.join(INPUT_LAYOUTS)}")
        self.width, self.height = check_image_size(width, height)
        self.matrix = conversion_matrix(self.source, self.skeleton)
        self.needed = (self.matrix != 0).any(axis=0)
        self.min_confidence = float(min_confidence)
        self.receptive_field = int(self.model.receptive_field)
        self.flip_tta = flip_tta
        self.branch = branch
        camera = camera_intrinsics(self.width, self.height, intrinsics)
        self._camera = torch.from_numpy(np.stack([camera, *([_flip_camera(camera)] if flip_tta else [])]))
        self.reset()

    def reset(self) -> None:
        """Forget the stream (a new video)."""
        self._last = np.full((self.source.num_joints, 2), np.nan)
        self._window: collections.deque = collections.deque(maxlen=self.receptive_field)
        self.frames_seen = 0
        self.last_keypoints_px = np.full((self.skeleton.num_joints, 2), np.nan, np.float32)
        self.last_filled = np.zeros(self.skeleton.num_joints, bool)

    def _clean(self, frame) -> tuple[np.ndarray, np.ndarray]:
        frame = np.asarray(frame, dtype=np.float64)
        k = self.source.num_joints
        if frame.shape not in ((k, 2), (k, 3)):
            raise ValueError(f"a frame must have shape ({k}, 2) or ({k}, 3) for layout {self.source.name!r}, "
                             f"got {frame.shape}")
        xy = frame[:, :2]
        confidence = frame[:, 2] if frame.shape[1] == 3 else np.ones(k)
        valid = np.isfinite(xy).all(axis=1) & (np.nan_to_num(confidence, nan=-1.0) >= self.min_confidence)
        self._last[valid] = xy[valid]
        return self._last.copy(), ~valid

    @torch.no_grad()
    def push(self, frame) -> np.ndarray | None:
        """Add one frame; returns its 3D pose ``(J, 3)`` in metres, or ``None`` while some joint was never seen."""
        from .data.augmentation import flip_pose

        xy, missing = self._clean(frame)
        self.frames_seen += 1
        self.last_filled = (missing[None, :] & (self.matrix != 0)).any(axis=1)
        if not np.isfinite(xy[self.needed]).all():
            self.last_keypoints_px = np.full((self.skeleton.num_joints, 2), np.nan, np.float32)
            return None
        pixels = self.matrix @ np.where(np.isfinite(xy), xy, 0.0)
        self.last_keypoints_px = pixels.astype(np.float32)
        self._window.append(normalize_keypoints(pixels, self.width, self.height))
        window = np.stack([self._window[0]] * (self.receptive_field - len(self._window)) + list(self._window))
        views = [window] + ([flip_pose(window, self.skeleton)] if self.flip_tta else [])
        out = self.model(torch.from_numpy(np.stack(views).astype(np.float32)), self._camera)
        branch = self.branch or self.model.answer_branch
        if branch not in out:
            raise KeyError(f"the model has no branch {branch!r}; branches: {', '.join(out)}")
        prediction = out[branch].float().cpu().numpy()
        pose = prediction[0] if not self.flip_tta else 0.5 * (prediction[0] + flip_pose(prediction[1], self.skeleton))
        return pose.astype(np.float32)


def _flip_camera(camera: np.ndarray) -> np.ndarray:
    from .data.augmentation import flip_camera

    return flip_camera(camera)


# ----------------------------------------------------------------------------------------------------- figures
def write_gif(result: LiftResult, path, *, max_frames: int = 150, fps: float = 10.0, overwrite: bool = False) -> Path:
    """An animated GIF of the 2D input next to the lifted 3D poses (at most ``max_frames`` evenly spaced frames)."""
    from .visualisation import animate_sequence, save_animation

    path = _output_path(path, ".gif", overwrite)
    step = max(1, int(np.ceil(result.num_frames / max_frames)))
    anim = animate_sequence(result.keypoints, predictions=result.poses_3d, skeleton=result.skeleton,
                            frames=range(0, result.num_frames, step), fps=fps,
                            image_size=(result.width, result.height), title=result.checkpoint)
    return save_animation(anim, path)


# ----------------------------------------------------------------------------------------------------- command line
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
    return parser


#: The checkpoint used when none is named: the lowest test error on detector-like 2D (checkpoints/README.md).
DEFAULT_CHECKPOINT = "det_three-stage_3_best_epoch.bin"


def _outputs(args) -> dict[str, Path]:
    """Every output path, checked (suffix, not overwriting) before any work starts."""
    outputs = {"npz": _output_path(args.out, ".npz", args.overwrite)}
    for kind in ("gif", "csv", "bvh"):
        if getattr(args, kind):
            outputs[kind] = _output_path(getattr(args, kind), f".{kind}", args.overwrite)
    return outputs


def _video_camera(args):
    if args.calibration is None:
        if args.camera is not None:
            raise ValueError("--camera names a camera of --calibration; give the calibration file too")
        return None
    from .video.calibration import read_qualisys

    cameras = read_qualisys(args.calibration)
    name = args.camera or Path(args.video).stem
    if name not in cameras:
        raise ValueError(f"{args.calibration} has no camera {name!r}; its cameras: {', '.join(cameras)} "
                         f"(choose one with --camera)")
    return cameras[name]


def _main_video(args, outputs: dict[str, Path]) -> None:
    import time

    from .video.pipeline import lift_video

    for option in ("width", "height", "focal_length", "allow_pickle", "entry", "streaming"):
        if getattr(args, option) not in (None, False):
            raise ValueError(f"--{option.replace('_', '-')} is for --keypoints; a video gives its own size "
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
        from .video.animation import write_video_gif

        start = time.perf_counter()
        write_video_gif(done, outputs["gif"], overwrite=args.overwrite, progress=args.progress)
        done.seconds["gif"] = time.perf_counter() - start
    rates = done.frames_per_second()
    print("frames/s per stage: " + ", ".join(f"{stage} {rate:.1f}" for stage, rate in rates.items()))
    for kind, path in outputs.items():
        print(f"{kind}: {path}")


def _write_tables(result: LiftResult, outputs: dict[str, Path], fps: float, overwrite: bool) -> None:
    if "csv" in outputs or "bvh" in outputs:
        from .video.export import write_bvh, write_csv

        if "csv" in outputs:
            write_csv(result.poses_3d, outputs["csv"], skeleton=result.layout, fps=fps, frame_ids=result.frame_ids,
                      overwrite=overwrite)
        if "bvh" in outputs:
            write_bvh(result.poses_3d, outputs["bvh"], skeleton=result.layout, fps=fps, overwrite=overwrite)


def _main_keypoints(args, outputs: dict[str, Path]) -> None:
    for option in ("calibration", "camera", "max_frames"):
        if getattr(args, option) is not None:
            raise ValueError(f"--{option.replace('_', '-')} is for --video")
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


def main(argv=None) -> int:
    """Entry point of ``python -m ehfusion.lift`` / ``ehfusion-lift``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        outputs = _outputs(args)
        if args.fps is not None and not args.fps > 0:
            raise ValueError(f"--fps must be positive, got {args.fps}")
        if args.video is not None:
            _main_video(args, outputs)
        else:
            _main_keypoints(args, outputs)
    except (FileNotFoundError, FileExistsError, ValueError, KeyError, ImportError) as err:
        message = err.args[0] if err.args else str(err)
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
