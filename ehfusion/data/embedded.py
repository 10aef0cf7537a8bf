"""The embedded dataset: DeepMimic motion performed by seven virtual subjects in the Human3.6M capture room.

Seven subjects named like Human3.6M's (S1, S5, S6, S7, S8 for training, S9 and S11 for testing), each with their own
body proportions, perform all 15 DeepMimic clips in two takes (``"walk"`` and ``"walk 1"``, as VideoPose3D names
Human3.6M's takes). Each take is about 4 s at 50 fps with its own playback speed, starting phase, start position,
heading and path curvature, chosen so that every joint of every frame is seen by all four Human3.6M cameras of that
subject. Everything is deterministic from one seed.

Files, exactly in VideoPose3D's format (``data/``):

* ``data_3d_embedded.npz``: ``positions_3d[subject][action]`` float32 (N, 17, 3), world coordinates, metres
  (built by ``python -m ehfusion.data.embedded --out data/``, which needs pybullet for the clips; committed);
* ``data_2d_embedded_gt.npz`` and ``data_2d_embedded_det.npz``: ``positions_2d[subject][action]`` = list of 4 float32
  (N, 17, 2) pixel arrays plus ``metadata``. They are derived from the 3D file by :func:`ensure_embedded_2d`
  (projection through the cameras; ``det`` adds :class:`~ehfusion.data.detector.DetectorNoise`), without pybullet.
"""
from __future__ import annotations

import argparse
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ehfusion.cameras import Camera, h36m_cameras
from ehfusion.data import deepmimic as dm
from ehfusion.data.detector import DetectorNoise
from ehfusion.data.splits import EMBEDDED_TEST_SUBJECTS
from ehfusion.io import atomic_savez
from ehfusion.skeleton import H36M_17

__all__ = [
    "FPS",
    "SUBJECT_HEIGHTS",
    "KEYPOINT_SOURCES",
    "Subject",
    "TakeSettings",
    "make_subject",
    "subject_summary",
    "stature",
    "build_positions_3d",
    "project_positions",
    "derive_positions_2d",
    "save_positions_3d",
    "save_positions_2d",
    "ensure_embedded_2d",
    "file_sha256",
    "main",
]

FPS = 50.0
#: Standing height (metres, top of the head) of each virtual subject; train S1-S8, test S9 and S11.
SUBJECT_HEIGHTS = {"S1": 1.62, "S5": 1.56, "S6": 1.80, "S7": 1.66, "S8": 1.88, "S9": 1.76, "S11": 1.69}
#: 2D keypoint files derived from the 3D file.
KEYPOINT_SOURCES = ("gt", "det")
_DET_SEED = 1  # the detector noise is seeded from this and the sequence names, not from the build seed
_DERIVATION_VERSION = 1  # bump when the way 2D files are derived changes, so cached files are refreshed
ANKLE_HEIGHT = 0.06  # ankle joint above the sole when standing (metres, default body)
HEAD_RADIUS = 0.1025  # the humanoid's head sphere
HEAD_CENTRE = 0.175  # above the neck joint


# ----------------------------------------------------------------------------------------------------- subjects
@dataclass(frozen=True)
class Subject:
    name: str
    height: float  # metres
    body: dm.Body
    leg_scale: float  # leg length relative to the DeepMimic humanoid (scales the root trajectory)


#: Segments that vary independently between subjects: name -> offsets they scale.
_SEGMENTS = {
    "thigh": ("right_knee", "left_knee"),
    "shin": ("right_ankle", "left_ankle"),
    "lower_torso": ("chest",),
    "upper_torso": ("neck",),
    "upper_arm": ("right_elbow", "left_elbow"),
    "forearm": ("right_wrist", "left_wrist"),
    "head": ("nose", "head_top"),
}


def stature(body: dm.Body) -> float:
    """Standing height of a body (sole to top of the head, metres)."""
    o = body.offsets
    head_scale = np.linalg.norm(o["head_top"]) / np.linalg.norm(_DEFAULT_OFFSETS["head_top"])
    leg = -o["right_knee"][1] - o["right_ankle"][1]
    leg_scale = leg / (-_DEFAULT_OFFSETS["right_knee"][1] - _DEFAULT_OFFSETS["right_ankle"][1])
    return float(
        ANKLE_HEIGHT * leg_scale + leg + o["chest"][1] + o["neck"][1] + (HEAD_CENTRE + HEAD_RADIUS) * head_scale
    )


_DEFAULT_OFFSETS = dm.default_body().offsets


def make_subject(name: str, height: float, seed: int = 0) -> Subject:
    """A body of the given standing height with its own proportions.

    Every segment length varies by a few percent (log-normal, sigma 3.5 %, clipped at 7 %), the hips are widened to a
    Human3.6M-like half-width of 0.115-0.14 m (the humanoid's is 0.085 m), shoulder width varies too, and the whole
    body is then scaled to the requested height.
    """
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    scales: dict[str, object] = {}
    for offsets in _SEGMENTS.values():
        factor = float(np.exp(np.clip(rng.normal(0.0, 0.035), -0.07, 0.07)))
        scales.update({k: factor for k in offsets})
    shoulder = (1.0, 1.0, float(np.exp(np.clip(rng.normal(0.0, 0.04), -0.08, 0.08))))
    scales.update({"right_shoulder": shoulder, "left_shoulder": shoulder})
    overall = height / stature(dm.default_body().scaled(scales))  # hip width does not change the height
    hip_half_width = rng.uniform(0.115, 0.14) * height / 1.7
    hip = hip_half_width / overall / abs(_DEFAULT_OFFSETS["right_hip"][2])
    scales.update({"right_hip": hip, "left_hip": hip})
    body = dm.default_body().scaled(scales)
    body = body.scaled({k: overall for k in body.offsets})
    leg_scale = (body.offsets["right_knee"][1] + body.offsets["right_ankle"][1]) / (
        _DEFAULT_OFFSETS["right_knee"][1] + _DEFAULT_OFFSETS["right_ankle"][1]
    )
    return Subject(name, height, body, float(leg_scale))


def subject_summary(seed: int = 0) -> list[dict[str, float | str]]:
    """One row per virtual subject: split, height and the main segment lengths (metres), for tables."""
    rows = []
    for name, height in SUBJECT_HEIGHTS.items():
        pose = dm.rest_pose(make_subject(name, height, seed).body)
        length = lambda a, b: float(np.linalg.norm(pose[H36M_17.index(a)] - pose[H36M_17.index(b)]))  # noqa: E731
        rows.append({
            "subject": name,
            "split": "test" if name in EMBEDDED_TEST_SUBJECTS else "train",
            "height": height,
            "hip width": length("LHip", "RHip"),
            "shoulder width": length("LShoulder", "RShoulder"),
            "thigh": length("RHip", "RKnee"),
            "shin": length("RKnee", "RFoot"),
            "hip to thorax": length("Hip", "Thorax"),
            "upper arm": length("RShoulder", "RElbow"),
            "forearm": length("RElbow", "RWrist"),
        })
    return rows


# ----------------------------------------------------------------------------------------------------- takes
@dataclass(frozen=True)
class TakeSettings:
    """Knobs of the take generator."""

    duration_s: tuple[float, float] = (3.6, 4.4)
    speed: tuple[float, float] = (0.8, 1.25)
    path_radius_m: tuple[float, float] = (1.1, 1.8)  # curvature of travelling clips
    max_lateral_accel: float = 3.0  # m/s^2: fast clips turn more gently (a tight, fast turn would need a lean)
    max_compact_extent_m: float = 3.0  # paths wider than this are centred on their middle frame, not their box
    travelling_distance_m: float = 1.5  # clips that would travel further than this in a take walk a curved path
    idle_turn_rate: float = 0.15  # rad/s, the gentle drift of the other clips
    centre_jitter_m: float = 0.35
    margin_px: float = 8.0  # every joint at least this far inside every image
    min_depth_m: float = 1.0
    candidates: int = 64  # placements tried per take
    min_frames: int = 40


def _take_rng(seed: int, subject: str, action: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(f"{subject}/{action}".encode())])


def _rotz(angle) -> np.ndarray:
    """Rotation matrices about the vertical (world z) for angles (...,) -> (..., 3, 3)."""
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(c), np.ones_like(c)
    return np.stack(
        (np.stack((c, -s, zero), -1), np.stack((s, c, zero), -1), np.stack((zero, zero, one), -1)), axis=-2
    )


def _curve_path(joints: np.ndarray, turn_rate: float, fps: float) -> np.ndarray:
    """Bend the path of a take: frame ``n`` turns by ``turn_rate * n / fps`` about the vertical through the root and
    the root's horizontal steps are turned with it, so the character walks an arc instead of a straight line."""
    n = len(joints)
    angles = turn_rate * np.arange(n) / fps
    rot = _rotz(angles)
    root = joints[:, 0] * [1, 1, 0]
    steps = np.diff(root, axis=0)
    new_root = np.concatenate((root[:1], root[:1] + np.cumsum(np.einsum("nij,nj->ni", rot[1:], steps), axis=0)))
    local = joints - root[:, None]
    return np.einsum("nij,nkj->nki", rot, local) + new_root[:, None]


def _visible(joints: np.ndarray, cameras: list[Camera], settings: TakeSettings) -> np.ndarray:
    """Per-frame mask: every joint lies in front of and inside the image of every camera."""
    ok = np.ones(len(joints), dtype=bool)
    for cam in cameras:
        pts = cam.world_to_camera(joints)
        pix = cam.project_camera(pts)
        ok &= np.all((pts[..., 2] > settings.min_depth_m) & cam.in_image(pix, settings.margin_px), axis=1)
    return ok


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    """(start, length) of the longest run of True values in a 1D mask."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    starts, ends = edges[::2], edges[1::2]
    if len(starts) == 0:
        return 0, 0
    best = int(np.argmax(ends - starts))
    return int(starts[best]), int(ends[best] - starts[best])


def _capture_centre(cameras: list[Camera]) -> np.ndarray:
    """Centre of the room on the floor: the mean of the camera positions, projected to z = 0."""
    return np.mean([c.translation for c in cameras], axis=0) * [1, 1, 0]


def _clip_times(clip: dm.Clip, rng: np.random.Generator, settings: TakeSettings) -> tuple[np.ndarray, float]:
    """Clip times sampled at 50 fps for one take, and the playback speed."""
    speed = rng.uniform(*settings.speed)
    frames = int(round(rng.uniform(*settings.duration_s) * FPS))
    if clip.loop:
        start = rng.uniform(0.0, clip.duration)
    else:  # play the whole clip once, holding its first and last pose around it
        action_frames = int(np.ceil(clip.duration / speed * FPS)) + 1
        frames = max(frames, action_frames + int(0.3 * FPS))
        start = -rng.uniform(0.2, 0.8) * (frames - action_frames) / FPS * speed
    return start + speed * np.arange(frames) / FPS, speed


def build_take(
    clip: dm.Clip, subject: Subject, cameras: list[Camera], rng: np.random.Generator, settings: TakeSettings
) -> np.ndarray:
    """World positions (N, 17, 3) of one take of ``clip`` by ``subject``, visible in all ``cameras``."""
    times, speed = _clip_times(clip, rng, settings)
    poses = dm.sample_clip(clip, times)
    poses = dm.PoseStream(poses.root_position * subject.leg_scale, poses.rotations)  # retarget the root path
    joints = dm.to_z_up(dm.h36m_joints(poses, subject.body))
    # feet on the ground: the lowest point of the take keeps its clearance of the unscaled humanoid, scaled
    reference = dm.to_z_up(dm.h36m_joints(dm.sample_clip(clip, times), dm.default_body()))
    overall = subject.height / stature(dm.default_body())
    joints[..., 2] += overall * reference[..., 2].min() - joints[..., 2].min()
    joints -= joints[:1, :1] * [1, 1, 0]  # start the root above the origin

    travel = np.linalg.norm(np.diff(joints[:, 0, :2], axis=0), axis=-1).sum()
    turn_speed = travel / (len(joints) / FPS)  # m/s along the path
    centre = _capture_centre(cameras)
    best, best_run = None, (0, 0)
    for _ in range(settings.candidates):
        if travel > settings.travelling_distance_m:
            rate = min(turn_speed / rng.uniform(*settings.path_radius_m), settings.max_lateral_accel / turn_speed)
        else:
            rate = rng.uniform(0.0, settings.idle_turn_rate)
        rate *= rng.choice([-1.0, 1.0])
        heading = rng.uniform(0.0, 2.0 * np.pi)
        placed = _curve_path(joints, rate, FPS) @ _rotz(heading).T
        lo, hi = placed[..., :2].reshape(-1, 2).min(0), placed[..., :2].reshape(-1, 2).max(0)
        anchor = (lo + hi) / 2 if np.max(hi - lo) <= settings.max_compact_extent_m else placed[len(placed) // 2, 0, :2]
        target = centre[:2] + rng.uniform(-1.0, 1.0, 2) * settings.centre_jitter_m
        placed[..., :2] += target - anchor
        run = _longest_run(_visible(placed, cameras, settings))
        if run[1] > best_run[1]:
            best, best_run = placed, run
        if run[1] == len(placed):
            break
    start, length = best_run
    if length < settings.min_frames:
        raise RuntimeError(
            f"{subject.name}/{clip.name}: no placement keeps the body inside all camera images for "
            f"{settings.min_frames} frames; loosen TakeSettings (margin_px, path_radius_m)"
        )
    return best[start:start + length].astype(np.float32)


def action_name(clip: str, take: int) -> str:
    """VideoPose3D-style take names: ``'walk'`` for the first take, ``'walk 1'`` for the second."""
    return clip if take == 0 else f"{clip} {take}"


def build_positions_3d(
    seed: int = 0,
    subjects: dict[str, float] | None = None,
    clips: list[str] | None = None,
    takes: int = 2,
    settings: TakeSettings = TakeSettings(),
    progress: bool = True,
) -> dict[str, dict[str, np.ndarray]]:
    """Build ``positions_3d[subject][action]`` (world metres). Each take depends only on (seed, subject, action),
    so building a subset reproduces the same takes as the full build."""
    from ..progress import progress_bar

    subjects = SUBJECT_HEIGHTS if subjects is None else subjects
    clips = dm.clip_names() if clips is None else clips
    loaded = {name: dm.load_clip(name) for name in clips}
    cameras = h36m_cameras()
    out: dict[str, dict[str, np.ndarray]] = {}
    jobs = [(s, c, t) for s in subjects for c in clips for t in range(takes)]
    for subject_name, clip_name, take in progress_bar(jobs, enabled=progress, desc="building takes"):
        subject = make_subject(subject_name, subjects[subject_name], seed)
        action = action_name(clip_name, take)
        rng = _take_rng(seed, subject_name, action)
        out.setdefault(subject_name, {})[action] = build_take(
            loaded[clip_name], subject, cameras[subject_name], rng, settings
        )
    return out


# ----------------------------------------------------------------------------------------------------- 2D
def project_positions(positions_3d, cameras: dict[str, list[Camera]]) -> dict[str, dict[str, list[np.ndarray]]]:
    """Ground-truth 2D: every sequence projected (with distortion) into every camera of its subject, pixels."""
    return {
        subject: {
            action: [cam.project(pos).astype(np.float32) for cam in cameras[subject]]
            for action, pos in actions.items()
        }
        for subject, actions in positions_3d.items()
    }


def _add_detector_noise(positions_2d, noise: DetectorNoise, seed: int = _DET_SEED):
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject, actions in positions_2d.items():
        for action, views in actions.items():
            noisy = []
            for index, view in enumerate(views):
                rng = np.random.default_rng([seed, zlib.crc32(f"{subject}/{action}/{index}".encode())])
                noisy.append(noise.apply(view, rng, H36M_17))
            out.setdefault(subject, {})[action] = noisy
    return out


def derive_positions_2d(positions_3d, keypoints: str, cameras=None, noise: DetectorNoise | None = None):
    """The 2D keypoints of source ``keypoints`` (``'gt'`` or ``'det'``) for ``positions_3d``, deterministically."""
    if keypoints not in KEYPOINT_SOURCES:
        raise KeyError(f"unknown embedded keypoint source {keypoints!r}; choose one of {', '.join(KEYPOINT_SOURCES)}")
    gt = project_positions(positions_3d, cameras if cameras is not None else h36m_cameras())
    return gt if keypoints == "gt" else _add_detector_noise(gt, noise or DetectorNoise())


def _metadata(extra: dict | None = None) -> dict:
    meta = {
        "layout_name": H36M_17.name,
        "num_joints": H36M_17.num_joints,
        "keypoints_symmetry": [list(H36M_17.joints_left), list(H36M_17.joints_right)],
    }
    meta.update(extra or {})
    return meta


def save_positions_3d(path: str | Path, positions_3d) -> None:
    """Write a VideoPose3D 3D file (``positions_3d`` pickled dict) atomically."""
    atomic_savez(path, positions_3d=np.array(positions_3d, dtype=object))


def save_positions_2d(path: str | Path, positions_2d, metadata: dict | None = None) -> None:
    """Write a VideoPose3D 2D file (``positions_2d`` and ``metadata``) atomically."""
    atomic_savez(path, positions_2d=np.array(positions_2d, dtype=object), metadata=np.array(_metadata(metadata)))


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _paths(data_dir: Path) -> tuple[Path, dict[str, Path]]:
    return data_dir / "data_3d_embedded.npz", {k: data_dir / f"data_2d_embedded_{k}.npz" for k in KEYPOINT_SOURCES}


def _derived_from(path: Path) -> str | None:
    """The derivation key a derived 2D file records, or None for a file this module did not write."""
    try:
        with np.load(path, allow_pickle=True) as f:
            return f["metadata"].item().get("derived_from")
    except Exception:  # unreadable or foreign file
        return None


def _derivation_key(path_3d: Path, keypoints: str) -> str:
    """What a derived 2D file depends on: the 3D file's SHA-256, the derivation version and the noise model."""
    noise = f":{zlib.crc32(repr(DetectorNoise()).encode()):08x}" if keypoints == "det" else ""
    return f"sha256={file_sha256(path_3d)}:v{_DERIVATION_VERSION}{noise}"


def ensure_embedded_2d(data_dir: str | Path | None = None, keypoints=KEYPOINT_SOURCES,
                       out_dir: str | Path | None = None) -> dict[str, Path]:
    """Make sure the derived 2D files exist next to ``data_3d_embedded.npz``; create or refresh them if needed.

    The 2D files are a cache (git-ignored): they are (re)written when missing or when they were derived from a
    different 3D file or noise model (their metadata records the 3D file's SHA-256 and the derivation version). A 2D
    file without that record was not written here and is left alone. No pybullet needed. ``out_dir`` puts the 2D
    files in another folder than the 3D file (a cache, when the data folder is read-only). Returns
    ``{keypoints: path}``.
    """
    from ehfusion.paths import DATA_DIR

    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    path_3d, paths_2d = _paths(data_dir)
    if out_dir is not None:
        paths_2d = _paths(Path(out_dir))[1]
    if not path_3d.is_file():
        raise FileNotFoundError(
            f"{path_3d} is missing; it ships with the repository (data/data_3d_embedded.npz), "
            f"or rebuild it with: python -m ehfusion.data.embedded --out {data_dir}"
        )
    wanted = [keypoints] if isinstance(keypoints, str) else list(keypoints)
    positions_3d = None
    for source in wanted:
        if source not in KEYPOINT_SOURCES:
            raise KeyError(f"unknown embedded keypoint source {source!r}; choose one of {', '.join(KEYPOINT_SOURCES)}")
        target = paths_2d[source]
        key = _derivation_key(path_3d, source)
        if target.is_file():
            recorded = _derived_from(target)
            if recorded is None or recorded == key:
                continue  # up to date, or a user's own file that we never overwrite
        if positions_3d is None:
            with np.load(path_3d, allow_pickle=True) as f:
                positions_3d = f["positions_3d"].item()
        save_positions_2d(
            target,
            derive_positions_2d(positions_3d, source),
            {"derived_from": key, "keypoints": source},
        )
    return {source: paths_2d[source] for source in wanted}


# ----------------------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ehfusion.data.embedded",
        description="Build the embedded dataset (VideoPose3D format) from the DeepMimic clips in the pybullet wheel.",
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: ehfusion.paths.DATA_DIR)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace an existing, different data_3d_embedded.npz")
    args = parser.parse_args(argv)
    from ehfusion.paths import DATA_DIR

    out = args.out if args.out is not None else DATA_DIR
    path_3d, _ = _paths(out)
    positions = build_positions_3d(seed=args.seed)
    if path_3d.is_file() and not args.force:
        with np.load(path_3d, allow_pickle=True) as f:
            existing = f["positions_3d"].item()
        if not _same_positions(existing, positions):
            parser.error(f"{path_3d} exists and differs from this build; pass --force to replace it")
        print(f"{path_3d} is up to date")
    else:
        save_positions_3d(path_3d, positions)
        print(f"wrote {path_3d} ({path_3d.stat().st_size / 1e6:.1f} MB)")
    for source, path in ensure_embedded_2d(out).items():
        print(f"2D keypoints '{source}': {path}")
    return 0


def _same_positions(a, b, atol: float = 1e-6) -> bool:
    if a.keys() != b.keys() or any(a[s].keys() != b[s].keys() for s in a):
        return False
    return all(a[s][k].shape == b[s][k].shape and np.allclose(a[s][k], b[s][k], atol=atol) for s in a for k in a[s])


if __name__ == "__main__":
    raise SystemExit(main())
