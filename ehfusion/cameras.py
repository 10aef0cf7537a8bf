"""Cameras: the :class:`Camera` dataclass, the published camera sets of Human3.6M and HumanEva-I, and the 9-number
intrinsic vector the networks take (of a known camera, or a default one for an unknown camera).

The camera files live in ``ehfusion/resources`` and follow VideoPose3D's layout: a list of per-camera intrinsics shared
by all subjects and a dict of per-subject extrinsics (``orientation`` quaternion (w, x, y, z) rotating camera into
world coordinates, ``translation`` the camera centre in world coordinates, millimetres in the file, **metres** here).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ehfusion import geometry
from ehfusion.paths import RESOURCES_DIR

__all__ = ["Camera", "load_cameras", "h36m_cameras", "humaneva_cameras", "CAMERA_SOURCES", "get_cameras",
           "check_image_size", "camera_intrinsics", "default_intrinsics"]


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera of one subject (Human3.6M conventions; ``translation`` in metres)."""

    id: str
    res_w: int
    res_h: int
    focal_length: np.ndarray  # (2,) pixels
    center: np.ndarray  # (2,) pixels
    radial_distortion: np.ndarray  # (3,) k1, k2, k3
    tangential_distortion: np.ndarray  # (2,) p1, p2
    orientation: np.ndarray  # (4,) quaternion (w, x, y, z), camera -> world
    translation: np.ndarray  # (3,) camera centre in world coordinates, metres
    azimuth: float = 0.0  # only used to orient plots

    @property
    def intrinsics(self) -> np.ndarray:
        """The 9-number vector fed to networks: ``[fx/w*2, fy/w*2, cx_n, cy_n, k1, k2, k3, p1, p2]`` (float32)."""
        return _normalised_intrinsics(self.intrinsics_pixels, self.res_w, self.res_h)

    @property
    def intrinsics_pixels(self) -> np.ndarray:
        """``[fx, fy, cx, cy, k1, k2, k3, p1, p2]`` in pixels (float64)."""
        return np.concatenate(
            (self.focal_length, self.center, self.radial_distortion, self.tangential_distortion)
        ).astype(np.float64)

    def world_to_camera(self, points_world) -> np.ndarray:
        """World points (..., 3) in metres to this camera's coordinates (metres)."""
        return geometry.world_to_camera(points_world, self.orientation, self.translation)

    def camera_to_world(self, points_cam) -> np.ndarray:
        """Camera coordinates (..., 3) back to world coordinates."""
        return geometry.camera_to_world(points_cam, self.orientation, self.translation)

    def project_camera(self, points_cam) -> np.ndarray:
        """Camera coordinates (..., 3) to pixels (..., 2), with lens distortion."""
        return geometry.project_to_2d(np.asarray(points_cam, dtype=np.float64), self.intrinsics_pixels)

    def project(self, points_world) -> np.ndarray:
        """World points (..., 3) in metres to pixels (..., 2), with lens distortion."""
        return self.project_camera(self.world_to_camera(np.asarray(points_world, dtype=np.float64)))

    def normalize(self, pixels) -> np.ndarray:
        """Pixels to normalised screen coordinates of this camera's image."""
        return geometry.normalize_screen_coordinates(pixels, self.res_w, self.res_h)

    def in_image(self, pixels, margin: float = 0.0) -> np.ndarray:
        """Boolean mask (...,): which pixel positions lie inside the image, ``margin`` pixels or more from its border."""
        pixels = np.asarray(pixels)
        return (
            (pixels[..., 0] >= margin)
            & (pixels[..., 0] <= self.res_w - margin)
            & (pixels[..., 1] >= margin)
            & (pixels[..., 1] <= self.res_h - margin)
        )

    def __repr__(self) -> str:
        t = ", ".join(f"{v:.3f}" for v in self.translation)
        return f"Camera(id={self.id!r}, {self.res_w}x{self.res_h}, f={self.focal_length[0]:.1f}px, centre=({t}) m)"


def load_cameras(path: str | Path) -> dict[str, list[Camera]]:
    """Read a VideoPose3D-style camera JSON file into ``subject -> [Camera, ...]``.

    Subjects whose extrinsics are empty (no published calibration) are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"camera file {path} not found; it ships with the package in ehfusion/resources/")
    spec = json.loads(path.read_text())
    intrinsic = spec["intrinsic"]
    cameras: dict[str, list[Camera]] = {}
    for subject, extrinsics in spec["extrinsic"].items():
        if len(extrinsics) != len(intrinsic):
            raise ValueError(f"{path}: subject {subject} has {len(extrinsics)} extrinsics for {len(intrinsic)} cameras")
        if any(not e for e in extrinsics):
            continue
        cameras[subject] = [
            Camera(
                id=str(intr["id"]),
                res_w=int(intr["res_w"]),
                res_h=int(intr["res_h"]),
                focal_length=np.asarray(intr["focal_length"], dtype=np.float64),
                center=np.asarray(intr["center"], dtype=np.float64),
                radial_distortion=np.asarray(intr["radial_distortion"], dtype=np.float64),
                tangential_distortion=np.asarray(intr["tangential_distortion"], dtype=np.float64),
                orientation=geometry.quat_normalize(extr["orientation"]),
                translation=np.asarray(extr["translation"], dtype=np.float64) / 1000.0,  # mm -> m
                azimuth=float(intr.get("azimuth", 0.0)),
            )
            for intr, extr in zip(intrinsic, extrinsics)
        ]
    return cameras


@lru_cache(maxsize=None)
def _cached(name: str) -> dict[str, list[Camera]]:
    return load_cameras(RESOURCES_DIR / name)


def h36m_cameras() -> dict[str, list[Camera]]:
    """The four Human3.6M cameras of S1, S5, S6, S7, S8, S9 and S11 (the subjects with published extrinsics)."""
    return dict(_cached("h36m_cameras.json"))


def humaneva_cameras() -> dict[str, list[Camera]]:
    """The three HumanEva-I colour cameras of S1, S2, S3.

    Extrinsics are VideoPose3D's published numbers; the intrinsics are **nominal** (image centre, no distortion,
    770 px focal length) because VideoPose3D ships none; see ``resources/humaneva_cameras.json``.
    """
    return dict(_cached("humaneva_cameras.json"))


#: Camera sets by name (used by the dataset registry in :mod:`ehfusion.data.loading`).
CAMERA_SOURCES = {"h36m": h36m_cameras, "humaneva": humaneva_cameras}


def get_cameras(source: str) -> dict[str, list[Camera]]:
    """Camera set by name: ``'h36m'`` or ``'humaneva'``."""
    try:
        return CAMERA_SOURCES[source]()
    except KeyError:
        raise KeyError(f"unknown camera set {source!r}; known sets: {', '.join(CAMERA_SOURCES)}") from None


# ----------------------------------------------------------------------------------------------------- intrinsics
def check_image_size(width, height) -> tuple[int, int]:
    """Validate an image size in pixels; returns ``(width, height)`` as ints."""
    values = []
    for label, value in (("width", width), ("height", height)):
        if value is None:
            raise ValueError(f"image {label} is missing: pass the size in pixels of the frames the keypoints come from")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"image {label} must be a number of pixels, got {value!r}") from None
        if not math.isfinite(number) or number < 1 or not number.is_integer():
            raise ValueError(f"image {label} must be a positive whole number of pixels, got {value!r}")
        values.append(int(number))
    return values[0], values[1]


def _normalised_intrinsics(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """``[fx, fy, cx, cy, k1, k2, k3, p1, p2]`` in pixels -> the normalised 9-number vector (float32)."""
    pixels = np.asarray(pixels, dtype=np.float64)
    focal = geometry.normalize_screen_length(pixels[:2], width)
    centre = geometry.normalize_screen_coordinates(pixels[2:4], width, height)
    return np.concatenate((focal, centre, pixels[4:])).astype(np.float32)


@lru_cache(maxsize=1)
def _h36m_focal_per_width() -> float:
    """Mean focal length of the four Human3.6M cameras divided by their image width (about 1.147)."""
    cams = next(iter(h36m_cameras().values()))
    return float(np.mean([np.mean(c.focal_length) / c.res_w for c in cams]))


def default_intrinsics(width, height) -> np.ndarray:
    """The 9-number camera vector for an unknown camera.

    Focal length: the Human3.6M cameras' mean focal length scaled to this image width,
    :math:`f = 1.147\\,w` pixels (a horizontal field of view of about 47 degrees), principal point at the image centre
    (normalised ``(0, 0)``), no lens distortion: ``[2 f / w, 2 f / w, 0, 0, 0, 0, 0, 0, 0]``.
    """
    width, height = check_image_size(width, height)
    focal = _h36m_focal_per_width() * width
    return camera_intrinsics(width, height, [focal, focal, width / 2.0, height / 2.0])


def camera_intrinsics(width, height, intrinsics=None) -> np.ndarray:
    """The normalised 9-number vector ``[fx/w*2, fy/w*2, cx_n, cy_n, k1, k2, k3, p1, p2]`` of a camera.

    ``intrinsics`` may be ``None`` (:func:`default_intrinsics`), a :class:`Camera`, a dict with
    ``focal_length`` (one number or ``[fx, fy]``) and optionally ``center``, ``radial_distortion``,
    ``tangential_distortion`` (pixels, Human3.6M model), or pixel numbers ``[fx, fy, cx, cy]`` /
    ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]``.
    """
    width, height = check_image_size(width, height)
    if intrinsics is None:
        return default_intrinsics(width, height)
    if hasattr(intrinsics, "intrinsics_pixels"):
        if (intrinsics.res_w, intrinsics.res_h) != (width, height):
            raise ValueError(f"camera {intrinsics.id} has images of {intrinsics.res_w}x{intrinsics.res_h}, "
                             f"not {width}x{height}")
        intrinsics = intrinsics.intrinsics_pixels
    if isinstance(intrinsics, Mapping):
        focal = np.broadcast_to(np.asarray(intrinsics["focal_length"], dtype=np.float64), (2,))
        centre = intrinsics.get("center", (width / 2.0, height / 2.0))
        radial = intrinsics.get("radial_distortion", (0.0, 0.0, 0.0))
        tangential = intrinsics.get("tangential_distortion", (0.0, 0.0))
        intrinsics = np.concatenate((focal, centre, radial, tangential))
    values = np.asarray(intrinsics, dtype=np.float64).ravel()
    if values.size == 4:
        values = np.concatenate((values, np.zeros(5)))
    if values.size != 9 or not np.isfinite(values).all():
        raise ValueError(
            f"intrinsics must be [fx, fy, cx, cy] or [fx, fy, cx, cy, k1, k2, k3, p1, p2] in pixels, got {intrinsics!r}"
        )
    if (values[:2] <= 0).any():
        raise ValueError(f"focal lengths must be positive pixels, got fx={values[0]}, fy={values[1]}")
    return _normalised_intrinsics(values, width, height)
