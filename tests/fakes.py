"""Test fakes: small MADE-UP files in exactly the VideoPose3D formats of Human3.6M and HumanEva-I (and their motion).

The real files cannot be redistributed, so the code paths that read them (``load_dataset("h36m", ...)``,
``load_dataset("humaneva15", ...)``, the ``-d`` / ``-k`` command-line flags) are tested on these stand-ins. They copy
every structural detail of the real files and none of their content:

* ``data_3d_h36m.npz``: key ``positions_3d`` = ``{subject: {action: float32 (N, 32, 3)}}``, **world** coordinates in
  metres, the raw 32-joint mocap skeleton. A procedural 17-joint motion (:func:`synthetic_motion`) is placed in the 17
  slots VideoPose3D keeps (:data:`ehfusion.skeleton.H36M_32_TO_17`) and the 15 dropped slots are filled with plausible
  points (:func:`h36m_17_to_32`);
* ``data_2d_h36m_<keypoints>.npz``: keys ``positions_2d`` = ``{subject: {action: [float32 (N2, 17, 2) per camera]}}`` in
  **pixels** (4 cameras, projected with the published Human3.6M calibration) and ``metadata`` = ``{'layout_name':
  'h36m', 'num_joints': 17, 'keypoints_symmetry': [left, right]}``. As in the real detector files the 2D sequences are a
  few frames **longer** than the 3D ones, and the detector file also holds the 2D-only subjects S2, S3, S4;
* ``data_3d_humaneva15.npz`` / ``data_2d_humaneva15_gt.npz``: 15 joints, 3 cameras, subjects ``Train/S1`` ...
  ``Validate/S3`` and action chunks ``"Walking 1 chunk0"`` named as VideoPose3D's ``prepare_data_humaneva.py`` names
  them; optionally ``data_2d_humaneva15_detectron_pt_coco.npz`` (COCO layout, plus ``Unlabeled/...`` subjects).

Subjects S1, S5, S6, S7, S8, S9, S11 and actions with takes (``"Walking"``, ``"Walking 1"``) follow the real naming;
as in the real files, S11 has no ``"Directions"`` take.
The writers refuse to replace existing files unless ``overwrite=True`` (so pointing them at a folder with the real data
cannot destroy it).
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ehfusion.cameras import h36m_cameras, humaneva_cameras
from ehfusion.io import atomic_savez
from ehfusion.keypoints import coco_from_h36m, conversion_matrix
from ehfusion.skeleton import COCO_17, H36M_17, H36M_32_TO_17, HUMANEVA_15, Skeleton

__all__ = [
    "H36M_SUBJECTS",
    "H36M_UNLABELED_SUBJECTS",
    "H36M_ACTIONS",
    "H36M_DISCARDED",
    "HUMANEVA_SUBJECTS",
    "HUMANEVA_ACTIONS",
    "metadata_for",
    "synthetic_motion",
    "h36m_17_to_32",
    "write_fake_h36m",
    "write_fake_humaneva",
]

H36M_SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
#: Subjects that only the real detector files hold (2D without 3D).
H36M_UNLABELED_SUBJECTS = ("S2", "S3", "S4")
H36M_ACTIONS = ("Directions", "Directions 1", "Walking", "Walking 1")
#: Takes the real files lack: VideoPose3D discards S11's "Directions" (a corrupted video).
H36M_DISCARDED = (("S11", "Directions"),)
HUMANEVA_SUBJECTS = ("Train/S1", "Train/S2", "Train/S3", "Validate/S1", "Validate/S2", "Validate/S3")
HUMANEVA_ACTIONS = ("Walking 1 chunk0", "Jog 1 chunk0", "Box 1 chunk0")

# Bone lengths (metres) of the made-up body, close to Human3.6M's average skeleton.
_BONES = dict(hip_half=0.13, thigh=0.45, shin=0.44, spine=0.24, neck=0.12, head=0.115, shoulder_half=0.15,
              upper_arm=0.28, forearm=0.25, ankle_height=0.08)

# Motion styles by the first word of an action name: stride (rad), cadence (Hz), speed (m/s), arm swing (rad),
# arm raise (rad), elbow bend (rad).
_STYLES = {
    "walk": (0.40, 0.9, 1.0, 0.35, 0.0, 0.3),
    "jog": (0.65, 1.4, 2.0, 0.6, 0.2, 1.4),
    "box": (0.05, 1.5, 0.0, 0.9, 1.1, 1.6),
    "directions": (0.04, 0.25, 0.1, 0.5, 0.6, 0.4),
    "default": (0.05, 0.3, 0.05, 0.2, 0.1, 0.3),
}
_STYLE_ALIASES = {"walking": "walk", "walkdog": "walk", "walktogether": "walk", "jog": "jog", "box": "box",
                  "directions": "directions"}


def metadata_for(skeleton: Skeleton) -> dict:
    """The ``metadata`` dict of a VideoPose3D 2D file for a layout (plain lists, as the real files hold)."""
    return {
        "layout_name": skeleton.name,
        "num_joints": skeleton.num_joints,
        "keypoints_symmetry": [list(skeleton.joints_left), list(skeleton.joints_right)],
    }


def _seed(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------------------------------- motion
def synthetic_motion(n_frames: int, action: str = "Walking", seed: int = 0, fps: float = 50.0) -> np.ndarray:
    """A made-up motion ``(n_frames, 17, 3)`` float32 in the Human3.6M 17-joint layout, world metres, z up.

    A stick figure walks (jogs, boxes, gestures: picked from the action name) on a circle of about 1.3 m radius around
    the world origin, where the Human3.6M and HumanEva-I cameras look. By construction the hip is the midpoint of the
    two hips, the thorax the midpoint of the shoulders, and the spine the midpoint of hip and thorax (the relations the
    COCO conversion of :mod:`ehfusion.keypoints.layouts` assumes).
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be positive, got {n_frames}")
    b = _BONES
    rng = np.random.default_rng(seed)
    word = action.split(" ")[0].lower()
    stride, cadence, speed, swing, raise_, bend = _STYLES[_STYLE_ALIASES.get(word, "default")]
    scale = rng.uniform(0.92, 1.08)
    t = np.arange(n_frames) / fps
    phase = 2 * np.pi * cadence * t + rng.uniform(0, 2 * np.pi)
    radius = rng.uniform(1.0, 1.5)
    angle = speed * t / radius + rng.uniform(0, 2 * np.pi)  # position on the circle
    centre = np.stack((radius * np.cos(angle), radius * np.sin(angle), np.zeros_like(t)), -1)
    heading = angle + np.pi / 2 if speed > 0.05 else rng.uniform(0, 2 * np.pi) + 0.4 * np.sin(0.3 * phase)
    forward = np.stack((np.cos(heading), np.sin(heading), np.zeros_like(t)), -1)
    left = np.stack((-np.sin(heading), np.cos(heading), np.zeros_like(t)), -1)
    up = np.broadcast_to([0.0, 0.0, 1.0], forward.shape)

    def direction(down_angle):  # a unit vector in the sagittal plane, `down_angle` radians forward of straight down
        return -up * np.cos(down_angle)[:, None] + forward * np.sin(down_angle)[:, None]

    joints = np.zeros((n_frames, 17, 3))
    index = H36M_17.index
    drops = []
    for side, sign, offset in (("R", -1.0, 0.0), ("L", 1.0, np.pi)):
        hip_angle = stride * np.sin(phase + offset)
        knee = stride * 0.9 * (1 + np.sin(phase + offset + 1.2)) + 0.05
        thigh, shin = direction(hip_angle) * b["thigh"], direction(hip_angle - knee) * b["shin"]
        joints[:, index(f"{side}Hip")] = sign * left * b["hip_half"]
        joints[:, index(f"{side}Knee")] = joints[:, index(f"{side}Hip")] + thigh
        joints[:, index(f"{side}Foot")] = joints[:, index(f"{side}Knee")] + shin
        drops.append(-joints[:, index(f"{side}Foot"), 2])
    lean = 0.08 + 0.05 * stride + 0.02 * np.sin(2 * phase)
    torso = _unit(up + forward * lean[:, None])
    joints[:, index("Spine")] = torso * b["spine"]
    joints[:, index("Thorax")] = torso * 2 * b["spine"]
    joints[:, index("Neck")] = joints[:, index("Thorax")] + _unit(torso + 0.3 * forward) * b["neck"]
    nod = 0.05 * np.sin(phase)[:, None] * left
    joints[:, index("Head")] = joints[:, index("Neck")] + _unit(torso + nod) * b["head"]
    for side, sign, offset in (("R", -1.0, np.pi), ("L", 1.0, 0.0)):
        shoulder = joints[:, index("Thorax")] + sign * left * b["shoulder_half"]
        arm_angle = swing * np.sin(phase + offset) + raise_ * (0.5 + 0.5 * np.sin(0.5 * phase + offset))
        upper = _unit(direction(arm_angle) + 0.15 * sign * left)
        elbow = shoulder + upper * b["upper_arm"]
        fore = direction(arm_angle + bend * (0.6 + 0.4 * np.sin(phase + offset + 0.5)))
        joints[:, index(f"{side}Shoulder")] = shoulder
        joints[:, index(f"{side}Elbow")] = elbow
        joints[:, index(f"{side}Wrist")] = elbow + fore * b["forearm"]
    joints *= scale
    height = np.maximum(*drops) * scale + b["ankle_height"]
    joints += centre[:, None] + (up * height[:, None])[:, None]
    return joints.astype(np.float32)


def h36m_17_to_32(poses: np.ndarray) -> np.ndarray:
    """Place 17-joint poses ``(N, 17, 3)`` in the 32-joint mocap skeleton and fill the 15 slots VideoPose3D drops.

    Toes (4, 5, 9, 10) sit ahead of the feet on the ground line, joint 11 between hip and spine, the clavicle roots
    (16, 24) on the thorax, and the hand points (20-23, 28-31) beyond the wrists along the forearms.
    """
    poses = np.asarray(poses, dtype=np.float64)
    out = np.zeros((len(poses), 32, 3))
    out[:, list(H36M_32_TO_17)] = poses
    j = H36M_17.index
    forward = np.cross(poses[:, j("LHip")] - poses[:, j("RHip")], [0.0, 0.0, 1.0])
    forward = _unit(forward + 1e-9)
    for foot, toes in (("RFoot", (4, 5)), ("LFoot", (9, 10))):
        for slot, reach in zip(toes, (0.12, 0.18)):
            out[:, slot] = poses[:, j(foot)] + reach * forward - [0.0, 0.0, 0.05]
    out[:, 11] = poses[:, j("Hip")] + 0.1 * (poses[:, j("Spine")] - poses[:, j("Hip")])
    out[:, 16] = out[:, 24] = poses[:, j("Thorax")]
    for side, slots in (("L", (20, 21, 22, 23)), ("R", (28, 29, 30, 31))):
        along = _unit(poses[:, j(f"{side}Wrist")] - poses[:, j(f"{side}Elbow")])
        for slot, reach in zip(slots, (0.05, 0.12, 0.04, 0.07)):
            out[:, slot] = poses[:, j(f"{side}Wrist")] + reach * along
    return out.astype(np.float32)


# ----------------------------------------------------------------------------------------------------- writing
def _check_targets(paths: Iterable[Path], overwrite: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"refusing to replace existing file(s) {', '.join(existing)} with MADE-UP data; use another folder or "
            f"overwrite=True"
        )


def _detector_noise(pixels: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth jitter plus rare outliers, a rough stand-in for a 2D detector's errors (pixels)."""
    jitter = rng.normal(scale=sigma, size=pixels.shape)
    jitter[1:] = 0.5 * jitter[1:] + 0.5 * jitter[:-1]
    outliers = rng.random(pixels.shape[:-1]) < 0.01
    jitter[outliers] += rng.normal(scale=6 * sigma, size=(int(outliers.sum()), pixels.shape[-1]))
    return (pixels + jitter).astype(np.float32)


def _sequence_length(frames: int, *parts) -> int:
    return frames + _seed(*parts) % 9  # lengths differ a little, as in the real data


def write_fake_h36m(data_dir, *, subjects: Iterable[str] = H36M_SUBJECTS, actions: Iterable[str] = H36M_ACTIONS,
                    frames: int = 60, keypoints: Iterable[str] = ("gt", "cpn_ft_h36m_dbb"), extra_2d_frames: int = 3,
                    unlabeled_subjects: Iterable[str] = H36M_UNLABELED_SUBJECTS, noise_px: float = 4.0,
                    with_confidence: bool = False, seed: int = 0, overwrite: bool = False) -> dict[str, Path]:
    """Write made-up Human3.6M files in VideoPose3D format into ``data_dir``; returns ``{name: path}``.

    ``keypoints`` names the 2D files: ``"gt"`` is the exact projection, any other name a noisy "detection"
    (``noise_px`` pixels; ``with_confidence=True`` adds a third channel of confidences, as some detector files have).
    Every 2D sequence has ``1 .. extra_2d_frames`` more frames than its 3D sequence (the motion simply goes on), and
    detector files also hold ``unlabeled_subjects`` (2D only, cameras of S1), like the real CPN file.
    """
    data_dir = Path(data_dir)
    subjects, actions, keypoints = list(subjects), list(actions), list(keypoints)
    targets = {"3d": data_dir / "data_3d_h36m.npz"}
    targets.update({k: data_dir / f"data_2d_h36m_{k}.npz" for k in keypoints})
    _check_targets(targets.values(), overwrite)
    cams = h36m_cameras()
    positions_3d: dict = {}
    positions_2d: dict = {k: {} for k in keypoints}
    for subject in subjects + list(unlabeled_subjects):
        labelled = subject in subjects
        if labelled and subject not in cams:
            raise KeyError(f"no Human3.6M cameras for subject {subject}; subjects with cameras: {', '.join(cams)}")
        for action in actions:
            if (subject, action) in H36M_DISCARDED:
                continue
            n = _sequence_length(frames, subject, action)
            extra = 1 + _seed(subject, action, "extra") % max(1, extra_2d_frames)
            motion = synthetic_motion(n + extra, action, seed=_seed(seed, subject, action), fps=50.0)
            if labelled:
                positions_3d.setdefault(subject, {})[action] = h36m_17_to_32(motion[:n])
            for k in keypoints:
                if not labelled and k == "gt":
                    continue
                rng = np.random.default_rng(_seed(seed, subject, action, k))
                views = []
                for camera in cams[subject if labelled else "S1"]:
                    pixels = camera.project(motion).astype(np.float32)
                    if k != "gt":
                        pixels = _detector_noise(pixels, noise_px, rng)
                        if with_confidence:
                            confidence = rng.uniform(0.5, 1.0, size=pixels.shape[:-1] + (1,)).astype(np.float32)
                            pixels = np.concatenate((pixels, confidence), axis=-1)
                    views.append(pixels)
                positions_2d[k].setdefault(subject, {})[action] = views
    atomic_savez(targets["3d"], positions_3d=positions_3d)
    for k in keypoints:
        atomic_savez(targets[k], positions_2d=positions_2d[k], metadata=metadata_for(H36M_17))
    return targets


def write_fake_humaneva(data_dir, *, subjects: Iterable[str] = HUMANEVA_SUBJECTS,
                        actions: Iterable[str] = HUMANEVA_ACTIONS, frames: int = 60, detections: bool = False,
                        noise_px: float = 3.0, seed: int = 0, overwrite: bool = False) -> dict[str, Path]:
    """Write made-up HumanEva-I files (15 joints, 3 cameras, 60 fps) in VideoPose3D format; returns ``{name: path}``.

    Subjects are named ``<split>/<subject>`` (``Train/S1``, ``Validate/S2``...) and actions ``"<Action> <take>
    chunk<i>"``, as ``prepare_data_humaneva.py`` writes them; 2D and 3D have the same length, as in the real
    ground-truth file. With ``detections=True`` a ``detectron_pt_coco`` file is written too: COCO layout (17 joints),
    noisy, with an extra ``Unlabeled/Train/S1`` subject, like the real one.
    """
    data_dir = Path(data_dir)
    subjects, actions = list(subjects), list(actions)
    targets = {"3d": data_dir / "data_3d_humaneva15.npz", "gt": data_dir / "data_2d_humaneva15_gt.npz"}
    if detections:
        targets["detectron_pt_coco"] = data_dir / "data_2d_humaneva15_detectron_pt_coco.npz"
    _check_targets(targets.values(), overwrite)
    cams = humaneva_cameras()
    to_humaneva = conversion_matrix("h36m", HUMANEVA_15)
    positions_3d: dict = {}
    positions_gt: dict = {}
    positions_det: dict = {}
    for subject in subjects + (["Unlabeled/Train/S1"] if detections else []):
        person = subject.split("/")[-1]
        if person not in cams:
            raise KeyError(f"no HumanEva-I cameras for {subject}; subjects with cameras: {', '.join(cams)}")
        labelled = not subject.startswith("Unlabeled/")
        for action in actions:
            n = _sequence_length(frames, subject, action)
            motion = synthetic_motion(n, action, seed=_seed(seed, subject, action), fps=60.0)
            motion_15 = np.einsum("ts,nsc->ntc", to_humaneva, motion).astype(np.float32)
            if labelled:
                positions_3d.setdefault(subject, {})[action] = motion_15
                positions_gt.setdefault(subject, {})[action] = [c.project(motion_15).astype(np.float32)
                                                                for c in cams[person]]
            if detections:
                rng = np.random.default_rng(_seed(seed, subject, action, "det"))
                positions_det.setdefault(subject, {})[action] = [
                    _detector_noise(coco_from_h36m(c.project(motion)), noise_px, rng) for c in cams[person]
                ]
    atomic_savez(targets["3d"], positions_3d=positions_3d)
    atomic_savez(targets["gt"], positions_2d=positions_gt, metadata=metadata_for(HUMANEVA_15))
    if detections:
        atomic_savez(targets["detectron_pt_coco"], positions_2d=positions_det, metadata=metadata_for(COCO_17))
    return targets
