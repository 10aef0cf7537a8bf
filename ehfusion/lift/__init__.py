"""Lift your own 2D keypoints to 3D with a trained checkpoint: a function and a frame-by-frame lifter.

Whole sequences (:func:`lift`): the keypoints go through :func:`ehfusion.keypoints.prepare_keypoints` (load, fill gaps
by interpolation, convert COCO to the model's layout, normalise) and then through the model in whole-sequence mode with
flip test-time augmentation (:func:`ehfusion.evaluation.predict_sequence`).

Live input (:class:`StreamingLifter`): feed one frame at a time and get that frame's 3D pose at once. Only a
**causal** checkpoint (trained with ``--causal``: its window ends at the frame it predicts) can do that; gaps are filled
by holding the joint's last confident position, since later frames are not known yet.

The command line (``ehfusion-lift``, ``python -m ehfusion.lift``) is :mod:`ehfusion.lift.__main__`; the video pipeline
(:mod:`ehfusion.video`) builds on this module.

The output ``.npz`` holds plain arrays (no pickles): ``poses_3d`` (N, J, 3) metres, root-relative, camera axes (x right,
y down, z forward); ``keypoints_px`` (N, J, 2) the filled 2D input in the model's layout; ``keypoints_normalized``;
``confidence``; ``filled`` (N, J) bool; ``intrinsics`` (9,); ``frame_ids``; ``joint_names``; ``layout``; ``checkpoint``;
``width``; ``height``.
"""
from __future__ import annotations

import collections
import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..keypoints import (
    HEAD_EXTENSION,
    FillReport,
    PreparedKeypoints,
    camera_intrinsics,
    check_image_size,
    check_input_layout,
    conversion_matrix,
    normalize_keypoints,
    prepare_keypoints,
    source_joints_used,
)
from ..skeleton import Skeleton, get_skeleton

__all__ = ["DEFAULT_CHECKPOINT", "LiftResult", "lift", "lift_prepared", "StreamingLifter", "load_lifter",
           "model_skeleton", "checked_output_path", "torch_threads", "write_gif"]

#: The checkpoint used when none is named: the lowest test error on detector-like 2D (checkpoints/README.md).
DEFAULT_CHECKPOINT = "det_three-stage_3_best_epoch.bin"


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
    from ..checkpoints import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    return loaded.model.eval(), loaded.name


def _model_fact(model: torch.nn.Module, name: str, default=None):
    from ..evaluation import _config_value

    return _config_value(model, name, default)


def model_skeleton(model: torch.nn.Module) -> Skeleton:
    """The joint layout a model predicts (from its config)."""
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
        from ..io import atomic_savez

        path = checked_output_path(path, ".npz", overwrite)
        atomic_savez(path, **self.arrays())
        return path


def checked_output_path(path, suffix: str, overwrite: bool) -> Path:
    """``path`` as a ``Path``, refused before any work if it lacks ``suffix`` or exists (unless ``overwrite``)."""
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
    skeleton = model_skeleton(model)
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
    from ..evaluation import predict_sequence

    skeleton = model_skeleton(model)
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
    from ..keypoints import Keypoints2D, load_keypoints

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
@contextlib.contextmanager
def torch_threads(count: int | None):
    """Run the body with ``count`` torch CPU threads and restore the previous number afterwards (``None``: unchanged).

    Batch-1 inference spends more time handing work between threads than computing: the streaming lifter is about 2.3
    times faster on one thread than on two.
    """
    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class StreamingLifter:
    """Lift a live stream one frame at a time with a **causal** checkpoint.

    ``push(frame)`` takes one frame of pixel keypoints ``(K, 2)`` or ``(K, 3)`` (with confidence) in ``layout`` and
    returns that frame's 3D pose ``(J, 3)`` (metres, root-relative), computed from a rolling window of the last
    ``receptive_field`` frames. Before the window is full, the first frame is repeated in front of it (exactly the
    padding of whole-sequence causal inference). A joint that is missing or below ``min_confidence`` keeps its last
    confident position (``last_filled`` marks those); until every joint the conversion needs has been seen once,
    ``push`` returns ``None``.

    The forward pass runs on ``threads`` torch threads (default 1, the fastest for one window at a time; ``None``:
    the process's setting); the process's thread count is restored after every frame. ``head_extension`` is that of
    the COCO -> Human3.6M conversion (:func:`ehfusion.keypoints.conversion_matrix`).
    """

    def __init__(self, checkpoint, width, height, *, layout: str = "coco", min_confidence: float = 0.3,
                 intrinsics=None, flip_tta: bool = True, branch: str | None = None, threads: int | None = 1,
                 head_extension: float = HEAD_EXTENSION) -> None:
        self.model, self.name = load_lifter(checkpoint)
        if not bool(_model_fact(self.model, "causal", False)):
            raise ValueError(
                f"{self.name} was trained with centred windows (causal=False): its answer for a frame needs "
                f"{int(self.model.receptive_field) // 2} future frames, so it cannot lift a live stream. Lift whole "
                f"sequences with ehfusion.lift.lift(...), or train a causal model (run_onestage --causal)"
            )
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        self.skeleton = model_skeleton(self.model)
        self.source = get_skeleton(check_input_layout(layout))
        self.width, self.height = check_image_size(width, height)
        self.matrix = conversion_matrix(self.source, self.skeleton, head_extension=head_extension)
        self.needed = np.zeros(self.source.num_joints, bool)  # the source joints the conversion reads
        self.needed[source_joints_used(self.source, self.skeleton, head_extension=head_extension)] = True
        self.min_confidence = float(min_confidence)
        self.receptive_field = int(self.model.receptive_field)
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1 (or None for the process's setting), got {threads}")
        self.threads = threads
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

    @torch.inference_mode()  # no autograd bookkeeping: 13 % less latency than no_grad for one window here
    def push(self, frame) -> np.ndarray | None:
        """Add one frame; returns its 3D pose ``(J, 3)`` in metres, or ``None`` while some joint was never seen."""
        from ..data.augmentation import flip_pose

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
        with torch_threads(self.threads):
            out = self.model(torch.from_numpy(np.stack(views).astype(np.float32)), self._camera)
        branch = self.branch or self.model.answer_branch
        if branch not in out:
            raise KeyError(f"the model has no branch {branch!r}; branches: {', '.join(out)}")
        prediction = out[branch].float().cpu().numpy()
        pose = prediction[0] if not self.flip_tta else 0.5 * (prediction[0] + flip_pose(prediction[1], self.skeleton))
        return pose.astype(np.float32)


def _flip_camera(camera: np.ndarray) -> np.ndarray:
    from ..data.augmentation import flip_camera

    return flip_camera(camera)


# ----------------------------------------------------------------------------------------------------- figures
def write_gif(result: LiftResult, path, *, max_frames: int = 150, fps: float = 10.0, overwrite: bool = False) -> Path:
    """An animated GIF of the 2D input next to the lifted 3D poses (at most ``max_frames`` evenly spaced frames)."""
    from ..visualisation import animate_sequence, save_animation

    path = checked_output_path(path, ".gif", overwrite)
    step = max(1, int(np.ceil(result.num_frames / max_frames)))
    anim = animate_sequence(result.keypoints, predictions=result.poses_3d, skeleton=result.skeleton,
                            frames=range(0, result.num_frames, step), fps=fps,
                            image_size=(result.width, result.height), title=result.checkpoint)
    return save_animation(anim, path)
