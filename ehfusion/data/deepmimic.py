"""DeepMimic motion clips: parsing, resampling, looping and forward kinematics to the Human3.6M 17-joint layout.

The clips are the retargeted motion-capture clips of DeepMimic (Peng et al., SIGGRAPH 2018) that ship in the pybullet
wheel (``pybullet_data/data/motions/humanoid3d_*.txt``). pybullet is only needed to *find* them; everything else here
is plain numpy.

Frame layout (44 numbers): duration (s); root position (3, metres, y up); root rotation (w, x, y, z); then the local
rotations of chest, neck, right hip, right knee (1 angle), right ankle, right shoulder, right elbow (1 angle), left hip,
left knee (1), left ankle, left shoulder, left elbow (1). Knees and elbows are revolute joints about their local z axis.

Axes of the motion data: +x forward, +y up, +z the character's right. :func:`to_z_up` converts to Human3.6M's z-up
world with the right-handed map ``(x, y, z) -> (x, -z, y)`` (forward stays +x, the character's left becomes +y).

Forward kinematics: ``child position = parent position + parent rotation * offset`` and
``child rotation = parent rotation * local rotation``; the offsets are the URDF joint origins scaled by 0.25 (metres).
The 17 Human3.6M joints are *markers*: a link plus an offset in that link's frame (see :data:`H36M_MARKERS`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ehfusion import geometry as geo
from ehfusion.skeleton import H36M_17

__all__ = [
    "LINKS",
    "LINK_PARENTS",
    "H36M_MARKERS",
    "Body",
    "Clip",
    "PoseStream",
    "default_body",
    "motions_dir",
    "clip_names",
    "load_clip",
    "parse_clip",
    "sample_clip",
    "forward_kinematics",
    "h36m_joints",
    "to_z_up",
    "rest_pose",
]

# ----------------------------------------------------------------------------------------------------- the humanoid
#: Rotating links in file order (the root's rotation is global, the others are local to their parent link).
LINKS = (
    "root", "chest", "neck",
    "right_hip", "right_knee", "right_ankle", "right_shoulder", "right_elbow",
    "left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow",
)
LINK_PARENTS = {
    "root": None, "chest": "root", "neck": "chest",
    "right_hip": "root", "right_knee": "right_hip", "right_ankle": "right_knee",
    "right_shoulder": "chest", "right_elbow": "right_shoulder",
    "left_hip": "root", "left_knee": "left_hip", "left_ankle": "left_knee",
    "left_shoulder": "chest", "left_elbow": "left_shoulder",
}
#: Number of values each non-root link stores in a frame, in file order (4: quaternion w,x,y,z; 1: angle about local z).
_CHANNELS = (
    ("chest", 4), ("neck", 4),
    ("right_hip", 4), ("right_knee", 1), ("right_ankle", 4), ("right_shoulder", 4), ("right_elbow", 1),
    ("left_hip", 4), ("left_knee", 1), ("left_ankle", 4), ("left_shoulder", 4), ("left_elbow", 1),
)
_FRAME_SIZE = 1 + 3 + 4 + sum(n for _, n in _CHANNELS)  # 44
_REVOLUTE_AXIS = np.array([0.0, 0.0, 1.0])

#: Joint origins of humanoid.urdf (already scaled by 0.25, metres): offset of each link from its parent, parent frame.
_DEEPMIMIC_OFFSETS = {
    "chest": (0.0, 0.236151, 0.0),
    "neck": (0.0, 0.223894, 0.0),
    "right_hip": (0.0, 0.0, 0.084887),
    "left_hip": (0.0, 0.0, -0.084887),
    "right_knee": (0.0, -0.421546, 0.0),
    "left_knee": (0.0, -0.421546, 0.0),
    "right_ankle": (0.0, -0.409870, 0.0),
    "left_ankle": (0.0, -0.409870, 0.0),
    "right_shoulder": (-0.02405, 0.24350, 0.18311),
    "left_shoulder": (-0.02405, 0.24350, -0.18311),
    "right_elbow": (0.0, -0.274788, 0.0),
    "left_elbow": (0.0, -0.274788, 0.0),
    # points that are not joints of the humanoid, in the frame of the link named in H36M_MARKERS
    "right_wrist": (0.0, -0.258947, 0.0),  # fixed wrist link at the end of the forearm
    "left_wrist": (0.0, -0.258947, 0.0),
    # The humanoid has no head joint: its head is a sphere of radius 0.1025 m centred 0.175 m above the neck joint.
    # Human3.6M's "Neck/Nose" point sits in front of the lower head and its "Head" point near the top of the skull.
    "nose": (0.07, 0.12, 0.0),
    "head_top": (0.02, 0.24, 0.0),
}

#: The 17 Human3.6M joints as (link, offset name): the point lies at ``offset`` in the frame of ``link``.
#: ``None`` means the link's own joint position. Spine is the chest joint (the bend between the root and chest
#: segments, about 0.24 m above the root, as Human3.6M's spine is about 0.23 m above its hip); Thorax is the neck
#: joint, where the neck attaches to the chest between the shoulders.
H36M_MARKERS = {
    "Hip": ("root", None),
    "RHip": ("right_hip", None),
    "RKnee": ("right_knee", None),
    "RFoot": ("right_ankle", None),
    "LHip": ("left_hip", None),
    "LKnee": ("left_knee", None),
    "LFoot": ("left_ankle", None),
    "Spine": ("chest", None),
    "Thorax": ("neck", None),
    "Neck": ("neck", "nose"),
    "Head": ("neck", "head_top"),
    "LShoulder": ("left_shoulder", None),
    "LElbow": ("left_elbow", None),
    "LWrist": ("left_elbow", "left_wrist"),
    "RShoulder": ("right_shoulder", None),
    "RElbow": ("right_elbow", None),
    "RWrist": ("right_elbow", "right_wrist"),
}
assert tuple(H36M_MARKERS) == H36M_17.joint_names


@dataclass(frozen=True)
class Body:
    """Segment offsets of one body (metres, data axes: x forward, y up, z right), keyed like ``_DEEPMIMIC_OFFSETS``."""

    offsets: dict[str, np.ndarray] = field(default_factory=dict)

    def offset(self, name: str) -> np.ndarray:
        return self.offsets[name]

    def scaled(self, scales: dict[str, tuple[float, float, float] | float]) -> "Body":
        """A copy with some offsets multiplied (per axis or uniformly), e.g. ``{"right_knee": 1.05}``."""
        unknown = set(scales) - set(self.offsets)
        if unknown:
            raise KeyError(f"unknown body offsets {sorted(unknown)}; known: {sorted(self.offsets)}")
        offsets = {k: v * np.asarray(scales.get(k, 1.0), dtype=np.float64) for k, v in self.offsets.items()}
        return replace(self, offsets=offsets)

    def bone_lengths(self) -> dict[str, float]:
        """Length of each offset (metres)."""
        return {k: float(np.linalg.norm(v)) for k, v in self.offsets.items()}


def default_body() -> Body:
    """The DeepMimic humanoid's own proportions (hip width 0.17 m, about 1.6 m tall)."""
    return Body({k: np.asarray(v, dtype=np.float64) for k, v in _DEEPMIMIC_OFFSETS.items()})


# ----------------------------------------------------------------------------------------------------- clips
@dataclass(frozen=True)
class Clip:
    """One parsed motion clip: keyframe times, root positions and the rotations of every link (data axes)."""

    name: str
    loop: bool  # "wrap" clips repeat; "none" clips play once
    times: np.ndarray  # (F,) seconds of each keyframe, starting at 0
    root_position: np.ndarray  # (F, 3) metres
    rotations: np.ndarray  # (F, len(LINKS), 4) root rotation (global) and local link rotations, (w, x, y, z)

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    @property
    def num_frames(self) -> int:
        return len(self.times)


@dataclass(frozen=True)
class PoseStream:
    """Poses sampled at arbitrary times: root positions (N, 3) and link rotations (N, len(LINKS), 4)."""

    root_position: np.ndarray
    rotations: np.ndarray

    def __len__(self) -> int:
        return len(self.root_position)


def motions_dir() -> Path:
    """Folder of the DeepMimic clips inside the pybullet wheel (pybullet is imported only here)."""
    try:
        import pybullet_data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "building the embedded dataset needs the DeepMimic clips from the pybullet wheel: "
            "pip install 'pybullet==3.2.7' (or pip install -e '.[build]'); loading and training do not need it"
        ) from exc
    return Path(pybullet_data.getDataPath()) / "data" / "motions"


def clip_names(directory: str | Path | None = None) -> list[str]:
    """Names of the available clips (``'walk'``, ``'backflip'``, ...), sorted."""
    directory = Path(directory) if directory is not None else motions_dir()
    return sorted(p.stem[len("humanoid3d_"):] for p in directory.glob("humanoid3d_*.txt"))


def parse_clip(name: str, text: str) -> Clip:
    """Parse the JSON text of one ``humanoid3d_*.txt`` clip."""
    spec = json.loads(text)
    frames = np.asarray(spec["Frames"], dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != _FRAME_SIZE:
        raise ValueError(
            f"clip {name!r}: expected frames of {_FRAME_SIZE} numbers, got an array of shape {frames.shape}"
        )
    durations = frames[:, 0]
    # The duration of frame i is the time to frame i + 1; the last frame's duration is unused.
    times = np.concatenate(([0.0], np.cumsum(durations[:-1])))
    if np.any(np.diff(times) <= 0):
        raise ValueError(f"clip {name!r} has a frame of zero or negative duration before its last frame")
    rotations = [geo.quat_normalize(frames[:, 4:8])]
    column = 8
    for _, width in _CHANNELS:
        values = frames[:, column:column + width]
        rotations.append(
            geo.quat_normalize(values) if width == 4 else geo.quat_from_axis_angle(_REVOLUTE_AXIS, values[:, 0])
        )
        column += width
    return Clip(
        name=name,
        loop=str(spec.get("Loop", "none")).lower() == "wrap",
        times=times,
        root_position=frames[:, 1:4].copy(),
        rotations=np.stack(rotations, axis=1),
    )


def load_clip(name: str, directory: str | Path | None = None) -> Clip:
    """Read and parse clip ``name`` (e.g. ``'walk'``) from the pybullet wheel (or ``directory``)."""
    directory = Path(directory) if directory is not None else motions_dir()
    path = directory / f"humanoid3d_{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"no clip {name!r} in {directory}; available: {', '.join(clip_names(directory))}")
    return parse_clip(name, path.read_text())


# ----------------------------------------------------------------------------------------------------- sampling
_UP = np.array([0.0, 1.0, 0.0])


def _interpolate(clip: Clip, u: np.ndarray) -> PoseStream:
    """Pose at clip times ``u`` (clamped to the clip): linear for the root position, slerp for rotations."""
    u = np.clip(u, 0.0, clip.duration)
    i = np.clip(np.searchsorted(clip.times, u, side="right") - 1, 0, clip.num_frames - 2)
    alpha = (u - clip.times[i]) / (clip.times[i + 1] - clip.times[i])
    root = clip.root_position[i] + alpha[:, None] * (clip.root_position[i + 1] - clip.root_position[i])
    rotations = geo.quat_slerp(clip.rotations[i], clip.rotations[i + 1], alpha[:, None])
    return PoseStream(root, rotations)


def _yaw(q: np.ndarray) -> float:
    """Angle of the twist of rotation ``q`` about the vertical (data y) axis."""
    return float(2.0 * np.arctan2(q[2], q[0]))


def _quat_power(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``q ** t`` for unit quaternions (t broadcast over the leading dims): slerp from identity."""
    identity = np.zeros_like(q)
    identity[..., 0] = 1.0
    return geo.quat_slerp(identity, q, t)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def sample_clip(clip: Clip, clip_times, seam_blend: float = 0.3) -> PoseStream:
    """Sample a clip at arbitrary clip times (seconds), looping "wrap" clips and holding the ends of the others.

    Looping follows DeepMimic: cycle ``k`` is the clip moved by ``k`` times the horizontal rigid motion (yaw about the
    vertical and translation) that carries the first root pose onto the last one, so the character keeps travelling
    and turning. The remaining mismatch at the seam (local rotations, root height and tilt) is spread over
    ``seam_blend`` seconds on both sides of the seam with a smoothstep weight, half on each side, so the motion is
    continuous through the seam. Times outside ``[0, duration]`` of a "none" clip hold its first or last pose.
    """
    s = np.asarray(clip_times, dtype=np.float64).reshape(-1)
    if not clip.loop:
        return _interpolate(clip, s)

    period = clip.duration
    cycle = np.floor(s / period).astype(int)
    u = s - cycle * period
    base = _interpolate(clip, u)

    first, last = 0, clip.num_frames - 1
    # horizontal rigid motion M(p) = R (p - a) + b with R a yaw, taking the first root pose onto the last one
    yaw = _yaw(geo.quat_multiply(clip.rotations[last, 0], geo.quat_conjugate(clip.rotations[first, 0])))
    heading = geo.quat_from_axis_angle(_UP, yaw)
    a = clip.root_position[first] * [1, 0, 1]
    b = clip.root_position[last] * [1, 0, 1]

    # seam mismatch: local rotations delta = q_last^-1 (H q_first) (root) or q_last^-1 q_first (links), root height
    target_first = clip.rotations[first].copy()
    target_first[0] = geo.quat_multiply(heading, target_first[0])
    delta = geo.quat_multiply(geo.quat_conjugate(clip.rotations[last]), target_first)
    delta *= np.where(delta[:, :1] < 0, -1.0, 1.0)
    height_gap = clip.root_position[first, 1] - clip.root_position[last, 1]

    blend = min(seam_blend, period / 3)
    w_end = 0.5 * _smoothstep((u - (period - blend)) / blend)
    w_start = 0.5 * _smoothstep(1.0 - u / blend)
    weight = w_end - w_start  # in [-0.5, 0.5]: the fraction of the seam mismatch added to this frame
    rotations = geo.quat_multiply(base.rotations, _quat_power(delta[None], weight[:, None]))
    root = base.root_position.copy()
    root[:, 1] += weight * height_gap

    # apply M^k to the root position and H^k to the root rotation, cycle by cycle (M^-1 for times before the clip)
    inverse = geo.quat_conjugate(heading)
    forward_step = b - geo.quat_rotate(heading, a)  # M(p) = R p + forward_step
    backward_step = a - geo.quat_rotate(inverse, b)  # M^-1(p) = R^-1 p + backward_step
    for k in np.unique(cycle):
        rows = cycle == k
        turn, step = (heading, forward_step) if k > 0 else (inverse, backward_step)
        offset = np.zeros(3)  # M^k(p) = R^k p + offset
        for _ in range(abs(int(k))):
            offset = geo.quat_rotate(turn, offset) + step
        rot_k = geo.quat_from_axis_angle(_UP, k * yaw)
        root[rows] = geo.quat_rotate(rot_k, root[rows] * [1, 0, 1]) + offset + root[rows] * [0, 1, 0]
        rotations[rows, 0] = geo.quat_multiply(rot_k, rotations[rows, 0])
    return PoseStream(root, rotations)


# ----------------------------------------------------------------------------------------------------- kinematics
def forward_kinematics(poses: PoseStream, body: Body) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions (N, L, 3) and rotations (N, L, 4) of every link in :data:`LINKS` (data axes)."""
    n = len(poses)
    positions = np.zeros((n, len(LINKS), 3))
    rotations = np.zeros((n, len(LINKS), 4))
    index = {name: i for i, name in enumerate(LINKS)}
    for i, name in enumerate(LINKS):  # LINKS lists every parent before its children
        parent = LINK_PARENTS[name]
        if parent is None:
            positions[:, i] = poses.root_position
            rotations[:, i] = poses.rotations[:, i]
            continue
        p = index[parent]
        positions[:, i] = positions[:, p] + geo.quat_rotate(rotations[:, p], body.offset(name))
        rotations[:, i] = geo.quat_multiply(rotations[:, p], poses.rotations[:, i])
    return positions, rotations


def h36m_joints(poses: PoseStream, body: Body) -> np.ndarray:
    """The 17 Human3.6M joints (N, 17, 3) of the body in pose ``poses``, in the clip's data axes (y up)."""
    positions, rotations = forward_kinematics(poses, body)
    index = {name: i for i, name in enumerate(LINKS)}
    out = np.empty((len(poses), len(H36M_MARKERS), 3))
    for j, (link, offset) in enumerate(H36M_MARKERS.values()):
        out[:, j] = positions[:, index[link]]
        if offset is not None:
            out[:, j] += geo.quat_rotate(rotations[:, index[link]], body.offset(offset))
    return out


#: (x forward, y up, z right) -> (x forward, y left, z up): a proper rotation (determinant +1).
_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def to_z_up(points) -> np.ndarray:
    """Convert points (..., 3) from the clips' y-up axes to Human3.6M's z-up world axes."""
    return np.asarray(points) @ _TO_Z_UP.T


def rest_pose(body: Body) -> np.ndarray:
    """The 17 joints (17, 3) of ``body`` standing in its rest pose (all rotations identity, arms hanging, facing +x),
    root above the origin, in Human3.6M's z-up axes."""
    identity = np.zeros((1, len(LINKS), 4))
    identity[..., 0] = 1.0
    return to_z_up(h36m_joints(PoseStream(np.zeros((1, 3)), identity), body))[0]
